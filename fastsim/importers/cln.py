"""Core Lightning `listchannels` JSON: one entry per direction, grouped into channels by scid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fastsim.errors import InputError
from fastsim.importers._io import read_json, require
from fastsim.importers.report import ImportReport, build_network, parse_int, parse_msat
from fastsim.network import Network


def read_cln(path: Path) -> tuple[Network, ImportReport]:
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("channels"), list):
        raise InputError(path, "channels", "expected a top-level object with a 'channels' list")
    report = ImportReport(format="cln", source=str(path))
    channel_of: dict[str, int] = {}
    ends: list[tuple[str, str]] = []
    scids: list[str] = []
    capacity: list[int] = []
    rows: list[tuple] = []  # (direction, base, ppm, delay, hmin, hmax, active)
    seen_dirs: set[int] = set()
    for i, entry in enumerate(data["channels"]):
        source_pk = require(entry, "source", path, i)
        dest_pk = require(entry, "destination", path, i)
        scid = require(entry, "short_channel_id", path, i)
        if not all(isinstance(v, str) for v in (source_pk, dest_pk, scid)):
            raise InputError(path, "source", f"expected strings for source, destination and "
                                             f"short_channel_id (entry {i})")
        if "amount_msat" in entry:
            cap = parse_msat(entry["amount_msat"], path, "amount_msat", i)
        else:
            cap = parse_int(require(entry, "satoshis", path, i), path, "satoshis", i) * 1000
        lo, hi = (source_pk, dest_pk) if source_pk <= dest_pk else (dest_pk, source_pk)
        c = channel_of.get(scid)
        if c is None:
            c = channel_of[scid] = len(scids)
            scids.append(scid)
            ends.append((lo, hi))
            capacity.append(cap)
        elif ends[c] != (lo, hi):
            report.warnings["duplicate_channels_dropped"] += 1
            continue
        direction = 2 * c + (0 if source_pk == lo else 1)
        if direction in seen_dirs:
            report.warnings["duplicate_direction_entries_dropped"] += 1
            continue
        seen_dirs.add(direction)
        active = require(entry, "active", path, i)
        if not isinstance(active, bool):
            raise InputError(path, "active", f"expected true or false, got {active!r} (entry {i})")
        rows.append((
            direction,
            parse_int(require(entry, "base_fee_millisatoshi", path, i), path, "base_fee_millisatoshi", i),
            parse_int(require(entry, "fee_per_millionth", path, i), path, "fee_per_millionth", i),
            parse_int(require(entry, "delay", path, i), path, "delay", i),
            parse_msat(entry.get("htlc_minimum_msat", 0), path, "htlc_minimum_msat", i),
            parse_msat(entry.get("htlc_maximum_msat", cap), path, "htlc_maximum_msat", i),
            active,
        ))
    m = len(scids)
    pubkeys = sorted({pk for pair in ends for pk in pair})
    index = {pk: k for k, pk in enumerate(pubkeys)}
    node0 = np.fromiter((index[a] for a, _ in ends), np.int64, m)
    node1 = np.fromiter((index[b] for _, b in ends), np.int64, m)
    table = np.array([r[:6] for r in rows], dtype=np.int64).reshape(-1, 6)
    direction = table[:, 0]
    policy = {}
    for col, name in enumerate(("fee_base_msat", "fee_rate_ppm", "cltv_delta", "htlc_min_msat",
                                "htlc_max_msat"), start=1):
        arr = np.zeros(2 * m, np.int64)
        arr[direction] = table[:, col]
        policy[name] = arr
    policy["enabled"] = np.zeros(2 * m, bool)
    policy["enabled"][direction] = [r[6] for r in rows]
    present = np.zeros(2 * m, bool)
    present[direction] = True
    network = build_network(source=path, fmt="cln", pubkey=pubkeys, alias=None, scid=scids,
                            node0=node0, node1=node1, capacity_msat=capacity, policy=policy,
                            present=present, report=report)
    return network, report
