"""The discrete-event engine: payments, HTLC adds, fulfils and fails on an event heap ordered by
(time, seq).

Ground truth (balances, in-flight HTLCs, slots) lives in the channel-state arrays; every hop checks
it when a node adds an HTLC. Senders route on their own knowledge only (see ``attempts`` and
``routing``); a forwarding node short of liquidity may rebalance just in time (see ``jit``).
Atomic mode is the same loop with no concurrency: the next payment starts only once the previous
one has resolved, and no earlier than the last event (the clock never runs backwards).

Money is booked per settled HTLC: the node that offered it pays its amount and the node it went
to receives it. A forwarding node earns what the incoming HTLCs that funded the settled one carried
beyond it (and beyond the offers it netted into it); a sender pays the fee its first HTLC carried
beyond what the last hop delivered (a circle's sender books it as a rebalance fee); the receiver of
a workload payment books what its last hop delivered when it claims the payment.

``run_events`` processes at most ``max_events`` events and returns a status so that Python can grow
the tables, compute routes ahead, show progress and honour Ctrl-C between chunks.

Its ``with_jit`` and ``with_mpp`` are None for a run without JIT nodes or without multipart
payments (True otherwise): Numba drops a branch on an argument that is None when it compiles, so
such a run never compiles the strategy's handlers, which are most of a first run's compile time.
"""

import numpy as np

from fastsim.kernels._jit import njit
from fastsim.kernels.attempts import NEEDS_CONSOLIDATION, register_retry, start_attempt
from fastsim.kernels import mpp
from fastsim.kernels.forwarding import (
    deliver,
    fail_back,
    message_latency,
    netted_count,
    offer_next,
    release,
)
from fastsim.kernels.htlcs import FAILED, SETTLED
from fastsim.kernels.jit import (
    on_circle_end,
    on_circle_offer,
    on_hold_timeout,
    on_shortfall,
    on_source_shortfall,
)
from fastsim.kernels.knowledge import learned_amount, record_failure
from fastsim.kernels.layout import (
    C_ATTEMPTS,
    C_BAD_CHANNEL,
    C_EVENTS,
    C_HEAP,
    C_HTLCS,
    C_JIT,
    C_KNOW,
    C_NEXT_PAYMENT,
    C_PAYMENTS,
    C_PENDING_SLOTS,
    C_ROUTE,
    C_WORKLOAD,
    EV_ARRIVE,
    EV_ATTEMPT,
    EV_FAIL,
    EV_HOLD_TIMEOUT,
    EV_HTLC_TIMEOUT,
    EV_MPP_TIMEOUT,
    EV_SETTLE,
    JIT_CONDITIONAL,
    P_ATOMIC,
    P_DEBUG,
    P_HTLC_TIMEOUT,
    P_JIT_MAX_CIRCLES,
    P_JIT_MAX_HOPS,
    P_JIT_VARIANT,
    P_MAX_CLTV,
    P_MAX_HOPS,
    P_MAX_HTLCS,
    P_MPP_MAX_PARTS,
    P_RETRY_FOR,
    PAY_CIRCLE,
    PAY_MPP,
    PAY_PART,
    REASON_CLTV,
    REASON_HTLC_TIMEOUT,
    REASON_LIQUIDITY,
    REASON_NONE,
    STATUS_CHUNK,
    STATUS_DONE,
    STATUS_INVARIANT,
    STATUS_NEED_SPACE,
    STATUS_PREFETCH,
    STATUS_SAMPLE,
    STATUS_SPECULATE,
    SUCCEEDED,
    UNCOMPUTED,
)
from fastsim.kernels.heap import heap_pop
from fastsim.kernels.state import SHORT, channel_ok, check_add, finish, resolve, schedule


@njit
def _has_room(pays, attempts, routes, know, htlcs, heap, counters, params, jit):
    """Whether the tables have room for what one event can add: a burst of new payments (the parts
    of a multipart payment, the circles of a multi rebalance, or halves of parts), each with an
    attempt, its route, its first HTLC and heap entry, plus a forward, two records, a decision,
    and the heap entries of a resolution or a receiver's claim (one per funding HTLC)."""
    hops = max(params[P_MAX_HOPS], params[P_JIT_MAX_HOPS]) + 1
    parts, circles = np.int64(params[P_MPP_MAX_PARTS]), np.int64(params[P_JIT_MAX_CIRCLES])
    burst = parts + circles + 2
    # a claim settles every part and what came with each through a netting
    funders = (parts + 1) * (circles + 1)
    return not (counters[C_HTLCS] + burst > htlcs[0].shape[0]
                or counters[C_ROUTE] + burst * hops > routes[0].shape[0]
                or counters[C_ATTEMPTS] + burst > attempts[0].shape[0]
                or counters[C_KNOW] + 2 > know[1].shape[0]
                or counters[C_HEAP] + 2 * burst + funders + 4 > heap[0].shape[0]
                or counters[C_PAYMENTS] + burst > pays[0].shape[0]
                or counters[C_JIT] + 1 > jit[0].shape[0])


@njit
def _book_settled(h, htlcs, topology, pays, attempts, routes, nodes, jit_state):
    """Book the money of HTLC ``h``, which just settled (see the module's docstring)."""
    h_payment, h_attempt, h_hop, h_direction, h_amount, h_first_in, h_next_in, h_nets = (
        htlcs[0], htlcs[1], htlcs[3], htlcs[6], htlcs[7], htlcs[12], htlcs[13], htlcs[14])
    fees_earned, fees_paid, sent, received, forwards, rebalance_fees, rebalances = nodes
    p, a = h_payment[h], h_attempt[h]
    e = h_direction[h]
    offered_by = topology[2][e]
    nominal = h_amount[h]  # with what the node's circles brought back through a netting
    g = h_nets[h]
    while g != -1:
        nominal += h_amount[g]
        g = h_next_in[g]
    if h_hop[h] == 0:
        delivered = routes[1][attempts[2][a] + attempts[3][a] - 1]
        if pays[12][p] == PAY_CIRCLE:
            rebalance_fees[offered_by] += nominal - delivered
            rebalances[offered_by] += 1
        else:
            fees_paid[offered_by] += nominal - delivered
            sent[offered_by] += delivered
        return
    earned = -nominal
    g = h_first_in[h]
    while g != -1:
        earned += h_amount[g]
        forwards[offered_by] += netted_count(g, htlcs)  # its offers netted away: forwards too
        g = h_next_in[g]
    fees_earned[offered_by] += earned
    jit_state[1][e] += earned
    forwards[offered_by] += 1


@njit(entry=True)
def run_events(graph, topology, unresponsive, chan, node_version, pays, attempts, routes, know,
               htlcs, heap, nodes, counters, params, scratch, view, prefetch, retry, potentials,
               jit, jit_state, max_events, with_jit, with_mpp):
    """Process up to ``max_events`` events; returns a ``STATUS_*`` code."""
    dir_src, dir_dst, dir_capacity = topology[2], topology[3], topology[4]
    src, t_start, status, attempts_made, fee, hops = pays[0], pays[3], pays[4], pays[6], pays[7], pays[8]
    last_reason, kind_of, deadline = pays[11], pays[12], pays[17]
    (att_payment, att_number, att_route_start, att_n_hops, att_t_start, att_fail_dir, att_fail_amt,
     att_fail_reason, att_serial) = attempts
    route_dir, route_amt, route_cltv = routes
    (h_payment, h_attempt, h_part, h_hop, h_kind, h_state, h_direction, h_amount, h_cltv,
     h_t_added, h_t_resolved, h_funds, h_first_in, h_next_in, h_nets) = htlcs
    keys, vals, clock = heap[0], heap[2], heap[3]
    retry_slot, slot_delivered, slot_version = retry[0], retry[3], retry[4]
    n_workload = counters[C_WORKLOAD]
    atomic = params[P_ATOMIC] != 0.0
    debug = params[P_DEBUG] != 0.0
    max_htlcs = params[P_MAX_HTLCS]
    processed = 0
    while processed < max_events:
        if not _has_room(pays, attempts, routes, know, htlcs, heap, counters, params, jit):
            return STATUS_NEED_SPACE
        nxt_p = counters[C_NEXT_PAYMENT]
        start_payment = False
        if nxt_p < n_workload:
            if counters[C_HEAP] == 0:
                start_payment = True
            elif not atomic and t_start[nxt_p] <= keys[0]:
                start_payment = True
        if start_payment:
            if nxt_p >= prefetch[0][1]:
                return STATUS_PREFETCH
            counters[C_NEXT_PAYMENT] += 1
            t = t_start[nxt_p]
            if atomic and clock[0] > t:
                # no concurrency: the payment starts once the previous one has resolved
                t = clock[0]
                t_start[nxt_p] = t
                deadline[nxt_p] = t + params[P_RETRY_FOR]
            kind = EV_ATTEMPT
            obj = nxt_p
        elif counters[C_HEAP] > 0:
            t = keys[0]
            val = vals[0]
            if (val & 7 == EV_ATTEMPT and retry_slot[val >> 3] >= 0
                    and slot_version[retry_slot[val >> 3]] == UNCOMPUTED
                    and counters[C_PENDING_SLOTS] > 1):
                return STATUS_SPECULATE  # compute this retry with the other pending ones
            counters[C_HEAP] = heap_pop(heap[0], heap[1], vals, counters[C_HEAP])
            kind = val & 7
            obj = val >> 3
        else:
            return STATUS_DONE
        processed += 1
        counters[C_EVENTS] += 1
        touched = -1

        if kind == EV_HOLD_TIMEOUT:
            if with_jit is None or not on_hold_timeout(obj, t, pays, attempts, routes, know, htlcs,
                                                       heap, counters, node_version, params, retry,
                                                       jit):
                continue  # the decision had ended: nothing happened, the clock stays
        elif kind == EV_MPP_TIMEOUT:
            if with_mpp is None or not mpp.on_timeout(obj, t, pays, attempts, htlcs, heap, counters,
                                                      params):
                continue  # the payment was claimed: nothing happened, the clock stays
        elif kind == EV_ATTEMPT and kind_of[obj] == PAY_MPP:
            if with_mpp is not None:
                mpp.start(obj, t, graph, topology, chan, node_version, pays, attempts, routes, know,
                          htlcs, heap, counters, params, scratch, view, prefetch, retry, potentials)
        elif kind == EV_ATTEMPT and kind_of[obj] == PAY_PART:
            if with_mpp is not None:
                mpp.on_attempt(obj, t, graph, topology, chan, node_version, pays, attempts, routes,
                               know, htlcs, heap, counters, params, scratch, view, prefetch, retry,
                               potentials)
        elif kind == EV_ATTEMPT:
            p = obj
            touched = start_attempt(p, t, graph, topology, chan, node_version, pays, attempts,
                                    routes, know, htlcs, heap, counters, params, scratch, view,
                                    prefetch, retry, potentials)
            if touched == NEEDS_CONSOLIDATION:
                if with_jit is not None:
                    on_source_shortfall(p, counters[C_ATTEMPTS] - 1, t, graph, topology, chan,
                                        node_version, pays, attempts, routes, know, htlcs, heap,
                                        counters, params, scratch, view, prefetch, retry,
                                        potentials, jit, jit_state)
            elif touched < 0 and kind_of[p] == PAY_CIRCLE:
                if with_jit is not None:
                    on_circle_end(p, np.False_, t, topology, chan, node_version, pays, attempts,
                                  routes, know, htlcs, heap, counters, params, retry, jit, jit_state)
        elif kind == EV_ARRIVE:
            h = obj
            # int64 like the other callers' values: each argument type compiles its own callee
            p, a, hop = np.int64(h_payment[h]), np.int64(h_attempt[h]), np.int64(h_hop[h])
            start = att_route_start[a]
            if unresponsive[dir_dst[h_direction[h]]]:
                # the peer never answers: the node that offered h fails it after the timeout
                att_fail_dir[a] = h_direction[h]
                att_fail_amt[a] = h_amount[h]
                att_fail_reason[a] = REASON_HTLC_TIMEOUT
                schedule(heap, counters, h_t_added[h] + params[P_HTLC_TIMEOUT], EV_HTLC_TIMEOUT, h)
            elif hop == att_n_hops[a] - 1:
                if kind_of[p] == PAY_CIRCLE and params[P_JIT_VARIANT] >= JIT_CONDITIONAL:
                    if with_jit is not None:
                        on_circle_offer(h, p, t, topology, chan, node_version, pays, attempts,
                                        routes, know, htlcs, heap, counters, params, retry, jit)
                else:
                    q = pays[22][p]
                    deliver(h, q, htlcs, pays)
                    if kind_of[p] != PAY_PART:
                        release(q, t, pays, attempts, htlcs, heap, counters, params, nodes)
                    elif with_mpp is not None:
                        if not mpp.holds(q, route_amt[start + hop], t, pays, heap, counters, params):
                            pays[29][q] = release(q, t, pays, attempts, htlcs, heap, counters,
                                                  params, nodes)
            else:
                e2 = route_dir[start + hop + 1]
                amt2 = route_amt[start + hop + 1]
                reason = check_add(chan, topology, e2, amt2, max_htlcs)
                if reason == REASON_NONE and route_cltv[start + hop] > params[P_MAX_CLTV]:
                    reason = REASON_CLTV
                if reason == REASON_NONE:
                    offer_next(h, amt2, t, topology, chan, node_version, pays, attempts, routes,
                               htlcs, heap, counters, params)
                    touched = e2
                else:
                    held = False
                    if reason == SHORT:
                        if with_jit is not None:
                            held = on_shortfall(h, e2, amt2, t, graph, topology, chan, node_version,
                                                pays, attempts, routes, know, htlcs, heap, counters,
                                                params, scratch, view, prefetch, retry, potentials,
                                                jit, jit_state)
                    if not held:
                        fail_back(h, e2, amt2, REASON_LIQUIDITY if reason == SHORT else reason, t,
                                  pays, attempts, htlcs, heap, counters, params, retry)
        else:
            h = obj
            settled = kind == EV_SETTLE
            p, a = np.int64(h_payment[h]), np.int64(h_attempt[h])
            if kind == EV_HTLC_TIMEOUT:
                register_retry(p, a, np.int64(h_hop[h]), t, pays, attempts, params, retry, counters)
            kind = EV_SETTLE if settled else EV_FAIL
            e = h_direction[h]
            resolve(chan, topology, node_version, np.int64(e), h_amount[h], settled)
            touched = e
            h_state[h] = SETTLED if settled else FAILED
            h_t_resolved[h] = t
            if settled:
                _book_settled(h, htlcs, topology, pays, attempts, routes, nodes, jit_state)
            # the resolution travels on to every incoming HTLC that funded this one
            g = h_first_in[h]
            while g != -1:
                schedule(heap, counters, t + message_latency(g, kind, htlcs, attempts, params), kind, g)
                g = h_next_in[g]
            if h_hop[h] == 0:
                s = src[p]
                if settled:
                    start = att_route_start[a]
                    fee[p] = route_amt[start] - route_amt[start + att_n_hops[a] - 1]
                    hops[p] = att_n_hops[a]
                    finish(pays, p, SUCCEEDED, REASON_NONE, t)
                    if kind_of[p] == PAY_PART:
                        if with_mpp is not None:
                            mpp.on_part_settled(p, t, pays)
                    elif kind_of[p] == PAY_CIRCLE:
                        if with_jit is not None:
                            on_circle_end(p, np.True_, t, topology, chan, node_version, pays,
                                          attempts, routes, know, htlcs, heap, counters, params,
                                          retry, jit, jit_state)
                else:
                    last_reason[p] = att_fail_reason[a]
                    if att_fail_dir[a] >= 0:  # else a refusal that told the sender nothing
                        record_failure(know, counters, np.int64(s), np.int64(att_fail_dir[a]),
                                       learned_amount(att_fail_reason[a], att_fail_amt[a]), t,
                                       pays[22][p], node_version)
                    if retry_slot[p] >= 0:
                        slot_delivered[retry_slot[p]] = 1
                    schedule(heap, counters, t, EV_ATTEMPT, p)
        clock[0] = t
        if debug and touched >= 0 and not channel_ok(chan, dir_capacity, touched):
            counters[C_BAD_CHANNEL] = touched >> 1
            return STATUS_INVARIANT
        if t >= clock[1]:
            return STATUS_SAMPLE
    return STATUS_CHUNK
