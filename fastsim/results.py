"""Run output: one folder of Parquet tables plus run.json, every file written atomically."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import polars as pl

from fastsim import __version__
from fastsim.atomic import atomic_path, write_text_atomic
from fastsim.engine import SimulationResult

TABLES = ("payments", "nodes", "channels", "summary")


def write_parquet(df: pl.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.write_parquet(tmp, compression="zstd", statistics=True)


def write_results(result: SimulationResult, out_dir: str | Path, *, run_info: dict,
                  record_htlcs: bool = False) -> Path:
    """Write the run's tables to ``out_dir``; run.json last, so its presence marks a finished run."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # an older run.json would vouch for tables this call is about to replace
    (out / "run.json").unlink(missing_ok=True)
    for name in TABLES:
        write_parquet(getattr(result, name), out / f"{name}.parquet")
    if record_htlcs:
        write_parquet(result.htlcs, out / "htlcs.parquet")
    info = {
        "fastsim_version": __version__,
        "python": platform.python_version(),
        **run_info,
        "timings": result.timings,
        "files": [f"{name}.parquet" for name in TABLES] + (["htlcs.parquet"] if record_htlcs else []),
    }
    write_text_atomic(out / "run.json", json.dumps(info, indent=2, default=str) + "\n")
    return out
