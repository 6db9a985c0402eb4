"""Source JIT (local payment splitting) and fee overpayment, on hand-built graphs with exact msat.

Every graph has capacity 10^9 msat per channel and a 1% reserve; fees are 1000 msat + 100 ppm
unless a case says otherwise; hops take 100 ms."""

import numpy as np
import polars as pl
import pytest

from fastsim.config import load_config
from fastsim.engine import simulate
from fastsim.invariants import violations
from fastsim.network import Network
from tests.jitcases import Ch, Graph, simulate_scenario

CAP = 10**9
RESERVE = CAP // 100


def fee(amount, base=1000, ppm=100):
    return base + amount * ppm // 1_000_000


def network(n, edges, base=None):
    m = len(edges)
    return Network(pubkey=[f"n{i}" for i in range(n)], scid=[f"c{i}" for i in range(m)],
                   node0=[a for a, _ in edges], node1=[b for _, b in edges], capacity_msat=[CAP] * m,
                   fee_base_msat=base or [1000] * 2 * m, fee_rate_ppm=[100] * 2 * m,
                   cltv_delta=[40] * 2 * m, htlc_min_msat=[1] * 2 * m, htlc_max_msat=[CAP] * 2 * m,
                   enabled=[True] * 2 * m)


def pay(net, balances, src, dst, amount, *, mode="event", prefetch=True, adopters=None, **overrides):
    wl = pl.DataFrame({"id": [0], "t_arrival_s": [0.0], "src": np.array([src], np.int32),
                       "dst": np.array([dst], np.int32), "amount_msat": np.array([amount], np.int64)})
    config = load_config(None, overrides={"engine.latency_jitter_ms": 0.0, "jit.adoption": 1.0,
                                          "engine.mode": mode, **overrides})
    mask = None if adopters is None else np.isin(np.arange(net.n_nodes), adopters)
    res = simulate(net, wl, config, balances=np.array(balances, np.int64), debug_invariants=True,
                   prefetch_routes=prefetch, adopters=mask)
    assert violations(res, net) == []
    return res


# S=0 holds 60M spendable on each of S-M1 and S-M2; only M1 reaches R=3; M2-M1 joins them
SPLIT = network(4, [(0, 1), (0, 2), (2, 1), (1, 3)])
SPLIT_BALANCES = [RESERVE + 60_000_000, CAP - RESERVE - 60_000_000] * 2 + [CAP // 2] * 4
X = 100_000_000


@pytest.mark.parametrize("variant", ["conditional", "multi"])
@pytest.mark.parametrize("mode", ["event", "atomic"])
@pytest.mark.parametrize("prefetch", [True, False])
def test_source_jit_pays_single_part_what_needed_a_split(variant, mode, prefetch):
    """Neither of S's channels holds the 100k sat; together they do. Without source JIT there is
    no route. With it, S routes over S -> M1 -> R, funds S -> M1 with a conditional circle
    S -> M2 -> M1 -> S of the shortfall and offers the netted first HTLC."""
    plain = pay(SPLIT, SPLIT_BALANCES, 0, 3, X, mode=mode, **{"jit.variant": variant})
    assert plain.payments["failure_reason"][0] == "no_route"
    res = pay(SPLIT, SPLIT_BALANCES, 0, 3, X, mode=mode, prefetch=prefetch,
              **{"jit.variant": variant, "jit.source": True})
    p = res.payments.row(0, named=True)
    x0 = X + fee(X)  # S -> M1 carries M1's fee on M1 -> R
    y = x0 - 60_000_000  # the shortfall on S -> M1
    last = y + fee(y)  # M2 -> M1, paying M1's fee on M1 -> S
    first = last + fee(last)  # S -> M2, paying M2's fee
    assert p["succeeded"] and p["attempts"] == 1 and p["source_jit"] and p["jit_rescued"]
    assert p["fee_msat"] == x0 - X + first - y  # the route's fees and its own circle's
    # circle out 0.1, 0.2, 0.3 reaches S; S nets and offers 60M; R at 0.5; fulfils back by 0.7
    assert p["completion_s"] == pytest.approx(0.7)
    assert res.state["balance_msat"].tolist() == [
        RESERVE, CAP - RESERVE,  # S -> M1 carried x0 - y = all S had there
        RESERVE + 60_000_000 - first, CAP - RESERVE - 60_000_000 + first,
        CAP // 2 - last, CAP // 2 + last,
        CAP // 2 - X, CAP // 2 + X]
    j = res.jit_events.row(0, named=True)
    assert (j["node"], j["source"], j["outcome"], j["shortfall_msat"], j["amount_msat"],
            j["circle_hops"], j["cost_msat"]) == (0, True, "rebalanced", y, y, 3, first - y)
    assert j["budget_msat"] == X // 200 - (x0 - X)  # the fee budget less the route's fees
    nodes = res.nodes
    assert nodes["rebalance_fees_msat"].to_list() == [first - y, 0, 0, 0]
    assert nodes["fees_earned_msat"].to_list() == [0, fee(X) + fee(y), first - last, 0]
    states = res.htlcs.group_by("state").len().sort("state")
    assert dict(states.rows()) == {"settled": 4, "netted": 1}


def test_source_jit_that_finds_no_circle_fails_the_attempt_and_teaches_the_sender():
    """Without the M2 -> M1 channel S cannot consolidate: its decision finds no circle, the attempt
    fails before any HTLC, S records that S -> M1 could not be funded for this payment, and its
    next search finds no route: the payment fails for liquidity, nothing moved."""
    net = network(4, [(0, 1), (0, 2), (1, 3)])
    balances = SPLIT_BALANCES[:4] + [CAP // 2] * 2
    res = pay(net, balances, 0, 3, X, **{"jit.variant": "conditional", "jit.source": True})
    p = res.payments.row(0, named=True)
    assert (p["succeeded"], p["failure_reason"], p["attempts"], p["source_jit"]) == (
        False, "liquidity", 1, True)
    assert res.jit_events["outcome"].to_list() == ["no_circle"]
    assert res.htlcs.height == 0 and res.state["balance_msat"].tolist() == balances


# S=0 -> A=1 -> B=2 -> R=3
LINE = network(4, [(0, 1), (1, 2), (2, 3)])


@pytest.mark.parametrize("ppm, extra", [(1000, 10_000), (3000, 22_999)])
def test_overpayment_per_hop_within_the_fee_budget(ppm, extra):
    """Each forwarding node gets ppm of the amount on top of its BOLT #7 fee (10,000 msat at 1000
    ppm of 10M). At 3000 ppm, 30,000 each would take the fee past the budget (0.5% of 10M, 50,000
    msat): the extra is scaled down to the most that fits, 22,999, for a fee of exactly 50,000."""
    amount = 10_000_000
    res = pay(LINE, [CAP // 2] * 6, 0, 3, amount, **{"sender.overpay_ppm": ppm})
    hop2 = amount
    hop1 = hop2 + fee(hop2) + extra
    hop0 = hop1 + fee(hop1) + extra
    p = res.payments.row(0, named=True)
    assert p["succeeded"] and p["fee_msat"] == hop0 - amount
    assert res.htlcs.sort("hop")["amount_msat"].to_list() == [hop0, hop1, hop2]
    assert res.nodes["fees_earned_msat"].to_list() == [0, hop0 - hop1, hop1 - hop2, 0]
    assert p["fee_msat"] <= 50_000
    if ppm == 3000:
        assert p["fee_msat"] == 50_000


# the diamond: S=0 -> N=1 -> M=2 (receiver), N -> A=3 -> M; N short 30% on N -> M; A's fee on
# A -> M is 8,000 msat + 100 ppm, so the circle costs more than N's fee of 11,000 msat
DIAMOND = network(4, [(0, 1), (1, 2), (1, 3), (3, 2)],
                  base=[1000, 1000, 1000, 1000, 1000, 1000, 8000, 1000])
DIAMOND_BALANCES = [CAP // 2, CAP // 2, 80_000_000, CAP - 80_000_000, CAP // 2, CAP // 2,
                    60_000_000, CAP - 60_000_000]


@pytest.mark.parametrize("ppm, outcome", [(0, "refused_budget"), (100, "rebalanced")])
def test_overpayment_makes_a_rebalance_affordable(ppm, outcome):
    """N's fee budget is what it earns on the forward, the sender's overpayment included: the
    circle (M's 4,000 msat on M -> N, A's 11,000 on A -> M) costs more than N's fee of 11,000 and
    less than that plus the 10,000 msat that 100 ppm of overpayment adds. Only N runs JIT."""
    res = pay(DIAMOND, DIAMOND_BALANCES, 0, 2, X, adopters=[1], **{"jit.variant": "conditional",
                                                                  "sender.overpay_ppm": ppm})
    j = res.jit_events.row(0, named=True)
    y = 30_000_000
    circle = fee(y) + fee(y + fee(y), base=8000)  # M -> N, then A -> M
    extra = X * ppm // 1_000_000
    assert j["budget_msat"] == fee(X) + extra and j["outcome"] == outcome
    assert (circle > fee(X)) and (circle <= fee(X) + X * 100 // 1_000_000)
    assert res.payments["succeeded"][0] == (outcome == "rebalanced")


# --- found in review: what a node downstream of a netting earns, and a sender's own circles ---


def test_a_node_after_a_netting_budgets_on_what_it_earns():
    """N nets its circle with its offer to M, so the HTLC that reaches M carries x - y: M, short
    towards R, must budget on its fee on the forward (the offer it replaced included), not on
    x - y less x (a negative budget refused M's rebalance)."""
    def diamond_then_r(n_short):
        return Graph("SNMARB", (
            Ch("S", "N", CAP // 2),
            Ch("N", "M", RESERVE + (70_000_000 if n_short else 200_000_000)),
            Ch("N", "A", CAP // 2), Ch("A", "M", RESERVE + 50_000_000),
            Ch("M", "R", RESERVE + 70_000_000),  # M is 30M short towards R
            Ch("M", "B", CAP // 2), Ch("B", "R", CAP // 2)))
    config = {"jit.variant": "conditional", "jit.adoption": 1.0, "sender.max_attempts": 1}
    budgets = {}
    for n_short in (False, True):
        res = simulate_scenario(diamond_then_r(n_short), [(0.0, "S", "R", X)], config, "event",
                                adopters="NM")
        rows = {r["node"]: r for r in res.jit_events.iter_rows(named=True)}
        budgets[n_short] = rows[2]["budget_msat"]  # M's
        assert res.payments["succeeded"][0] and rows[2]["outcome"] == "rebalanced"
    assert budgets[True] == budgets[False] == fee(X)


@pytest.mark.parametrize("variant, circles", [("conditional", 1), ("multi", 2)])
def test_a_sender_counts_on_what_its_circles_can_bring(variant, circles):
    """S holds 30M, 30M and 50M on its three channels: 100M fits no single one. Under conditional
    S can send one circle, from its fullest other channel: nothing lets it reach 100M, so it finds
    no route at all (it counted on no more than one circle could bring); under multi two circles
    fill C's channel and the payment goes single-part."""
    g = Graph("SABCR", (Ch("S", "A", RESERVE + 30_000_000), Ch("S", "B", RESERVE + 30_000_000),
                        Ch("S", "C", RESERVE + 50_000_000), Ch("A", "R", CAP // 2),
                        Ch("B", "R", CAP // 2), Ch("C", "R", CAP // 2)))
    config = {"jit.variant": variant, "jit.adoption": 1.0, "jit.source": True,
              "jit.budget": "none", "sender.max_attempts": 3}
    res = simulate_scenario(g, [(0.0, "S", "R", X)], config, "event", adopters="S")
    p = res.payments.row(0, named=True)
    if variant == "conditional":
        assert (p["succeeded"], p["failure_reason"], p["attempts"]) == (False, "no_route", 0)
        assert res.jit_events.height == 0
    else:
        assert p["succeeded"] and p["source_jit"] and p["attempts"] == 1
        assert res.jit_events["circles"].to_list() == [circles]
