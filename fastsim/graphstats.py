"""Descriptive statistics of a network, for `fastsim graph info` and notebooks."""

from __future__ import annotations

import numpy as np

from fastsim.network import Network

PERCENTILES = (5, 25, 50, 75, 95)


def _percentiles(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {f"p{q}": float("nan") for q in PERCENTILES}
    return {f"p{q}": float(v) for q, v in zip(PERCENTILES, np.percentile(values, PERCENTILES))}


def network_stats(network: Network) -> dict:
    """Sizes, capacity, fee and CLTV percentiles (over enabled directions), components."""
    enabled = network.enabled
    usable_channel = enabled[0::2] | enabled[1::2]
    has_out = np.zeros(network.n_nodes, bool)
    has_out[network.dir_src[enabled]] = True
    scc = network.largest_scc()
    return {
        "source": network.source,
        "nodes": network.n_nodes,
        "channels": network.n_channels,
        "directions": network.n_directions,
        "total_capacity_msat": int(network.capacity_msat.sum()),
        "disabled_directions": int((~enabled).sum()),
        "disabled_share": float((~enabled).mean()) if network.n_directions else 0.0,
        "channels_without_usable_direction": int((~usable_channel).sum()),
        "nodes_without_usable_outgoing": int((~has_out).sum()),
        "weak_components": network.n_weak_components(),
        "largest_scc_nodes": int(scc.size),
        "has_balances": network.balance_msat is not None,
        "capacity_sat": _percentiles(network.capacity_msat / 1000),
        "fee_base_msat": _percentiles(network.fee_base_msat[enabled]),
        "fee_rate_ppm": _percentiles(network.fee_rate_ppm[enabled]),
        "cltv_delta": _percentiles(network.cltv_delta[enabled]),
    }
