"""Message latencies: a pure function of the message, its jitter exactly half-normal."""

import math

import numpy as np
from scipy import stats

from fastsim.kernels._jit import from_python
from fastsim.kernels.latency import half_normal, hop_latency_s
from fastsim.kernels.layout import EV_ARRIVE, EV_FAIL

# the kernels Python calls here, with the CPython wrapper the package's copies go without
half_normal = from_python(half_normal)
hop_latency_s = from_python(hop_latency_s)


def test_half_normal_draws_follow_the_half_normal_distribution():
    keys = np.random.default_rng(7).integers(0, 2**63, 20_000, dtype=np.uint64)
    draws = np.array([half_normal(k) for k in keys])
    assert (draws >= 0).all()
    assert stats.kstest(draws, stats.halfnorm.cdf).pvalue > 1e-3
    assert abs(draws.mean() - math.sqrt(2 / math.pi)) < 0.02
    # the slow paths (layer edges, the tail beyond 3.44) are taken and land where they should
    assert (draws > 3.442619855899).mean() < 0.003 and draws.max() > 3.0


def test_latency_is_a_pure_function_of_the_message():
    a = hop_latency_s(5, 12, 1, 3, EV_ARRIVE, 100.0, 10.0)
    assert a == hop_latency_s(5, 12, 1, 3, EV_ARRIVE, 100.0, 10.0)
    assert a != hop_latency_s(5, 12, 1, 3, EV_FAIL, 100.0, 10.0)
    assert a != hop_latency_s(6, 12, 1, 3, EV_ARRIVE, 100.0, 10.0)
    assert 0.1 <= a < 0.1 + 0.01 * 6
    assert hop_latency_s(5, 12, 1, 3, EV_ARRIVE, 100.0, 0.0) == 0.1
