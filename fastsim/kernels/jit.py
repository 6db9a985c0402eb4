"""JIT-routing at a forwarding node N that is short of outbound liquidity (DESIGN.md 2.5).

An HTLC arrives at N, which must forward ``x`` over ``N -> M`` but can spend only ``a < x`` there.
If N adopts JIT (and the HTLC's payment is not nested deeper than ``jit.max_depth``), N decides on
its own knowledge: how much to move (``jit.amount``), what it may pay for it (``jit.budget``: when
the circle's fixed last hop alone costs more, N refuses without searching), and whether a rebalance
for that channel is already in flight (``jit.one_per_channel``). It then sends circles
``N -> A -> ... -> M -> N``: payments of its own, launched and retried by the same attempt launcher
as workload payments, each up to ``jit.max_circles`` attempts within ``jit.timeout_s``; N holds the
incoming HTLC meanwhile.

``rebalance`` (the original JIT-routing): one circle with its own hash. When it settles, N checks
its spendable again and forwards (or fails the HTLC back when a concurrent forward took the
liquidity). The rebalance is unconditional: its fees are paid and the liquidity stays moved
whatever becomes of the payment.

``conditional`` (same hash, "reverse the HTLC polarity"): the circle travels on the payment's hash
and ends with M offering ``y`` to N over ``M -> N``. When that offer reaches N, N nets: its offer of
``x`` to M and M's of ``y`` to N become one offer of ``x - y`` (M's ``y`` unlocked, ``x - y``
locked on ``N -> M``), the ``M -> N`` HTLC is netted, and the HTLCs M received on the circle join
in funding M's outgoing HTLC for the payment (or the payment, M being its receiver). Everything on
the hash then settles or fails with the payment: N pays the circle's fees only if it settles. So
that ``x - y`` stays an HTLC, ``y`` is at most ``x`` less ``N -> M``'s ``htlc_min``.

``multi``: as conditional, but when no single channel of N can fund the circle, N splits it over
up to ``jit.max_circles`` of its channels (the fullest first, each keeping 1% for fees), one circle
each with its first hop fixed; N nets all their offers in one step once every one has reached it.

When no circle works or the time is up, N fails the HTLC back as a liquidity failure, exactly as
without JIT; circle offers already at N are failed back with it.

Each decision is a row of the JIT table (``layout.JIT_FIELDS``); its circles are payments
``jit_circle`` onwards, whose attempts are the circles tried.
"""

import numpy as np

from fastsim.kernels._jit import njit
from fastsim.kernels.attempts import (FEE_RESERVE_PER_MILLE, attempt_row, fill_own, offer_first,
                                      start_attempt)
from fastsim.kernels.forwarding import fail_back, next_hop, offer_next
from fastsim.kernels.htlcs import NETTED
from fastsim.kernels.knowledge import record_failure
from fastsim.kernels.layout import (
    AMOUNT_MIDWAY,
    AMOUNT_PLUGIN,
    BUDGET_EARNINGS,
    BUDGET_FEE,
    C_JIT,
    C_PAYMENTS,
    EV_ATTEMPT,
    EV_HOLD_TIMEOUT,
    FAILED_PAYMENT,
    JIT_CONDITIONAL,
    JIT_MULTI,
    JIT_NONE,
    NO_DIRECTION,
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
    REASON_FEE_BUDGET,
    REASON_LIQUIDITY,
    REASON_NONE,
    SOURCE_HOLD,
)
from fastsim.kernels.routing import UNLIMITED
from fastsim.kernels.state import (
    SHORT,
    check_add,
    finish,
    new_payment,
    resolve,
    schedule,
    spendable,
)

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
def _decide(j, t, node, p, serial, direction, shortfall, jit):
    """Write the decision's row as it starts."""
    (jit_t, jit_node, jit_payment, jit_attempt, jit_depth, jit_direction, jit_shortfall, jit_amount,
     jit_budget, jit_held, jit_circle, jit_outcome, jit_forwarded, jit_needed, jit_lockup,
     jit_t_done, jit_circles, jit_ready, jit_nets) = jit
    jit_t[j] = t
    jit_node[j] = node
    jit_payment[j] = p
    jit_attempt[j] = serial
    jit_direction[j] = direction
    jit_shortfall[j] = shortfall
    jit_amount[j] = 0
    jit_budget[j] = 0
    jit_circle[j] = -1
    jit_outcome[j] = OUT_PENDING
    jit_forwarded[j] = 0
    jit_needed[j] = 0
    jit_lockup[j] = 0
    jit_t_done[j] = np.nan
    jit_circles[j] = 0
    jit_ready[j] = 0
    jit_nets[j] = -1


@njit
def _end(j, outcome, t, jit, pays):
    """Decision ``j`` ends: its circles may no longer retry."""
    jit[11][j] = outcome
    jit[15][j] = t
    for c in range(jit[10][j], jit[10][j] + jit[16][j]):
        pays[17][c] = min(pays[17][c], t)


@njit
def _new_circle(c, node, amount, last_hop, first_hop, budget, depth, hash_of, j, t, deadline,
                max_circles, pays, retry):
    """Payment ``c``: N's circle to itself over the fixed last hop."""
    new_payment(pays, retry, c, np.int64(node), np.int64(node), np.int64(amount), t, PAY_CIRCLE,
                np.int64(budget), np.int64(max_circles), deadline, np.int64(hash_of))
    pays[13][c] = depth
    pays[14][c] = last_hop
    pays[18][c] = j
    pays[21][c] = first_hop


@njit
def _split(node, direction, need, max_parts, topology, chan, params, own, create, c0, budget, j, t,
           depth, hash_of, pays, retry):
    """Multi: spread ``need`` over N's fullest channels (other than ``direction``), at most
    ``max_parts`` of them, each keeping back FEE_RESERVE_PER_MILLE for its circle's fees. Returns
    how many circles that takes, 0 if they cannot hold it all. With ``create``, writes the circle
    payments from ``c0`` on (a per-circle share of ``budget``)."""
    fill_own(node, topology, chan, params[P_MAX_HTLCS], own, np.True_)
    own[direction] = -1
    out_ptr, out_dir = topology[0], topology[1]
    remaining = need
    k = 0
    while remaining > 0 and k < max_parts:
        best = -1
        for i in range(out_ptr[node], out_ptr[node + 1]):
            e = out_dir[i]
            if own[e] > 0 and (best == -1 or own[e] > own[best]):
                best = e
        if best == -1:
            break
        y = min(remaining, own[best] * (1000 - FEE_RESERVE_PER_MILLE) // 1000)
        if y <= 0:
            break
        if create:
            share = budget if budget == UNLIMITED else budget * y // need
            _new_circle(c0 + k, node, y, direction ^ 1, best, share, depth, hash_of, j, t,
                        t + params[P_JIT_TIMEOUT], np.int64(params[P_JIT_MAX_CIRCLES]), pays, retry)
        own[best] = -1
        remaining -= y
        k += 1
    fill_own(node, topology, chan, params[P_MAX_HTLCS], own, np.False_)
    return k if remaining == 0 else 0


@njit
def _decision(node, p, serial, held, direction, x, t, pays, chan, counters, params, jit, jit_state):
    """A new JIT decision of ``node``, short of forwarding ``x`` over ``direction`` for the attempt
    numbered ``serial`` (in the run) of payment ``p`` (``held``: the incoming HTLC, or
    SOURCE_HOLD); returns its row, ended as ``busy`` when N has a rebalance for that channel in
    flight already."""
    j = counters[C_JIT]
    counters[C_JIT] += 1
    pays[19][p] += 1
    _decide(j, t, node, p, serial, direction, x - spendable(chan, direction), jit)
    jit[4][j] = pays[13][p]
    jit[9][j] = held
    if params[P_JIT_ONE_PER_CHANNEL] != 0.0 and jit_state[2][direction] > 0:
        _end(j, OUT_BUSY, t, jit, pays)
    return j


@njit
def _launch(j, held, x, fee_msat, t, graph, topology, chan, node_version, pays, attempts, routes,
            know, htlcs, heap, counters, params, scratch, view, prefetch, retry, potentials, jit,
            jit_state):
    """Decision ``j`` sends its circles for the forward of ``x`` it holds (``held``: the incoming
    HTLC, or SOURCE_HOLD); ``fee_msat`` is what the forward earns it. Returns whether it holds."""
    node, p, direction, shortfall = np.int64(jit[1][j]), np.int64(jit[2][j]), jit[5][j], jit[6][j]
    variant = np.int64(params[P_JIT_VARIANT])
    y = rebalance_amount(np.int64(params[P_JIT_AMOUNT]), shortfall, x, chan, topology, direction)
    conditional = variant == JIT_CONDITIONAL or variant == JIT_MULTI
    if conditional:  # the netting leaves N an offer of x - y, at least the channel's htlc_min
        y = min(y, x - max(topology[6][direction], 1))
    budget = rebalance_budget(np.int64(params[P_JIT_BUDGET]), params[P_JIT_BUDGET_FACTOR], fee_msat,
                              y, direction, jit_state)
    if held == SOURCE_HOLD:  # a sender pays its circles out of what its fee budget leaves
        budget = max(fee_msat, 0)
    jit[7][j] = y
    jit[8][j] = budget
    hash_of = pays[22][p] if conditional else counters[C_PAYMENTS]
    depth = pays[13][p] + 1
    c0 = counters[C_PAYMENTS]
    k = 1
    if y < shortfall or (conditional and spendable(chan, direction ^ 1) < y):
        k = 0  # nothing N could move here would do, or M cannot send it back
    elif variant == JIT_MULTI:
        k = _split(node, direction, y, np.int64(params[P_JIT_MAX_CIRCLES]), topology, chan, params,
                   view[0], np.False_, c0, budget, j, t, depth, hash_of, pays, retry)
    if k == 0:
        _end(j, OUT_NO_CIRCLE, t, jit, pays)
        return False
    jit[10][j] = c0
    jit[16][j] = k
    counters[C_PAYMENTS] += k
    if k == 1:  # one circle: its search picks the first hop
        _new_circle(c0, node, y, direction ^ 1, NO_DIRECTION, budget, depth, hash_of, j, t,
                    t + params[P_JIT_TIMEOUT], np.int64(params[P_JIT_MAX_CIRCLES]), pays, retry)
    else:
        _split(node, direction, y, np.int64(params[P_JIT_MAX_CIRCLES]), topology, chan, params,
               view[0], np.True_, c0, budget, j, t, depth, hash_of, pays, retry)
    jit[9][j] = held
    for c in range(c0, c0 + k):
        if start_attempt(c, t, graph, topology, chan, node_version, pays, attempts, routes, know,
                         htlcs, heap, counters, params, scratch, view, prefetch, retry,
                         potentials) < 0:
            # circles already on their way are failed when they reach N; the rest never start
            _end(j, OUT_REFUSED_BUDGET if pays[5][c] == REASON_FEE_BUDGET else OUT_NO_CIRCLE, t,
                 jit, pays)
            for unsent in range(c + 1, c0 + k):
                finish(pays, unsent, FAILED_PAYMENT, REASON_NONE, t)
            jit_state[2][direction] += c - c0
            return False
    jit_state[2][direction] += k
    pays[20][p] = j
    schedule(heap, counters, t + params[P_JIT_TIMEOUT], EV_HOLD_TIMEOUT, j)
    return True


@njit
def on_shortfall(h, direction, x, t, graph, topology, chan, node_version, pays, attempts, routes,
                 know, htlcs, heap, counters, params, scratch, view, prefetch, retry, potentials,
                 jit, jit_state):
    """HTLC ``h`` arrived at N, which is short of forwarding ``x`` over ``direction``. Returns True
    when N holds it for a rebalance; False when N fails it as it would without JIT (a decision it
    made on the way is recorded)."""
    node = topology[2][direction]
    p, a = np.int64(htlcs[0][h]), np.int64(htlcs[1][h])
    if (params[P_JIT_VARIANT] == JIT_NONE or not jit_state[0][node]
            or pays[13][p] > params[P_JIT_MAX_DEPTH]):
        return False
    j = _decision(node, p, attempts[8][a], h, direction, x, t, pays, chan, counters, params, jit, jit_state)
    # what N earns on the forward: h's amount, with the offers a netting upstream took off it
    fee_msat = htlcs[7][h] - x
    g = htlcs[14][h]
    while g != -1:
        fee_msat += htlcs[7][g]
        g = htlcs[13][g]
    return jit[11][j] == OUT_PENDING and _launch(
        j, h, x, fee_msat, t, graph, topology, chan, node_version, pays, attempts, routes,
        know, htlcs, heap, counters, params, scratch, view, prefetch, retry, potentials, jit,
        jit_state)


@njit
def on_source_shortfall(p, a, t, graph, topology, chan, node_version, pays, attempts, routes, know,
                        htlcs, heap, counters, params, scratch, view, prefetch, retry, potentials,
                        jit, jit_state):
    """Source JIT: the first hop of attempt ``a`` of payment ``p`` lacks the amount; the sender
    funds it with conditional circles from its other channels, paid out of what its fee budget
    leaves, and offers the netted first HTLC once their offers are in. Otherwise the attempt fails
    at once, and the sender keeps that this channel could not be funded for the payment."""
    start, n = attempts[2][a], attempts[3][a]
    direction, x = routes[0][start], routes[1][start]
    node = pays[0][p]
    j = _decision(node, p, attempts[8][a], SOURCE_HOLD, direction, x, t, pays, chan, counters, params, jit,
                  jit_state)
    left = pays[15][p] - (x - routes[1][start + n - 1])
    if jit[11][j] != OUT_PENDING or not _launch(
            j, SOURCE_HOLD, x, left, t, graph, topology, chan, node_version, pays, attempts, routes,
            know, htlcs, heap, counters, params, scratch, view, prefetch, retry, potentials, jit,
            jit_state):
        _source_fails(p, a, t, pays, attempts, routes, know, heap, counters, node_version)


@njit
def _source_fails(p, a, t, pays, attempts, routes, know, heap, counters, node_version):
    """The sender could not fund its first hop: the attempt fails, and it retries knowing so."""
    start = attempts[2][a]
    attempts[7][a] = REASON_LIQUIDITY
    pays[11][p] = REASON_LIQUIDITY
    record_failure(know, counters, np.int64(pays[0][p]), routes[0][start], routes[1][start], t, pays[22][p],
                   node_version)
    schedule(heap, counters, t, EV_ATTEMPT, p)


@njit
def _give_up(j, outcome, t, pays, attempts, routes, know, htlcs, heap, counters, node_version,
             params, retry, jit):
    """N stops waiting for decision ``j``: it fails the held HTLC back as a liquidity failure, and
    the circle offers it holds (the circles then fail back, and N pays nothing for them)."""
    _end(j, outcome, t, jit, pays)
    h = np.int64(jit[9][j])
    p = np.int64(jit[2][j])
    pays[20][p] = -1
    if h == SOURCE_HOLD:
        _source_fails(p, attempt_row(jit[3][j], attempts, counters), t, pays, attempts, routes,
                      know, heap, counters, node_version)
    else:
        e2, x, cltv = next_hop(h, htlcs, attempts, routes)
        fail_back(h, e2, x, REASON_LIQUIDITY, t, pays, attempts, htlcs, heap, counters, params,
                  retry)
    g = jit[18][j]
    while g != -1:
        nxt = htlcs[13][g]
        htlcs[13][g] = -1
        fail_back(np.int64(g), NO_DIRECTION, np.int64(0), REASON_NONE, t, pays, attempts, htlcs, heap,
                  counters, params, retry)
        g = nxt
    jit[18][j] = -1


@njit
def on_circle_end(c, succeeded, t, topology, chan, node_version, pays, attempts, routes, know, htlcs,
                  heap, counters, params, retry, jit, jit_state):
    """Circle payment ``c`` settled or gave up. Under ``rebalance`` N then forwards the HTLC it
    holds or fails it back; under the conditional variants a circle settles only with the payment,
    after the netting, and one that gives up before fails the decision."""
    j = np.int64(pays[18][c])
    direction = jit[5][j]
    jit_state[2][direction] -= 1
    if succeeded:
        jit_state[3][direction] += pays[7][c]
    if jit[11][j] != OUT_PENDING:
        return  # N stopped waiting (or netted already); what the circle did stays
    if not succeeded:
        _give_up(j, OUT_CIRCLES_FAILED, t, pays, attempts, routes, know, htlcs, heap, counters,
                 node_version, params, retry, jit)
        return
    h = np.int64(jit[9][j])
    pays[20][jit[2][j]] = -1
    e2, x, cltv = next_hop(h, htlcs, attempts, routes)
    _end(j, OUT_REBALANCED, t, jit, pays)
    jit[13][j] = spendable(chan, e2) - pays[2][c] < x
    reason = check_add(chan, topology, e2, x, params[P_MAX_HTLCS])
    if reason == REASON_NONE:
        jit[12][j] = 1
        offer_next(h, x, t, topology, chan, node_version, pays, attempts, routes, htlcs, heap,
                   counters, params)
    else:  # a concurrent forward took the liquidity meanwhile
        fail_back(h, e2, x, REASON_LIQUIDITY if reason == SHORT else reason, t, pays, attempts,
                  htlcs, heap, counters, params, retry)


@njit
def on_circle_offer(g, c, t, topology, chan, node_version, pays, attempts, routes, know, htlcs,
                    heap, counters, params, retry, jit):
    """The last HTLC ``g`` of conditional circle ``c`` (M's offer of y to N) reached N. N holds it
    until every circle of the decision has; then it nets them all with its offer to M."""
    j = np.int64(pays[18][c])
    if jit[11][j] != OUT_PENDING:  # N stopped waiting: it declines M's offer
        fail_back(np.int64(g), NO_DIRECTION, np.int64(0), REASON_NONE, t, pays, attempts, htlcs, heap,
                  counters, params, retry)
        return
    htlcs[13][g] = jit[18][j]
    jit[18][j] = g
    jit[17][j] += 1
    if jit[17][j] < jit[16][j]:
        return
    h, p = np.int64(jit[9][j]), np.int64(jit[2][j])
    a = attempt_row(jit[3][j], attempts, counters) if h == SOURCE_HOLD else np.int64(-1)
    if h == SOURCE_HOLD:
        e2, x = routes[0][attempts[2][a]], routes[1][attempts[2][a]]
    else:
        e2, x, cltv = next_hop(h, htlcs, attempts, routes)
    offered = np.int64(0)
    g = jit[18][j]
    while g != -1:
        offered += htlcs[7][g]
        g = htlcs[13][g]
    if check_add(chan, topology, e2, x - offered, params[P_MAX_HTLCS]) != REASON_NONE:
        # concurrent forwards took what N had left on N -> M: nothing to net with
        _give_up(j, OUT_CIRCLES_FAILED, t, pays, attempts, routes, know, htlcs, heap, counters,
                 node_version, params, retry, jit)
        return
    jit[13][j] = spendable(chan, e2) < x
    # one channel update on N <-> M: M's offers are withdrawn, N offers x - y instead of x
    g = jit[18][j]
    while g != -1:
        resolve(chan, topology, node_version, np.int64(htlcs[6][g]), htlcs[7][g], np.False_)
        htlcs[5][g] = NETTED
        htlcs[10][g] = t
        g = htlcs[13][g]
    if h == SOURCE_HOLD:
        h2 = offer_first(p, a, x - offered, t, topology, chan, node_version, pays, attempts, routes,
                         htlcs, heap, counters, params)
    else:
        h2 = offer_next(h, x - offered, t, topology, chan, node_version, pays, attempts, routes,
                        htlcs, heap, counters, params)
    htlcs[14][h2] = jit[18][j]
    jit[18][j] = -1
    jit[12][j] = 1
    pays[20][p] = -1
    _end(j, OUT_REBALANCED, t, jit, pays)


@njit
def on_hold_timeout(j, t, pays, attempts, routes, know, htlcs, heap, counters, node_version, params,
                    retry, jit):
    """N's wait for decision ``j``'s rebalance ran out: it fails the held HTLC back. Returns whether
    that changed anything (the decision may have ended before). A circle then still held by
    another JIT node counts as a lock-up."""
    if jit[11][j] != OUT_PENDING:
        return False
    for c in range(jit[10][j], jit[10][j] + jit[16][j]):
        if pays[20][c] >= 0:
            jit[14][j] = 1
    _give_up(j, OUT_TIMEOUT, t, pays, attempts, routes, know, htlcs, heap, counters, node_version,
             params, retry, jit)
    return True
