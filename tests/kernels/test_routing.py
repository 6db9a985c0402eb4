"""The routing kernel against hand-computed routes and its brute-force twin."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fastsim.kernels._jit import from_python
from fastsim.engine import graph_arrays
from fastsim.kernels.heap import heap_push
from fastsim.kernels.routing import (
    COST_FEE,
    COST_LND,
    COST_PROBABILITY,
    GRAPH_FIELDS,
    IN_COLUMNS,
    NO_FAILURE,
    POT_COUNT,
    ROUTE_CLTV,
    ROUTE_MAX_HOPS,
    ROUTE_FEE_BUDGET,
    ROUTE_NONE,
    ROUTE_OK,
    _bound_step,
    find_route,
    lnd_hop_floor,
    make_potential,
    make_scratch,
)
from fastsim.network import Network
from tests.naive import (
    bolt7_fee,
    cheapest_route_fee,
    dijkstra_route_cost,
    hop_probability,
)
from tests.strategies import channel_ends, per_direction

# the kernels Python calls here, with the CPython wrapper the package's copies go without
heap_push = from_python(heap_push)
_bound_step = from_python(_bound_step)
find_route = from_python(find_route)
lnd_hop_floor = from_python(lnd_hop_floor)

BIG = 10**12


def make_network(n, edges, *, ppm=None, base=None, cltv=None, cap=10**9, enabled=None,
                 htlc_min=None, htlc_max=None):
    m = len(edges)
    return Network(
        pubkey=[f"n{i}" for i in range(n)], scid=[f"c{i}" for i in range(m)],
        node0=[a for a, _ in edges], node1=[b for _, b in edges], capacity_msat=[cap] * m,
        fee_base_msat=base if base is not None else [1000] * 2 * m,
        fee_rate_ppm=ppm if ppm is not None else [100] * 2 * m,
        cltv_delta=cltv if cltv is not None else [40] * 2 * m,
        htlc_min_msat=htlc_min if htlc_min is not None else [0] * 2 * m,
        htlc_max_msat=htlc_max if htlc_max is not None else [cap] * 2 * m,
        enabled=enabled if enabled is not None else [True] * 2 * m)


def view(net, own_spendable, fail_amt, fail_age, fwd_fail_amt=None):
    """A sender's view as the search reads it (the forward bounds see the same failures unless
    told otherwise), with the directions that have a failure counted at their ends."""
    fwd = fail_amt if fwd_fail_amt is None else fwd_fail_amt
    ages = np.broadcast_to(fail_age, fail_amt.shape).astype(float)
    failed = np.flatnonzero((fail_amt != NO_FAILURE) | (fwd != NO_FAILURE))
    failed_into = np.bincount(net.dir_dst[failed], minlength=net.n_nodes).astype(np.int32)
    failed_from = np.bincount(net.dir_src[failed], minlength=net.n_nodes).astype(np.int32)
    return (own_spendable, fail_amt, fwd, ages, np.zeros(fail_amt.shape, np.int64), failed_into,
            failed_from)


def model(cost, mu=1.0):
    return (cost, mu, 0.6, 3600.0, 100_000.0, 1000.0)


def route(net, source, target, amount, *, cost=COST_FEE, own=None, fail=None, budget=BIG,
          max_hops=20, max_cltv=2016, final_cltv=18, mu=1.0, fail_age_s=1.0, graph=None):
    m2 = net.n_directions
    own_spendable = np.full(m2, -1, np.int64)
    for e in range(m2):
        if net.dir_src[e] == source:
            own_spendable[e] = BIG if own is None else own.get(e, BIG)
    fail_amt = np.full(m2, NO_FAILURE, np.int64)
    for e, a in (fail or {}).items():
        fail_amt[e] = a
    fail_age = np.full(m2, fail_age_s)
    rd = np.zeros(max_hops + 1, np.int64)
    ra = np.zeros(max_hops + 1, np.int64)
    rc = np.zeros(max_hops + 1, np.int64)
    pot_ints, pot_floats = make_potential()
    n_hops, status = find_route(source, target, amount,
                                graph_arrays(net) if graph is None else graph,
                                view(net, own_spendable, fail_amt, fail_age), model(cost, mu),
                                (budget, max_hops, max_cltv, final_cltv),
                                make_scratch(net.n_nodes, m2), (rd, ra, rc),
                                (False, pot_ints[0], pot_floats[0], pot_ints[0], pot_floats[0]))
    return status, rd[:n_hops].tolist(), ra[:n_hops].tolist(), rc[:n_hops].tolist()


# 0 -> 1 -> 2 (node 1 charges 1000 + 200 ppm) and 0 -> 3 -> 2 (node 3 charges 1000 + 400 ppm)
DIAMOND = dict(n=4, edges=[(0, 1), (1, 2), (0, 3), (3, 2)],
               ppm=[100, 100, 200, 200, 300, 300, 400, 400])


def test_cheapest_route_amounts_and_cltv_exact():
    net = make_network(**DIAMOND)
    status, dirs, amts, cltvs = route(net, 0, 2, 100_000_000)
    assert status == ROUTE_OK
    assert dirs == [0, 2]
    # node 1 forwards 100_000_000 over direction 2: 1000 + 100_000_000 * 200 // 1e6 = 21_000
    assert amts == [100_021_000, 100_000_000]
    assert cltvs == [18 + 40, 18]


def test_sender_own_balance_and_failures_steer_the_route():
    net = make_network(**DIAMOND)
    status, dirs, _, _ = route(net, 0, 2, 100_000_000, own={0: 50_000_000})
    assert status == ROUTE_OK and dirs == [4, 6]
    status, dirs, _, _ = route(net, 0, 2, 100_000_000, fail={2: 100_000_000})
    assert dirs == [4, 6]
    # a failure at a larger amount does not exclude a smaller one
    status, dirs, _, _ = route(net, 0, 2, 100_000_000, fail={2: 100_000_001})
    assert dirs == [0, 2]


def test_budget_cltv_and_no_route_reasons():
    net = make_network(**DIAMOND)
    assert route(net, 0, 2, 100_000_000, budget=20_000)[0] == ROUTE_FEE_BUDGET
    assert route(net, 0, 2, 100_000_000, max_cltv=57)[0] == ROUTE_CLTV
    assert route(net, 0, 2, 100_000_000, max_hops=1)[0] == ROUTE_MAX_HOPS
    disabled = make_network(**DIAMOND, enabled=[True, True, False, True, True, True, False, True])
    assert route(disabled, 0, 2, 100_000_000)[0] == ROUTE_NONE


def test_probability_model_prefers_big_channels():
    # same fees, but the channel through node 3 is far bigger
    net = Network(pubkey=list("abcd"), scid=["a", "b", "c", "d"], node0=[0, 1, 0, 3],
                  node1=[1, 2, 3, 2], capacity_msat=[2 * 10**8, 2 * 10**8, 10**10, 10**10],
                  fee_base_msat=[0] * 8, fee_rate_ppm=[10] * 8, cltv_delta=[40] * 8,
                  htlc_min_msat=[0] * 8, htlc_max_msat=[10**10] * 8, enabled=[True] * 8)
    assert route(net, 0, 2, 10**8, cost=COST_FEE)[1] == [0, 2]  # tie on fee: lower index wins
    assert route(net, 0, 2, 10**8, cost=COST_PROBABILITY)[1] == [4, 6]
    assert route(net, 0, 2, 10**8, cost=COST_LND)[0] == ROUTE_OK


def test_budget_is_not_blamed_when_no_route_exists():
    # the receiver's only neighbour (3) charges beyond the budget but cannot be reached by 0 anyway
    net = make_network(4, [(0, 1), (3, 2)], ppm=[100, 100, 90_000, 90_000])
    assert route(net, 0, 2, 100_000_000, budget=500_000)[0] == ROUTE_NONE
    net = make_network(4, [(0, 3), (3, 2)], ppm=[100, 100, 90_000, 90_000])
    assert route(net, 0, 2, 100_000_000, budget=500_000)[0] == ROUTE_FEE_BUDGET


@st.composite
def random_graphs(draw, max_nodes=7, max_channels=12, fees=st.integers(0, 5000)):
    n, edges = draw(channel_ends(max_nodes=max_nodes, max_channels=max_channels))
    k = 2 * len(edges)
    ppm = per_direction(draw, fees, len(edges))
    base = per_direction(draw, fees, len(edges))
    cltv = per_direction(draw, st.integers(5, 200), len(edges))
    enabled = per_direction(draw, st.booleans(), len(edges))
    net = make_network(n, edges, ppm=ppm, base=base, cltv=cltv, enabled=enabled)
    fail = draw(st.dictionaries(st.integers(0, k - 1), st.integers(0, 2 * 10**8), max_size=3))
    amount = draw(st.integers(1, 5 * 10**8))
    budget = draw(st.sampled_from([BIG, 50_000, 500_000]))
    max_cltv = draw(st.sampled_from([2016, 250]))
    return net, fail, amount, budget, max_cltv


@settings(max_examples=150, deadline=None)
@given(random_graphs())
def test_fee_model_matches_brute_force(case):
    net, fail, amount, budget, max_cltv = case
    status, dirs, amts, cltvs = route(net, 0, 1, amount, fail=fail, budget=budget,
                                      max_cltv=max_cltv)
    own = np.where(net.dir_src == 0, BIG, -1)
    fail_amt = np.full(net.n_directions, NO_FAILURE, np.int64)
    for e, a in fail.items():
        fail_amt[e] = a
    best = cheapest_route_fee(0, 1, amount, net, own, fail_amt, fee_budget=budget,
                              max_hops=20, max_cltv=max_cltv, final_cltv=18)
    if status == ROUTE_OK:
        # the route is valid, and no feasible route is cheaper unless a binding CLTV limit made
        # the cheapest label of a node (the only one kept, as in lnd and Core Lightning) unusable
        assert best is not None and amts[0] - amount >= best and cltvs[0] <= max_cltv
        assert amts[0] - amount == best or max_cltv != 2016
        assert net.dir_src[dirs[0]] == 0 and net.dir_dst[dirs[-1]] == 1
    else:
        # one label per node keeps the least fee, so only a binding CLTV limit can hide a route
        assert best is None or max_cltv != 2016
        unlimited = cheapest_route_fee(0, 1, amount, net, own, fail_amt, fee_budget=BIG,
                                       max_hops=20, max_cltv=BIG, final_cltv=18)
        # the reason says whether a route exists beyond the limits
        assert (status == ROUTE_NONE) == (unlimited is None)


def test_equal_fees_tie_on_direction_order_though_lists_go_by_fee_rate():
    """Two channels 2 -> 1 charge the same at this amount: 0 + 200 ppm (direction 2) and
    10,000 + 100 ppm (direction 4). Node 1's list goes by fee rate, so direction 4 is scanned first,
    yet the route is that of a scan in direction order, as every tie is broken."""
    net = make_network(3, [(0, 2), (2, 1), (2, 1)], ppm=[0, 0, 200, 200, 100, 100],
                       base=[0, 0, 0, 0, 10_000, 10_000])
    for cost in (COST_FEE, COST_PROBABILITY, COST_LND):
        status, dirs, amts, _ = route(net, 0, 1, 100_000_000, cost=cost)
        assert status == ROUTE_OK and dirs == [0, 2] and amts == [100_020_000, 100_000_000]


def column(g, side, name):
    """A column of the graph's incoming (packed) or outgoing lists."""
    return g["in_packed"][:, IN_COLUMNS.index(name)] if side == "in" else g[f"fwd_{name}"]


def test_graph_lists_each_node_by_fee_rate_with_floors_and_tie_ranks():
    net = make_network(5, [(0, 1), (2, 1), (3, 1), (1, 4), (2, 1), (4, 2)],
                       ppm=[5, 1, 300, 2, 100, 3, 7, 4, 100, 5, 9, 6],
                       base=[10, 0, 1000, 0, 0, 0, 5, 0, 2000, 0, 1, 0],
                       cltv=list(range(30, 42)), htlc_min=list(range(1000, 1012)),
                       htlc_max=list(range(10**8, 10**8 + 12)))
    g = dict(zip(GRAPH_FIELDS, graph_arrays(net)))
    # the packed incoming lists hold each direction's own gossip
    mine = column(g, "in", "dir")
    capacity = net.direction_capacity_msat()
    for name, values in (("src", net.dir_src), ("capacity_msat", capacity),
                         ("fee_base_msat", net.fee_base_msat), ("fee_rate_ppm", net.fee_rate_ppm),
                         ("cltv_delta", net.cltv_delta), ("htlc_min_msat", net.htlc_min_msat),
                         ("htlc_max_msat", net.htlc_max_msat)):
        assert column(g, "in", name).tolist() == values[mine].tolist(), name
    for side, ends, node_of in (("in", "in_ptr", net.dir_dst), ("fwd", "fwd_ptr", net.dir_src)):
        dirs = column(g, side, "dir")
        for u in range(net.n_nodes):
            seg = slice(g[ends][u], g[ends][u + 1])
            mine = dirs[seg]
            assert sorted(mine) == [e for e in range(net.n_directions)
                                    if node_of[e] == u and net.enabled[e]]
            assert list(net.fee_rate_ppm[mine]) == sorted(net.fee_rate_ppm[mine])
            bases = net.fee_base_msat[mine]
            floors = [min(bases[i:]) for i in range(len(mine))]
            assert list(g[f"{side}_base_floor_msat"][seg]) == floors
            if side == "in":
                assert list(g["in_tie_rank"][seg]) == [sorted(mine).index(e) for e in mine]


def reordered(graph, seed):
    """``graph`` with each node's lists in another order by fee rate (directions of equal rates
    shuffled), their floors and tie ranks moved along."""
    g = dict(zip(GRAPH_FIELDS, graph))
    rng = np.random.default_rng(seed)
    for side in ("in", "fwd"):
        ptr = g[f"{side}_ptr"]
        node = np.repeat(np.arange(ptr.size - 1), np.diff(ptr))
        order = np.lexsort((rng.random(node.size), column(g, side, "fee_rate_ppm"), node))
        for name in GRAPH_FIELDS:
            if name.startswith(side + "_") and name != f"{side}_ptr":
                g[name] = g[name][order]
        base = column(g, side, "fee_base_msat")
        g[f"{side}_base_floor_msat"] = np.array([min(base[k:ptr[node[k] + 1]])
                                                 for k in range(node.size)], np.int64)
    return tuple(g[name] for name in GRAPH_FIELDS)


@settings(max_examples=150, deadline=None)
@given(random_graphs(max_nodes=10, max_channels=40, fees=st.sampled_from([0, 100, 1000])),
       st.sampled_from([COST_FEE, COST_LND, COST_PROBABILITY]), st.integers(0, 2**32 - 1))
def test_the_route_does_not_depend_on_the_order_of_a_lists_equal_rates(case, model, seed):
    """Equal fees are common here; the search's ties go by direction order, whatever order the
    lists have among directions of one fee rate."""
    net, fail, amount, budget, max_cltv = case
    kwargs = dict(cost=model, fail=fail, budget=budget, max_cltv=max_cltv)
    assert (route(net, 0, 1, amount, graph=reordered(graph_arrays(net), seed), **kwargs)
            == route(net, 0, 1, amount, **kwargs))


MODEL_NAMES = {COST_FEE: "fee", COST_LND: "lnd", COST_PROBABILITY: "probability"}


def attempt_cost(amount):
    """lnd's attempt cost as ``route`` sets it: 100,000 msat + 1000 ppm."""
    return 100_000.0 + amount * 1000.0 / 1e6


def label_cost(net, dirs, amount, model, fail_amt, fail_age_s, mu=1.0):
    """The cost the search assigns to a route, recomputed hop by hop from the receiver."""
    cost, amt, prob = 0.0, amount, 1.0
    for i in range(len(dirs) - 1, -1, -1):
        e = dirs[i]
        fee, p = 0, 1.0
        if i > 0:
            cap = int(net.direction_capacity_msat()[e])
            p = hop_probability(MODEL_NAMES[model], amt, cap, fail_amt[e], fail_age_s, 0.6, 3600.0)
            fee = bolt7_fee(net.fee_base_msat[e], net.fee_rate_ppm[e], amt)
        if model == COST_FEE:
            cost += fee
        elif model == COST_PROBABILITY:
            cost += fee + mu * (amt / 1000.0) * -np.log(p)
        else:
            cost = (amt + fee - amount) + attempt_cost(amount) / (prob * p)
        amt += fee
        prob *= p
    return cost


@settings(max_examples=150, deadline=None)
@given(random_graphs(max_nodes=16, max_channels=40), st.sampled_from([COST_FEE, COST_LND, COST_PROBABILITY]),
       st.sampled_from([1.0, 1800.0, 7200.0]), st.sampled_from([20, 2]))
def test_goal_directed_search_matches_plain_dijkstra(case, model, age, max_hops):
    """The forward bounds prune nothing the plain backwards Dijkstra would have used: same cost."""
    net, fail, amount, budget, max_cltv = case
    status, dirs, _, _ = route(net, 0, 1, amount, cost=model, fail=fail, budget=budget,
                               max_cltv=max_cltv, max_hops=max_hops, fail_age_s=age)
    own = np.where(net.dir_src == 0, BIG, -1)
    fail_amt = np.full(net.n_directions, NO_FAILURE, np.int64)
    for e, a in fail.items():
        fail_amt[e] = a
    expected = dijkstra_route_cost(
        0, 1, amount, net, own, fail_amt, np.full(net.n_directions, age), model=MODEL_NAMES[model],
        attempt_cost=attempt_cost(amount), fee_budget=budget, max_hops=max_hops,
        max_cltv=max_cltv, final_cltv=18)
    if expected is None:
        assert status != ROUTE_OK
        return
    assert status == ROUTE_OK
    assert np.isclose(label_cost(net, dirs, amount, model, fail_amt, age), expected[0],
                      rtol=1e-9, atol=1e-6)
    # the forward search, run to the end, bounds the cost of reaching each node of that route
    scratch = make_scratch(net.n_nodes, net.n_directions)
    bound, bound_mark, _, keys, vals = scratch[10:15]
    bound_mark[0] = 1
    size, n_touched = heap_push(keys, vals, vals, 0, 0.0, 0, 0), 1
    while size > 0:
        size, n_touched, _ = _bound_step(0, amount, graph_arrays(net), own, fail_amt,
                                         view(net, own, fail_amt, age)[6], model, 1.0,
                                         lnd_hop_floor(attempt_cost(amount), 0.6), scratch, size,
                                         n_touched)
    for node, cost_to_node in expected[1].items():
        assert bound_mark[node] == 2 and bound[node] <= cost_to_node * (1 + 1e-12) + 1e-9


@settings(max_examples=150, deadline=None)
@given(random_graphs(max_nodes=16, max_channels=40), st.sampled_from([COST_FEE, COST_PROBABILITY]),
       st.data())
def test_a_kept_potential_still_finds_the_cheapest_route_after_a_failure(case, cost_model, data):
    """A retry that reuses its first search's forward potential finds a route as cheap as the
    plain backwards Dijkstra does: with the failure of a hop of the first route learned since,
    and other payments' failures faded meanwhile (their bounds only ever relax, which is why the
    forward bounds see them only as faded by the payment's deadline: here not at all)."""
    net, fail, amount, budget, max_cltv = case
    graph, m2 = graph_arrays(net), net.n_directions
    own = np.where(net.dir_src == 0, BIG, -1)
    fail_amt = np.full(m2, NO_FAILURE, np.int64)  # other payments' failures
    for e, a in fail.items():
        fail_amt[e] = a
    fwd_fail_amt = np.full(m2, NO_FAILURE, np.int64)  # the payment's own: none yet
    fail_age = np.full(m2, 1.0)
    scratch = make_scratch(net.n_nodes, m2)
    (kept_ints, kept_floats), (out_ints, out_floats) = make_potential(), make_potential()
    rd, ra, rc = (np.zeros(21, np.int64) for _ in range(3))

    def search(reuse, into):
        return find_route(0, 1, amount, graph, view(net, own, fail_amt, fail_age, fwd_fail_amt),
                          model(cost_model), (budget, 20, max_cltv, 18), scratch, (rd, ra, rc),
                          (reuse, kept_ints[0], kept_floats[0], into[0][0], into[1][0]))

    n_hops, status = search(False, (kept_ints, kept_floats))
    if status != ROUTE_OK or n_hops < 2 or kept_ints[0, POT_COUNT] < 0:
        return
    for e in fail:  # the other payments' failures fade toward the capacity, or are forgotten
        fail_amt[e] = data.draw(st.one_of(st.just(NO_FAILURE), st.integers(
            fail_amt[e], max(fail_amt[e], int(net.capacity_msat[e // 2])))))
    hop = data.draw(st.integers(1, n_hops - 1))  # a remote hop fails at the amount it carried
    fail_amt[rd[hop]] = min(fail_amt[rd[hop]], ra[hop])
    fwd_fail_amt[rd[hop]] = min(fwd_fail_amt[rd[hop]], ra[hop])
    n_hops, status = search(True, (out_ints, out_floats))
    assert out_ints[0, POT_COUNT] == -1  # a search that reused a potential keeps none
    expected = dijkstra_route_cost(
        0, 1, amount, net, own, fail_amt, fail_age, model=MODEL_NAMES[cost_model],
        attempt_cost=attempt_cost(amount), fee_budget=budget, max_hops=20, max_cltv=max_cltv,
        final_cltv=18)
    if expected is None:
        assert status != ROUTE_OK
        return
    assert status == ROUTE_OK
    assert np.isclose(label_cost(net, rd[:n_hops].tolist(), amount, cost_model, fail_amt, 1.0),
                      expected[0], rtol=1e-9, atol=1e-6)


def test_forward_bounds_ignore_failures_that_may_fade():
    """The forward bounds a retry reuses must not count another payment's failure: it may have
    faded by then, and a bound that priced it would hide the now cheapest route.

    Sender 0, receiver 1; 0 -> 2 -> 3 -> 1 costs 2 msat once the failure on 2 -> 3 is forgotten,
    0 -> 4 -> 1 costs 500; the first route 0 -> 2 -> 1 (100 msat) then fails at 2 -> 1. The
    receiver's 30 leaves make the first search scan enough for the forward search to settle the
    receiver, so that its radius then priced the failure."""
    edges = [(0, 2), (2, 3), (3, 1), (2, 1), (0, 4), (4, 1), (1, 3)] + [(leaf, 1) for leaf in range(5, 35)]
    # fees per direction, node0 -> node1 first
    base = [0, 0, 1, 0, 1, 1000, 100, 0, 0, 0, 500, 0, 1000, 1000] + [5000, 5000] * 30
    net = make_network(35, edges, base=base, ppm=[0] * len(base))
    m2 = net.n_directions
    own = np.where(net.dir_src == 0, BIG, -1)
    fail_amt = np.full(m2, NO_FAILURE, np.int64)
    fail_amt[2] = 0  # another payment's failure on 2 -> 3
    fwd_fail_amt = np.full(m2, NO_FAILURE, np.int64)
    scratch = make_scratch(net.n_nodes, m2)
    kept, out = make_potential(), make_potential()
    rd, ra, rc = (np.zeros(21, np.int64) for _ in range(3))

    def search(reuse, into):
        n_hops, status = find_route(0, 1, 10**6, graph_arrays(net),
                                    view(net, own, fail_amt, np.zeros(m2), fwd_fail_amt), model(COST_FEE),
                                    (BIG, 20, 2016, 18), scratch, (rd, ra, rc),
                                    (reuse, kept[0][0], kept[1][0], into[0][0], into[1][0]))
        assert status == ROUTE_OK
        return rd[:n_hops].tolist()

    assert search(False, kept) == [0, 6]  # 0 -> 2 -> 1
    assert kept[0][0, POT_COUNT] > 0
    fail_amt[2] = NO_FAILURE  # forgotten
    fail_amt[6] = fwd_fail_amt[6] = 10**6  # this payment's own failure at 2 -> 1
    assert search(True, out) == [0, 2, 4]  # 0 -> 2 -> 3 -> 1
