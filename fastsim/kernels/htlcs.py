"""The HTLC table and its association table, as flat arrays.

Each HTLC row (order of ``HTLC_FIELDS``) carries, besides its payment, direction and amount, the
association: ``funds[h]`` is what incoming HTLC ``h`` funds at the node it arrives at — an outgoing
HTLC id (>= 0), the incoming payment ``p`` encoded as ``-2 - p``, or ``UNASSOCIATED`` (-1). The
reverse side is a singly linked list per funded object: ``first_in[h_out]`` (or
``pay_first_in[p]``) heads the list and ``next_in[h_in]`` links siblings, so many incoming HTLCs
may fund one outgoing HTLC or one payment, and re-association moves a whole list at once.

Netting (conditional JIT): when N's offer of ``x`` to M and M's offer of ``y`` to N are replaced by
one offer of ``x - y``, the new HTLC's ``nets`` names the first netted one (state NETTED; several
are chained by their ``next_in``: an offer N holds until it nets funds nothing at N, so that link
is free, both while N holds it and once netted). The incoming HTLCs that funded a netted HTLC at
M stay in its list until the replacing HTLC reaches M, and then join in funding what it funds.
"""

import numpy as np

from fastsim.kernels._jit import njit

HTLC_FIELDS = ("payment", "attempt", "part", "hop", "kind", "state", "direction", "amount_msat",
               "cltv_expiry", "t_added_s", "t_resolved_s", "funds", "first_in", "next_in", "nets")
HTLC_DTYPES = ("int32", "int32", "int16", "int8", "int8", "int8", "int32", "int64", "int32",
               "float64", "float64", "int32", "int32", "int32", "int32")

KIND_PAYMENT = np.int64(0)  # numpy scalars: a Python literal argument would compile a twin callee
KIND_REBALANCE = np.int64(1)
KIND_NAMES = ("payment", "rebalance")

IN_FLIGHT = 0
SETTLED = 1
FAILED = 2
NETTED = 3
STATE_NAMES = ("in_flight", "settled", "failed", "netted")

UNASSOCIATED = -1


def empty_htlc_table(capacity: int) -> dict[str, np.ndarray]:
    return {name: np.zeros(capacity, dtype) for name, dtype in zip(HTLC_FIELDS, HTLC_DTYPES)}


@njit(inline="always")
def payment_ref(payment):
    """The ``funds`` value that stands for incoming payment ``payment``."""
    return -2 - payment


@njit
def htlc_append(table, n, payment, attempt, part, hop, kind, direction, amount_msat, cltv_expiry,
                t_added_s):
    """Write a new in-flight HTLC at row ``n`` (the caller guarantees room); returns its id."""
    (pay, att, prt, hp, knd, state, dirn, amount, cltv, t_added, t_resolved, funds, first_in,
     next_in, nets) = table
    pay[n] = payment
    att[n] = attempt
    prt[n] = part
    hp[n] = hop
    knd[n] = kind
    state[n] = IN_FLIGHT
    dirn[n] = direction
    amount[n] = amount_msat
    cltv[n] = cltv_expiry
    t_added[n] = t_added_s
    t_resolved[n] = np.nan
    funds[n] = UNASSOCIATED
    first_in[n] = UNASSOCIATED
    next_in[n] = UNASSOCIATED
    nets[n] = UNASSOCIATED
    return n


@njit
def associate(funds, first_in, next_in, pay_first_in, h_in, target):
    """Let incoming HTLC ``h_in`` fund ``target`` (an HTLC id, or ``payment_ref(p)``)."""
    funds[h_in] = target
    if target >= 0:
        next_in[h_in] = first_in[target]
        first_in[target] = h_in
    else:
        p = -2 - target
        next_in[h_in] = pay_first_in[p]
        pay_first_in[p] = h_in


@njit
def dissociate(funds, first_in, next_in, pay_first_in, h_in):
    """Remove ``h_in`` from the list of what it funds."""
    target = funds[h_in]
    if target == UNASSOCIATED:
        return
    if target >= 0:
        head = first_in[target]
    else:
        head = pay_first_in[-2 - target]
    if head == h_in:
        if target >= 0:
            first_in[target] = next_in[h_in]
        else:
            pay_first_in[-2 - target] = next_in[h_in]
    else:
        prev = head
        while next_in[prev] != h_in:
            prev = next_in[prev]
        next_in[prev] = next_in[h_in]
    funds[h_in] = UNASSOCIATED
    next_in[h_in] = UNASSOCIATED


@njit
def reassociate(funds, first_in, next_in, pay_first_in, h_out, target):
    """Move every incoming HTLC funding ``h_out`` to fund ``target``; returns how many moved."""
    moved = 0
    h = first_in[h_out]
    while h != UNASSOCIATED:
        nxt = next_in[h]
        associate(funds, first_in, next_in, pay_first_in, np.int64(h), target)
        moved += 1
        h = nxt
    first_in[h_out] = UNASSOCIATED
    return moved


@njit
def net_and_reassociate(state, t_resolved, funds, first_in, next_in, pay_first_in, outgoing,
                        n_outgoing, target, now_s):
    """Delete outgoing HTLCs ``outgoing[:n_outgoing]`` in one step (state NETTED) and re-associate all
    their incoming HTLCs to ``target``; returns how many incoming HTLCs moved."""
    moved = 0
    for i in range(n_outgoing):
        h_out = outgoing[i]
        moved += reassociate(funds, first_in, next_in, pay_first_in, h_out, target)
        dissociate(funds, first_in, next_in, pay_first_in, h_out)
        state[h_out] = NETTED
        t_resolved[h_out] = now_s
    return moved
