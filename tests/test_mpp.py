"""Multipart payments (issue 20), against outcomes derived by hand.

Each scenario is a tiny graph, a workload and a config; its expected outcome is derived from the
documented model (DESIGN.md 2.4 and 2.8; the docstring of ``fastsim.kernels.mpp``; the ``[mpp]``
keys of ``configs/default.toml``; README "What a run writes"; the docstrings of ``events``,
``forwarding`` and ``knowledge``), never copied from a run. The builder and the runner are those of
the JIT oracles (``tests/jitcases.py``): every channel has capacity ``CAP`` and a 1% reserve per
side, every hop takes ``L`` = 100 ms (no jitter), fees are BOLT #7 of the direction forwarded over.

The model under test, with ``mpp.enabled``:

* a payment routes nothing itself; its parts do, each a payment of its own on the payment's hash,
  numbered after the workload's payments in the order the sender makes them (``part`` in
  ``htlcs.parquet`` counts them from 1 per payment);
* pre-split: ``k = ceil(amount / target)`` parts, ``target = mpp.part_msat`` grown x
  ``mpp.max_splits`` until ``target * max_splits >= amount``, ``k <= mpp.max_parts``; the first
  ``amount % k`` parts 1 msat larger; the fee budget (``max(amount * 0.5%, 5000)``) shared pro rata,
  floor, the last part taking the remainder;
* the parts start one after the other in the same instant, each searching on the sender's own
  balances with the earlier parts' HTLCs locked, and on every failure any part of the payment
  learned (records are keyed by the hash);
* a part whose attempt failed for liquidity, or which finds no route, is halved (floor half, then
  the rest; budget likewise) while it is above ``mpp.min_part_msat`` and the payment has fewer than
  ``mpp.max_parts`` parts (the halves start at once, one after the other); otherwise it retries as a
  payment does; a part that ends without a route fails the payment (its reason), and the sender
  starts nothing more for it;
* the receiver holds arriving parts until they add up to the amount, then claims them all (each
  claimed last hop settles one L later, each earlier hop one L after the next); ``mpp.timeout_s``
  after the first part arrived it fails every part it holds instead (``mpp_timeout``: the fails
  leave it one L later and travel back hop by hop; the sender learns no channel from them);
* the payment succeeds when its last part settles at the sender; ``fee_msat`` is all parts' fees,
  ``hops`` the longest settled part's, ``attempts`` all parts' attempts, ``parts`` the parts made
  (halved ones included), ``parts_failed`` those that failed, ``t_last_part_s`` when the receiver
  got the last part it held or claimed.

Routes: the sender's cost model is the default ``probability`` one: a route costs its fees plus
``mu * amount_sat * -ln P`` per remote hop, ``P = (c + 1 - a) / (c + 1)`` with ``c`` the capacity,
or, once the payment learned that the hop failed at ``f``, ``c = f - 1``; the sender's own first
hop costs nothing and is usable when its spendable (balance above the reserve, in-flight HTLCs
locked) carries the HTLC. Unless a scenario says otherwise, two routes differ by their fees only,
with the same risk, so the cheaper one is taken when the sender's own channel can carry it.

Node names: S sender, R receiver, A and B the nodes the parts go through, U an unresponsive node,
T a second sender.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import pytest

from tests.jitcases import (
    CAP,
    RESERVE,
    Ch,
    Graph,
    L,
    assert_same_results,
    per_node,
    route,
    simulate_scenario,
)

CHEAP = (1000, 100)  # A -> R: base msat, ppm
DEAR = (1000, 200)  # B -> R (or U -> R): the same risk, a higher fee
FINAL_CLTV = 18  # engine.final_cltv_delta
DELTA = 40  # every direction's cltv_delta in the builder
HTLC_TIMEOUT = 5.0  # engine.htlc_timeout_s where an unresponsive node holds an HTLC
MPP = {"mpp.enabled": True}
PAY = "pay"  # ``funds`` of a last hop that pays the payment at the receiver


# --- the documented arithmetic ------------------------------------------------------------------

def fee_budget(amount: int) -> int:
    """maxfeepercent 0.5 with exemptfee 5000 msat (DESIGN 2.4), integer msat."""
    return max(amount * 5_000_000 // 1_000_000_000, 5000)


def part_count(amount: int, part_msat: int = 10_000_000, max_splits: int = 16,
               max_parts: int = 30) -> int:
    target = part_msat
    while target * max_splits < amount:
        target *= max_splits
    return min(-(-amount // target), max_parts)


def presplit(amount: int, k: int) -> list[tuple[int, int]]:
    """The parts' (amount, fee budget): the first ``amount % k`` 1 msat larger, the budget pro
    rata, floor, the last part taking the remainder."""
    budget = fee_budget(amount)
    amounts = [amount // k + (1 if i < amount % k else 0) for i in range(k)]
    shares = [budget * a // amount for a in amounts[:-1]]
    return list(zip(amounts, shares + [budget - sum(shares)]))


def halves(amount: int, budget: int) -> list[tuple[int, int]]:
    half = amount // 2
    share = budget * half // amount
    return [(half, share), (amount - half, budget - share)]


def risk(amount: int, upper: int = CAP) -> float:
    """The probability model's risk term of a remote hop (mu = 1) whose liquidity is believed
    uniform in [0, upper]."""
    return amount / 1000.0 * -math.log((upper + 1 - amount) / (upper + 1))


# --- expected HTLCs -----------------------------------------------------------------------------

def leg(g: Graph, path: str, amount: int, *, part: int, attempt: int, t0: float, end: str,
        t_end: float = 0.0, at: int = 0, payment: int = 0) -> list[dict]:
    """The HTLC rows of attempt ``attempt`` (its id across the run) of part ``part`` over ``path``
    delivering ``amount``, its first HTLC offered at ``t0``; each hop's HTLC is offered one L after
    the previous one. ``end``:

    * ``claimed``: the receiver claims at ``t_end``: the last hop settles at ``t_end + L``, each
      earlier one L after the next;
    * ``timeout``: the receiver fails it at ``t_end`` (its mpp timeout), resolved like a claim but
      failed; the held last hop funds nothing any more (-1);
    * ``failed``: node ``path[at]`` cannot forward when the HTLC reaches it (at ``t0 + at * L``):
      the HTLC into it fails one L later, each earlier one L after the next;
    * ``stuck``: node ``path[at]`` never answers: the node before it fails the HTLC
      ``HTLC_TIMEOUT`` after adding it, the failure travelling back one L per hop.

    Rows are keyed ``(attempt, hop)``; ``funds`` names the row the HTLC funds, ``PAY`` or -1."""
    hops = route(g, path, amount)
    n = len(hops)
    cltv = [FINAL_CLTV + DELTA * (n - 1 - i) for i in range(n)]
    added = [t0 + i * L for i in range(n)]
    if end in ("claimed", "timeout"):
        offered = n
        resolved = [t_end + (n - i) * L for i in range(n)]
        state = "settled" if end == "claimed" else "failed"
        last_funds = PAY if end == "claimed" else -1
    elif end == "failed":
        offered = at
        t_fail = t0 + at * L
        resolved = [t_fail + (at - i) * L for i in range(at)]
        state, last_funds = "failed", -1
    elif end == "stuck":
        offered = at
        t_fail = added[at - 1] + HTLC_TIMEOUT
        resolved = [t_fail + (at - 1 - i) * L for i in range(at)]
        state, last_funds = "failed", -1
    else:
        raise ValueError(end)
    rows = []
    for i in range(offered):
        _, a, b, amt = hops[i]
        rows.append(dict(key=(attempt, i), payment=payment, attempt=attempt, part=part, hop=i, a=a,
                         b=b, amount=amt, state=state, t_added=added[i], t_resolved=resolved[i],
                         cltv=cltv[i],
                         funds=(attempt, i + 1) if i < offered - 1 else last_funds))
    return rows


def in_order(legs: list[list[dict]], order: list[tuple[int, int]]) -> list[dict]:
    """The rows of ``legs`` in the order the HTLCs were offered (``order`` lists their keys)."""
    rows = {row["key"]: row for rows in legs for row in rows}
    assert sorted(order) == sorted(rows), "every HTLC listed once"
    return [rows[k] for k in order]


def fee_of(rows: list[dict]) -> int:
    """What a settled attempt cost its sender: its first HTLC beyond its last."""
    return rows[0]["amount"] - rows[-1]["amount"]


# --- scenarios as data --------------------------------------------------------------------------

def paid(ok, *, attempts, t_done, parts, parts_failed=0, t_last=None, fee=0, hops=0, t_start=0.0,
         reason=None) -> dict:
    """A row of payments.parquet (the columns this oracle checks)."""
    return dict(succeeded=ok, failure_reason=None if ok else reason, attempts=attempts, hops=hops,
                fee_msat=fee, t_start_s=t_start, t_done_s=t_done, parts=parts,
                parts_failed=parts_failed, t_last_part_s=t_last)


@dataclass
class Expect:
    htlcs: list[dict]  # every HTLC, in the order offered
    payments: list[dict]


@dataclass
class Case:
    id: str
    shows: str
    graph: Graph
    payments: list[tuple]  # (t_arrival_s, src, dst, amount_msat)
    expect: Expect
    atomic: Expect | None = None  # when atomic mode differs (the payments overlap in time)
    config: dict = field(default_factory=dict)
    unresponsive: str = ""
    # per payment, the columns whose derivation the code disputes (with t_done_s, completion_s):
    # checked by test_the_sender_learns_the_receivers_timeout_late, not by test_scenario
    xfail: str | None = None  # the code disagrees with the whole derivation: why


def two_routes(s_a: int, s_b: int, *, a_r: int = CAP // 2, b_r: int = CAP // 2, ar=CHEAP,
               br=DEAR) -> Graph:
    """S -> A -> R and S -> B -> R, S holding ``s_a`` on S -> A and ``s_b`` on S -> B."""
    return Graph("SABR", (Ch("S", "A", s_a), Ch("S", "B", s_b), Ch("A", "R", a_r, ab=ar),
                          Ch("B", "R", b_r, ab=br)))


def split_cases() -> list[Case]:
    """Issue 20's first test: a payment that succeeds only in parts."""
    x = 100_000_000
    g = two_routes(RESERVE + 60_000_000, RESERVE + 60_000_000)
    # S can spend 60M on each channel: X (plus a fee) fits neither, X/2 plus its fee fits each
    assert x + g.fee("A", "R", x) > 60_000_000 >= x // 2 + g.fee("B", "R", x // 2)
    cfg = {**MPP, "mpp.part_msat": 50_000_000}
    assert part_count(x, 50_000_000) == 2
    # part 1 takes the cheaper S -> A -> R; S -> A then keeps 60M - 50_006_000: part 2 over B.
    # Both arrive at R at 2L; the second completes the amount: R claims at 2L
    p1 = leg(g, "SAR", x // 2, part=1, attempt=0, t0=0.0, end="claimed", t_end=2 * L)
    p2 = leg(g, "SBR", x // 2, part=2, attempt=1, t0=0.0, end="claimed", t_end=2 * L)
    assert 60_000_000 - p1[0]["amount"] < p2[0]["amount"]
    split = Expect(htlcs=in_order([p1, p2], [(0, 0), (1, 0), (0, 1), (1, 1)]),
                   payments=[paid(True, attempts=2, hops=2, fee=fee_of(p1) + fee_of(p2),
                                  t_done=4 * L, parts=2, t_last=2 * L)])
    # the same payment in one part: S finds no route (its own channels cannot carry it)
    single = Expect(htlcs=[], payments=[paid(False, attempts=0, reason="no_route", t_done=0.0,
                                             parts=1)])

    # k = 1 (the part size above the amount): the whole part finds no route and is halved, and
    # each half that finds no route again, while the halves start one after the other at 0:
    # S -> A holds 75M, S -> B 40M; A -> R is cheaper. Amounts odd: floor half first.
    y = 100_000_001
    gc = two_routes(RESERVE + 75_000_000, RESERVE + 40_000_000)
    assert part_count(y, 200_000_000) == 1
    a, b = 75_000_000, 40_000_000  # what S can spend on S -> A, S -> B
    h2, h3 = y // 2, y - y // 2  # part 1 halved: parts 2 and 3
    q2 = leg(gc, "SAR", h2, part=2, attempt=0, t0=0.0, end="claimed", t_end=2 * L)
    a -= q2[0]["amount"]
    # part 3 (50_000_001) fits neither channel now: halved into parts 4 and 5
    assert max(a, b) < h3
    h4, h5 = h3 // 2, h3 - h3 // 2
    assert route(gc, "SAR", h4)[0][3] > a  # part 4: not over A any more, over B
    q4 = leg(gc, "SBR", h4, part=4, attempt=1, t0=0.0, end="claimed", t_end=2 * L)
    b -= q4[0]["amount"]
    assert route(gc, "SAR", h5)[0][3] > a and route(gc, "SBR", h5)[0][3] > b  # part 5: halved
    h6, h7 = h5 // 2, h5 - h5 // 2
    q6 = leg(gc, "SAR", h6, part=6, attempt=2, t0=0.0, end="claimed", t_end=2 * L)
    a -= q6[0]["amount"]
    assert route(gc, "SAR", h7)[0][3] > a  # part 7: 1 msat more than part 6, over B
    q7 = leg(gc, "SBR", h7, part=7, attempt=3, t0=0.0, end="claimed", t_end=2 * L)
    assert q7[0]["amount"] <= b and h2 + h4 + h6 + h7 == y
    cascade = Expect(
        htlcs=in_order([q2, q4, q6, q7], [(0, 0), (1, 0), (2, 0), (3, 0),
                                          (0, 1), (1, 1), (2, 1), (3, 1)]),
        payments=[paid(True, attempts=4, hops=2, fee=sum(fee_of(q) for q in (q2, q4, q6, q7)),
                       t_done=4 * L, parts=7, parts_failed=3, t_last=2 * L)])
    return [
        Case("split-in-two", "Pre-split in two (mpp.part_msat 50M), the payment succeeds over both "
             "of S's channels, neither of which carries it whole.", g, [(0.0, "S", "R", x)], split,
             config=cfg),
        Case("split-needed-single-part-fails", "The same payment with mpp.enabled false finds no "
             "route: parts 1, t_last_part_s null.", g, [(0.0, "S", "R", x)], single,
             config={"mpp.enabled": False}),
        Case("no-route-halving-cascade", "One part (k = 1) that finds no route is halved, and so "
             "are the halves that find none, each searching with the earlier halves locked: "
             "7 parts, 3 failed, exact odd amounts.", gc, [(0.0, "S", "R", y)], cascade,
             config={**MPP, "mpp.part_msat": 200_000_000}),
    ]


def presplit_cases() -> list[Case]:
    """The pre-split with the default keys: 10,000 sat parts, the target growing 16-fold."""
    g = Graph("SAR", (Ch("S", "A", CAP // 2), Ch("A", "R", CAP // 2, ab=CHEAP)))
    x0, x1 = 100_000_007, 170_000_001
    k0, k1 = part_count(x0), part_count(x1)
    # 11 parts of about 10M (8 of them 1 msat larger); 170M > 16 x 10M: the target grows to 160M
    assert (k0, k1) == (11, 2)
    parts0 = [a for a, _ in presplit(x0, k0)]
    parts1 = [a for a, _ in presplit(x1, k1)]
    assert parts0 == [9_090_910] * 8 + [9_090_909] * 3 and parts1 == [85_000_001, 85_000_000]
    legs0 = [leg(g, "SAR", a, part=i + 1, attempt=i, t0=0.0, end="claimed", t_end=2 * L)
             for i, a in enumerate(parts0)]
    legs1 = [leg(g, "SAR", a, part=i + 1, attempt=k0 + i, t0=1.0, end="claimed", t_end=1.0 + 2 * L,
                 payment=1) for i, a in enumerate(parts1)]
    order = ([(i, 0) for i in range(k0)] + [(i, 1) for i in range(k0)]
             + [(k0 + i, 0) for i in range(k1)] + [(k0 + i, 1) for i in range(k1)])
    exp = Expect(htlcs=in_order(legs0 + legs1, order), payments=[
        paid(True, attempts=k0, hops=2, fee=sum(map(fee_of, legs0)), t_done=4 * L, parts=k0,
             t_last=2 * L),
        paid(True, attempts=k1, hops=2, fee=sum(map(fee_of, legs1)), t_start=1.0,
             t_done=1.0 + 4 * L, parts=k1, t_last=1.0 + 2 * L)])
    return [Case("presplit-defaults", "With the default [mpp] keys, 100_000_007 msat goes in 11 "
                 "parts (8 one msat larger) and 170_000_001 in 2 (the target grown to 160M).", g,
                 [(0.0, "S", "R", x0), (1.0, "S", "R", x1)], exp, config=MPP)]


def own_channel_cases() -> list[Case]:
    """Issue 20's fourth test: parts in flight at once see each other's locks on S's channels."""
    x = 100_000_000
    # a direct channel S -> R that carries 80M: one part of 50M, not two
    g = Graph("SAR", (Ch("S", "R", RESERVE + 80_000_000), Ch("S", "A", CAP // 2),
                      Ch("A", "R", CAP // 2, ab=CHEAP)))
    # part 1 goes direct (no fee, no remote risk); with its 50M locked S -> R keeps 30M: part 2
    # goes over A. It arrives one L later than part 1, and completes the amount at 2L
    p1 = leg(g, "SR", x // 2, part=1, attempt=0, t0=0.0, end="claimed", t_end=2 * L)
    p2 = leg(g, "SAR", x // 2, part=2, attempt=1, t0=0.0, end="claimed", t_end=2 * L)
    assert 80_000_000 >= x // 2 > 80_000_000 - x // 2
    exp = Expect(htlcs=in_order([p1, p2], [(0, 0), (1, 0), (1, 1)]),
                 payments=[paid(True, attempts=2, hops=2, fee=fee_of(p2), t_done=4 * L, parts=2,
                                t_last=2 * L)])
    # without mpp a payment goes in one part: its HTLCs carry part 0, its row parts 1 and no
    # t_last_part_s; R claims it as it arrives (L)
    one = leg(g, "SR", x // 2, part=0, attempt=0, t0=0.0, end="claimed", t_end=L)
    single = Expect(htlcs=in_order([one], [(0, 0)]),
                    payments=[paid(True, attempts=1, hops=1, fee=0, t_done=2 * L, parts=1)])
    return [Case("single-part-is-part-0", "With mpp.enabled false a payment's HTLCs carry part 0.",
                 g, [(0.0, "S", "R", x // 2)], single, config={"mpp.enabled": False}),
            Case("own-channel-locks", "Part 2 does not go over S -> R, which part 1's lock leaves "
                 "short: it goes over A. Fee: only part 2's; hops: the longer part's.", g,
                 [(0.0, "S", "R", x)], exp, config={**MPP, "mpp.part_msat": 50_000_000})]


def timeout_graph(*, with_t: bool = False) -> Graph:
    chans = (Ch("S", "R", RESERVE + 60_000_000), Ch("S", "A", RESERVE + 60_000_000),
             Ch("S", "U", RESERVE + 60_000_000), Ch("A", "R", RESERVE + 60_000_000, ab=CHEAP),
             Ch("U", "R", CAP // 2, ab=DEAR))
    if with_t:
        return Graph("SRAUT", chans + (Ch("T", "A", CAP // 2),))
    return Graph("SRAU", chans)


TIMEOUT = {**MPP, "mpp.part_msat": 50_000_000, "mpp.timeout_s": 1.0,
           "engine.htlc_timeout_s": HTLC_TIMEOUT}


def timeout_cases() -> list[Case]:
    """Issue 20's second test: the receiver fails every part it holds mpp.timeout_s after the first
    arrived; every lock is released."""
    x = 150_000_000
    g = timeout_graph()
    assert part_count(x, 50_000_000) == 3
    # S can spend 60M on each of S -> R, S -> A, S -> U: part 1 direct, part 2 over A (cheaper
    # than U), part 3 over U, which never answers: S fails its HTLC HTLC_TIMEOUT after adding it.
    # Part 1 arrives at L: R waits until L + 1.0; part 2 has arrived at 2L; part 3 never does.
    t_out = L + 1.0
    p1 = leg(g, "SR", x // 3, part=1, attempt=0, t0=0.0, end="timeout", t_end=t_out)
    p2 = leg(g, "SAR", x // 3, part=2, attempt=1, t0=0.0, end="timeout", t_end=t_out)
    p3 = leg(g, "SUR", x // 3, part=3, attempt=2, t0=0.0, end="stuck", at=1)
    assert t_out < HTLC_TIMEOUT
    # the payment failed at the sender when the first mpp_timeout failure reached it: part 1's,
    # one hop back, at t_out + L (part 2's reaches it at t_out + 2L)
    failed = paid(False, attempts=3, reason="mpp_timeout", t_done=t_out + L, parts=3,
                  parts_failed=3, t_last=2 * L)
    exp = Expect(htlcs=in_order([p1, p2, p3], [(0, 0), (1, 0), (2, 0), (1, 1)]),
                 payments=[failed])
    cases = [Case("mpp-timeout", "A part stuck at an unresponsive node: R fails the two parts it "
                  "holds at first arrival + mpp.timeout_s (mpp_timeout), every balance back.", g,
                  [(0.0, "S", "R", x)], exp, config=TIMEOUT, unresponsive="U")]

    # The same, and T pays R 40M over T -> A -> R at 0.5 and again at 2.0. A -> R carries 60M:
    # while part 2 holds 50M of it (from L to its failure at t_out + L) T's 40M fails there;
    # once R has failed the held parts, T's second payment goes through. T's part that fails is
    # neither halved (40M is not above mpp.min_part_msat 50M) nor retried (sender.max_attempts
    # 1: T could otherwise try T -> A -> S -> R and T -> A -> S -> U -> R, over the S -> A
    # channel's other direction; S's parts never retry here). T does not remember other
    # payments' failures (sender.remember_failures false).
    gt = timeout_graph(with_t=True)
    z = 40_000_000
    cfg = {**TIMEOUT, "mpp.min_part_msat": 50_000_000, "sender.max_attempts": 1,
           "sender.remember_failures": False}
    assert 60_000_000 - x // 3 < z <= 60_000_000 and z <= 50_000_000
    # event mode: parts are numbered after the 3 workload payments; attempts in start order
    e1 = leg(gt, "SR", x // 3, part=1, attempt=0, t0=0.0, end="timeout", t_end=t_out)
    e2 = leg(gt, "SAR", x // 3, part=2, attempt=1, t0=0.0, end="timeout", t_end=t_out)
    e3 = leg(gt, "SUR", x // 3, part=3, attempt=2, t0=0.0, end="stuck", at=1)
    f1 = leg(gt, "TAR", z, part=1, attempt=3, t0=0.5, end="failed", at=1, payment=1)
    f2 = leg(gt, "TAR", z, part=1, attempt=4, t0=2.0, end="claimed", t_end=2.0 + 2 * L, payment=2)
    event = Expect(
        htlcs=in_order([e1, e2, e3, f1, f2], [(0, 0), (1, 0), (2, 0), (1, 1), (3, 0), (4, 0),
                                              (4, 1)]),
        payments=[failed,
                  paid(False, attempts=1, reason="liquidity", t_start=0.5, t_done=0.5 + 2 * L,
                       parts=1, parts_failed=1),
                  paid(True, attempts=1, hops=2, fee=fee_of(f2), t_start=2.0, t_done=2.0 + 4 * L,
                       parts=1, t_last=2.0 + 2 * L)])
    # atomic mode: T's first payment starts once everything of S's has resolved (part 3's HTLC,
    # at HTLC_TIMEOUT): A -> R is whole again and it goes through; T's second starts when the
    # first is done and finds A -> R short by then
    t1 = HTLC_TIMEOUT
    a1 = leg(gt, "TAR", z, part=1, attempt=3, t0=t1, end="claimed", t_end=t1 + 2 * L, payment=1)
    t2 = t1 + 4 * L
    a2 = leg(gt, "TAR", z, part=1, attempt=4, t0=t2, end="failed", at=1, payment=2)
    atomic = Expect(
        htlcs=in_order([e1, e2, e3, a1, a2], [(0, 0), (1, 0), (2, 0), (1, 1), (3, 0), (3, 1),
                                              (4, 0)]),
        payments=[failed,
                  paid(True, attempts=1, hops=2, fee=fee_of(a1), t_start=t1, t_done=t1 + 4 * L,
                       parts=1, t_last=t1 + 2 * L),
                  paid(False, attempts=1, reason="liquidity", t_start=t2, t_done=t2 + 2 * L,
                       parts=1, parts_failed=1)])
    cases.append(Case(
        "mpp-timeout-releases-locks", "The held parts lock A -> R until R fails them: T's payment "
        "fails there before, succeeds after (atomic mode: both after, the first taking it).", gt,
        [(0.0, "S", "R", x), (0.5, "T", "R", z), (2.0, "T", "R", z)], event, atomic=atomic,
        config=cfg, unresponsive="U"))

    # S gives up first: part 2 finds no route (S -> B carries 40M) and may not be halved
    # (mpp.max_parts 2): the payment fails at 0 with no_route; part 1, already on its way, is
    # held at R from 2L and failed at 2L + mpp.timeout_s
    gg = two_routes(RESERVE + 60_000_000, RESERVE + 40_000_000)
    y = 100_000_000
    q1 = leg(gg, "SAR", y // 2, part=1, attempt=0, t0=0.0, end="timeout", t_end=2 * L + 1.0)
    assert 60_000_000 - q1[0]["amount"] < y // 2 and 40_000_000 < y // 2
    cases.append(Case(
        "sender-gives-up-first", "A part finds no route and cannot be halved: the payment fails "
        "at once (no_route); the part already sent is held and failed by R's timeout.", gg,
        [(0.0, "S", "R", y)],
        Expect(htlcs=in_order([q1], [(0, 0), (0, 1)]),
               payments=[paid(False, attempts=1, reason="no_route", t_done=0.0, parts=2,
                              parts_failed=2, t_last=2 * L)]),
        config={**MPP, "mpp.part_msat": 50_000_000, "mpp.max_parts": 2, "mpp.timeout_s": 1.0}))

    # The sender learns of R's timeout only when a failure brings it back. Part 1 goes direct
    # (S -> R carries 60M), part 2 over S -> A -> B -> C -> R, where C -> R carries 10M: C fails
    # it at 3L, S learns it at 6L. R, holding part 1 since L, fails it at L + 0.45 = 0.55; S
    # learns that at 0.65. At 6L S still waits for the payment: part 2 (not above
    # mpp.min_part_msat) retries, finds no route (C -> R failed at 50M; S -> R still has part 1
    # locked) and fails the payment with its reason, liquidity, at 6L.
    gl = Graph("SABCR", (Ch("S", "R", RESERVE + 60_000_000), Ch("S", "A", CAP // 2),
                         Ch("A", "B", CAP // 2), Ch("B", "C", CAP // 2),
                         Ch("C", "R", RESERVE + 10_000_000)))
    tau = 0.45
    assert 6 * L < L + tau + L and L + tau < 6 * L
    l1 = leg(gl, "SR", y // 2, part=1, attempt=0, t0=0.0, end="timeout", t_end=L + tau)
    l2 = leg(gl, "SABCR", y // 2, part=2, attempt=1, t0=0.0, end="failed", at=3)
    cases.append(Case(
        "sender-learns-timeout-late", "A part's liquidity failure reaches S after R's timeout but "
        "before S hears of it: S retries it, finds no route and fails the payment (liquidity) "
        "then.", gl, [(0.0, "S", "R", y)],
        Expect(htlcs=in_order([l1, l2], [(0, 0), (1, 0), (1, 1), (1, 2)]),
               payments=[paid(False, attempts=2, reason="liquidity", t_done=6 * L, parts=2,
                              parts_failed=2, t_last=L)]),
        config={**MPP, "mpp.part_msat": 50_000_000, "mpp.min_part_msat": 50_000_000,
                "mpp.timeout_s": tau}))
    return cases


def halving_cases() -> list[Case]:
    """Issue 20's third test: a part that failed for liquidity at a remote hop is halved."""
    x = 100_000_000
    cfg = {**MPP, "mpp.part_msat": 100_000_000}
    assert part_count(x, 100_000_000) == 1
    # A -> R carries 60M; S -> B carries 60M
    g = two_routes(CAP // 2, RESERVE + 60_000_000, a_r=RESERVE + 60_000_000)
    # the one part (100M) can only go over A (S -> B is too small); A fails it at L (A -> R
    # short), S learns it at 2L: A -> R failed at 100M, for every part of the payment
    p1 = leg(g, "SAR", x, part=1, attempt=0, t0=0.0, end="failed", at=1)
    (h2, _), (h3, _) = halves(x, fee_budget(x))
    # part 2 (50M) searches knowing A -> R holds less than 100M: P = 1/2 there. Over B it pays
    # the higher fee but takes the capacity's risk only: over B. (Without the failure learned,
    # A would be the cheaper.)
    over_a = g.fee("A", "R", h2) + risk(h2, upper=x - 1)
    over_b = g.fee("B", "R", h2) + risk(h2)
    assert over_b < over_a and g.fee("A", "R", h2) + risk(h2) < over_b
    p2 = leg(g, "SBR", h2, part=2, attempt=1, t0=2 * L, end="claimed", t_end=4 * L)
    # part 3: S -> B keeps 60M - 50_011_000: over A, where 60M is enough for 50M
    assert 60_000_000 - p2[0]["amount"] < h3 <= 60_000_000
    p3 = leg(g, "SAR", h3, part=3, attempt=2, t0=2 * L, end="claimed", t_end=4 * L)
    halved = Expect(htlcs=in_order([p1, p2, p3], [(0, 0), (1, 0), (2, 0), (1, 1), (2, 1)]),
                    payments=[paid(True, attempts=3, hops=2, fee=fee_of(p2) + fee_of(p3),
                                   t_done=6 * L, parts=3, parts_failed=1, t_last=4 * L)])
    # S -> B as large as S -> A: the whole part still goes over A first (cheaper), but may not be
    # halved (it is not above mpp.min_part_msat, or the payment has mpp.max_parts parts): it
    # retries as a payment does, over B, at 2L
    gb = two_routes(CAP // 2, CAP // 2, a_r=RESERVE + 60_000_000)
    r1 = leg(gb, "SAR", x, part=1, attempt=0, t0=0.0, end="failed", at=1)
    r2 = leg(gb, "SBR", x, part=1, attempt=1, t0=2 * L, end="claimed", t_end=4 * L)
    retried = Expect(htlcs=in_order([r1, r2], [(0, 0), (1, 0), (1, 1)]),
                     payments=[paid(True, attempts=2, hops=2, fee=fee_of(r2), t_done=6 * L,
                                    parts=1, t_last=4 * L)])
    return [
        Case("halved-after-remote-failure", "The one part fails at A for liquidity; its halves, "
             "knowing it at once, go over B and over A (where 50M fits): parts 3, parts_failed 1.",
             g, [(0.0, "S", "R", x)], halved, config=cfg),
        Case("min-part-retries-whole", "A part not above mpp.min_part_msat is not halved: it "
             "retries whole over B.", gb, [(0.0, "S", "R", x)], retried,
             config={**cfg, "mpp.min_part_msat": x}),
        Case("max-parts-retries-whole", "With mpp.max_parts 1 the part is not halved either.", gb,
             [(0.0, "S", "R", x)], retried, config={**cfg, "mpp.max_parts": 1}),
    ]


def budget_cases() -> list[Case]:
    """Issue 20's fifth test: one fee budget for the whole payment, shared pro rata."""
    x = 100_000_200
    cfg = {**MPP, "mpp.part_msat": 60_000_000}
    assert part_count(x, 60_000_000) == 2
    (a1, b1), (a2, b2) = presplit(x, 2)
    # budget 500_001: part 1 gets 250_000 (floor), part 2 the remainder 250_001
    assert (a1, a2, b1, b2, fee_budget(x)) == (50_000_100, 50_000_100, 250_000, 250_001, 500_001)
    own = RESERVE + 60_000_000  # S -> A and S -> B: one part each

    # fees at exactly each part's share: part 1 over A (the cheaper), part 2 over B; together
    # they pay the whole budget
    g = two_routes(own, own, ar=(50_000, 4000), br=(50_001, 4000))
    assert (g.fee("A", "R", a1), g.fee("B", "R", a2)) == (b1, b2)
    p1 = leg(g, "SAR", a1, part=1, attempt=0, t0=0.0, end="claimed", t_end=2 * L)
    p2 = leg(g, "SBR", a2, part=2, attempt=1, t0=0.0, end="claimed", t_end=2 * L)
    assert fee_of(p1) + fee_of(p2) == fee_budget(x)
    exact = Expect(htlcs=in_order([p1, p2], [(0, 0), (1, 0), (0, 1), (1, 1)]),
                   payments=[paid(True, attempts=2, hops=2, fee=fee_budget(x), t_done=4 * L,
                                  parts=2, t_last=2 * L)])

    # the same payment in one part (k = 1): it finds no route whole and is halved, the budget
    # likewise (floor half: 250_000, the rest: 250_001), the halves taking the same routes
    assert halves(x, fee_budget(x)) == [(a1, b1), (a2, b2)]
    assert part_count(x, 200_000_000) == 1
    h1 = leg(g, "SAR", a1, part=2, attempt=0, t0=0.0, end="claimed", t_end=2 * L)
    h2 = leg(g, "SBR", a2, part=3, attempt=1, t0=0.0, end="claimed", t_end=2 * L)
    exact_halves = Expect(htlcs=in_order([h1, h2], [(0, 0), (1, 0), (0, 1), (1, 1)]),
                          payments=[paid(True, attempts=2, hops=2, fee=fee_budget(x),
                                         t_done=4 * L, parts=3, parts_failed=1, t_last=2 * L)])

    # part 1 pays 249_000 over A, part 2's only route costs 250_500: over its share (250_001),
    # though the two fees (499_500) are within the payment's budget. Part 2 may not be halved
    # (mpp.max_parts 2): the payment fails at once (fee_budget); part 1, on its way, is held at R
    # from 2L until 2L + mpp.timeout_s
    gs = two_routes(own, own, ar=(49_000, 4000), br=(50_500, 4000))
    assert gs.fee("A", "R", a1) <= b1 and gs.fee("B", "R", a2) > b2
    assert gs.fee("A", "R", a1) + gs.fee("B", "R", a2) <= fee_budget(x)
    s1 = leg(gs, "SAR", a1, part=1, attempt=0, t0=0.0, end="timeout", t_end=2 * L + 1.0)
    share_limits = Expect(htlcs=in_order([s1], [(0, 0), (0, 1)]),
                          payments=[paid(False, attempts=1, reason="fee_budget", t_done=0.0,
                                         parts=2, parts_failed=2, t_last=2 * L)])
    # Both routes cost part 1 more than its share (250_001 over A, 250_002 over B): part 1, the
    # first started, finds no route within it and may not be halved: the payment fails at 0
    # (fee_budget). The sender starts nothing more for it: part 2, which could pay 250_001 over
    # A, is never sent (mpp's docstrings: "a part that ends without a route the payment fails
    # with it"; _launch starts the new parts "until every new part has an attempt on its way or
    # the payment fails"). No HTLC, no attempt, nothing held.
    gn = two_routes(own, own, ar=(50_001, 4000), br=(50_002, 4000))
    assert min(gn.fee("A", "R", a1), gn.fee("B", "R", a1)) > b1 and gn.fee("A", "R", a2) <= b2
    nothing_sent = Expect(htlcs=[], payments=[paid(False, attempts=0, reason="fee_budget",
                                                   t_done=0.0, parts=2, parts_failed=2)])
    return [
        Case("no-part-after-the-payment-failed", "The first part's share is short of every route: "
             "the payment fails at once, and its second part is not sent.", gn,
             [(0.0, "S", "R", x)], nothing_sent,
             config={**cfg, "mpp.max_parts": 2, "mpp.timeout_s": 1.0}),
        Case("budget-hit-exactly", "Each part's route costs exactly its share (the last part the "
             "remainder, 1 msat more): the payment pays its whole budget.", g,
             [(0.0, "S", "R", x)], exact, config=cfg),
        Case("budget-hit-exactly-after-halving", "A part halved (no route whole) shares its "
             "budget like its amount: each half's route costs exactly its share.", g,
             [(0.0, "S", "R", x)], exact_halves, config={**MPP, "mpp.part_msat": 200_000_000}),
        Case("budget-share-limits", "A part's share, not what the other part left, limits its "
             "route: it fails with fee_budget; the part sent is failed by R's timeout.", gs,
             [(0.0, "S", "R", x)], share_limits,
             config={**cfg, "mpp.max_parts": 2, "mpp.timeout_s": 1.0}),
    ]


CASES = (split_cases() + presplit_cases() + own_channel_cases() + timeout_cases()
         + halving_cases() + budget_cases())
BY_ID = {c.id: c for c in CASES}
MODES = ["event", "atomic"]


# --- running and checking -----------------------------------------------------------------------

def run(case: Case, mode: str, **kwargs):
    """The case in ``mode`` (its invariants asserted by the runner: ``violations == []``)."""
    return simulate_scenario(case.graph, case.payments, case.config, mode, adopters="",
                             unresponsive=case.unresponsive, **kwargs)


def check(case: Case, res, exp: Expect) -> None:
    """Every balance, HTLC, payment column and node total of the run against ``exp``. A payment
    whose receiver timed out fails at the sender when the first of those failures reaches it,
    and until then its parts go on as if it had not (README ``t_done_s``: "failed at the
    sender")."""
    g = case.graph
    rows = exp.htlcs
    settled = [r for r in rows if r["state"] == "settled"]
    # every direction's final balance: the settled HTLCs moved, nothing locked
    assert res.state["balance_msat"].tolist() == g.after(
        [("payment", r["a"], r["b"], r["amount"]) for r in settled])
    assert not res.state["inflight_msat"].any() and not res.state["inflight_count"].any()

    h = res.htlcs
    assert h.height == len(rows)
    ids = {r["key"]: i for i, r in enumerate(rows)}
    for i, (got, want) in enumerate(zip(h.iter_rows(named=True), rows)):
        funds = want["funds"]
        funds = -2 - want["payment"] if funds == PAY else ids[funds] if funds != -1 else -1
        assert {k: got[k] for k in ("id", "payment", "attempt", "part", "hop", "kind", "state",
                                    "direction", "amount_msat", "cltv_expiry", "funds")} == dict(
            id=i, payment=want["payment"], attempt=want["attempt"], part=want["part"],
            hop=want["hop"], kind="payment", state=want["state"],
            direction=g.d(want["a"], want["b"]), amount_msat=want["amount"],
            cltv_expiry=want["cltv"], funds=funds), i
        assert [got["t_added_s"], got["t_resolved_s"]] == pytest.approx(
            [want["t_added"], want["t_resolved"]], abs=1e-9), i

    # nodes: each forward earns what its incoming HTLC carried beyond it; the sender pays its
    # settled attempts' fees
    by_attempt: dict[int, list[dict]] = {}
    for r in settled:
        by_attempt.setdefault(r["attempt"], []).append(r)
    earned, fees_paid, forwards = Counter(), Counter(), Counter()
    for legs in by_attempt.values():
        legs.sort(key=lambda r: r["hop"])
        fees_paid[legs[0]["a"]] += fee_of(legs)
        for prev, nxt in zip(legs, legs[1:]):
            earned[nxt["a"]] += prev["amount"] - nxt["amount"]
            forwards[nxt["a"]] += 1
    sent, received = Counter(), Counter()
    for (_, src, dst, amount), want in zip(case.payments, exp.payments):
        if want["succeeded"]:
            sent[src] += amount
            received[dst] += amount
    nodes = res.nodes
    assert nodes["fees_earned_msat"].to_list() == per_node(g, earned)
    assert nodes["fees_paid_msat"].to_list() == per_node(g, fees_paid)
    assert nodes["forwards"].to_list() == per_node(g, forwards)
    assert nodes["sent_msat"].to_list() == per_node(g, sent)
    assert nodes["received_msat"].to_list() == per_node(g, received)
    assert (nodes["rebalance_fees_msat"] == 0).all() and (nodes["rebalances"] == 0).all()
    # the payments' fees are the fees S paid: nothing else was paid
    assert sum(p["fee_msat"] for p in exp.payments) == sum(fees_paid.values())

    assert res.payments.height == len(exp.payments)
    times = ("t_start_s", "t_done_s", "t_last_part_s")
    for i, (got, want) in enumerate(zip(res.payments.iter_rows(named=True), exp.payments)):
        assert {k: got[k] for k in want if k not in times} == {
            k: v for k, v in want.items() if k not in times}, i
        for k in times:
            if want[k] is None:
                assert got[k] is None, (i, k)  # null, not NaN
            else:
                assert got[k] == pytest.approx(want[k], abs=1e-9), (i, k)
        assert got["completion_s"] == pytest.approx(want["t_done_s"] - want["t_start_s"],
                                                    abs=1e-9), i

    summary = res.summary.row(0, named=True)
    assert summary["succeeded"] == sum(p["succeeded"] for p in exp.payments)
    reasons = Counter(want["failure_reason"] for want in exp.payments if not want["succeeded"])
    for reason in ("no_route", "liquidity", "fee_budget", "mpp_timeout", "htlc_timeout",
                   "retry_timeout"):
        assert summary[f"failed_{reason}"] == reasons[reason], reason


def expected(case: Case, mode: str) -> Expect:
    return case.atomic if mode == "atomic" and case.atomic is not None else case.expect


def as_params(cases):
    return [pytest.param(c, id=c.id, marks=pytest.mark.xfail(strict=True, reason=c.xfail))
            if c.xfail else pytest.param(c, id=c.id) for c in cases]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", as_params(CASES))
def test_scenario(case, mode):
    """Each scenario's exact outcome (see its ``shows``)."""
    check(case, run(case, mode), expected(case, mode))


@pytest.mark.parametrize("mode", MODES)
def test_split_is_what_makes_it_succeed(mode):
    """The headline of the first test, across cases: in one part the payment fails, in two it
    succeeds."""
    outcomes = {name: run(BY_ID[name], mode).payments["succeeded"][0]
                for name in ("split-in-two", "split-needed-single-part-fails")}
    assert outcomes == {"split-in-two": True, "split-needed-single-part-fails": False}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_routes_computed_ahead_change_nothing_with_mpp(case, mode):
    """prefetch_routes=False (every route searched when needed) gives identical tables."""
    ahead, live = run(case, mode), run(case, mode, prefetch_routes=False)
    assert_same_results(ahead, live)


@pytest.mark.parametrize("mode", MODES)
def test_one_part_never_halved_is_a_single_part_payment(mode):
    """MPP with parts larger than any payment and no halving pays each payment as one part: every
    payment's outcome, fee, attempts and hops are those of the run without MPP, on a random graph
    where many payments fail and retry."""
    from fastsim.config import load_config
    from fastsim.engine import simulate
    from fastsim.scenario import prepare

    base = {"network.synthetic_nodes": 150, "workload.n_payments": 1500, "engine.mode": mode,
            "liquidity.mode": "skewed"}
    whole = 10**15
    results = []
    for extra in ({}, {"mpp.enabled": True, "mpp.part_msat": whole, "mpp.min_part_msat": whole}):
        config = load_config(None, overrides={**base, **extra})
        scenario = prepare(config)
        results.append(simulate(scenario.network, scenario.workload, config,
                                balances=scenario.balances).payments)
    single, mpp = results
    # times differ by the latency jitter, drawn per payment id (the part is a payment of its own)
    columns = ["succeeded", "failure_reason", "attempts", "hops", "fee_msat", "parts"]
    assert mpp.select(columns).equals(single.select(columns))
    assert 0.2 < single["succeeded"].mean() < 0.95 and single["attempts"].max() > 2
