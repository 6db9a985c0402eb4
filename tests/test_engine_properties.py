"""Invariants of DESIGN.md 2.8 on random small graphs and workloads, in both engine modes."""

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from fastsim import engine
from fastsim.config import load_config
from fastsim.engine import simulate
from fastsim.invariants import violations
from fastsim.network import Network
from tests.strategies import channel_ends, per_direction


@st.composite
def scenarios(draw, spaced=False, dense=False, jit=False):
    """A random small network, balances, workload and config. With ``jit``, forwarding nodes run
    JIT-routing, and the network is one where circles exist: a ring with chords, every direction
    enabled, payments large against the channels."""
    n, edges = draw(channel_ends())
    if jit:
        edges = [(i, (i + 1) % n) for i in range(n)] + edges
    m = len(edges)
    k = 2 * m
    caps = draw(st.lists(st.integers(10**8 if jit else 10**6, 10**9), min_size=m, max_size=m))
    net = Network(
        pubkey=[f"n{i}" for i in range(n)], scid=[f"c{i}" for i in range(m)],
        node0=[a for a, _ in edges], node1=[b for _, b in edges], capacity_msat=caps,
        fee_base_msat=per_direction(draw, st.integers(0, 2000), m),
        fee_rate_ppm=per_direction(draw, st.integers(0, 3000), m),
        cltv_delta=per_direction(draw, st.integers(6, 300), m),
        htlc_min_msat=[1] * k, htlc_max_msat=[c for c in caps for _ in (0, 1)],
        enabled=[True] * k if jit else per_direction(draw, st.booleans(), m))
    shares = draw(st.lists(st.floats(0, 1), min_size=m, max_size=m))
    balances = np.empty(k, np.int64)
    balances[0::2] = [int(c * s) for c, s in zip(caps, shares)]
    balances[1::2] = np.array(caps) - balances[0::2]
    n_pay = draw(st.integers(1, 25))
    src = draw(st.lists(st.integers(0, n - 1), min_size=n_pay, max_size=n_pay))
    dst = [(s + draw(st.integers(1, n - 1))) % n for s in src]
    # dense arrivals keep several failures on their way back at once (retries are then computed ahead)
    gaps = draw(st.lists(st.floats(0, 0.02 if dense else 0.5), min_size=n_pay, max_size=n_pay))
    t = np.cumsum([10_000.0 if spaced else g for g in gaps])
    amounts = draw(st.lists(st.integers(1, 3 * 10**8 if jit else 5 * 10**8), min_size=n_pay,
                            max_size=n_pay))
    wl = pl.DataFrame({"id": np.arange(n_pay), "t_arrival_s": t, "src": np.array(src, np.int32),
                       "dst": np.array(dst, np.int32), "amount_msat": np.array(amounts, np.int64)})
    overrides = {
        "sender.cost_model": draw(st.sampled_from(["fee", "lnd", "probability"])),
        "engine.max_accepted_htlcs": draw(st.sampled_from([1, 2, 483])),
        "sender.max_attempts": draw(st.integers(1, 6)),
        "engine.unresponsive_share": draw(st.sampled_from([0.0, 0.0, 0.2])),
        "engine.htlc_timeout_s": 5.0,
        "seed": draw(st.integers(0, 2**31)),
    }
    if draw(st.booleans()):
        overrides |= {
            "mpp.enabled": True,
            "mpp.part_msat": draw(st.sampled_from([2 * 10**6, 5 * 10**7, 10**8])),
            "mpp.max_parts": draw(st.sampled_from([2, 4, 30])),
            "mpp.min_part_msat": draw(st.sampled_from([10**5, 10**7])),
            "mpp.timeout_s": draw(st.sampled_from([0.3, 60.0])),
        }
    if jit:
        variant = draw(st.sampled_from(["rebalance", "conditional", "multi"]))
        overrides |= {
            "jit.variant": variant,
            "jit.source": variant != "rebalance" and draw(st.booleans()),
            "sender.overpay_ppm": draw(st.sampled_from([0, 0, 500, 20_000])),
            "jit.adoption": draw(st.sampled_from([0.5, 1.0, 1.0])),
            "jit.amount": draw(st.sampled_from(["exact", "exact", "plugin", "midway"])),
            "jit.budget": draw(st.sampled_from(["fee", "earnings", "none", "none", "none"])),
            "jit.budget_factor": draw(st.sampled_from([1.0, 50.0])),
            "jit.max_circles": draw(st.integers(1, 3)),
            "jit.max_circle_hops": draw(st.integers(3, 6)),
            "jit.max_depth": draw(st.integers(0, 2)),
            "jit.one_per_channel": draw(st.booleans()),
            "jit.timeout_s": draw(st.sampled_from([0.5, 1.0, 60.0, 60.0])),
        }
    return net, balances, wl, overrides


def any_scenario(draw_dense=st.booleans()):
    """Scenarios with and without JIT, arrivals dense or not."""
    return st.tuples(draw_dense, st.booleans()).flatmap(
        lambda flags: scenarios(dense=flags[0], jit=flags[1]))


@settings(max_examples=80, deadline=None)
@given(any_scenario(), st.sampled_from(["event", "atomic"]))
def test_invariants_hold(case, mode):
    net, balances, wl, overrides = case
    config = load_config(None, overrides={**overrides, "engine.mode": mode})
    res = simulate(net, wl, config, balances=balances, debug_invariants=True)
    assert violations(res, net) == []
    assert res.payments["failure_reason"].is_null().to_list() == res.payments["succeeded"].to_list()
    jit = res.jit_events
    assert (jit["outcome"] != "pending").all()
    assert (jit.filter(pl.col("forwarded"))["outcome"] == "rebalanced").all()
    # what each JIT node paid for its circles is what its circles cost
    paid = jit.group_by("node").agg(pl.col("cost_msat").sum())
    nodes = res.nodes.filter(pl.col("rebalance_fees_msat") > 0)
    assert dict(paid.filter(pl.col("cost_msat") > 0).rows()) == dict(
        nodes.select("node", "rebalance_fees_msat").rows())


@settings(max_examples=40, deadline=None)
@given(scenarios(spaced=True))
def test_event_and_atomic_agree_when_arrivals_are_far_apart(case):
    net, balances, wl, overrides = case
    event = simulate(net, wl, load_config(None, overrides={**overrides, "engine.mode": "event"}),
                     balances=balances)
    atomic = simulate(net, wl, load_config(None, overrides={**overrides, "engine.mode": "atomic"}),
                      balances=balances)
    assert event.payments.equals(atomic.payments)
    assert np.array_equal(event.state["balance_msat"], atomic.state["balance_msat"])
    assert event.nodes.equals(atomic.nodes)


@settings(max_examples=60, deadline=None)
@given(any_scenario(st.sampled_from([True, True, False])), st.sampled_from(["event", "atomic"]),
       st.booleans(), st.sampled_from([1, 2, 64]))
def test_routes_computed_ahead_change_nothing(case, mode, remember, slots):
    """Prefetched first routes and speculated retries give the results of live searches."""
    net, balances, wl, overrides = case
    config = load_config(None, overrides={**overrides, "engine.mode": mode,
                                          "sender.remember_failures": remember})
    saved = engine.PREFETCH_WINDOW, engine.RETRY_SLOTS
    # many windows, so prefetches also see state that later payments left; few slots, so that
    # some retries find none
    engine.PREFETCH_WINDOW, engine.RETRY_SLOTS = 3, slots
    try:
        ahead = simulate(net, wl, config, balances=balances)
    finally:
        engine.PREFETCH_WINDOW, engine.RETRY_SLOTS = saved
    live = simulate(net, wl, config, balances=balances, prefetch_routes=False)
    assert live.timings["prefetched_routes_used"] == 0 and live.timings["speculated_retries"] == 0
    assert ahead.payments.equals(live.payments) and ahead.htlcs.equals(live.htlcs)
    assert ahead.jit_events.equals(live.jit_events)


@settings(max_examples=20, deadline=None)
@given(any_scenario())
def test_same_seed_same_result(case):
    net, balances, wl, overrides = case
    config = load_config(None, overrides=overrides)
    a = simulate(net, wl, config, balances=balances)
    b = simulate(net, wl, config, balances=balances)
    assert a.payments.equals(b.payments) and a.htlcs.equals(b.htlcs)
    assert a.jit_events.equals(b.jit_events)
