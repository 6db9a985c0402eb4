"""Network: validation at construction, CSR adjacency, Parquet round trip."""

import numpy as np
import pyarrow.parquet as pq
import pytest

from fastsim.errors import InputError
from fastsim.importers import import_network, load_network
from fastsim.network import Network


def tiny(**changes):
    kw = dict(pubkey=["a", "b", "c"], scid=["1", "2"], node0=[0, 1], node1=[1, 2],
              capacity_msat=[1000, 2000], fee_base_msat=[1] * 4, fee_rate_ppm=[1] * 4,
              cltv_delta=[40] * 4, htlc_min_msat=[0] * 4, htlc_max_msat=[1000] * 4,
              enabled=[True, True, True, False])
    kw.update(changes)
    return Network(**kw)


def test_directions_and_csr():
    net = tiny()
    assert net.dir_src.tolist() == [0, 1, 1, 2] and net.dir_dst.tolist() == [1, 0, 2, 1]
    for node in range(3):
        out = net.out_dir[net.out_ptr[node]:net.out_ptr[node + 1]]
        assert (net.dir_src[out] == node).all()
        inc = net.in_dir[net.in_ptr[node]:net.in_ptr[node + 1]]
        assert (net.dir_dst[inc] == node).all()
    assert net.out_ptr[-1] == net.in_ptr[-1] == 4
    assert net.largest_scc().tolist() == [0, 1]  # 2 -> 1 is disabled


def test_text_columns_are_one_buffer_each():
    # an object per name would keep a parsed snapshot's memory (see network._as_column)
    net = tiny(alias=["x", None, "\u26a1 node"])
    for name in ("pubkey", "alias", "scid"):
        assert getattr(net, name).dtype.kind == "U"
    assert net.alias.tolist() == ["x", "", "\u26a1 node"]


@pytest.mark.parametrize("change, field", [
    (dict(node1=[1, 1]), "node1"),
    (dict(node1=[1, 5]), "node1"),
    (dict(capacity_msat=[0, 5]), "capacity_msat"),
    (dict(fee_rate_ppm=[1, -1, 1, 1]), "fee_rate_ppm"),
    (dict(scid=["1", "1"]), "scid"),
    (dict(cltv_delta=[40, 40]), "cltv_delta"),
    (dict(balance_msat=[500, 400, 2000, 0]), "balance_msat"),
    (dict(fee_base_msat=[1.5, 1, 1, 1]), "fee_base_msat"),
])
def test_validation_names_the_field(change, field):
    with pytest.raises(InputError) as err:
        tiny(**change)
    assert f"'{field}'" in str(err.value)


def test_parquet_round_trip_keeps_everything(tmp_path):
    net = tiny(balance_msat=[600, 400, 2000, 0], alias=["x", "", "z"])
    back = Network.load(net.save(tmp_path / "n.parquet"))
    for name, arr in net.arrays().items():
        assert np.array_equal(arr, back.arrays()[name]), name
    assert back.pubkey.tolist() == ["a", "b", "c"] and back.alias.tolist() == ["x", "", "z"]
    assert back.scid.tolist() == ["1", "2"]
    table = pq.read_table(tmp_path / "n.parquet")
    assert table.schema.field("fee_rate_ppm").metadata[b"unit"] == b"ppm"


def test_not_a_network_file(tmp_path):
    bad = tmp_path / "other.parquet"
    pq.write_table(pq.read_table(tiny().save(tmp_path / "n.parquet")).drop(["fee_rate_ppm"])
                   .replace_schema_metadata(None), bad)
    with pytest.raises(InputError, match="other.parquet"):
        Network.load(bad)
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match="junk.parquet"):
        load_network(tmp_path / "junk.parquet")


def test_2026_snapshot_round_trip(tmp_path, data_dir):
    net, _ = import_network(data_dir / "ln-2026-02-03.listchannels.json.gz")
    back = load_network(net.save(tmp_path / "ln.parquet"))
    assert (back.n_nodes, back.n_channels) == (17_324, 50_808)
    for name, arr in net.arrays().items():
        assert np.array_equal(arr, back.arrays()[name]), name
    assert back.pubkey.tolist() == net.pubkey.tolist() and back.scid.tolist() == net.scid.tolist()
