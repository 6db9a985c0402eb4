"""Sweeps: a base scenario times a grid of config values times seeds, run cell by cell on a local
process pool or a Dask cluster, resumable. The CLI's `sweep` wraps :func:`load_sweep` and
:func:`run_sweep`.

The sweep's own process writes every cell (workers only compute and return the tables), so an
output folder has one writer, and a worker that dies or is killed can leave nothing half written.
This module must not import Numba at import time: a spawned worker imports it before running a
cell, and the worker's Numba must start with one thread.
"""

from __future__ import annotations

import contextlib
import difflib
import itertools
import json
import os
import platform
import shutil
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import as_completed as futures_completed
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

import polars as pl

from fastsim import __version__
from fastsim.config import Config, load_config, read_toml
from fastsim.errors import InputError
from fastsim.staging import staged_file

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so two sweeps into one folder are not refused
    fcntl = None

SWEEP_KEYS = ("base", "seeds", "grid")
DONE, FAILED, PENDING = "done", "failed", "pending"
RECORD = "sweep.json"
SUMMARY = "summary.parquet"
RECORD_EVERY_S = 2.0  # sweep.json is rewritten at most this often while cells finish


@dataclass(frozen=True)
class Cell:
    """One scenario of a sweep: its grid values and seed, its config and its folder."""

    params: dict[str, Any]  # grid key -> value, then "seed"
    config: Config

    @property
    def path(self) -> str:
        return "/".join(f"{key}={_folder_value(value)}" for key, value in self.params.items())


@dataclass(frozen=True)
class Sweep:
    source: str
    base: dict[str, Any]  # the base scenario after --set, every key dotted
    grid: dict[str, list]
    seeds: list[int]
    cells: list[Cell]

    def definition(self) -> dict:
        """What makes two sweeps the same: rerunning one over the other's folder resumes it."""
        return json.loads(json.dumps({"base": self.base, "grid": self.grid, "seeds": self.seeds}))


@dataclass
class SweepOutcome:
    out: Path
    cells: list[dict]  # one record per cell, as in sweep.json
    summary: pl.DataFrame
    skipped: int = 0  # cells finished by an earlier run

    def count(self, status: str) -> int:
        return sum(record["status"] == status for record in self.cells)


@dataclass
class Executor:
    """How cells run: ``submit(fn, *args)`` returns a future, ``completed(futures)`` yields them as
    they finish, ``cancel(futures)`` drops those not started."""

    name: str
    submit: Callable
    completed: Callable
    cancel: Callable


def _flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for name, value in data.items():
        dotted = f"{prefix}{name}"
        if isinstance(value, dict):
            out.update(_flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def _folder_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    # percent-encoded as Hive does, so a path or an "=" in a value stays one folder level
    return quote(str(value), safe="")


def _base_config(data, source: Path, overrides: dict) -> Config:
    if data is None:
        config = load_config(None)
    elif isinstance(data, str):
        config = load_config(source.parent / data)
    elif isinstance(data, dict):
        flat = _flatten(data)
        for key, value in flat.items():
            _check_value(key, value, source, f"base.{key}")
        config = load_config(None, overrides=flat)
    else:
        raise InputError(source, "base", f"expected a scenario path or a table [base], got {data!r}")
    # --set goes on top of the base, and its errors name --set
    return load_config(None, overrides={**_flatten(config.to_dict()), **overrides})


def _check_value(key: str, value, source: Path, where: str):
    """``value`` as the config spec types it (an int given for a float key becomes a float);
    an error names ``where`` in ``source``, and the whole key even where its section is unknown."""
    try:
        config = load_config(None, overrides={key: value})
    except InputError as exc:
        problem = exc.problem
        if exc.field and exc.field != key and problem.startswith("unknown key"):
            problem = problem.replace("unknown key", f"unknown section '{exc.field}'", 1)
        raise InputError(source, where, problem) from None
    return _flatten(config.to_dict())[key]


def _grid(data, source: Path, overrides: dict) -> dict[str, list]:
    if not isinstance(data, dict):
        raise InputError(source, "grid", f"expected a table [grid] of KEY = [values], got {data!r}")
    grid = {}
    for key, values in _flatten(data).items():
        where = f"grid.{key}"
        if key == "seed":
            raise InputError(source, where, "seeds are replicates: list them as seeds = [...] "
                                            "beside the grid")
        if key in overrides:
            raise InputError("--set", key, "is a grid key of this sweep; change the grid instead")
        if not isinstance(values, list):
            raise InputError(source, where, f"expected a list of values, got {values!r}")
        if not values:
            raise InputError(source, where, "expected at least one value, got an empty list")
        checked = [_check_value(key, value, source, where) for value in values]
        repeated = [v for i, v in enumerate(checked) if v in checked[:i]]
        if repeated:
            raise InputError(source, where, f"value {repeated[0]!r} is listed twice")
        grid[key] = checked
    return grid


def _seeds(data, default: int, source: Path) -> list[int]:
    if data is None:
        return [default]
    ok = (isinstance(data, list) and data
          and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in data))
    if not ok:
        raise InputError(source, "seeds", f"expected a non-empty list of seeds (integers >= 0), "
                                          f"got {data!r}")
    if len(set(data)) < len(data):
        raise InputError(source, "seeds", f"a seed is listed twice in {data!r}")
    return list(data)


def load_sweep(path: str | Path, *, overrides: dict | None = None) -> Sweep:
    """Read and check a sweep file; every cell's config is built, so a bad grid fails here,
    before anything runs. ``overrides`` (dotted keys, as from --set) apply to the base."""
    path = Path(path)
    data = read_toml(path)
    for name in data:
        if name not in SWEEP_KEYS:
            close = difflib.get_close_matches(name, SWEEP_KEYS, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(SWEEP_KEYS)}"
            raise InputError(path, name, f"unknown key; {hint} (scenario keys go in [base])")
    overrides = overrides or {}
    base = _base_config(data.get("base"), path, overrides)
    grid = _grid(data.get("grid", {}), path, overrides)
    seeds = _seeds(data.get("seeds"), base.seed, path)
    flat = _flatten(base.to_dict())
    cells = []
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid, values))
        for seed in seeds:
            cell = {**params, "seed": seed}
            cells.append(Cell(params=cell, config=load_config(None, overrides={**flat, **cell})))
    return Sweep(source=str(path), base=flat, grid=grid, seeds=seeds, cells=cells)


# ---------------------------------------------------------------- worker side


def _one_numba_thread() -> dict:
    """Run this cell on one Numba thread; the threads this process started, and this cell's."""
    # in the local pool NUMBA_NUM_THREADS=1 is already in the worker's environment; a Dask worker
    # may have Numba loaded with every core, and the setting is per thread, so set it per cell
    if "numba" not in sys.modules:
        os.environ["NUMBA_NUM_THREADS"] = "1"
    import numba

    numba.set_num_threads(1)
    return {"numba_threads_started": numba.config.NUMBA_NUM_THREADS,
            "numba_threads": numba.get_num_threads()}


def run_cell(config: dict) -> dict:
    """Run one cell's scenario in a worker; its tables come back to be written by the sweep.
    An exception is returned as the cell's error, never raised, so one cell cannot stop others."""
    t0 = time.perf_counter()
    outcome = {**_one_numba_thread(), "host": platform.node(), "pid": os.getpid()}
    from fastsim.config import config_from_dict
    from fastsim.scenario import run_scenario

    try:
        result, run_info = run_scenario(config_from_dict(config))
    except Exception as exc:  # any error of this cell's run is this cell's failure
        return {**outcome, "status": FAILED, "error": _one_line(exc),
                "traceback": traceback.format_exc(), "elapsed_s": time.perf_counter() - t0}
    # the final state is for in-process checks only; HTLC rows are not written by a sweep
    result = replace(result, state={}, htlcs=result.htlcs.clear())
    return {**outcome, "status": DONE, "result": result, "run_info": run_info,
            "elapsed_s": time.perf_counter() - t0}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# ---------------------------------------------------------------- executors


@contextlib.contextmanager
def _environment(**values: str):
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def local_pool(workers: int):
    """A pool of ``workers`` spawned processes with one Numba thread each."""
    # a spawned worker re-imports the parent's main module (the fastsim script imports Numba)
    # before any code of ours runs there, so the thread count must already be in its environment
    with _environment(NUMBA_NUM_THREADS="1"):
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
        try:
            yield Executor(name=f"local pool, {workers} workers", submit=pool.submit,
                           completed=futures_completed,
                           cancel=lambda futures: [f.cancel() for f in futures])
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


@contextlib.contextmanager
def dask_cluster(scheduler: str, *, timeout_s: float = 10.0):
    """The cells on the Dask cluster at ``scheduler`` (tcp://HOST:PORT). Its workers need fastsim
    installed and every input file (snapshot, workload) at the same path; results come back here."""
    try:
        import distributed
    except ImportError:
        raise InputError("--scheduler", None, "needs Dask: pip install 'fastsim[dask]'") from None
    try:
        client = distributed.Client(scheduler, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError("--scheduler", None, f"cannot reach {scheduler}: {_one_line(exc)}") from None
    with client:
        yield Executor(name=f"Dask cluster {scheduler}",
                       submit=lambda fn, *args: client.submit(fn, *args, pure=False),
                       completed=lambda futures: distributed.as_completed(futures, loop=client.loop),
                       cancel=client.cancel)


# ---------------------------------------------------------------- output folder


def _versions() -> dict:
    import numba
    import numpy
    import pyarrow

    return {"fastsim": __version__, "python": platform.python_version(), "numba": numba.__version__,
            "numpy": numpy.__version__, "polars": pl.__version__, "pyarrow": pyarrow.__version__}


def _lock(out: Path):
    """Hold an exclusive lock on ``out`` for as long as the returned file is open."""
    handle = open(out / ".sweep.lock", "a")
    if fcntl is not None:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise InputError(out, None, "another fastsim sweep is writing to this folder") from None
    return handle


def _differences(old: dict, new: dict) -> str:
    """The first few changes from ``old`` to ``new`` sweep definitions; "" if they are the same."""
    diffs = []
    for part in ("base", "grid"):
        a, b = old.get(part, {}), new[part]
        diffs += [f"{part}.{k}: {a.get(k)!r} -> {b.get(k)!r}"
                  for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    if old.get("seeds") != new["seeds"]:
        diffs.append(f"seeds: {old.get('seeds')!r} -> {new['seeds']!r}")
    return "; ".join(diffs[:3]) + (f"; and {len(diffs) - 3} more" if len(diffs) > 3 else "")


def _finished(folder: Path, cell: Cell) -> bool:
    """A cell is finished iff its folder has run.json, for this very config."""
    try:
        info = json.loads((folder / "run.json").read_text())
    except (OSError, ValueError):
        return False
    return info.get("config") == json.loads(json.dumps(cell.config.to_dict()))


def _remove_cell(out: Path, relative: str) -> None:
    folder = out / relative
    shutil.rmtree(folder, ignore_errors=True)
    for parent in folder.parents:  # the grid levels it leaves empty
        if parent == out or not parent.is_dir() or any(parent.iterdir()):
            break
        parent.rmdir()


def _prepare_folder(out: Path, sweep: Sweep, force: bool) -> list[dict]:
    """Check ``out`` against the sweep, clear what cannot be resumed; the cells' records."""
    record_path = out / RECORD
    new_paths = {cell.path for cell in sweep.cells}
    if record_path.is_file():
        old = json.loads(record_path.read_text())
        changes = _differences(old.get("definition", {}), sweep.definition())
        if changes and not force:
            raise InputError(out, None, f"holds a different sweep ({changes}); "
                                        "use --force to replace it, or another --out")
        for record in old.get("cells", []):
            if record["path"] not in new_paths:
                _remove_cell(out, record["path"])
    elif any(p.name != ".sweep.lock" for p in out.iterdir()) and not force:
        raise InputError(out, None, f"exists and holds no {RECORD}; use another --out, "
                                    "or --force to write the sweep into it")
    # leftovers of a write cut short (a run folder being staged, or one without run.json)
    for staging in out.rglob(".*.staging-*"):
        shutil.rmtree(staging, ignore_errors=True)
    records = []
    for cell in sweep.cells:
        done = _finished(out / cell.path, cell)
        if not done and (out / cell.path).exists():
            _remove_cell(out, cell.path)
        records.append({"path": cell.path, "params": cell.params,
                        "status": DONE if done else PENDING, "error": None})
    return records


def _write_record(out: Path, sweep: Sweep, records: list[dict], executor: str, started: str) -> None:
    record = {"sweep_file": sweep.source, "versions": _versions(), "executor": executor,
              "started": started, "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "definition": sweep.definition(),
              "counts": {s: sum(r["status"] == s for r in records) for s in (DONE, FAILED, PENDING)},
              "cells": records}
    with staged_file(out / RECORD) as tmp:
        tmp.write_text(json.dumps(record, indent=1, default=str) + "\n")


def summarize_cells(out: Path, records: list[dict]) -> pl.DataFrame:
    """One row per cell: its grid values and seed, status, error and timing, then every column
    of its run's summary table (null where the cell has not finished)."""
    rows = []
    for record in records:
        row = pl.DataFrame([{**record["params"], "status": record["status"],
                             "error": record.get("error"), "elapsed_s": record.get("elapsed_s"),
                             "path": record["path"]}],
                           schema_overrides={"error": pl.Utf8, "elapsed_s": pl.Float64})
        if record["status"] == DONE:
            row = pl.concat([row, pl.read_parquet(out / record["path"] / "summary.parquet")],
                            how="horizontal")
        rows.append(row)
    return pl.concat(rows, how="diagonal_relaxed")


def run_sweep(sweep: Sweep, *, out: str | Path, workers: int | None = None,
              scheduler: str | None = None, force: bool = False,
              progress: Callable[[int, int, int], None] | None = None) -> SweepOutcome:
    """Run every cell of ``sweep`` not finished in ``out`` yet, on a local pool of ``workers``
    processes (default: one per core) or on the Dask cluster at ``scheduler``. Writes each cell's
    run folder, ``sweep.json`` and ``summary.parquet``; ``progress(done, failed, remaining)`` is
    called as cells finish. A cell that fails is recorded and the others go on."""
    from fastsim.results import write_parquet  # imports Numba: see the module's docstring

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lock = _lock(out)
    try:
        records = _prepare_folder(out, sweep, force)
        skipped = sum(r["status"] == DONE for r in records)
        todo = [i for i, r in enumerate(records) if r["status"] != DONE]
        started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        executor_name = "none: every cell was finished"

        def finished(write_record: bool) -> None:
            if write_record:
                _write_record(out, sweep, records, executor_name, started)
            if progress:
                progress(*(sum(r["status"] == s for r in records) for s in (DONE, FAILED, PENDING)))

        finished(False)
        try:
            if todo:
                workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
                with (dask_cluster(scheduler) if scheduler else local_pool(workers)) as executor:
                    executor_name = executor.name
                    finished(True)
                    _run(executor, sweep, records, todo, out, finished)
        finally:
            # also when interrupted: what finished is recorded, and a rerun resumes from it
            _write_record(out, sweep, records, executor_name, started)
            summary = summarize_cells(out, records)
            write_parquet(summary, out / SUMMARY)
    finally:
        lock.close()
    return SweepOutcome(out=out, cells=records, summary=summary, skipped=skipped)


def _run(executor: Executor, sweep: Sweep, records: list[dict], todo: list[int], out: Path,
         finished: Callable[[bool], None]) -> None:
    from fastsim.results import write_results

    futures = {executor.submit(run_cell, sweep.cells[i].config.to_dict()): i for i in todo}
    last_write = time.monotonic()
    try:
        for future in executor.completed(list(futures)):
            record = records[futures[future]]
            try:
                outcome = future.result()
            except Exception as exc:  # the worker itself was lost (killed, out of memory)
                outcome = {"status": FAILED, "error": f"worker lost: {_one_line(exc)}"}
            result, run_info = outcome.pop("result", None), outcome.pop("run_info", None)
            if result is not None:
                try:
                    write_results(result, out / record["path"], run_info=run_info)
                except Exception as exc:  # e.g. a full disk: this cell fails, the others go on
                    _remove_cell(out, record["path"])
                    outcome.update(status=FAILED, error=f"writing the results: {_one_line(exc)}")
            record.update(outcome)
            write_record = time.monotonic() - last_write >= RECORD_EVERY_S
            if write_record:
                last_write = time.monotonic()
            finished(write_record)
    except BaseException:
        executor.cancel(list(futures))
        raise


__all__ = ["Cell", "Sweep", "SweepOutcome", "dask_cluster", "load_sweep", "local_pool",
           "run_cell", "run_sweep", "summarize_cells"]
