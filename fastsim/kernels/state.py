"""Ground truth and the event queue: the checks a node makes when it adds an HTLC, the locks and
releases of liquidity, a payment's end, and scheduling.

Every change to a channel's balances or in-flight HTLCs moves the versions of both its nodes (each
knows the whole state of its channels: a JIT node prices its circle's last hop on its peer's side,
a consolidating sender counts what its peers can send back): routes computed ahead for a node are
used only while its version is the one they foresaw.
"""

import numpy as np

from fastsim.kernels._jit import njit
from fastsim.kernels.heap import heap_push
from fastsim.kernels.layout import (
    C_HEAP,
    C_SEQ,
    PENDING,
    REASON_HTLC_SLOTS,
    REASON_LIQUIDITY,
    REASON_NONE,
)

SHORT = np.int64(-1)  # check_add: the policy and a slot allow the HTLC, only the balance is short


@njit(inline="always")
def schedule(heap, counters, t, kind, obj):
    keys, ties, vals = heap[0], heap[1], heap[2]
    counters[C_HEAP] = heap_push(keys, ties, vals, counters[C_HEAP], t, counters[C_SEQ],
                                 obj * 8 + kind)
    counters[C_SEQ] += 1


@njit
def check_add(chan, topology, direction, amount, max_htlcs):
    """Ground-truth check of the node adding an HTLC: REASON_NONE, a failure reason, or SHORT."""
    balance, inflight, inflight_count, reserve = chan
    if not topology[5][direction] or amount < topology[6][direction] or amount > topology[7][direction]:
        # outside the channel's policy: BOLT #4's temporary_channel_failure, as for liquidity
        return REASON_LIQUIDITY
    if inflight_count[direction] >= max_htlcs:
        return REASON_HTLC_SLOTS
    if balance[direction] - amount < reserve[direction]:
        return SHORT
    return REASON_NONE


@njit(inline="always")
def spendable(chan, direction):
    """What the owner of ``direction`` can still add there (its balance above the reserve)."""
    return chan[0][direction] - chan[3][direction]


@njit
def lock(chan, topology, node_version, direction, amount):
    balance, inflight, inflight_count, reserve = chan
    balance[direction] -= amount
    inflight[direction] += amount
    inflight_count[direction] += 1
    node_version[topology[2][direction]] += 1
    node_version[topology[3][direction]] += 1


@njit
def resolve(chan, topology, node_version, direction, amount, settled):
    """Release an HTLC's lock: to the receiving side if settled, back to the sender if failed."""
    balance, inflight, inflight_count, reserve = chan
    inflight[direction] -= amount
    inflight_count[direction] -= 1
    node_version[topology[2][direction]] += 1
    node_version[topology[3][direction]] += 1
    if settled:
        balance[direction ^ 1] += amount
    else:
        balance[direction] += amount


@njit
def channel_ok(chan, dir_capacity, direction):
    balance, inflight, inflight_count, reserve = chan
    d0 = direction & ~1
    d1 = d0 + 1
    if balance[d0] < 0 or balance[d1] < 0 or inflight[d0] < 0 or inflight[d1] < 0:
        return False
    return balance[d0] + balance[d1] + inflight[d0] + inflight[d1] == dir_capacity[d0]


@njit
def finish(pays, p, status, reason, t):
    pays[4][p] = status
    pays[5][p] = reason
    pays[9][p] = t


@njit
def new_payment(pays, retry, c, src, dst, amount, t, kind, budget, max_attempts, deadline, hash_of):
    """Write payment row ``c``, one the engine creates (a circle, a part), as it starts."""
    (p_src, p_dst, p_amount, t_start, status, reason, attempts_made, fee, hops, t_done, pay_first_in,
     last_reason, p_kind, depth, last_hop, budget_msat, p_max_attempts, deadline_s, jit_event,
     jit_events, held_by, first_hop, p_hash_of, consolidates, parent, parts, parts_open, held_msat,
     t_last_part, unsettled) = pays
    p_src[c] = src
    p_dst[c] = dst
    p_amount[c] = amount
    t_start[c] = t
    status[c] = PENDING
    reason[c] = REASON_NONE
    attempts_made[c] = 0
    fee[c] = 0
    hops[c] = 0
    t_done[c] = np.nan
    pay_first_in[c] = -1
    last_reason[c] = REASON_NONE
    p_kind[c] = kind
    depth[c] = 0
    last_hop[c] = -1
    budget_msat[c] = budget
    p_max_attempts[c] = max_attempts
    deadline_s[c] = deadline
    jit_event[c] = -1
    jit_events[c] = 0
    held_by[c] = -1
    first_hop[c] = -1
    p_hash_of[c] = hash_of
    consolidates[c] = 0
    parent[c] = -1
    parts[c] = 0
    parts_open[c] = 0
    held_msat[c] = 0
    t_last_part[c] = np.nan
    unsettled[c] = 0
    retry[0][c] = -1
