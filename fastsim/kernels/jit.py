"""JIT-routing at a forwarding node N that is short of outbound liquidity (DESIGN.md 2.5).

An HTLC arrives at N, which must forward ``x`` over ``N -> M`` but can spend only ``a < x`` there.
If N adopts JIT (and the HTLC's payment is not nested deeper than ``jit.max_depth``), N decides on
its own knowledge: how much to move (``jit.amount``), what it may pay for it (``jit.budget``: when
the circle's fixed last hop alone costs more, N refuses without searching), and whether a rebalance
for that channel is already in flight (``jit.one_per_channel``). It then sends a
circle ``N -> A -> ... -> M -> N``: a payment of its own, launched and retried by the same attempt
launcher as workload payments, up to ``jit.max_circles`` attempts within ``jit.timeout_s``.

Variant ``rebalance`` (the original JIT-routing): the circle has its own hash; N holds the incoming
HTLC until the circle settles, then checks its spendable again and forwards (or fails the HTLC back
when a concurrent forward took the liquidity). When no circle works or the time is up, N fails the
HTLC back as a liquidity failure, exactly as without JIT. The rebalance is unconditional: its fees
are paid and the liquidity stays moved whatever becomes of the payment.

Each decision is a row of the JIT table (``layout.JIT_FIELDS``); its circle is payment
``jit_circle``, whose attempts are the circles tried.
"""

import numpy as np

from fastsim.kernels._jit import njit
from fastsim.kernels.attempts import start_attempt
from fastsim.kernels.forwarding import fail_back, forward, next_hop
from fastsim.kernels.layout import (
    AMOUNT_MIDWAY,
    AMOUNT_PLUGIN,
    BUDGET_EARNINGS,
    BUDGET_FEE,
    C_JIT,
    C_PAYMENTS,
    EV_HOLD_TIMEOUT,
    JIT_NONE,
    OUT_BUSY,
    OUT_CIRCLES_FAILED,
    OUT_NO_CIRCLE,
    OUT_PENDING,
    OUT_REBALANCED,
    OUT_REFUSED_BUDGET,
    OUT_TIMEOUT,
    P_JIT_AMOUNT,
    P_JIT_BUDGET,
    P_JIT_BUDGET_FACTOR,
    P_JIT_MAX_CIRCLES,
    P_JIT_MAX_DEPTH,
    P_JIT_ONE_PER_CHANNEL,
    P_JIT_TIMEOUT,
    P_JIT_VARIANT,
    P_MAX_HTLCS,
    PAY_CIRCLE,
    PENDING,
    REASON_FEE_BUDGET,
    REASON_LIQUIDITY,
    REASON_NONE,
)
from fastsim.kernels.routing import UNLIMITED
from fastsim.kernels.state import SHORT, check_add, schedule, spendable

# CLBOSS's JitRebalancer: a free allowance, a share of what the outgoing channel earned, and a cap
# per rebalance (Boss/Mod/JitRebalancer.cpp: free_fee, max_fee_percent, max_rebalance_fee_percent,
# min_rebalance_fee)
EARNINGS_FREE_MSAT = 10_000
EARNINGS_SHARE = 0.25
EARNINGS_MAX_PER_REBALANCE = 0.005
EARNINGS_MIN_PER_REBALANCE_MSAT = 5_000


@njit
def rebalance_amount(policy, shortfall, x, chan, topology, direction):
    """How much N moves to direction ``N -> M`` when it is ``shortfall`` short of forwarding ``x``:
    the shortfall; 1.25 times it, rounded up (Core Lightning's jitrebalance plugin); or enough to
    bring N's side midway between ``x`` and the channel's capacity (CLBOSS), no more than M can send
    back and no less than the shortfall."""
    if policy == AMOUNT_PLUGIN:
        return (shortfall * 5 + 3) // 4
    if policy == AMOUNT_MIDWAY:
        midway = (x + topology[4][direction]) // 2 - chan[0][direction]
        return max(shortfall, min(midway, spendable(chan, direction ^ 1)))
    return shortfall


@njit
def rebalance_budget(policy, factor, fee_msat, amount_msat, direction, jit_state):
    """The most N pays for this rebalance: its fee on the forward times ``factor``; CLBOSS's
    earnings rule for the outgoing direction; or no limit."""
    if policy == BUDGET_FEE:
        return np.int64(fee_msat * factor)
    if policy == BUDGET_EARNINGS:
        earned, spent = jit_state[1][direction], jit_state[3][direction]
        left = EARNINGS_FREE_MSAT + np.int64(earned * EARNINGS_SHARE) - spent
        cap = max(np.int64(amount_msat * EARNINGS_MAX_PER_REBALANCE), EARNINGS_MIN_PER_REBALANCE_MSAT)
        return max(min(left, cap), 0)
    return UNLIMITED


@njit
def _decide(j, t, node, p, a, direction, shortfall, jit):
    (jit_t, jit_node, jit_payment, jit_attempt, jit_depth, jit_direction, jit_shortfall, jit_amount,
     jit_budget, jit_held, jit_circle, jit_outcome, jit_forwarded, jit_needed, jit_lockup,
     jit_t_done) = jit
    jit_t[j] = t
    jit_node[j] = node
    jit_payment[j] = p
    jit_attempt[j] = a
    jit_direction[j] = direction
    jit_shortfall[j] = shortfall
    jit_amount[j] = 0
    jit_budget[j] = 0
    jit_held[j] = -1
    jit_circle[j] = -1
    jit_outcome[j] = OUT_PENDING
    jit_forwarded[j] = 0
    jit_needed[j] = 0
    jit_lockup[j] = 0
    jit_t_done[j] = np.nan


@njit
def _end(j, outcome, t, jit):
    jit[11][j] = outcome
    jit[15][j] = t


@njit
def _new_circle(c, node, amount, last_hop, budget, depth, j, t, deadline, max_circles, pays, retry):
    """Payment ``c``: N's circle to itself over the fixed last hop."""
    (src, dst, amount_msat, t_start, status, reason, attempts_made, fee, hops, t_done, pay_first_in,
     last_reason, kind, pay_depth, pay_last_hop, budget_msat, max_attempts, deadline_s, jit_event,
     jit_events, held_by) = pays
    src[c] = node
    dst[c] = node
    amount_msat[c] = amount
    t_start[c] = t
    status[c] = PENDING
    reason[c] = REASON_NONE
    attempts_made[c] = 0
    fee[c] = 0
    hops[c] = 0
    t_done[c] = np.nan
    pay_first_in[c] = -1
    last_reason[c] = REASON_NONE
    kind[c] = PAY_CIRCLE
    pay_depth[c] = depth
    pay_last_hop[c] = last_hop
    budget_msat[c] = budget
    max_attempts[c] = max_circles
    deadline_s[c] = deadline
    jit_event[c] = j
    jit_events[c] = 0
    held_by[c] = -1
    retry[0][c] = -1


@njit
def on_shortfall(h, direction, x, t, graph, topology, chan, node_version, pays, attempts, routes,
                 know, htlcs, heap, counters, params, scratch, view, prefetch, retry, potentials,
                 jit, jit_state):
    """HTLC ``h`` arrived at N, which is short of forwarding ``x`` over ``direction``. Returns True
    when N holds it for a rebalance; False when N fails it as it would without JIT (a decision it
    made on the way is recorded)."""
    node = topology[2][direction]
    p, a = np.int64(htlcs[0][h]), np.int64(htlcs[1][h])
    depth = pays[13]
    if (params[P_JIT_VARIANT] == JIT_NONE or not jit_state[0][node]
            or depth[p] > params[P_JIT_MAX_DEPTH]):
        return False
    j = counters[C_JIT]
    counters[C_JIT] += 1
    pays[19][p] += 1
    shortfall = x - spendable(chan, direction)
    _decide(j, t, node, p, a, direction, shortfall, jit)
    jit[4][j] = depth[p]
    if params[P_JIT_ONE_PER_CHANNEL] != 0.0 and jit_state[2][direction] > 0:
        _end(j, OUT_BUSY, t, jit)
        return False
    y = rebalance_amount(np.int64(params[P_JIT_AMOUNT]), shortfall, x, chan, topology, direction)
    fee_msat = htlcs[7][h] - x
    budget = rebalance_budget(np.int64(params[P_JIT_BUDGET]), params[P_JIT_BUDGET_FACTOR], fee_msat, y,
                              direction, jit_state)
    jit[7][j] = y
    jit[8][j] = budget
    c = counters[C_PAYMENTS]
    counters[C_PAYMENTS] += 1
    jit[10][j] = c
    _new_circle(c, node, y, direction ^ 1, budget, depth[p] + 1, j, t, t + params[P_JIT_TIMEOUT],
                np.int64(params[P_JIT_MAX_CIRCLES]), pays, retry)
    if start_attempt(c, t, graph, topology, chan, node_version, pays, attempts, routes, know,
                     htlcs, heap, counters, params, scratch, view, prefetch, retry,
                     potentials) < 0:
        _end(j, OUT_REFUSED_BUDGET if pays[5][c] == REASON_FEE_BUDGET else OUT_NO_CIRCLE, t, jit)
        return False
    jit[9][j] = h
    jit_state[2][direction] += 1
    pays[20][p] = j
    schedule(heap, counters, t + params[P_JIT_TIMEOUT], EV_HOLD_TIMEOUT, j)
    return True


@njit
def on_circle_end(c, succeeded, t, topology, chan, node_version, pays, attempts, routes, htlcs, heap,
                  counters, params, retry, jit, jit_state):
    """Circle payment ``c`` settled or gave up: N forwards the HTLC it holds, or fails it back."""
    j = pays[18][c]
    direction = jit[5][j]
    jit_state[2][direction] -= 1
    if succeeded:
        jit_state[3][direction] += pays[7][c]
    if jit[11][j] != OUT_PENDING:
        return  # N stopped waiting; the rebalance it paid for stays
    h = jit[9][j]
    p = jit[2][j]
    pays[20][p] = -1
    e2, x, cltv = next_hop(h, htlcs, attempts, routes)
    if not succeeded:
        _end(j, OUT_CIRCLES_FAILED, t, jit)
        fail_back(h, e2, x, REASON_LIQUIDITY, t, pays, attempts, htlcs, heap, counters, params, retry)
        return
    _end(j, OUT_REBALANCED, t, jit)
    jit[13][j] = spendable(chan, e2) - pays[2][c] < x
    reason = check_add(chan, topology, e2, x, params[P_MAX_HTLCS])
    if reason == REASON_NONE:
        jit[12][j] = 1
        forward(h, t, topology, chan, node_version, pays, attempts, routes, htlcs, heap, counters,
                params)
    else:  # a concurrent forward took the liquidity meanwhile
        fail_back(h, e2, x, REASON_LIQUIDITY if reason == SHORT else reason, t, pays, attempts,
                  htlcs, heap, counters, params, retry)


@njit
def on_hold_timeout(j, t, pays, attempts, routes, htlcs, heap, counters, params, retry, jit):
    """N's wait for decision ``j``'s rebalance ran out: it fails the held HTLC back. Returns whether
    that changed anything (the decision may have ended before). A circle then still held by
    another JIT node counts as a lock-up."""
    if jit[11][j] != OUT_PENDING:
        return False
    _end(j, OUT_TIMEOUT, t, jit)
    jit[14][j] = pays[20][jit[10][j]] >= 0
    h = jit[9][j]
    pays[20][jit[2][j]] = -1
    e2, x, cltv = next_hop(h, htlcs, attempts, routes)
    fail_back(h, e2, x, REASON_LIQUIDITY, t, pays, attempts, htlcs, heap, counters, params, retry)
    return True
