"""A node's answers to an HTLC that reached it: offer the next HTLC of the route, fail the incoming
one back with the reason (the sender learns it from the BOLT #4 message once the failure has
travelled back), or, as the receiver, take it as funding the payment and, once it has all of it,
release the preimage to everything that funds the payment.

An HTLC that replaced netted offers (see ``htlcs``) brings their funders along: at the node it
reaches, the HTLCs that funded the netted offers join it in funding what it funds, and fail with
it if it fails there."""

import numpy as np

from fastsim.kernels._jit import njit
from fastsim.kernels.attempts import register_retry
from fastsim.kernels.htlcs import KIND_PAYMENT, associate, htlc_append, payment_ref, reassociate
from fastsim.kernels.latency import hop_latency_s
from fastsim.kernels.layout import (
    C_HTLCS,
    EV_ARRIVE,
    EV_FAIL,
    EV_SETTLE,
    P_JITTER,
    P_LATENCY,
    P_SEED,
    PAY_CIRCLE,
)
from fastsim.kernels.state import lock, schedule


@njit(inline="always")
def next_hop(h, htlcs, attempts, routes):
    """Where incoming HTLC ``h`` is to be forwarded: (direction, amount, CLTV expiry)."""
    a, hop = htlcs[1][h], np.int64(htlcs[3][h])
    k = attempts[2][a] + hop + 1
    return routes[0][k], routes[1][k], routes[2][k]


@njit(inline="always")
def message_latency(g, kind, htlcs, attempts, params):
    """The latency of a message about HTLC ``g`` (its add, fulfil or fail) over its hop."""
    return hop_latency_s(params[P_SEED], np.int64(htlcs[0][g]), attempts[1][htlcs[1][g]],
                         np.int64(htlcs[3][g]), kind, params[P_LATENCY], params[P_JITTER])


@njit
def _join_netted(h, target, htlcs, pays):
    """The funders of the offers ``h`` replaced join ``h`` in funding ``target``."""
    funds, first_in, next_in, nets = htlcs[11], htlcs[12], htlcs[13], htlcs[14]
    g = nets[h]
    while g != -1:
        reassociate(funds, first_in, next_in, pays[10], g, target)
        g = next_in[g]


@njit(inline="always")
def netted_count(h, htlcs):
    """How many offers the HTLC ``h`` replaced in a netting."""
    n = 0
    g = htlcs[14][h]
    while g != -1:
        n += 1
        g = htlcs[13][g]
    return n


@njit
def offer_next(h, amount_msat, t, topology, chan, node_version, pays, attempts, routes, htlcs, heap,
               counters, params):
    """The node ``h`` arrived at offers the route's next HTLC, of ``amount_msat`` (the route's, or
    less by what a netting took off), funded by ``h``; returns its id."""
    h_payment, h_attempt, h_part, h_hop, h_kind = htlcs[0], htlcs[1], htlcs[2], htlcs[3], htlcs[4]
    p, a, hop = np.int64(h_payment[h]), np.int64(h_attempt[h]), np.int64(h_hop[h])
    e2, amt2, cltv2 = next_hop(h, htlcs, attempts, routes)
    h2 = htlc_append(htlcs, counters[C_HTLCS], p, a, np.int64(h_part[h]), hop + 1,
                     np.int64(h_kind[h]), e2, amount_msat, cltv2, t)
    counters[C_HTLCS] += 1
    lock(chan, topology, node_version, e2, amount_msat)
    associate(htlcs[11], htlcs[12], htlcs[13], pays[10], np.int64(h), h2)
    _join_netted(h, h2, htlcs, pays)
    schedule(heap, counters, t + message_latency(h2, EV_ARRIVE, htlcs, attempts, params), EV_ARRIVE, h2)
    return h2


@njit
def fail_back(h, direction, amount_msat, reason, t, pays, attempts, htlcs, heap, counters, params,
              retry):
    """The node ``h`` arrived at fails it back: it could not add ``amount_msat`` on ``direction``
    for ``reason`` (a ``direction`` of -1: a refusal that teaches the sender nothing). The attempt
    keeps what its sender will learn; its retry is registered. The funders of offers ``h`` replaced
    fail back too: their circle failed with the payment."""
    p, a, hop = np.int64(htlcs[0][h]), np.int64(htlcs[1][h]), np.int64(htlcs[3][h])
    attempts[5][a] = direction
    attempts[6][a] = amount_msat
    attempts[7][a] = reason
    t_fail = t + message_latency(h, EV_FAIL, htlcs, attempts, params)
    schedule(heap, counters, t_fail, EV_FAIL, h)
    register_retry(p, a, hop, t_fail, pays, attempts, params, retry, counters)
    first_in, next_in = htlcs[12], htlcs[13]
    g = htlcs[14][h]
    while g != -1:
        k = first_in[g]
        while k != -1:
            attempts[5][htlcs[1][k]] = -1
            schedule(heap, counters, t + message_latency(k, EV_FAIL, htlcs, attempts, params),
                     EV_FAIL, k)
            k = next_in[k]
        g = next_in[g]


@njit
def deliver(h, q, htlcs, pays):
    """The receiver takes ``h`` (and what came with it through a netting) as funding payment ``q``."""
    ref = payment_ref(q)
    associate(htlcs[11], htlcs[12], htlcs[13], pays[10], np.int64(h), ref)
    _join_netted(h, ref, htlcs, pays)


@njit
def release(q, t, pays, attempts, htlcs, heap, counters, params, nodes):
    """The receiver has all of payment ``q``: it claims everything that funds it (the fulfils travel
    back from there) and books what it received: the payment's amount, and as a forwarding fee what
    funders of netted circle offers brought beyond it. Returns how many payment HTLCs it claimed."""
    funded = np.int64(0)
    claimed = 0
    forwards = 0  # the receiver's own offers that were netted away
    g = pays[10][q]
    while g != -1:
        funded += htlcs[7][g]
        claimed += htlcs[4][g] == KIND_PAYMENT
        forwards += netted_count(g, htlcs)
        schedule(heap, counters, t + message_latency(g, EV_SETTLE, htlcs, attempts, params),
                 EV_SETTLE, g)
        g = htlcs[13][g]
    if pays[12][q] != PAY_CIRCLE:
        receiver = pays[1][q]
        nodes[3][receiver] += pays[2][q]
        nodes[0][receiver] += funded - pays[2][q]
        nodes[4][receiver] += forwards
    return claimed
