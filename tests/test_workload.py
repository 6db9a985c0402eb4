"""Workload generation, validation and round trips."""

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastsim.errors import InputError
from fastsim.network import Network
from fastsim.workload import (
    generate_workload,
    read_workload,
    validate_workload,
    write_workload,
)


def star(n_leaves=20, dead=3):
    """A hub (node 0) with leaves; the last ``dead`` leaves have only disabled directions."""
    n = n_leaves + 1
    m = n_leaves
    enabled = np.ones(2 * m, bool)
    enabled[2 * (m - dead):] = False
    return Network(pubkey=[f"n{i}" for i in range(n)], scid=[f"c{i}" for i in range(m)],
                   node0=[0] * m, node1=list(range(1, n)),
                   capacity_msat=[10**9 * (i + 1) for i in range(m)], fee_base_msat=[0] * 2 * m,
                   fee_rate_ppm=[1] * 2 * m, cltv_delta=[40] * 2 * m, htlc_min_msat=[0] * 2 * m,
                   htlc_max_msat=[10**12] * 2 * m, enabled=enabled)


def test_endpoints_from_the_scc_and_left_out_reported():
    net = star()
    df, info = generate_workload(net, n_payments=2000, seed=1)
    assert info.candidates == 18 and info.left_out == 3
    assert set(df["src"].to_list()) | set(df["dst"].to_list()) <= set(range(18))
    assert (df["src"] != df["dst"]).all()
    _, info_all = generate_workload(net, n_payments=10, seed=1, endpoints="all")
    assert info_all.candidates == 21 and info_all.left_out == 0


def test_deterministic_per_seed():
    net = star()
    a, _ = generate_workload(net, n_payments=500, seed=4)
    b, _ = generate_workload(net, n_payments=500, seed=4)
    c, _ = generate_workload(net, n_payments=500, seed=5)
    assert a.equals(b) and not a.equals(c)


def test_poisson_rate_and_lognormal_median():
    df, _ = generate_workload(star(), n_payments=100_000, seed=2, rate_per_s=4.0,
                              amount_median_msat=1_000_000, amount_sigma=0.7)
    gaps = np.diff(df["t_arrival_s"].to_numpy())
    assert abs(gaps.mean() - 0.25) < 0.005 and (gaps >= 0).all()
    assert abs(np.median(df["amount_msat"].to_numpy()) / 1_000_000 - 1) < 0.02
    assert df.schema == {"id": pl.Int64, "t_arrival_s": pl.Float64, "src": pl.Int32,
                         "dst": pl.Int32, "amount_msat": pl.Int64}


def test_degree_capacity_and_zipf_weightings():
    net = star()
    df, _ = generate_workload(net, n_payments=20_000, seed=3, src_weighting="degree")
    share_hub = (df["src"] == 0).mean()
    assert share_hub > 0.3  # the hub has as many usable channels as all leaves together
    df, _ = generate_workload(net, n_payments=20_000, seed=3, dst_weighting="capacity")
    counts = np.bincount(df["dst"].to_numpy(), minlength=18)
    assert counts[17] > 5 * counts[1]  # leaf 17's channel is 17x leaf 1's
    df, _ = generate_workload(net, n_payments=20_000, seed=3, dst_weighting="zipf",
                              zipf_merchants=4, zipf_s=1.2)
    assert df["dst"].n_unique() <= 5  # four merchants, plus a redraw when a merchant pays itself


def test_fixed_and_file_amounts(tmp_path):
    net = star()
    df, _ = generate_workload(net, n_payments=50, seed=1, amount="fixed", amount_fixed_msat=777)
    assert set(df["amount_msat"].to_list()) == {777}
    pool = tmp_path / "amounts.csv"
    pl.DataFrame({"amount_msat": [5, 6, 7000]}).write_csv(pool)
    df, _ = generate_workload(net, n_payments=300, seed=1, amount="file", amount_file=str(pool))
    assert set(df["amount_msat"].to_list()) == {5, 6, 7000}
    bad = tmp_path / "bad.csv"
    pl.DataFrame({"sats": [5]}).write_csv(bad)
    with pytest.raises(InputError, match=r"bad\.csv.*amount_msat"):
        generate_workload(net, n_payments=3, seed=1, amount="file", amount_file=str(bad))


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_round_trip(tmp_path, suffix):
    df, _ = generate_workload(star(), n_payments=200, seed=9)
    path = write_workload(df, tmp_path / f"w{suffix}")
    back = read_workload(path, star())
    assert back.equals(df)


@pytest.mark.parametrize("change, field", [
    (lambda d: d.drop("amount_msat"), "amount_msat"),
    (lambda d: d.with_columns(amount_msat=pl.lit(-1)), "amount_msat"),
    (lambda d: d.with_columns(dst=pl.col("src")), "dst"),
    (lambda d: d.with_columns(t_arrival_s=-pl.col("t_arrival_s")), "t_arrival_s"),
    (lambda d: d.with_columns(src=pl.lit(99)), "src"),
    (lambda d: d.with_columns(amount_msat=pl.lit(1.5)), "amount_msat"),
    (lambda d: d.with_columns(id=pl.col("id") // 2), "id"),
    (lambda d: d.with_columns(src=pl.lit("02" + "ab" * 32)), "src"),
])
def test_bad_workload_files_name_file_and_column(tmp_path, change, field):
    df, _ = generate_workload(star(), n_payments=20, seed=9)
    path = tmp_path / "bad.parquet"
    change(df).write_parquet(path)
    with pytest.raises(InputError) as err:
        read_workload(path, star())
    assert "bad.parquet" in str(err.value) and f"'{field}'" in str(err.value)


def test_senders_and_receivers_as_pubkeys(tmp_path):
    net = star()
    df, _ = generate_workload(net, n_payments=50, seed=2)
    pubkeys = df.with_columns(src=pl.col("src").map_elements(lambda i: f"n{i}", return_dtype=pl.String))
    pubkeys.write_csv(tmp_path / "w.csv")
    assert read_workload(tmp_path / "w.csv", net).equals(df)
    with pytest.raises(InputError, match=r"w\.csv: field 'src': expected node indices \(pubkeys need"):
        read_workload(tmp_path / "w.csv")
    pubkeys.with_columns(src=pl.col("src").replace("n3", "nobody")).write_csv(tmp_path / "w.csv")
    with pytest.raises(InputError, match=r"w\.csv: field 'src': .* got 'nobody' \(row \d+"):
        read_workload(tmp_path / "w.csv", net)


def test_repeated_payment_ids_are_named(tmp_path):
    df, _ = generate_workload(star(), n_payments=5, seed=2)
    df.with_columns(id=pl.Series([0, 1, 2, 1, 4])).write_csv(tmp_path / "w.csv")
    with pytest.raises(InputError, match=r"w\.csv: field 'id': expected unique payment ids, 1 repeats"):
        read_workload(tmp_path / "w.csv", star())


def test_unknown_choice_is_an_error():
    with pytest.raises(InputError, match="workload.dst_weighting"):
        generate_workload(star(), n_payments=5, seed=1, dst_weighting="pareto")


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32), st.integers(0, 300), st.sampled_from(["uniform", "degree", "capacity"]))
def test_generated_workloads_always_validate(seed, n, weighting):
    net = star()
    df, _ = generate_workload(net, n_payments=n, seed=seed, src_weighting=weighting,
                              dst_weighting=weighting)
    assert validate_workload(df, net).equals(df)
