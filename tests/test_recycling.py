"""Recycling HTLC, route and failure-record rows (fastsim.recycling): results unchanged, checks
kept, memory flat."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastsim import recycling
from fastsim.config import load_config
from fastsim.engine import InvariantViolation, simulate
from fastsim.invariants import violations
from fastsim.scenario import prepare
from tests.test_engine_properties import any_scenario

TABLES = ("payments", "nodes", "channels", "jit_events", "summary", "timeline")
STRATEGIES = {
    "single-part": {},
    "conditional+mpp": {"jit.variant": "conditional", "jit.adoption": 1.0, "jit.budget": "none",
                        "mpp.enabled": True},
    "rebalance": {"jit.variant": "rebalance", "jit.adoption": 0.5, "jit.budget": "none"},
    "multi+source": {"jit.variant": "multi", "jit.adoption": 1.0, "jit.budget": "none",
                     "jit.source": True, "sender.overpay_ppm": 500},
    # failures forgotten within the run: their records are dropped as it goes
    "short-memory": {"sender.penalty_half_life_s": 0.5, "sender.cost_model": "lnd"},
    "no-memory+mpp": {"sender.remember_failures": False, "mpp.enabled": True},
}


def _same_results(kept, recycled):
    for name in TABLES:
        assert getattr(kept, name).equals(getattr(recycled, name)), name


@pytest.mark.parametrize("mode", ["event", "atomic"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_recycling_changes_no_result(strategy, mode):
    cfg = load_config(None, overrides={"network.synthetic_nodes": 120, "workload.n_payments": 600,
                                       "seed": 3, "engine.mode": mode, **STRATEGIES[strategy]})
    sc = prepare(cfg)
    kept = simulate(sc.network, sc.workload, cfg, balances=sc.balances)
    recycled = simulate(sc.network, sc.workload, cfg, balances=sc.balances, record_htlcs=False,
                        table_rows=64)
    _same_results(kept, recycled)
    assert recycled.htlcs.height == 0
    left = recycled.state["htlcs"]["payment"].shape[0]
    assert recycled.timings["htlc_rows_recycled"] + left == kept.htlcs.height
    assert recycled.timings["htlc_rows_recycled"] > kept.htlcs.height // 2


@settings(max_examples=60, deadline=None)
@given(any_scenario(), st.sampled_from(["event", "atomic"]), st.sampled_from([1, 8, 64]),
       st.sampled_from([0.05, 1.0, 3600.0]), st.booleans())
def test_recycling_changes_nothing_on_random_networks(case, mode, rows, half_life, remember):
    net, balances, wl, overrides = case
    config = load_config(None, overrides={**overrides, "engine.mode": mode,
                                          "sender.penalty_half_life_s": half_life,
                                          "sender.remember_failures": remember})
    kept = simulate(net, wl, config, balances=balances)
    recycled = simulate(net, wl, config, balances=balances, record_htlcs=False, table_rows=rows,
                        debug_invariants=True)
    _same_results(kept, recycled)
    assert violations(recycled, net) == []


def test_a_corruption_in_recycled_rows_is_reported(monkeypatch):
    """The checks of the finished run also run on every group before its rows are dropped: a fee
    corrupted in rows about to be recycled fails the run."""
    checks = recycling.invariants.htlc_violations

    def corrupted(h, st, network, payments):
        forwards = np.flatnonzero((h["state"] == 1) & (h["funds"] >= 0))
        if forwards.size:
            h["amount_msat"][h["funds"][forwards[0]]] += 1
        return checks(h, st, network, payments)

    monkeypatch.setattr(recycling.invariants, "htlc_violations", corrupted)
    cfg = load_config(None, overrides={"network.synthetic_nodes": 120, "workload.n_payments": 300})
    sc = prepare(cfg)
    with pytest.raises(InvariantViolation, match="a fee other than BOLT"):
        simulate(sc.network, sc.workload, cfg, balances=sc.balances, record_htlcs=False,
                 table_rows=64)


def test_a_live_row_linked_to_a_dropped_one_is_refused():
    """Renumbering refuses a reference that would point at a dropped row (an engine bug)."""
    new_id = np.array([0, -1, 1])
    refs = np.array([2, -1, 0])
    recycling._renumber(refs, new_id, where="x", must_live=True)
    assert refs.tolist() == [1, -1, 0]
    with pytest.raises(recycling.RecyclingError, match="x still names"):
        recycling._renumber(np.array([1]), new_id, where="x", must_live=True)


def test_a_long_run_keeps_its_tables():
    """Twice as many payments (twice as long a run) need no larger HTLC, attempt or failure-record
    table, when failures are forgotten within the run."""
    tables = []
    for n in (4_000, 8_000):
        cfg = load_config(None, overrides={"network.synthetic_nodes": 300, "workload.n_payments": n,
                                           "sender.penalty_half_life_s": 2.0})
        sc = prepare(cfg)
        res = simulate(sc.network, sc.workload, cfg, balances=sc.balances, record_htlcs=False,
                       table_rows=512)
        assert res.timings["htlc_rows_recycled"] > 2 * n
        assert res.payments["attempts"].sum() > 2 * 1024  # more than the attempt table holds
        tables.append((res.timings["htlc_table_rows"], res.timings["attempt_table_rows"],
                       res.timings["failure_record_rows"]))
    assert tables[1] == tables[0] and tables[0][0] <= 4096 and tables[0][1] <= 1024
