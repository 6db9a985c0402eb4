"""What an import read, kept, dropped and disabled, and the shared assembly of a Network."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from fastsim.errors import InputError
from fastsim.network import Network

# Data-quality limits: a direction beyond them is disabled (and counted), its channel kept.
MAX_FEE_RATE_PPM = 1_000_000  # more than 100% of the forwarded amount
MAX_FEE_BASE_MSAT = 100_000_000  # 100,000 sat for one forward

WARNINGS = {
    "self_loop_channels_dropped": "channels from a node to itself, dropped",
    "nonpositive_capacity_channels_dropped": "channels with zero or negative capacity, dropped",
    "duplicate_channels_dropped": "later duplicates of a short channel id, dropped",
    "duplicate_direction_entries_dropped": "extra entries for a direction already read, dropped",
    "absurd_fee_directions_disabled": (f"directions with fee rate > {MAX_FEE_RATE_PPM:,} ppm or base "
                                       f"fee > {MAX_FEE_BASE_MSAT:,} msat, disabled"),
    "htlc_max_below_min_directions_disabled": "directions with htlc_max < htlc_min, disabled",
    "zero_cltv_directions_disabled": "directions announced enabled with CLTV delta 0, disabled",
}


@dataclass
class ImportReport:
    format: str
    source: str
    nodes: int = 0
    channels_read: int = 0
    channels: int = 0
    directions_enabled: int = 0
    warnings: Counter = field(default_factory=Counter)

    def lines(self) -> list[str]:
        out = [f"{self.source}: {self.format} snapshot, {self.nodes:,} nodes, {self.channels:,} "
               f"channels kept of {self.channels_read:,} read, {self.directions_enabled:,} of "
               f"{2 * self.channels:,} directions enabled"]
        for key, count in sorted(self.warnings.items()):
            if count:
                out.append(f"warning: {count:,} {WARNINGS[key]}")
        return out


def parse_msat(value, source, field_name: str, index: int) -> int:
    """An msat amount given as an int, a numeric string, or a string ending in 'msat'."""
    if isinstance(value, bool):
        raise InputError(source, field_name, f"expected an msat amount, got {value!r} (entry {index})")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value[:-4] if value.endswith("msat") else value
        if text.lstrip("-").isdigit():
            return int(text)
    raise InputError(source, field_name, f"expected an msat amount, got {value!r} (entry {index})")


def parse_int(value, source, field_name: str, index: int) -> int:
    """A whole number, given as an int or (as lnd prints int64) a numeric string."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise InputError(source, field_name, f"expected a whole number, got {value!r} (entry {index})")


def build_network(*, source, fmt: str, pubkey, alias, scid, node0, node1, capacity_msat, policy,
                  present, balance_msat=None, report: ImportReport) -> Network:
    """Apply the data-quality rules and assemble the validated Network.

    ``policy`` holds per-direction arrays (fee_base_msat, fee_rate_ppm, cltv_delta, htlc_min_msat,
    htlc_max_msat, enabled); ``present`` marks directions the snapshot has a policy for.
    """
    node0 = np.asarray(node0, np.int64)
    node1 = np.asarray(node1, np.int64)
    capacity_msat = np.asarray(capacity_msat, np.int64)
    report.channels_read = int(node0.size)
    self_loop = node0 == node1
    nonpositive = (capacity_msat <= 0) & ~self_loop
    report.warnings["self_loop_channels_dropped"] += int(self_loop.sum())
    report.warnings["nonpositive_capacity_channels_dropped"] += int(nonpositive.sum())
    keep = ~(self_loop | nonpositive)
    if not keep.any():
        dropped = "; ".join(f"{count:,} {WARNINGS[key]}" for key, count in report.warnings.items() if count)
        raise InputError(source, None, f"expected at least one usable channel, kept none of the "
                                       f"{node0.size:,} read" + (f" ({dropped})" if dropped else ""))
    keep_dir = np.repeat(keep, 2)
    pol = {name: np.asarray(values)[keep_dir] for name, values in policy.items()}
    present = np.asarray(present, bool)[keep_dir]
    enabled = pol["enabled"].astype(bool) & present
    for name in ("fee_base_msat", "fee_rate_ppm", "cltv_delta", "htlc_min_msat", "htlc_max_msat"):
        negative = present & (pol[name] < 0)
        if negative.any():
            raise InputError(source, name, f"expected a value >= 0, got {int(pol[name][negative][0])}")
        pol[name] = np.where(present, pol[name], 0)
    absurd = present & ((pol["fee_rate_ppm"] > MAX_FEE_RATE_PPM) | (pol["fee_base_msat"] > MAX_FEE_BASE_MSAT))
    inverted = present & ~absurd & (pol["htlc_max_msat"] < pol["htlc_min_msat"])
    report.warnings["absurd_fee_directions_disabled"] += int(absurd.sum())
    report.warnings["htlc_max_below_min_directions_disabled"] += int(inverted.sum())
    enabled &= ~(absurd | inverted)
    # A zero delta leaves the forwarding node no blocks to claim its incoming HTLC on chain once the
    # outgoing one is claimed (lnd refuses deltas below 18, its early versions below 4), and dumps write all-zero policies for
    # directions whose update they never had (tens of thousands in lnd dumps of older gossip stores);
    # kept enabled, such a direction is a free, instant hop that every cost model would prefer.
    zero_cltv = enabled & (pol["cltv_delta"] == 0)
    report.warnings["zero_cltv_directions_disabled"] += int(zero_cltv.sum())
    enabled &= ~zero_cltv
    # a disabled direction keeps its announced policy where it had one; clamp what cannot be stored
    pol["htlc_max_msat"] = np.maximum(pol["htlc_max_msat"], pol["htlc_min_msat"])
    report.channels = int(keep.sum())
    report.directions_enabled = int(enabled.sum())
    report.nodes = len(pubkey)
    network = Network(
        pubkey=pubkey, alias=alias, scid=np.asarray(scid, dtype=object)[keep],
        node0=node0[keep], node1=node1[keep], capacity_msat=capacity_msat[keep],
        fee_base_msat=pol["fee_base_msat"], fee_rate_ppm=pol["fee_rate_ppm"],
        cltv_delta=pol["cltv_delta"], htlc_min_msat=pol["htlc_min_msat"],
        htlc_max_msat=pol["htlc_max_msat"], enabled=enabled,
        balance_msat=None if balance_msat is None else np.asarray(balance_msat, np.int64)[keep_dir],
        source=source)
    return network
