"""Orchestration: build the flat arrays, run the event kernel in chunks, collect the result tables."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numba
import numpy as np
import polars as pl

from fastsim import invariants
from fastsim.errors import InputError
from fastsim.imbalance import network_imbalance
from fastsim.kernels import events as ev
from fastsim.kernels import layout as lay
from fastsim.kernels._jit import compiled, note_compiled
from fastsim.kernels.attempts import compute_ahead, compute_ahead_serial
from fastsim.kernels.htlcs import HTLC_FIELDS, KIND_NAMES, STATE_NAMES, empty_htlc_table
from fastsim.kernels.routing import (
    COST_MODELS,
    GRAPH_FIELDS,
    IN_COLUMNS,
    NO_FAILURE,
    ROUTE_NONE,
    ROUTE_OK,
    make_potential,
    make_scratch,
)
from fastsim.network import Network
from fastsim.recycling import forget_records, last_rows, recycle
from fastsim.workload import validate_workload

CHUNK_EVENTS = 1 << 16
RECYCLED_HTLC_ROWS = 1 << 20  # initial room for HTLCs in flight when rows are recycled
RECYCLED_ATTEMPT_ROWS = 1 << 18  # the same for attempts
FAILURE_RECORD_ROWS = 1 << 16  # initial room for failure records (it grows as they last)
PREFETCH_WINDOW = 512  # payments whose first routes are computed ahead, in parallel
RETRY_SLOTS = 64  # retries computed ahead at once, at most (a batch is the failures in flight)


InvariantViolation = invariants.InvariantViolation
JIT_DTYPES = ("float64", "int32", "int32", "int32", "int8", "int64", "int64", "int64", "int64",
              "int32", "int32", "int8", "int8", "int8", "int8", "float64", "int16", "int16", "int32")


@dataclass
class SimulationResult:
    """Everything a run produced: Polars tables plus the raw final state for checks."""

    payments: pl.DataFrame
    nodes: pl.DataFrame
    channels: pl.DataFrame
    summary: pl.DataFrame
    htlcs: pl.DataFrame
    jit_events: pl.DataFrame
    timeline: pl.DataFrame = field(default_factory=lambda: _Timeline.table([]))
    timings: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)


class _Timeline:
    """The run over simulated time (timeline.parquet): a row at the start, after the first event at
    or past each of ``points`` equal steps through the workload's arrivals (the event loop returns
    there), and at the end, each stamped with the clock of that moment."""

    def __init__(self, network: Network, capacity: np.ndarray, span_s: float, points: int):
        self.network, self.capacity = network, capacity
        self.every = span_s / points if points > 0 and span_s > 0 else math.inf
        self.points = points
        self.next_s = 0.0 if points > 0 else math.inf  # the event loop returns once its clock is there
        self.rows: list[tuple] = []

    def sample(self, t: float, status: np.ndarray, balance: np.ndarray, *,
               last: bool = False) -> None:
        if self.points == 0 or (t < self.next_s and not last):
            return
        self.next_s = t + self.every
        done = int(np.count_nonzero(status != lay.PENDING))
        succeeded = int(np.count_nonzero(status == lay.SUCCEEDED))
        self.rows.append((t, done, succeeded, succeeded / done if done else None,
                          network_imbalance(balance, self.capacity, self.network.dir_src,
                                            self.network.n_nodes)))

    @staticmethod
    def table(rows: list[tuple]) -> pl.DataFrame:
        return pl.DataFrame(rows, orient="row", schema={
            "t_s": pl.Float64, "payments_done": pl.Int64, "succeeded": pl.Int64,
            "success_rate": pl.Float64, "imbalance": pl.Float64})


def graph_arrays(network: Network) -> tuple:
    """The gossip view the routing kernel searches (order of GRAPH_FIELDS): enabled directions only,
    grouped by receiving node (``in_*``) and by sending node (``fwd_*``), each node's by fee rate."""
    capacity = network.direction_capacity_msat()
    enabled_in = network.in_dir[network.enabled[network.in_dir]]
    # a node's incoming directions by fee rate, then base fee; ``in_tie_rank`` keeps their place
    # in direction order, which breaks the search's ties
    node = network.dir_dst[enabled_in]
    in_ptr = _ptr(node, network.n_nodes)
    order = np.lexsort((network.fee_base_msat[enabled_in], network.fee_rate_ppm[enabled_in], node))
    keep, in_node = enabled_in[order], node[order]
    enabled_out = network.out_dir[network.enabled[network.out_dir]]
    out_node = network.dir_src[enabled_out]
    keep_out = enabled_out[np.lexsort((network.fee_base_msat[enabled_out],
                                       network.fee_rate_ppm[enabled_out], out_node))]
    incoming = {"src": network.dir_src[keep], "dir": keep, "capacity_msat": capacity[keep],
                "fee_base_msat": network.fee_base_msat[keep],
                "fee_rate_ppm": network.fee_rate_ppm[keep], "cltv_delta": network.cltv_delta[keep],
                "htlc_min_msat": network.htlc_min_msat[keep],
                "htlc_max_msat": network.htlc_max_msat[keep]}
    cols = {
        "in_ptr": in_ptr,
        "in_packed": np.stack([incoming[name] for name in IN_COLUMNS], axis=1).astype(np.int64),
        "dir_dst": network.dir_dst,
        "fwd_ptr": _ptr(out_node, network.n_nodes), "fwd_dir": keep_out,
        "fwd_dst": network.dir_dst[keep_out], "fwd_capacity_msat": capacity[keep_out],
        "fwd_fee_base_msat": network.fee_base_msat[keep_out],
        "fwd_fee_rate_ppm": network.fee_rate_ppm[keep_out],
        "fwd_htlc_max_msat": network.htlc_max_msat[keep_out],
        "in_tie_rank": order - in_ptr[in_node],
        "in_base_floor_msat": _suffix_min(network.fee_base_msat[keep], in_node),
        "fwd_base_floor_msat": _suffix_min(network.fee_base_msat[keep_out], network.dir_src[keep_out]),
    }
    return tuple(cols[name] for name in GRAPH_FIELDS)


def _suffix_min(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """The least of ``values`` from each place to the end of its run of equal, ascending ``group``."""
    # ranks, each group's lifted above every earlier group's: run backwards, a running minimum then
    # never carries a later group's value into an earlier group
    distinct, rank = np.unique(values, return_inverse=True)
    lift = group.astype(np.int64) * (distinct.size + 1)
    return distinct[np.minimum.accumulate((rank + lift)[::-1])[::-1] - lift]


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
            "htlc_min_msat": network.htlc_min_msat, "htlc_max_msat": network.htlc_max_msat,
            "fee_base_msat": network.fee_base_msat, "fee_rate_ppm": network.fee_rate_ppm,
            "cltv_delta": network.cltv_delta.astype(np.int64)}
    return _ordered(cols, lay.TOPOLOGY_FIELDS)


def unresponsive_nodes(n_nodes: int, share: float, seed: int) -> np.ndarray:
    """Which nodes accept HTLCs but never answer (offline peers), drawn from the engine seed."""
    mask = np.zeros(n_nodes, bool)
    count = int(round(share * n_nodes))
    if count:
        mask[np.random.default_rng([seed, 0x57C]).choice(n_nodes, count, replace=False)] = True
    return mask


def jit_adopters(network: Network, adoption: float, adopters: str, seed: int) -> np.ndarray:
    """Which nodes run JIT: a share of all nodes, drawn from the engine seed or the top share by
    total channel capacity or by channel count (ties broken by node index)."""
    mask = np.zeros(network.n_nodes, bool)
    count = int(round(adoption * network.n_nodes))
    if count == 0:
        return mask
    if adopters == "random":
        mask[np.random.default_rng([seed, 0x717]).choice(network.n_nodes, count, replace=False)] = True
        return mask
    ends = np.concatenate([network.node0, network.node1])
    weights = np.concatenate([network.capacity_msat] * 2) if adopters == "capacity" else None
    score = np.bincount(ends, weights=weights, minlength=network.n_nodes)
    mask[np.lexsort((np.arange(network.n_nodes), -score))[:count]] = True
    return mask


def engine_params(config, *, seed: int, atomic: bool, debug_invariants: bool,
                  reuse_potentials: bool = True) -> np.ndarray:
    s, e, j = config.sender, config.engine, config.jit
    if j.source and j.variant not in ("conditional", "multi"):
        raise InputError("jit.source", None, "source JIT consolidates with conditional circles: "
                                             "expected jit.variant 'conditional' or 'multi', got "
                                             f"{j.variant!r}")
    values = {
        "mode_atomic": atomic, "cost_model": COST_MODELS[s.cost_model], "mu": s.mu,
        "apriori": s.apriori_hop_probability, "half_life_s": s.penalty_half_life_s,
        "attempt_cost_msat": s.attempt_cost_msat, "attempt_cost_ppm": s.attempt_cost_ppm,
        "max_hops": e.max_hops, "max_cltv": e.max_cltv, "final_cltv": e.final_cltv_delta,
        "retry_for_s": s.retry_for_s,
        "remember_failures": s.remember_failures, "max_accepted_htlcs": e.max_accepted_htlcs,
        "latency_ms": e.latency_ms, "latency_jitter_ms": e.latency_jitter_ms, "seed": seed,
        "debug_invariants": debug_invariants, "htlc_timeout_s": e.htlc_timeout_s,
        "reuse_potentials": reuse_potentials, "jit_variant": lay.JIT_VARIANTS.index(j.variant),
        "jit_max_circle_hops": j.max_circle_hops, "jit_max_circles": j.max_circles,
        "jit_amount": lay.JIT_AMOUNTS.index(j.amount), "jit_budget": lay.JIT_BUDGETS.index(j.budget),
        "jit_budget_factor": j.budget_factor, "jit_timeout_s": j.timeout_s,
        "jit_max_depth": j.max_depth, "jit_one_per_channel": j.one_per_channel,
        "jit_source": j.source, "overpay_ppm": s.overpay_ppm,
        "mpp_part_msat": config.mpp.part_msat, "mpp_max_splits": config.mpp.max_splits,
        "mpp_max_parts": config.mpp.max_parts, "mpp_min_part_msat": config.mpp.min_part_msat,
        "mpp_timeout_s": config.mpp.timeout_s,
    }
    return np.array([float(values[name]) for name in lay.PARAM_FIELDS])


def fee_budget_msat(amount_msat: np.ndarray, maxfeepercent: float, exemptfee_msat: int) -> np.ndarray:
    """Core Lightning's ``maxfeepercent`` with ``exemptfee``, in integer msat: the percentage as
    parts per billion, the amount split so that nothing overflows int64."""
    ppb = np.int64(round(maxfeepercent * 10_000_000))
    giga = np.int64(1_000_000_000)
    amount = np.asarray(amount_msat, np.int64)
    share = amount // giga * ppb + amount % giga * ppb // giga
    return np.maximum(share, np.int64(exemptfee_msat))


def _ordered(arrays: dict[str, np.ndarray], names: tuple[str, ...]) -> tuple:
    """The arrays in the order a kernel unpacks them; the names must match exactly."""
    assert tuple(arrays) == names, (tuple(arrays), names)
    return tuple(arrays.values())


def _grown(arr: np.ndarray, size: int, fill=0) -> np.ndarray:
    """``arr`` padded with ``fill`` to ``size`` rows (itself if it has them)."""
    if arr.shape[0] >= size:
        return arr
    out = np.zeros(size, arr.dtype) if fill == 0 else np.full(size, fill, arr.dtype)
    out[: arr.shape[0]] = arr
    return out


def _grow(arrays: dict[str, np.ndarray], names, needed: int) -> None:
    """Give each named array room for ``needed`` rows, at least doubling it when it grows."""
    for name in names:
        arr = arrays[name]
        if arr.shape[0] < needed:
            arrays[name] = _grown(arr, max(needed, 2 * arr.shape[0]))


def simulate(network: Network, workload: pl.DataFrame, config, *, balances: np.ndarray,
             seed: int | None = None, mode: str | None = None, debug_invariants: bool = False,
             check_invariants: bool = True, unresponsive: np.ndarray | None = None,
             adopters: np.ndarray | None = None, prefetch_routes: bool = True,
             reuse_potentials: bool = True, first_routes: dict[str, np.ndarray] | None = None,
             record_htlcs: bool = True, table_rows: int | None = None,
             progress: Callable[[int, int], None] | None = None) -> SimulationResult:
    """Run one scenario: ``workload`` payments on ``network`` starting from ``balances``.

    The result is checked against DESIGN.md 2.8's invariants (``check_invariants=False`` skips
    that; ``debug_invariants`` also checks channel sums after every event) and an
    :class:`InvariantViolation` raised when one is broken.
    ``unresponsive`` (a mask over nodes) overrides the nodes drawn by ``engine.unresponsive_share``,
    ``adopters`` those drawn by ``jit.adoption``.
    ``prefetch_routes=False`` computes every route when it is needed (same results, one core).
    ``reuse_potentials=False`` has every retry search forward afresh (same routes up to ties).
    ``first_routes`` replays given first routes instead of searching (see :func:`recorded_first_routes`);
    it serves to measure the event machinery alone.
    ``record_htlcs=False`` recycles the rows of HTLCs and routes once their payments have ended
    (checked first, see :mod:`fastsim.recycling`), so that memory is bounded by what is in flight;
    the result's ``htlcs`` table is then empty. ``table_rows`` sets the initial room of the HTLC,
    route and failure-record tables (they grow as needed).
    """
    t0 = time.perf_counter()
    seed = config.seed if seed is None else seed
    mode = config.engine.mode if mode is None else mode
    n, m2 = network.n_nodes, network.n_directions
    workload = validate_workload(workload, network, source="workload")
    params = engine_params(config, seed=seed, atomic=(mode == "atomic"),
                           debug_invariants=debug_invariants, reuse_potentials=reuse_potentials)
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
    amount = workload["amount_msat"].to_numpy().astype(np.int64)
    arrival = workload["t_arrival_s"].to_numpy().astype(np.float64)
    # room for circles and parts (it grows when that runs out); the event loop wants room for one
    # event's burst of new payments even where no strategy makes any
    burst = config.mpp.max_parts + config.jit.max_circles + 2
    new_payments = config.jit.variant != "none" or config.mpp.enabled
    rows = (k + burst + (max(64, k // 4) if config.jit.variant != "none" else 0)
            + (4 * k if config.mpp.enabled else 0))
    if adopters is None:
        adopters = jit_adopters(network, config.jit.adoption, config.jit.adopters, seed)
    adopters = np.asarray(adopters, bool)
    src = workload["src"].to_numpy()

    def column(values, dtype, fill=0):
        out = np.full(rows, fill, dtype)
        out[:k] = values
        return out

    pays = {
        "src": column(src, np.int32),
        "dst": column(workload["dst"].to_numpy(), np.int32),
        "amount_msat": column(amount, np.int64), "t_start_s": column(arrival, np.float64),
        "status": np.zeros(rows, np.int8), "reason": np.zeros(rows, np.int8),
        "attempts": np.zeros(rows, np.int16), "fee_msat": np.zeros(rows, np.int64),
        "hops": np.zeros(rows, np.int8), "t_done_s": np.full(rows, np.nan),
        "pay_first_in": np.full(rows, -1, np.int32), "last_reason": np.zeros(rows, np.int8),
        "kind": np.full(rows, lay.PAY_MPP if config.mpp.enabled else lay.PAY_WORKLOAD, np.int8),
        "depth": np.zeros(rows, np.int8),
        "last_hop": np.full(rows, -1, np.int64),
        "budget_msat": column(fee_budget_msat(amount, config.sender.maxfeepercent,
                                              config.sender.exemptfee_msat), np.int64),
        "max_attempts": np.full(rows, config.sender.max_attempts, np.int16),
        "deadline_s": column(arrival + config.sender.retry_for_s, np.float64),
        "jit_event": np.full(rows, -1, np.int32), "jit_events": np.zeros(rows, np.int32),
        "held_by": np.full(rows, -1, np.int32), "first_hop": np.full(rows, -1, np.int64),
        "hash_of": np.arange(rows, dtype=np.int32),
        "consolidates": column(adopters[src] & config.jit.source, np.int8),
        "parent": np.full(rows, -1, np.int32), "parts": np.zeros(rows, np.int16),
        "parts_open": np.zeros(rows, np.int16), "held_msat": np.zeros(rows, np.int64),
        "t_last_part_s": np.full(rows, np.nan), "unsettled": np.zeros(rows, np.int16),
    }
    guess = max(64, 4 * k)
    att_rows, htlc_rows = table_rows, table_rows
    if table_rows is None:
        att_rows = guess if record_htlcs else min(guess, RECYCLED_ATTEMPT_ROWS)
        htlc_rows = 8 * guess if record_htlcs else min(8 * guess, RECYCLED_HTLC_ROWS)
    attempts = {"payment": np.zeros(att_rows, np.int32), "number": np.zeros(att_rows, np.int16),
                "route_start": np.zeros(att_rows, np.int64), "n_hops": np.zeros(att_rows, np.int8),
                "t_start_s": np.zeros(att_rows), "fail_direction": np.zeros(att_rows, np.int32),
                "fail_amount_msat": np.zeros(att_rows, np.int64),
                "fail_reason": np.zeros(att_rows, np.int8), "serial": np.zeros(att_rows, np.int64)}
    routes = {"route_direction": np.zeros(htlc_rows, np.int64),
              "route_amount_msat": np.zeros(htlc_rows, np.int64),
              "route_cltv": np.zeros(htlc_rows, np.int64)}
    # failure records are recycled as they are forgotten
    records = FAILURE_RECORD_ROWS if table_rows is None else table_rows
    know = {"know_head": np.full(n, -1, np.int32), "know_direction": np.zeros(records, np.int64),
            "know_amount_msat": np.zeros(records, np.int64), "know_time_s": np.zeros(records),
            "know_payment": np.zeros(records, np.int32), "know_next": np.zeros(records, np.int32),
            "know_newest": np.full(n, -1, np.int64)}
    htlcs = empty_htlc_table(htlc_rows)
    recycled = np.zeros(rows, bool)  # payments whose rows were checked and recycled
    recycled_violations: list[str] = []
    recycled_rows = 0
    heap = {"keys": np.zeros(1024), "ties": np.zeros(1024, np.int64), "vals": np.zeros(1024, np.int64),
            "clock": np.array([0.0, np.inf])}
    nodes = {name: np.zeros(n, np.int64) for name in lay.NODE_FIELDS}
    jit_rows = 64 if config.jit.variant == "none" else max(64, k // 4)
    jit = {name: np.zeros(jit_rows, dtype) for name, dtype in zip(lay.JIT_FIELDS, JIT_DTYPES)}
    jit_state = {"adopter": adopters, "dir_earned_msat": np.zeros(m2, np.int64),
                 "dir_rebalancing": np.zeros(m2, np.int32),
                 "dir_rebalance_fees_msat": np.zeros(m2, np.int64)}
    counters = np.zeros(len(lay.COUNTER_FIELDS), np.int64)
    counters[lay.C_PAYMENTS] = counters[lay.C_WORKLOAD] = k
    graph = graph_arrays(network)
    topology = topology_arrays(network)
    if unresponsive is None:
        unresponsive = unresponsive_nodes(n, config.engine.unresponsive_share, seed)
    scratch = make_scratch(n, m2)
    view = _view(n, m2)
    node_version = np.zeros(n, np.int64)
    blocks = min(config.engine.threads or numba.config.NUMBA_NUM_THREADS,
                 numba.config.NUMBA_NUM_THREADS)
    block_scratch = tuple(np.stack([a] * blocks) for a in make_scratch(n, m2))
    block_view = tuple(np.stack([a] * blocks) for a in _view(n, m2))
    claimed = np.zeros(1, np.int64)  # how far the blocks of a parallel kernel got in its items
    ahead = compute_ahead if blocks > 1 else compute_ahead_serial
    width = PREFETCH_WINDOW if prefetch_routes else 1
    hop_cap = max(int(config.engine.max_hops), int(config.jit.max_circle_hops)) + 1
    prefetch = (np.zeros(3, np.int64), np.full(width, -1, np.int64), np.zeros(width, np.int64),
                np.zeros(width, np.int64), np.zeros((width, hop_cap), np.int64),
                np.zeros((width, hop_cap), np.int64), np.zeros((width, hop_cap), np.int64),
                np.full(width, -1, np.int64), np.full(width, np.nan))
    prefetched = 0
    if first_routes is not None:
        n_hops = first_routes["n_hops"]
        prefetch = (np.array([0, k, 0], np.int64), np.full(k, lay.PINNED, np.int64),
                    np.where(n_hops > 0, ROUTE_OK, ROUTE_NONE).astype(np.int64), n_hops.astype(np.int64),
                    first_routes["direction"], first_routes["amount_msat"], first_routes["cltv"],
                    np.full(k, -1, np.int64), np.full(k, np.nan))
    elif not prefetch_routes:
        prefetch[0][:2] = k, k  # an empty window past the last payment: nothing is ever prefetched
    slots = RETRY_SLOTS if prefetch_routes else 0  # no slot: every retry is searched live
    retry = {
        "retry_slot": np.full(rows, -1, np.int32), "slot_attempt": np.zeros(slots, np.int64),
        "slot_time": np.zeros(slots),
        "slot_delivered": np.zeros(slots, np.int8), "slot_version": np.zeros(slots, np.int64),
        "slot_status": np.zeros(slots, np.int64), "slot_n_hops": np.zeros(slots, np.int64),
        **{name: np.zeros((slots, hop_cap), np.int64)
           for name in ("slot_direction", "slot_amount_msat", "slot_cltv")},
        "free_slots": np.arange(slots, dtype=np.int64), "pending_slots": np.zeros(slots, np.int64),
    }
    counters[lay.C_FREE_SLOTS] = slots
    potentials = {"pot_payment": np.full(n, -1, np.int64)}
    for prefix, rows_ in (("pot", n), ("live_pot", 1), ("slot_pot", slots), ("pre_pot", len(prefetch[1]))):
        potentials[f"{prefix}_ints"], potentials[f"{prefix}_floats"] = make_potential(rows_)
    potentials = _ordered(potentials, lay.POTENTIAL_FIELDS)
    # None compiles the event loop without that strategy's handlers (see kernels.events)
    with_jit = True if adopters.any() and config.jit.variant != "none" else None
    with_mpp = True if config.mpp.enabled else None
    # the last attempt of each payment whose rows were recycled, for the JIT decisions' outputs
    ended_attempts = None if with_jit is None else {"serial": np.full(rows, -1, np.int64),
                                                    "n_hops": np.zeros(rows, np.int8)}
    t_setup = time.perf_counter()
    phases = _Phases()

    timeline = _Timeline(network, capacity, float(arrival.max(initial=0.0)),
                         config.engine.timeline_points)
    timeline.sample(0.0, pays["status"][:k], chan["balance_msat"])
    heap["clock"][1] = timeline.next_s
    with _numba_threads(blocks):
        while True:
            state = (_ordered(chan, lay.CHANNEL_FIELDS), node_version, _ordered(pays, lay.PAYMENT_FIELDS),
                     _ordered(attempts, lay.ATTEMPT_FIELDS), _ordered(routes, lay.ROUTE_FIELDS),
                     _ordered(know, lay.KNOW_FIELDS))
            with phases.timed("events_s"):
                status = ev.run_events(
                    graph, topology, unresponsive, *state, _ordered(htlcs, HTLC_FIELDS),
                    _ordered(heap, lay.HEAP_FIELDS), _ordered(nodes, lay.NODE_FIELDS), counters,
                    params, scratch, view, prefetch, _ordered(retry, lay.RETRY_FIELDS), potentials,
                    _ordered(jit, lay.JIT_FIELDS), _ordered(jit_state, lay.JIT_STATE_FIELDS),
                    CHUNK_EVENTS, with_jit, with_mpp)
            timeline.sample(float(heap["clock"][0]), pays["status"][:k], chan["balance_msat"],
                            last=status == lay.STATUS_DONE)
            heap["clock"][1] = timeline.next_s
            if status == lay.STATUS_DONE:
                break
            if status in (lay.STATUS_PREFETCH, lay.STATUS_SPECULATE):
                first_routes = status == lay.STATUS_PREFETCH
                if first_routes:
                    first = int(counters[lay.C_NEXT_PAYMENT])
                    prefetch[0][:2] = first, min(first + width, k)
                    prefetched += int(prefetch[0][1] - first)
                with phases.timed("first_routes_s" if first_routes else "retries_ahead_s"):
                    ahead(graph, topology, *state[:3], state[3], state[4], state[5], params,
                          block_scratch, block_view, claimed, prefetch,
                          _ordered(retry, lay.RETRY_FIELDS), counters, first_routes, potentials)
                if not first_routes:
                    continue
            if status == lay.STATUS_INVARIANT:
                raise InvariantViolation(
                    f"channel {int(counters[lay.C_BAD_CHANNEL])}: balances and in-flight amounts no "
                    "longer add up to the capacity")
            if status == lay.STATUS_NEED_SPACE:
                # recycled tables grow only when what is in flight fills half of them
                live_htlcs, live_routes, live_attempts, margin = 0, 0, 0, CHUNK_EVENTS
                if not record_htlcs:
                    with phases.timed("recycling_s"):
                        recycled_rows += recycle(htlcs, routes, attempts, pays, jit, heap, retry,
                                                 counters, recycled, ended_attempts, network,
                                                 recycled_violations)
                    live_htlcs, live_routes = int(counters[lay.C_HTLCS]), int(counters[lay.C_ROUTE])
                    live_attempts = int(counters[lay.C_ATTEMPTS])
                    margin = 64
                _grow(htlcs, HTLC_FIELDS, int(counters[lay.C_HTLCS]) + live_htlcs + margin)
                _grow(routes, routes.keys(),
                      int(counters[lay.C_ROUTE]) + live_routes + 64 * hop_cap + burst * hop_cap)
                _grow(attempts, attempts.keys(), int(counters[lay.C_ATTEMPTS]) + live_attempts + margin)
                with phases.timed("recycling_s"):
                    forget_records(know, pays, counters, prefetch[0],
                                   clock_s=float(heap["clock"][0]),
                                   half_life_s=config.sender.penalty_half_life_s,
                                   remember=config.sender.remember_failures)
                _grow(know, [k_ for k_ in know if k_ not in ("know_head", "know_newest")],
                      2 * int(counters[lay.C_KNOW]) + 1024)
                _grow(heap, ("keys", "ties", "vals"), int(counters[lay.C_HEAP]) + CHUNK_EVENTS)
                payment_rows = int(counters[lay.C_PAYMENTS]) + (1024 if new_payments else 0) + burst
                _grow(pays, pays.keys(), payment_rows)
                recycled = _grown(recycled, pays["status"].shape[0])
                if ended_attempts is not None:
                    ended_attempts = {
                        "serial": _grown(ended_attempts["serial"], pays["status"].shape[0], -1),
                        "n_hops": _grown(ended_attempts["n_hops"], pays["status"].shape[0])}
                _grow(retry, ("retry_slot",), payment_rows)
                _grow(jit, jit.keys(), int(counters[lay.C_JIT]) + 1024)
            if progress is not None:
                progress(int(np.count_nonzero(pays["status"][:k])), k)
        if progress is not None:
            progress(k, k)
    note_compiled(_event_loop_variant(with_jit is not None, with_mpp is not None))
    t_run = time.perf_counter()

    # what only the searches read goes before the tables are built: a long run's failure records
    # alone are a hundred MB
    failure_record_rows = int(know["know_direction"].shape[0])
    del know, potentials, scratch, block_scratch, view, block_view, prefetch, heap, state
    n_pay = int(counters[lay.C_PAYMENTS])
    used = {name: arr[: int(counters[lay.C_HTLCS])] for name, arr in htlcs.items()}
    state = {"capacity_msat": capacity, "start_balance_msat": start_balance, **chan,
             **{name: arr[:n_pay] for name, arr in pays.items()}, "n_workload": k,
             **nodes, "htlcs": used, "graph": graph, **jit_state,
             "route_table": {name: a[: int(counters[lay.C_ROUTE])] for name, a in routes.items()},
             "attempt_table": {name: a[: int(counters[lay.C_ATTEMPTS])]
                               for name, a in attempts.items()},
             "jit_table": {name: a[: int(counters[lay.C_JIT])] for name, a in jit.items()},
             "events": int(counters[lay.C_EVENTS]), "recycled": recycled[:n_pay],
             "ended_attempts": ended_attempts,
             "recycled_violations": recycled_violations}
    result = _tables(network, workload, state, config.jit.variant, record_htlcs)
    result.timeline = timeline.table(timeline.rows)
    result.timings = {"setup_s": t_setup - t0, "simulate_s": t_run - t_setup,
                      "collect_s": time.perf_counter() - t_run, "events": state["events"],
                      "route_searches": int(counters[lay.C_SEARCHES]),
                      "prefetched_routes": prefetched,
                      "prefetched_routes_used": int(counters[lay.C_PREFETCH_USED]),
                      "prefetched_routes_revalidated": int(counters[lay.C_REVALIDATED]),
                      "potentials_reused": int(counters[lay.C_REUSED]),
                      **phases.seconds,
                      "htlc_rows_recycled": recycled_rows,
                      "htlc_table_rows": int(htlcs["payment"].shape[0]),
                      "attempt_table_rows": int(attempts["payment"].shape[0]),
                      "failure_records": int(counters[lay.C_KNOW]),
                      "failure_record_rows": failure_record_rows,
                      "speculated_retries": int(counters[lay.C_SPECULATED]),
                      "speculated_retries_used": int(counters[lay.C_SPECULATED_USED])}
    if check_invariants:
        invariants.check(result, network)
    return result


class _Phases:
    """Seconds spent per phase of the event loop, for ``timings``: ``events_s`` (the event kernel,
    with the searches it makes live), ``first_routes_s`` and ``retries_ahead_s`` (searches computed
    ahead), ``recycling_s``."""

    def __init__(self):
        self.seconds = dict.fromkeys(("events_s", "first_routes_s", "retries_ahead_s",
                                      "recycling_s"), 0.0)

    @contextlib.contextmanager
    def timed(self, phase: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - t0


@contextlib.contextmanager
def _numba_threads(n: int):
    """Run the parallel kernels on ``n`` threads, and restore the caller's setting after."""
    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def _event_loop_variant(jit: bool, mpp: bool) -> str:
    return f"run_events-jit{int(jit)}-mpp{int(mpp)}"


def event_loop_compiled(config) -> bool:
    """Whether an earlier run compiled the event loop ``config`` needs (with JIT when a node may
    adopt it: on a tiny graph the adopters drawn may be none, and the run then needs less)."""
    jit = config.jit.variant != "none" and config.jit.adoption > 0
    return compiled(_event_loop_variant(jit, config.mpp.enabled))


def _view(n: int, m2: int) -> tuple:
    """A sender's view for its searches (order of VIEW_FIELDS), empty."""
    return (np.full(m2, -1, np.int64), np.full(m2, NO_FAILURE, np.int64),
            np.full(m2, NO_FAILURE, np.int64), np.full(m2, np.inf), np.zeros(m2, np.int64),
            np.zeros(n, np.int32), np.zeros(n, np.int32))


def recorded_first_routes(result: SimulationResult, max_hops: int) -> dict[str, np.ndarray]:
    """Each payment's first route in a run that kept every row (``record_htlcs``), in the form
    ``simulate(first_routes=...)`` takes."""
    if result.state["recycled"].any():
        raise ValueError("the run recycled its attempts' rows: simulate it with record_htlcs=True")
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


def _last_attempts(st: dict) -> tuple[np.ndarray, np.ndarray]:
    """Each payment's last attempt: its serial (-1: none) and hops, from the attempt rows still
    held or, for a payment whose rows were recycled, from what recycling kept of them."""
    att, n = st["attempt_table"], st["status"].shape[0]
    ended = st["ended_attempts"]
    serial = np.full(n, -1, np.int64) if ended is None else ended["serial"][:n].copy()
    hops = np.zeros(n, np.int8) if ended is None else ended["n_hops"][:n].copy()
    last = last_rows(att["payment"], n)
    held = last >= 0
    serial[held] = att["serial"][last[held]]
    hops[held] = att["n_hops"][last[held]]
    return serial, hops


def _jit_events(st: dict, variant: str, last_serial: np.ndarray, last_hops: np.ndarray) -> pl.DataFrame:
    """One row per JIT decision, with what became of its circles."""
    j = st["jit_table"]
    n = j["jit_circles"].astype(np.int64)
    owner = np.repeat(np.arange(n.shape[0]), n)  # per circle, its decision
    first = np.cumsum(n) - n
    circle = j["jit_circle"][owner].astype(np.int64) + np.arange(owner.shape[0]) - first[owner]
    settled = st["status"][circle] == lay.SUCCEEDED

    def per_decision(values):
        return np.bincount(owner, weights=values, minlength=n.shape[0]).astype(np.int64)

    first_circle = np.where(n > 0, j["jit_circle"], 0).astype(np.int64)
    hops = np.where((n > 0) & (last_serial[first_circle] >= 0), last_hops[first_circle], 0)
    amounts = np.split(st["amount_msat"][circle], np.cumsum(n)[:-1]) if n.shape[0] else []
    return pl.DataFrame({
        "t_s": j["jit_t_s"], "node": j["jit_node"], "payment": j["jit_payment"],
        "attempt": j["jit_attempt"], "depth": j["jit_depth"], "direction": j["jit_direction"],
        "shortfall_msat": j["jit_shortfall_msat"], "amount_msat": j["jit_amount_msat"],
        "variant": pl.Series([variant] * n.shape[0], dtype=pl.Utf8),
        "budget_msat": j["jit_budget_msat"],
        "circles": n.astype(np.int16),
        "circle_amounts_msat": pl.Series([a.tolist() for a in amounts], dtype=pl.List(pl.Int64)),
        "circles_tried": per_decision(st["attempts"][circle]).astype(np.int16),
        "circle_hops": hops.astype(np.int8),
        "cost_msat": per_decision(np.where(settled, st["fee_msat"][circle], 0)),
        "outcome": pl.Series(np.array(lay.OUTCOME_NAMES, dtype=object)[j["jit_outcome"]].tolist(),
                             dtype=pl.Utf8),
        "forwarded": j["jit_forwarded"].astype(bool), "needed": j["jit_needed"].astype(bool),
        "source": j["jit_held"] == lay.SOURCE_HOLD,
        "lockup": j["jit_lockup"].astype(bool),
        "payment_settled": st["status"][j["jit_payment"]] == lay.SUCCEEDED,
        "circle": j["jit_circle"].astype(np.int32), "t_done_s": j["jit_t_done_s"],
    })


def _tables(network: Network, workload: pl.DataFrame, st: dict, variant: str,
            record_htlcs: bool) -> SimulationResult:
    k = st["n_workload"]
    status = st["status"][:k]
    succeeded = status == lay.SUCCEEDED
    amount = st["amount_msat"][:k]
    last_serial, last_hops = _last_attempts(st)
    jit_events = _jit_events(st, variant, last_serial, last_hops)
    # a part's JIT decisions count for its multipart payment
    of_payment = np.where(st["parent"] >= 0, st["parent"], np.arange(st["parent"].shape[0]))
    held = jit_events["payment"].to_numpy()
    rescued = np.zeros(k, bool)
    used = held[jit_events["forwarded"].to_numpy()
                & (jit_events["attempt"].to_numpy() == last_serial[held])
                & (st["status"][held] == lay.SUCCEEDED)]
    rescued[of_payment[used][of_payment[used] < k]] = True
    events_per_payment = np.bincount(of_payment, weights=st["jit_events"],
                                     minlength=k).astype(np.int32)[:k]
    source = jit_events.filter(pl.col("source"))
    source_of = of_payment[source["payment"].to_numpy()]
    # what the sender's own circles cost it is part of what the payment cost it
    source_fees = np.zeros(k, np.int64)
    np.add.at(source_fees, source_of[source_of < k], source["cost_msat"].to_numpy()[source_of < k])
    jit_events = jit_events.with_columns(
        payment=pl.Series(of_payment[held].astype(np.int32)))
    fee = st["fee_msat"][:k] + source_fees
    part = np.flatnonzero(st["parent"] >= 0)
    root = st["parent"][part]
    attempts_made = st["attempts"][:k].astype(np.int64)
    attempts_made += np.bincount(root, weights=st["attempts"][part], minlength=k).astype(np.int64)[:k]
    failed_parts = np.bincount(root, weights=st["status"][part] == lay.FAILED_PAYMENT,
                               minlength=k).astype(np.int16)[:k]
    payments = pl.DataFrame({
        "id": workload["id"].to_numpy(),
        "src": st["src"][:k], "dst": st["dst"][:k], "amount_msat": amount,
        "t_arrival_s": workload["t_arrival_s"].to_numpy(), "t_start_s": st["t_start_s"][:k],
        "succeeded": succeeded,
        # names from codes in polars: no Python string per payment
        "failure_reason": pl.Series(st["reason"][:k]).replace_strict(
            list(range(len(lay.REASON_NAMES))), [None, *lay.REASON_NAMES[1:]], return_dtype=pl.Utf8),
        "attempts": attempts_made.astype(np.int16), "hops": st["hops"][:k],
        "fee_msat": fee,
        # a failed payment has no fee rate: null, not NaN, so that polars skips it in every aggregate
        "fee_ppm": pl.Series(np.where(succeeded, fee * 1e6 / amount, np.nan)).fill_nan(None),
        "t_done_s": st["t_done_s"][:k],
        "completion_s": st["t_done_s"][:k] - st["t_start_s"][:k],
        "jit_events": events_per_payment, "jit_rescued": rescued & succeeded,
        "source_jit": np.isin(np.arange(k), source_of),
        "parts": np.where(st["kind"][:k] == lay.PAY_MPP, st["parts"][:k], 1).astype(np.int16),
        "parts_failed": failed_parts,
        "t_last_part_s": pl.Series(st["t_last_part_s"][:k]).fill_nan(None),
    })
    earned, rebalance_fees = st["fees_earned_msat"], st["rebalance_fees_msat"]
    nodes = pl.DataFrame({
        "node": np.arange(network.n_nodes, dtype=np.int32),
        "pubkey": network.pubkey.tolist(), "alias": network.alias.tolist(),
        "fees_earned_msat": earned, "fees_paid_msat": st["fees_paid_msat"],
        "sent_msat": st["sent_msat"], "received_msat": st["received_msat"],
        "forwards": st["forwards"], "jit_adopter": st["adopter"],
        "jit_events": np.bincount(jit_events["node"].to_numpy(), minlength=network.n_nodes),
        "rebalances": st["rebalances"], "rebalance_fees_msat": rebalance_fees,
        "net_fees_msat": earned - rebalance_fees,
        "funds_start_msat": network.node_funds(st["start_balance_msat"]),
        "funds_end_msat": network.node_funds(st["balance_msat"]),
    })
    b0, b1 = st["start_balance_msat"], st["balance_msat"]
    channels = pl.DataFrame({
        "channel": np.arange(network.n_channels, dtype=np.int32),
        "scid": network.scid.tolist(), "node0": network.node0, "node1": network.node1,
        "capacity_msat": network.capacity_msat,
        "balance0_start_msat": b0[0::2], "balance1_start_msat": b0[1::2],
        "balance0_end_msat": b1[0::2], "balance1_end_msat": b1[1::2],
    })
    # recycled rows are gone: the table reports every HTLC or none
    h = st["htlcs"] if record_htlcs else {name: a[:0] for name, a in st["htlcs"].items()}
    # a part's HTLCs are reported under its multipart payment, with the part's number (from 1)
    parent = st["parent"]
    part_number = np.zeros(parent.shape[0], np.int16)
    if part.size:
        order = np.lexsort((part, root))
        starts = np.r_[0, np.flatnonzero(np.diff(root[order])) + 1]
        ranks = np.arange(order.size) - np.repeat(starts, np.diff(np.r_[starts, order.size]))
        part_number[part[order]] = ranks + 1
    htlc_payment = h["payment"].astype(np.int64)
    of_part = parent[htlc_payment] >= 0
    htlcs = pl.DataFrame({
        "id": np.arange(h["payment"].shape[0], dtype=np.int32),
        "payment": np.where(of_part, parent[htlc_payment], htlc_payment).astype(np.int32),
        "attempt": st["attempt_table"]["serial"][h["attempt"]].astype(np.int32),
        "part": part_number[htlc_payment], "hop": h["hop"],
        "kind": pl.Series(np.array(KIND_NAMES, dtype=object)[h["kind"]].tolist(), dtype=pl.Categorical),
        "state": pl.Series(np.array(STATE_NAMES, dtype=object)[h["state"]].tolist(), dtype=pl.Categorical),
        **{name: h[name] for name in ("direction", "amount_msat", "cltv_expiry", "t_added_s",
                                       "t_resolved_s", "funds")},
    })
    summary = summarize(payments, jit_events, nodes)
    return SimulationResult(payments=payments, nodes=nodes, channels=channels, summary=summary,
                            htlcs=htlcs, jit_events=jit_events, state=st)


def summarize(payments: pl.DataFrame, jit_events: pl.DataFrame, nodes: pl.DataFrame) -> pl.DataFrame:
    """One row of headline numbers over a run's tables (README: "What a run writes")."""
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
    for reason in lay.REASON_NAMES[1:]:
        row[f"failed_{reason}"] = int((payments["failure_reason"] == reason).sum())
    row["jit_events"] = jit_events.height
    for outcome in lay.OUTCOME_NAMES[1:]:
        row[f"jit_{outcome}"] = int((jit_events["outcome"] == outcome).sum())
    row["jit_rescued"] = int(payments["jit_rescued"].sum())
    row["jit_lockups"] = int(jit_events["lockup"].sum())
    row["rebalance_fees_msat"] = int(nodes["rebalance_fees_msat"].sum())
    return pl.DataFrame([row])
