"""Initial channel liquidity: how each channel's capacity is split between its two sides.

``initial_balances(network, mode=..., seed=...)`` returns the per-direction local balances (int64 msat,
length ``2 * n_channels``, ``balance[2c] + balance[2c+1] == capacity[c]`` exactly, all >= 0); direction
``e``'s balance is owned by its sending node. Modes:

- ``"uniform"``: each channel split uniformly at random, an exact integer uniform on
  ``0..capacity`` msat for side 0 (the common research assumption: Pickhardt et al., CLoTH).
- ``"half"``: half/half; the odd msat of an odd capacity goes to side 0.
- ``"source"``: the balances the network came with (e.g. a CLoTH CSV); an error if it has none.
- ``"skewed"``: depleted channels. The rich side holds a share ``f ~ Beta(k*skew, k*(1-skew))`` of
  the capacity, ``k = SKEW_CONCENTRATION``, so ``skew`` is the mean share of the rich side (0.5: as
  balanced as uniform on average but more concentrated near the middle; 0.9 default: most channels
  nearly depleted on one side). Which side is rich: ``rich_side="random"`` (default) picks it per
  channel with a fair coin, so no node is systematically favoured; ``rich_side="hub"`` gives the
  liquidity to the endpoint with more channels (ties by coin): payments toward hubs then have
  little inbound capacity left at the hubs' peers, i.e. liquidity has drained toward the hubs.

The stream is seeded with ``[seed, LIQUIDITY_STREAM]`` so it differs from other uses of the same
scenario seed (e.g. the synthetic graph) while staying deterministic per seed.
"""

from __future__ import annotations

import numbers

import numpy as np

from fastsim.errors import InputError
from fastsim.network import Network

LIQUIDITY_MODES: tuple[str, ...] = ("uniform", "half", "source", "skewed")
RICH_SIDES: tuple[str, ...] = ("random", "hub")
DEFAULT_SKEW = 0.9
#: Beta concentration a+b of the skewed split: skew 0.9 -> Beta(9, 1), rich side holds >= 75% of
#: the capacity in 93% of channels.
SKEW_CONCENTRATION = 10.0
LIQUIDITY_STREAM = 0x11D


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"initial_balances: seed must be an integer >= 0, got {seed!r}")
    return np.random.default_rng([int(seed), LIQUIDITY_STREAM])


def _split(cap: np.ndarray, side0: np.ndarray) -> np.ndarray:
    side0 = np.clip(side0.astype(np.int64), 0, cap)
    out = np.empty(2 * len(cap), dtype=np.int64)
    out[0::2] = side0
    out[1::2] = cap - side0
    return out


def initial_balances(network: Network, *, mode: str, seed: int, skew: float = DEFAULT_SKEW,
                     rich_side: str = "random") -> np.ndarray:
    """Per-direction initial balances (int64 msat) for ``network``; see the module doc for modes.

    Args:
        network: the channel graph.
        mode: one of ``LIQUIDITY_MODES``.
        seed: integer >= 0; same seed and network give the same balances.
        skew: for ``"skewed"``, mean share of the capacity on the rich side, in ``[0.5, 1)``.
        rich_side: for ``"skewed"``, ``"random"`` (fair coin per channel) or ``"hub"`` (the endpoint
            with more channels holds the liquidity).
    """
    if not isinstance(mode, str) or mode not in LIQUIDITY_MODES:
        raise ValueError(f"liquidity mode must be one of {', '.join(LIQUIDITY_MODES)}; got {mode!r}")
    rng = _rng(seed)
    cap = np.asarray(network.capacity_msat, dtype=np.int64)
    m = len(cap)

    if mode == "source":
        if network.balance_msat is None:
            raise InputError(network.source, "liquidity.mode",
                             "mode 'source' needs a network that comes with balances (e.g. a CLoTH "
                             "CSV); this one has none: use 'uniform', 'half' or 'skewed'")
        return np.array(network.balance_msat, dtype=np.int64)

    if mode == "half":
        return _split(cap, cap - cap // 2)

    if mode == "uniform":
        # exact integer uniform on 0..cap (inclusive) per channel
        return _split(cap, rng.integers(0, cap + 1, size=m, dtype=np.int64) if m else cap[:0])

    # skewed
    if isinstance(skew, bool) or not isinstance(skew, numbers.Real) or not (0.5 <= float(skew) < 1.0):
        raise ValueError(f"initial_balances: skew must be a number in [0.5, 1), got {skew!r}")
    if rich_side not in RICH_SIDES:
        raise ValueError(f"initial_balances: rich_side must be one of {', '.join(RICH_SIDES)}; "
                         f"got {rich_side!r}")
    skew = float(skew)
    share = rng.beta(SKEW_CONCENTRATION * skew, SKEW_CONCENTRATION * (1.0 - skew), size=m)
    coin = rng.random(m) < 0.5
    if rich_side == "hub":
        deg = np.bincount(np.concatenate([network.node0, network.node1]), minlength=network.n_nodes)
        d0, d1 = deg[network.node0], deg[network.node1]
        side0_rich = np.where(d0 == d1, coin, d0 > d1)
    else:
        side0_rich = coin
    rich = np.floor(share * cap.astype(np.float64)).astype(np.int64)
    rich = np.clip(rich, 0, cap)
    return _split(cap, np.where(side0_rich, rich, cap - rich))
