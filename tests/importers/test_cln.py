"""Core Lightning listchannels: real snapshots and hand-written bad input."""

import gzip
import json

import numpy as np
import pytest

from fastsim.errors import InputError
from fastsim.importers import import_network, load_network

A, B, C = "02" + "a" * 64, "03" + "b" * 64, "02" + "c" * 64


def entry(src, dst, scid, **kw):
    base = {"source": src, "destination": dst, "short_channel_id": scid, "public": True,
            "satoshis": 1000, "amount_msat": "1000000msat", "active": True,
            "base_fee_millisatoshi": 1000, "fee_per_millionth": 100, "delay": 40,
            "htlc_minimum_msat": "1msat", "htlc_maximum_msat": "990000msat"}
    base.update(kw)
    return base


def write(tmp_path, entries, name="lc.json", gz=False):
    path = tmp_path / name
    text = json.dumps({"channels": entries})
    if gz:
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def test_directions_sides_and_policies_exact(tmp_path):
    path = write(tmp_path, [entry(B, A, "1x1x1", fee_per_millionth=7),
                            entry(A, B, "1x1x1", base_fee_millisatoshi=0, amount_msat=1_000_000),
                            entry(A, C, "1x2x1", htlc_maximum_msat=500000)], gz=True)
    net, report = import_network(path)
    assert report.format == "cln" and net.pubkey.tolist() == [A, C, B]  # sorted pubkeys
    assert net.scid.tolist() == ["1x1x1", "1x2x1"]
    # side 0 is the direction from the lower pubkey (A)
    assert (net.node0.tolist(), net.node1.tolist()) == ([0, 0], [2, 1])
    assert net.fee_base_msat.tolist() == [0, 1000, 1000, 0]
    assert net.fee_rate_ppm.tolist() == [100, 7, 100, 0]
    # a missing reverse entry is a disabled direction
    assert net.enabled.tolist() == [True, True, True, False]
    assert net.htlc_max_msat.tolist()[2] == 500000 and net.capacity_msat.tolist() == [10**6] * 2


def test_parallel_channels_stay_separate(tmp_path):
    net = load_network(write(tmp_path, [entry(A, B, "1x1x1"), entry(A, B, "1x1x2")]))
    assert net.n_channels == 2


@pytest.mark.parametrize("entries, key", [
    ([entry(A, A, "1x1x1")], "self_loop_channels_dropped"),
    ([entry(A, B, "1x1x1", amount_msat="0msat")], "nonpositive_capacity_channels_dropped"),
    ([entry(A, B, "1x1x1"), entry(A, C, "1x1x1")], "duplicate_channels_dropped"),
    ([entry(A, B, "1x1x1"), entry(A, B, "1x1x1")], "duplicate_direction_entries_dropped"),
    ([entry(A, B, "1x1x1", fee_per_millionth=3_000_000)], "absurd_fee_directions_disabled"),
    ([entry(A, B, "1x1x1", base_fee_millisatoshi=10**9)], "absurd_fee_directions_disabled"),
    ([entry(A, B, "1x1x1", htlc_minimum_msat="10msat", htlc_maximum_msat="5msat")],
     "htlc_max_below_min_directions_disabled"),
    ([entry(A, B, "1x1x1", delay=0, base_fee_millisatoshi=0, fee_per_millionth=0)],
     "zero_cltv_directions_disabled"),
])
def test_data_quality_problems_are_counted_never_silent(tmp_path, entries, key):
    net, report = import_network(write(tmp_path, entries + [entry(B, C, "9x9x9")]))
    assert report.warnings[key] == 1
    assert any(key.split("_")[0] in line or "warning" in line for line in report.lines()[1:])
    if key.endswith("disabled"):
        assert not net.enabled[0] and net.n_channels == 2


@pytest.mark.parametrize("entries, field", [
    ([{"source": A, "destination": B}], "short_channel_id"),
    ([entry(A, B, "1x1x1", amount_msat="12 sats")], "amount_msat"),
    ([entry(A, B, "1x1x1", fee_per_millionth="cheap")], "fee_per_millionth"),
    ([entry(A, B, "1x1x1", active="yes")], "active"),
    ([entry(A, B, "1x1x1", delay=-5)], "cltv_delta"),
    (["not an object"], "entry"),
])
def test_structural_errors_name_file_and_field(tmp_path, entries, field):
    path = write(tmp_path, entries, "broken.json")
    with pytest.raises(InputError) as err:
        import_network(path)
    assert "broken.json" in str(err.value) and f"'{field}'" in str(err.value)


def test_invalid_json_and_gzip(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"channels": [')
    with pytest.raises(InputError, match=r"bad\.json.*(invalid JSON|cannot tell)"):
        import_network(bad, format="cln")
    gz = tmp_path / "bad.json.gz"
    gz.write_bytes(b"\x1f\x8b" + b"garbage")
    with pytest.raises(InputError, match=r"bad\.json\.gz"):
        import_network(gz, format="cln")
    with pytest.raises(InputError, match="'channels'"):
        (tmp_path / "x.json").write_text('{"chans": []}')
        import_network(tmp_path / "x.json", format="cln")


def test_an_import_that_keeps_no_channel_is_an_error(tmp_path):
    with pytest.raises(InputError, match=r"lc\.json: expected at least one usable channel, kept none "
                                         r"of the 1 read \(1 channels with zero or negative capacity"):
        import_network(write(tmp_path, [entry(A, B, "1x1x1", amount_msat="-5msat")]))
    with pytest.raises(InputError, match="kept none of the 0 read"):
        import_network(write(tmp_path, []))


def test_2026_snapshot_counts(data_dir):
    net, report = import_network(data_dir / "ln-2026-02-03.listchannels.json.gz")
    assert (net.n_nodes, net.n_channels) == (17_324, 50_808)
    # 35,806 directions are announced disabled; one more is announced with CLTV delta 0 and no fees
    assert int((~net.enabled).sum()) == 35_807
    assert net.largest_scc().size == 6_191
    assert {k: v for k, v in report.warnings.items() if v} == {"zero_cltv_directions_disabled": 1}
    assert np.median(net.capacity_msat) == 1_282_038_000 or abs(np.median(net.capacity_msat) / 1.28e9 - 1) < 0.01


def test_2021_snapshot_counts_and_absurd_fees(data_dir):
    net, report = import_network(data_dir / "ln-2021-04-16.listchannels.json.gz")
    assert (net.n_nodes, net.n_channels) == (8_827, 37_454)
    # 44 directions charge more than 1e6 ppm; 12 more a base fee above 100,000 sat
    assert report.warnings["absurd_fee_directions_disabled"] == 56
    assert report.warnings["zero_cltv_directions_disabled"] == 3
    assert net.fee_rate_ppm[net.enabled].max() <= 1_000_000
    assert net.enabled.sum() + 19_343 == net.n_directions
