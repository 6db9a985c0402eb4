"""Source routing: a backwards, amount-aware Dijkstra from the receiver over the sender's knowledge.

The search starts at the receiver with the amount to deliver and walks incoming directions, adding
each forwarding node's BOLT #7 fee to the amount it must receive (as lnd and Core Lightning do).
It reads only gossip (capacity, policy, enabled), the sender's own spendable balances and what the
sender's failures taught it; ground-truth balances of other nodes are not among its inputs.

The search is goal-directed (A*): beside it, a forward search from the sender computes lower
bounds of each node's cost *from the sender*, pricing every hop at the payment amount (fees and
risk only grow with the amount a hop carries). Nodes the forward search has settled get their
exact bound, every other node the forward search's radius. The two searches alternate by
directions scanned, so both balls stay small; the bounds are consistent, so the route is the one
the plain backwards Dijkstra finds (up to ties and rounding). Both searches read a node's
directions by fee rate and only as far as they can still matter, which spares most of a hub's
thousands (see ``_search``). The forward search uses the same knowledge as the backward one:
gossip, the sender's own balances and its failure records. A retry may instead reuse the forward
potential its payment's earlier search kept (``reuse``), when the caller knows no cost it priced
has fallen since.

A search takes its inputs in a few bundles: ``graph`` and ``scratch`` (tuples of arrays in the
orders of ``GRAPH_FIELDS`` and ``SCRATCH_FIELDS``), the sender's ``view`` (its own spendable
balances, what its failures taught it: the bound a failed direction's liquidity stays below for the
search and for the forward bounds, the failures' ages, the directions they touch, and per node
how many of those end and start there), the cost ``model`` (``MODEL_FIELDS``),
the ``limits`` (``LIMIT_FIELDS``), the ``route`` arrays it writes, and the forward ``potential``
(``POTENTIAL_ARGS``).
"""

import math

import numpy as np

from fastsim.kernels._jit import njit
from fastsim.kernels.heap import EMPTY, heap_pop, heap_push
from fastsim.kernels.prefetch import prefetch

# Gossip laid out in the order of the incoming-direction CSR (enabled directions only), so that
# the search reads each node's incoming directions sequentially: ``in_packed[k]`` holds what it
# reads of the k-th (columns IN_COLUMNS), in one row, as a node's short list then spans a few
# cache lines instead of one or two in each of eight arrays. Each node's incoming directions are
# ordered by fee rate, ``in_base_floor_msat[k]`` is the least base fee from k to the end of the
# node's list: what the rest of its list charges at least (see ``_search``); ``in_tie_rank[k]`` is
# k's place in the node's list in direction order.
# The ``fwd_*`` columns are the same directions in the outgoing-CSR order, for the forward bounds,
# each node's again by fee rate (``fwd_base_floor_msat`` as ``in_base_floor_msat``).
GRAPH_FIELDS = ("in_ptr", "in_packed", "dir_dst", "fwd_ptr", "fwd_dir", "fwd_dst",
                "fwd_capacity_msat", "fwd_fee_base_msat", "fwd_fee_rate_ppm", "fwd_htlc_max_msat",
                "in_tie_rank", "in_base_floor_msat", "fwd_base_floor_msat")
IN_COLUMNS = ("src", "dir", "capacity_msat", "fee_base_msat", "fee_rate_ppm", "cltv_delta",
              "htlc_min_msat", "htlc_max_msat")
(IN_SRC, IN_DIR, IN_CAPACITY, IN_FEE_BASE, IN_FEE_RATE, IN_CLTV_DELTA, IN_HTLC_MIN,
 IN_HTLC_MAX) = range(8)
# The searches' queues hold a node v as the value v, and a node u's deferred list (see ``_search``)
# as -1 - u, which comes before every node of the same key; the value is its own tie (one array
# passed as both).
SCRATCH_FIELDS = ("dist", "amt", "prob", "hops", "cltv", "next_dir", "mark", "touched",
                  "heap_keys", "heap_vals", "bound", "bound_mark", "bound_touched",
                  "bound_heap_keys", "bound_heap_vals", "rank", "resume",
                  "next_to_source", "bound_resume")

MODEL_FIELDS = ("cost_model", "mu", "apriori", "half_life_s", "attempt_cost_msat", "attempt_cost_ppm")
LIMIT_FIELDS = ("fee_budget_msat", "max_hops", "max_cltv", "final_cltv")
POTENTIAL_ARGS = ("reuse", "kept_ints", "kept_floats", "out_ints", "out_floats")

COST_FEE = 0
COST_LND = 1
COST_PROBABILITY = 2
COST_MODELS = {"fee": COST_FEE, "lnd": COST_LND, "probability": COST_PROBABILITY}

ROUTE_OK = 0
ROUTE_NONE = 1
ROUTE_FEE_BUDGET = 2
ROUTE_CLTV = 3
ROUTE_MAX_HOPS = 4

NO_FAILURE = np.iinfo(np.int64).max
LND_MIN_HOP_PROBABILITY = 0.01  # hops below this are skipped, as lnd's minimum route probability


# A search's forward potential, kept so that the sender's next search for the same payment can
# reuse it instead of searching forward again: an int row (POT_COUNT of nodes, the sender's
# POT_USABLE own directions, then the nodes) and a float row (POT_RADIUS, POT_TIME of the search,
# then the nodes' bounds); the search writes count, nodes, bounds and radius, its caller the rest.
# A count of -1 means no potential.
POTENTIAL_NODES = 128  # the forward search settles 7 nodes on average on the 2026 graph, rarely more
POT_COUNT, POT_USABLE, POT_RADIUS, POT_TIME, POT_FIRST = 0, 1, 0, 1, 2


def make_potential(rows: int = 1):
    """``rows`` empty potentials: int rows and float rows."""
    ints = np.zeros((rows, POT_FIRST + POTENTIAL_NODES), np.int64)
    ints[:, POT_COUNT] = -1
    return ints, np.zeros((rows, POT_FIRST + POTENTIAL_NODES))


def make_scratch(n_nodes: int, n_directions: int):
    """Per-search working arrays, reused across searches (only touched entries are reset)."""
    heap = n_directions + 2 * n_nodes + 1  # every relaxation, and a deferred scan per node
    return (np.zeros(n_nodes), np.zeros(n_nodes, np.int64), np.zeros(n_nodes),
            np.zeros(n_nodes, np.int32), np.zeros(n_nodes, np.int64), np.full(n_nodes, -1, np.int64),
            np.zeros(n_nodes, np.int8), np.zeros(n_nodes, np.int32), np.zeros(heap),
            np.zeros(heap, np.int64), np.zeros(n_nodes), np.zeros(n_nodes, np.int8),
            np.zeros(n_nodes, np.int32), np.zeros(heap), np.zeros(heap, np.int64),
            np.zeros(n_nodes, np.int64), np.zeros(n_nodes, np.int64), np.zeros(n_nodes, np.int8),
            np.zeros(n_nodes, np.int64))


@njit(inline="always")
def forward_fee(fee_base_msat, fee_rate_ppm, amount_msat):
    """BOLT #7: base + floor(amount * ppm / 1e6), in integer msat."""
    return fee_base_msat + (amount_msat * fee_rate_ppm) // 1_000_000


@njit
def hop_probability(cost_model, amount, capacity, fail_amt, fail_age_s, apriori, half_life_s):
    """Success probability of a remote hop as the sender believes it."""
    if cost_model == COST_LND:
        if amount >= fail_amt:
            # lnd's mission control: the penalty of a failure decays back to the a-priori value
            return apriori * (1.0 - 0.5 ** (fail_age_s / half_life_s))
        return apriori
    upper = capacity if fail_amt == NO_FAILURE else min(capacity, fail_amt - 1)
    if amount > upper:
        return 0.0
    # uniform prior over liquidity in [0, upper]: P(liquidity >= amount)
    return (upper + 1 - amount) / (upper + 1)


UNLIMITED = np.int64(1 << 60)  # a numpy scalar: a Python literal argument compiles a twin callee


@njit
def find_route(source, target, amount_msat, graph, view, model, limits, scratch, route, potential):
    """Cheapest route ``source -> target`` for ``amount_msat`` on the sender's knowledge.

    ``view``: ``own_spendable[e]`` is the sender's spendable amount on its own direction e (-1
    elsewhere or when e has no free HTLC slot); remote direction e is excluded for amounts >=
    ``fail_amt[e]`` under the fee and probability models (the probability model also bounds its
    liquidity below it), and under lnd's model that failure lowers its probability; the forward
    bounds read ``fwd_fail_amt`` instead, which may know less (see ``_bound_step``). A node's list
    of directions is read for failures only when the view's ``failed_into`` (``failed_from`` for
    the forward bounds) counts one there: most lists have none, and a direction's failure is a
    read far from its list.

    With ``potential``'s ``reuse``, the forward potential in ``kept_*`` stands in for the forward
    search: the caller vouches that no cost it priced has fallen since (it is then a consistent
    lower bound, and the route the same up to ties). A route found otherwise leaves its search's
    potential in ``out_*`` (count -1 if it settled more than POTENTIAL_NODES).

    Writes the route into ``route`` (hop order, amounts and CLTV expiries of each hop's HTLC) and
    returns (n_hops, status). When the fee budget, the CLTV limit or the hop limit cut the search
    short, a second search without the budget and the CLTV limit tells which stood in the way
    (status FEE_BUDGET, CLTV or MAX_HOPS) or that no route exists at all (NONE), and returns that
    route if it happens to respect them all.
    """
    fee_budget_msat, max_hops, max_cltv, final_cltv = limits
    route_dir, route_amt, route_cltv = route
    n_hops, pruned = _search(source, target, amount_msat, graph, view, model, fee_budget_msat,
                             max_hops, max_cltv, final_cltv, scratch, route, potential)
    if n_hops > 0:
        return n_hops, ROUTE_OK
    if not pruned or not _reachable(source, target, amount_msat, graph, view, model[0], scratch):
        return 0, ROUTE_NONE
    n_hops, pruned = _search(source, target, amount_msat, graph, view, model, UNLIMITED, max_hops,
                             UNLIMITED, final_cltv, scratch, route, potential)
    if n_hops == 0:
        # only the hop limit can still cut this search: then routes were too long to be used
        return 0, ROUTE_MAX_HOPS if pruned else ROUTE_NONE
    if route_amt[0] - amount_msat > fee_budget_msat:
        return 0, ROUTE_FEE_BUDGET
    if route_cltv[0] > max_cltv:
        return 0, ROUTE_CLTV
    return n_hops, ROUTE_OK


@njit
def _reachable(source, target, amount_msat, graph, view, cost_model, scratch):
    """Whether any path could carry the payment, judged leniently (every hop carries at least the
    amount, so only upper limits exclude a hop): a cheap breadth-first test before a second search."""
    own_spendable, fail_amt = view[0], view[1]
    in_ptr, in_packed = graph[0], graph[1]
    mark, touched, queue = scratch[6], scratch[7], scratch[9]
    mark[target] = 1
    touched[0] = target
    n_touched = 1
    queue[0] = target
    head, tail = 0, 1
    found = False
    while head < tail and not found:
        u = queue[head]
        head += 1
        for k in range(in_ptr[u], in_ptr[u + 1]):
            v = in_packed[k, IN_SRC]
            if mark[v] != 0 or amount_msat > in_packed[k, IN_HTLC_MAX]:
                continue
            e = in_packed[k, IN_DIR]
            if v == source:
                if own_spendable[e] < amount_msat or amount_msat >= fail_amt[e]:
                    continue
                found = True
                break
            if amount_msat > in_packed[k, IN_CAPACITY]:
                continue
            if cost_model != COST_LND and amount_msat >= fail_amt[e]:
                continue
            mark[v] = 1
            touched[n_touched] = v
            n_touched += 1
            queue[tail] = v
            tail += 1
    for i in range(n_touched):
        mark[touched[i]] = 0
    return found


@njit
def _bound_step(source, amount_msat, graph, own_spendable, fail_amt, failed_from, cost_model, mu,
                lnd_hop_cost, scratch, size, n_touched):
    """Settle the forward search's next node: its least cost from the sender, every hop priced at
    ``amount_msat`` with the failures in ``fail_amt`` (those that stay until the payment ends, so
    that a retry may reuse the bounds while others fade). Returns (heap size, touched count,
    directions scanned, counted in full); afterwards the heap top (if any) is an unsettled node,
    so its key is the forward search's radius.

    As in the backward search (see ``_search``), a node's outgoing directions are scanned by fee
    rate only while they can still price a node below the queue's least; the rest wait in the
    queue as one entry before the nodes of its key. The bounds are the same as a full scan's."""
    fwd_ptr = graph[3]
    bound_mark, keys, vals = scratch[11], scratch[13], scratch[14]
    u = vals[0]
    size = heap_pop(keys, vals, vals, size)
    bound_mark[u] = 2
    size, n_touched = _bound_scan(u, fwd_ptr[u], source, amount_msat, graph, own_spendable,
                                  fail_amt, failed_from, cost_model, mu, lnd_hop_cost, scratch,
                                  size, n_touched)
    while size > 0 and (vals[0] < 0 or bound_mark[vals[0]] == 2):
        w = vals[0]
        size = heap_pop(keys, vals, vals, size)
        if w < 0:
            w = -1 - w
            size, n_touched = _bound_scan(w, scratch[18][w], source, amount_msat, graph,
                                          own_spendable, fail_amt, failed_from, cost_model, mu,
                                          lnd_hop_cost, scratch, size, n_touched)
    return size, n_touched, fwd_ptr[u + 1] - fwd_ptr[u]


@njit
def _bound_scan(u, pos, source, amount_msat, graph, own_spendable, fail_amt, failed_from,
                cost_model, mu, lnd_hop_cost, scratch, size, n_touched):
    """Relax settled node u's outgoing directions from ``pos`` on, by fee rate, until the rest cannot
    price a node below the queue's least (the sender's own, which cost nothing, all at once)."""
    fwd_ptr, fwd_dir, fwd_dst, fwd_capacity, fwd_fee_base, fwd_fee_rate, fwd_htlc_max = graph[3:10]
    fwd_base_floor_msat = graph[12]
    bound, bound_mark, bound_touched, keys, vals = scratch[10:15]
    bound_resume = scratch[18]
    hop_floor = bound[u] + (lnd_hop_cost if cost_model == COST_LND else 0.0)
    u_failures = failed_from[u] > 0
    for i in range(pos, fwd_ptr[u + 1]):
        if u != source and size > 0:
            floor = _key_floor(hop_floor, fwd_base_floor_msat[i], fwd_fee_rate[i], amount_msat)
            if floor > keys[0]:
                bound_resume[u] = i
                deferred = np.int64(-1 - u)
                return heap_push(keys, vals, vals, size, floor, deferred, deferred), n_touched
        v = fwd_dst[i]
        if bound_mark[v] == 2 or amount_msat > fwd_htlc_max[i]:
            continue
        e = fwd_dir[i]
        failure = fail_amt[e] if u_failures else NO_FAILURE
        if u == source:
            if own_spendable[e] < amount_msat or amount_msat >= failure:
                continue
            cost = 0.0
        else:
            if amount_msat > fwd_capacity[i] or (cost_model != COST_LND and amount_msat >= failure):
                continue
            cost = float(forward_fee(fwd_fee_base[i], fwd_fee_rate[i], amount_msat))
            if cost_model == COST_LND:
                cost += lnd_hop_cost
            elif cost_model == COST_PROBABILITY:
                if bound_mark[v] == 1 and bound[u] + cost >= bound[v]:
                    continue
                p = hop_probability(cost_model, amount_msat, fwd_capacity[i], failure, 0.0, 0.0, 1.0)
                cost += mu * (amount_msat / 1000.0) * -math.log(p)
        new_bound = bound[u] + cost
        if bound_mark[v] == 0:
            bound_touched[n_touched] = v
            n_touched += 1
        elif new_bound >= bound[v]:
            continue
        bound_mark[v] = 1
        bound[v] = new_bound
        size = heap_push(keys, vals, vals, size, new_bound, np.int64(v), np.int64(v))
    return size, n_touched


@njit(inline="always")
def lnd_hop_floor(attempt_cost, apriori):
    """What a remote hop adds at least to lnd's cost besides its fee (its probability is at most
    ``apriori``), shaved so that rounding never lifts the bound above the cost."""
    return attempt_cost * (1.0 / apriori - 1.0) * (1.0 - 1e-9)


@njit(inline="always")
def block_scratch_row(block_scratch, b):
    """Block ``b``'s scratch (order of SCRATCH_FIELDS) out of per-field arrays stacked by block."""
    return (block_scratch[0][b], block_scratch[1][b], block_scratch[2][b], block_scratch[3][b],
            block_scratch[4][b], block_scratch[5][b], block_scratch[6][b], block_scratch[7][b],
            block_scratch[8][b], block_scratch[9][b], block_scratch[10][b], block_scratch[11][b],
            block_scratch[12][b], block_scratch[13][b], block_scratch[14][b],
            block_scratch[15][b], block_scratch[16][b], block_scratch[17][b],
            block_scratch[18][b])


@njit(inline="always")
def _lower_bound(v, bound, bound_mark, radius):
    return bound[v] if bound_mark[v] == 2 else radius


@njit
def _keep_potential(bound, bound_mark, bound_touched, n_bound_touched, radius, out_ints, out_floats):
    """Write the forward search's settled nodes and radius into ``out_*`` (count -1 if too many)."""
    n = 0
    for i in range(n_bound_touched):
        v = bound_touched[i]
        if bound_mark[v] == 2:
            if POT_FIRST + n == out_ints.shape[0]:
                return
            out_ints[POT_FIRST + n] = v
            out_floats[POT_FIRST + n] = bound[v]
            n += 1
    out_ints[POT_COUNT] = n
    out_floats[POT_RADIUS] = radius


@njit(inline="always")
def _key_floor(hop_floor, base_floor_msat, rate_ppm, amount_msat):
    """The least key a relaxation over a node's incoming directions from a place in its list on
    can have (the list is by fee rate: each charges at least this fee), shaved so that rounding
    never lifts it above one."""
    return (hop_floor + forward_fee(base_floor_msat, rate_ppm, amount_msat)) * (1.0 - 1e-12)


@njit(inline="always")
def _not_better(new_dist, new_rank, old_dist, old_rank):
    """Whether a relaxation leaves a label as it is: it costs more, or as much and came later."""
    return new_dist > old_dist or (new_dist == old_dist and new_rank >= old_rank)


@njit
def _search(source, target, amount_msat, graph, view, model, fee_budget_msat, max_hops, max_cltv,
            final_cltv, scratch, route, potential):
    """One backwards A* search; returns (n_hops or 0, whether a limit pruned it).

    A settled node's incoming directions are scanned by fee rate, and only while what they charge
    at least (``_key_floor``) keeps their key within the queue's least: the rest wait in the queue
    as one entry keyed on that floor (the value -1 - u, so it comes before nodes of the same key).
    A direction's relaxation is therefore made before any node it could improve is settled, and
    on equal cost the label of the earliest relaxation in settle-then-CSR order wins (``rank``),
    as if every node's directions were scanned in full when it was settled: the labels, the route
    and whether a limit pruned the search are those of the full scan, which is slow at hubs with
    thousands of channels. The sender's own directions cost no fee: they are relaxed at once."""
    in_ptr, in_packed, dir_dst = graph[:3]
    fwd_ptr, fwd_dst = graph[3], graph[5]
    in_tie_rank, in_base_floor_msat = graph[10], graph[11]
    dist, amt, prob, hops, cltv, next_dir, mark, touched, heap_keys, heap_vals = scratch[:10]
    bound, bound_mark, bound_touched, bound_keys, bound_vals = scratch[10:15]
    rank, resume, next_to_source = scratch[15], scratch[16], scratch[17]
    own_spendable, fail_amt, fwd_fail_amt, fail_age_s = view[0], view[1], view[2], view[3]
    failed_into, failed_from = view[5], view[6]
    cost_model, mu, apriori, half_life_s, attempt_cost_msat, attempt_cost_ppm = model
    reuse, kept_ints, kept_floats, out_ints, out_floats = potential
    route_dir, route_amt, route_cltv = route
    n_touched = 0
    attempt_cost = attempt_cost_msat + (amount_msat * attempt_cost_ppm) / 1e6

    out_ints[POT_COUNT] = -1
    if reuse:
        # a kept potential: its nodes' bounds, and its radius for every other node; no forward search
        n_bound_touched = kept_ints[POT_COUNT]
        for i in range(n_bound_touched):
            v = kept_ints[POT_FIRST + i]
            bound[v] = kept_floats[POT_FIRST + i]
            bound_mark[v] = 2
            bound_touched[i] = v
        bound_size = EMPTY
        radius = kept_floats[POT_RADIUS]
    else:
        # the forward search starts at the sender; until it settles a node, its radius bounds them all
        bound[source] = 0.0
        bound_mark[source] = 1
        bound_touched[0] = source
        n_bound_touched = np.int64(1)  # not a literal: see UNLIMITED
        bound_size = heap_push(bound_keys, bound_vals, bound_vals, EMPTY, 0.0, np.int64(source),
                               np.int64(source))
        radius = 0.0
    bound_scans = 0
    scans = 0
    lnd_hop_cost = lnd_hop_floor(attempt_cost, apriori) if cost_model == COST_LND else 0.0
    for i in range(fwd_ptr[source], fwd_ptr[source + 1]):
        next_to_source[fwd_dst[i]] = 1

    dist[target] = 0.0
    amt[target] = amount_msat
    prob[target] = 1.0
    hops[target] = 0
    cltv[target] = final_cltv
    next_dir[target] = -1
    mark[target] = 1
    touched[n_touched] = target
    n_touched += 1
    size = heap_push(heap_keys, heap_vals, heap_vals, EMPTY, 0.0, np.int64(target),
                     np.int64(target))
    pruned = False
    found = False
    n_settled = 0
    while size > 0:
        # the forward search takes about a third of the scans: its bounds pay off early
        if bound_size > 0 and 2 * bound_scans <= scans:
            bound_size, n_bound_touched, scanned = _bound_step(
                source, amount_msat, graph, own_spendable, fwd_fail_amt, failed_from, cost_model,
                mu, lnd_hop_cost, scratch, bound_size, n_bound_touched)
            bound_scans += scanned
            # the sender reaches no unsettled node: those are unreachable and bounded by infinity
            radius = bound_keys[0] if bound_size > 0 else np.inf
            continue
        key = heap_keys[0]
        u = heap_vals[0]
        deferred = u < 0
        size = heap_pop(heap_keys, heap_vals, heap_vals, size)
        if size > 0:
            # the list the queue's next entry will likely read: loaded while u's is scanned
            w = heap_vals[0]
            at = in_ptr[w] if w >= 0 else resume[-1 - w]
            prefetch(in_packed, at)
            prefetch(in_tie_rank, at)
            prefetch(in_base_floor_msat, at)
        if deferred:
            u = -1 - u
            pos = resume[u]  # the rest of u's incoming directions
            own_pass = False
        else:
            if mark[u] == 2:
                continue
            # bounds only grow as the forward search advances: an entry keyed on an older bound is
            # queued again with the current one
            current = dist[u] + _lower_bound(u, bound, bound_mark, radius)
            if current > key:
                if current < np.inf:
                    size = heap_push(heap_keys, heap_vals, heap_vals, size, current, np.int64(u),
                                     np.int64(u))
                continue
            mark[u] = 2
            rank[u] = n_settled  # a settled node's rank is its place in the settle order
            n_settled += 1
            if u == source:
                found = True
                break
            if hops[u] >= max_hops:
                pruned = True
                continue
            # the forward search's pace counts every incoming direction, scanned now or not
            scans += in_ptr[u + 1] - in_ptr[u]
            pos = in_ptr[u]
            own_pass = next_to_source[u] == 1
        u_settled = rank[u]
        u_rank = u_settled << 32
        hop_amount = amt[u]
        u_failures = failed_into[u] > 0
        # under lnd's model a remote hop also adds at least its least probability penalty
        hop_floor = dist[u] + lnd_hop_cost / prob[u]
        end = in_ptr[u + 1]
        while True:
            if pos == end:
                if not own_pass:
                    break
                own_pass = False  # the sender's directions first; then the rest
                pos = in_ptr[u]
                continue
            # every eighth direction is time enough to tell: a relaxation made early is harmless
            if not own_pass and (pos - in_ptr[u]) & 7 == 0:
                floor = _key_floor(hop_floor, in_base_floor_msat[pos], in_packed[pos, IN_FEE_RATE],
                                   hop_amount)
                if size > 0 and floor > heap_keys[0]:
                    resume[u] = pos
                    size = heap_push(heap_keys, heap_vals, heap_vals, size, floor,
                                     np.int64(-1 - u), np.int64(-1 - u))
                    break
            k = pos
            pos += 1
            v = in_packed[k, IN_SRC]
            if (v == source) != own_pass:
                continue
            if mark[v] == 2 and rank[v] < u_settled:
                continue  # settled before u: a full scan at u's settling would have skipped it
            if hop_amount < in_packed[k, IN_HTLC_MIN] or hop_amount > in_packed[k, IN_HTLC_MAX]:
                continue
            e = in_packed[k, IN_DIR]
            failure = fail_amt[e] if u_failures else NO_FAILURE
            if v == source:
                # its own channel: the sender knows the balance and its own failures there
                if own_spendable[e] < hop_amount or hop_amount >= failure:
                    continue
                fee = 0
                p = 1.0
                new_cltv = cltv[u]
            else:
                if hop_amount > in_packed[k, IN_CAPACITY]:
                    continue
                if cost_model != COST_LND and hop_amount >= failure:
                    continue
                p = 1.0
                if cost_model == COST_LND:
                    p = hop_probability(cost_model, hop_amount, in_packed[k, IN_CAPACITY], failure,
                                        fail_age_s[e] if u_failures else np.inf, apriori,
                                        half_life_s)
                    if p < LND_MIN_HOP_PROBABILITY:
                        continue
                fee = forward_fee(in_packed[k, IN_FEE_BASE], in_packed[k, IN_FEE_RATE], hop_amount)
                new_cltv = cltv[u] + in_packed[k, IN_CLTV_DELTA]
            new_amt = hop_amount + fee
            if new_amt - amount_msat > fee_budget_msat or new_cltv > max_cltv:
                pruned = True
                continue
            if mark[v] == 2:
                continue  # settled after u: this relaxation cannot have improved it
            k_rank = u_rank + in_tie_rank[k]
            if cost_model == COST_FEE:
                new_dist = dist[u] + fee
            elif cost_model == COST_PROBABILITY:
                if mark[v] == 1 and _not_better(dist[u] + fee, k_rank, dist[v], rank[v]):
                    continue  # cannot improve, whatever the risk term: skip the logarithm
                if v != source:
                    # the failure is NO_FAILURE or above the amount here (checked above)
                    p = hop_probability(cost_model, hop_amount, in_packed[k, IN_CAPACITY], failure, 0.0,
                                        apriori, half_life_s)
                new_dist = dist[u] + fee + mu * (hop_amount / 1000.0) * -math.log(p)
            else:
                new_dist = (new_amt - amount_msat) + attempt_cost / (prob[u] * p)
            if mark[v] == 1 and _not_better(new_dist, k_rank, dist[v], rank[v]):
                continue
            lower = _lower_bound(v, bound, bound_mark, radius)
            if lower == np.inf:
                continue  # the sender cannot reach v with this amount
            if mark[source] == 1 and new_dist + lower > dist[source]:
                continue  # the sender's label would be settled first: v cannot matter
            if mark[v] == 0:
                touched[n_touched] = v
                n_touched += 1
            mark[v] = 1
            rank[v] = k_rank  # an unsettled node's rank is that of the relaxation it holds
            dist[v] = new_dist
            amt[v] = new_amt
            prob[v] = prob[u] * p
            hops[v] = hops[u] + 1
            cltv[v] = new_cltv
            next_dir[v] = e
            size = heap_push(heap_keys, heap_vals, heap_vals, size, new_dist + lower, np.int64(v),
                             np.int64(v))
    for i in range(fwd_ptr[source], fwd_ptr[source + 1]):
        next_to_source[fwd_dst[i]] = 0

    n_hops = 0
    if found:
        if not reuse:
            _keep_potential(bound, bound_mark, bound_touched, n_bound_touched, radius, out_ints,
                            out_floats)
        node = source
        while node != target:
            e = next_dir[node]
            nxt = dir_dst[e]
            route_dir[n_hops] = e
            route_amt[n_hops] = amt[nxt]
            route_cltv[n_hops] = cltv[nxt]
            n_hops += 1
            node = nxt
    for i in range(n_touched):
        mark[touched[i]] = 0
        next_dir[touched[i]] = -1
    for i in range(n_bound_touched):
        bound_mark[bound_touched[i]] = 0
    return n_hops, pruned
