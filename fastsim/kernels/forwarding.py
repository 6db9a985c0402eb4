"""A forwarding node's two answers to an incoming HTLC: offer the next HTLC of the route, or fail
the incoming one back with the reason (the sender learns it from the BOLT #4 message once the
failure has travelled back)."""

import numpy as np

from fastsim.kernels._jit import njit
from fastsim.kernels.attempts import register_retry
from fastsim.kernels.htlcs import associate, htlc_append
from fastsim.kernels.latency import hop_latency_s
from fastsim.kernels.layout import C_HTLCS, EV_ARRIVE, EV_FAIL, P_JITTER, P_LATENCY, P_SEED
from fastsim.kernels.state import lock, schedule


@njit(inline="always")
def next_hop(h, htlcs, attempts, routes):
    """Where incoming HTLC ``h`` is to be forwarded: (direction, amount, CLTV expiry)."""
    a, hop = htlcs[1][h], np.int64(htlcs[3][h])
    k = attempts[2][a] + hop + 1
    return routes[0][k], routes[1][k], routes[2][k]


@njit
def forward(h, t, topology, chan, node_version, pays, attempts, routes, htlcs, heap, counters,
            params):
    """The node ``h`` arrived at offers the route's next HTLC, funded by ``h``."""
    h_payment, h_attempt, h_part, h_hop, h_kind = htlcs[0], htlcs[1], htlcs[2], htlcs[3], htlcs[4]
    h_funds, h_first_in, h_next_in = htlcs[11], htlcs[12], htlcs[13]
    p, a, hop = np.int64(h_payment[h]), np.int64(h_attempt[h]), np.int64(h_hop[h])
    e2, amt2, cltv2 = next_hop(h, htlcs, attempts, routes)
    h2 = htlc_append(htlcs, counters[C_HTLCS], p, a, np.int64(h_part[h]), hop + 1,
                     np.int64(h_kind[h]), e2, amt2, cltv2, t)
    counters[C_HTLCS] += 1
    lock(chan, topology, node_version, e2, amt2)
    associate(h_funds, h_first_in, h_next_in, pays[10], h, h2)
    schedule(heap, counters, t + hop_latency_s(params[P_SEED], p, attempts[1][a], hop + 1,
                                               EV_ARRIVE, params[P_LATENCY], params[P_JITTER]),
             EV_ARRIVE, h2)
    return e2


@njit
def fail_back(h, direction, amount_msat, reason, t, pays, attempts, htlcs, heap, counters, params,
              retry):
    """The node ``h`` arrived at fails it back: it could not add ``amount_msat`` on ``direction``
    for ``reason``. The attempt keeps what its sender will learn; its retry is registered."""
    p, a, hop = np.int64(htlcs[0][h]), np.int64(htlcs[1][h]), np.int64(htlcs[3][h])
    attempts[5][a] = direction
    attempts[6][a] = amount_msat
    attempts[7][a] = reason
    t_fail = t + hop_latency_s(params[P_SEED], p, attempts[1][a], hop, EV_FAIL, params[P_LATENCY],
                               params[P_JITTER])
    schedule(heap, counters, t_fail, EV_FAIL, h)
    register_retry(p, a, hop, t_fail, pays, attempts, params, retry, counters)
