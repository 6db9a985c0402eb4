"""CLoTH CSV triple: nodes, channels and edges (directions with balances), kept as they are."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import polars as pl

from fastsim.errors import InputError
from fastsim.importers.report import ImportReport, build_network

NODE_COLUMNS = ("id",)
CHANNEL_COLUMNS = ("id", "edge1_id", "edge2_id", "node1_id", "node2_id", "capacity")
EDGE_COLUMNS = ("id", "channel_id", "counter_edge_id", "from_node_id", "to_node_id", "balance",
                "fee_base", "fee_proportional", "min_htlc", "timelock")
PARTS = ("nodes", "channels", "edges")
# a part's file: the part's name alone or joined by '-', '_' or '.' to a head (x-nodes.csv) or a tail
# (nodes_ln.csv, as CLoTH's own repository names its snapshot)
PART_FILE = re.compile(r"^(?P<head>(?:.*[-_.])?)(?P<part>nodes|channels|edges)(?P<tail>(?:[-_.].*)?)\.csv$")
EXPECTED = ("expected a CLoTH CSV file named for its part (x-nodes.csv, channels_ln.csv, ...), the start "
            "of such names, or a folder holding the three")


def _in_folder(folder: Path) -> dict[str, Path]:
    groups: dict[tuple[str, str], dict[str, Path]] = defaultdict(dict)
    for p in sorted(folder.glob("*.csv")):
        m = PART_FILE.match(p.name)
        if m:
            groups[m["head"], m["tail"]][m["part"]] = p
    complete = [files for files in groups.values() if len(files) == len(PARTS)]
    if len(complete) != 1:
        found = "no CLoTH network" if not complete else f"{len(complete)} CLoTH networks"
        raise InputError(folder, None, f"a folder with {found} in it; {EXPECTED}, or a snapshot file")
    return complete[0]


def _by_prefix(path: Path) -> dict[str, Path] | None:
    for sep in ("", "-", "_"):
        files = {part: path.with_name(f"{path.name}{sep}{part}.csv") for part in PARTS}
        if all(p.is_file() for p in files.values()):
            return files
    return None


def is_cloth_prefix(path: Path) -> bool:
    """Whether ``path`` is the start of the names of a CLoTH triple (``x`` or ``x-`` for ``x-nodes.csv``)."""
    return _by_prefix(path) is not None


def cloth_paths(path: Path) -> dict[str, Path]:
    """The three files of a CLoTH network, given any one of them, the start of their names or their folder."""
    if path.is_dir():
        return _in_folder(path)
    m = PART_FILE.match(path.name)
    if m:
        found = {part: path.with_name(f"{m['head']}{part}{m['tail']}.csv") for part in PARTS}
    elif path.exists():
        raise InputError(path, None, f"no CLoTH part in the file name; {EXPECTED}")
    else:
        found = _by_prefix(path)
        if found is None:
            raise InputError(path, None, f"file not found; {EXPECTED}")
    for part, p in found.items():
        if not p.is_file():
            raise InputError(p, None, f"the CLoTH {part} file is missing")
    return found


def _read(path: Path, columns) -> pl.DataFrame:
    try:
        df = pl.read_csv(path, infer_schema_length=None)
    except Exception as exc:  # polars raises several kinds for malformed CSV
        raise InputError(path, None, f"not a readable CSV file ({type(exc).__name__})") from None
    for col in columns:
        if col not in df.columns:
            raise InputError(path, col, "expected a column of that name")
        if not df[col].dtype.is_integer() or df[col].null_count():
            raise InputError(path, col, f"expected whole numbers, got {df[col].dtype}")
    return df


def read_cloth(path: Path):
    paths = cloth_paths(path)
    nodes = _read(paths["nodes"], NODE_COLUMNS)
    channels = _read(paths["channels"], CHANNEL_COLUMNS)
    edges = _read(paths["edges"], EDGE_COLUMNS)
    report = ImportReport(format="cloth", source=str(paths["channels"]))
    node_ids = nodes["id"].to_numpy()
    node_index = {int(v): k for k, v in enumerate(node_ids)}
    edge_row = {int(v): k for k, v in enumerate(edges["id"].to_numpy())}
    ch = {c: channels[c].to_numpy() for c in CHANNEL_COLUMNS}
    ed = {c: edges[c].to_numpy() for c in EDGE_COLUMNS}
    keep, seen = [], set()
    for r in range(channels.height):
        if int(ch["id"][r]) in seen:
            report.warnings["duplicate_channels_dropped"] += 1
            continue
        seen.add(int(ch["id"][r]))
        keep.append(r)
    m = len(keep)
    node0 = np.zeros(m, np.int64)
    node1 = np.zeros(m, np.int64)
    rows = np.zeros(2 * m, np.int64)
    for k, r in enumerate(keep):
        for side, (node_col, edge_col) in enumerate((("node1_id", "edge1_id"), ("node2_id", "edge2_id"))):
            node = int(ch[node_col][r])
            if node not in node_index:
                raise InputError(paths["channels"], node_col, f"expected a node id from the nodes "
                                                              f"file, got {node} (row {r})")
            e = int(ch[edge_col][r])
            if e not in edge_row:
                raise InputError(paths["channels"], edge_col, f"expected an edge id from the edges "
                                                              f"file, got {e} (row {r})")
            er = edge_row[e]
            if int(ed["channel_id"][er]) != int(ch["id"][r]) or int(ed["from_node_id"][er]) != node:
                raise InputError(paths["edges"], "channel_id",
                                 f"edge {e} to belong to channel {int(ch['id'][r])} from node {node} "
                                 f"(row {er})")
            rows[2 * k + side] = er
            (node0 if side == 0 else node1)[k] = node_index[node]
    capacity = ch["capacity"][keep].astype(np.int64)
    balance = ed["balance"][rows].astype(np.int64)
    bad = np.flatnonzero(balance[0::2] + balance[1::2] != capacity)
    if bad.size and m:
        r = keep[bad[0]]
        raise InputError(paths["edges"], "balance", f"balances of both edges adding up to the capacity "
                                                    f"of channel {int(ch['id'][r])} ({bad.size} channels differ)")
    policy = {"fee_base_msat": ed["fee_base"][rows], "fee_rate_ppm": ed["fee_proportional"][rows],
              "cltv_delta": ed["timelock"][rows], "htlc_min_msat": ed["min_htlc"][rows],
              "htlc_max_msat": np.repeat(capacity, 2), "enabled": np.ones(2 * m, bool)}
    network = build_network(
        source=paths["channels"], fmt="cloth", pubkey=[str(int(v)) for v in node_ids], alias=None,
        scid=[str(int(ch["id"][r])) for r in keep], node0=node0, node1=node1, capacity_msat=capacity,
        policy=policy, present=np.ones(2 * m, bool), balance_msat=balance, report=report)
    return network, report
