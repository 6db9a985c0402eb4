"""The channel graph as columnar numpy arrays, validated once at construction, then trusted.

Nodes are ``0..n-1``; channels ``0..m-1``; each channel has two directions, ``e = 2*c + side``
(side 0 sends node0 -> node1, side 1 sends node1 -> node0) and the reverse of ``e`` is ``e ^ 1``.
Adjacency is CSR over directions, both by sending node (``out_ptr``/``out_dir``) and by receiving
node (``in_ptr``/``in_dir``, used by the backwards route search).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from fastsim.staging import staged_file
from fastsim.errors import InputError
from fastsim.schema import (
    BALANCE_COLUMN,
    CHANNEL_COLUMNS,
    DIRECTION_COLUMNS,
    DIRECTION_FILE_COLUMNS,
    NODE_COLUMNS,
    arrow_schema,
)

FILE_FORMAT_VERSION = 1
_META_KEY = b"fastsim.network"


def _as_column(col, values, length: int, source) -> np.ndarray:
    if col.is_text:
        # one buffer of fixed-width strings, not an object per value: str objects that outlive a
        # parsed JSON snapshot pin the interpreter's memory arenas it filled (about 100 MB kept on
        # the 2026 snapshot)
        arr = np.array(["" if v is None else str(v) for v in values], dtype=np.str_)
    else:
        arr = np.asarray(values)
        if arr.dtype != np.dtype(col.dtype):
            if arr.size and arr.dtype.kind == "f" and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
                raise InputError(source, col.name, f"expected whole numbers ({col.unit or col.dtype})")
            arr = arr.astype(col.dtype)
    if arr.shape != (length,):
        raise InputError(source, col.name, f"expected {length} values, got shape {arr.shape}")
    return arr


def _csr(keys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable").astype(np.int64)
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n), out=ptr[1:])
    return ptr, order


class Network:
    """Nodes, channels and directions of a Lightning channel graph (gossip view plus optional balances)."""

    def __init__(self, *, pubkey, alias=None, scid, node0, node1, capacity_msat, fee_base_msat,
                 fee_rate_ppm, cltv_delta, htlc_min_msat, htlc_max_msat, enabled,
                 balance_msat=None, source: str | Path | None = None):
        self.source = str(source) if source is not None else None
        n = len(pubkey)
        m = len(scid)
        if alias is None:
            alias = [""] * n
        given = dict(pubkey=pubkey, alias=alias, scid=scid, node0=node0, node1=node1,
                     capacity_msat=capacity_msat, fee_base_msat=fee_base_msat,
                     fee_rate_ppm=fee_rate_ppm, cltv_delta=cltv_delta, htlc_min_msat=htlc_min_msat,
                     htlc_max_msat=htlc_max_msat, enabled=enabled)
        for cols, length in ((NODE_COLUMNS, n), (CHANNEL_COLUMNS, m), (DIRECTION_COLUMNS, 2 * m)):
            for col in cols:
                setattr(self, col.name, _as_column(col, given[col.name], length, source))
        self.balance_msat = (None if balance_msat is None
                             else _as_column(BALANCE_COLUMN, balance_msat, 2 * m, source))
        self._validate(source)
        for arr in self.arrays().values():
            arr.flags.writeable = False
        self.dir_src = np.empty(2 * m, dtype=np.int32)
        self.dir_src[0::2] = self.node0
        self.dir_src[1::2] = self.node1
        self.dir_dst = np.empty(2 * m, dtype=np.int32)
        self.dir_dst[0::2] = self.node1
        self.dir_dst[1::2] = self.node0
        self.out_ptr, self.out_dir = _csr(self.dir_src, n)
        self.in_ptr, self.in_dir = _csr(self.dir_dst, n)

    # -- validation -------------------------------------------------------------------------------
    def _validate(self, source) -> None:
        n = self.n_nodes

        def bad(field, mask, expected):
            if np.any(mask):
                i = int(np.flatnonzero(mask)[0])
                raise InputError(source, field, f"{expected} (row {i}, {int(mask.sum())} rows bad)")

        bad("node0", (self.node0 < 0) | (self.node0 >= n), f"node index in [0, {n})")
        bad("node1", (self.node1 < 0) | (self.node1 >= n), f"node index in [0, {n})")
        bad("node1", self.node0 == self.node1, "two distinct endpoints (self-loop)")
        bad("capacity_msat", self.capacity_msat <= 0, "capacity > 0")
        for name in ("fee_base_msat", "fee_rate_ppm", "cltv_delta", "htlc_min_msat", "htlc_max_msat"):
            bad(name, getattr(self, name) < 0, "a value >= 0")
        if len(set(self.scid.tolist())) != self.n_channels:
            seen: set = set()
            dup = next(s for s in self.scid.tolist() if s in seen or seen.add(s))
            raise InputError(source, "scid", f"unique short channel ids, '{dup}' repeats")
        if self.balance_msat is not None:
            bad("balance_msat", self.balance_msat < 0, "balance >= 0")
            total = self.balance_msat[0::2] + self.balance_msat[1::2]
            bad("balance_msat", total != self.capacity_msat,
                "balances of both sides adding up to the channel capacity")

    # -- shape and views --------------------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        return len(self.pubkey)

    @property
    def n_channels(self) -> int:
        return len(self.scid)

    @property
    def n_directions(self) -> int:
        return 2 * len(self.scid)

    def arrays(self) -> dict[str, np.ndarray]:
        """All numeric columns by name (channel columns per channel, direction columns per direction)."""
        cols = [c for c in CHANNEL_COLUMNS + DIRECTION_COLUMNS if not c.is_text]
        out = {c.name: getattr(self, c.name) for c in cols}
        if self.balance_msat is not None:
            out["balance_msat"] = self.balance_msat
        return out

    def direction_capacity_msat(self) -> np.ndarray:
        return np.repeat(self.capacity_msat, 2)

    def node_funds(self, per_direction_msat: np.ndarray) -> np.ndarray:
        """Sum of each node's own side of its channels, exactly in int64."""
        out = np.zeros(self.n_nodes, np.int64)
        np.add.at(out, self.dir_src, per_direction_msat)
        return out

    def __repr__(self) -> str:
        return f"Network(nodes={self.n_nodes}, channels={self.n_channels}, source={self.source!r})"

    # -- components -------------------------------------------------------------------------------
    def largest_scc(self) -> np.ndarray:
        """Node indices of the largest strongly connected component over enabled directions."""
        labels = self.scc_labels()
        if labels.size == 0:
            return np.zeros(0, dtype=np.int32)
        sizes = np.bincount(labels)
        return np.flatnonzero(labels == int(np.argmax(sizes))).astype(np.int32)

    def scc_labels(self) -> np.ndarray:
        e = np.flatnonzero(self.enabled)
        graph = sp.csr_matrix((np.ones(e.size, dtype=np.int8), (self.dir_src[e], self.dir_dst[e])),
                              shape=(self.n_nodes, self.n_nodes))
        _, labels = connected_components(graph, directed=True, connection="strong")
        return labels

    def n_weak_components(self) -> int:
        graph = sp.csr_matrix((np.ones(self.n_channels, dtype=np.int8), (self.node0, self.node1)),
                              shape=(self.n_nodes, self.n_nodes))
        n, _ = connected_components(graph, directed=False)
        return int(n)

    def with_balances(self, balance_msat: np.ndarray | None) -> "Network":
        """The same graph with other (validated) per-direction balances."""
        kw = {c.name: getattr(self, c.name) for c in NODE_COLUMNS + CHANNEL_COLUMNS + DIRECTION_COLUMNS}
        return Network(**kw, balance_msat=balance_msat, source=self.source)

    # -- Parquet ----------------------------------------------------------------------------------
    def to_arrow(self) -> pa.Table:
        m = self.n_channels
        channel = np.repeat(np.arange(m, dtype=np.int32), 2)
        data = {
            "direction": np.arange(2 * m, dtype=np.int64),
            "channel": channel,
            "side": np.tile(np.array([0, 1], dtype=np.int8), m),
            "src": self.dir_src,
            "dst": self.dir_dst,
            "scid": pa.array(np.repeat(self.scid, 2).tolist(), type=pa.string()),
            "capacity_msat": self.direction_capacity_msat(),
            **{c.name: getattr(self, c.name) for c in DIRECTION_COLUMNS},
            "balance_msat": (pa.nulls(2 * m, pa.int64()) if self.balance_msat is None
                             else self.balance_msat),
        }
        meta = {
            "format_version": FILE_FORMAT_VERSION,
            "source": self.source,
            "pubkey": self.pubkey.tolist(),
            "alias": self.alias.tolist(),
        }
        schema = arrow_schema(DIRECTION_FILE_COLUMNS, {_META_KEY: json.dumps(meta).encode()})
        return pa.table(data, schema=schema)

    def save(self, path: str | Path) -> Path:
        """Write the network to one Parquet file (one row per direction), all or nothing."""
        path = Path(path)
        with staged_file(path) as tmp:
            pq.write_table(self.to_arrow(), tmp, compression="zstd")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Network":
        """Read a network written by :meth:`save`."""
        path = Path(path)
        if path.is_dir():  # pyarrow would read every Parquet file in it as one table
            raise InputError(path, None, "is a folder; expected a network Parquet file")
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise InputError(path, None, f"not a readable Parquet file ({exc})") from None
        raw = (table.schema.metadata or {}).get(_META_KEY)
        if raw is None:
            raise InputError(path, None, "not a fastsim network file (no fastsim.network metadata)")
        meta = json.loads(raw)
        if meta.get("format_version") != FILE_FORMAT_VERSION:
            raise InputError(path, "format_version",
                             f"expected {FILE_FORMAT_VERSION}, got {meta.get('format_version')}")
        missing = [c.name for c in DIRECTION_FILE_COLUMNS if c.name not in table.column_names]
        if missing:
            raise InputError(path, missing[0], "expected a column of that name")
        if table.num_rows % 2:
            raise InputError(path, "direction", "an even number of rows (two per channel)")
        cols = {name: table.column(name).to_numpy(zero_copy_only=False)
                for name in table.column_names if name not in ("scid", "balance_msat")}
        if not np.array_equal(cols["direction"], np.arange(table.num_rows)):
            raise InputError(path, "direction", "rows ordered by direction 0..2m-1")
        bal = table.column("balance_msat")
        balance = None if bal.null_count == len(bal) else bal.to_numpy(zero_copy_only=False)
        if balance is not None and bal.null_count:
            raise InputError(path, "balance_msat", "either all balances or none")
        even = slice(0, None, 2)
        return cls(
            pubkey=meta["pubkey"], alias=meta["alias"],
            scid=table.column("scid").to_numpy(zero_copy_only=False)[even],
            node0=cols["src"][even], node1=cols["dst"][even],
            capacity_msat=cols["capacity_msat"][even],
            **{c.name: cols[c.name] for c in DIRECTION_COLUMNS},
            balance_msat=balance, source=meta.get("source") or str(path),
        )
