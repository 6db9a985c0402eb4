"""The discrete-event engine: payments, HTLC adds, fulfils and fails on an event heap ordered by (time, seq).

Ground truth (balances, in-flight HTLCs, slots) lives in the channel-state arrays; every hop checks
it when a node adds an HTLC. Senders route on their own knowledge only (see ``routing``): their own
balances and the failures they were told about. Atomic mode is the same loop with no concurrency:
the next payment starts only once the previous one has resolved.

Routes are computed ahead in parallel where the result is known not to depend on what happens
before it is used: first routes of upcoming payments, and the retries of attempts whose failure is
on its way back to the sender. Each is computed on the sender's state as it will be when the
route is needed and used only if that state's version is then the one foreseen, so a run gives
the same results as one that searches every route when it is needed.

``run_events`` processes at most ``max_events`` events and returns a status so that Python can grow
the tables, show progress and honour Ctrl-C between chunks.
"""

import math

import numpy as np
from numba import prange

from fastsim.kernels._jit import njit
from fastsim.kernels.atomic import fetch_add
from fastsim.kernels.heap import heap_pop, heap_push
from fastsim.kernels.htlcs import (
    FAILED,
    KIND_PAYMENT,
    SETTLED,
    associate,
    htlc_append,
    payment_ref,
)
from fastsim.kernels.routing import (
    COST_LND,
    NO_FAILURE,
    POT_COUNT,
    POT_FIRST,
    POT_TIME,
    POT_USABLE,
    ROUTE_CLTV,
    ROUTE_FEE_BUDGET,
    ROUTE_OK,
    block_scratch_row,
    find_route,
)

# Codes and constant arguments passed to jitted functions are numpy scalars, not Python ints or
# bools: Numba compiles a separate copy of the callee for every literal it is called with.
EV_ATTEMPT = np.int64(0)
EV_ARRIVE = np.int64(1)
EV_SETTLE = np.int64(2)
EV_FAIL = np.int64(3)
EV_TIMEOUT = np.int64(4)  # an upstream node gives up on an HTLC its unresponsive peer never answered

PENDING = np.int64(0)
SUCCEEDED = np.int64(1)
FAILED_PAYMENT = np.int64(2)

REASON_NONE = np.int64(0)
REASON_NO_ROUTE = np.int64(1)
REASON_LIQUIDITY = np.int64(2)
REASON_FEE_BUDGET = np.int64(3)
REASON_HTLC_SLOTS = np.int64(4)
REASON_CLTV = np.int64(5)
REASON_TIMEOUT = np.int64(6)
REASON_NAMES = ("", "no_route", "liquidity", "fee_budget", "htlc_slots", "cltv", "timeout")

STATUS_DONE = 0
STATUS_CHUNK = 1
STATUS_NEED_SPACE = 2
STATUS_INVARIANT = 3
STATUS_PREFETCH = 4
STATUS_SPECULATE = 5

CHANNEL_FIELDS = ("balance_msat", "inflight_msat", "inflight_count", "reserve_msat")
PINNED = -2  # a prefetch entry given by the caller, used whatever the sender's state
# ``window``: first and end payment of the window, and the count of failure records when its
# routes were computed; ``pre_usable``: see _usable_mask
PREFETCH_FIELDS = ("window", "pre_version", "pre_status", "pre_n_hops", "pre_direction",
                   "pre_amount_msat", "pre_cltv", "pre_usable")
PAYMENT_FIELDS = ("src", "dst", "amount_msat", "t_arrival_s", "status", "reason", "attempts",
                  "fee_msat", "hops", "t_done_s", "pay_first_in", "last_reason")
ATTEMPT_FIELDS = ("payment", "number", "route_start", "n_hops", "t_start_s", "fail_direction",
                  "fail_amount_msat", "fail_reason")
TOPOLOGY_FIELDS = ("out_ptr", "out_dir", "dir_src", "dir_dst", "dir_capacity_msat", "enabled",
                   "htlc_min_msat", "htlc_max_msat")
ROUTE_FIELDS = ("route_direction", "route_amount_msat", "route_cltv")
KNOW_FIELDS = ("know_head", "know_direction", "know_amount_msat", "know_time_s", "know_payment",
               "know_next")
NODE_FIELDS = ("fees_earned_msat", "fees_paid_msat", "sent_msat", "received_msat", "forwards")
COUNTER_FIELDS = ("n_htlcs", "heap_size", "seq", "n_route", "n_attempts", "n_know", "next_payment",
                  "events", "bad_channel", "route_searches", "prefetched_routes_used", "free_slots",
                  "pending_slots", "speculated_retries", "speculated_retries_used",
                  "prefetched_routes_revalidated", "potentials_reused")
(C_HTLCS, C_HEAP, C_SEQ, C_ROUTE, C_ATTEMPTS, C_KNOW, C_NEXT_PAYMENT, C_EVENTS,
 C_BAD_CHANNEL, C_SEARCHES, C_PREFETCH_USED, C_FREE_SLOTS, C_PENDING_SLOTS, C_SPECULATED,
 C_SPECULATED_USED, C_REVALIDATED, C_REUSED) = range(len(COUNTER_FIELDS))
# Retries computed ahead: ``retry_slot[p]`` is payment p's slot (-1: none). A slot is taken when
# a failure is detected, computed in parallel with the other pending slots once a retry is due,
# and used if the sender's version is the one the computation predicted.
RETRY_FIELDS = ("retry_slot", "slot_attempt", "slot_time", "slot_delivered", "slot_version",
                "slot_status", "slot_n_hops", "slot_direction", "slot_amount_msat", "slot_cltv",
                "free_slots", "pending_slots")
UNCOMPUTED = -1
REUSED = -2
# Forward potentials (see routing.make_potential) that a sender's retry may reuse: per sender the
# last one kept at an attempt's start and its payment; the one of a live search; and those of
# retries and first routes computed ahead, per slot and per window entry. A count of REUSED marks
# the potential of a search that reused the sender's.
POTENTIAL_FIELDS = ("pot_payment", "pot_ints", "pot_floats", "live_pot_ints", "live_pot_floats",
                    "slot_pot_ints", "slot_pot_floats", "pre_pot_ints", "pre_pot_floats")
NO_DIRECTION = np.int64(-1)
NO_MSAT = np.int64(0)
FIRST_PART = np.int64(0)
SENDER_HOP = np.int64(0)

PARAM_FIELDS = ("mode_atomic", "cost_model", "mu", "apriori", "half_life_s", "attempt_cost_msat",
                "attempt_cost_ppm", "maxfeepercent", "exemptfee_msat", "max_hops", "max_cltv",
                "final_cltv", "max_attempts", "retry_for_s", "remember_failures",
                "max_accepted_htlcs", "latency_ms", "latency_jitter_ms", "seed", "debug_invariants",
                "htlc_timeout_s", "reuse_potentials")
(P_ATOMIC, P_COST, P_MU, P_APRIORI, P_HALF_LIFE, P_ATTEMPT_MSAT, P_ATTEMPT_PPM, P_MAXFEEPCT,
 P_EXEMPTFEE, P_MAX_HOPS, P_MAX_CLTV, P_FINAL_CLTV, P_MAX_ATTEMPTS, P_RETRY_FOR, P_REMEMBER,
 P_MAX_HTLCS, P_LATENCY, P_JITTER, P_SEED, P_DEBUG, P_HTLC_TIMEOUT, P_REUSE) = range(len(PARAM_FIELDS))

_FORGET_AFTER_HALF_LIVES = 10.0


@njit(inline="always")
def _mix64(x):
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _ziggurat_tables(tail, layers=128, area=9.91256303526217e-3):
    """Marsaglia and Tsang's ziggurat for the normal distribution (J. Stat. Soft. 5(8), 2000):
    per layer, the integer threshold of its fast path, its width per integer step, and the
    density at its edge."""
    scale = 2.0**31
    k = np.zeros(layers)
    w = np.zeros(layers)
    f = np.zeros(layers)
    edge = prev = tail
    q = area / math.exp(-0.5 * tail * tail)
    k[0], w[0], f[0] = (tail / q) * scale, q / scale, 1.0
    w[layers - 1], f[layers - 1] = tail / scale, math.exp(-0.5 * tail * tail)
    for i in range(layers - 2, 0, -1):
        edge = math.sqrt(-2.0 * math.log(area / edge + math.exp(-0.5 * edge * edge)))
        k[i + 1] = (edge / prev) * scale
        prev = edge
        f[i] = math.exp(-0.5 * edge * edge)
        w[i] = edge / scale
    return k, w, f


# constants of the distribution, not tunables: kernels read them as compile-time constants
_ZIG_TAIL = 3.442619855899
_ZIG_K, _ZIG_W, _ZIG_F = _ziggurat_tables(_ZIG_TAIL)


@njit(inline="always")
def _draw(h, k):
    """The k-th 64 random bits of the stream keyed by h (a counter-based generator)."""
    return _mix64(h + np.uint64(k + 1) * np.uint64(0x9E3779B97F4A7C15))


@njit(inline="always")
def _uniform(bits):
    """A uniform double in (0, 1] from 64 random bits."""
    return ((bits >> np.uint64(11)) + np.uint64(1)) * (1.0 / 9007199254740992.0)


@njit
def half_normal(h):
    """|N(0, 1)| drawn from the stream keyed by ``h``, by the ziggurat: one table test and a
    multiplication nearly always, logarithms and exponentials only in the rare slow path."""
    k = 0
    while True:
        hz = np.int64(np.int32(np.uint32(_draw(h, k) >> np.uint64(32))))
        k += 1
        layer = hz & 127
        x = hz * _ZIG_W[layer]
        if abs(hz) < _ZIG_K[layer]:
            return abs(x)
        if layer == 0:  # the tail beyond the base layer
            while True:
                x = -math.log(_uniform(_draw(h, k))) / _ZIG_TAIL
                y = -math.log(_uniform(_draw(h, k + 1)))
                k += 2
                if y + y >= x * x:
                    return _ZIG_TAIL + x
        u = _uniform(_draw(h, k))
        k += 1
        if _ZIG_F[layer] + u * (_ZIG_F[layer - 1] - _ZIG_F[layer]) < math.exp(-0.5 * x * x):
            return abs(x)


@njit
def hop_latency_s(seed, payment, attempt_number, hop, kind, latency_ms, jitter_ms):
    """Latency of one message, a pure function of what it is (so both modes draw the same)."""
    if jitter_ms == 0.0:
        return latency_ms / 1000.0
    h = _mix64(np.uint64(seed) + np.uint64(0x9E3779B97F4A7C15) * np.uint64(payment + 1))
    h = _mix64(h ^ np.uint64((attempt_number * 64 + hop) * 4 + kind))
    return (latency_ms + jitter_ms * half_normal(h)) / 1000.0


@njit(inline="always")
def _schedule(heap, counters, t, kind, obj):
    keys, ties, vals = heap
    counters[C_HEAP] = heap_push(keys, ties, vals, counters[C_HEAP], t, counters[C_SEQ],
                                 obj * 8 + kind)
    counters[C_SEQ] += 1


@njit
def _check_add(chan, topology, direction, amount, max_htlcs):
    """Ground-truth check of the node adding an HTLC; returns a failure reason or REASON_NONE."""
    balance, inflight, inflight_count, reserve = chan
    if not topology[5][direction] or amount < topology[6][direction] or amount > topology[7][direction]:
        # outside the channel's policy: BOLT #4's temporary_channel_failure, as for liquidity
        return REASON_LIQUIDITY
    if inflight_count[direction] >= max_htlcs:
        return REASON_HTLC_SLOTS
    if balance[direction] - amount < reserve[direction]:
        return REASON_LIQUIDITY
    return REASON_NONE


@njit
def _lock(chan, topology, node_version, direction, amount):
    balance, inflight, inflight_count, reserve = chan
    balance[direction] -= amount
    inflight[direction] += amount
    inflight_count[direction] += 1
    node_version[topology[2][direction]] += 1


@njit
def _resolve(chan, topology, node_version, direction, amount, settled):
    """Release an HTLC's lock: to the receiving side if settled, back to the sender if failed."""
    balance, inflight, inflight_count, reserve = chan
    inflight[direction] -= amount
    inflight_count[direction] -= 1
    node_version[topology[2][direction]] += 1
    if settled:
        balance[direction ^ 1] += amount
        node_version[topology[3][direction]] += 1
    else:
        balance[direction] += amount


@njit
def _channel_ok(chan, dir_capacity, direction):
    balance, inflight, inflight_count, reserve = chan
    d0 = direction & ~1
    d1 = d0 + 1
    if balance[d0] < 0 or balance[d1] < 0 or inflight[d0] < 0 or inflight[d1] < 0:
        return False
    return balance[d0] + balance[d1] + inflight[d0] + inflight[d1] == dir_capacity[d0]


@njit
def _load_knowledge(sender, payment, now_s, params, know, t_arrival, fail_amt, fail_age,
                    touched_dirs):
    """Materialize what ``sender`` learned from failures into per-direction scratch arrays; returns
    how many directions were touched.

    A payment reads its own records whatever their age; another payment's record counts while it
    is younger than a half-life (fee and probability models) or _FORGET_AFTER_HALF_LIVES of them
    (lnd's, whose penalties fade). A sender's records are linked newest first, so the walk ends at
    the first one too old to count that is also older than the payment: so are all after it.
    """
    know_head, know_direction, know_amount, know_time, know_payment, know_next = know
    half_life = params[P_HALF_LIFE]
    remember = params[P_REMEMBER] != 0.0
    lnd = int(params[P_COST]) == COST_LND
    forget_s = _FORGET_AFTER_HALF_LIVES * half_life
    n = 0
    r = know_head[sender]
    while r != -1:
        age = max(now_s - know_time[r], 0.0)
        if know_payment[r] != payment and (
                not remember or (age > forget_s if lnd else age >= half_life)):
            if know_time[r] < t_arrival[payment]:
                break
            r = know_next[r]
            continue
        e = know_direction[r]
        if fail_amt[e] == NO_FAILURE:
            touched_dirs[n] = e
            n += 1
            fail_age[e] = age
        fail_amt[e] = min(fail_amt[e], know_amount[r])
        fail_age[e] = min(fail_age[e], age)
        r = know_next[r]
    return n


@njit
def _forget(fail_amt, fail_age, touched_dirs, n_touched):
    for i in range(n_touched):
        fail_amt[touched_dirs[i]] = NO_FAILURE
        fail_age[touched_dirs[i]] = np.inf


@njit
def _finish(pays, p, status, reason, t):
    (src, dst, amount, t_arrival, pay_status, pay_reason, attempts, fee, hops, t_done,
     pay_first_in, last_reason) = pays
    pay_status[p] = status
    pay_reason[p] = reason
    t_done[p] = t


@njit
def _route(s, p, graph, pays, params, scratch, own_spendable, fail_amt, fail_age, route_dir,
           route_amt, route_cltv, reuse, kept_ints, kept_floats, out_ints, out_floats):
    """The route the sender ``s`` of payment ``p`` picks on the knowledge loaded in the arrays."""
    amount = pays[2][p]
    budget = _fee_budget(amount, params)
    return find_route(
        s, pays[1][p], amount, graph, own_spendable, fail_amt, fail_age, int(params[P_COST]),
        params[P_MU], params[P_APRIORI], params[P_HALF_LIFE], params[P_ATTEMPT_MSAT],
        params[P_ATTEMPT_PPM], budget, int(params[P_MAX_HOPS]), int(params[P_MAX_CLTV]),
        int(params[P_FINAL_CLTV]), scratch, route_dir, route_amt, route_cltv, reuse, kept_ints,
        kept_floats, out_ints, out_floats)


@njit(inline="always")
def _fee_budget(amount, params):
    return max(int(amount * params[P_MAXFEEPCT] / 100.0), int(params[P_EXEMPTFEE]))


@njit(inline="always")
def _copy_route(from_dir, from_amt, from_cltv, n_hops, routes, start):
    route_dir, route_amt, route_cltv = routes
    for i in range(n_hops):
        route_dir[start + i] = from_dir[i]
        route_amt[start + i] = from_amt[i]
        route_cltv[start + i] = from_cltv[i]


@njit
def _take_slot(p, s, t, node_version, retry, counters):
    """Free payment ``p``'s retry slot, if any; returns it when its route holds for the sender's
    state now, else -1."""
    (retry_slot, slot_attempt, slot_time, slot_delivered, slot_version, slot_status, slot_n_hops,
     slot_direction, slot_amount, slot_cltv, free_slots, pending) = retry
    slot = retry_slot[p]
    if slot < 0:
        return -1
    retry_slot[p] = -1
    free_slots[counters[C_FREE_SLOTS]] = slot
    counters[C_FREE_SLOTS] += 1
    if slot_version[slot] == UNCOMPUTED:
        # the only one pending (else the loop had them computed first): the route is searched live
        n = counters[C_PENDING_SLOTS]
        for i in range(n):
            if pending[i] == slot:
                pending[i] = pending[n - 1]
                counters[C_PENDING_SLOTS] = n - 1
                break
        return -1
    if slot_version[slot] == node_version[s] and slot_time[slot] == t:
        return slot
    return -1


@njit
def _register_retry(p, a, hop, t_first, pays, attempts, params, retry, counters):
    """Take a slot for the retry that follows when the failure of attempt ``a``, detected at hop
    ``hop`` and sent back at ``t_first``, reaches the sender; nothing when no retry will search."""
    t_arrival, attempts_made = pays[3], pays[6]
    att_number = attempts[1]
    (retry_slot, slot_attempt, slot_time, slot_delivered, slot_version, slot_status, slot_n_hops,
     slot_direction, slot_amount, slot_cltv, free_slots, pending) = retry
    if (counters[C_FREE_SLOTS] == 0 or retry_slot[p] >= 0
            or attempts_made[p] >= params[P_MAX_ATTEMPTS]):
        return
    # the failure travels back hop by hop, as the fail events will schedule it
    t_retry = t_first
    for hop_back in range(hop - 1, -1, -1):
        t_retry = t_retry + hop_latency_s(params[P_SEED], p, att_number[a], hop_back, EV_FAIL,
                                          params[P_LATENCY], params[P_JITTER])
    if t_retry - t_arrival[p] >= params[P_RETRY_FOR]:
        return
    counters[C_FREE_SLOTS] -= 1
    slot = free_slots[counters[C_FREE_SLOTS]]
    retry_slot[p] = slot
    slot_attempt[slot] = a
    slot_time[slot] = t_retry
    slot_delivered[slot] = 0
    slot_version[slot] = UNCOMPUTED
    pending[counters[C_PENDING_SLOTS]] = slot
    counters[C_PENDING_SLOTS] += 1


@njit
def _start_attempt(p, t, graph, topology, chan, node_version, pays, attempts, routes, know, htlcs,
                   heap, counters, params, scratch, own_spendable, fail_amt, fail_age, touched_dirs,
                   prefetch, retry, potentials):
    """The sender of payment ``p`` computes a route on its knowledge and offers the first HTLC.

    An attempt takes the route computed ahead for it (a prefetched first route, a speculated
    retry) when the sender's state is the one it was computed for (same result, computed earlier
    in parallel). Returns the direction it locked, or -1 when the payment ended instead."""
    (src, dst, amount, t_arrival, pay_status, pay_reason, attempts_made, fee, hops, t_done,
     pay_first_in, last_reason) = pays
    (att_payment, att_number, att_route_start, att_n_hops, att_t_start, att_fail_dir, att_fail_amt,
     att_fail_reason) = attempts
    route_dir, route_amt, route_cltv = routes
    window, pre_version, pre_status, pre_n_hops, pre_dir, pre_amt, pre_cltv, pre_usable = prefetch
    (pot_payment, pot_ints, pot_floats, live_ints, live_floats, slot_ints, slot_floats, pre_ints,
     pre_floats) = potentials
    s = src[p]
    slot = _take_slot(p, s, t, node_version, retry, counters)
    if attempts_made[p] >= params[P_MAX_ATTEMPTS]:
        _finish(pays, p, FAILED_PAYMENT, np.int64(last_reason[p]), t)
        return -1
    if attempts_made[p] > 0 and t - t_arrival[p] >= params[P_RETRY_FOR]:
        _finish(pays, p, FAILED_PAYMENT, REASON_TIMEOUT, t)
        return -1
    start = counters[C_ROUTE]
    j = p - window[0]
    if slot >= 0:
        (retry_slot, slot_attempt, slot_time, slot_delivered, slot_version, slot_status, slot_n_hops,
         slot_direction, slot_amount, slot_cltv, free_slots, pending) = retry
        n_hops = slot_n_hops[slot]
        status = slot_status[slot]
        counters[C_SPECULATED_USED] += 1
        _copy_route(slot_direction[slot], slot_amount[slot], slot_cltv[slot], n_hops, routes, start)
        found_ints, found_floats = slot_ints[slot], slot_floats[slot]
    elif (attempts_made[p] == 0 and 0 <= j < window[1] - window[0]
            and (pre_version[j] == node_version[s] or pre_version[j] == PINNED
                 or _still_valid(p, s, j, topology, chan, pays, know, params, prefetch, counters,
                                 own_spendable))):
        n_hops = pre_n_hops[j]
        status = pre_status[j]
        counters[C_PREFETCH_USED] += 1
        _copy_route(pre_dir[j], pre_amt[j], pre_cltv[j], n_hops, routes, start)
        found_ints, found_floats = pre_ints[j], pre_floats[j]
    else:
        counters[C_SEARCHES] += 1
        found_ints, found_floats = live_ints[0], live_floats[0]
        n_hops, status = _sender_route(
            s, p, t, graph, topology, chan, pays, know, params, scratch, own_spendable, fail_amt,
            fail_age, touched_dirs, NO_DIRECTION, NO_MSAT, NO_DIRECTION, NO_MSAT, route_dir[start:],
            route_amt[start:], route_cltv[start:], potentials, found_ints, found_floats)
    if status != ROUTE_OK:
        reason = last_reason[p]
        if reason == REASON_NONE:
            if status == ROUTE_FEE_BUDGET:
                reason = REASON_FEE_BUDGET
            elif status == ROUTE_CLTV:
                reason = REASON_CLTV
            else:
                reason = REASON_NO_ROUTE
        _finish(pays, p, FAILED_PAYMENT, reason, t)
        return -1
    a = counters[C_ATTEMPTS]
    counters[C_ATTEMPTS] += 1
    counters[C_ROUTE] += n_hops
    att_payment[a] = p
    att_number[a] = attempts_made[p]
    att_route_start[a] = start
    att_n_hops[a] = n_hops
    att_t_start[a] = t
    att_fail_dir[a] = -1
    att_fail_amt[a] = 0
    att_fail_reason[a] = REASON_NONE
    attempts_made[p] += 1
    if found_ints[POT_COUNT] == REUSED:
        counters[C_REUSED] += 1
    elif found_ints[POT_COUNT] >= 0:
        # the search that found this route searched forward: its potential is the sender's now
        pot_payment[s] = p
        for i in range(POT_FIRST + found_ints[POT_COUNT]):
            pot_ints[s, i] = found_ints[i]
            pot_floats[s, i] = found_floats[i]
    e0 = route_dir[start]
    reason = _check_add(chan, topology, e0, route_amt[start], params[P_MAX_HTLCS])
    if reason != REASON_NONE:  # cannot happen: the route used the sender's own spendable balance
        _finish(pays, p, FAILED_PAYMENT, reason, t)
        return -1
    h = htlc_append(htlcs, counters[C_HTLCS], p, a, FIRST_PART, SENDER_HOP, KIND_PAYMENT, e0, route_amt[start],
                    route_cltv[start], t)
    counters[C_HTLCS] += 1
    _lock(chan, topology, node_version, e0, route_amt[start])
    latency = hop_latency_s(params[P_SEED], p, att_number[a], SENDER_HOP, EV_ARRIVE,
                            params[P_LATENCY], params[P_JITTER])
    _schedule(heap, counters, t + latency, EV_ARRIVE, h)
    return e0


@njit
def _sender_route(s, p, t, graph, topology, chan, pays, know, params, scratch, own, fail_amt,
                  fail_age, touched, released_dir, released_msat, learned_dir, learned_msat, route_dir,
                  route_amt, route_cltv, potentials, out_ints, out_floats):
    """The route sender ``s`` picks for payment ``p`` at time ``t`` on its state now, with the HTLC
    of ``released_msat`` on its direction ``released_dir`` failed back and the failure
    ``learned_dir`` (below ``learned_msat``) known, when those are >= 0. It writes only to the
    scratch and outputs it is given, so that blocks can run it in parallel.

    A retry reuses the forward potential its payment's earlier search left with the sender when
    no cost that search priced has fallen since (see _potential_holds); a search that searched
    forward leaves its potential in ``out_*``, with the sender's own directions usable then."""
    max_htlcs = params[P_MAX_HTLCS]
    _fill_own(s, topology, chan, max_htlcs, own, np.True_)
    if released_dir >= 0:
        balance, inflight, inflight_count, reserve = chan
        if topology[5][released_dir] and inflight_count[released_dir] - 1 < max_htlcs:
            own[released_dir] = balance[released_dir] + released_msat - reserve[released_dir]
        else:
            own[released_dir] = -1
    n_known = _load_knowledge(s, p, t, params, know, pays[3], fail_amt, fail_age, touched)
    if learned_dir >= 0:  # as _load_knowledge reads the payment's own record of age 0
        if fail_amt[learned_dir] == NO_FAILURE:
            touched[n_known] = learned_dir
            n_known += 1
        fail_amt[learned_dir] = min(fail_amt[learned_dir], learned_msat)
        fail_age[learned_dir] = 0.0
    amount = pays[2][p]
    reuse = _potential_holds(s, p, t, topology, own, know, params, potentials, amount)
    pot_ints, pot_floats = potentials[1], potentials[2]
    n_hops, status = _route(s, p, graph, pays, params, scratch, own, fail_amt, fail_age, route_dir,
                            route_amt, route_cltv, reuse, pot_ints[s], pot_floats[s], out_ints,
                            out_floats)
    if reuse:
        out_ints[POT_COUNT] = REUSED
    elif out_ints[POT_COUNT] >= 0:
        out_ints[POT_USABLE] = _usable_mask(s, topology, own, amount, amount)
        out_floats[POT_TIME] = t
        if out_ints[POT_USABLE] < 0:
            out_ints[POT_COUNT] = -1
    _forget(fail_amt, fail_age, touched, n_known)
    _fill_own(s, topology, chan, max_htlcs, own, np.False_)
    return n_hops, status


@njit(parallel=True)
def compute_ahead(graph, topology, chan, node_version, pays, attempts, routes, know, params,
                  block_scratch, block_own, block_fail_amt, block_fail_age, block_touched, claimed,
                  prefetch, retry, counters, first_routes, potentials):
    """Compute, in parallel, the routes of the pending retries and, with ``first_routes``, the
    first routes of the payments in the prefetch window.

    Each route is computed as its sender would compute it then, on the sender's state now, and
    recorded with the version of that state it foresees; a changed version at the attempt marks
    it stale, and the route is searched live instead. A first route foresees no change. A retry
    whose failure has not reached its sender yet foresees the first HTLC failed back and the
    failure recorded, which add 2 to the version."""
    window, pre_version, pre_status, pre_n_hops, pre_dir, pre_amt, pre_cltv, pre_usable = prefetch
    (retry_slot, slot_attempt, slot_time, slot_delivered, slot_version, slot_status, slot_n_hops,
     slot_direction, slot_amount, slot_cltv, free_slots, pending) = retry
    (att_payment, att_number, att_route_start, att_n_hops, att_t_start, att_fail_dir, att_fail_amt,
     att_fail_reason) = attempts
    slot_ints, slot_floats, pre_ints, pre_floats = potentials[5:]
    route_dir, route_amt = routes[0], routes[1]
    src = pays[0]
    t_arrival = pays[3]
    n_blocks = block_own.shape[0]
    n_retries = counters[C_PENDING_SLOTS]
    n_first = window[1] - window[0] if first_routes else 0
    if first_routes:
        window[2] = counters[C_KNOW]
    claimed[0] = 0
    for b in prange(n_blocks):
        scratch = block_scratch_row(block_scratch, b)
        while True:
            i = fetch_add(claimed, 0, 1)  # the next item no block has taken
            if i >= n_retries + n_first:
                break
            released_dir, released_msat, learned_dir, learned_msat, ahead = -1, 0, -1, 0, 0
            slot = j = 0
            if i < n_retries:
                slot = pending[i]
                a = slot_attempt[slot]
                p = att_payment[a]
                t = slot_time[slot]
                if slot_delivered[slot] == 0:
                    released_dir = route_dir[att_route_start[a]]
                    released_msat = route_amt[att_route_start[a]]
                    learned_dir = att_fail_dir[a]
                    learned_msat = att_fail_amt[a] if att_fail_reason[a] == REASON_LIQUIDITY else 0
                    ahead = 2
                out = (slot_direction[slot], slot_amount[slot], slot_cltv[slot])
                out_pot = (slot_ints[slot], slot_floats[slot])
            else:
                j = i - n_retries
                p = window[0] + j
                t = t_arrival[p]
                out = (pre_dir[j], pre_amt[j], pre_cltv[j])
                out_pot = (pre_ints[j], pre_floats[j])
            s = src[p]
            version = node_version[s] + ahead
            n_hops, status = _sender_route(
                s, p, t, graph, topology, chan, pays, know, params, scratch, block_own[b],
                block_fail_amt[b], block_fail_age[b], block_touched[b], released_dir, released_msat,
                learned_dir, learned_msat, out[0], out[1], out[2], potentials, out_pot[0],
                out_pot[1])
            if i < n_retries:
                slot_n_hops[slot], slot_status[slot], slot_version[slot] = n_hops, status, version
            else:
                pre_n_hops[j], pre_status[j], pre_version[j] = n_hops, status, version
                pre_usable[j] = (_own_usable_mask(s, p, topology, chan, pays, params, block_own[b])
                                 if status == ROUTE_OK else -1)
    counters[C_SPECULATED] += n_retries
    counters[C_PENDING_SLOTS] = 0


@njit
def run_events(graph, topology, unresponsive, chan, node_version, pays, attempts, routes, know, htlcs, heap, nodes,
               counters, params, scratch, own_spendable, fail_amt, fail_age, touched_dirs, prefetch,
               retry, potentials, max_events):
    """Process up to ``max_events`` events; returns a ``STATUS_*`` code."""
    out_ptr, out_dir, dir_src, dir_dst, dir_capacity, enabled, htlc_min, htlc_max = topology
    balance, inflight, inflight_count, reserve = chan
    (src, dst, amount, t_arrival, pay_status, pay_reason, attempts_made, fee, hops, t_done,
     pay_first_in, last_reason) = pays
    (att_payment, att_number, att_route_start, att_n_hops, att_t_start, att_fail_dir, att_fail_amt,
     att_fail_reason) = attempts
    route_dir, route_amt, route_cltv = routes
    know_head, know_direction, know_amount, know_time, know_payment, know_next = know
    (h_payment, h_attempt, h_part, h_hop, h_kind, h_state, h_direction, h_amount, h_cltv,
     h_t_added, h_t_resolved, h_funds, h_first_in, h_next_in) = htlcs
    keys, ties, vals = heap
    (retry_slot, slot_attempt, slot_time, slot_delivered, slot_version, slot_status, slot_n_hops,
     slot_direction, slot_amount, slot_cltv, free_slots, pending) = retry
    fees_earned, fees_paid, sent, received, forwards = nodes
    n_payments = src.shape[0]
    atomic = params[P_ATOMIC] != 0.0
    debug = params[P_DEBUG] != 0.0
    max_htlcs = params[P_MAX_HTLCS]
    max_hops = int(params[P_MAX_HOPS])
    processed = 0
    while processed < max_events:
        # room for what one event can add: an HTLC, a route, an attempt, a record, two heap entries
        # (a resolution schedules one per funding HTLC: one in single-path payments)
        if (counters[C_HTLCS] + 1 > h_payment.shape[0]
                or counters[C_ROUTE] + max_hops > route_dir.shape[0]
                or counters[C_ATTEMPTS] + 1 > att_payment.shape[0]
                or counters[C_KNOW] + 1 > know_direction.shape[0]
                or counters[C_HEAP] + 2 > keys.shape[0]):
            return STATUS_NEED_SPACE
        nxt_p = counters[C_NEXT_PAYMENT]
        start_payment = False
        if nxt_p < n_payments:
            if counters[C_HEAP] == 0:
                start_payment = True
            elif not atomic and t_arrival[nxt_p] <= keys[0]:
                start_payment = True
        if start_payment:
            if nxt_p >= prefetch[0][1]:
                return STATUS_PREFETCH
            counters[C_NEXT_PAYMENT] += 1
            t = t_arrival[nxt_p]
            kind = EV_ATTEMPT
            obj = nxt_p
        elif counters[C_HEAP] > 0:
            t = keys[0]
            val = vals[0]
            if (val & 7 == EV_ATTEMPT and retry_slot[val >> 3] >= 0
                    and slot_version[retry_slot[val >> 3]] == UNCOMPUTED
                    and counters[C_PENDING_SLOTS] > 1):
                return STATUS_SPECULATE  # compute this retry with the other pending ones
            counters[C_HEAP] = heap_pop(keys, ties, vals, counters[C_HEAP])
            kind = val & 7
            obj = val >> 3
        else:
            return STATUS_DONE
        processed += 1
        counters[C_EVENTS] += 1
        touched = -1

        if kind == EV_ATTEMPT:
            touched = _start_attempt(obj, t, graph, topology, chan, node_version, pays, attempts,
                                     routes, know, htlcs, heap, counters, params, scratch,
                                     own_spendable, fail_amt, fail_age, touched_dirs, prefetch,
                                     retry, potentials)
        elif kind == EV_ARRIVE:
            h = obj
            # int64 like the other callers' values: each argument type compiles its own callee
            p, a, hop = np.int64(h_payment[h]), np.int64(h_attempt[h]), np.int64(h_hop[h])
            start = att_route_start[a]
            if unresponsive[dir_dst[h_direction[h]]]:
                # the peer never answers: the node that offered h fails it after the timeout
                att_fail_dir[a] = h_direction[h]
                att_fail_amt[a] = h_amount[h]
                att_fail_reason[a] = REASON_TIMEOUT
                _schedule(heap, counters, h_t_added[h] + params[P_HTLC_TIMEOUT], EV_TIMEOUT, h)
            elif hop == att_n_hops[a] - 1:
                # the receiver got the whole payment: it releases the preimage
                _schedule(heap, counters, t + hop_latency_s(params[P_SEED], p, att_number[a], hop,
                                                            EV_SETTLE, params[P_LATENCY],
                                                            params[P_JITTER]), EV_SETTLE, h)
                associate(h_funds, h_first_in, h_next_in, pay_first_in, h, payment_ref(p))
            else:
                e2 = route_dir[start + hop + 1]
                amt2 = route_amt[start + hop + 1]
                reason = _check_add(chan, topology, e2, amt2, max_htlcs)
                if reason == REASON_NONE and route_cltv[start + hop] > params[P_MAX_CLTV]:
                    reason = REASON_CLTV
                if reason == REASON_NONE:
                    h2 = htlc_append(htlcs, counters[C_HTLCS], p, a, np.int64(h_part[h]), hop + 1,
                                     KIND_PAYMENT, e2, amt2, route_cltv[start + hop + 1], t)
                    counters[C_HTLCS] += 1
                    _lock(chan, topology, node_version, e2, amt2)
                    touched = e2
                    associate(h_funds, h_first_in, h_next_in, pay_first_in, h, h2)
                    _schedule(heap, counters,
                              t + hop_latency_s(params[P_SEED], p, att_number[a], hop + 1,
                                                EV_ARRIVE, params[P_LATENCY], params[P_JITTER]),
                              EV_ARRIVE, h2)
                else:
                    att_fail_dir[a] = e2
                    att_fail_amt[a] = amt2
                    att_fail_reason[a] = reason
                    t_fail = t + hop_latency_s(params[P_SEED], p, att_number[a], hop, EV_FAIL,
                                               params[P_LATENCY], params[P_JITTER])
                    _schedule(heap, counters, t_fail, EV_FAIL, h)
                    _register_retry(p, a, hop, t_fail, pays, attempts, params, retry, counters)
        else:
            h = obj
            settled = kind == EV_SETTLE
            p, a = np.int64(h_payment[h]), np.int64(h_attempt[h])
            if kind == EV_TIMEOUT:
                _register_retry(p, a, np.int64(h_hop[h]), t, pays, attempts, params, retry, counters)
            kind = EV_SETTLE if settled else EV_FAIL
            e = h_direction[h]
            _resolve(chan, topology, node_version, e, h_amount[h], settled)
            touched = e
            h_state[h] = SETTLED if settled else FAILED
            h_t_resolved[h] = t
            # the resolution travels on to every incoming HTLC that funded this one
            g = h_first_in[h]
            while g != -1:
                latency = hop_latency_s(params[P_SEED], p, att_number[a], np.int64(h_hop[g]), kind,
                                        params[P_LATENCY], params[P_JITTER])
                _schedule(heap, counters, t + latency, kind, g)
                g = h_next_in[g]
            if h_hop[h] == 0:
                s = src[p]
                if settled:
                    start = att_route_start[a]
                    n = att_n_hops[a]
                    total_fee = route_amt[start] - amount[p]
                    fee[p] = total_fee
                    hops[p] = n
                    fees_paid[s] += total_fee
                    sent[s] += amount[p]
                    received[dst[p]] += amount[p]
                    for i in range(1, n):
                        node = dir_src[route_dir[start + i]]
                        fees_earned[node] += route_amt[start + i - 1] - route_amt[start + i]
                        forwards[node] += 1
                    _finish(pays, p, SUCCEEDED, REASON_NONE, t)
                else:
                    last_reason[p] = att_fail_reason[a]
                    r = counters[C_KNOW]
                    counters[C_KNOW] += 1
                    know_direction[r] = att_fail_dir[a]
                    know_amount[r] = att_fail_amt[a] if att_fail_reason[a] == REASON_LIQUIDITY else 0
                    know_time[r] = t
                    know_payment[r] = p
                    know_next[r] = know_head[s]
                    know_head[s] = r
                    node_version[s] += 1
                    if retry_slot[p] >= 0:
                        slot_delivered[retry_slot[p]] = 1
                    _schedule(heap, counters, t, EV_ATTEMPT, p)
        if debug and touched >= 0 and not _channel_ok(chan, dir_capacity, touched):
            counters[C_BAD_CHANNEL] = touched >> 1
            return STATUS_INVARIANT
    return STATUS_CHUNK


@njit
def _fill_own(sender, topology, chan, max_htlcs, own_spendable, fill):
    """Set (or clear) the sender's own spendable balances: what it knows of its own channels."""
    out_ptr, out_dir, dir_src, dir_dst, dir_capacity, enabled, htlc_min, htlc_max = topology
    balance, inflight, inflight_count, reserve = chan
    for k in range(out_ptr[sender], out_ptr[sender + 1]):
        e = out_dir[k]
        if fill and enabled[e] and inflight_count[e] < max_htlcs:
            own_spendable[e] = balance[e] - reserve[e]
        else:
            own_spendable[e] = -1


@njit
def _potential_holds(s, p, t, topology, own, know, params, potentials, amount_msat):
    """Whether the forward potential the sender keeps is payment p's and still a lower bound now:
    every forward cost it priced is the same or higher. Failures learned since only raise costs;
    costs fall when one of the sender's own directions can newly carry the amount, when a record
    of another payment counted then has aged out since (fee and probability models), or as any
    record ages (lnd's model, where it is never reused)."""
    pot_payment, pot_ints, pot_floats = potentials[:3]
    if (params[P_REUSE] == 0.0 or pot_payment[s] != p or pot_ints[s, POT_COUNT] < 0
            or int(params[P_COST]) == COST_LND):
        return False
    usable = _usable_mask(s, topology, own, amount_msat, amount_msat)
    if usable < 0 or usable & ~pot_ints[s, POT_USABLE] != 0:
        return False
    if params[P_REMEMBER] != 0.0:
        half_life = params[P_HALF_LIFE]
        then = pot_floats[s, POT_TIME]
        know_head, know_time, know_payment, know_next = know[0], know[3], know[4], know[5]
        r = know_head[s]
        while r != -1 and know_time[r] > then - half_life:  # newest first
            if know_payment[r] != p and know_time[r] <= t - half_life:
                return False
            r = know_next[r]
    return True


@njit
def _usable_mask(sender, topology, own, low_msat, high_msat):
    """Which of the sender's own directions can carry every amount in [low, high], as ``own``
    gives their spendable balances (bit k: its k-th outgoing direction); -1 when one can carry
    only part of the range, or it has over 62.

    A route search reads the sender's own balances only by comparing them with amounts in that
    range (the payment amount plus at most the fee budget): two states with the same mask give
    the same successful search."""
    out_ptr, out_dir = topology[0], topology[1]
    first = out_ptr[sender]
    if out_ptr[sender + 1] - first > 62:
        return -1
    mask = 0
    for k in range(out_ptr[sender + 1] - first):
        spendable = own[out_dir[first + k]]
        if spendable >= high_msat:
            mask |= 1 << k
        elif spendable >= low_msat:
            return -1
    return mask


@njit
def _own_usable_mask(s, p, topology, chan, pays, params, own):
    """_usable_mask of sender s's balances now over payment p's range, using ``own`` as scratch."""
    amount = pays[2][p]
    _fill_own(s, topology, chan, params[P_MAX_HTLCS], own, np.True_)
    mask = _usable_mask(s, topology, own, amount, amount + _fee_budget(amount, params))
    _fill_own(s, topology, chan, params[P_MAX_HTLCS], own, np.False_)
    return mask


@njit
def _still_valid(p, s, j, topology, chan, pays, know, params, prefetch, counters, own):
    """Whether payment p's prefetched first route, whose sender's state has changed since, is
    still the route a search would find now: the sender learned no failure since (records are
    only ever added, at the head of the sender's list) and its own balances still allow the
    same hops (see _usable_mask). Only successful searches are checked: a failed one also reads
    balances against amounts beyond the fee budget."""
    window, pre_usable = prefetch[0], prefetch[7]
    if pre_usable[j] < 0 or know[0][s] >= window[2]:
        return False
    if _own_usable_mask(s, p, topology, chan, pays, params, own) != pre_usable[j]:
        return False
    counters[C_REVALIDATED] += 1
    return True
