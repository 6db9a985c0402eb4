"""Synthetic LN-like graphs: determinism, validity, scale and calibration to the 2026 usable graph."""

from __future__ import annotations

import numpy as np
import pytest

from fastsim.errors import InputError
from fastsim.network import Network
from fastsim.synth import (
    CAPACITY_SAT_QUANTILES,
    CLTV_VALUES,
    DEGREE1_SHARE,
    FEE_BASE_MSAT_QUANTILES,
    FEE_RATE_PPM_QUANTILES,
    MEAN_DEGREE,
    QUANTILE_GRID,
    synthesize,
)


def _q(table: np.ndarray, p: float) -> float:
    """The calibrated target quantile at probability p."""
    return float(np.interp(p, QUANTILE_GRID, table))


def _degrees(net: Network) -> np.ndarray:
    return np.bincount(np.concatenate([net.node0, net.node1]), minlength=net.n_nodes)


@pytest.fixture(scope="module")
def net10k() -> Network:
    return synthesize(n_nodes=10_000, seed=7)


def _same(a: Network, b: Network) -> bool:
    if a.pubkey.tolist() != b.pubkey.tolist() or a.scid.tolist() != b.scid.tolist():
        return False
    arrs_a, arrs_b = a.arrays(), b.arrays()
    return arrs_a.keys() == arrs_b.keys() and all(np.array_equal(arrs_a[k], arrs_b[k]) for k in arrs_a)


def test_same_seed_identical_network():
    assert _same(synthesize(n_nodes=2000, seed=11), synthesize(n_nodes=2000, seed=11))


def test_different_seeds_differ():
    a, b = synthesize(n_nodes=2000, seed=11), synthesize(n_nodes=2000, seed=12)
    assert not _same(a, b)
    assert not np.array_equal(a.capacity_msat, b.capacity_msat)


@pytest.mark.parametrize("n", [10, 11, 37, 100, 1000])
def test_small_sizes_valid_and_connected(n):
    net = synthesize(n_nodes=n, seed=n)
    assert net.n_nodes == n
    assert net.n_channels >= n - 1
    assert net.n_weak_components() == 1
    assert not np.any(net.node0 == net.node1)
    assert net.enabled.all()
    # all directions enabled and the graph connected, so it is one strongly connected component
    assert len(net.largest_scc()) == n
    assert net.balance_msat is None
    assert net.pubkey[0].startswith("syn") and set(net.alias.tolist()) == {""}
    assert len(set(net.scid.tolist())) == net.n_channels
    # policy sanity: htlc bounds within capacity, min <= max
    cap = net.direction_capacity_msat()
    assert np.all(net.htlc_min_msat <= net.htlc_max_msat)
    assert np.all(net.htlc_max_msat <= cap) and np.all(net.htlc_max_msat >= 1)


def test_100k_nodes_connected():
    # generation time is measured by the benchmarks, not asserted here
    net = synthesize(n_nodes=100_000, seed=3)
    assert net.n_nodes == 100_000
    assert net.n_channels == round(MEAN_DEGREE * 100_000 / 2)
    assert net.n_weak_components() == 1
    deg = _degrees(net)
    assert deg.max() > 0.05 * net.n_nodes  # hubs scale with n


def test_topology_calibration(net10k):
    deg = _degrees(net10k)
    n = net10k.n_nodes
    # channels per node: exact by construction (2m/n == mean degree up to rounding)
    assert abs(2 * net10k.n_channels / n - MEAN_DEGREE) < 0.01
    # share of degree-1 nodes: target 42.3%, tolerance +-5 points
    assert abs(np.mean(deg == 1) - DEGREE1_SHARE) < 0.05
    # median degree 2 as in the real usable graph (tolerance: 1..3)
    assert 1 <= np.median(deg) <= 3
    # hubs: the biggest hub has >= 5% of n channels (real: 29.6%), several hubs >> median
    assert deg.max() >= 0.05 * n
    assert np.sum(deg >= 100 * np.median(deg)) >= 5
    # parallel channels exist but are rare (real: 6.6%; tolerance: 1%..12%)
    pairs = np.unique(np.sort(np.stack([net10k.node0, net10k.node1], 1), 1), axis=0)
    parallel = 1 - len(pairs) / net10k.n_channels
    assert 0.01 < parallel < 0.12
    assert net10k.n_weak_components() == 1


def test_policy_and_capacity_calibration(net10k):
    """Medians lie between the calibrated 45% and 55% quantiles (sampling noise of a median over
    >= 50k draws is far below that band), CLTV values come from the measured set, median 80."""
    cap_sat = net10k.capacity_msat / 1000
    assert _q(CAPACITY_SAT_QUANTILES, 0.45) <= np.median(cap_sat) <= _q(CAPACITY_SAT_QUANTILES, 0.55)
    # real usable median capacity 3.01M sat: within 10%
    assert abs(np.median(cap_sat) / 3.01e6 - 1) < 0.10
    base = net10k.fee_base_msat
    assert _q(FEE_BASE_MSAT_QUANTILES, 0.45) <= np.median(base) <= _q(FEE_BASE_MSAT_QUANTILES, 0.55)
    assert 0.40 < np.mean(base == 0) < 0.52 and 0.34 < np.mean(base == 1000) < 0.46  # real 46%, 40%
    ppm = net10k.fee_rate_ppm
    assert _q(FEE_RATE_PPM_QUANTILES, 0.45) <= np.median(ppm) <= _q(FEE_RATE_PPM_QUANTILES, 0.55)
    assert 80 <= np.median(ppm) <= 125  # real median 100 ppm
    assert np.median(net10k.cltv_delta) == 80
    assert set(np.unique(net10k.cltv_delta).tolist()) <= set(CLTV_VALUES.tolist())
    # capacity rank-correlates with the smaller endpoint degree (leaf channels smaller)
    deg = _degrees(net10k)
    low = np.minimum(deg[net10k.node0], deg[net10k.node1])
    assert np.median(cap_sat[low == 1]) < 0.5 * np.median(cap_sat[low >= 10])


def test_mean_degree_and_disabled_share():
    net = synthesize(n_nodes=500, seed=1, mean_degree=4.0, disabled_share=0.25)
    assert net.n_channels == 1000
    assert net.n_weak_components() == 1
    assert 0.18 < 1 - net.enabled.mean() < 0.32
    tree = synthesize(n_nodes=50, seed=1, mean_degree=2.0)
    assert tree.n_channels == 50  # round(2*50/2); at least n-1
    dense = synthesize(n_nodes=20, seed=2, mean_degree=9.5)
    assert dense.n_channels == 95 and not np.any(dense.node0 == dense.node1)


@pytest.mark.parametrize("kwargs, name", [
    (dict(n_nodes=9, seed=0), "n_nodes"),
    (dict(n_nodes=10.5, seed=0), "n_nodes"),
    (dict(n_nodes=True, seed=0), "n_nodes"),
    (dict(n_nodes=100, seed=-1), "seed"),
    (dict(n_nodes=100, seed="1"), "seed"),
    (dict(n_nodes=100, seed=0, mean_degree=1.5), "mean_degree"),
    (dict(n_nodes=100, seed=0, mean_degree=60.0), "mean_degree"),
    (dict(n_nodes=100, seed=0, mean_degree=float("nan")), "mean_degree"),
    (dict(n_nodes=100, seed=0, disabled_share=1.0), "disabled_share"),
    (dict(n_nodes=100, seed=0, disabled_share=-0.1), "disabled_share"),
])
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(InputError, match=f"'{name}'"):
        synthesize(**kwargs)


def test_keyword_only():
    with pytest.raises(TypeError):
        synthesize(100, 1)  # type: ignore[misc]


def test_save_load_roundtrip(tmp_path):
    net = synthesize(n_nodes=200, seed=5)
    back = Network.load(net.save(tmp_path / "syn.parquet"))
    assert _same(net, back)
