"""Run output: one folder of Parquet tables plus run.json, written all or nothing (see fastsim.staging)."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from fastsim import __version__
from fastsim.staging import check_folder_target, staged_folder

if TYPE_CHECKING:  # the engine and its kernels are not needed to write a result
    from fastsim.engine import SimulationResult

TABLES = ("payments", "nodes", "channels", "summary", "jit_events", "timeline")
PART = ".part"
#: every file a result folder may hold; a folder holding anything else is never replaced
RESULT_FILES = (*(f"{name}.parquet" for name in TABLES), "htlcs.parquet", "run.json")


def write_parquet(df: pl.DataFrame, path: Path) -> None:
    df.write_parquet(path, compression="zstd", statistics=True)


def check_out_dir(out_dir: str | Path) -> None:
    """Raise now what :func:`write_results` would meet at ``out_dir`` (a file there, a folder holding
    other files, a place that cannot be written), before a run spends its time."""
    check_folder_target(out_dir, replaces=RESULT_FILES)


def write_results(result: SimulationResult, out_dir: str | Path, *, run_info: dict,
                  record_htlcs: bool = False) -> Path:
    """Write the run's tables and run.json to ``out_dir``, replacing the folder whole: a kill at any
    moment leaves the earlier complete folder or this one, never a mix."""
    out = Path(out_dir)
    names = [*TABLES, "htlcs"] if record_htlcs else list(TABLES)
    with staged_folder(out, replaces=RESULT_FILES) as staging:
        # written under names that ``**/*.parquet`` globs skip, and given their own names only at
        # the end: a sweep's reader scanning its folder meanwhile does not read the staging copy
        for name in names:
            write_parquet(getattr(result, name), staging / f"{name}.parquet{PART}")
        info = {
            "fastsim_version": __version__,
            "python": platform.python_version(),
            **run_info,
            "timings": result.timings,
            "files": [f"{name}.parquet" for name in names],
        }
        (staging / "run.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
        for name in names:
            os.rename(staging / f"{name}.parquet{PART}", staging / f"{name}.parquet")
    return out
