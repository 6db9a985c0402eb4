"""lnd `describegraph` JSON: nodes and edges with node1/node2 policies (null policy = disabled)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fastsim.errors import InputError
from fastsim.importers._io import read_json, require
from fastsim.importers.report import ImportReport, build_network, parse_int

POLICY_FIELDS = (("fee_base_msat", "fee_base_msat"), ("fee_rate_ppm", "fee_rate_milli_msat"),
                 ("cltv_delta", "time_lock_delta"), ("htlc_min_msat", "min_htlc"),
                 ("htlc_max_msat", "max_htlc_msat"))


def read_lnd(path: Path):
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("edges"), list):
        raise InputError(path, "edges", "expected a top-level object with an 'edges' list")
    nodes = data.get("nodes", [])
    if not isinstance(nodes, list):
        raise InputError(path, "nodes", "expected a list")
    report = ImportReport(format="lnd", source=str(path))
    index: dict[str, int] = {}
    pubkeys: list[str] = []
    aliases: list[str] = []
    for i, node in enumerate(nodes):
        pk = require(node, "pub_key", path, i, "node")
        if not isinstance(pk, str):
            raise InputError(path, "pub_key", f"expected a string (node {i})")
        if pk not in index:
            index[pk] = len(pubkeys)
            pubkeys.append(pk)
            alias = node.get("alias", "")
            aliases.append(alias if isinstance(alias, str) else "")
    scids, node0, node1, capacity = [], [], [], []
    seen: set[str] = set()
    policy = {name: [] for name, _ in POLICY_FIELDS}
    enabled: list[bool] = []
    present: list[bool] = []
    for i, edge in enumerate(data["edges"]):
        cid = str(require(edge, "channel_id", path, i, "edge"))
        if cid in seen:
            report.warnings["duplicate_channels_dropped"] += 1
            continue
        seen.add(cid)
        ends = []
        for key in ("node1_pub", "node2_pub"):
            pk = require(edge, key, path, i, "edge")
            if pk not in index:
                raise InputError(path, key, f"expected a node listed in 'nodes', got {pk!r} (edge {i})")
            ends.append(index[pk])
        scids.append(cid)
        node0.append(ends[0])
        node1.append(ends[1])
        cap = parse_int(require(edge, "capacity", path, i, "edge"), path, "capacity", i) * 1000
        capacity.append(cap)
        for key in ("node1_policy", "node2_policy"):
            pol = edge.get(key)
            if pol is None:
                present.append(False)
                enabled.append(False)
                for name, _ in POLICY_FIELDS:
                    policy[name].append(0)
                continue
            if not isinstance(pol, dict):
                raise InputError(path, key, f"expected an object or null (edge {i})")
            present.append(True)
            disabled = pol.get("disabled", False)
            if not isinstance(disabled, bool):
                raise InputError(path, f"{key}.disabled", f"expected true or false (edge {i})")
            enabled.append(not disabled)
            for name, field_name in POLICY_FIELDS:
                default = cap if name == "htlc_max_msat" else 0
                raw = pol.get(field_name, default)
                if name == "htlc_max_msat" and raw in ("0", 0):
                    raw = cap  # lnd prints 0 when the policy sets no maximum
                policy[name].append(parse_int(raw, path, f"{key}.{field_name}", i))
    network = build_network(
        source=path, fmt="lnd", pubkey=pubkeys, alias=aliases, scid=scids, node0=node0,
        node1=node1, capacity_msat=capacity,
        policy={**{k: np.asarray(v, np.int64) for k, v in policy.items()},
                "enabled": np.asarray(enabled, bool)},
        present=present, report=report)
    return network, report
