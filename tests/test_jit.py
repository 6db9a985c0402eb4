"""JIT-routing, variant ``rebalance`` (issue 18), against outcomes derived by hand.

Each scenario is a tiny graph, a workload and a config; its expected outcome is derived from the
documented model (DESIGN.md 2.2, 2.3, 2.5, 2.8; README "What a run writes"; the docstrings of
``fastsim.kernels.jit``, ``attempts`` and ``events``), never copied from a run:

* every hop takes ``L`` = 100 ms (no jitter): an HTLC offered at t arrives at t + L; the receiver's
  fulfil settles the last HTLC one L later and each earlier HTLC one L after the next; a failure
  resolves the failing node's incoming HTLC one L after it failed and travels back the same way;
* fees are BOLT #7 (``base + amount * ppm // 10**6`` of the direction forwarded over) and a
  node can add ``amount`` on a direction only if its balance stays at or above the 1% reserve;
* a forwarding node N short on ``N -> M`` by ``s = x - (balance - reserve)`` that runs JIT sends a
  circle ``N -> ... -> M -> N`` (its own payment, numbered after the workload's payments) and
  forwards when the circle's first HTLC settles back at N.

Node names: S sender, N the JIT node, M the next node (and receiver), A and B the nodes circles
go through, R a receiver behind M. Expected balances are listed as the settled HTLCs (every
settled HTLC moves its amount to the other side); fees per node are written from the policies.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl
import pytest

from fastsim.kernels.routing import UNLIMITED
from tests.jitcases import (
    CAP,
    DIAMOND,
    RESERVE,
    Ch,
    Graph,
    L,
    X,
    circle,
    cost,
    paid,
    per_node,
    route,
    assert_same_results,
    simulate_scenario,
)

# the graph builder, its diamond and the runner are shared: see tests/jitcases.py

# --- scenarios as data --------------------------------------------------------------------------

@dataclass
class Expect:
    """What a run must give. ``payments``: per workload payment (succeeded, failure_reason,
    attempts, fee_msat, t_start_s, t_done_s, jit_events, jit_rescued); ``jit``: per decision,
    every column of jit_events.parquet; node columns: only the non-zero ones."""
    settled: list[tuple]
    payments: list[dict]
    jit: list[dict] = field(default_factory=list)
    earned: dict[str, int] = field(default_factory=dict)
    paid: dict[str, int] = field(default_factory=dict)
    rebalance_fees: dict[str, int] = field(default_factory=dict)


@dataclass
class Case:
    id: str
    shows: str  # what it shows, in one sentence
    graph: Graph
    payments: list[tuple]  # (t_arrival_s, src, dst, amount_msat)
    expect: Expect
    atomic: Expect | None = None  # when atomic mode differs (the payments overlap in time)
    adopters: str = "N"
    config: dict = field(default_factory=dict)
    unresponsive: str = ""


def decision(g, *, t, node, payment, attempt, depth, short_on, shortfall, amount, budget,
             outcome, t_done, circle, circles_tried=0, circle_hops=0, cost_msat=0,
             forwarded=False, needed=False, lockup=False, payment_settled=False) -> dict:
    """A row of jit_events.parquet: one circle of ``amount`` when ``circle`` is one."""
    return dict(t_s=t, node=g.node(node), payment=payment, attempt=attempt, depth=depth,
                direction=g.d(*short_on), shortfall_msat=shortfall, amount_msat=amount,
                variant="rebalance", budget_msat=budget, circles=int(circle >= 0),
                circle_amounts_msat=[amount] if circle >= 0 else [], circles_tried=circles_tried,
                circle_hops=circle_hops, cost_msat=cost_msat, outcome=outcome, forwarded=forwarded,
                needed=needed, source=False, lockup=lockup, payment_settled=payment_settled,
                circle=circle, t_done_s=t_done)


JIT = {"jit.variant": "rebalance"}


def diamond_cases() -> list[Case]:
    g = DIAMOND
    s = X - (g.balance("N", "M") - RESERVE)  # 30M: N -> M lacks 30% of X
    assert s == 30_000_000
    y = s  # jit.amount = "exact"
    # the circle, hop by hop: M delivers y to N; A forwards y plus M's fee; N pays A's fee too
    m_fee = g.fee("M", "N", y)  # 500 + 600
    a_fee = g.fee("A", "M", y + m_fee)  # 700 + 3900
    circ = [("rebalance", "N", "A", y + m_fee + a_fee), ("rebalance", "A", "M", y + m_fee),
            ("rebalance", "M", "N", y)]
    assert circ == circle(g, "NAMN", y) and cost(circ) == 5_700
    n_fee = g.fee("N", "M", X)  # 1000 + 15_000: N's fee on the forward, its budget at factor 1
    pay = [("payment", "S", "N", X + n_fee), ("payment", "N", "M", X)]
    assert pay == route(g, "SNM", X)

    # without JIT: S -> N -> M fails at N (back at 2L), S -> N -> A -> M fails at A (back at
    # 6L), then S knows no route
    fails = Expect(settled=[], payments=[paid(False, attempts=2, reason="liquidity", t_done=6 * L)])
    # with JIT: N decides at L; the circle's adds reach N at 4L, its fulfils settle M -> N at 5L,
    # A -> M at 6L, N -> A at 7L; N forwards at 7L, the payment settles at S at 10L
    rescued = Expect(
        settled=pay + circ,
        payments=[paid(True, attempts=1, hops=2, fee=n_fee, t_done=10 * L, jit=1, rescued=True)],
        jit=[decision(g, t=L, node="N", payment=0, attempt=0, depth=0, short_on="NM", shortfall=s,
                      amount=y, budget=n_fee, outcome="rebalanced", t_done=7 * L, circle=1,
                      circles_tried=1, circle_hops=3, cost_msat=m_fee + a_fee, forwarded=True,
                      needed=True, payment_settled=True)],
        earned={"N": n_fee, "A": a_fee, "M": m_fee}, paid={"S": n_fee},
        rebalance_fees={"N": m_fee + a_fee})
    # N also pays A 460M at 1.5L, a route computed ahead at the start (N -> A could carry it then);
    # N's circle has locked 30_005_700 of N -> A since L, so N can no longer reach A at all
    z = 460_000_000
    assert g.balance("N", "A") - RESERVE >= z > g.balance("N", "A") - RESERVE - circ[0][3]
    meanwhile = replace(rescued, payments=rescued.payments + [
        paid(False, attempts=0, reason="no_route", t_start=1.5 * L, t_done=1.5 * L)],
        jit=[{**rescued.jit[0], "circle": 2}])
    cases = [
        Case("no-jit", "Without JIT the diamond's payment fails: N -> M and A -> M are both short "
             "of X.", g, [(0.0, "S", "M", X)], fails, config={}),
        Case("not-adopter", "With variant rebalance but N not adopting, nothing changes.",
             g, [(0.0, "S", "M", X)], fails, adopters="", config=JIT),
        Case("rescued", "N holds the HTLC, sends a 30M circle N -> A -> M -> N within its fee, and "
             "forwards: every balance and fee exact.", g, [(0.0, "S", "M", X)], rescued,
             config=JIT),
        Case("n-pays-meanwhile", "A circle's lock changes N's own balances: N's own payment, "
             "routed ahead of time, is searched again and finds no route.", g,
             [(0.0, "S", "M", X), (1.5 * L, "N", "A", z)], meanwhile,
             atomic=replace(meanwhile, payments=meanwhile.payments[:1] + [
                 paid(False, attempts=0, reason="no_route", t_start=10 * L, t_done=10 * L)]),
             config=JIT),
    ]

    # the same payment to R behind M, whose channel M -> R cannot carry it: the rebalance happens,
    # the payment then fails at M
    gr = Graph("SNMAR", g.channels + (Ch("M", "R", RESERVE + 50_000_000, ab=(400, 60)),))
    x_nm = X + gr.fee("M", "R", X)  # what N must forward to M
    s_r = x_nm - (gr.balance("N", "M") - RESERVE)
    circ_r = circle(gr, "NAMN", s_r)
    # N forwards at 7L, M fails it at 8L: N -> M fails back at 9L, S -> N at 10L
    cases.append(Case(
        "downstream-failure", "The payment fails at M after N's rebalance: N has paid the circle "
        "and the liquidity stays moved to N -> M.", gr, [(0.0, "S", "R", X)],
        Expect(settled=circ_r,
               payments=[paid(False, attempts=1, reason="liquidity", t_done=10 * L, jit=1)],
               jit=[decision(gr, t=L, node="N", payment=0, attempt=0, depth=0, short_on="NM",
                             shortfall=s_r, amount=s_r, budget=gr.fee("N", "M", x_nm),
                             outcome="rebalanced", t_done=7 * L, circle=1, circles_tried=1,
                             circle_hops=3, cost_msat=cost(circ_r), forwarded=True, needed=True)],
               earned={"A": circ_r[0][3] - circ_r[1][3], "M": circ_r[1][3] - circ_r[2][3]},
               rebalance_fees={"N": cost(circ_r)}),
        config={**JIT, "sender.max_attempts": 1}))

    # N's only other channel cannot fund a circle's first hop
    gn = g.with_channel("N", "A", bal_a=RESERVE + 1_000_000)
    cases.append(Case(
        "no-circle", "N finds no circle (its other channel cannot fund the first hop): it fails "
        "the HTLC at once, outcome no_circle.", gn, [(0.0, "S", "M", X)],
        Expect(settled=[],
               payments=[paid(False, attempts=1, reason="liquidity", t_done=2 * L, jit=1)],
               jit=[decision(gn, t=L, node="N", payment=0, attempt=0, depth=0, short_on="NM",
                             shortfall=s, amount=s, budget=n_fee, outcome="no_circle", t_done=L,
                             circle=1)]),
        config={**JIT, "sender.max_attempts": 1}))

    # jit.max_circle_hops 2 leaves N a search from N to M of one hop, and N -> M itself is the
    # short channel: no circle (the 3-hop circle of the rescued case is too long)
    cases.append(Case(
        "max-circle-hops-2", "jit.max_circle_hops counts the fixed last hop: at 2 the diamond has "
        "no circle.", g, [(0.0, "S", "M", X)],
        Expect(settled=[],
               payments=[paid(False, attempts=1, reason="liquidity", t_done=2 * L, jit=1)],
               jit=[decision(g, t=L, node="N", payment=0, attempt=0, depth=0, short_on="NM",
                             shortfall=s, amount=s, budget=n_fee, outcome="no_circle", t_done=L,
                             circle=1)]),
        config={**JIT, "jit.max_circle_hops": 2, "sender.max_attempts": 1}))

    # jit.timeout_s = 0.25: N gives up at 3.5L, before the circle reaches N (4L). S -> N fails back
    # at 4.5L; S retries over A at 4.5L: N (5.5L) -> A (6.5L), where A -> M now holds 50M - the
    # circle's 30M; the failure is back at 8.5L and S knows no other route. The circle settles all
    # the same (7L): N pays for it and the liquidity stays moved.
    cases.append(Case(
        "timeout", "A hold shorter than the circle: outcome timeout, the payment fails, and the "
        "circle still settles later with N paying for it.", g, [(0.0, "S", "M", X)],
        Expect(settled=circ,
               payments=[paid(False, attempts=2, reason="liquidity", t_done=8.5 * L, jit=1)],
               jit=[decision(g, t=L, node="N", payment=0, attempt=0, depth=0, short_on="NM",
                             shortfall=s, amount=y, budget=n_fee, outcome="timeout",
                             t_done=3.5 * L, circle=1, circles_tried=1, circle_hops=3,
                             cost_msat=cost(circ))],
               earned={"A": a_fee, "M": m_fee}, rebalance_fees={"N": cost(circ)}),
        config={**JIT, "jit.timeout_s": 0.25}))

    # A second payment of 50M from S at 4.5L reaches N at 5.5L: the circle's last hop has settled
    # into N -> M at 5L, N can spend 100M there and forwards it. At 7L N learns its circle settled
    # but can spend only 50M: it fails the held HTLC (back at S at 8L); S retries over A, which
    # fails at A (10L, back at 12L).
    x2 = 50_000_000
    fee2 = g.fee("N", "M", x2)
    pay2 = route(g, "SNM", x2)
    circ2 = circle(g, "NAMN", x2)  # atomic mode: the second payment finds N -> M at its reserve
    cases.append(Case(
        "concurrent-forward", "A concurrent forward takes the rebalanced liquidity before N learns "
        "its circle settled: rebalanced, not forwarded, the payment fails at N.", g,
        [(0.0, "S", "M", X), (4.5 * L, "S", "M", x2)],
        Expect(settled=pay2 + circ,
               payments=[paid(False, attempts=2, reason="liquidity", t_done=12 * L, jit=1),
                         paid(True, attempts=1, hops=2, fee=fee2, t_start=4.5 * L, t_done=8.5 * L)],
               jit=[decision(g, t=L, node="N", payment=0, attempt=0, depth=0, short_on="NM",
                             shortfall=s, amount=y, budget=n_fee, outcome="rebalanced",
                             t_done=7 * L, circle=2, circles_tried=1, circle_hops=3,
                             cost_msat=cost(circ), forwarded=False, needed=True)],
               earned={"N": fee2, "A": a_fee, "M": m_fee}, paid={"S": fee2},
               rebalance_fees={"N": cost(circ)}),
        # one payment at a time: the first is rescued and ends at 10L; the second starts then,
        # finds N -> M at its reserve, and N refuses a circle costing more than its fee (the 50M
        # circle costs 500 + 1000 + 700 + 6500 > 1000 + 7500); S's retry over A fails at A
        # (A -> M holds 20M above its reserve), back at 16L
        atomic=Expect(
            settled=pay + circ,
            payments=[paid(True, attempts=1, hops=2, fee=n_fee, t_done=10 * L, jit=1, rescued=True),
                      paid(False, attempts=2, reason="liquidity", t_start=10 * L, t_done=16 * L,
                           jit=1)],
            jit=[decision(g, t=L, node="N", payment=0, attempt=0, depth=0, short_on="NM",
                          shortfall=s, amount=y, budget=n_fee, outcome="rebalanced", t_done=7 * L,
                          circle=2, circles_tried=1, circle_hops=3, cost_msat=cost(circ),
                          forwarded=True, needed=True, payment_settled=True),
                 decision(g, t=11 * L, node="N", payment=1, attempt=2, depth=0, short_on="NM",
                          shortfall=x2, amount=x2, budget=fee2, outcome="refused_budget",
                          t_done=11 * L, circle=3)],
            earned={"N": n_fee, "A": a_fee, "M": m_fee}, paid={"S": n_fee},
            rebalance_fees={"N": cost(circ)}),
        config=JIT))
    assert cost(circ2) > fee2
    return cases


def budget_cases() -> list[Case]:
    """A -> M charges 700 + 500 ppm: the 30M circle costs 500 + 600 + 700 + 15_000 = 16_800, just
    above N's fee of 16_000 on the forward."""
    g = DIAMOND.with_channel("A", "M", ab=(700, 500))
    s = y = 30_000_000
    circ = circle(g, "NAMN", y)
    n_fee = g.fee("N", "M", X)
    assert cost(circ) == 16_800 and n_fee == 16_000

    def refused(budget):
        # refused at L, back at S at 2L; the retry over A fails at A (back at 6L)
        return Expect(settled=[],
                      payments=[paid(False, attempts=2, reason="liquidity", t_done=6 * L, jit=1)],
                      jit=[decision(g, t=L, node="N", payment=0, attempt=0, depth=0, short_on="NM",
                                    shortfall=s, amount=y, budget=budget, t_done=L, circle=1,
                                    outcome="refused_budget")])

    def rebalanced(budget, graph=g, circ=circ):
        return Expect(
            settled=route(graph, "SNM", X) + circ,
            payments=[paid(True, attempts=1, hops=2, fee=n_fee, t_done=10 * L, jit=1,
                           rescued=True)],
            jit=[decision(graph, t=L, node="N", payment=0, attempt=0, depth=0, short_on="NM",
                          shortfall=s, amount=y, budget=budget, outcome="rebalanced", t_done=7 * L,
                          circle=1, circles_tried=1, circle_hops=3, cost_msat=cost(circ),
                          forwarded=True, needed=True, payment_settled=True)],
            earned={"N": n_fee, "A": circ[0][3] - circ[1][3], "M": circ[1][3] - circ[2][3]},
            paid={"S": n_fee}, rebalance_fees={"N": cost(circ)})

    one = [(0.0, "S", "M", X)]
    cases = [
        Case("fee-factor-1", "budget fee x 1.0: a circle costing 16_800 for a 16_000 fee is "
             "refused.", g, one, refused(n_fee), config={**JIT, "jit.budget": "fee"}),
        Case("fee-factor-1.5", "budget fee x 1.5 = 24_000 lets the same circle through (N's net is "
             "16_000 - 16_800).", g, one, rebalanced(n_fee * 3 // 2),
             config={**JIT, "jit.budget": "fee", "jit.budget_factor": 1.5}),
        Case("earnings-fresh", "budget earnings with nothing earned yet: 10 sat (below the cap of "
             "0.5% of 30M), refused.", g, one, refused(min(10_000, max(y * 5 // 1000, 5_000))),
             config={**JIT, "jit.budget": "earnings"}),
        Case("budget-none", "budget none never refuses: the 16_800 circle goes.", g, one,
             rebalanced(UNLIMITED), config={**JIT, "jit.budget": "none"}),
    ]
    # two payments 10 ms apart, both refused at N: their failures are on their way back together,
    # so the engine computes both retries ahead at once (over A, both fail at A, back at 6L and
    # 6.1L). In atomic mode the second starts at 6L: it remembers the first's failure at A (age 0:
    # excluded), goes to N (refused at 7L), then over A (fails, back at 12L).
    twice = [(0.0, "S", "M", X), (0.1 * L, "S", "M", X)]
    d0 = refused(n_fee).jit[0]
    cases.append(Case(
        "fee-factor-1-twice", "Two budget refusals in flight together (retries computed ahead with "
        "JIT decisions on the way).", g, twice,
        Expect(settled=[], payments=[
            paid(False, attempts=2, reason="liquidity", t_done=6 * L, jit=1),
            paid(False, attempts=2, reason="liquidity", t_start=0.1 * L, t_done=6.1 * L, jit=1)],
            jit=[{**d0, "circle": 2}, {**d0, "t_s": 1.1 * L, "t_done_s": 1.1 * L, "payment": 1,
                                       "attempt": 1, "circle": 3}]),
        atomic=Expect(settled=[], payments=[
            paid(False, attempts=2, reason="liquidity", t_done=6 * L, jit=1),
            paid(False, attempts=2, reason="liquidity", t_start=6 * L, t_done=12 * L, jit=1)],
            jit=[{**d0, "circle": 2}, {**d0, "t_s": 7 * L, "t_done_s": 7 * L, "payment": 1,
                                       "attempt": 2, "circle": 3}]),
        config=JIT))
    # the budget's edge: a circle costing exactly N's fee goes, one msat more does not
    for base, ok in ((1400, True), (1401, False)):
        ge = DIAMOND.with_channel("A", "M", ab=(base, 450))
        ce = circle(ge, "NAMN", y)
        assert cost(ce) == n_fee + (0 if ok else 1)
        exp = rebalanced(n_fee, ge, ce) if ok else refused(n_fee)
        cases.append(Case(f"fee-edge-{base}", f"a circle costing {cost(ce)} against a budget of "
                          f"{n_fee}: {'rebalanced' if ok else 'refused'}.", ge, one, exp,
                          config=JIT))

    # CLBOSS's cap: a shortfall of 1.5M may cost max(0.5% of it, 5 sat) = 7_500 < 10 sat; this
    # circle costs 530 + 7_000
    gc = DIAMOND.with_channel("A", "M", ab=(7000, 0)).with_channel(
        "N", "M", bal_a=RESERVE + X - 1_500_000)
    cc = circle(gc, "NAMN", 1_500_000)
    assert cost(cc) == 7_530
    cases.append(Case(
        "earnings-cap", "budget earnings caps a rebalance at 0.5% of its amount (7_500 here): a "
        "7_530 circle is refused.", gc, one,
        Expect(settled=[],
               payments=[paid(False, attempts=1, reason="liquidity", t_done=2 * L, jit=1)],
               jit=[decision(gc, t=L, node="N", payment=0, attempt=0, depth=0, short_on="NM",
                             shortfall=1_500_000, amount=1_500_000, budget=1_500_000 * 5 // 1000,
                             outcome="refused_budget", t_done=L, circle=1)]),
        config={**JIT, "jit.budget": "earnings", "sender.max_attempts": 1}))

    # CLBOSS's earnings rule over three payments, N -> M starting with 270M spendable:
    # P0 (200M) passes without JIT and earns N 1000 + 30_000 on N -> M;
    # P1 (X) is 30M short: budget 10_000 + 31_000 // 4 = 17_750 >= 16_800, rebalanced; earns 16_000;
    # P2 (10M) finds N -> M at its reserve, 10M short: budget 10_000 + 47_000 // 4 - 16_800 = 4_950
    #   and its circle costs 700 + 700 + 5_000 = 6_400: refused (without the paid term: 21_750)
    gh = g.with_channel("N", "M", bal_a=RESERVE + 270_000_000)
    p0, x2 = 200_000_000, 10_000_000
    earned0, earned1 = gh.fee("N", "M", p0), gh.fee("N", "M", X)
    c1, c2 = circle(gh, "NAMN", y), circle(gh, "NAMN", x2)
    b1 = 10_000 + earned0 // 4
    b2 = 10_000 + (earned0 + earned1) // 4 - cost(c1)
    assert (b1, cost(c1), b2, cost(c2)) == (17_750, 16_800, 4_950, 6_400)
    cases.append(Case(
        "earnings-history", "budget earnings grows with what N earned on N -> M (a quarter of it) "
        "and shrinks by what its rebalances there cost.", gh,
        [(0.0, "S", "M", p0), (10.0, "S", "M", X), (20.0, "S", "M", x2)],
        Expect(settled=route(gh, "SNM", p0) + route(gh, "SNM", X) + c1,
               payments=[paid(True, attempts=1, hops=2, fee=earned0, t_done=4 * L),
                         paid(True, attempts=1, hops=2, fee=earned1, t_start=10.0,
                              t_done=10.0 + 10 * L, jit=1, rescued=True),
                         paid(False, attempts=1, reason="liquidity", t_start=20.0,
                              t_done=20.0 + 2 * L, jit=1)],
               jit=[decision(gh, t=10.0 + L, node="N", payment=1, attempt=1, depth=0, short_on="NM",
                             shortfall=y, amount=y, budget=b1, outcome="rebalanced",
                             t_done=10.0 + 7 * L, circle=3, circles_tried=1, circle_hops=3,
                             cost_msat=cost(c1), forwarded=True, needed=True, payment_settled=True),
                    decision(gh, t=20.0 + L, node="N", payment=2, attempt=3, depth=0, short_on="NM",
                             shortfall=x2, amount=x2, budget=b2, outcome="refused_budget",
                             t_done=20.0 + L, circle=4)],
               earned={"N": earned0 + earned1, "A": c1[0][3] - c1[1][3], "M": c1[1][3] - c1[2][3]},
               paid={"S": earned0 + earned1}, rebalance_fees={"N": cost(c1)}),
        config={**JIT, "jit.budget": "earnings", "sender.max_attempts": 1}))
    return cases


def amount_cases() -> list[Case]:
    """N -> M can spend 69_999_999, 30_000_001 short of X; A carries any circle; no fee limit."""
    g = DIAMOND.with_channel("N", "M", bal_a=RESERVE + 69_999_999).with_channel(
        "N", "A", bal_a=900_000_000).with_channel("A", "M", bal_a=900_000_000)
    bal = g.balance("N", "M")
    s = X - (bal - RESERVE)
    m_spendable = (CAP - bal) - RESERVE  # M's spendable on M -> N
    amounts = {
        "exact": s,
        "plugin": -(-5 * s // 4),  # ceil(1.25 s) = 37_500_002
        "midway": max(s, min((X + CAP) // 2 - bal, m_spendable)),  # 550M - bal = 470_000_001
    }
    assert amounts == {"exact": 30_000_001, "plugin": 37_500_002, "midway": 470_000_001}
    cases = []
    for policy, y in amounts.items():
        circ = circle(g, "NAMN", y)
        n_fee = g.fee("N", "M", X)
        cases.append(Case(
            f"amount-{policy}", f"jit.amount {policy} moves {y} msat to N -> M.", g,
            [(0.0, "S", "M", X)],
            Expect(settled=route(g, "SNM", X) + circ,
                   payments=[paid(True, attempts=1, hops=2, fee=n_fee, t_done=10 * L, jit=1,
                                  rescued=True)],
                   jit=[decision(g, t=L, node="N", payment=0, attempt=0, depth=0, short_on="NM",
                                 shortfall=s, amount=y, budget=UNLIMITED, outcome="rebalanced",
                                 t_done=7 * L, circle=1, circles_tried=1, circle_hops=3,
                                 cost_msat=cost(circ), forwarded=True, needed=True,
                                 payment_settled=True)],
                   earned={"N": n_fee, "A": circ[0][3] - circ[1][3], "M": circ[1][3] - circ[2][3]},
                   paid={"S": n_fee}, rebalance_fees={"N": cost(circ)}),
            config={**JIT, "jit.amount": policy, "jit.budget": "none"}))

    # midway is no more than M can send back: P0 (400M to the unresponsive R) keeps 400M in flight
    # on N -> M for 600 s; P1 (200M at 1 s) finds N able to spend 90M there, 110M short. Midway
    # would be (200M + 1000M) // 2 - 100M = 500M but M can send only its 490M above the reserve.
    gm = Graph("SNMAR", (Ch("S", "N", 900_000_000),) + g.channels[1:2] + (
        Ch("N", "A", 900_000_000, ab=(1000, 300)), Ch("A", "M", 900_000_000, ab=(700, 130)),
        Ch("M", "R", CAP // 2, ab=(0, 0))))
    gm = gm.with_channel("N", "M", bal_a=CAP // 2)
    z, x1 = 400_000_000, 200_000_000
    held = route(gm, "SNMR", z)
    bal_nm = gm.balance("N", "M") - held[1][3]
    s1 = x1 - (bal_nm - RESERVE)
    y1 = max(s1, min((x1 + CAP) // 2 - bal_nm, gm.balance("M", "N") - RESERVE))
    assert (s1, y1) == (110_000_000, 490_000_000)
    circ1 = circle(gm, "NAMN", y1)
    fee1 = gm.fee("N", "M", x1)
    # P0: M's HTLC to R (added at 2L) times out at 2L + 600 s and is back at S two hops later
    p0 = paid(False, attempts=1, reason="htlc_timeout", t_done=600.0 + 4 * L)
    cases.append(Case(
        "amount-midway-capped", "jit.amount midway is capped by M's spendable on M -> N (an HTLC "
        "in flight on N -> M lowers N's balance, not M's).", gm,
        [(0.0, "S", "R", z), (1.0, "S", "M", x1)],
        Expect(settled=route(gm, "SNM", x1) + circ1,
               payments=[p0, paid(True, attempts=1, hops=2, fee=fee1, t_start=1.0,
                                  t_done=1.0 + 10 * L, jit=1, rescued=True)],
               jit=[decision(gm, t=1.0 + L, node="N", payment=1, attempt=1, depth=0, short_on="NM",
                             shortfall=s1, amount=y1, budget=UNLIMITED, outcome="rebalanced",
                             t_done=1.0 + 7 * L, circle=2, circles_tried=1, circle_hops=3,
                             cost_msat=cost(circ1), forwarded=True, needed=True,
                             payment_settled=True)],
               earned={"N": fee1, "A": circ1[0][3] - circ1[1][3], "M": circ1[1][3] - circ1[2][3]},
               paid={"S": fee1}, rebalance_fees={"N": cost(circ1)}),
        # one payment at a time: P1 starts when P0 has failed, and N -> M carries it without JIT
        atomic=Expect(settled=route(gm, "SNM", x1),
                      payments=[p0, paid(True, attempts=1, hops=2, fee=fee1, t_start=600.0 + 4 * L,
                                         t_done=600.0 + 8 * L)],
                      earned={"N": fee1}, paid={"S": fee1}),
        unresponsive="R",
        config={**JIT, "jit.amount": "midway", "jit.budget": "none", "sender.max_attempts": 1}))
    return cases


def one_per_channel_cases() -> list[Case]:
    """N -> M can spend 1M. P1 (X at 0) is 99M short, P2 (10M at 0.5L) 9M short, both at N while
    P1's circle is in flight. jit.amount plugin: each circle moves 1.25 x its shortfall."""
    g = DIAMOND.with_channel("N", "M", bal_a=RESERVE + 1_000_000).with_channel(
        "A", "M", bal_a=CAP // 2)
    x2 = 10_000_000
    s1, s2 = X - 1_000_000, x2 - 1_000_000
    y1, y2 = -(-5 * s1 // 4), -(-5 * s2 // 4)
    c1, c2 = circle(g, "NAMN", y1), circle(g, "NAMN", y2)
    f1, f2 = g.fee("N", "M", X), g.fee("N", "M", x2)
    rows = [(0.0, "S", "M", X), (0.5 * L, "S", "M", x2)]
    d1 = dict(t=L, node="N", payment=0, attempt=0, depth=0, short_on="NM", shortfall=s1, amount=y1,
              budget=UNLIMITED, outcome="rebalanced", t_done=7 * L, circle=2, circles_tried=1,
              circle_hops=3, cost_msat=cost(c1), forwarded=True, needed=True, payment_settled=True)
    p1 = paid(True, attempts=1, hops=2, fee=f1, t_done=10 * L, jit=1, rescued=True)
    cfg = {**JIT, "jit.amount": "plugin", "jit.budget": "none", "sender.max_attempts": 1}
    # one at a time, P2 starts at 10L and finds N -> M able to spend 0.25 s1 = 24.75M: no JIT
    atomic = Expect(settled=route(g, "SNM", X) + c1 + route(g, "SNM", x2),
                    payments=[p1, paid(True, attempts=1, hops=2, fee=f2, t_start=10 * L,
                                       t_done=14 * L)],
                    jit=[decision(g, **d1)],
                    earned={"N": f1 + f2, "A": cost(c1) - g.fee("M", "N", y1),
                            "M": g.fee("M", "N", y1)},
                    paid={"S": f1 + f2}, rebalance_fees={"N": cost(c1)})
    return [
        Case("one-per-channel", "jit.one_per_channel: P2's shortfall while P1's rebalance is in "
             "flight on N -> M is busy, and P2 fails.", g, rows,
             Expect(settled=route(g, "SNM", X) + c1,
                    payments=[p1, paid(False, attempts=1, reason="liquidity", t_start=0.5 * L,
                                       t_done=2.5 * L, jit=1)],
                    jit=[decision(g, **d1),
                         decision(g, t=1.5 * L, node="N", payment=1, attempt=1, depth=0,
                                  short_on="NM", shortfall=s2, amount=0, budget=0, outcome="busy",
                                  t_done=1.5 * L, circle=-1)],
                    earned={"N": f1, "A": cost(c1) - g.fee("M", "N", y1), "M": g.fee("M", "N", y1)},
                    paid={"S": f1}, rebalance_fees={"N": cost(c1)}),
             atomic=atomic, config={**cfg, "jit.one_per_channel": True}),
        # both circles go; P1's settles first (7L) and leaves 0.25 s1 over, so P2's circle (back
        # at 7.5L) was not needed: the overspend is recorded
        Case("many-per-channel", "Without one_per_channel both shortfalls rebalance; P1's circle "
             "alone would have covered P2 (needed false).", g, rows,
             Expect(settled=route(g, "SNM", X) + c1 + route(g, "SNM", x2) + c2,
                    payments=[p1, paid(True, attempts=1, hops=2, fee=f2, t_start=0.5 * L,
                                       t_done=10.5 * L, jit=1, rescued=True)],
                    jit=[decision(g, **d1),
                         decision(g, t=1.5 * L, node="N", payment=1, attempt=1, depth=0,
                                  short_on="NM", shortfall=s2, amount=y2, budget=UNLIMITED,
                                  outcome="rebalanced", t_done=7.5 * L, circle=3, circles_tried=1,
                                  circle_hops=3, cost_msat=cost(c2), forwarded=True, needed=False,
                                  payment_settled=True)],
                    earned={"N": f1 + f2, "A": cost(c1) + cost(c2) - g.fee("M", "N", y1)
                            - g.fee("M", "N", y2), "M": g.fee("M", "N", y1) + g.fee("M", "N", y2)},
                    paid={"S": f1 + f2}, rebalance_fees={"N": cost(c1) + cost(c2)}),
             atomic=atomic, config={**cfg, "jit.one_per_channel": False}),
    ]


# N's circle N -> A -> M -> N is short at A (A -> M spends 10M): A runs JIT too and can rebalance
# A -> M over B (A -> B -> M -> A). A -> B is expensive for others, so N's only other circle
# (N -> A -> B -> M -> N) costs 37_902, beyond N's budget.
NESTED = Graph("SNMAB", DIAMOND.channels[:3] + (
    Ch("A", "M", RESERVE + 10_000_000, ab=(700, 130), ba=(200, 10)),
    Ch("A", "B", CAP // 2, ab=(5000, 1000)),
    Ch("B", "M", CAP // 2, ab=(300, 50)),
))


def nested_cases() -> list[Case]:
    g = NESTED
    s = y = 30_000_000
    c1 = circle(g, "NAMN", y)  # N's circle: payment 1
    n_fee = g.fee("N", "M", X)
    at_a = c1[1][3]  # what A must forward to M for it
    a_fee = g.fee("A", "M", at_a)
    s_a = at_a - (g.balance("A", "M") - RESERVE)
    c2 = circle(g, "ABMA", s_a)  # A's circle: payment 2
    assert (cost(c1), a_fee, s_a, cost(c2)) == (5_700, 4_600, 20_001_100, 1_700)
    assert cost(circle(g, "NABMN", y)) == 37_902 > n_fee
    assert cost(circle(g, "ANMA", s_a)) == 4_400  # within A's budget too, but B's way is cheaper
    one = [(0.0, "S", "M", X)]
    n_decision = dict(t=L, node="N", payment=0, attempt=0, depth=0, short_on="NM", shortfall=s,
                      amount=y, budget=n_fee, circle=1, circles_tried=1, circle_hops=3)
    a_decision = dict(t=2 * L, node="A", payment=1, attempt=1, depth=1, short_on="AM",
                      shortfall=s_a, amount=s_a, budget=a_fee, outcome="rebalanced",
                      t_done=8 * L, circle=2, circles_tried=1, circle_hops=3, cost_msat=cost(c2),
                      forwarded=True, needed=True, payment_settled=True)
    c_earned = {"A": a_fee, "M": g.fee("M", "N", y) + g.fee("M", "A", s_a),
                "B": g.fee("B", "M", c2[2][3])}
    # for lockup-then-next: P2 (10M) at 9L passes N -> M at 10L, before N's circle settles
    p2, p2_fee = 10_000_000, g.fee("N", "M", 10_000_000)
    next_event = Expect(
        settled=c1 + c2 + route(g, "SNM", p2),
        payments=[paid(False, attempts=1, reason="liquidity", t_done=8.5 * L, jit=1),
                  paid(True, attempts=1, hops=2, fee=p2_fee, t_start=9 * L, t_done=13 * L)],
        jit=[decision(g, **{**n_decision, "circle": 2}, outcome="timeout", t_done=7.5 * L,
                      cost_msat=cost(c1), lockup=True),
             decision(g, **{**a_decision, "payment": 2, "circle": 3})],
        earned={"N": p2_fee, **c_earned}, paid={"S": p2_fee},
        rebalance_fees={"N": cost(c1), "A": cost(c2)})
    cfg = {**JIT, "sender.max_attempts": 1}
    return [
        # depth 0: A fails N's circle at 2L (back at 3L); N knows A -> M cannot carry it now and its
        # other circle is beyond its budget: circles_failed at 3L, the payment fails at 4L
        Case("max-depth-0", "jit.max_depth 0: N's circle short at adopter A is not rebalanced "
             "there; N's circles fail and so does the payment.", g, one,
             Expect(settled=[], payments=[paid(False, attempts=1, reason="liquidity", t_done=4 * L,
                                               jit=1)],
                    jit=[decision(g, **n_decision, outcome="circles_failed", t_done=3 * L)]),
             adopters="NA", config={**cfg, "jit.max_depth": 0}),
        # depth 1: A holds N's circle at 2L, its own circle is back at A at 8L, A forwards N's
        # circle, which is back at N at 13L; N forwards and the payment settles at 16L
        Case("max-depth-1", "jit.max_depth 1: A rebalances for N's circle (depth 1) within its own "
             "fee, and the payment succeeds.", g, one,
             Expect(settled=route(g, "SNM", X) + c1 + c2,
                    payments=[paid(True, attempts=1, hops=2, fee=n_fee, t_done=16 * L, jit=1,
                                   rescued=True)],
                    jit=[decision(g, **n_decision, outcome="rebalanced", t_done=13 * L,
                                  cost_msat=cost(c1), forwarded=True, needed=True,
                                  payment_settled=True),
                         decision(g, **a_decision)],
                    earned={"N": n_fee, **c_earned}, paid={"S": n_fee},
                    rebalance_fees={"N": cost(c1), "A": cost(c2)}),
             adopters="NA", config={**cfg, "jit.max_depth": 1}),
        # timeout 0.65 s: N gives up at 7.5L while A still holds N's circle (until 8L): a lock-up.
        # A's own hold would end at 8.5L, after its circle is back; N's circle settles at 13L.
        Case("lockup", "N's hold times out while A holds N's circle for its own rebalance: lockup, "
             "and both circles still settle.", g, one,
             Expect(settled=c1 + c2,
                    payments=[paid(False, attempts=1, reason="liquidity", t_done=8.5 * L, jit=1)],
                    jit=[decision(g, **n_decision, outcome="timeout", t_done=7.5 * L,
                                  cost_msat=cost(c1), lockup=True),
                         decision(g, **a_decision)],
                    earned=c_earned, rebalance_fees={"N": cost(c1), "A": cost(c2)}),
             adopters="NA", config={**cfg, "jit.max_depth": 1, "jit.timeout_s": 0.65}),
        # the lock-up again, and P2 (10M) at 9L (the circles are now payments 2 and 3): in atomic
        # mode P2 starts only once every event of P1 is done, its circles' included: N's circle is
        # back at N at 13L, although P1 failed at 8.5L
        Case("lockup-then-next", "In atomic mode the next payment waits for circles that outlive "
             "their hold (no concurrency with them).", g, one + [(9 * L, "S", "M", p2)],
             next_event, atomic=replace(next_event, payments=next_event.payments[:1] + [
                 paid(True, attempts=1, hops=2, fee=p2_fee, t_start=13 * L, t_done=17 * L)]),
             adopters="NA", config={**cfg, "jit.max_depth": 1, "jit.timeout_s": 0.65}),
    ]


# N's circles: over A (A -> M charges 700 + 130 ppm) or over B (B -> M charges 700 + 400 ppm).
HONEST = Graph("SNMAB", DIAMOND.channels[:3] + (
    Ch("A", "M", RESERVE + 50_000_000, ab=(700, 130)),
    Ch("N", "B", CAP // 2, ab=(1000, 300)),
    Ch("B", "M", CAP // 2, ab=(700, 400)),
))


def honesty_cases() -> list[Case]:
    """Three runs that differ only in the balances of A-M and B-M, channels N is not on."""
    s = y = 30_000_000
    cases = []
    for name, a_m, b_m in (("honest-base", RESERVE + 50_000_000, CAP // 2),
                           ("honest-poisoned", 900_000_000, RESERVE + 20_000_000),
                           ("honest-a-short", RESERVE + 20_000_000, CAP // 2)):
        g = HONEST.with_channel("A", "M", bal_a=a_m).with_channel("B", "M", bal_a=b_m)
        n_fee = g.fee("N", "M", X)
        via_a, via_b = circle(g, "NAMN", y), circle(g, "NBMN", y)
        fails = via_a[1][3] > a_m - RESERVE  # the circle over A fails at A
        # over A: back at N at 7L; over A failing at 2L (back at 3L), then over B back at 9L
        used, t_back, tried = (via_b, 9 * L, 2) if fails else (via_a, 7 * L, 1)
        cases.append(Case(
            name, "N's first circle goes over A whatever the balances of channels N is not on"
            + ("; A -> M cannot carry it, so N learns that and its second circle goes over B."
               if fails else "."), g, [(0.0, "S", "M", X)],
            Expect(settled=route(g, "SNM", X) + used,
                   payments=[paid(True, attempts=1, hops=2, fee=n_fee, t_done=t_back + 3 * L, jit=1,
                                  rescued=True)],
                   jit=[decision(g, t=L, node="N", payment=0, attempt=0, depth=0, short_on="NM",
                                 shortfall=s, amount=y, budget=n_fee, outcome="rebalanced",
                                 t_done=t_back, circle=1, circles_tried=tried, circle_hops=3,
                                 cost_msat=cost(used), forwarded=True, needed=True,
                                 payment_settled=True)],
                   earned={"N": n_fee, used[1][1]: used[0][3] - used[1][3],
                           "M": used[1][3] - used[2][3]},
                   paid={"S": n_fee}, rebalance_fees={"N": cost(used)}),
            config=JIT))
    # jit.max_circles 1: after the circle over A fails (back at 3L), N tries no other
    g = HONEST.with_channel("A", "M", bal_a=RESERVE + 20_000_000)
    cases.append(Case(
        "max-circles-1", "jit.max_circles 1: one failed circle and N gives up (circles_failed), "
        "though a circle over B would work.", g, [(0.0, "S", "M", X)],
        Expect(settled=[],
               payments=[paid(False, attempts=1, reason="liquidity", t_done=4 * L, jit=1)],
               jit=[decision(g, t=L, node="N", payment=0, attempt=0, depth=0, short_on="NM",
                             shortfall=s, amount=y, budget=g.fee("N", "M", X),
                             outcome="circles_failed",
                             t_done=3 * L, circle=1, circles_tried=1, circle_hops=3)]),
        config={**JIT, "jit.max_circles": 1, "sender.max_attempts": 1}))
    return cases


CASES = diamond_cases() + budget_cases() + amount_cases() + one_per_channel_cases() \
    + nested_cases() + honesty_cases()
BY_ID = {c.id: c for c in CASES}
MODES = ["event", "atomic"]


# --- running and checking -----------------------------------------------------------------------

def run(case: Case, mode: str, **kwargs):
    return simulate_scenario(case.graph, case.payments, case.config, mode, adopters=case.adopters,
                             unresponsive=case.unresponsive, **kwargs)


def check(case: Case, res, exp: Expect) -> None:
    g = case.graph
    # every direction's final balance, and exactly these HTLCs settled (none left in flight)
    assert res.state["balance_msat"].tolist() == g.after(exp.settled)
    h = res.htlcs
    settled = h.filter(pl.col("state") == "settled")
    got = zip(settled["kind"].cast(pl.Utf8), settled["direction"], settled["amount_msat"])
    assert sorted(got) == sorted((k, g.d(a, b), amt) for k, a, b, amt in exp.settled)
    assert set(h["state"].cast(pl.Utf8)) <= {"settled", "failed"}

    nodes = res.nodes
    assert nodes["fees_earned_msat"].to_list() == per_node(g, exp.earned)
    assert nodes["fees_paid_msat"].to_list() == per_node(g, exp.paid)
    assert nodes["rebalance_fees_msat"].to_list() == per_node(g, exp.rebalance_fees)
    assert nodes["net_fees_msat"].to_list() == [
        e - r for e, r in zip(per_node(g, exp.earned), per_node(g, exp.rebalance_fees))]
    settled_circles = {}
    for row in exp.jit:
        if row["cost_msat"] > 0:
            settled_circles[g.nodes[row["node"]]] = settled_circles.get(g.nodes[row["node"]], 0) + 1
    assert nodes["rebalances"].to_list() == per_node(g, settled_circles)
    jit_per_node = {}
    for row in exp.jit:
        jit_per_node[g.nodes[row["node"]]] = jit_per_node.get(g.nodes[row["node"]], 0) + 1
    assert nodes["jit_events"].to_list() == per_node(g, jit_per_node)
    assert nodes["jit_adopter"].to_list() == [n in case.adopters for n in g.nodes]
    sent, received = {}, {}
    for (_, src, dst, amount), want in zip(case.payments, exp.payments):
        if want["succeeded"]:  # circles are neither sent nor received: only their fees count
            sent[src] = sent.get(src, 0) + amount
            received[dst] = received.get(dst, 0) + amount
    assert nodes["sent_msat"].to_list() == per_node(g, sent)
    assert nodes["received_msat"].to_list() == per_node(g, received)
    # forwards: a node's settled HTLCs beyond a route's first hop (circles of others included)
    fwd = Counter(g.sender(e) for e in settled.filter(pl.col("hop") > 0)["direction"])
    assert nodes["forwards"].to_list() == per_node(g, fwd)

    assert res.payments.height == len(exp.payments)
    for got, want in zip(res.payments.iter_rows(named=True), exp.payments):
        times = ("t_start_s", "t_done_s")
        assert {k: got[k] for k in want if k not in times} == {k: v for k, v in want.items()
                                                               if k not in times}
        assert [got[k] for k in times] == pytest.approx([want[k] for k in times], abs=1e-9)
        assert got["completion_s"] == pytest.approx(want["t_done_s"] - want["t_start_s"], abs=1e-9)

    jit = res.jit_events
    assert jit.height == len(exp.jit)
    for got, want in zip(jit.iter_rows(named=True), exp.jit):
        times = ("t_s", "t_done_s")
        assert {k: got[k] for k in want if k not in times} == {k: v for k, v in want.items()
                                                               if k not in times}
        assert [got[k] for k in times] == pytest.approx([want[k] for k in times], abs=1e-9)

    summary = res.summary.row(0, named=True)
    outcomes = [row["outcome"] for row in exp.jit]
    assert summary["jit_events"] == len(exp.jit)
    for outcome in ("rebalanced", "refused_budget", "no_circle", "circles_failed", "timeout",
                    "busy"):
        assert summary[f"jit_{outcome}"] == outcomes.count(outcome)
    assert summary["jit_rescued"] == sum(p["jit_rescued"] for p in exp.payments)
    assert summary["jit_lockups"] == sum(row["lockup"] for row in exp.jit)
    assert summary["rebalance_fees_msat"] == sum(exp.rebalance_fees.values())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_scenario(case, mode):
    """Each scenario's exact outcome (see its ``shows``)."""
    exp = case.atomic if mode == "atomic" and case.atomic is not None else case.expect
    check(case, run(case, mode), exp)


def first_circle(res):
    """The directions of the first circle N tried: its first attempt's route."""
    circle_id = res.jit_events["circle"][0]
    att, routes = res.state["attempt_table"], res.state["route_table"]
    a = int(np.flatnonzero((att["payment"] == circle_id) & (att["number"] == 0))[0])
    start, n = att["route_start"][a], att["n_hops"][a]
    return routes["route_direction"][start:start + n].tolist()


@pytest.mark.parametrize("mode", MODES)
def test_a_circle_never_depends_on_remote_balances(mode):
    """Routing honesty (DESIGN 2.2): runs that differ only in the balances of channels N is not on
    give the same first circle N -> A -> M -> N, read from the rebalance HTLCs when that circle
    settles and from the attempt's route when it fails."""
    g = HONEST
    want = [g.d("N", "A"), g.d("A", "M"), g.d("M", "N")]
    for name in ("honest-base", "honest-poisoned", "honest-a-short"):
        res = run(BY_ID[name], mode)
        assert first_circle(res) == want, name
        if name != "honest-a-short":  # the circle settled: its HTLCs are the whole route
            circ = res.htlcs.filter(pl.col("kind") == "rebalance").sort("hop")
            assert circ["direction"].to_list() == want and (circ["state"] == "settled").all()


@pytest.mark.parametrize("mode", MODES)
def test_jit_rescues_in_the_diamond_only_with_an_adopting_n(mode):
    """The headline of the issue, across cases: fails without JIT, succeeds with it."""
    outcomes = {name: run(BY_ID[name], mode).payments["succeeded"][0]
                for name in ("no-jit", "not-adopter", "rescued")}
    assert outcomes == {"no-jit": False, "not-adopter": False, "rescued": True}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_routes_computed_ahead_change_nothing_with_jit(case, mode):
    """prefetch_routes=False (every route searched when needed) gives identical tables."""
    ahead, live = run(case, mode), run(case, mode, prefetch_routes=False)
    assert_same_results(ahead, live)
