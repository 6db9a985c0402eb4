"""What a node learned from failures (as a sender, or as a JIT node sending circles), and how its
searches read it.

A failure teaches only what its BOLT #4 message says: the failing direction and the amount it
refused (``temporary_channel_failure`` for liquidity, slots and policy alike); an HTLC that timed
out at an unresponsive peer teaches that the direction carries nothing. Records are linked per node
newest first; the engine's clock never runs backwards, so a new record goes to the head, and
``record_failure`` keeps the list in time order should one come late.

A payment's own records count as long as it runs: its searches exclude the direction for that
amount and above. Another payment's record fades with the half-life: under the fee and probability
models the bound below which the direction's liquidity is believed to lie relaxes back toward the
capacity (``capacity - (capacity - amount) * 2**(-age / half_life)``, as Core Lightning's and LDK's
scorers let their bounds decay); under lnd's model the penalty fades as lnd's mission control does
(see ``routing.hop_probability``). A record older than ``FORGET_AFTER_HALF_LIVES`` is forgotten.
"""

import numpy as np

from fastsim.kernels._jit import njit
from fastsim.kernels.layout import C_KNOW, P_COST, P_HALF_LIFE, P_REMEMBER, REASON_HTLC_TIMEOUT
from fastsim.kernels.routing import COST_LND, NO_FAILURE

FORGET_AFTER_HALF_LIVES = 10.0  # a bound then lies within 0.1% of the capacity


@njit(inline="always")
def learned_amount(reason, amount_msat):
    """The amount a failure's message tells the sender the direction refused."""
    return np.int64(0) if reason == REASON_HTLC_TIMEOUT else amount_msat


@njit
def record_failure(know, counters, node, direction, amount_msat, t, payment, node_version):
    """Add what ``node`` learned at time ``t`` from a failure of ``payment`` (recorded under the
    payment's hash)."""
    know_head, know_direction, know_amount, know_time, know_payment, know_next, know_newest = know
    r = counters[C_KNOW]
    counters[C_KNOW] = r + 1
    know_direction[r] = direction
    know_amount[r] = amount_msat
    know_time[r] = t
    know_payment[r] = payment
    know_newest[node] = r
    node_version[node] += 1
    after = -1  # the record that stays newer than this one
    q = know_head[node]
    while q != -1 and know_time[q] > t:
        after = q
        q = know_next[q]
    know_next[r] = q
    if after == -1:
        know_head[node] = r
    else:
        know_next[after] = r


@njit(inline="always")
def faded_bound(capacity, amount_msat, age_s, half_life_s):
    """The bound a failure at ``amount_msat`` leaves on a direction's liquidity after ``age_s``."""
    if amount_msat >= capacity:
        return amount_msat
    return capacity - np.int64((capacity - amount_msat) * 0.5 ** (age_s / half_life_s))


@njit(inline="always")
def _touch(view, n_touched, e, ends):
    """List direction e as touched, and count it at both its ends (``ends``: each direction's
    sending and receiving node)."""
    touched, failed_into, failed_from = view[4], view[5], view[6]
    touched[n_touched] = e
    failed_from[ends[0][e]] += 1
    failed_into[ends[1][e]] += 1
    return n_touched + 1


@njit
def load_knowledge(node, payment, now_s, params, know, t_start, deadline, hash_of, capacity, ends,
                   view):
    """Materialize what ``node`` learned into the ``view``'s per-direction arrays for a search of
    ``payment`` at ``now_s``; returns how many directions were touched (listed in the view and
    counted at their ends, ``ends`` being each direction's sending and receiving node). A
    record is the payment's own when it is of the payment's hash (``hash_of``: the parts of a
    multipart payment learn from each other at once).

    The forward bounds (``fwd_fail_amt``) see each other payment's record as it will have faded by
    the payment's ``deadline`` (none at all if forgotten by then): a later search of the payment
    (never past its deadline) may then reuse them, as a record only fades with time. The walk ends
    at the first record too old to count that is also older than the payment: every record after
    it is older still."""
    know_head, know_direction, know_amount, know_time, know_payment, know_next = know[:6]
    fail_amt, fwd_fail_amt, fail_age = view[1], view[2], view[3]
    half_life = params[P_HALF_LIFE]
    remember = params[P_REMEMBER] != 0.0
    lnd = int(params[P_COST]) == COST_LND
    forget_s = FORGET_AFTER_HALF_LIVES * half_life
    own_hash = hash_of[payment]
    n = 0
    r = know_head[node]
    while r != -1:
        age = max(now_s - know_time[r], 0.0)
        mine = know_payment[r] == own_hash
        if not mine and (not remember or age > forget_s):
            if know_time[r] < t_start[own_hash]:
                break
            r = know_next[r]
            continue
        e = know_direction[r]
        if fail_amt[e] == NO_FAILURE:
            n = _touch(view, n, e, ends)
        amount = know_amount[r]
        bound = amount
        if mine or lnd:
            fwd_fail_amt[e] = min(fwd_fail_amt[e], amount)
        else:
            bound = faded_bound(capacity[e], amount, age, half_life)
            age_then = max(deadline[payment] - know_time[r], 0.0)
            if age_then <= forget_s:
                fwd_fail_amt[e] = min(fwd_fail_amt[e], faded_bound(capacity[e], amount, age_then,
                                                                   half_life))
        fail_amt[e] = min(fail_amt[e], bound)
        fail_age[e] = min(fail_age[e], age)
        r = know_next[r]
    return n


@njit
def learn_now(view, n_touched, direction, amount_msat, ends):
    """Add one record of the payment searched for, of age 0, to a loaded view; returns the count of
    touched directions."""
    fail_amt, fwd_fail_amt, fail_age = view[1], view[2], view[3]
    if fail_amt[direction] == NO_FAILURE:
        n_touched = _touch(view, n_touched, direction, ends)
    fail_amt[direction] = min(fail_amt[direction], amount_msat)
    fwd_fail_amt[direction] = min(fwd_fail_amt[direction], amount_msat)
    fail_age[direction] = 0.0
    return n_touched


@njit
def forget(view, n_touched, ends):
    """Reset what load_knowledge wrote."""
    own, fail_amt, fwd_fail_amt, fail_age, touched, failed_into, failed_from = view
    for i in range(n_touched):
        e = touched[i]
        fail_amt[e] = NO_FAILURE
        fwd_fail_amt[e] = NO_FAILURE
        fail_age[e] = np.inf
        failed_from[ends[0][e]] = 0
        failed_into[ends[1][e]] = 0


@njit(entry=True)
def records_kept(know, horizon_s, open_hash, keep):
    """Mark in ``keep`` (zeros, one per record so far) the failure records a node may still read:
    those from ``horizon_s`` on, those of a hash in ``open_hash`` (a payment that may still search),
    and every record newer in its node's list than one of those (each list stays a prefix of
    itself)."""
    know_head, know_time, know_payment, know_next = know[0], know[3], know[4], know[5]
    for node in range(know_head.shape[0]):
        oldest = -1  # the oldest record of the list that must stay
        r = know_head[node]
        while r != -1:
            if know_time[r] >= horizon_s or open_hash[know_payment[r]]:
                oldest = r
            r = know_next[r]
        r = know_head[node] if oldest != -1 else -1
        while r != -1:
            keep[r] = 1
            if r == oldest:
                break
            r = know_next[r]
