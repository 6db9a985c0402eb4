import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastsim.imbalance import network_imbalance
from tests import naive


def test_known_values():
    # node 0: shares 0 and 1 (Gini 1/2); node 1: 0, 0, 1 (2/3); node 2: one channel (left out)
    balance = np.array([0, 10, 0, 0, 4, 3])
    capacity = np.array([10, 10, 4, 4, 4, 6])
    dir_src = np.array([0, 0, 1, 1, 1, 2])
    assert network_imbalance(balance, capacity, dir_src, 3) == pytest.approx((1 / 2 + 2 / 3) / 2)
    even = np.array([5, 5, 2, 2, 2, 3])
    assert network_imbalance(even, capacity, dir_src, 3) == 0.0
    assert math.isnan(network_imbalance(balance[:1], capacity[:1], dir_src[:1], 3))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_matches_the_naive_twin(data):
    n_nodes = data.draw(st.integers(1, 6))
    m = data.draw(st.integers(1, 20))
    dir_src = np.array(data.draw(st.lists(st.integers(0, n_nodes - 1), min_size=m, max_size=m)))
    capacity = np.array(data.draw(st.lists(st.integers(1, 10**12), min_size=m, max_size=m)))
    balance = np.array([data.draw(st.integers(0, int(c))) for c in capacity])
    got = network_imbalance(balance, capacity, dir_src, n_nodes)
    want = naive.network_imbalance(balance, capacity, dir_src, n_nodes)
    assert (math.isnan(got) and math.isnan(want)) or math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)
