"""How unbalanced the network's channels are, over a run (DESIGN 2.7): the measure of Pickhardt and
Nowostawski ("Imbalance measure and proactive channel rebalancing algorithm for the Lightning
Network", 2020). A node's imbalance is the Gini coefficient of its channels' balance shares (its own
side over the capacity); the network's is the mean over the nodes with at least two channels (one
channel always has a Gini of 0). 0: every node's channels are equally full; towards 1: each node's
liquidity sits in a few of its channels."""

from __future__ import annotations

import numpy as np


def network_imbalance(balance_msat: np.ndarray, dir_capacity_msat: np.ndarray, dir_src: np.ndarray,
                      n_nodes: int) -> float:
    """The mean over nodes (two channels or more, some balance) of the Gini coefficient of their
    directions' ``balance_msat / dir_capacity_msat``; NaN when no node qualifies."""
    share = balance_msat / dir_capacity_msat
    # by node, then by share (in [0, 1], so half of it never reaches the next node's key): one
    # float sort, three times faster than a two-key lexsort
    order = np.argsort(dir_src + 0.5 * share)
    node, x = dir_src[order], share[order]
    counts = np.bincount(node, minlength=n_nodes)
    starts = np.cumsum(counts) - counts
    rank = np.arange(x.size) - starts[node] + 1  # 1..n within each node, ascending share
    total = np.bincount(node, weights=x, minlength=n_nodes)
    weighted = np.bincount(node, weights=rank * x, minlength=n_nodes)
    keep = (counts >= 2) & (total > 0)
    if not keep.any():
        return float("nan")
    n = counts[keep]
    # Gini of ascending x_1..x_n: 2 * sum(i * x_i) / (n * sum(x)) - (n + 1) / n
    return float(np.mean(2 * weighted[keep] / (n * total[keep]) - (n + 1) / n))
