"""Multipart payments (BOLT #4 basic MPP) as Core Lightning's ``pay`` makes them.

A multipart payment routes nothing itself: its parts do, each a payment of its own (launched and
retried by the one attempt launcher) on the payment's hash, so that what one part's failures teach
the sender counts for all of them at once, and each part's search sees the sender's balances with
the other parts' HTLCs locked.

Sender: the payment is pre-split into parts of about ``mpp.part_msat`` (Core Lightning's presplit
modifier: the target grows 16-fold until it takes at most ``mpp.max_splits`` parts), the fee budget
shared in proportion to the amounts. A part that fails retries the same amount, as a payment does
(Core Lightning's retry modifier comes before its adaptive splitter); once it ends (out of
attempts or time, or without a route) it is halved, while it is above ``mpp.min_part_msat`` and
the payment would have at most ``mpp.max_parts`` parts, the halves inheriting the attempts it had
left (at least one each). A part that ends and cannot be halved fails the payment; parts already
on their way are then failed by the receiver. Everything shares the payment's ``retry_for``.

Receiver: it holds the parts that arrive until they add up to the amount, then claims them all;
``mpp.timeout_s`` after the first arrived it fails every part it holds instead; the payment fails
(``mpp_timeout``) when the first of those failures reaches the sender, unless it failed before.
Parts arriving later start a new wait.
"""

import numpy as np

from fastsim.kernels._jit import njit
from fastsim.kernels.attempts import start_attempt, take_slot
from fastsim.kernels.forwarding import message_latency
from fastsim.kernels.layout import (
    C_PAYMENTS,
    EV_FAIL,
    EV_MPP_TIMEOUT,
    FAILED_PAYMENT,
    P_MPP_MAX_PARTS,
    P_MPP_MAX_SPLITS,
    P_MPP_MIN_PART,
    P_MPP_PART,
    P_MPP_TIMEOUT,
    PAY_PART,
    PENDING,
    REASON_MPP_TIMEOUT,
    REASON_NONE,
    SUCCEEDED,
)
from fastsim.kernels.state import finish, new_payment, schedule


@njit
def _new_part(q, amount, budget, max_attempts, t, pays, counters, retry):
    """A new part of multipart payment ``q``; returns its payment id."""
    c = counters[C_PAYMENTS]
    counters[C_PAYMENTS] += 1
    new_payment(pays, retry, c, np.int64(pays[0][q]), np.int64(pays[1][q]), np.int64(amount), t,
                PAY_PART, np.int64(budget), np.int64(max_attempts), pays[17][q], np.int64(q))
    pays[24][c] = q
    pays[25][q] += 1
    pays[26][q] += 1
    return c


@njit
def part_count(amount, params):
    """How many parts Core Lightning's presplit makes of ``amount``: parts of the target size, the
    target growing ``max_splits``-fold until that takes at most ``max_splits`` (and never more
    than ``max_parts``)."""
    target = np.int64(params[P_MPP_PART])
    max_splits = np.int64(params[P_MPP_MAX_SPLITS])
    while target * max_splits < amount:
        target *= max_splits
    return min(max((amount + target - 1) // target, 1), np.int64(params[P_MPP_MAX_PARTS]))


@njit
def _fail_payment(q, reason, t, pays):
    """Multipart payment ``q`` cannot complete: it fails now, and its open parts retry no more."""
    if pays[4][q] == PENDING:
        finish(pays, q, FAILED_PAYMENT, reason, t)
    pays[17][q] = min(pays[17][q], t)


@njit
def _launch(first, t, graph, topology, chan, node_version, pays, attempts, routes, know, htlcs,
            heap, counters, params, scratch, view, prefetch, retry, potentials):
    """Start parts ``first`` onwards (the parts just created), and the halves of any that find no
    route, until every new part has an attempt on its way or the payment fails."""
    c = first
    while c < counters[C_PAYMENTS]:
        if pays[12][c] == PAY_PART and pays[4][c] == PENDING and pays[6][c] == 0:
            q = np.int64(pays[24][c])
            if pays[4][q] != PENDING:  # an earlier part ended the payment: this one is not sent
                finish(pays, c, FAILED_PAYMENT, np.int64(pays[5][q]), t)
                pays[26][q] -= 1
            elif start_attempt(c, t, graph, topology, chan, node_version, pays, attempts, routes,
                               know, htlcs, heap, counters, params, scratch, view, prefetch, retry,
                               potentials) < 0:
                part_ended(c, t, pays, counters, params, retry)
        c += 1


@njit
def start(q, t, graph, topology, chan, node_version, pays, attempts, routes, know, htlcs, heap,
          counters, params, scratch, view, prefetch, retry, potentials):
    """The sender of multipart payment ``q`` splits it and starts every part."""
    amount, budget = pays[2][q], pays[15][q]
    n = part_count(amount, params)
    first = counters[C_PAYMENTS]
    given = np.int64(0)
    given_budget = np.int64(0)
    for i in range(n):
        share = amount // n + (1 if i < amount % n else 0)
        fees = budget - given_budget if i == n - 1 else budget * share // amount
        _new_part(q, share, fees, np.int64(pays[16][q]), t, pays, counters, retry)
        given += share
        given_budget += fees
    _launch(first, t, graph, topology, chan, node_version, pays, attempts, routes, know, htlcs,
            heap, counters, params, scratch, view, prefetch, retry, potentials)


@njit
def _can_halve(c, pays, params):
    q = np.int64(pays[24][c])
    return (pays[2][c] > params[P_MPP_MIN_PART] and pays[25][q] + 2 <= params[P_MPP_MAX_PARTS]
            and pays[4][q] == PENDING)


@njit
def part_ended(c, t, pays, counters, params, retry):
    """Part ``c`` failed for good (no route, or out of attempts or time): halved when it may be,
    else the payment fails with its reason. The halves are started by the caller (_launch)."""
    q = np.int64(pays[24][c])
    pays[26][q] -= 1
    if _can_halve(c, pays, params) and pays[5][c] != REASON_MPP_TIMEOUT and t < pays[17][q]:
        _halve(c, t, pays, counters, retry)
    else:
        _fail_payment(q, np.int64(pays[5][c]), t, pays)


@njit
def _halve(c, t, pays, counters, retry):
    """Two parts for the amount and budget of part ``c``, with the attempts it had left (at least
    one each), as Core Lightning's split payments inherit their parent's retries."""
    q = np.int64(pays[24][c])
    amount, budget = pays[2][c], pays[15][c]
    half = amount // 2
    fees = budget * half // amount
    left = max(pays[16][c] - pays[6][c], 1)
    _new_part(q, half, fees, left, t, pays, counters, retry)
    _new_part(q, amount - half, budget - fees, left, t, pays, counters, retry)


@njit
def on_attempt(c, t, graph, topology, chan, node_version, pays, attempts, routes, know, htlcs, heap,
               counters, params, scratch, view, prefetch, retry, potentials):
    """Part ``c`` is due to try again: once its payment has ended it stops; else it retries the
    same amount, and when that ends it (out of attempts or time, or no route) it is halved."""
    q = np.int64(pays[24][c])
    timed_out = pays[11][c] == REASON_MPP_TIMEOUT
    if pays[4][q] != PENDING or timed_out:
        take_slot(c, pays[0][c], t, node_version, retry, counters)  # what was computed ahead goes unused
        finish(pays, c, FAILED_PAYMENT, np.int64(pays[11][c]), t)
        pays[26][q] -= 1
        if timed_out:  # the sender learns now that the receiver gave up on the payment
            _fail_payment(q, REASON_MPP_TIMEOUT, t, pays)
        return
    if start_attempt(c, t, graph, topology, chan, node_version, pays, attempts, routes, know, htlcs,
                     heap, counters, params, scratch, view, prefetch, retry, potentials) < 0:
        first = counters[C_PAYMENTS]
        part_ended(c, t, pays, counters, params, retry)
        _launch(first, t, graph, topology, chan, node_version, pays, attempts, routes, know,
                htlcs, heap, counters, params, scratch, view, prefetch, retry, potentials)


@njit
def holds(q, delivered, t, pays, heap, counters, params):
    """The receiver got a part of ``delivered`` for multipart payment ``q``: returns whether it
    still waits for more (the first part starts its wait)."""
    if pays[27][q] == 0:
        schedule(heap, counters, t + params[P_MPP_TIMEOUT], EV_MPP_TIMEOUT, q)
    pays[27][q] += delivered
    pays[28][q] = t
    return pays[27][q] < pays[2][q]


@njit
def on_timeout(q, t, pays, attempts, htlcs, heap, counters, params):
    """The receiver stops waiting for the rest of ``q``: it fails every part it holds (the sender
    learns of it as their failures come back). Returns whether that changed anything (the payment
    may have been claimed)."""
    if pays[27][q] >= pays[2][q]:
        return False
    g = pays[10][q]
    while g != -1:
        a = htlcs[1][g]
        attempts[5][a] = -1  # the sender learns no channel from it
        attempts[7][a] = REASON_MPP_TIMEOUT
        schedule(heap, counters, t + message_latency(g, EV_FAIL, htlcs, attempts, params), EV_FAIL, g)
        nxt = htlcs[13][g]
        htlcs[11][g] = -1
        htlcs[13][g] = -1
        g = nxt
    pays[10][q] = -1
    pays[27][q] = 0
    return True


@njit
def on_part_settled(c, t, pays):
    """Part ``c`` settled at the sender; the payment succeeds with its last released part."""
    q = np.int64(pays[24][c])
    pays[26][q] -= 1
    pays[29][q] -= 1
    pays[7][q] += pays[7][c]
    pays[8][q] = max(pays[8][q], pays[8][c])
    if pays[29][q] == 0:
        finish(pays, q, SUCCEEDED, REASON_NONE, t)

