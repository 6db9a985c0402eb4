"""Orchestration: build the flat arrays, run the event kernel in chunks, collect the result tables."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numba
import numpy as np
import polars as pl

from fastsim.errors import InputError
from fastsim.kernels import events as ev
from fastsim.kernels.htlcs import HTLC_FIELDS, KIND_NAMES, STATE_NAMES, empty_htlc_table
from fastsim.kernels.routing import (
    COST_MODELS,
    GRAPH_FIELDS,
    NO_FAILURE,
    ROUTE_NONE,
    ROUTE_OK,
    make_potential,
    make_scratch,
)
from fastsim.network import Network
from fastsim.workload import validate_workload

CHUNK_EVENTS = 1 << 16
PREFETCH_WINDOW = 512  # payments whose first routes are computed ahead, in parallel
RETRY_SLOTS = 64  # retries computed ahead at once, at most (a batch is the failures in flight)


class InvariantViolation(AssertionError):
    """A DESIGN.md 2.8 invariant does not hold: a bug in the simulator, never in the input."""


@dataclass
class SimulationResult:
    """Everything a run produced: Polars tables plus the raw final state for checks."""

    payments: pl.DataFrame
    nodes: pl.DataFrame
    channels: pl.DataFrame
    summary: pl.DataFrame
    htlcs: pl.DataFrame
    timings: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)


def graph_arrays(network: Network) -> tuple:
    """The gossip view the routing kernel searches (order of GRAPH_FIELDS): enabled directions only,
    grouped by receiving node (``in_*``) and by sending node (``fwd_*``)."""
    capacity = network.direction_capacity_msat()
    keep = network.in_dir[network.enabled[network.in_dir]]
    keep_out = network.out_dir[network.enabled[network.out_dir]]
    cols = {
        "in_ptr": _ptr(network.dir_dst[keep], network.n_nodes), "in_dir": keep,
        "in_src": network.dir_src[keep], "in_capacity_msat": capacity[keep],
        "in_fee_base_msat": network.fee_base_msat[keep], "in_fee_rate_ppm": network.fee_rate_ppm[keep],
        "in_cltv_delta": network.cltv_delta[keep].astype(np.int64),
        "in_htlc_min_msat": network.htlc_min_msat[keep], "in_htlc_max_msat": network.htlc_max_msat[keep],
        "dir_dst": network.dir_dst,
        "fwd_ptr": _ptr(network.dir_src[keep_out], network.n_nodes), "fwd_dir": keep_out,
        "fwd_dst": network.dir_dst[keep_out], "fwd_capacity_msat": capacity[keep_out],
        "fwd_fee_base_msat": network.fee_base_msat[keep_out],
        "fwd_fee_rate_ppm": network.fee_rate_ppm[keep_out],
        "fwd_htlc_max_msat": network.htlc_max_msat[keep_out],
    }
    return tuple(cols[name] for name in GRAPH_FIELDS)


def _ptr(grouped_by: np.ndarray, n_nodes: int) -> np.ndarray:
    """CSR offsets of entries already sorted by node."""
    ptr = np.zeros(n_nodes + 1, np.int64)
    np.cumsum(np.bincount(grouped_by, minlength=n_nodes), out=ptr[1:])
    return ptr


def topology_arrays(network: Network) -> tuple:
    """What the event kernel needs of the graph besides the search view (order of TOPOLOGY_FIELDS)."""
    cols = {"out_ptr": network.out_ptr, "out_dir": network.out_dir, "dir_src": network.dir_src,
            "dir_dst": network.dir_dst,
            "dir_capacity_msat": network.direction_capacity_msat(), "enabled": network.enabled,
            "htlc_min_msat": network.htlc_min_msat, "htlc_max_msat": network.htlc_max_msat}
    return tuple(cols[name] for name in ev.TOPOLOGY_FIELDS)


def unresponsive_nodes(n_nodes: int, share: float, seed: int) -> np.ndarray:
    """Which nodes accept HTLCs but never answer (offline peers), drawn from the engine seed."""
    mask = np.zeros(n_nodes, bool)
    count = int(round(share * n_nodes))
    if count:
        mask[np.random.default_rng([seed, 0x57C]).choice(n_nodes, count, replace=False)] = True
    return mask


def engine_params(config, *, seed: int, atomic: bool, debug_invariants: bool,
                  reuse_potentials: bool = True) -> np.ndarray:
    s, e = config.sender, config.engine
    values = {
        "mode_atomic": atomic, "cost_model": COST_MODELS[s.cost_model], "mu": s.mu,
        "apriori": s.apriori_hop_probability, "half_life_s": s.penalty_half_life_s,
        "attempt_cost_msat": s.attempt_cost_msat, "attempt_cost_ppm": s.attempt_cost_ppm,
        "maxfeepercent": s.maxfeepercent, "exemptfee_msat": s.exemptfee_msat,
        "max_hops": e.max_hops, "max_cltv": e.max_cltv, "final_cltv": e.final_cltv_delta,
        "max_attempts": s.max_attempts, "retry_for_s": s.retry_for_s,
        "remember_failures": s.remember_failures, "max_accepted_htlcs": e.max_accepted_htlcs,
        "latency_ms": e.latency_ms, "latency_jitter_ms": e.latency_jitter_ms, "seed": seed,
        "debug_invariants": debug_invariants, "htlc_timeout_s": e.htlc_timeout_s,
        "reuse_potentials": reuse_potentials,
    }
    return np.array([float(values[name]) for name in ev.PARAM_FIELDS])


def _ordered(arrays: dict[str, np.ndarray], names: tuple[str, ...]) -> tuple:
    """The arrays in the order a kernel unpacks them; the names must match exactly."""
    assert tuple(arrays) == names, (tuple(arrays), names)
    return tuple(arrays.values())


def _grow(arrays: dict[str, np.ndarray], names, needed: int) -> None:
    for name in names:
        arr = arrays[name]
        if arr.shape[0] < needed:
            new = np.zeros(max(needed, 2 * arr.shape[0]), arr.dtype)
            new[: arr.shape[0]] = arr
            arrays[name] = new


def simulate(network: Network, workload: pl.DataFrame, config, *, balances: np.ndarray,
             seed: int | None = None, mode: str | None = None, debug_invariants: bool = False,
             unresponsive: np.ndarray | None = None, prefetch_routes: bool = True,
             reuse_potentials: bool = True, first_routes: dict[str, np.ndarray] | None = None,
             progress: Callable[[int, int], None] | None = None) -> SimulationResult:
    """Run one scenario: ``workload`` payments on ``network`` starting from ``balances``.

    ``unresponsive`` (a mask over nodes) overrides the nodes drawn by ``engine.unresponsive_share``.
    ``prefetch_routes=False`` computes every route when it is needed (same results, one core).
    ``reuse_potentials=False`` has every retry search forward afresh (same routes up to ties).
    ``first_routes`` replays given first routes instead of searching (see :func:`recorded_first_routes`);
    it serves to measure the event machinery alone.
    """
    t0 = time.perf_counter()
    seed = config.seed if seed is None else seed
    mode = config.engine.mode if mode is None else mode
    n, m2 = network.n_nodes, network.n_directions
    workload = validate_workload(workload, network, source="workload")
    k = workload.height
    capacity = network.direction_capacity_msat()
    start_balance = np.asarray(balances, dtype=np.int64).copy()
    if (start_balance.shape != (m2,) or (start_balance < 0).any()
            or (start_balance[0::2] + start_balance[1::2] != network.capacity_msat).any()):
        raise InputError("balances", "balance_msat", f"{m2} balances >= 0, the two sides of each "
                                                     "channel adding up to its capacity")
    reserve = capacity * config.engine.reserve_ppm // 1_000_000
    chan = {"balance_msat": start_balance.copy(), "inflight_msat": np.zeros(m2, np.int64),
            "inflight_count": np.zeros(m2, np.int32), "reserve_msat": reserve}
    pays = {
        "src": workload["src"].to_numpy().astype(np.int32),
        "dst": workload["dst"].to_numpy().astype(np.int32),
        "amount_msat": workload["amount_msat"].to_numpy().astype(np.int64),
        "t_arrival_s": workload["t_arrival_s"].to_numpy().astype(np.float64),
        "status": np.zeros(k, np.int8), "reason": np.zeros(k, np.int8),
        "attempts": np.zeros(k, np.int16), "fee_msat": np.zeros(k, np.int64),
        "hops": np.zeros(k, np.int8), "t_done_s": np.full(k, np.nan),
        "pay_first_in": np.full(k, -1, np.int32), "last_reason": np.zeros(k, np.int8),
    }
    guess = max(64, 4 * k)
    attempts = {"payment": np.zeros(guess, np.int32), "number": np.zeros(guess, np.int16),
                "route_start": np.zeros(guess, np.int64), "n_hops": np.zeros(guess, np.int8),
                "t_start_s": np.zeros(guess), "fail_direction": np.zeros(guess, np.int32),
                "fail_amount_msat": np.zeros(guess, np.int64), "fail_reason": np.zeros(guess, np.int8)}
    routes = {"route_direction": np.zeros(8 * guess, np.int64),
              "route_amount_msat": np.zeros(8 * guess, np.int64),
              "route_cltv": np.zeros(8 * guess, np.int64)}
    know = {"know_head": np.full(n, -1, np.int32), "know_direction": np.zeros(guess, np.int64),
            "know_amount_msat": np.zeros(guess, np.int64), "know_time_s": np.zeros(guess),
            "know_payment": np.zeros(guess, np.int32), "know_next": np.zeros(guess, np.int32)}
    htlcs = empty_htlc_table(8 * guess)
    heap = {"keys": np.zeros(1024), "ties": np.zeros(1024, np.int64), "vals": np.zeros(1024, np.int64)}
    nodes = {name: np.zeros(n, np.int64) for name in ev.NODE_FIELDS}
    counters = np.zeros(len(ev.COUNTER_FIELDS), np.int64)
    params = engine_params(config, seed=seed, atomic=(mode == "atomic"),
                           debug_invariants=debug_invariants, reuse_potentials=reuse_potentials)
    graph = graph_arrays(network)
    topology = topology_arrays(network)
    if unresponsive is None:
        unresponsive = unresponsive_nodes(n, config.engine.unresponsive_share, seed)
    scratch = make_scratch(n, m2)
    own_spendable = np.full(m2, -1, np.int64)
    fail_amt = np.full(m2, NO_FAILURE, np.int64)
    fail_age = np.full(m2, np.inf)
    touched_dirs = np.zeros(m2, np.int64)
    node_version = np.zeros(n, np.int64)
    blocks = numba.get_num_threads()
    block_scratch = tuple(np.stack([a] * blocks) for a in make_scratch(n, m2))
    block_own = np.full((blocks, m2), -1, np.int64)
    block_fail_amt = np.full((blocks, m2), NO_FAILURE, np.int64)
    block_fail_age = np.full((blocks, m2), np.inf)
    block_touched = np.zeros((blocks, m2), np.int64)
    claimed = np.zeros(1, np.int64)  # how far the blocks of a parallel kernel got in its items
    width = PREFETCH_WINDOW if prefetch_routes else 1
    hop_cap = int(config.engine.max_hops) + 1
    prefetch = (np.zeros(3, np.int64), np.full(width, -1, np.int64), np.zeros(width, np.int64),
                np.zeros(width, np.int64), np.zeros((width, hop_cap), np.int64),
                np.zeros((width, hop_cap), np.int64), np.zeros((width, hop_cap), np.int64),
                np.full(width, -1, np.int64))
    prefetched = 0
    if first_routes is not None:
        n_hops = first_routes["n_hops"]
        prefetch = (np.array([0, k, 0], np.int64), np.full(k, ev.PINNED, np.int64),
                    np.where(n_hops > 0, ROUTE_OK, ROUTE_NONE).astype(np.int64), n_hops.astype(np.int64),
                    first_routes["direction"], first_routes["amount_msat"], first_routes["cltv"],
                    np.full(k, -1, np.int64))
    elif not prefetch_routes:
        prefetch[0][:2] = k, k  # an empty window past the last payment: nothing is ever prefetched
    slots = RETRY_SLOTS if prefetch_routes else 0  # no slot: every retry is searched live
    retry = _ordered({
        "retry_slot": np.full(k, -1, np.int32), "slot_attempt": np.zeros(slots, np.int64),
        "slot_time": np.zeros(slots),
        "slot_delivered": np.zeros(slots, np.int8), "slot_version": np.zeros(slots, np.int64),
        "slot_status": np.zeros(slots, np.int64), "slot_n_hops": np.zeros(slots, np.int64),
        **{name: np.zeros((slots, hop_cap), np.int64)
           for name in ("slot_direction", "slot_amount_msat", "slot_cltv")},
        "free_slots": np.arange(slots, dtype=np.int64), "pending_slots": np.zeros(slots, np.int64),
    }, ev.RETRY_FIELDS)
    counters[ev.C_FREE_SLOTS] = slots
    potentials = {"pot_payment": np.full(n, -1, np.int64)}
    for prefix, rows in (("pot", n), ("live_pot", 1), ("slot_pot", slots), ("pre_pot", len(prefetch[1]))):
        potentials[f"{prefix}_ints"], potentials[f"{prefix}_floats"] = make_potential(rows)
    potentials = _ordered(potentials, ev.POTENTIAL_FIELDS)
    t_setup = time.perf_counter()

    while True:
        status = ev.run_events(
            graph, topology, unresponsive, _ordered(chan, ev.CHANNEL_FIELDS), node_version,
            _ordered(pays, ev.PAYMENT_FIELDS), _ordered(attempts, ev.ATTEMPT_FIELDS),
            _ordered(routes, ev.ROUTE_FIELDS), _ordered(know, ev.KNOW_FIELDS),
            _ordered(htlcs, HTLC_FIELDS), tuple(heap.values()), _ordered(nodes, ev.NODE_FIELDS),
            counters, params, scratch, own_spendable, fail_amt, fail_age, touched_dirs, prefetch,
            retry, potentials, CHUNK_EVENTS)
        if status == ev.STATUS_DONE:
            break
        if status in (ev.STATUS_PREFETCH, ev.STATUS_SPECULATE):
            first_routes = status == ev.STATUS_PREFETCH
            if first_routes:
                first = int(counters[ev.C_NEXT_PAYMENT])
                prefetch[0][:2] = first, min(first + width, k)
                prefetched += int(prefetch[0][1] - first)
            ev.compute_ahead(graph, topology, _ordered(chan, ev.CHANNEL_FIELDS), node_version,
                             _ordered(pays, ev.PAYMENT_FIELDS), _ordered(attempts, ev.ATTEMPT_FIELDS),
                             _ordered(routes, ev.ROUTE_FIELDS), _ordered(know, ev.KNOW_FIELDS), params,
                             block_scratch, block_own, block_fail_amt, block_fail_age, block_touched,
                             claimed, prefetch, retry, counters, first_routes, potentials)
            if not first_routes:
                continue
        if status == ev.STATUS_INVARIANT:
            raise InvariantViolation(
                f"channel {int(counters[ev.C_BAD_CHANNEL])}: balances and in-flight amounts no longer "
                "add up to the capacity")
        if status == ev.STATUS_NEED_SPACE:
            _grow(htlcs, HTLC_FIELDS, int(counters[ev.C_HTLCS]) + CHUNK_EVENTS)
            _grow(routes, routes.keys(), int(counters[ev.C_ROUTE]) + 64 * int(params[ev.P_MAX_HOPS]))
            _grow(attempts, attempts.keys(), int(counters[ev.C_ATTEMPTS]) + CHUNK_EVENTS)
            _grow(know, [k_ for k_ in know if k_ != "know_head"], int(counters[ev.C_KNOW]) + CHUNK_EVENTS)
            _grow(heap, heap.keys(), int(counters[ev.C_HEAP]) + CHUNK_EVENTS)
        if progress is not None:
            progress(int(np.count_nonzero(pays["status"])), k)
    if progress is not None:
        progress(k, k)
    t_run = time.perf_counter()

    used = {name: arr[: int(counters[ev.C_HTLCS])] for name, arr in htlcs.items()}
    state = {"capacity_msat": capacity, "start_balance_msat": start_balance, **chan, **pays,
             **nodes, "htlcs": used, "graph": graph,
             "route_table": {name: a[: int(counters[ev.C_ROUTE])] for name, a in routes.items()},
             "attempt_table": {name: a[: int(counters[ev.C_ATTEMPTS])]
                               for name, a in attempts.items()},
             "events": int(counters[ev.C_EVENTS])}
    result = _tables(network, workload, state)
    result.timings = {"setup_s": t_setup - t0, "simulate_s": t_run - t_setup,
                      "collect_s": time.perf_counter() - t_run, "events": state["events"],
                      "route_searches": int(counters[ev.C_SEARCHES]),
                      "prefetched_routes": prefetched,
                      "prefetched_routes_used": int(counters[ev.C_PREFETCH_USED]),
                      "prefetched_routes_revalidated": int(counters[ev.C_REVALIDATED]),
                      "potentials_reused": int(counters[ev.C_REUSED]),
                      "speculated_retries": int(counters[ev.C_SPECULATED]),
                      "speculated_retries_used": int(counters[ev.C_SPECULATED_USED])}
    return result


def recorded_first_routes(result: SimulationResult, max_hops: int) -> dict[str, np.ndarray]:
    """Each payment's first route in a finished run, in the form ``simulate(first_routes=...)`` takes."""
    k = result.payments.height
    att = result.state["attempt_table"]
    routes = result.state["route_table"]
    first = np.full(k, -1, np.int64)
    number0 = att["number"] == 0
    first[att["payment"][number0]] = np.flatnonzero(number0)
    columns = {"direction": "route_direction", "amount_msat": "route_amount_msat",
               "cltv": "route_cltv"}
    out = {"n_hops": np.zeros(k, np.int64),
           **{name: np.zeros((k, max_hops + 1), np.int64) for name in columns}}
    for p in np.flatnonzero(first >= 0):
        a = first[p]
        start, n = att["route_start"][a], att["n_hops"][a]
        out["n_hops"][p] = n
        for name, column in columns.items():
            out[name][p, :n] = routes[column][start:start + n]
    return out


def node_funds(network: Network, per_direction_msat: np.ndarray) -> np.ndarray:
    """Sum of each node's own side of its channels, exactly in int64."""
    out = np.zeros(network.n_nodes, np.int64)
    np.add.at(out, network.dir_src, per_direction_msat)
    return out


def _tables(network: Network, workload: pl.DataFrame, st: dict) -> SimulationResult:
    status = st["status"]
    succeeded = status == ev.SUCCEEDED
    amount = st["amount_msat"]
    fee = st["fee_msat"]
    reasons = np.array(ev.REASON_NAMES, dtype=object)[st["reason"]]
    payments = pl.DataFrame({
        "id": workload["id"].to_numpy(),
        "src": st["src"], "dst": st["dst"], "amount_msat": amount,
        "t_arrival_s": st["t_arrival_s"],
        "succeeded": succeeded,
        "failure_reason": pl.Series(reasons.tolist(), dtype=pl.Utf8).replace("", None),
        "attempts": st["attempts"], "hops": st["hops"],
        "fee_msat": fee,
        # a failed payment has no fee rate: null, not NaN, so that polars skips it in every aggregate
        "fee_ppm": pl.Series(np.where(succeeded, fee * 1e6 / amount, np.nan)).fill_nan(None),
        "t_done_s": st["t_done_s"],
        "completion_s": st["t_done_s"] - st["t_arrival_s"],
    })
    nodes = pl.DataFrame({
        "node": np.arange(network.n_nodes, dtype=np.int32),
        "pubkey": network.pubkey.tolist(), "alias": network.alias.tolist(),
        "fees_earned_msat": st["fees_earned_msat"], "fees_paid_msat": st["fees_paid_msat"],
        "sent_msat": st["sent_msat"], "received_msat": st["received_msat"],
        "forwards": st["forwards"],
        "funds_start_msat": node_funds(network, st["start_balance_msat"]),
        "funds_end_msat": node_funds(network, st["balance_msat"]),
    })
    b0, b1 = st["start_balance_msat"], st["balance_msat"]
    channels = pl.DataFrame({
        "channel": np.arange(network.n_channels, dtype=np.int32),
        "scid": network.scid.tolist(), "node0": network.node0, "node1": network.node1,
        "capacity_msat": network.capacity_msat,
        "balance0_start_msat": b0[0::2], "balance1_start_msat": b0[1::2],
        "balance0_end_msat": b1[0::2], "balance1_end_msat": b1[1::2],
    })
    h = st["htlcs"]
    htlcs = pl.DataFrame({
        "id": np.arange(h["payment"].shape[0], dtype=np.int32),
        **{name: h[name] for name in ("payment", "attempt", "part", "hop")},
        "kind": pl.Series(np.array(KIND_NAMES, dtype=object)[h["kind"]].tolist(), dtype=pl.Categorical),
        "state": pl.Series(np.array(STATE_NAMES, dtype=object)[h["state"]].tolist(), dtype=pl.Categorical),
        **{name: h[name] for name in ("direction", "amount_msat", "cltv_expiry", "t_added_s",
                                       "t_resolved_s", "funds")},
    })
    summary = summarize(payments)
    return SimulationResult(payments=payments, nodes=nodes, channels=channels, summary=summary,
                            htlcs=htlcs, state=st)


def summarize(payments: pl.DataFrame) -> pl.DataFrame:
    """One row of headline numbers over a payments table (README: "What a run writes")."""
    ok = payments.filter(pl.col("succeeded"))
    attempts = payments["attempts"].cast(pl.Float64)
    row = {
        "payments": payments.height,
        "succeeded": ok.height,
        "success_rate": ok.height / payments.height if payments.height else float("nan"),
        # a payment whose sender never found a route made no attempt: counted apart, not as 0 attempts
        "never_routed_share": (attempts == 0).mean() if payments.height else float("nan"),
        "mean_attempts": attempts.filter(attempts > 0).mean(),
        "median_fee_ppm": ok["fee_ppm"].median(),
        "p95_fee_ppm": ok["fee_ppm"].quantile(0.95, "nearest"),
        "p50_completion_s": ok["completion_s"].median(),
        "p95_completion_s": ok["completion_s"].quantile(0.95, "nearest"),
        "volume_msat": int(payments["amount_msat"].sum()),
        "volume_succeeded_msat": int(ok["amount_msat"].sum()),
        "fees_msat": int(ok["fee_msat"].sum()),
    }
    for reason in ev.REASON_NAMES[1:]:
        row[f"failed_{reason}"] = int((payments["failure_reason"] == reason).sum())
    return pl.DataFrame([row])
