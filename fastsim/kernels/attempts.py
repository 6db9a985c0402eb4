"""The one attempt launcher: a sender (a workload payment's, or a JIT node sending a circle to
itself) picks a route on its own knowledge and offers the first HTLC.

A circle is a payment like any other, from N to N: its search runs from N to M over N's knowledge
and the circle's fixed last hop ``M -> N`` (on the channel N is short on) is appended, priced by M's
policy. N knows both sides of its own channels, so that hop is usable when M's spendable there
carries the amount; N's first hop is any other of its channels with the spendable for it, or the
one fixed for a part of a multi rebalance.

Routes are computed ahead in parallel where the result is known not to depend on what happens
before it is used: first routes of upcoming payments, and the retries of attempts whose failure is
on its way back to the sender. Each is computed on the sender's state as it will be when the route
is needed and used only if that state's version (and the time) are then the ones foreseen, so a run
gives the same results as one that searches every route when it is needed.
"""

import numpy as np
from numba import prange

from fastsim.kernels._jit import njit
from fastsim.kernels.claims import fetch_add
from fastsim.kernels.heap import heap_push  # noqa: F401  (keeps the heap compiled with this module)
from fastsim.kernels.htlcs import KIND_PAYMENT, KIND_REBALANCE, htlc_append
from fastsim.kernels.knowledge import forget, learn_now, learned_amount, load_knowledge
from fastsim.kernels.latency import hop_latency_s
from fastsim.kernels.layout import (
    C_ATTEMPTS,
    C_ATTEMPTS_STARTED,
    C_FREE_SLOTS,
    C_HTLCS,
    C_KNOW,
    C_PENDING_SLOTS,
    C_PREFETCH_USED,
    C_REUSED,
    C_REVALIDATED,
    C_ROUTE,
    C_SEARCHES,
    C_SPECULATED,
    C_SPECULATED_USED,
    EV_ARRIVE,
    EV_FAIL,
    FAILED_PAYMENT,
    FIRST_PART,
    JIT_MULTI,
    NO_DIRECTION,
    NO_MSAT,
    P_APRIORI,
    P_ATTEMPT_MSAT,
    P_ATTEMPT_PPM,
    P_COST,
    P_FINAL_CLTV,
    P_HALF_LIFE,
    P_JIT_MAX_CIRCLES,
    P_JIT_MAX_HOPS,
    P_JIT_VARIANT,
    P_LATENCY,
    P_JITTER,
    P_MAX_CLTV,
    P_MAX_HOPS,
    P_MAX_HTLCS,
    P_MU,
    P_OVERPAY_PPM,
    P_REUSE,
    P_SEED,
    PAY_CIRCLE,
    PAY_MPP,
    PAY_PART,
    PINNED,
    REASON_CLTV,
    REASON_FEE_BUDGET,
    REASON_MAX_HOPS,
    REASON_NO_ROUTE,
    REASON_NONE,
    REASON_RETRY_TIMEOUT,
    REUSED,
    SENDER_HOP,
    UNCOMPUTED,
)
from fastsim.kernels.routing import (
    COST_LND,
    POT_COUNT,
    POT_FIRST,
    POT_TIME,
    POT_USABLE,
    ROUTE_CLTV,
    ROUTE_FEE_BUDGET,
    ROUTE_MAX_HOPS,
    ROUTE_NONE,
    ROUTE_OK,
    block_scratch_row,
    find_route,
    forward_fee,
)
from fastsim.kernels.state import SHORT, check_add, finish, lock, schedule, spendable

NEEDS_CONSOLIDATION = np.int64(-2)  # start_attempt: the route's first hop waits for source JIT


@njit(inline="always")
def cost_model(params):
    """The routing kernel's ``model`` bundle."""
    return (np.int64(params[P_COST]), params[P_MU], params[P_APRIORI], params[P_HALF_LIFE],
            params[P_ATTEMPT_MSAT], params[P_ATTEMPT_PPM])


@njit(inline="always")
def view_row(block_view, b):
    """Block ``b``'s view out of per-field arrays stacked by block."""
    return (block_view[0][b], block_view[1][b], block_view[2][b], block_view[3][b], block_view[4][b],
            block_view[5][b], block_view[6][b])


@njit
def fill_own(sender, topology, chan, max_htlcs, own_spendable, fill):
    """Set (or clear) the sender's own spendable balances: what it knows of its own channels."""
    out_ptr, out_dir, enabled = topology[0], topology[1], topology[5]
    balance, inflight, inflight_count, reserve = chan
    for k in range(out_ptr[sender], out_ptr[sender + 1]):
        e = out_dir[k]
        if fill and enabled[e] and inflight_count[e] < max_htlcs:
            own_spendable[e] = balance[e] - reserve[e]
        else:
            own_spendable[e] = -1


FEE_RESERVE_PER_MILLE = 10  # what a channel keeps back of its spendable for a circle's fees


@njit
def fill_sender_view(s, p, topology, chan, pays, params, own):
    """Set the sender's own spendable balances as its search of payment p reads them. A sender
    that consolidates (source JIT) counts on a channel what it could bring there with conditional
    circles: up to what the peer can send back on it, from its other channels (the fullest one
    under ``conditional``, the ``jit.max_circles`` fullest under ``multi``), each less
    FEE_RESERVE_PER_MILLE for the circle's fees."""
    fill_own(np.int64(s), topology, chan, params[P_MAX_HTLCS], own, np.True_)
    if not pays[23][p]:
        return
    parts = np.int64(params[P_JIT_MAX_CIRCLES]) if params[P_JIT_VARIANT] == JIT_MULTI else np.int64(1)
    out_ptr, out_dir = topology[0], topology[1]
    # the parts + 1 fullest channels, by (spendable, index) descending; one of them may be e itself
    top_sum = np.int64(0)  # of the `parts` fullest
    cut_value, cut_index = np.int64(-1), np.int64(-1)  # the (parts + 1)-th fullest
    prev_value, prev_index = np.int64(1 << 62), np.int64(1 << 62)
    for rank in range(parts + 1):
        best_value, best_index = np.int64(-1), np.int64(-1)
        for k in range(out_ptr[s], out_ptr[s + 1]):
            v = max(own[out_dir[k]], 0)
            if (v < prev_value or (v == prev_value and k < prev_index)) and (
                    v > best_value or (v == best_value and k > best_index)):
                best_value, best_index = v, np.int64(k)
        if best_index < 0:
            break
        if rank < parts:
            top_sum += best_value
        else:
            cut_value, cut_index = best_value, best_index
        prev_value, prev_index = best_value, best_index
    for k in range(out_ptr[s], out_ptr[s + 1]):
        e = out_dir[k]
        if own[e] < 0:
            continue
        v = max(own[e], 0)
        among_top = v > cut_value or (v == cut_value and k > cut_index)
        others = top_sum - v + max(cut_value, 0) if among_top else top_sum
        own[e] += min(max(spendable(chan, e ^ 1), 0), others * (1000 - FEE_RESERVE_PER_MILLE) // 1000)


@njit
def _amounts_with(extra, n_hops, route, topology):
    """The route's HTLC amounts, from the last hop back, when every forwarding node gets ``extra``
    on top of its BOLT #7 fee on what it forwards."""
    route_dir, route_amt = route[0], route[1]
    for i in range(n_hops - 2, -1, -1):
        e = route_dir[i + 1]
        route_amt[i] = (route_amt[i + 1] + forward_fee(topology[8][e], topology[9][e], route_amt[i + 1])
                        + extra)


@njit
def _overpayment_fits(extra, p, n_hops, route, own, topology, pays):
    _amounts_with(extra, n_hops, route, topology)
    route_dir, route_amt = route[0], route[1]
    if route_amt[0] - pays[2][p] > pays[15][p] or route_amt[0] > own[route_dir[0]]:
        return False
    for i in range(n_hops):
        if route_amt[i] > topology[7][route_dir[i]] or route_amt[i] > topology[4][route_dir[i]]:
            return False
    return True


@njit
def add_overpayment(p, n_hops, route, own, topology, pays, params):
    """Fee overpayment: every forwarding node of the route gets ``overpay_ppm`` of the amount on top
    of its fee, scaled down (to the most that fits) so that the total fee stays within the budget,
    the first hop within what the sender can spend and every hop within its ``htlc_max`` and
    capacity."""
    if n_hops < 2:
        return
    amount = pays[2][p]
    ppm = np.int64(params[P_OVERPAY_PPM])
    high = amount // 1_000_000 * ppm + amount % 1_000_000 * ppm // 1_000_000
    low = np.int64(0)  # the route as found fits
    while low < high:
        middle = (low + high + 1) // 2
        if _overpayment_fits(middle, p, n_hops, route, own, topology, pays):
            low = middle
        else:
            high = middle - 1
    _amounts_with(low, n_hops, route, topology)


@njit(inline="always")
def search_amount(p, pays, topology):
    """What the search of payment p delivers to its target: the amount, or for a circle the amount
    plus M's fee on the fixed last hop."""
    amount, last_hop = pays[2][p], pays[14][p]
    if last_hop < 0:
        return amount
    return amount + forward_fee(topology[8][last_hop], topology[9][last_hop], amount)


@njit
def sender_route(s, p, t, graph, topology, chan, pays, know, params, scratch, view, released_dir,
                 released_msat, learned_dir, learned_msat, route, potentials, out_ints, out_floats):
    """The route sender ``s`` picks for payment ``p`` at time ``t`` on its state now, with the HTLC
    of ``released_msat`` on its direction ``released_dir`` failed back and the failure
    ``learned_dir`` (below ``learned_msat``) known, when those are >= 0. Writes the route into
    ``route`` and returns (n_hops, status). It writes only to the scratch, view and outputs it is
    given, so that blocks can run it in parallel.

    A retry reuses the forward potential its payment's earlier search left with the sender when no
    cost that search priced has fallen since (see potential_holds); a search that searched forward
    leaves its potential in ``out_*``, with the sender's own directions usable then."""
    own = view[0]
    max_htlcs = params[P_MAX_HTLCS]
    amount, last_hop, budget = pays[2][p], pays[14][p], pays[15][p]
    fill_sender_view(s, p, topology, chan, pays, params, own)
    if released_dir >= 0:
        balance, inflight, inflight_count, reserve = chan
        if topology[5][released_dir] and inflight_count[released_dir] - 1 < max_htlcs:
            own[released_dir] = balance[released_dir] + released_msat - reserve[released_dir]
        else:
            own[released_dir] = -1
    ends = (topology[2], topology[3])
    n_known = load_knowledge(s, p, t, params, know, pays[3], pays[17], pays[22], topology[4], ends,
                             view)
    if learned_dir >= 0:  # as load_knowledge reads the payment's own record of age 0
        n_known = learn_now(view, n_known, learned_dir, learned_msat, ends)
    target = pays[1][p]
    to_target = amount
    max_hops = np.int64(params[P_MAX_HOPS])
    final_cltv = np.int64(params[P_FINAL_CLTV])
    route_ok = True
    if last_hop >= 0:
        # a circle: N -> ... -> M, then M -> N on the channel N is short on (not N's first hop)
        target = topology[2][last_hop]
        to_target = search_amount(p, pays, topology)
        budget -= to_target - amount
        max_hops = np.int64(params[P_JIT_MAX_HOPS]) - 1
        final_cltv += topology[10][last_hop]
        own[last_hop ^ 1] = -1
        first_hop = pays[21][p]
        if first_hop >= 0:  # one of a multi circle's parts: its channel is fixed
            keep = own[first_hop]
            fill_own(np.int64(s), topology, chan, max_htlcs, own, np.False_)
            own[first_hop] = keep
        route_ok = (topology[5][last_hop] and topology[6][last_hop] <= amount <= topology[7][last_hop]
                    and chan[2][last_hop] < max_htlcs and spendable(chan, last_hop) >= amount)
    n_hops, status = np.int64(0), ROUTE_NONE
    if budget < 0:
        # a circle whose fixed last hop alone costs more than its budget: N need not search
        status = ROUTE_FEE_BUDGET
        out_ints[POT_COUNT] = -1
    elif route_ok:
        reuse = potential_holds(s, p, topology, own, params, potentials, to_target)
        pot_ints, pot_floats = potentials[1], potentials[2]
        limits = (budget, max_hops, np.int64(params[P_MAX_CLTV]), final_cltv)
        n_hops, status = find_route(s, target, to_target, graph, view, cost_model(params), limits,
                                    scratch, route, (reuse, pot_ints[s], pot_floats[s], out_ints,
                                                     out_floats))
        if reuse:
            out_ints[POT_COUNT] = REUSED
        elif out_ints[POT_COUNT] >= 0:
            out_ints[POT_USABLE] = usable_mask(s, topology, own, to_target, to_target)
            out_floats[POT_TIME] = t
            if out_ints[POT_USABLE] < 0:
                out_ints[POT_COUNT] = -1
    else:
        out_ints[POT_COUNT] = -1
    if status == ROUTE_OK and last_hop < 0 and params[P_OVERPAY_PPM] > 0:
        add_overpayment(p, n_hops, route, own, topology, pays, params)
    if last_hop >= 0 and status == ROUTE_OK:
        route[0][n_hops] = last_hop
        route[1][n_hops] = amount
        route[2][n_hops] = params[P_FINAL_CLTV]
        n_hops += 1
    forget(view, n_known, ends)
    fill_own(np.int64(s), topology, chan, max_htlcs, own, np.False_)
    return n_hops, status


@njit
def potential_holds(s, p, topology, own, params, potentials, amount_msat):
    """Whether the forward potential the sender keeps is payment p's and still a lower bound now:
    every forward cost it priced is the same or higher. It priced the payment's own failures (which
    stay), other payments' as faded by the payment's deadline (they fade no further before it) and
    the sender's own balances: costs fall only when one of its own directions can newly carry the
    amount. lnd's model is never reused: there even the payment's own penalties fade."""
    pot_payment, pot_ints = potentials[0], potentials[1]
    if (params[P_REUSE] == 0.0 or pot_payment[s] != p or pot_ints[s, POT_COUNT] < 0
            or int(params[P_COST]) == COST_LND):
        return False
    usable = usable_mask(s, topology, own, amount_msat, amount_msat)
    return usable >= 0 and usable & ~pot_ints[s, POT_USABLE] == 0


@njit
def usable_mask(sender, topology, own, low_msat, high_msat):
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
        spendable_msat = own[out_dir[first + k]]
        if spendable_msat >= high_msat:
            mask |= 1 << k
        elif spendable_msat >= low_msat:
            return -1
    return mask


@njit
def own_usable_mask(s, p, topology, chan, pays, params, own):
    """usable_mask of sender s's balances now over workload payment p's range (its amount up to
    its fee budget), using ``own`` as scratch."""
    amount = pays[2][p]
    fill_sender_view(s, p, topology, chan, pays, params, own)
    mask = usable_mask(s, topology, own, amount, amount + pays[15][p])
    fill_own(np.int64(s), topology, chan, params[P_MAX_HTLCS], own, np.False_)
    return mask


@njit
def still_valid(p, s, j, topology, chan, pays, know, params, prefetch, counters, own):
    """Whether payment p's prefetched first route, whose sender's state has changed since, is
    still the route a search would find now: the sender learned no failure since (records are
    numbered in the order they are learned) and its own balances still allow the same hops (see
    usable_mask). Only successful searches are checked: a failed one also reads
    balances against amounts beyond the fee budget."""
    window, pre_usable = prefetch[0], prefetch[7]
    if pre_usable[j] < 0 or know[6][s] >= window[2]:
        return False
    if own_usable_mask(s, p, topology, chan, pays, params, own) != pre_usable[j]:
        return False
    counters[C_REVALIDATED] += 1
    return True


@njit(inline="always")
def copy_route(from_dir, from_amt, from_cltv, n_hops, routes, start):
    route_dir, route_amt, route_cltv = routes
    for i in range(n_hops):
        route_dir[start + i] = from_dir[i]
        route_amt[start + i] = from_amt[i]
        route_cltv[start + i] = from_cltv[i]


@njit
def take_slot(p, s, t, node_version, retry, counters):
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
def register_retry(p, a, hop, t_first, pays, attempts, params, retry, counters):
    """Take a slot for the retry that follows when the failure of attempt ``a``, detected at hop
    ``hop`` and sent back at ``t_first``, reaches the sender; nothing when no retry will search."""
    attempts_made, max_attempts, deadline = pays[6], pays[16], pays[17]
    att_number = attempts[1]
    (retry_slot, slot_attempt, slot_time, slot_delivered, slot_version, slot_status, slot_n_hops,
     slot_direction, slot_amount, slot_cltv, free_slots, pending) = retry
    if (counters[C_FREE_SLOTS] == 0 or retry_slot[p] >= 0 or attempts_made[p] >= max_attempts[p]
            or pays[12][p] == PAY_PART or pays[23][p]):
        # a part's retry is rarely the one foreseen (its siblings move the sender's state), and a
        # consolidating sender's first HTLC carried less than its route's first hop (a netting)
        return
    # the failure travels back hop by hop, as the fail events will schedule it
    t_retry = t_first
    for hop_back in range(hop - 1, -1, -1):
        t_retry = t_retry + hop_latency_s(params[P_SEED], p, att_number[a], hop_back, EV_FAIL,
                                          params[P_LATENCY], params[P_JITTER])
    if t_retry >= deadline[p]:
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


@njit(inline="always")
def route_failure_reason(status):
    if status == ROUTE_FEE_BUDGET:
        return REASON_FEE_BUDGET
    if status == ROUTE_CLTV:
        return REASON_CLTV
    if status == ROUTE_MAX_HOPS:
        return REASON_MAX_HOPS
    return REASON_NO_ROUTE


@njit
def start_attempt(p, t, graph, topology, chan, node_version, pays, attempts, routes, know, htlcs,
                  heap, counters, params, scratch, view, prefetch, retry, potentials):
    """The sender of payment ``p`` computes a route on its knowledge and offers the first HTLC.

    An attempt takes the route computed ahead for it (a prefetched first route, a speculated
    retry) when the sender's state is the one it was computed for (same result, computed earlier
    in parallel). Returns the direction it locked, -1 when the payment ended instead (its ``reason``
    says why; for a circle, ``route_failure_reason`` of the search's status), or
    NEEDS_CONSOLIDATION when the attempt's first hop waits for the sender's own circles."""
    src, attempts_made, last_reason, max_attempts, deadline = pays[0], pays[6], pays[11], pays[16], pays[17]
    (att_payment, att_number, att_route_start, att_n_hops, att_t_start, att_fail_dir, att_fail_amt,
     att_fail_reason, att_serial) = attempts
    route_dir, route_amt, route_cltv = routes
    window, pre_version, pre_status, pre_n_hops, pre_dir, pre_amt, pre_cltv, pre_usable, pre_time = prefetch
    (pot_payment, pot_ints, pot_floats, live_ints, live_floats, slot_ints, slot_floats, pre_ints,
     pre_floats) = potentials
    s = src[p]
    slot = take_slot(p, s, t, node_version, retry, counters)
    if attempts_made[p] >= max_attempts[p]:
        finish(pays, p, FAILED_PAYMENT, np.int64(last_reason[p]), t)
        return -1
    if attempts_made[p] > 0 and t >= deadline[p]:
        finish(pays, p, FAILED_PAYMENT, REASON_RETRY_TIMEOUT, t)
        return -1
    start = counters[C_ROUTE]
    j = p - window[0]
    if slot >= 0:
        (retry_slot, slot_attempt, slot_time, slot_delivered, slot_version, slot_status, slot_n_hops,
         slot_direction, slot_amount, slot_cltv, free_slots, pending) = retry
        n_hops = slot_n_hops[slot]
        status = slot_status[slot]
        counters[C_SPECULATED_USED] += 1
        copy_route(slot_direction[slot], slot_amount[slot], slot_cltv[slot], n_hops, routes, start)
        found_ints, found_floats = slot_ints[slot], slot_floats[slot]
    elif (attempts_made[p] == 0 and 0 <= j < window[1] - window[0]
            and (pre_version[j] == PINNED
                 or (pre_time[j] == t
                     and (pre_version[j] == node_version[s]
                          or still_valid(p, s, j, topology, chan, pays, know, params, prefetch,
                                         counters, view[0]))))):
        n_hops = pre_n_hops[j]
        status = pre_status[j]
        counters[C_PREFETCH_USED] += 1
        copy_route(pre_dir[j], pre_amt[j], pre_cltv[j], n_hops, routes, start)
        found_ints, found_floats = pre_ints[j], pre_floats[j]
    else:
        counters[C_SEARCHES] += 1
        found_ints, found_floats = live_ints[0], live_floats[0]
        n_hops, status = sender_route(
            s, p, t, graph, topology, chan, pays, know, params, scratch, view, NO_DIRECTION,
            NO_MSAT, NO_DIRECTION, NO_MSAT, (route_dir[start:], route_amt[start:], route_cltv[start:]),
            potentials, found_ints, found_floats)
    if status != ROUTE_OK:
        reason = last_reason[p]
        if reason == REASON_NONE or pays[12][p] == PAY_CIRCLE:
            reason = route_failure_reason(status)
        finish(pays, p, FAILED_PAYMENT, reason, t)
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
    att_serial[a] = counters[C_ATTEMPTS_STARTED]
    counters[C_ATTEMPTS_STARTED] += 1
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
    reason = check_add(chan, topology, e0, route_amt[start], params[P_MAX_HTLCS])
    if reason == SHORT and pays[23][p]:
        return NEEDS_CONSOLIDATION  # the sender funds its first hop with circles first (see jit)
    if reason != REASON_NONE:
        raise AssertionError("a route's first hop exceeds what its sender can spend")
    offer_first(p, a, route_amt[start], t, topology, chan, node_version, pays, attempts, routes,
                htlcs, heap, counters, params)
    return e0


@njit
def attempt_row(serial, attempts, counters):
    """The row of the attempt numbered ``serial`` in the run, one still held: rows keep the order
    of their serials when recycling moves them."""
    return np.int64(np.searchsorted(attempts[8][: counters[C_ATTEMPTS]], serial))


@njit
def offer_first(p, a, amount_msat, t, topology, chan, node_version, pays, attempts, routes, htlcs,
                heap, counters, params):
    """The sender of payment ``p`` offers the first HTLC of attempt ``a``, of ``amount_msat`` (the
    route's, or less by what a netting took off); returns its id."""
    start = attempts[2][a]
    e0 = routes[0][start]
    kind = KIND_REBALANCE if pays[12][p] == PAY_CIRCLE else KIND_PAYMENT
    h = htlc_append(htlcs, counters[C_HTLCS], p, a, FIRST_PART, SENDER_HOP, kind, e0, amount_msat,
                    routes[2][start], t)
    counters[C_HTLCS] += 1
    lock(chan, topology, node_version, e0, amount_msat)
    latency = hop_latency_s(params[P_SEED], p, attempts[1][a], SENDER_HOP, EV_ARRIVE,
                            params[P_LATENCY], params[P_JITTER])
    schedule(heap, counters, t + latency, EV_ARRIVE, h)
    return h


def _compute_ahead(graph, topology, chan, node_version, pays, attempts, routes, know, params,
                   block_scratch, block_view, claimed, prefetch, retry, counters, first_routes,
                   potentials):
    """Compute (in parallel on several threads) the routes of the pending retries and, with
    ``first_routes``, the first routes of the payments in the prefetch window.

    Each route is computed as its sender would compute it then, on the sender's state now, and
    recorded with the version of that state it foresees; a changed version at the attempt marks
    it stale, and the route is searched live instead. A first route foresees no change. A retry
    whose failure has not reached its sender yet foresees the first HTLC failed back and the
    failure recorded, which add 2 to the version."""
    window, pre_version, pre_status, pre_n_hops, pre_dir, pre_amt, pre_cltv, pre_usable, pre_time = prefetch
    (retry_slot, slot_attempt, slot_time, slot_delivered, slot_version, slot_status, slot_n_hops,
     slot_direction, slot_amount, slot_cltv, free_slots, pending) = retry
    (att_payment, att_number, att_route_start, att_n_hops, att_t_start, att_fail_dir, att_fail_amt,
     att_fail_reason, att_serial) = attempts
    slot_ints, slot_floats, pre_ints, pre_floats = potentials[5:]
    route_dir, route_amt = routes[0], routes[1]
    src = pays[0]
    t_start = pays[3]
    n_blocks = block_view[0].shape[0]
    n_retries = counters[C_PENDING_SLOTS]
    n_first = window[1] - window[0] if first_routes else 0
    if first_routes:
        window[2] = counters[C_KNOW]
    claimed[0] = 0
    for b in prange(n_blocks):
        scratch = block_scratch_row(block_scratch, b)
        view = view_row(block_view, b)
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
                    learned_msat = learned_amount(att_fail_reason[a], att_fail_amt[a])
                    ahead = 2
                out = (slot_direction[slot], slot_amount[slot], slot_cltv[slot])
                out_pot = (slot_ints[slot], slot_floats[slot])
            else:
                j = i - n_retries
                p = window[0] + j
                t = t_start[p]
                out = (pre_dir[j], pre_amt[j], pre_cltv[j])
                out_pot = (pre_ints[j], pre_floats[j])
            s = src[p]
            version = node_version[s] + ahead
            if i >= n_retries and pays[12][p] == PAY_MPP:  # its parts route, when it starts
                pre_n_hops[j], pre_status[j], pre_version[j], pre_time[j] = 0, ROUTE_NONE, -3, t
                pre_usable[j] = -1
                continue
            n_hops, status = sender_route(
                s, p, t, graph, topology, chan, pays, know, params, scratch, view, released_dir,
                released_msat, learned_dir, learned_msat, out, potentials, out_pot[0], out_pot[1])
            if i < n_retries:
                slot_n_hops[slot], slot_status[slot], slot_version[slot] = n_hops, status, version
            else:
                pre_n_hops[j], pre_status[j], pre_version[j], pre_time[j] = n_hops, status, version, t
                pre_usable[j] = (own_usable_mask(s, p, topology, chan, pays, params, view[0])
                                 if status == ROUTE_OK else -1)
    counters[C_SPECULATED] += n_retries
    counters[C_PENDING_SLOTS] = 0


# One source, two kernels: the parallel one is compiled only when a run uses more than one thread;
# on one thread the plain loop runs the same items in the same order (and compiles in a fraction
# of the parallel kernel's time, its callees being those the event loop compiled already).
compute_ahead = njit(parallel=True, entry=True)(_compute_ahead)
compute_ahead_serial = njit(entry=True)(_compute_ahead)
