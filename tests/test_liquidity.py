"""Initial liquidity: exact integer splits, modes, determinism, errors; hypothesis properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastsim.errors import InputError
from fastsim.liquidity import LIQUIDITY_MODES, initial_balances
from fastsim.network import Network
from fastsim.synth import synthesize
from tests.strategies import channel_ends

RANDOM_MODES = ("uniform", "skewed")


def _network(caps, ends, balance=None) -> Network:
    m = len(caps)
    n = int(max(max(a, b) for a, b in ends)) + 1 if m else 2
    zeros = np.zeros(2 * m, dtype=np.int64)
    return Network(
        pubkey=[f"n{i}" for i in range(n)], scid=[f"c{c}" for c in range(m)],
        node0=[a for a, _ in ends], node1=[b for _, b in ends],
        capacity_msat=np.asarray(caps, dtype=np.int64), fee_base_msat=zeros, fee_rate_ppm=zeros,
        cltv_delta=zeros.astype(np.int32), htlc_min_msat=zeros, htlc_max_msat=np.repeat(caps, 2),
        enabled=np.ones(2 * m, dtype=bool), balance_msat=balance, source="test",
    )


@pytest.fixture(scope="module")
def net():
    return synthesize(n_nodes=2000, seed=4)


def _check(net: Network, bal: np.ndarray):
    assert bal.dtype == np.int64 and bal.shape == (net.n_directions,)
    assert np.all(bal >= 0)
    assert np.array_equal(bal[0::2] + bal[1::2], net.capacity_msat)


@pytest.mark.parametrize("mode", ["uniform", "half", "skewed"])
def test_modes_split_capacity_exactly(net, mode):
    bal = initial_balances(net, mode=mode, seed=1)
    _check(net, bal)
    net.with_balances(bal)  # the network accepts them


def test_half_gives_odd_msat_to_side0():
    n = _network([7, 8, 1], [(0, 1), (1, 2), (2, 0)])
    assert initial_balances(n, mode="half", seed=0).tolist() == [4, 3, 4, 4, 1, 0]


def test_uniform_is_roughly_uniform(net):
    frac = initial_balances(net, mode="uniform", seed=2)[0::2] / net.capacity_msat
    # ~10.5k channels: mean 0.5 +- 0.02, each quartile holds 25% +- 3 points
    assert abs(frac.mean() - 0.5) < 0.02
    counts = np.histogram(frac, bins=[0, 0.25, 0.5, 0.75, 1.0])[0] / len(frac)
    assert np.all(np.abs(counts - 0.25) < 0.03)


@pytest.mark.parametrize("skew", [0.6, 0.9, 0.99])
def test_skew_controls_rich_side_share(net, skew):
    bal = initial_balances(net, mode="skewed", seed=3, skew=skew)
    rich = np.maximum(bal[0::2], bal[1::2]) / net.capacity_msat
    assert abs(rich.mean() - skew) < 0.03 if skew >= 0.9 else rich.mean() > skew - 0.05
    # random orientation: side 0 is the rich one in about half the channels
    side0 = (bal[0::2] >= bal[1::2]).mean()
    assert 0.45 < side0 < 0.55


def test_skewed_toward_hubs(net):
    bal = initial_balances(net, mode="skewed", seed=3, rich_side="hub")
    deg = np.bincount(np.concatenate([net.node0, net.node1]), minlength=net.n_nodes)
    d0, d1 = deg[net.node0], deg[net.node1]
    differ = d0 != d1
    hub_is_0 = (d0 > d1)[differ]
    hub_bal = np.where(hub_is_0, bal[0::2][differ], bal[1::2][differ])
    assert np.mean(hub_bal / net.capacity_msat[differ]) > 0.85


def test_source_mode_keeps_balances():
    bal = np.array([3, 4, 0, 8], dtype=np.int64)
    n = _network([7, 8], [(0, 1), (1, 2)], balance=bal)
    out = initial_balances(n, mode="source", seed=0)
    assert out.tolist() == bal.tolist()
    out[0] = 99  # a copy, the network stays untouched
    assert n.balance_msat[0] == 3


def test_source_mode_without_balances_names_field(net):
    with pytest.raises(InputError) as err:
        initial_balances(net, mode="source", seed=0)
    assert err.value.field == "liquidity.mode"


def test_unknown_mode_lists_valid_modes(net):
    with pytest.raises(ValueError) as err:
        initial_balances(net, mode="random", seed=0)
    for mode in LIQUIDITY_MODES:
        assert mode in str(err.value)


@pytest.mark.parametrize("kwargs, word", [
    (dict(mode="skewed", seed=0, skew=0.4), "skew"),
    (dict(mode="skewed", seed=0, skew=1.0), "skew"),
    (dict(mode="skewed", seed=0, rich_side="left"), "rich_side"),
    (dict(mode="uniform", seed=-1), "seed"),
    (dict(mode="uniform", seed=1.5), "seed"),
])
def test_bad_arguments(net, kwargs, word):
    with pytest.raises(ValueError, match=word):
        initial_balances(net, **kwargs)


@pytest.mark.parametrize("mode", RANDOM_MODES)
def test_deterministic_per_seed(net, mode):
    a = initial_balances(net, mode=mode, seed=5)
    assert np.array_equal(a, initial_balances(net, mode=mode, seed=5))
    assert not np.array_equal(a, initial_balances(net, mode=mode, seed=6))


# ---- hypothesis: random small networks and seeds -------------------------------------------------
@st.composite
def small_networks(draw):
    n, ends = draw(channel_ends(min_nodes=2, min_channels=0, max_channels=12))
    m = len(ends)
    caps = draw(st.lists(st.integers(1, 2 * 10**15), min_size=m, max_size=m))
    if m == 0:
        return _network([], [])
    return _network(caps, ends)


@settings(max_examples=60, deadline=None)
@given(small_networks(), st.sampled_from(["uniform", "half", "skewed"]), st.integers(0, 2**63 - 1),
       st.floats(0.5, 0.999), st.sampled_from(["random", "hub"]))
def test_property_exact_split(network, mode, seed, skew, rich_side):
    bal = initial_balances(network, mode=mode, seed=seed, skew=skew, rich_side=rich_side)
    _check(network, bal)
    again = initial_balances(network, mode=mode, seed=seed, skew=skew, rich_side=rich_side)
    assert np.array_equal(bal, again)


@settings(max_examples=25, deadline=None)
@given(st.integers(10, 60), st.integers(0, 10**6), st.sampled_from(RANDOM_MODES))
def test_property_synthetic_networks(n, seed, mode):
    network = synthesize(n_nodes=n, seed=seed)
    bal = initial_balances(network, mode=mode, seed=seed)
    _check(network, bal)
    assert len(network.with_balances(bal).balance_msat) == network.n_directions
