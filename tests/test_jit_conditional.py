"""JIT-routing variants ``conditional`` and ``multi`` (issue 19), against outcomes derived by hand.

Each scenario is a tiny graph, a workload and a config; its expected outcome is derived from the
documented model (DESIGN.md 2.5 variants 2 and 3, 2.7, 2.8; README "What a run writes"; the
docstrings of ``fastsim.kernels.jit``, ``forwarding``, ``htlcs`` and ``events``), never copied from
a run. The builder, the latency and the fees are those of ``test_jit`` (see ``tests/jitcases.py``):
every hop takes ``L``; an HTLC that fails at the node it reached is resolved one ``L`` later, and
each earlier HTLC of its route one ``L`` after the next; a settled last hop resolves one ``L`` after
it reached the receiver, each earlier one ``L`` after the next.

The model under test, N short by ``s`` of forwarding ``x`` over ``N -> M``:

* ``conditional``: N holds the incoming HTLC and sends one circle ``N -> A -> ... -> M -> N`` of
  ``y`` (the shortfall, at most ``x - htlc_min(N -> M)``) on the payment's hash. N first checks what
  it knows of both sides of its channel: M must be able to spend ``y`` on ``M -> N``. M's offer of
  ``y`` over ``M -> N`` is an ordinary forward (M's spendable there, M's fee). When it reaches N,
  N nets at once: the ``M -> N`` HTLC is ``netted`` (its ``y`` unlocked back to M, never settled)
  and N offers ``x - y`` to M over ``N -> M`` (an add: one L). At M, the circle's HTLC into M joins
  the replacing HTLC in funding M's outgoing HTLC (or the payment, M receiving it). Everything on
  the hash then settles or fails with the payment: N pays the circle's fees only if it settles.
  A circle that fails is retried like any payment (``jit.max_circles`` attempts); when none is
  left, or none can be found, N fails the payment's HTLC back (``circles_failed``).
* ``multi``: when no single channel of N can fund ``y``, N splits it over its fullest channels
  (each keeping back 1% of its spendable for fees, at most ``jit.max_circles`` parts), one circle
  each with that first hop fixed, and nets all the offers in one step once every one has reached
  it; if one part gives up, N fails everything (offers it holds included) and pays nothing.

Node names: S sender, N the JIT node, M the next node, A, B and C the nodes circles go through,
R and T receivers behind M, Q a node behind N. Circles are payments numbered after the workload's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl
import pytest

from fastsim.kernels.htlcs import NETTED, SETTLED
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
from tests.naive import AssociationTable, naive_funds_array

COND = {"jit.variant": "conditional"}
MULTI = {"jit.variant": "multi"}
ONE = {"sender.max_attempts": 1}


# --- HTLCs with their fate and times --------------------------------------------------------------

def H(state: str, hop: tuple, t_added: float, t_resolved: float) -> tuple:
    """One HTLC: its state, (kind, a, b, amount) and when it was offered and resolved."""
    return (state, *hop, t_added, t_resolved)


def chain(state: str, hops: list[tuple], t0: float, t_last: float) -> list[tuple]:
    """Consecutive HTLCs of one attempt: hop k offered at ``t0 + kL``; the last resolved at
    ``t_last``, each earlier one an L after the next."""
    n = len(hops)
    return [H(state, hop, t0 + k * L, t_last + (n - 1 - k) * L) for k, hop in enumerate(hops)]


def fails_after(hops: list[tuple], t0: float) -> list[tuple]:
    """The HTLCs of an attempt offered from ``t0`` whose last one fails at the node it reached: it
    arrives at ``t0 + nL`` and is resolved an L later."""
    return chain("failed", hops, t0, t0 + (len(hops) + 1) * L)


def less(hop: tuple, y: int) -> tuple:
    """The HTLC that replaces ``hop`` after netting offers of ``y`` with it."""
    kind, a, b, amount = hop
    return (kind, a, b, amount - y)


def netted_circle(circ: list[tuple], t0: float, t_into_m: float, state: str = "settled"):
    """A conditional circle offered at ``t0``: its last HTLC (M's offer to N) netted when it reaches
    N; the others ``state``, the one into M resolved at ``t_into_m``."""
    n = len(circ)
    return chain(state, circ[:-1], t0, t_into_m) + [H("netted", circ[-1], t0 + (n - 1) * L, t0 + n * L)]


def shift(rows: list[tuple], dt: float) -> list[tuple]:
    return [(*r[:5], r[5] + dt, r[6] + dt) for r in rows]


# --- scenarios as data --------------------------------------------------------------------------

@dataclass
class Expect:
    """What a run must give. ``htlcs``: every HTLC (state, kind, a, b, amount, t_added,
    t_resolved); ``payments``: per workload payment; ``jit``: per decision, every column of
    jit_events.parquet; node columns: only the non-zero ones. ``forwards`` as README defines it:
    settled payments (circles included) a node forwarded."""
    htlcs: list[tuple]
    payments: list[dict]
    jit: list[dict] = field(default_factory=list)
    earned: dict[str, int] = field(default_factory=dict)
    paid: dict[str, int] = field(default_factory=dict)
    rebalance_fees: dict[str, int] = field(default_factory=dict)
    rebalances: dict[str, int] = field(default_factory=dict)
    forwards: dict[str, int] = field(default_factory=dict)

    def settled(self) -> list[tuple]:
        return [r[1:5] for r in self.htlcs if r[0] == "settled"]


@dataclass
class Case:
    id: str
    shows: str
    graph: Graph
    payments: list[tuple]  # (t_arrival_s, src, dst, amount_msat)
    expect: Expect
    atomic: Expect | None = None
    adopters: str = "N"
    config: dict = field(default_factory=dict)
    unresponsive: str = ""


def decision(g, variant, *, t, node="N", payment=0, attempt=0, depth=0, short_on="NM", shortfall,
             amount, budget, outcome, t_done, circle, circles_tried=0, circle_hops=0, cost_msat=0,
             forwarded=False, needed=False, lockup=False, payment_settled=False,
             circle_amounts=None) -> dict:
    """A row of jit_events.parquet; ``circle_amounts``: what each circle set out to move (by
    default one circle of ``amount`` when ``circle`` is one, none otherwise)."""
    if circle_amounts is None:
        circle_amounts = [amount] if circle >= 0 else []
    return dict(t_s=t, node=g.node(node), payment=payment, attempt=attempt, depth=depth,
                direction=g.d(*short_on), shortfall_msat=shortfall, amount_msat=amount,
                variant=variant, budget_msat=budget, circles=len(circle_amounts),
                circle_amounts_msat=circle_amounts, circles_tried=circles_tried,
                circle_hops=circle_hops, cost_msat=cost_msat, outcome=outcome, forwarded=forwarded,
                needed=needed, source=False, lockup=lockup, payment_settled=payment_settled,
                circle=circle, t_done_s=t_done)


# The diamond of the issue (tests/jitcases.py): N -> M holds 70M above its reserve, 30M short of X;
# the circle N -> A -> M -> N of 30M costs 500 + 600 (M on M -> N) + 700 + 3900 (A on A -> M).
def diamond_cases() -> list[Case]:
    g = DIAMOND
    s = X - (g.balance("N", "M") - RESERVE)
    y = s  # jit.amount exact
    assert s == 30_000_000 and y <= X - 1  # y at most x - htlc_min(N -> M) = x - 1
    n_fee = g.fee("N", "M", X)  # 16_000: N's fee, its budget (fee x 1.0)
    pay = route(g, "SNM", X)
    circ = circle(g, "NAMN", y)
    m_fee, a_fee = g.fee("M", "N", y), g.fee("A", "M", y + g.fee("M", "N", y))
    assert (m_fee, a_fee, cost(circ)) == (1_100, 4_600, 5_700)
    # N holds at L; the circle's adds reach A at 2L, M at 3L, N at 4L, where N nets: N -> M of
    # X - y is offered at 4L and reaches M (the receiver) at 5L; M claims it with A -> M (the
    # circle's HTLC into M, now funding the payment): both settle at 6L, S -> N and N -> A at 7L
    htlcs = (chain("settled", pay[:1], 0.0, 7 * L) + [H("settled", less(pay[1], y), 4 * L, 6 * L)]
             + netted_circle(circ, L, 6 * L))
    row = dict(t=L, shortfall=s, amount=y, budget=n_fee, circle=1)
    ok_row = dict(row, outcome="rebalanced", t_done=4 * L, circles_tried=1, circle_hops=3,
                  cost_msat=cost(circ), forwarded=True, needed=True, payment_settled=True)
    # M earns its circle fee as the receiver (what its funders brought beyond X); N earns its fee
    # and pays the circle's: its profit is n_fee - cost
    rescued = Expect(
        htlcs=htlcs,
        payments=[paid(True, attempts=1, hops=2, fee=n_fee, t_done=7 * L, jit=1, rescued=True)],
        jit=[decision(g, "conditional", **ok_row)],
        earned={"N": n_fee, "A": a_fee, "M": m_fee}, paid={"S": n_fee},
        rebalance_fees={"N": m_fee + a_fee}, rebalances={"N": 1},
        forwards={"N": 1, "A": 1, "M": 1})
    assert n_fee - cost(circ) == 10_300
    cases = [
        Case("diamond", "N nets M's offer of 30M with its forward: N -> M carries X - y, M earns "
             "its circle fee, N earns its fee less the circle's; done at 7L (rebalance: 10L).",
             g, [(0.0, "S", "M", X)], rescued, config=COND),
        Case("diamond-multi-one-channel", "multi where one channel (N -> A) can fund the circle "
             "alone: one circle, its first hop searched, exactly as conditional.",
             g, [(0.0, "S", "M", X)],
             replace(rescued, jit=[decision(g, "multi", **ok_row)]), config=MULTI),
    ]

    # refused: A -> M charging 700 + 500 ppm makes the circle cost 16_800 > N's 16_000
    gb = g.with_channel("A", "M", ab=(700, 500))
    assert cost(circle(gb, "NAMN", y)) == 16_800
    cases.append(Case(
        "refused-budget", "A circle beyond N's fee is refused as under rebalance; nothing moves.",
        gb, [(0.0, "S", "M", X)],
        Expect(htlcs=fails_after(pay[:1], 0.0),
               payments=[paid(False, attempts=1, reason="liquidity", t_done=2 * L, jit=1)],
               jit=[decision(gb, "conditional", **row, outcome="refused_budget", t_done=L)]),
        config={**COND, **ONE}))

    # jit.timeout_s 0.25: N gives up at 3.5L (S -> N back at 4.5L); M's offer reaches N at 4L and
    # N declines it: M -> N fails at 5L, A -> M at 6L, N -> A at 7L. Unlike rebalance, the circle
    # never settles: N pays nothing.
    cases.append(Case(
        "timeout", "A hold shorter than the circle: M's late offer is declined and the whole "
        "circle fails; N pays nothing (rebalance would have paid for it).",
        g, [(0.0, "S", "M", X)],
        Expect(htlcs=chain("failed", pay[:1], 0.0, 4.5 * L) + chain("failed", circ, L, 5 * L),
               payments=[paid(False, attempts=1, reason="liquidity", t_done=4.5 * L, jit=1)],
               jit=[decision(g, "conditional", **row, outcome="timeout", t_done=3.5 * L,
                             circles_tried=1, circle_hops=3)]),
        config={**COND, **ONE, "jit.timeout_s": 0.25}))

    # N's own side of N -> M is taken between its decision and the netting: P1 (60M at 1.5L)
    # passes N at 2.5L (N -> M can spend 70M) and leaves 10M, short of the X - y = 70M N must
    # offer at 4L: N gives up then (circles_failed) and fails the offer it holds with the payment
    x1 = 60_000_000
    p1, f1 = route(g, "SNM", x1), g.fee("N", "M", x1)
    assert g.balance("N", "M") - RESERVE - x1 < X - y
    # atomic: P1 starts at 7L, when P0 (rescued) has ended, and finds N -> M at its reserve: N
    # could move at most x1 - htlc_min < x1, short of the shortfall x1: no circle, at once
    at_netting = Case(
        "n-short-at-netting", "A concurrent forward takes N -> M before the circle's offer arrives: "
        "N cannot offer x - y, gives up and fails the offer; N pays nothing.",
        g, [(0.0, "S", "M", X), (1.5 * L, "S", "M", x1)],
        Expect(htlcs=(chain("failed", pay[:1], 0.0, 5 * L) + chain("failed", circ, L, 5 * L)
                      + chain("settled", p1, 1.5 * L, 4.5 * L)),
               payments=[paid(False, attempts=1, reason="liquidity", t_done=5 * L, jit=1),
                         paid(True, attempts=1, hops=2, fee=f1, t_start=1.5 * L, t_done=5.5 * L)],
               jit=[decision(g, "conditional", **{**row, "circle": 2}, outcome="circles_failed",
                             t_done=4 * L, circles_tried=1, circle_hops=3)],
               earned={"N": f1}, paid={"S": f1}, forwards={"N": 1}),
        atomic=replace(
            rescued,
            htlcs=rescued.htlcs + fails_after(p1[:1], 7 * L),
            payments=rescued.payments + [paid(False, attempts=1, reason="liquidity",
                                              t_start=7 * L, t_done=9 * L, jit=1)],
            jit=[decision(g, "conditional", **{**ok_row, "circle": 2}),
                 decision(g, "conditional", t=8 * L, payment=1, attempt=2, shortfall=x1,
                          amount=x1 - 1, budget=f1, outcome="no_circle", t_done=8 * L,
                          circle=-1)]),
        config={**COND, **ONE})
    cases.append(at_netting)
    return cases


def downstream_cases() -> list[Case]:
    """The payment goes on from M to R (M -> R charges 400 + 60 ppm), and from R to T."""
    cases = []
    # M -> R can carry X: everything settles; M earns its fee on M -> R and on M -> N
    g = Graph("SNMAR", DIAMOND.channels + (Ch("M", "R", CAP // 2, ab=(400, 60)),))
    x_nm = X + g.fee("M", "R", X)
    s = y = x_nm - (g.balance("N", "M") - RESERVE)
    pay, circ = route(g, "SNMR", X), circle(g, "NAMN", y)
    assert pay[1][3] == x_nm and (s, cost(circ)) == (30_006_400, 5_700)
    n_fee, m_fee, mr_fee = g.fee("N", "M", x_nm), g.fee("M", "N", y), g.fee("M", "R", X)
    a_fee = cost(circ) - m_fee
    # netting at 4L; N -> M reaches M at 5L, M -> R reaches R at 6L and settles at 7L; N -> M and
    # A -> M (both funding M -> R) at 8L; S -> N and N -> A at 9L
    row = dict(t=L, shortfall=s, amount=y, budget=n_fee, circle=1, circles_tried=1, circle_hops=3)
    cases.append(Case(
        "to-r", "M forwards on: the circle's HTLC into M and N's x - y fund M -> R together; M "
        "earns both its fees.", g, [(0.0, "S", "R", X)],
        Expect(htlcs=(chain("settled", pay[:1], 0.0, 9 * L)
                      + [H("settled", less(pay[1], y), 4 * L, 8 * L)]
                      + chain("settled", pay[2:], 5 * L, 7 * L) + netted_circle(circ, L, 8 * L)),
               payments=[paid(True, attempts=1, hops=3, fee=n_fee + mr_fee, t_done=9 * L, jit=1,
                              rescued=True)],
               jit=[decision(g, "conditional", **row, outcome="rebalanced", t_done=4 * L,
                             cost_msat=cost(circ), forwarded=True, needed=True,
                             payment_settled=True)],
               earned={"N": n_fee, "A": a_fee, "M": mr_fee + m_fee}, paid={"S": n_fee + mr_fee},
               rebalance_fees={"N": cost(circ)}, rebalances={"N": 1},
               forwards={"N": 1, "A": 1, "M": 2}),
        config=COND))

    # M -> R cannot carry X: N -> M reaches M at 5L and M fails it: N -> M and, with it, the
    # circle's A -> M fail at 6L; S -> N and N -> A at 7L. Every balance back, N pays nothing.
    gf = g.with_channel("M", "R", bal_a=RESERVE + 50_000_000)
    failed_at_m = Expect(
        htlcs=(chain("failed", pay[:1], 0.0, 7 * L) + [H("failed", less(pay[1], y), 4 * L, 6 * L)]
               + netted_circle(circ, L, 6 * L, "failed")),
        payments=[paid(False, attempts=1, reason="liquidity", t_done=7 * L, jit=1)],
        jit=[decision(gf, "conditional", **row, outcome="rebalanced", t_done=4 * L, forwarded=True,
                      needed=True)])
    cases.append(Case(
        "fails-at-m", "The payment fails at M after the netting: every HTLC on the hash fails, the "
        "netted one stays netted, every balance is back and N pays nothing.",
        gf, [(0.0, "S", "R", X)], failed_at_m, config={**COND, **ONE}))

    # one hop further: M -> R carries it, R -> T (300 + 40 ppm) cannot. M -> R fails at 7L and
    # its funders (N -> M, and A -> M that joined it) at 8L; S -> N and N -> A at 9L
    gt = Graph("SNMART", g.channels + (Ch("R", "T", RESERVE + 50_000_000, ab=(300, 40)),))
    pay_t = route(gt, "SNMRT", X)
    x_nm_t = pay_t[1][3]
    s_t = x_nm_t - (gt.balance("N", "M") - RESERVE)
    circ_t = circle(gt, "NAMN", s_t)
    assert (s_t, cost(circ_t)) == (30_010_700, 5_701)
    cases.append(Case(
        "fails-beyond-m", "The payment fails at R: the failure of M -> R reaches both its funders, "
        "N's x - y and the circle's HTLC into M.", gt, [(0.0, "S", "T", X)],
        Expect(htlcs=(chain("failed", pay_t[:1], 0.0, 9 * L)
                      + [H("failed", less(pay_t[1], s_t), 4 * L, 8 * L)]
                      + fails_after(pay_t[2:3], 5 * L) + netted_circle(circ_t, L, 8 * L, "failed")),
               payments=[paid(False, attempts=1, reason="liquidity", t_done=9 * L, jit=1)],
               jit=[decision(gt, "conditional", t=L, shortfall=s_t, amount=s_t,
                             budget=gt.fee("N", "M", x_nm_t), circle=1, circles_tried=1,
                             circle_hops=3, outcome="rebalanced", t_done=4 * L, forwarded=True,
                             needed=True)]),
        config={**COND, **ONE}))
    return cases


def m_side_cases() -> list[Case]:
    """M's spendable on M -> N (910M at the start) is taken by a payment from M over M -> N."""
    cases = []
    g = DIAMOND
    s = y = 30_000_000
    n_fee = g.fee("N", "M", X)
    pay, circ = route(g, "SNM", X), circle(g, "NAMN", y)
    m_can = g.balance("M", "N") - RESERVE
    assert m_can == 910_000_000

    # behind N, Q never answers: P1 from M to Q keeps its HTLCs in flight for 600 s
    gq = Graph("SNMAQ", g.channels + (Ch("N", "Q", CAP - RESERVE),))
    z = 900_000_000
    p_mq = route(gq, "MNQ", z)
    assert m_can - p_mq[0][3] < y <= m_can
    # P1 from 2L: M -> N locked at 2L, N -> Q offered at 3L; Q never answers: N -> Q times out at
    # 3L + 600 s and M -> N fails one L later
    p1_event = [H("failed", p_mq[0], 2 * L, 600 + 4 * L), H("failed", p_mq[1], 3 * L, 600 + 3 * L)]
    rescued_htlcs = (chain("settled", pay[:1], 0.0, 7 * L)
                     + [H("settled", less(pay[1], y), 4 * L, 6 * L)] + netted_circle(circ, L, 6 * L))
    ok_row = dict(t=L, shortfall=s, amount=y, budget=n_fee, circle=2, circles_tried=1,
                  circle_hops=3, outcome="rebalanced", t_done=4 * L, cost_msat=cost(circ),
                  forwarded=True, needed=True, payment_settled=True)
    rescued_p0 = paid(True, attempts=1, hops=2, fee=n_fee, t_done=7 * L, jit=1, rescued=True)
    rescued_nodes = dict(earned={"N": n_fee, "A": cost(circ) - g.fee("M", "N", y),
                                 "M": g.fee("M", "N", y)},
                         paid={"S": n_fee}, rebalance_fees={"N": cost(circ)}, rebalances={"N": 1},
                         forwards={"N": 1, "A": 1, "M": 1})
    # the circle reaches M at 3L, when M can spend 9.9M on M -> N: it fails there (A -> M back at
    # 4L, N -> A at 5L). At 5L N's circle payment retries: M -> N still cannot carry y (N sees
    # both sides), so there is no circle: N gives up (circles_failed) and S -> N fails at 6L.
    # Atomic: P0 alone is rescued as in the diamond (7L); P1 starts then and times out.
    cases.append(Case(
        "m-short-in-flight", "M's spendable on M -> N drops while the circle travels: it fails at "
        "M; the next circle cannot carry y over M -> N either, so N gives up; nothing paid.",
        gq, [(0.0, "S", "M", X), (2 * L, "M", "Q", z)],
        Expect(htlcs=(chain("failed", pay[:1], 0.0, 6 * L) + fails_after(circ[:2], L) + p1_event),
               payments=[paid(False, attempts=1, reason="liquidity", t_done=6 * L, jit=1),
                         paid(False, attempts=1, reason="htlc_timeout", t_start=2 * L,
                              t_done=600 + 4 * L)],
               jit=[decision(g, "conditional", t=L, shortfall=s, amount=y, budget=n_fee, circle=2,
                             circles_tried=1, circle_hops=3, outcome="circles_failed",
                             t_done=5 * L)]),
        atomic=Expect(htlcs=rescued_htlcs + shift(p1_event, 5 * L),
                      payments=[rescued_p0, paid(False, attempts=1, reason="htlc_timeout",
                                                 t_start=7 * L, t_done=600 + 9 * L)],
                      jit=[decision(g, "conditional", **ok_row)], **rescued_nodes),
        unresponsive="Q", config={**COND, **ONE}))

    # P1 (to Q, never answering) first: when P0 reaches N at 1.5L, M can spend 9.9M on M -> N, and
    # N, knowing both sides of its channel, sends no circle (no_circle; S -> N fails at 2.5L)
    cases.append(Case(
        "m-short-at-decision", "N sees M cannot send y back over M -> N and sends no circle.",
        gq, [(0.0, "M", "Q", z), (0.5 * L, "S", "M", X)],
        Expect(htlcs=(shift(p1_event, -2 * L) + fails_after(pay[:1], 0.5 * L)),
               payments=[paid(False, attempts=1, reason="htlc_timeout", t_done=600 + 2 * L),
                         paid(False, attempts=1, reason="liquidity", t_start=0.5 * L,
                              t_done=2.5 * L, jit=1)],
               jit=[decision(g, "conditional", t=1.5 * L, payment=1, attempt=1, shortfall=s,
                             amount=y, budget=n_fee, outcome="no_circle", t_done=1.5 * L,
                             circle=-1)]),
        # atomic: P0 ends at 600 + 2L, then P1 is rescued as in the diamond
        atomic=Expect(htlcs=shift(p1_event, -2 * L) + shift(rescued_htlcs, 600 + 2 * L),
                      payments=[paid(False, attempts=1, reason="htlc_timeout", t_done=600 + 2 * L),
                                {**rescued_p0, "t_start_s": 600 + 2 * L, "t_done_s": 600 + 9 * L}],
                      jit=[decision(g, "conditional", **{**ok_row, "t": 600 + 3 * L, "payment": 1,
                                                          "attempt": 1, "t_done": 600 + 6 * L})],
                      **rescued_nodes),
        unresponsive="Q", config={**COND, **ONE}))

    # the lock on M -> N is over before the circle's retry. The circle is longer (N -> A -> B ->
    # M -> N: at M at 4L, its failure back at N at 7L); P1 from M to R over N and Q (2L) fails at
    # Q (Q -> R cannot carry it) at 4L, so M -> N is unlocked at 6L.
    gl = Graph("SNMABQR", (
        DIAMOND.channels[0], DIAMOND.channels[1], Ch("N", "A", CAP // 2, ab=(1000, 300)),
        Ch("A", "B", CAP // 2, ab=(700, 130)), Ch("B", "M", CAP // 2, ab=(700, 130)),
        Ch("N", "Q", CAP - RESERVE), Ch("Q", "R", RESERVE + 1_000_000)))
    z2 = 890_000_000
    p_mr = route(gl, "MNQR", z2)
    assert m_can - p_mr[0][3] < y
    circ4 = circle(gl, "NABMN", y)
    assert cost(circ4) == 10_300 <= n_fee
    # the retry at 7L goes the same way (N knows only that M -> N failed, a hop it does not search
    # and now sees able to carry y): at M at 10L, back at N at 11L, netted; N -> M reaches M at 12L;
    # N -> M and B -> M settle at 13L, S -> N and A -> B at 14L, N -> A at 15L
    ok4 = dict(t=L, shortfall=s, amount=y, budget=n_fee, circle=2, circle_hops=4,
               outcome="rebalanced", cost_msat=cost(circ4), forwarded=True, needed=True,
               payment_settled=True)
    earned4 = {"N": n_fee, "A": circ4[0][3] - circ4[1][3], "B": circ4[1][3] - circ4[2][3],
               "M": circ4[2][3] - circ4[3][3]}
    p1_fail = fails_after(p_mr[:2], 2 * L)
    cases.append(Case(
        "m-short-then-next-circle", "The circle fails at M while a payment holds M -> N; the lock "
        "is gone when its failure is back, and N's next circle is netted.", gl,
        [(0.0, "S", "M", X), (2 * L, "M", "R", z2)],
        Expect(htlcs=(chain("settled", pay[:1], 0.0, 14 * L)
                      + [H("settled", less(pay[1], y), 11 * L, 13 * L)]
                      + fails_after(circ4[:3], L) + netted_circle(circ4, 7 * L, 13 * L) + p1_fail),
               payments=[paid(True, attempts=1, hops=2, fee=n_fee, t_done=14 * L, jit=1,
                              rescued=True),
                         paid(False, attempts=1, reason="liquidity", t_start=2 * L, t_done=6 * L)],
               jit=[decision(gl, "conditional", **ok4, t_done=11 * L, circles_tried=2)],
               earned=earned4, paid={"S": n_fee}, rebalance_fees={"N": cost(circ4)},
               rebalances={"N": 1}, forwards={"N": 1, "A": 1, "B": 1, "M": 1}),
        # atomic: P0 alone: netted at 5L, done at 8L (the circle's first HTLC settles at 9L); P1
        # starts at 9L and fails at Q (back at 13L)
        atomic=Expect(htlcs=(chain("settled", pay[:1], 0.0, 8 * L)
                             + [H("settled", less(pay[1], y), 5 * L, 7 * L)]
                             + netted_circle(circ4, L, 7 * L) + shift(p1_fail, 7 * L)),
                      payments=[paid(True, attempts=1, hops=2, fee=n_fee, t_done=8 * L, jit=1,
                                     rescued=True),
                                paid(False, attempts=1, reason="liquidity", t_start=9 * L,
                                     t_done=13 * L)],
                      jit=[decision(gl, "conditional", **ok4, t_done=5 * L, circles_tried=1)],
                      earned=earned4, paid={"S": n_fee}, rebalance_fees={"N": cost(circ4)},
                      rebalances={"N": 1}, forwards={"N": 1, "A": 1, "B": 1, "M": 1}),
        config={**COND, **ONE}))

    # P2 from M to Q (2L) holds 890_090_000 on M -> N until 4L: N cannot forward it (N -> Q at
    # its reserve; no y leaves a valid x - y: no circle) and fails it at 3L. N's circle reaches M
    # at 3L, fails there, and its failure is back at N at 5L: the retry then finds M -> N free
    # again and goes the same way (at M at 7L, netted at 8L; N -> M settles at 10L, S -> N at 11L).
    # P1 from U (1.5L) fails at V (V -> W holds 1M) and U's retry at 3.5L finds no route.
    # sender.max_attempts 2: every failed payment's retry is computed ahead.
    gs = Graph("SNMAQUVW", g.channels + (Ch("N", "Q", RESERVE), Ch("U", "V", CAP // 2),
                                         Ch("V", "W", RESERVE + 1_000_000)))
    z3, x_uw = 890_000_000, 10_000_000
    p_mq3, p_uw = route(gs, "MNQ", z3), route(gs, "UVW", x_uw)
    assert m_can - p_mq3[0][3] < y and gs.balance("N", "Q") == RESERVE
    others = fails_after(p_uw[:1], 1.5 * L) + fails_after(p_mq3[:1], 2 * L)
    p2_decision = decision(gs, "conditional", t=3 * L, payment=2, attempt=3, short_on="NQ",
                           shortfall=z3, amount=z3 - 1, budget=gs.fee("N", "Q", z3),
                           outcome="no_circle", t_done=3 * L, circle=-1)
    others_paid = [paid(False, attempts=1, reason="liquidity", t_start=1.5 * L, t_done=3.5 * L),
                   paid(False, attempts=1, reason="liquidity", t_start=2 * L, t_done=4 * L, jit=1)]
    cases.append(Case(
        "m-freed-before-retry", "M -> N is held when the circle reaches M and free again when its "
        "failure is back at N: N's second circle is netted.",
        gs, [(0.0, "S", "M", X), (1.5 * L, "U", "W", x_uw), (2 * L, "M", "Q", z3)],
        Expect(htlcs=(chain("settled", pay[:1], 0.0, 11 * L)
                      + [H("settled", less(pay[1], y), 8 * L, 10 * L)]
                      + fails_after(circ[:2], L) + netted_circle(circ, 5 * L, 10 * L) + others),
               payments=[paid(True, attempts=1, hops=2, fee=n_fee, t_done=11 * L, jit=1,
                              rescued=True)] + others_paid,
               jit=[decision(gs, "conditional", **{**ok_row, "circle": 3, "circles_tried": 2,
                                                   "t_done": 8 * L}), p2_decision],
               **rescued_nodes),
        # atomic: P0 alone is rescued (7L); P1 from 7L fails at V (9L); P2 from 9L fails at N
        # (back at 11L)
        atomic=Expect(htlcs=(rescued_htlcs + fails_after(p_uw[:1], 7 * L)
                             + fails_after(p_mq3[:1], 9 * L)),
                      payments=[rescued_p0,
                                paid(False, attempts=1, reason="liquidity", t_start=7 * L,
                                     t_done=9 * L),
                                paid(False, attempts=1, reason="liquidity", t_start=9 * L,
                                     t_done=11 * L, jit=1)],
                      jit=[decision(gs, "conditional", **{**ok_row, "circle": 3}),
                           {**p2_decision, "t_s": 10 * L, "t_done_s": 10 * L}],
                      **rescued_nodes),
        config={**COND, "sender.max_attempts": 2}))
    return cases


def htlc_min_cases() -> list[Case]:
    """N -> M has htlc_min 1M: the netting must leave N an offer of at least 1M, so N moves at most
    x - 1M."""
    hmin = 1_000_000
    cases = []
    # N -> M can spend 10M (90M short); jit.amount plugin would move 112.5M: capped at X - 1M =
    # 99M, so N -> M carries exactly htlc_min. A carries any circle; budget none.
    g = DIAMOND.with_channel("N", "M", bal_a=RESERVE + 10_000_000, min_ab=hmin).with_channel(
        "A", "M", bal_a=CAP // 2)
    s = X - 10_000_000
    y = X - hmin
    assert -(-5 * s // 4) > y >= s
    pay, circ = route(g, "SNM", X), circle(g, "NAMN", y)
    n_fee = g.fee("N", "M", X)
    cases.append(Case(
        "htlc-min-caps-y", "y is capped at x - htlc_min(N -> M): the netted N -> M carries exactly "
        "htlc_min.", g, [(0.0, "S", "M", X)],
        Expect(htlcs=(chain("settled", pay[:1], 0.0, 7 * L)
                      + [H("settled", less(pay[1], y), 4 * L, 6 * L)] + netted_circle(circ, L, 6 * L)),
               payments=[paid(True, attempts=1, hops=2, fee=n_fee, t_done=7 * L, jit=1,
                              rescued=True)],
               jit=[decision(g, "conditional", t=L, shortfall=s, amount=y, budget=UNLIMITED,
                             circle=1, circles_tried=1, circle_hops=3, outcome="rebalanced",
                             t_done=4 * L, cost_msat=cost(circ), forwarded=True, needed=True,
                             payment_settled=True)],
               earned={"N": n_fee, "A": circ[0][3] - circ[1][3], "M": circ[1][3] - circ[2][3]},
               paid={"S": n_fee}, rebalance_fees={"N": cost(circ)}, rebalances={"N": 1},
               forwards={"N": 1, "A": 1, "M": 1}),
        config={**COND, "jit.amount": "plugin", "jit.budget": "none"}))
    # N -> M can spend 1 msat less than htlc_min: whatever y, x - y would be below htlc_min or
    # above what N can spend; y = X - 1M < the shortfall: no circle
    g2 = g.with_channel("N", "M", bal_a=RESERVE + hmin - 1)
    s2 = X - (hmin - 1)
    cases.append(Case(
        "htlc-min-no-room", "N can spend less than htlc_min on N -> M: no y leaves a valid x - y, "
        "so N sends no circle.", g2, [(0.0, "S", "M", X)],
        Expect(htlcs=fails_after(pay[:1], 0.0),
               payments=[paid(False, attempts=1, reason="liquidity", t_done=2 * L, jit=1)],
               jit=[decision(g2, "conditional", t=L, shortfall=s2, amount=X - hmin, budget=n_fee,
                             circle=-1, outcome="no_circle", t_done=L)]),
        config={**COND, **ONE}))
    return cases


# multi: N can spend 20M on N -> A and 15M on N -> B (nothing on N -> S, nothing to spare on
# N -> M); 30M short on N -> M. Neither channel alone holds 30M less 1%: N splits it, the fullest
# first: 19.8M (N -> A keeps 1% back) and the remaining 10.2M over N -> B.
MULTI_G = Graph("SNMAB", (
    Ch("S", "N", CAP - RESERVE),
    DIAMOND.channels[1],
    Ch("N", "A", RESERVE + 20_000_000, ab=(1000, 300)),
    Ch("A", "M", CAP // 2, ab=(700, 130)),
    Ch("N", "B", RESERVE + 15_000_000, ab=(1000, 300)),
    Ch("B", "M", CAP // 2, ab=(300, 200)),
))


def multi_cases() -> list[Case]:
    g = MULTI_G
    s = y = 30_000_000
    a_can, b_can = g.balance("N", "A") - RESERVE, g.balance("N", "B") - RESERVE
    assert a_can * 99 // 100 < y <= (a_can + b_can) * 99 // 100
    y1 = a_can * 990 // 1000
    y2 = y - y1
    assert (y1, y2) == (19_800_000, 10_200_000) and y2 <= b_can * 990 // 1000
    n_fee = g.fee("N", "M", X)
    pay = route(g, "SNM", X)
    c1, c2 = circle(g, "NAMN", y1), circle(g, "NBMN", y2)
    # each part's budget is its share of N's fee; each circle's first hop fits its channel
    assert cost(c1) <= n_fee * y1 // y and cost(c2) <= n_fee * y2 // y
    assert c1[0][3] <= a_can and c2[0][3] <= b_can
    # both circles leave at L; both offers reach N at 4L, where N nets them in one step: N -> M
    # of X - y1 - y2 reaches M at 5L; M claims the payment with it and both circles' HTLCs into M
    # (6L); S -> N, N -> A and N -> B settle at 7L
    row = dict(t=L, shortfall=s, amount=y, budget=n_fee, circle=1, circle_hops=3, circle_amounts=[y1, y2])
    ok = Expect(
        htlcs=(chain("settled", pay[:1], 0.0, 7 * L) + [H("settled", less(pay[1], y), 4 * L, 6 * L)]
               + netted_circle(c1, L, 6 * L) + netted_circle(c2, L, 6 * L)),
        payments=[paid(True, attempts=1, hops=2, fee=n_fee, t_done=7 * L, jit=1, rescued=True)],
        jit=[decision(g, "multi", **row, outcome="rebalanced", t_done=4 * L, circles_tried=2,
                      cost_msat=cost(c1) + cost(c2), forwarded=True, needed=True,
                      payment_settled=True)],
        earned={"N": n_fee, "A": c1[0][3] - c1[1][3], "B": c2[0][3] - c2[1][3],
                "M": g.fee("M", "N", y1) + g.fee("M", "N", y2)},
        paid={"S": n_fee}, rebalance_fees={"N": cost(c1) + cost(c2)}, rebalances={"N": 2},
        forwards={"N": 1, "A": 1, "B": 1, "M": 2})
    cases = [Case("multi", "Two circles with fixed first hops, netted in one step: two netted "
                  "HTLCs, one N -> M of X - y1 - y2; N pays both circles' fees.",
                  g, [(0.0, "S", "M", X)], ok, config=MULTI)]

    # B -> M can spend 5M: the part over B fails at B (N -> B back at 3L); its retry, with N -> B
    # fixed, finds no way on to M: the part gives up at 3L and so does N (S -> N fails at 4L). The
    # part over A reaches N at 4L, after N stopped waiting: declined, it fails back (M -> N at 5L).
    ge = g.with_channel("B", "M", bal_a=RESERVE + 5_000_000)
    cases.append(Case(
        "multi-part-fails-early", "One part's circle gives up before the other's offer arrives: "
        "N fails the payment and declines the other offer; all fail, N pays nothing.",
        ge, [(0.0, "S", "M", X)],
        Expect(htlcs=(chain("failed", pay[:1], 0.0, 4 * L) + chain("failed", c1, L, 5 * L)
                      + fails_after(c2[:1], L)),
               payments=[paid(False, attempts=1, reason="liquidity", t_done=4 * L, jit=1)],
               jit=[decision(ge, "multi", **row, outcome="circles_failed", t_done=3 * L,
                             circles_tried=2)]),
        config={**MULTI, **ONE}))

    # the part over B goes on through C, whose C -> M cannot carry it: it fails at C at 3L, back at
    # N at 5L, and gives up then; the part over A has been held at N since 4L and fails with the
    # payment (M -> N at 6L, A -> M at 7L, N -> A at 8L)
    gc = Graph("SNMABC", g.channels[:5] + (Ch("B", "C", CAP // 2, ab=(100, 100)),
                                           Ch("C", "M", RESERVE + 5_000_000, ab=(100, 100))))
    c2c = circle(gc, "NBCMN", y2)
    assert cost(c2c) <= n_fee * y2 // y and c2c[0][3] <= b_can
    cases.append(Case(
        "multi-part-fails-late", "One part gives up while N holds the other's offer: N fails that "
        "offer with the payment; all fail, N pays nothing.", gc, [(0.0, "S", "M", X)],
        Expect(htlcs=(chain("failed", pay[:1], 0.0, 6 * L) + chain("failed", c1, L, 6 * L)
                      + fails_after(c2c[:2], L)),
               payments=[paid(False, attempts=1, reason="liquidity", t_done=6 * L, jit=1)],
               jit=[decision(gc, "multi", **row, outcome="circles_failed", t_done=5 * L,
                             circles_tried=2)]),
        config={**MULTI, **ONE}))

    # B has no way on to M: the part over A leaves at L, the part over B finds no route, and N
    # gives up at once (no_circle; S -> N fails at 2L). The part over A goes on and its offer is
    # declined when it reaches N at 4L: M -> N fails at 5L, A -> M at 6L, N -> A at 7L.
    gn = Graph("SNMAB", g.channels[:5])
    cases.append(Case(
        "multi-part-no-route", "The second part finds no route when N decides: N gives up at once "
        "and declines the first part's offer when it arrives; all fail, N pays nothing.",
        gn, [(0.0, "S", "M", X)],
        Expect(htlcs=fails_after(pay[:1], 0.0) + chain("failed", c1, L, 5 * L),
               payments=[paid(False, attempts=1, reason="liquidity", t_done=2 * L, jit=1)],
               jit=[decision(gn, "multi", **row, outcome="no_circle", t_done=L,
                             circles_tried=1)]),
        config={**MULTI, **ONE}))

    # at most jit.max_circles parts: with 1, N -> A's 19.8M is all N could move, short of 30M
    cases.append(Case(
        "multi-max-circles-1", "jit.max_circles 1 allows one part, which cannot hold y: no circle.",
        g, [(0.0, "S", "M", X)],
        Expect(htlcs=fails_after(pay[:1], 0.0),
               payments=[paid(False, attempts=1, reason="liquidity", t_done=2 * L, jit=1)],
               jit=[decision(g, "multi", t=L, shortfall=s, amount=y, budget=n_fee, circle=-1,
                             outcome="no_circle", t_done=L)]),
        config={**MULTI, **ONE, "jit.max_circles": 1}))
    # the same graph under conditional: one circle of 30M needs a channel that holds it (with its
    # fees): none does, the search finds no circle
    cases.append(Case(
        "multi-graph-conditional", "conditional on the multi graph: no single channel can fund "
        "the circle, so there is none.", g, [(0.0, "S", "M", X)],
        Expect(htlcs=fails_after(pay[:1], 0.0),
               payments=[paid(False, attempts=1, reason="liquidity", t_done=2 * L, jit=1)],
               jit=[decision(g, "conditional", t=L, shortfall=s, amount=y, budget=n_fee, circle=1,
                             outcome="no_circle", t_done=L)]),
        config={**COND, **ONE}))
    return cases


CASES = diamond_cases() + downstream_cases() + m_side_cases() + htlc_min_cases() + multi_cases()
BY_ID = {c.id: c for c in CASES}
MODES = ["event", "atomic"]


# --- running and checking -----------------------------------------------------------------------

_RUNS: dict = {}


def run(case: Case, mode: str, prefetch: bool = True):
    key = (case.id, mode, prefetch)
    if key not in _RUNS:
        _RUNS[key] = simulate_scenario(case.graph, case.payments, case.config, mode,
                                       adopters=case.adopters, unresponsive=case.unresponsive,
                                       prefetch_routes=prefetch)
    return _RUNS[key]


def expected(case: Case, mode: str) -> Expect:
    return case.atomic if mode == "atomic" and case.atomic is not None else case.expect


def _t(v):
    return None if v is None else round(v, 9)


def aspects(case: Case, res, exp: Expect) -> dict[str, tuple]:
    """Every checked aspect of a run as (got, want)."""
    g = case.graph
    out = {"balances": (res.state["balance_msat"].tolist(), g.after(exp.settled()))}
    h = res.htlcs
    got = [(st, k, int(d), int(a), _t(ta), _t(tr)) for st, k, d, a, ta, tr in zip(
        h["state"].cast(pl.Utf8), h["kind"].cast(pl.Utf8), h["direction"], h["amount_msat"],
        h["t_added_s"], h["t_resolved_s"])]
    want = [(st, k, g.d(a, b), amt, _t(ta), _t(tr)) for st, k, a, b, amt, ta, tr in exp.htlcs]
    out["htlcs"] = (sorted(got), sorted(want))

    nodes = res.nodes
    fees = {"fees_earned_msat": exp.earned, "fees_paid_msat": exp.paid,
            "rebalance_fees_msat": exp.rebalance_fees, "rebalances": exp.rebalances,
            "forwards": exp.forwards}
    for col, values in fees.items():
        out[f"nodes.{col}"] = (nodes[col].to_list(), per_node(g, values))
    out["nodes.net_fees_msat"] = (nodes["net_fees_msat"].to_list(), [
        e - r for e, r in zip(per_node(g, exp.earned), per_node(g, exp.rebalance_fees))])
    out["nodes.jit_events"] = (nodes["jit_events"].to_list(), per_node(
        g, Counter(g.nodes[row["node"]] for row in exp.jit)))
    out["nodes.jit_adopter"] = (nodes["jit_adopter"].to_list(), [n in case.adopters for n in g.nodes])
    sent, received = Counter(), Counter()
    for (_, src, dst, amount), want_p in zip(case.payments, exp.payments):
        if want_p["succeeded"]:
            sent[src] += amount
            received[dst] += amount
    out["nodes.sent_msat"] = (nodes["sent_msat"].to_list(), per_node(g, sent))
    out["nodes.received_msat"] = (nodes["received_msat"].to_list(), per_node(g, received))

    times = ("t_start_s", "t_done_s")
    got_p = [{k: (_t(r[k]) if k in times else r[k]) for k in exp.payments[0]} | {
        "completion_s": _t(r["completion_s"])} for r in res.payments.iter_rows(named=True)]
    want_p = [{k: (_t(v) if k in times else v) for k, v in p.items()} | {
        "completion_s": _t(p["t_done_s"] - p["t_start_s"])} for p in exp.payments]
    out["payments"] = (got_p, want_p)

    jit = [{k: (_t(v) if k in ("t_s", "t_done_s") else v) for k, v in r.items()}
           for r in res.jit_events.iter_rows(named=True)]
    want_j = [{k: (_t(v) if k in ("t_s", "t_done_s") else v) for k, v in r.items()} for r in exp.jit]
    out["jit"] = (jit, want_j)

    summary = res.summary.row(0, named=True)
    outcomes = Counter(row["outcome"] for row in exp.jit)
    got_s = {k: summary[k] for k in ("jit_events", "jit_rescued", "jit_lockups",
                                      "rebalance_fees_msat")}
    got_s |= {f"jit_{o}": summary[f"jit_{o}"] for o in ("rebalanced", "refused_budget",
                                                         "no_circle", "circles_failed", "timeout",
                                                         "busy")}
    want_s = {"jit_events": len(exp.jit), "jit_rescued": sum(p["jit_rescued"] for p in exp.payments),
              "jit_lockups": sum(r["lockup"] for r in exp.jit),
              "rebalance_fees_msat": sum(exp.rebalance_fees.values())}
    want_s |= {f"jit_{o}": outcomes[o] for o in ("rebalanced", "refused_budget", "no_circle",
                                                 "circles_failed", "timeout", "busy")}
    out["summary"] = (got_s, want_s)
    return out


def check_scenario(case: Case, mode: str, prefetch: bool) -> None:
    got = aspects(case, run(case, mode, prefetch), expected(case, mode))
    for name, (have, want) in got.items():
        assert have == want, name


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_scenario(case, mode):
    """Each scenario's exact outcome (see its ``shows``), with the routes computed ahead (the
    default)."""
    check_scenario(case, mode, True)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_scenario_searched_live(case, mode):
    """The same with every route searched when it is needed (prefetch_routes=False)."""
    check_scenario(case, mode, False)


@pytest.mark.parametrize("mode", MODES)
def test_conditional_is_rebalance_netted(mode):
    """On the diamond, conditional and rebalance end with the same balances and the same fees for
    everyone (N -> M carries X - y instead of M -> N y and N -> M X), but conditional is done at 7L
    instead of 10L: no wait for the circle's fulfils before forwarding."""
    case = BY_ID["diamond"]
    cond = run(case, mode)
    reb = run(replace(case, id="diamond-rebalance", config={"jit.variant": "rebalance"}), mode)
    assert cond.state["balance_msat"].tolist() == reb.state["balance_msat"].tolist()
    for col in ("fees_earned_msat", "fees_paid_msat", "rebalance_fees_msat", "net_fees_msat",
                "sent_msat", "received_msat", "funds_end_msat"):
        assert cond.nodes[col].to_list() == reb.nodes[col].to_list(), col
    assert [_t(t) for t in (cond.payments["t_done_s"][0], reb.payments["t_done_s"][0])] == [
        _t(7 * L), _t(10 * L)]
    assert set(cond.htlcs["state"].cast(pl.Utf8)) == {"settled", "netted"}
    assert set(reb.htlcs["state"].cast(pl.Utf8)) == {"settled"}


# --- the association table ----------------------------------------------------------------------

def _chain_of(h, carrier: int) -> list[int]:
    out, g = [], int(h["nets"][carrier])
    while g >= 0:
        out.append(g)
        g = int(h["next_in"][g])
    return out


def _list_of(head: int, h) -> list[int]:
    out, g = [], head
    while g >= 0:
        out.append(g)
        assert len(out) <= h["payment"].shape[0], "a cycle in a funding list"
        g = int(h["next_in"][g])
    return out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_association_after_netting(case, mode):
    """The recorded association (funds, first_in, next_in, nets, pay_first_in) against the
    dictionary twin replaying the operations the run implies: every offer associates the HTLC it
    forwards; an HTLC that replaced netted offers brings their funders along as one
    net-and-reassociate at the node it reaches (README: funds; htlcs docstring); a receiver's claim
    associates its last HTLC with the payment. Then structurally: each funds link appears in exactly
    one list and no HTLC in two; netted HTLCs fund nothing, and their funders fund what the
    replacing HTLC funds (or, when it failed where it arrived, still the netted offer)."""
    res = run(case, mode)
    st, h = res.state, res.state["htlcs"]
    n = h["payment"].shape[0]
    att = st["attempt_table"]
    state = h["state"]
    by_hop = {(int(a), int(k)): i for i, (a, k) in enumerate(zip(h["attempt"], h["hop"]))}

    # the netted offers each replacing HTLC carries, inferred without nets: N's offer of the
    # payment's hash over the reverse direction, made when the offer was netted
    inferred = {}
    for g_ in np.flatnonzero(state == NETTED):
        p = int(st["hash_of"][h["payment"][g_]])
        carrier = [i for i in range(n) if h["payment"][i] == p and h["kind"][i] == 0
                   and h["direction"][i] == h["direction"][g_] ^ 1
                   and h["t_added_s"][i] == h["t_resolved_s"][g_]]
        assert len(carrier) == 1
        inferred.setdefault(carrier[0], set()).add(int(g_))
    assert {c: set(_chain_of(h, c)) for c in np.flatnonzero(h["nets"] >= 0)} == inferred

    twin = AssociationTable()

    def join(h_in, target):
        twin.associate(h_in, target)
        if h_in in inferred:
            twin.net_and_reassociate(sorted(inferred[h_in]), target)

    for i in range(n):  # offers, in the order they were made
        if h["hop"][i] > 0:
            join(by_hop[(int(h["attempt"][i]), int(h["hop"][i]) - 1)], ("htlc", i))
    for a in range(att["payment"].shape[0]):  # claims: an attempt whose last HTLC settled
        last = by_hop.get((a, int(att["n_hops"][a]) - 1))
        if last is not None and state[last] == SETTLED:
            join(last, ("payment", int(att["payment"][a])))
    assert h["funds"].tolist() == naive_funds_array(twin, n).tolist()
    netted = set(np.flatnonzero(state == NETTED).tolist())
    for i in range(n):
        assert sorted(_list_of(int(h["first_in"][i]), h)) == twin.incoming(("htlc", i)), i
    for p in range(st["pay_first_in"].shape[0]):
        assert sorted(_list_of(int(st["pay_first_in"][p]), h)) == twin.incoming(("payment", p)), p

    # structurally: lists mirror funds, no HTLC in two lists
    seen = Counter()
    for i in range(n):
        seen.update(_list_of(int(h["first_in"][i]), h))
    for p in range(st["pay_first_in"].shape[0]):
        seen.update(_list_of(int(st["pay_first_in"][p]), h))
    assert all(v == 1 for v in seen.values())
    assert set(seen) == set(np.flatnonzero(h["funds"] != -1).tolist())
    assert not netted & set(seen)
    for carrier, chain_ in inferred.items():
        for g_ in chain_:
            assert h["funds"][g_] == -1
            funders = [by_hop[(int(h["attempt"][g_]), int(h["hop"][g_]) - 1)]]
            target = h["funds"][carrier]
            for f in funders:
                assert h["funds"][f] == (target if target != -1 else g_)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_routes_computed_ahead_change_nothing(case, mode):
    """prefetch_routes=False (every route searched when needed) gives identical tables."""
    ahead, live = run(case, mode), run(case, mode, prefetch=False)
    assert_same_results(ahead, live)


def test_a_circle_retry_computed_ahead_sees_the_peers_side_under_rebalance_too():
    """m-freed-before-retry under rebalance: N's circle retry, computed ahead while M -> N is held,
    is used only if nothing changed on N's channels since (M's side included), so the results are
    those of live searches."""
    case = replace(BY_ID["m-freed-before-retry"], id="m-freed-before-retry-rebalance",
                   config={"jit.variant": "rebalance", "sender.max_attempts": 2})
    assert run(case, "event").payments.equals(run(case, "event", prefetch=False).payments)


def test_multi_split_fits_the_event_queue():
    """N splits a 50M shortfall over five channels (10.89M each, 1% kept back): one event pushes
    six heap entries. However many HTLCs are stuck at the unresponsive Q meanwhile (around the
    event queue's first size), every stuck payment times out 600 s after it left and P0 is
    rescued: netted at 1.0 + 4L, done at 1.0 + 7L."""
    names = "SNMABCDEXYZQ"
    chans = [Ch("S", "N", CAP - RESERVE),
             Ch("N", "M", RESERVE + 50_000_000, ab=(1000, 150), ba=(500, 20))]
    for a in "ABCDE":  # N's own fee on N -> a keeps S's payment off these channels
        chans += [Ch("N", a, RESERVE + 11_000_000, ab=(100_000, 10_000)),
                  Ch(a, "M", CAP // 2, ab=(0, 0))]
    chans += [Ch(s, "Q", CAP - RESERVE) for s in "XYZ"]
    g = Graph(names, tuple(chans))
    config = {"jit.variant": "multi", "jit.max_circles": 5, "jit.budget": "none",
              "sender.max_attempts": 1}
    failures = []
    for stuck in range(1015, 1023):
        rows = [(i * 1e-4, "XYZ"[i % 3], "Q", 1_000_000) for i in range(stuck)]
        rows.append((1.0, "S", "M", X))
        try:
            res = simulate_scenario(g, rows, config, "event", unresponsive="Q")
        except AssertionError as e:  # InvariantViolation, or violations() != []
            failures.append((stuck, str(e)[:120]))
            continue
        pays = res.payments
        assert pays["failure_reason"][:stuck].to_list() == ["htlc_timeout"] * stuck
        assert [_t(v) for v in pays["t_done_s"][:stuck]] == [_t(r[0] + 600) for r in rows[:-1]]
        assert pays["succeeded"][-1] and _t(pays["t_done_s"][-1]) == _t(1.0 + 7 * L)
        jit = res.jit_events.row(0, named=True)
        assert (jit["outcome"], _t(jit["t_done_s"])) == ("rebalanced", _t(1.0 + 4 * L))
        assert (res.htlcs["state"] == "netted").sum() == 5
    assert failures == []
