"""Synthetic Lightning-like channel graphs: the embedded default that needs no data.

``synthesize(n_nodes=..., seed=...)`` builds a connected, scale-free multigraph whose channel count,
degree distribution, capacities and routing policies are calibrated to the *usable* part of the real
mainnet graph of 2026-02-03 (``shared/data/ln-2026-02-03.listchannels.json.gz``): active directions,
channels inside the largest strongly connected component over active directions (6,191 nodes,
32,619 channels, 64,497 usable directions). The synthetic graph stands for that usable network, so all
its directions are enabled by default.

How the graph is built (all vectorized with numpy, one seeded ``numpy.random.Generator``):

1. A target degree ``d_i`` per node: ``P(d=1)`` and ``P(d=2)`` as measured, and a power-law tail
   ``P(d) ~ d**-gamma`` on ``3..d_max`` with ``d_max = HUB_DEGREE_SHARE * n`` (the biggest real hub
   has channels to 29.6% of the usable nodes); ``gamma`` is solved so that the mean degree is
   ``mean_degree`` (default: the measured 10.54, i.e. 5.27 channels per node).
2. A spanning tree makes the graph one connected component: nodes sorted by target degree (hubs
   first), each later node opens one channel to an earlier node chosen with probability
   proportional to ``d_j - 1`` (preferential attachment; degree-1 nodes never receive channels).
3. The remaining channels join endpoints drawn proportionally to their *remaining* target degree
   (a Chung-Lu / configuration model), in rounds that drop self-loops and repeated pairs.
4. A small share of channels (``PARALLEL_SHARE``, measured 6.6%) are then duplicated as parallel
   channels between nodes that already share a non-tree channel; degree-1 nodes stay degree 1.
5. Channel capacities are drawn from the measured quantile table, rank-correlated (Gaussian copula)
   with the smaller endpoint degree, as measured: leaf channels are small, hub-to-hub channels big.
6. Policies per direction (base fee, ppm, CLTV delta, htlc_min, htlc_max/capacity) are drawn
   independently from the measured marginal distributions.
7. Node labels and channel order are shuffled, channel sides oriented at random.

Quantile tables are sampled by inverse-CDF interpolation in ``log1p`` space: runs of equal quantiles
reproduce the point masses of the real data (1 ppm, 1000 msat base, 1M sat capacity, ...) exactly,
gaps are filled geometrically.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy.special import ndtr, ndtri

from fastsim.errors import InputError
from fastsim.network import Network

# --------------------------------------------------------------------------------------------------
# Calibration targets. Measured with a throwaway script (stdlib json+gzip, numpy, scipy csgraph) on
# ln-2026-02-03.listchannels.json.gz, usable part: directions with active=true, channels with both
# endpoints in the largest strongly connected component over active directions and at least one
# active direction. Channel-level numbers (capacity, degree) are over those 32,619 channels; direction
# policy numbers over the 64,497 active directions among them.
# --------------------------------------------------------------------------------------------------

#: usable nodes / channels of the 2026 snapshot the tables below come from.
CALIBRATION_NODES = 6_191
CALIBRATION_CHANNELS = 32_619

#: mean number of channels per node is 32,619 / 6,191 = 5.27, i.e. mean degree 10.54.
MEAN_DEGREE = 10.54
#: share of nodes with exactly one / two channels (real: 42.3% / 13.3%; median degree 2).
DEGREE1_SHARE = 0.4227
DEGREE2_SHARE = 0.1334
#: biggest hub's channels relative to the node count (real: 1,831 channels / 6,191 nodes).
#: The next hubs have 1,147, 894, 755, 541 channels; the top 1% of nodes hold 30% of channel ends.
HUB_DEGREE_SHARE = 0.296
#: share of channels parallel to an earlier channel between the same two nodes (real: 6.6%).
PARALLEL_SHARE = 0.066
#: Gaussian-copula correlation between log capacity rank and the smaller endpoint degree rank
#: (real Spearman rho 0.59; median capacity 50k sat when an endpoint has one channel, 5M sat when
#: both have >= 10).
CAPACITY_DEGREE_RHO = 0.6

#: probability grid of the quantile tables: percentiles 0..99, then 99.5, 99.9 and 100.
QUANTILE_GRID = np.concatenate([np.arange(100) / 100.0, [0.995, 0.999, 1.0]])

#: channel capacity quantiles, sat (real median 3.01M sat over the usable channels; the whole
#: announced graph's median is 1.28M sat: small channels are more often dead).
CAPACITY_SAT_QUANTILES = np.array([
    10000, 20000, 20000, 20000, 20000, 50000, 100000, 100000, 100000, 153961, 201175, 300000, 400000,
    451837, 500000, 500000, 501881, 718388, 945727, 1000000, 1000000, 1000000, 1000000, 1000000,
    1000000, 1000000, 1000000, 1000000, 1000000, 1010000, 1100000, 1279062, 1500000, 1571121, 1998318,
    2000000, 2000000, 2000000, 2000000, 2000000, 2000000, 2000000, 2020202, 2209772, 2500000, 2569420,
    3000000, 3000000, 3000000, 3000000, 3010000, 3503009, 4000000, 4000000, 4000784, 4886004, 5000000,
    5000000, 5000000, 5000000, 5000000, 5000000, 5000000, 5000000, 5000000, 5000000, 5120000, 5999341,
    6000000, 7000000, 7791276, 8000000, 9865759, 10000000, 10000000, 10000000, 10000000, 10000000,
    10000000, 10000000, 10000000, 10000000, 10101012, 12000000, 14000000, 15000000, 16000000, 16777215,
    18737582, 20000000, 21000000, 25000000, 30000000, 45000000, 50000000, 50000000, 85000000,
    100000000, 200000000, 300000000, 500000000, 500000000, 720000000,
], dtype=np.float64)

#: fee_per_millionth quantiles over usable directions (median 100 ppm; 22% of directions at 1 ppm).
FEE_RATE_PPM_QUANTILES = np.array([
    0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 5, 7, 10,
    10, 10, 10, 12, 20, 22, 29, 36, 48, 50, 58, 70, 83, 100, 100, 100, 100, 100, 117, 133, 150, 174,
    196, 200, 205, 222, 250, 271, 300, 321, 350, 400, 440, 490, 499, 499, 500, 500, 500, 500, 500, 501,
    576, 640, 726, 800, 850, 960, 999, 1000, 1000, 1000, 1142, 1320, 1500, 1735, 1983, 2000, 2000, 2365,
    2500, 2600, 3000, 3997, 4471, 5000, 10000, 10000, 50000, 1000000,
], dtype=np.float64)

#: base_fee_millisatoshi quantiles over usable directions (46% are 0, 40% are 1000; median 10 msat.
#: The whole announced graph's median is 33 msat).
FEE_BASE_MSAT_QUANTILES = np.array([
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 10, 100, 136, 387, 500, 750, 1000, 1000, 1000, 1000,
    1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000,
    1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000,
    1000, 1000, 1000, 1000, 1000, 2000, 5000, 10000, 69420, 9999000, 10000000,
], dtype=np.float64)

#: htlc_maximum_msat / capacity quantiles over usable directions (81% at >= 0.99 of capacity).
HTLC_MAX_RATIO_QUANTILES = np.array(
    [0.0, 0.001, 0.01, 0.05, 0.1111, 0.2, 0.2532, 0.4, 0.45, 0.45, 0.45, 0.45, 0.5, 0.594, 0.693,
     0.8371, 0.891, 0.9, 0.96, 0.9891] + [0.99] * 73 + [1.0] * 10,
    dtype=np.float64,
)

#: cltv_expiry_delta values with >= 0.2% of usable directions (together 98%; renormalized).
#: Median 80; 80: 38%, 144: 18%, 40: 17%, 100: 11%, 34: 6%.
CLTV_VALUES = np.array([18, 20, 34, 40, 51, 60, 72, 78, 80, 89, 100, 119, 120, 140, 144, 200, 222, 288])
CLTV_WEIGHTS = np.array([0.0251, 0.0021, 0.0624, 0.1697, 0.0079, 0.0051, 0.0077, 0.0031, 0.3816,
                         0.0040, 0.1131, 0.0020, 0.0061, 0.0026, 0.1780, 0.0036, 0.0033, 0.0025])

#: htlc_minimum_msat values with >= 0.2% of usable directions (together 99%; renormalized).
HTLC_MIN_VALUES = np.array([0, 1, 100, 1000, 3000, 5000, 9000, 10000, 100000, 300000, 1000000,
                            10000000], dtype=np.int64)
HTLC_MIN_WEIGHTS = np.array([0.0165, 0.0994, 0.0048, 0.7881, 0.0047, 0.0069, 0.0037, 0.0083, 0.0287,
                             0.0025, 0.0239, 0.0021])

MIN_NODES = 10
MAX_NODES = 10_000_000
_EXTRA_ROUNDS = 12


# --------------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------------
def _check_int(name: str, value, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(None, name, f"expected a whole number, got {value!r}")
    value = int(value)
    if value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi:,}]"
        raise InputError(None, name, f"expected a value {rng}, got {value}")
    return value


def _check_float(name: str, value, lo: float, hi: float, hi_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(None, name, f"expected a number, got {value!r}")
    value = float(value)
    ok = np.isfinite(value) and lo <= value and (value < hi if hi_open else value <= hi)
    if not ok:
        bracket = ")" if hi_open else "]"
        raise InputError(None, name, f"expected a value in [{lo:g}, {hi:g}{bracket}, got {value!r}")
    return value


def max_mean_degree(n_nodes: int) -> float:
    """Largest mean degree ``synthesize`` accepts for ``n_nodes`` nodes (half a complete graph)."""
    return (n_nodes - 1) / 2.0


def default_mean_degree(n_nodes: int) -> float:
    """The calibrated mean degree, lowered for tiny graphs where it cannot fit."""
    return min(MEAN_DEGREE, max_mean_degree(n_nodes))


# --------------------------------------------------------------------------------------------------
# sampling helpers
# --------------------------------------------------------------------------------------------------
def sample_quantiles(u: np.ndarray, table: np.ndarray, grid: np.ndarray = QUANTILE_GRID) -> np.ndarray:
    """Inverse-CDF sample: interpolate the quantile ``table`` (on ``grid``) at ``u`` in log1p space."""
    return np.expm1(np.interp(u, grid, np.log1p(table)))


def _degree_pmf(n: int, mean_degree: float) -> np.ndarray:
    """P(d) for d = 1..d_max: measured shares of degree 1 and 2, power-law tail fitted to the mean."""
    d_max = int(max(3, min(n - 1, round(HUB_DEGREE_SHARE * n))))
    d = np.arange(3, d_max + 1, dtype=np.float64)
    tail_mass = 1.0 - DEGREE1_SHARE - DEGREE2_SHARE
    head_mean = DEGREE1_SHARE + 2 * DEGREE2_SHARE

    def tail_mean(gamma: float) -> float:
        w = d ** -gamma
        return float((w * d).sum() / w.sum())

    want = (mean_degree - head_mean) / tail_mass
    lo, hi = -2.0, 12.0  # tail_mean is decreasing in gamma
    if want >= tail_mean(lo):
        gamma = lo
    elif want <= tail_mean(hi):
        gamma = hi
    else:
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if tail_mean(mid) > want:
                lo = mid
            else:
                hi = mid
        gamma = 0.5 * (lo + hi)
    w = d ** -gamma
    return np.concatenate([[DEGREE1_SHARE, DEGREE2_SHARE], tail_mass * w / w.sum()])


def _draw(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    cum = np.cumsum(weights, dtype=np.float64)
    idx = np.searchsorted(cum, rng.random(size) * cum[-1], side="right")
    return np.minimum(idx, len(weights) - 1)


def _topology(rng: np.random.Generator, n: int, m: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Endpoints (a, b) of m channels on nodes sorted by target degree (0 = biggest hub), n_tree."""
    mean_degree = 2.0 * m / n
    pmf = _degree_pmf(n, mean_degree)
    target = (_draw(rng, pmf, n) + 1).astype(np.int64)
    target = np.sort(target)[::-1]
    target[0] = max(target[0], len(pmf))  # the biggest hub gets HUB_DEGREE_SHARE * n channels
    w = (target - 1).astype(np.float64)

    # 1. spanning tree: node i > 0 attaches to j < i with probability ~ w_j (w_0 > 0).
    cumw = np.cumsum(w)
    i = np.arange(1, n)
    parent = np.searchsorted(cumw, rng.random(n - 1) * cumw[i - 1], side="right")
    parent = np.minimum(parent, i - 1)
    a_parts, b_parts = [i.astype(np.int64)], [parent.astype(np.int64)]
    deg = np.bincount(np.concatenate([i, parent]), minlength=n).astype(np.int64)
    keys = np.sort(np.minimum(i, parent) * n + np.maximum(i, parent))

    # 2. simple extra channels ~ remaining target degree; 3. parallel channels.
    n_parallel = int(round(PARALLEL_SHARE * (m - (n - 1))))
    n_simple = m - (n - 1) - n_parallel
    placed = 0
    for rnd in range(_EXTRA_ROUNDS + 1):
        need = n_simple - placed
        if need <= 0:
            break
        resid = np.maximum(target - deg, 0).astype(np.float64)
        weights = resid if resid.sum() > 0 and rnd < _EXTRA_ROUNDS // 2 else w
        if rnd == _EXTRA_ROUNDS:  # dense corner cases: give the rest to parallel channels
            n_parallel += need
            break
        draw = int(need * 1.2) + 16
        a = _draw(rng, weights, draw)
        b = _draw(rng, weights, draw)
        ok = a != b
        a, b = a[ok], b[ok]
        k = np.minimum(a, b) * n + np.maximum(a, b)
        srt = np.argsort(k, kind="stable")
        ks = k[srt]
        head = np.ones(len(ks), dtype=bool)
        head[1:] = ks[1:] != ks[:-1]
        k, first = ks[head], srt[head]
        fresh = ~np.isin(k, keys, assume_unique=True)
        first = np.sort(first[fresh])[:need]
        a, b = a[first], b[first]
        a_parts.append(a)
        b_parts.append(b)
        keys = np.sort(np.concatenate([keys, np.minimum(a, b) * n + np.maximum(a, b)]))  # fresh keys
        deg += np.bincount(np.concatenate([a, b]), minlength=n)
        placed += len(a)

    a_all = np.concatenate(a_parts)
    b_all = np.concatenate(b_parts)
    if n_parallel:
        extra = np.arange(n - 1, len(a_all))
        pool = extra if len(extra) else np.arange(len(a_all))
        pick = pool[rng.integers(0, len(pool), n_parallel)]
        a_all = np.concatenate([a_all, a_all[pick]])
        b_all = np.concatenate([b_all, b_all[pick]])
    return a_all, b_all, n - 1


def synthesize(*, n_nodes: int, seed: int, mean_degree: float | None = None,
               disabled_share: float = 0.0) -> Network:
    """A connected, scale-free, Lightning-like synthetic network.

    Args:
        n_nodes: number of nodes, 10 .. 10,000,000 (100k nodes take about a second).
        seed: seed of the ``numpy.random.Generator``; the same seed gives the identical network.
        mean_degree: average number of channels per node times two (each channel has two ends);
            default ``MEAN_DEGREE`` = 10.54 as measured (lowered to ``(n_nodes-1)/2`` for tiny graphs).
            Must be in ``[2, (n_nodes-1)/2]``. The channel count is ``round(mean_degree*n_nodes/2)``,
            at least ``n_nodes - 1`` (the spanning tree).
        disabled_share: share of directions marked disabled at random, in ``[0, 1)``; default 0 (the
            synthetic graph stands for the usable network; the real usable part has 1.1% of the
            directions of its channels disabled).

    Returns:
        A ``Network`` with synthetic pubkeys ``syn000123``, scids ``0x0x<channel>``, empty aliases,
        no balances (see :func:`fastsim.liquidity.initial_balances`) and source ``synthetic:...``.
    """
    n = _check_int("n_nodes", n_nodes, MIN_NODES, MAX_NODES)
    seed = _check_int("seed", seed, 0)
    if mean_degree is None:
        mean_degree = default_mean_degree(n)
    mean_degree = _check_float("mean_degree", mean_degree, 2.0, max_mean_degree(n))
    disabled_share = _check_float("disabled_share", disabled_share, 0.0, 1.0, hi_open=True)

    rng = np.random.default_rng(seed)
    m = max(n - 1, int(round(mean_degree * n / 2.0)))
    a, b, _ = _topology(rng, n, m)

    # shuffle node labels and channel order, orient sides at random
    relabel = rng.permutation(n).astype(np.int64)
    order = rng.permutation(m)
    a, b = relabel[a[order]], relabel[b[order]]
    flip = rng.random(m) < 0.5
    node0 = np.where(flip, b, a).astype(np.int32)
    node1 = np.where(flip, a, b).astype(np.int32)

    # capacity: Gaussian copula with the smaller endpoint degree (ties broken at random)
    deg = np.bincount(np.concatenate([node0, node1]), minlength=n)
    score = np.minimum(deg[node0], deg[node1]) + rng.random(m)
    rank = np.empty(m, dtype=np.float64)
    rank[np.argsort(score, kind="stable")] = np.arange(m)
    z_deg = ndtri((rank + 0.5) / m)
    z = CAPACITY_DEGREE_RHO * z_deg + np.sqrt(1 - CAPACITY_DEGREE_RHO ** 2) * rng.standard_normal(m)
    cap_sat = np.rint(sample_quantiles(ndtr(z), CAPACITY_SAT_QUANTILES)).astype(np.int64)
    capacity_msat = np.maximum(cap_sat, 1) * 1000

    n_dir = 2 * m
    dir_cap = np.repeat(capacity_msat, 2)
    fee_base = np.rint(sample_quantiles(rng.random(n_dir), FEE_BASE_MSAT_QUANTILES)).astype(np.int64)
    fee_ppm = np.rint(sample_quantiles(rng.random(n_dir), FEE_RATE_PPM_QUANTILES)).astype(np.int64)
    cltv = CLTV_VALUES[_draw(rng, CLTV_WEIGHTS, n_dir)].astype(np.int32)
    htlc_min = np.minimum(HTLC_MIN_VALUES[_draw(rng, HTLC_MIN_WEIGHTS, n_dir)], dir_cap)
    ratio = np.interp(rng.random(n_dir), QUANTILE_GRID, HTLC_MAX_RATIO_QUANTILES)
    htlc_max = np.floor(ratio * dir_cap).astype(np.int64)
    htlc_max = np.minimum(np.maximum(htlc_max, np.maximum(htlc_min, 1)), dir_cap)
    enabled = (rng.random(n_dir) >= disabled_share) if disabled_share > 0 else np.ones(n_dir, bool)

    width = max(6, len(str(n - 1)))
    return Network(
        pubkey=[f"syn{i:0{width}d}" for i in range(n)],
        alias=[""] * n,
        scid=[f"0x0x{c}" for c in range(m)],
        node0=node0, node1=node1, capacity_msat=capacity_msat,
        fee_base_msat=fee_base, fee_rate_ppm=fee_ppm, cltv_delta=cltv,
        htlc_min_msat=htlc_min, htlc_max_msat=htlc_max, enabled=enabled,
        source=f"synthetic:n_nodes={n},seed={seed},mean_degree={mean_degree:g}"
               + (f",disabled_share={disabled_share:g}" if disabled_share else ""),
    )
