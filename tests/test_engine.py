"""The event engine on tiny hand-built graphs: exact routes, fees, balances and failure reasons."""

import dataclasses

import numpy as np
import polars as pl
import pytest

from fastsim.config import load_config
from fastsim.engine import recorded_first_routes, simulate
from fastsim.invariants import violations
from fastsim.network import Network

CAP = 10**9


def cfg(**overrides):
    return load_config(None, overrides={"engine.latency_jitter_ms": 0.0, **overrides})


def net_from(n, edges, *, ppm, base=1000, cltv=40, cap=CAP):
    m = len(edges)
    return Network(pubkey=[f"n{i}" for i in range(n)], scid=[f"c{i}" for i in range(m)],
                   node0=[a for a, _ in edges], node1=[b for _, b in edges], capacity_msat=[cap] * m,
                   fee_base_msat=[base] * 2 * m, fee_rate_ppm=ppm,
                   cltv_delta=cltv if isinstance(cltv, list) else [cltv] * 2 * m,
                   htlc_min_msat=[1] * 2 * m, htlc_max_msat=[cap] * 2 * m, enabled=[True] * 2 * m)


def workload(rows):
    return pl.DataFrame({"id": list(range(len(rows))), "t_arrival_s": [r[0] for r in rows],
                         "src": [r[1] for r in rows], "dst": [r[2] for r in rows],
                         "amount_msat": [r[3] for r in rows]},
                        schema={"id": pl.Int64, "t_arrival_s": pl.Float64, "src": pl.Int32,
                                "dst": pl.Int32, "amount_msat": pl.Int64})


def run(net, rows, balances, *, unresponsive=(), **overrides):
    config = cfg(**overrides)
    mask = np.zeros(net.n_nodes, bool)
    mask[list(unresponsive)] = True
    res = simulate(net, workload(rows), config, balances=np.array(balances, np.int64),
                   debug_invariants=True, unresponsive=mask)
    assert violations(res, net) == []
    return res


# node 1 charges 1000 msat + 200 ppm on 1 -> 2; node 3 charges 1000 msat + 400 ppm on 3 -> 2
DIAMOND = dict(n=4, edges=[(0, 1), (1, 2), (0, 3), (3, 2)], ppm=[100, 100, 200, 200, 300, 300, 400, 400])
HALF = [CAP // 2] * 8


def test_cheapest_route_exact_fee_and_balances():
    net = net_from(**DIAMOND)
    res = run(net, [(0.0, 0, 2, 100_000_000)], HALF)
    p = res.payments.row(0, named=True)
    assert p["succeeded"] and p["attempts"] == 1 and p["hops"] == 2
    assert p["fee_msat"] == 21_000
    assert p["completion_s"] == pytest.approx(0.4)  # add, add, fulfil, fulfil at 100 ms each
    end = res.state["balance_msat"].tolist()
    assert end[0:4] == [CAP // 2 - 100_021_000, CAP // 2 + 100_021_000,
                        CAP // 2 - 100_000_000, CAP // 2 + 100_000_000]
    assert end[4:] == HALF[4:]
    nodes = res.nodes
    assert nodes["fees_earned_msat"].to_list() == [0, 21_000, 0, 0]
    assert nodes["fees_paid_msat"].to_list() == [21_000, 0, 0, 0]


def test_a_failed_payment_has_no_fee_rate_and_no_attempt_is_not_counted_as_one():
    net = net_from(**DIAMOND)
    res = run(net, [(0.0, 0, 2, 100_000_000), (10.0, 0, 2, 2 * CAP)], HALF)  # the second finds no route
    assert res.payments["attempts"].to_list() == [1, 0]
    assert res.payments["fee_ppm"].to_list() == [210.0, None]  # null, not NaN
    summary = res.summary.row(0, named=True)
    assert summary["never_routed_share"] == 0.5 and summary["mean_attempts"] == 1.0


def test_liquidity_failure_then_retry_on_another_path():
    net = net_from(**DIAMOND)
    balances = list(HALF)
    balances[2], balances[3] = 50_000_000, CAP - 50_000_000  # node 1 cannot forward 100k sat
    res = run(net, [(0.0, 0, 2, 100_000_000)], balances)
    p = res.payments.row(0, named=True)
    assert p["succeeded"] and p["attempts"] == 2
    assert p["fee_msat"] == 1000 + 100_000_000 * 400 // 1_000_000
    end = res.state["balance_msat"]
    assert end[0:4].tolist() == balances[0:4]  # the failed HTLC gave its lock back
    assert end[4] == CAP // 2 - 100_041_000 and end[6] == CAP // 2 - 100_000_000
    # first attempt: add to node 1, which fails it back; second attempt: add, add, fulfil, fulfil
    assert p["completion_s"] == pytest.approx(0.6)
    h = res.htlcs
    assert h["state"].cast(pl.Utf8).to_list() == ["failed", "settled", "settled"]


def test_liquidity_failure_reason_when_no_route_is_left():
    net = net_from(3, [(0, 1), (1, 2)], ppm=[100] * 4)
    balances = [CAP // 2, CAP // 2, 10_000_000, CAP - 10_000_000]
    res = run(net, [(0.0, 0, 2, 100_000_000)], balances)
    p = res.payments.row(0, named=True)
    assert not p["succeeded"] and p["failure_reason"] == "liquidity" and p["attempts"] == 1


def test_cltv_limit():
    net = net_from(3, [(0, 1), (1, 2)], ppm=[100] * 4, cltv=1000)
    ok = run(net, [(0.0, 0, 2, 1_000_000)], [CAP // 2] * 4)
    assert ok.payments["succeeded"][0]  # 18 + 1000 <= 2016
    net = net_from(3, [(0, 1), (1, 2)], ppm=[100] * 4, cltv=2000)
    res = run(net, [(0.0, 0, 2, 1_000_000)], [CAP // 2] * 4)
    assert res.payments["failure_reason"][0] == "cltv"
    assert res.htlcs.height == 0


def test_hop_limit_is_its_own_reason():
    net = net_from(4, [(0, 1), (1, 2), (2, 3)], ppm=[100] * 6)
    res = run(net, [(0.0, 0, 3, 1_000_000)], [CAP // 2] * 6, **{"engine.max_hops": 2})
    assert res.payments["failure_reason"][0] == "max_hops" and res.htlcs.height == 0
    assert run(net, [(0.0, 0, 3, 1_000_000)], [CAP // 2] * 6).payments["succeeded"][0]


def test_fee_budget_is_exact_in_integer_msat():
    """0.7% of 181,295,323,000 msat is 1,269,067,261.1 msat; in floating point it came to
    1,269,067,260.9999, one msat short of a route that costs exactly the budget."""
    cap = 10**12
    net = net_from(3, [(0, 1), (1, 2)], ppm=[0] * 4, base=1_269_067_261, cap=cap)
    res = run(net, [(0.0, 0, 2, 181_295_323_000)], [cap // 2] * 4, **{"sender.maxfeepercent": 0.7})
    assert res.payments["succeeded"][0] and res.payments["fee_msat"][0] == 1_269_067_261


def test_fee_budget():
    net = net_from(3, [(0, 1), (1, 2)], ppm=[100, 100, 50_000, 50_000])
    res = run(net, [(0.0, 0, 2, 100_000_000)], [CAP // 2] * 4)
    assert res.payments["failure_reason"][0] == "fee_budget"  # 5% > maxfeepercent 0.5%


def test_no_route_to_unreachable_node():
    net = net_from(4, [(0, 1), (2, 3)], ppm=[100] * 4)
    res = run(net, [(0.0, 0, 3, 1_000_000)], [CAP // 2] * 4)
    assert res.payments["failure_reason"][0] == "no_route"


# 0 -> 2 and 1 -> 2 both forward over 2 -> 3, which holds one HTLC slot and enough for one payment
SHARED = dict(n=4, edges=[(0, 2), (1, 2), (2, 3)], ppm=[100] * 6)


def test_htlc_slot_exhaustion_between_concurrent_payments():
    net = net_from(**SHARED)
    rows = [(0.0, 0, 3, 1_000_000), (0.01, 1, 3, 1_000_000)]
    res = run(net, rows, [CAP // 2] * 6, **{"engine.max_accepted_htlcs": 1})
    assert res.payments["succeeded"].to_list() == [True, False]
    assert res.payments["failure_reason"][1] == "htlc_slots"
    res = run(net, rows, [CAP // 2] * 6, **{"engine.max_accepted_htlcs": 1, "engine.mode": "atomic"})
    assert res.payments["succeeded"].to_list() == [True, True]


def test_concurrent_payments_compete_for_liquidity_only_in_event_mode():
    # 0 -> 2 -> 3 -> 4 fails at 3 -> 4, but holds 2 -> 3 meanwhile; 1 -> 2 -> 3 wants the same liquidity
    net = net_from(5, [(0, 2), (1, 2), (2, 3), (3, 4)], ppm=[100] * 8)
    balances = [CAP // 2] * 8
    balances[4], balances[5] = 150_000_000, CAP - 150_000_000  # 2 -> 3 fits one payment at a time
    balances[6], balances[7] = 0, CAP  # 3 -> 4 is empty
    rows = [(0.0, 0, 4, 100_000_000), (0.15, 1, 3, 100_000_000)]
    event = run(net, rows, balances)
    assert event.payments["succeeded"].to_list() == [False, False]
    assert event.payments["failure_reason"].to_list() == ["liquidity", "liquidity"]
    atomic = run(net, rows, balances, **{"engine.mode": "atomic"})
    assert atomic.payments["succeeded"].to_list() == [False, True]


def test_retry_for_timeout_stops_retrying_and_releases_locks():
    net = net_from(**DIAMOND)
    balances = list(HALF)
    balances[2], balances[3] = 50_000_000, CAP - 50_000_000
    res = run(net, [(0.0, 0, 2, 100_000_000)], balances, **{"sender.retry_for_s": 0.2})
    p = res.payments.row(0, named=True)
    assert not p["succeeded"] and p["failure_reason"] == "retry_timeout"
    assert not res.state["inflight_msat"].any() and not res.state["inflight_count"].any()
    assert res.state["balance_msat"].tolist() == balances


def test_unresponsive_node_times_out_releases_locks_and_retry_succeeds():
    net = net_from(**DIAMOND)
    res = run(net, [(0.0, 0, 2, 100_000_000)], HALF, unresponsive=[1],
              **{"engine.htlc_timeout_s": 30.0})
    p = res.payments.row(0, named=True)
    assert p["succeeded"] and p["attempts"] == 2 and p["fee_msat"] == 41_000
    # the sender gives up on its HTLC to node 1 after 30 s, then pays through node 3
    assert p["completion_s"] == pytest.approx(30.4)
    assert res.state["balance_msat"][0:4].tolist() == HALF[0:4]
    assert res.htlcs["state"].cast(pl.Utf8).to_list() == ["failed", "settled", "settled"]


def test_unresponsive_receiver_fails_with_timeout():
    net = net_from(3, [(0, 1), (1, 2)], ppm=[100] * 4)
    res = run(net, [(0.0, 0, 2, 1_000_000)], [CAP // 2] * 4, unresponsive=[2],
              **{"sender.retry_for_s": 1000.0})
    p = res.payments.row(0, named=True)
    assert not p["succeeded"] and p["failure_reason"] == "htlc_timeout"
    assert p["completion_s"] == pytest.approx(600.2)  # timeout at node 1, fail back to node 0
    assert not res.state["inflight_count"].any()


def test_max_attempts():
    net = net_from(**DIAMOND)
    balances = list(HALF)
    balances[2], balances[3] = 50_000_000, CAP - 50_000_000
    res = run(net, [(0.0, 0, 2, 100_000_000)], balances, **{"sender.max_attempts": 1})
    assert res.payments.row(0, named=True)["failure_reason"] == "liquidity"


def test_routing_never_reads_remote_balances():
    """The first route of a payment depends only on gossip and the sender's own balances."""
    net = net_from(**DIAMOND)
    rng = np.random.default_rng(3)
    first_routes = set()
    for _ in range(5):
        balances = np.array(HALF)
        remote = net.dir_src != 0
        split = rng.integers(0, CAP, size=net.n_channels)
        poisoned = np.empty(net.n_directions, np.int64)
        poisoned[0::2], poisoned[1::2] = split, CAP - split
        balances[remote] = poisoned[remote]
        balances[~remote] = np.array(HALF)[~remote]
        for c in range(net.n_channels):  # keep each channel consistent: own side fixed, other side follows
            if net.dir_src[2 * c] == 0:
                balances[2 * c + 1] = CAP - balances[2 * c]
            elif net.dir_src[2 * c + 1] == 0:
                balances[2 * c] = CAP - balances[2 * c + 1]
        res = run(net, [(0.0, 0, 2, 100_000_000)], balances, **{"sender.max_attempts": 1})
        first_routes.add(tuple(res.state["route_table"]["route_direction"].tolist()))
    assert first_routes == {(0, 2)}


def test_replaying_recorded_first_routes_reproduces_the_run():
    net = net_from(**DIAMOND)
    rows = [(0.0, 0, 2, 100_000_000), (0.05, 1, 3, 5_000_000), (0.1, 2, 0, 7_000_000)]
    first = run(net, rows, HALF, **{"sender.max_attempts": 1})
    routes = recorded_first_routes(first, 20)
    again = simulate(net, workload(rows), cfg(**{"sender.max_attempts": 1}),
                     balances=np.array(HALF), first_routes=routes)
    assert again.timings["route_searches"] == 0
    assert again.payments.equals(first.payments) and again.htlcs.equals(first.htlcs)


# senders 0 and 4 both reach receiver 2 cheaper over node 1, which cannot forward 100k sat
TWO_SENDERS = dict(n=5, edges=[(0, 1), (1, 2), (0, 3), (3, 2), (4, 1), (4, 3)],
                   ppm=[100, 100, 200, 100, 100, 100, 400, 100, 100, 100, 100, 100])
SHORT_1_TO_2 = [CAP // 2] * 2 + [50_000_000, CAP - 50_000_000] + [CAP // 2] * 8


@pytest.mark.parametrize("second_sender", [4, 0])
def test_retries_computed_ahead_change_nothing(second_sender):
    """Two payments fail at node 1 in turn; when the first retries, the second's retry is computed
    with it, before its failure is back. It holds if its sender's state stays as foreseen (another
    sender), and is searched again if not (the same sender, whose first retry locks a channel)."""
    net = net_from(**TWO_SENDERS)
    rows = [(0.0, 0, 2, 100_000_000), (0.05, second_sender, 2, 100_000_000)]
    ahead = run(net, rows, SHORT_1_TO_2)
    live = simulate(net, workload(rows), cfg(), balances=np.array(SHORT_1_TO_2), prefetch_routes=False)
    assert ahead.payments.equals(live.payments) and ahead.htlcs.equals(live.htlcs)
    assert ahead.payments["attempts"].to_list() == [2, 2]
    assert ahead.payments["fee_msat"].to_list() == [41_000, 41_000]
    assert ahead.payments["completion_s"].to_list() == pytest.approx([0.6, 0.6])
    assert ahead.timings["speculated_retries"] == 2
    assert live.timings["route_searches"] == 4 and live.timings["speculated_retries"] == 0
    if second_sender == 4:
        assert ahead.timings["speculated_retries_used"] == 2
        assert ahead.timings["route_searches"] == 0
    else:
        assert ahead.timings["speculated_retries_used"] == 1
        # the first payment's lock leaves the second's first route usable (it is revalidated); its
        # retry foresaw the first retry's lock neither way, and is searched again
        assert ahead.timings["prefetched_routes_revalidated"] == 1
        assert ahead.timings["route_searches"] == 1


SHORT_0_TO_1 = [300_000_000, CAP - 300_000_000] + [CAP // 2] * 6
SHORT_1_TO_2_DIAMOND = [CAP // 2] * 2 + [150_000_000, CAP - 150_000_000] + [CAP // 2] * 4


@pytest.mark.parametrize("first_msat, balances, second_at, revalidated, second_fee", [
    # the first payment's lock leaves 0 -> 1 able to carry the second: its route holds
    (100_000_000, SHORT_0_TO_1, 0.05, 1, 21_000),
    # the lock leaves 0 -> 1 short of the second payment: it is searched again and goes over 3
    (250_000_000, SHORT_0_TO_1, 0.05, 0, 41_000),
    # the first payment failed at node 1 and is back: balances are as when the route was
    # computed, but the sender has learned that 1 -> 2 is short, so it goes over 3
    (200_000_000, SHORT_1_TO_2_DIAMOND, 0.25, 0, 41_000),
])
def test_a_stale_first_route_is_used_only_if_a_search_would_find_it_again(
        first_msat, balances, second_at, revalidated, second_fee):
    """Both first routes are computed at the start; the first payment then changes its sender's
    state before the second starts. The second's route is used if the sender's own balances still
    allow the same hops and it has learned nothing new, and searched again otherwise."""
    net = net_from(**DIAMOND)
    rows = [(0.0, 0, 2, first_msat), (second_at, 0, 2, 100_000_000)]
    ahead = run(net, rows, balances)
    live = simulate(net, workload(rows), cfg(), balances=np.array(balances), prefetch_routes=False)
    assert ahead.payments.equals(live.payments) and ahead.htlcs.equals(live.htlcs)
    assert ahead.timings["prefetched_routes_revalidated"] == revalidated
    second = ahead.payments.row(1, named=True)
    assert second["succeeded"] and second["attempts"] == 1 and second["fee_msat"] == second_fee


# 0 -> 3 short of 100k sat, node 1 unable to forward it: the first route goes over 1 and fails
SHORT_0_TO_3_AND_1_TO_2 = ([CAP // 2] * 2 + [50_000_000, CAP - 50_000_000]
                           + [20_000_000, CAP - 20_000_000] + [CAP // 2] * 2)


@pytest.mark.parametrize("rows, balances, reused", [
    # the retry reuses the first search's forward potential: the sender's own channels allow no
    # hop they did not allow then
    ([(0.0, 0, 2, 100_000_000)], SHORT_0_TO_3_AND_1_TO_2[:4] + [CAP // 2] * 4, 1),
    # a payment from 3 settles into 0 -> 3 before the retry: a first hop the potential did not
    # price is usable now, so the retry searches forward afresh
    ([(0.25, 3, 0, 150_000_000), (0.3, 0, 2, 100_000_000)], SHORT_0_TO_3_AND_1_TO_2, 0),
])
def test_a_retry_reuses_its_first_search_potential_only_while_no_cost_fell(rows, balances, reused):
    net = net_from(**DIAMOND)
    runs = {reuse: simulate(net, workload(rows), cfg(), balances=np.array(balances),
                            reuse_potentials=reuse, debug_invariants=True) for reuse in (True, False)}
    assert runs[True].payments.equals(runs[False].payments)
    assert runs[True].htlcs.equals(runs[False].htlcs)
    assert runs[True].timings["potentials_reused"] == reused
    assert runs[False].timings["potentials_reused"] == 0
    retried = runs[True].payments.row(len(rows) - 1, named=True)
    assert retried["succeeded"] and retried["attempts"] == 2 and retried["fee_msat"] == 41_000


def test_a_retry_reuses_its_potential_while_another_payments_record_fades():
    """The first payment fails at node 1 (1 -> 2 short) and retries over 3. The second, at 0.25 s,
    avoids node 1 for that record and fails at 3 (3 -> 2 now short). Its retry at 0.45 s, with a
    half-life of 0.2 s, sees that record faded: its forward bounds priced it only as faded by the
    payment's deadline, so both retries reuse their potentials and find the routes a fresh search
    finds."""
    net = net_from(**DIAMOND)
    balances = ([CAP // 2] * 2 + [50_000_000, CAP - 50_000_000] + [CAP // 2] * 2
                + [150_000_000, CAP - 150_000_000])
    rows = [(0.0, 0, 2, 100_000_000), (0.25, 0, 2, 100_000_000)]
    res = run(net, rows, balances, **{"sender.penalty_half_life_s": 0.2})
    assert res.payments["attempts"].to_list() == [2, 2]
    assert res.timings["potentials_reused"] == 2
    fresh = simulate(net, workload(rows), cfg(**{"sender.penalty_half_life_s": 0.2}),
                     balances=np.array(balances, np.int64), reuse_potentials=False)
    assert fresh.timings["potentials_reused"] == 0
    assert fresh.payments.equals(res.payments) and fresh.htlcs.equals(res.htlcs)


def test_simulate_rejects_inconsistent_balances_and_workloads():
    from fastsim.errors import InputError

    net = net_from(**DIAMOND)
    bad = list(HALF)
    bad[0] += 1
    with pytest.raises(InputError, match="balance_msat"):
        simulate(net, workload([(0.0, 0, 2, 1000)]), cfg(), balances=np.array(bad))
    with pytest.raises(InputError, match="t_arrival_s"):
        simulate(net, workload([(1.0, 0, 2, 1000), (0.5, 0, 2, 1000)]), cfg(), balances=np.array(HALF))


def test_every_hop_enforces_the_channel_policy_against_ground_truth():
    """A replayed route that breaks a direction's htlc_max fails at that hop, whatever the sender thought."""
    net = net_from(**DIAMOND)
    capped = Network(**{**{c: getattr(net, c) for c in ("pubkey", "alias", "scid", "node0", "node1",
                                                         "capacity_msat", "fee_base_msat", "fee_rate_ppm",
                                                         "cltv_delta", "htlc_min_msat", "enabled")},
                        "htlc_max_msat": [CAP, CAP, 50_000_000, CAP, CAP, CAP, CAP, CAP]})
    rows = [(0.0, 0, 2, 100_000_000)]
    routes = recorded_first_routes(run(net, rows, HALF, **{"sender.max_attempts": 1}), 20)
    assert routes["direction"][0, :2].tolist() == [0, 2]
    res = simulate(capped, workload(rows), cfg(**{"sender.max_attempts": 1}), balances=np.array(HALF),
                   first_routes=routes, debug_invariants=True)
    assert res.payments.row(0, named=True)["failure_reason"] == "liquidity"
    assert res.htlcs["state"].cast(pl.Utf8).to_list() == ["failed"]


def snapshot_scenario(data_dir, **overrides):
    """1,500 payments, 100 a second, on the 2026 snapshot: its config and prepared scenario."""
    from fastsim.importers import load_network
    from fastsim.scenario import prepare

    config = load_config(None, overrides={"workload.n_payments": 1500, "workload.rate_per_s": 100.0,
                                          **overrides})
    return config, prepare(config,
                           network=load_network(data_dir / "ln-2026-02-03.listchannels.json.gz"))


@pytest.mark.parametrize("cost_model", ["fee", "lnd", "probability"])
def test_routes_computed_ahead_change_nothing_on_the_2026_snapshot(data_dir, cost_model):
    config, scenario = snapshot_scenario(data_dir, **{"sender.cost_model": cost_model})
    args = (scenario.network, scenario.workload, config)
    ahead = simulate(*args, balances=scenario.balances)
    live = simulate(*args, balances=scenario.balances, prefetch_routes=False)
    assert ahead.payments.equals(live.payments) and ahead.htlcs.equals(live.htlcs)
    assert violations(ahead, scenario.network) == []
    # most retries were computed with other failures in flight, and held
    assert ahead.timings["speculated_retries"] > 100
    assert ahead.timings["speculated_retries_used"] > 0.5 * ahead.timings["speculated_retries"]
    assert ahead.timings["route_searches"] < 0.2 * live.timings["route_searches"]


def test_results_do_not_depend_on_the_number_of_threads_on_the_2026_snapshot(data_dir):
    """One thread by default (engine.threads); a run on all cores must give the same, and leave
    the caller's thread setting as it was."""
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("Numba has a single thread here")
    config, scenario = snapshot_scenario(data_dir)
    before = numba.get_num_threads()
    one, many = (simulate(scenario.network, scenario.workload,
                          dataclasses.replace(config, engine=dataclasses.replace(
                              config.engine, threads=threads)),
                          balances=scenario.balances) for threads in (1, 0))
    assert numba.get_num_threads() == before
    assert one.payments.equals(many.payments) and one.htlcs.equals(many.htlcs)
    assert one.channels.equals(many.channels)


@pytest.mark.parametrize("mode", ["event", "atomic"])
def test_a_payment_never_reads_failures_from_its_simulated_future(mode):
    """Payment 0 (1.0 s) routes into unresponsive node 1 and learns so when its HTLC times out
    at 5.0 s; payment 1 (1.1 s) fails at node 3 for liquidity; payment 2 (5.3 s) must see payment
    0's record and avoid node 1. Atomic mode used to start payment 1 at 1.1 s, after payment 0
    had ended at 5.4 s: payment 1 read a record from its future, and its own record (1.3 s), put
    at the head of the newest-first list, ended payment 2's walk before it reached payment 0's.
    Now atomic mode starts a payment no earlier than the previous one ended."""
    net = net_from(4, [(0, 1), (1, 2), (0, 3), (3, 2)], ppm=[100, 100, 100, 100, 300, 300, 300, 300])
    balances = [CAP // 2] * 4 + [900_000_000, 100_000_000, 500_000_000, 500_000_000]
    rows = [(1.0, 0, 2, 100_000_000), (1.1, 0, 2, 600_000_000), (5.3, 0, 2, 100_000_000)]
    res = run(net, rows, balances, unresponsive=[1], **{
        "engine.mode": mode, "sender.cost_model": "fee", "sender.penalty_half_life_s": 4.0,
        "engine.htlc_timeout_s": 4.0})
    p = res.payments
    assert p["succeeded"].to_list() == [True, False, True]
    assert p["attempts"][2] == 1
    if mode == "atomic":
        assert (p["t_start_s"][1:].to_numpy() >= p["t_done_s"][:-1].to_numpy()).all()
        assert p["t_start_s"][1] == pytest.approx(5.4)
    else:
        assert p["t_start_s"].to_list() == p["t_arrival_s"].to_list()


def test_a_slot_refusal_teaches_only_what_its_message_says():
    """Payment 0 (node 4 -> 5, unresponsive) keeps the one HTLC slot of 1 -> 2 busy. Payment 1
    (100k sat) is refused there for lack of slots and retries over 3. The message it got back is
    BOLT #4's temporary_channel_failure for 100k sat, as for liquidity: payment 2 (50k sat) may
    still try node 1, and does, where it would not had the sender been told 'no slot'."""
    net = net_from(6, [(0, 1), (1, 2), (0, 3), (3, 2), (4, 1), (2, 5)],
                   ppm=[100, 100, 100, 100, 300, 300, 300, 300, 100, 100, 100, 100])
    rows = [(0.0, 4, 5, 10_000_000), (0.5, 0, 2, 100_000_000), (1.0, 0, 2, 50_000_000)]
    res = run(net, rows, [CAP // 2] * 12, unresponsive=[5], **{
        "engine.max_accepted_htlcs": 1, "sender.cost_model": "fee", "engine.htlc_timeout_s": 30.0,
        "sender.retry_for_s": 100.0})
    p = res.payments
    assert p["succeeded"].to_list() == [False, True, True]
    assert p["attempts"].to_list()[1:] == [2, 2]
    first_hops = res.htlcs.filter((pl.col("payment") == 2) & (pl.col("hop") == 0))["direction"]
    assert first_hops.to_list() == [0, 4]  # 0 -> 1 (refused again for the slot), then 0 -> 3


@pytest.mark.parametrize("points", [0, 20])
def test_the_timeline_follows_the_run_from_start_to_end(points):
    from fastsim.imbalance import network_imbalance
    from fastsim.scenario import prepare

    config = load_config(None, overrides={"network.synthetic_nodes": 150, "workload.n_payments": 1500,
                                          "engine.timeline_points": points})
    scenario = prepare(config)
    net = scenario.network
    res = simulate(net, scenario.workload, config, balances=scenario.balances)
    timeline = res.timeline
    if points == 0:
        assert timeline.height == 0 and timeline.columns == [
            "t_s", "payments_done", "succeeded", "success_rate", "imbalance"]
        return
    assert 3 <= timeline.height <= points + 2
    start, end = timeline.row(0, named=True), timeline.row(-1, named=True)
    imbalance = (lambda balance: network_imbalance(balance, net.direction_capacity_msat(),
                                                   net.dir_src, net.n_nodes))
    assert start == {"t_s": 0.0, "payments_done": 0, "succeeded": 0, "success_rate": None,
                     "imbalance": imbalance(scenario.balances)}
    summary = res.summary.row(0, named=True)
    assert end["payments_done"] == 1500 and end["succeeded"] == summary["succeeded"]
    assert end["success_rate"] == summary["success_rate"]
    assert end["imbalance"] == imbalance(res.state["balance_msat"])
    assert end["t_s"] >= np.nanmax(res.payments["t_done_s"].to_numpy())
    assert timeline["t_s"].is_sorted() and timeline["payments_done"].is_sorted()
    assert timeline["imbalance"].n_unique() > 2  # it moves as payments move liquidity


@pytest.mark.parametrize("overrides, passed", [
    ({}, (None, None)),
    ({"mpp.enabled": True}, (None, True)),
    ({"jit.variant": "conditional", "jit.adoption": 1.0}, (True, None)),
    ({"jit.variant": "none", "jit.adoption": 1.0}, (None, None)),  # adopters of nothing
])
def test_the_event_loop_gets_none_for_each_strategy_the_run_does_not_use(overrides, passed, tmp_path,
                                                                        monkeypatch):
    # None: Numba compiles the loop without that strategy's handlers (tests/kernels/test_jit.py)
    from fastsim.kernels import _jit
    from fastsim.kernels import events as ev

    seen = set()
    real = ev.run_events

    def spy(*args):
        seen.add(args[-2:])
        return real(*args)

    monkeypatch.setattr(ev, "run_events", spy)
    monkeypatch.setattr(_jit, "_FOLDER", tmp_path)
    net = net_from(**DIAMOND)
    run(net, [(0.0, 0, 2, 10**6), (0.1, 0, 2, 2 * 10**6)], HALF, **overrides)
    assert seen == {passed}
    jit, mpp = (flag is not None for flag in passed)
    noted = {p.name.split(".")[0] for p in tmp_path.glob("*.compiled")}
    assert noted == (set() if _jit.numba_config.DISABLE_JIT else {f"run_events-jit{int(jit)}-mpp{int(mpp)}"})
