"""lnd describegraph and CLoTH CSV: hand-written fixtures, bad input, the shared samples."""

import json

import numpy as np
import pytest

from fastsim.errors import InputError
from fastsim.importers import import_network, load_network

P1, P2, P3 = "02" + "1" * 64, "03" + "2" * 64, "02" + "3" * 64


def policy(**kw):
    base = {"time_lock_delta": 40, "min_htlc": "1000", "fee_base_msat": "1000",
            "fee_rate_milli_msat": "1", "disabled": False, "max_htlc_msat": "990000000"}
    base.update(kw)
    return base


def lnd_graph(tmp_path, edges, nodes=(P1, P2, P3), name="g.json"):
    doc = {"nodes": [{"pub_key": p, "alias": f"n{i}"} for i, p in enumerate(nodes)],
           "edges": edges}
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def edge(cid, a, b, p1=None, p2=None, capacity="1000000"):
    return {"channel_id": cid, "node1_pub": a, "node2_pub": b, "capacity": capacity,
            "node1_policy": p1, "node2_policy": p2}


def test_lnd_policies_and_null_policy(tmp_path):
    path = lnd_graph(tmp_path, [edge("7", P1, P2, policy(fee_rate_milli_msat="250"), None),
                                edge("8", P2, P3, policy(disabled=True), policy(max_htlc_msat="0"))])
    net, report = import_network(path)
    assert report.format == "lnd"
    assert net.alias.tolist() == ["n0", "n1", "n2"] and net.scid.tolist() == ["7", "8"]
    assert net.capacity_msat.tolist() == [10**9, 10**9]
    assert net.fee_rate_ppm.tolist()[:2] == [250, 0]
    assert net.enabled.tolist() == [True, False, False, True]
    assert net.htlc_max_msat[3] == 10**9  # lnd's 0 means no maximum: the capacity


@pytest.mark.parametrize("edges, field", [
    ([edge("7", P1, "02" + "9" * 64, policy())], "node2_pub"),
    ([edge("7", P1, P2, policy(fee_base_msat="x"))], "node1_policy.fee_base_msat"),
    ([edge("7", P1, P2, capacity="big")], "capacity"),
    ([{"node1_pub": P1}], "channel_id"),
    ([edge("7", P1, P2, "policy")], "node1_policy"),
])
def test_lnd_structural_errors(tmp_path, edges, field):
    with pytest.raises(InputError) as err:
        import_network(lnd_graph(tmp_path, edges, name="bad-graph.json"))
    assert "bad-graph.json" in str(err.value) and f"'{field}'" in str(err.value)


def test_lnd_duplicates_and_self_loops_counted(tmp_path):
    path = lnd_graph(tmp_path, [edge("7", P1, P2, policy()), edge("7", P2, P3, policy()),
                                edge("9", P3, P3, policy())])
    net, report = import_network(path)
    assert net.n_channels == 1
    assert report.warnings["duplicate_channels_dropped"] == 1
    assert report.warnings["self_loop_channels_dropped"] == 1


def test_lnd_zero_cltv_disabled_and_no_channel_kept_is_an_error(tmp_path):
    net, report = import_network(lnd_graph(tmp_path, [edge("7", P1, P2, policy(
        time_lock_delta=0, fee_base_msat="0", fee_rate_milli_msat="0"), policy())]))
    assert net.enabled.tolist() == [False, True]
    assert report.warnings["zero_cltv_directions_disabled"] == 1
    with pytest.raises(InputError, match="only.json: expected at least one usable channel"):
        import_network(lnd_graph(tmp_path, [edge("7", P1, P2, policy(), capacity="-5")], name="only.json"))


def cloth_files(tmp_path, *, balance0=600, channels_extra="", prefix="x", name="{prefix}-{part}.csv"):
    def path(part):
        return tmp_path / name.format(prefix=prefix, part=part)
    path("nodes").write_text("id\n0\n1\n2\n")
    path("channels").write_text(
        "id,edge1_id,edge2_id,node1_id,node2_id,capacity\n0,0,1,0,1,1000\n1,2,3,1,2,2000\n"
        + channels_extra)
    path("edges").write_text(
        "id,channel_id,counter_edge_id,from_node_id,to_node_id,balance,fee_base,fee_proportional,"
        "min_htlc,timelock\n"
        f"0,0,1,0,1,{balance0},5,10,1,40\n1,0,0,1,0,400,6,20,1,41\n"
        "2,1,3,1,2,2000,7,30,1,42\n3,1,2,2,1,0,8,40,1,43\n")
    return path("edges")


def test_cloth_keeps_balances_given_any_of_the_three_files(tmp_path):
    edges = cloth_files(tmp_path)
    for given in (edges, tmp_path / "x-nodes.csv", tmp_path / "x-channels.csv"):
        net, report = import_network(given)
        assert report.format == "cloth"
        assert net.balance_msat.tolist() == [600, 400, 2000, 0]
        assert net.fee_base_msat.tolist() == [5, 6, 7, 8] and net.cltv_delta.tolist() == [40, 41, 42, 43]


def test_cloth_as_its_own_repository_ships_it(tmp_path):
    """nodes_ln.csv, channels_ln.csv, edges_ln.csv beside other files: the folder or any of the three."""
    cloth_files(tmp_path, prefix="ln", name="{part}_{prefix}.csv")
    (tmp_path / "channels_template.csv").write_text("id\n")  # CLoTH's templates, no nodes file
    (tmp_path / "edges_template.csv").write_text("id\n")
    (tmp_path / "payments_ln.csv").write_text("id\n")
    for given in (tmp_path, tmp_path / "nodes_ln.csv", tmp_path / "channels_ln.csv", tmp_path / "edges_ln.csv"):
        net, report = import_network(given)
        assert report.format == "cloth" and net.balance_msat.tolist() == [600, 400, 2000, 0], given


def test_cloth_by_the_start_of_the_names(tmp_path):
    cloth_files(tmp_path, prefix="x")
    for given in ("x", "x-"):
        assert import_network(tmp_path / given)[1].format == "cloth", given


def test_folders_and_csv_files_that_hold_no_cloth_network(tmp_path):
    with pytest.raises(InputError, match="a folder with no CLoTH network in it"):
        import_network(tmp_path)
    cloth_files(tmp_path, prefix="a")
    cloth_files(tmp_path, prefix="b")
    with pytest.raises(InputError, match="a folder with 2 CLoTH networks in it"):
        import_network(tmp_path)
    (tmp_path / "amounts.csv").write_text("amount_msat\n5\n")
    with pytest.raises(InputError, match="amounts.csv: no CLoTH part in the file name"):
        import_network(tmp_path / "amounts.csv")
    with pytest.raises(InputError, match="c: file not found"):
        import_network(tmp_path / "c")


def test_cloth_bad_balances_and_references(tmp_path):
    cloth_files(tmp_path, balance0=601)
    with pytest.raises(InputError, match=r"x-edges\.csv.*'balance'"):
        import_network(tmp_path / "x-edges.csv")
    cloth_files(tmp_path, channels_extra="2,0,1,9,1,10\n")
    with pytest.raises(InputError, match=r"x-channels\.csv.*'node1_id'.*got 9"):
        import_network(tmp_path / "x-edges.csv")
    cloth_files(tmp_path, channels_extra="2,7,1,0,1,10\n")
    with pytest.raises(InputError, match=r"x-channels\.csv.*'edge1_id'.*got 7"):
        import_network(tmp_path / "x-edges.csv")
    cloth_files(tmp_path, channels_extra="2,2,3,1,2,10\n")
    with pytest.raises(InputError, match=r"x-edges\.csv.*'channel_id'"):
        import_network(tmp_path / "x-edges.csv")
    (tmp_path / "y-channels.csv").write_text("id\n")
    with pytest.raises(InputError, match="missing"):
        import_network(tmp_path / "y-channels.csv")


def test_samples_describe_the_same_channels(data_dir):
    lnd = load_network(data_dir / "lnd-describegraph-sample.json")
    cloth = load_network(data_dir / "cloth-sample")  # the start of the three files' names
    assert (lnd.n_nodes, lnd.n_channels) == (146, 339)
    assert cloth.n_channels == 339 and cloth.balance_msat is not None
    # CLoTH has no disabled flag: the sample writes lnd's disabled directions with CLTV delta 0
    assert np.array_equal(np.sort(lnd.cltv_delta[lnd.enabled]), np.sort(cloth.cltv_delta[cloth.enabled]))
    assert sorted(lnd.capacity_msat.tolist()) == sorted(cloth.capacity_msat.tolist())
    for name in ("fee_base_msat", "fee_rate_ppm", "cltv_delta"):
        assert np.array_equal(np.sort(getattr(lnd, name)), np.sort(getattr(cloth, name))), name
    assert np.array_equal(cloth.balance_msat[0::2] + cloth.balance_msat[1::2], cloth.capacity_msat)


def network_to_lnd_json(net, path):
    """Write a Network as lnd's describegraph JSON (int64 as strings, null policy when disabled)."""
    def pol(e):
        if not net.enabled[e]:
            return None
        return {"time_lock_delta": int(net.cltv_delta[e]), "min_htlc": str(net.htlc_min_msat[e]),
                "fee_base_msat": str(net.fee_base_msat[e]), "fee_rate_milli_msat": str(net.fee_rate_ppm[e]),
                "disabled": False, "max_htlc_msat": str(net.htlc_max_msat[e])}
    edges = [{"channel_id": str(c + 1), "node1_pub": net.pubkey[net.node0[c]],
              "node2_pub": net.pubkey[net.node1[c]], "capacity": str(net.capacity_msat[c] // 1000),
              "node1_policy": pol(2 * c), "node2_policy": pol(2 * c + 1)} for c in range(net.n_channels)]
    nodes = [{"pub_key": pk, "alias": ""} for pk in net.pubkey]
    path.write_text(json.dumps({"nodes": nodes, "edges": edges}))
    return path


def test_mainnet_sized_lnd_dump(tmp_path, data_dir):
    cln = load_network(data_dir / "ln-2026-02-03.listchannels.json.gz")
    lnd = load_network(network_to_lnd_json(cln, tmp_path / "mainnet.json"))
    assert (lnd.n_nodes, lnd.n_channels) == (17_324, 50_808)
    assert np.array_equal(lnd.enabled, cln.enabled)
    assert np.array_equal(lnd.fee_rate_ppm[lnd.enabled], cln.fee_rate_ppm[cln.enabled])
