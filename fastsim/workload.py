"""Payment workloads: a table ``(id, t_arrival_s, src, dst, amount_msat)``, generated or read from a file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from fastsim.staging import staged_file
from fastsim.errors import InputError
from fastsim.network import Network
from fastsim.schema import Column

PAYMENT_COLUMNS: tuple[Column, ...] = (
    Column("id", "int64", "", "payment id, unique (generated: 0..k-1)"),
    Column("t_arrival_s", "float64", "s", "time the sender starts the payment, non-decreasing"),
    Column("src", "int32", "node", "sender: node index, or its pubkey in a file"),
    Column("dst", "int32", "node", "receiver: node index, or its pubkey in a file"),
    Column("amount_msat", "int64", "msat", "amount the receiver must get, > 0"),
)
ENDPOINTS = ("scc", "all")
WEIGHTINGS = ("uniform", "degree", "capacity", "zipf")
AMOUNTS = ("lognormal", "fixed", "file")


@dataclass(frozen=True)
class WorkloadInfo:
    endpoints: str
    candidates: int  # nodes endpoints are drawn from
    left_out: int  # nodes outside the candidates (no usable channels in the largest SCC)


def _choice(name: str, value: str, valid) -> None:
    if value not in valid:
        raise InputError(None, name, f"expected one of {', '.join(valid)}, got {value!r}")


def _weights(network: Network, nodes: np.ndarray, weighting: str, outgoing: bool) -> np.ndarray | None:
    if weighting == "uniform":
        return None
    ends = network.dir_src if outgoing else network.dir_dst
    if weighting == "degree":
        per_node = np.bincount(ends[network.enabled], minlength=network.n_nodes).astype(float)
    else:
        cap = network.direction_capacity_msat().astype(float)
        per_node = np.bincount(ends[network.enabled], weights=cap[network.enabled],
                               minlength=network.n_nodes)
    w = per_node[nodes]
    return w / w.sum() if w.sum() > 0 else None


def _amounts(rng, n, *, amount, amount_median_msat, amount_sigma, amount_fixed_msat, amount_file):
    if amount == "fixed":
        return np.full(n, amount_fixed_msat, np.int64)
    if amount == "lognormal":
        draw = amount_median_msat * np.exp(amount_sigma * rng.standard_normal(n))
        return np.maximum(np.rint(draw), 1).astype(np.int64)
    if not amount_file:
        raise InputError(None, "workload.amount_file", 'a file of amounts when amount = "file"')
    values = _read_table(Path(amount_file))
    if "amount_msat" not in values.columns:
        raise InputError(amount_file, "amount_msat", "expected a column of that name")
    pool = values["amount_msat"].to_numpy()
    if pool.size == 0 or not np.issubdtype(pool.dtype, np.integer) or (pool <= 0).any():
        raise InputError(amount_file, "amount_msat", "expected positive whole msat values")
    return rng.choice(pool.astype(np.int64), n)


def generate_workload(network: Network, *, n_payments: int, seed: int, rate_per_s: float = 10.0,
                      endpoints: str = "scc", src_weighting: str = "uniform",
                      dst_weighting: str = "uniform", zipf_merchants: int = 100, zipf_s: float = 1.0,
                      amount: str = "lognormal", amount_median_msat: int = 50_000_000,
                      amount_sigma: float = 0.7, amount_fixed_msat: int = 10_000_000,
                      amount_file: str | None = None) -> tuple[pl.DataFrame, WorkloadInfo]:
    """Poisson arrivals at ``rate_per_s``; endpoints and amounts as chosen; deterministic per seed."""
    _choice("workload.endpoints", endpoints, ENDPOINTS)
    _choice("workload.src_weighting", src_weighting, WEIGHTINGS[:3])
    _choice("workload.dst_weighting", dst_weighting, WEIGHTINGS)
    _choice("workload.amount", amount, AMOUNTS)
    if n_payments < 0 or rate_per_s <= 0:
        raise InputError(None, "workload", "n_payments >= 0 and rate_per_s > 0")
    rng = np.random.default_rng(seed)
    nodes = network.largest_scc() if endpoints == "scc" else np.arange(network.n_nodes, dtype=np.int32)
    if nodes.size < 2:
        raise InputError(network.source, "workload.endpoints",
                         f"at least two candidate endpoints, found {nodes.size}")
    t = np.cumsum(rng.exponential(1.0 / rate_per_s, n_payments))
    src = nodes[rng.choice(nodes.size, n_payments, p=_weights(network, nodes, src_weighting, True))]
    if dst_weighting == "zipf":
        merchants = rng.choice(nodes, min(zipf_merchants, nodes.size), replace=False)
        popularity = 1.0 / np.arange(1, merchants.size + 1) ** zipf_s
        dst_pool, dst_p = merchants, popularity / popularity.sum()
    else:
        dst_pool, dst_p = nodes, _weights(network, nodes, dst_weighting, False)
    dst = dst_pool[rng.choice(dst_pool.size, n_payments, p=dst_p)]
    for _ in range(1000):  # redraw receivers equal to their sender
        same = np.flatnonzero(src == dst)
        if same.size == 0:
            break
        dst[same] = dst_pool[rng.choice(dst_pool.size, same.size, p=dst_p)]
    else:
        raise InputError(None, "workload.dst_weighting", "receivers other than the senders")
    amounts = _amounts(rng, n_payments, amount=amount, amount_median_msat=amount_median_msat,
                       amount_sigma=amount_sigma, amount_fixed_msat=amount_fixed_msat,
                       amount_file=amount_file)
    df = pl.DataFrame({"id": np.arange(n_payments, dtype=np.int64), "t_arrival_s": t,
                       "src": src.astype(np.int32), "dst": dst.astype(np.int32),
                       "amount_msat": amounts})
    info = WorkloadInfo(endpoints=endpoints, candidates=int(nodes.size),
                        left_out=int(network.n_nodes - nodes.size))
    return df, info


def _read_table(path: Path) -> pl.DataFrame:
    if not path.is_file():
        raise InputError(path, None, "is a folder; expected a CSV or Parquet file" if path.is_dir()
                         else "file not found")
    try:
        if path.suffix.lower() == ".csv":
            return pl.read_csv(path)
        return pl.read_parquet(path)
    except Exception as exc:  # polars raises many kinds for unreadable files
        raise InputError(path, None, f"not a readable {'CSV' if path.suffix == '.csv' else 'Parquet'} "
                                     f"file ({type(exc).__name__})") from None


def _node_indices(pubkeys: pl.Series, network: Network | None, source) -> pl.Series:
    name = pubkeys.name
    if network is None:
        raise InputError(source, name, "expected node indices (pubkeys need the network to look them up)")
    known = network.pubkey.tolist()
    index = pubkeys.replace_strict(known, range(len(known)), default=None, return_dtype=pl.Int64)
    unknown = index.is_null()
    if unknown.any():
        row = int(unknown.arg_max())
        raise InputError(source, name, f"expected node indices or pubkeys of the network, got "
                                       f"{pubkeys[row]!r} (row {row}, {int(unknown.sum())} rows unknown)")
    return index


def validate_workload(df: pl.DataFrame, network: Network | None = None, source=None) -> pl.DataFrame:
    """Check columns, dtypes and values; returns the table with the canonical dtypes. Senders and
    receivers given as pubkeys are looked up in ``network``."""
    out = {}
    for col in PAYMENT_COLUMNS:
        if col.name not in df.columns:
            raise InputError(source, col.name, "expected a column of that name")
        values = df[col.name]
        if values.null_count():
            raise InputError(source, col.name, "expected no missing values")
        if col.unit == "node" and values.dtype == pl.String:
            values = _node_indices(values, network, source)
        is_float_col = col.dtype.startswith("float")
        if not values.dtype.is_numeric() or (not is_float_col and values.dtype.is_float()):
            raise InputError(source, col.name, f"expected {col.dtype} values, got {values.dtype}")
        out[col.name] = values.cast(getattr(pl, col.dtype.capitalize()))
    table = pl.DataFrame(out)
    repeated = table["id"].is_duplicated()
    if repeated.any():
        row = int(repeated.arg_max())
        raise InputError(source, "id", f"expected unique payment ids, {table['id'][row]} repeats "
                                       f"(row {row}, {int(repeated.sum())} rows)")
    if (table["amount_msat"] <= 0).any():
        raise InputError(source, "amount_msat", "expected amounts > 0")
    if (table["src"] == table["dst"]).any():
        raise InputError(source, "dst", "expected a receiver other than the sender")
    t = table["t_arrival_s"].to_numpy()
    if t.size and (not np.isfinite(t).all() or (np.diff(t) < 0).any()):
        raise InputError(source, "t_arrival_s", "expected finite, non-decreasing arrival times")
    if network is not None:
        for name in ("src", "dst"):
            v = table[name]
            if v.len() and (v.min() < 0 or v.max() >= network.n_nodes):
                raise InputError(source, name, f"expected node ids in [0, {network.n_nodes})")
    return table


def read_workload(path: str | Path, network: Network | None = None) -> pl.DataFrame:
    """Read and validate a workload from Parquet or CSV (by extension)."""
    path = Path(path)
    table = _read_table(path)
    if table.height == 0:
        raise InputError(path, None, "expected at least one payment, found none")
    return validate_workload(table, network, source=path)


def write_workload(df: pl.DataFrame, path: str | Path) -> Path:
    """Write a workload to Parquet or CSV (by extension), all or nothing."""
    path = Path(path)
    with staged_file(path) as tmp:
        if path.suffix.lower() == ".csv":
            df.write_csv(tmp)
        else:
            df.write_parquet(tmp)
    return path
