"""Sweeps: grid expansion and its errors, executors giving identical results, resume after kill -9,
failing cells isolated, the output folder's rules."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import polars as pl
import pytest

from fastsim.errors import InputError
from fastsim.sweep import load_sweep, run_sweep

REPO = Path(__file__).resolve().parents[1]
TABLES = ("payments", "nodes", "channels", "summary")
TIMING = ("elapsed_s",)  # the only summary.parquet columns that may differ between two sweeps


def write(tmp_path, text, name="s.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def finished(out: Path) -> set[str]:
    """The cells written whole: os.walk skips a cell's staging folder that a running sweep renames
    away while we look (rglob raised FileNotFoundError), and staging folders are hidden."""
    cells = set()
    for root, folders, files in os.walk(out):
        folders[:] = [f for f in folders if not f.startswith(".")]
        if "run.json" in files:
            cells.add(str(Path(root).relative_to(out)))
    return cells


def assert_same_cells(a: Path, b: Path) -> None:
    """Every cell of sweep ``a`` equals that of ``b``, table by table; summaries but for timing."""
    assert finished(a) == finished(b) and finished(a)
    for cell in finished(a):
        for table in TABLES:
            left = pl.read_parquet(a / cell / f"{table}.parquet")
            assert left.equals(pl.read_parquet(b / cell / f"{table}.parquet")), (cell, table)
    left, right = (pl.read_parquet(x / "summary.parquet").drop(TIMING) for x in (a, b))
    assert left.equals(right)


# ---------------------------------------------------------------- grid expansion


def test_cells_are_the_grid_product_with_seeds_last(tmp_path):
    (tmp_path / "scenarios").mkdir()
    write(tmp_path / "scenarios", "seed = 9\n[workload]\nn_payments = 70\n", "base.toml")
    path = write(tmp_path, 'base = "scenarios/base.toml"\nseeds = [3, 4]\n[grid]\n'
                           'liquidity.mode = ["half", "uniform"]\n"sender.mu" = [0, 2.5]\n')
    sweep = load_sweep(path, overrides={"engine.mode": "atomic"})
    assert sweep.grid == {"liquidity.mode": ["half", "uniform"], "sender.mu": [0.0, 2.5]}
    assert [c.path for c in sweep.cells[:3]] == [
        "liquidity.mode=half/sender.mu=0.0/seed=3", "liquidity.mode=half/sender.mu=0.0/seed=4",
        "liquidity.mode=half/sender.mu=2.5/seed=3"]
    assert len(sweep.cells) == 8
    last = sweep.cells[-1].config
    assert (last.liquidity.mode, last.sender.mu, last.seed) == ("uniform", 2.5, 4)
    # the base file (relative to the sweep file) and --set reach every cell
    assert {(c.config.workload.n_payments, c.config.engine.mode) for c in sweep.cells} == {
        (70, "atomic")}


def test_inline_base_no_grid_and_default_seed(tmp_path):
    path = write(tmp_path, "[base]\nseed = 5\n[base.network]\nsynthetic_nodes = 120\n")
    sweep = load_sweep(path)
    assert [c.path for c in sweep.cells] == ["seed=5"]
    assert sweep.cells[0].config.network.synthetic_nodes == 120


def test_values_with_slashes_stay_one_folder_level(tmp_path):
    path = write(tmp_path, '[grid]\nworkload.file = ["", "data/a=b.parquet"]\n')
    paths = [c.path for c in load_sweep(path).cells]
    assert paths == ["workload.file=/seed=1", "workload.file=data%2Fa%3Db.parquet/seed=1"]


@pytest.mark.parametrize("text, where, words", [
    ('[grid]\nsender.cost_modle = ["fee"]\n', "grid.sender.cost_modle",
     "unknown key; did you mean 'cost_model'?"),
    ('[grid]\nmpq.enabled = [true]\n', "grid.mpq.enabled", "unknown section 'mpq'"),
    ('[grid]\nworkload.n_payments = [10, "many"]\n', "grid.workload.n_payments",
     "expected int, got 'many'"),
    ('[grid]\nsender.cost_model = ["fee", "cheapest"]\n', "grid.sender.cost_model",
     "expected one of 'fee', 'lnd', 'probability', got 'cheapest'"),
    ("[grid]\nsender.mu = []\n", "grid.sender.mu", "expected at least one value, got an empty list"),
    ('[grid]\nsender.cost_model = "fee"\n', "grid.sender.cost_model", "expected a list of values"),
    ("[grid]\nsender.mu = [1, 1.0]\n", "grid.sender.mu", "value 1.0 is listed twice"),
    ("[grid]\nseed = [1, 2]\n", "grid.seed", "list them as seeds = [...]"),
    ("[grid]\na.b.c = [1]\n", "grid.a.b.c", "expected 'key' or 'section.key'"),
    ("seeds = [1, -2]\n", "seeds", "integers >= 0"),
    ("seeds = [1, 1]\n", "seeds", "listed twice"),
    ("seedz = [1]\n", "seedz", "did you mean 'seeds'?"),
    ("[base]\nworkload.n_paymnets = 5\n", "base.workload.n_paymnets", "did you mean 'n_payments'"),
    ("base = 3\n", "base", "expected a scenario path or a table [base]"),
])
def test_grid_errors_name_the_file_and_key(tmp_path, text, where, words):
    path = write(tmp_path, text, "bad.toml")
    with pytest.raises(InputError) as err:
        load_sweep(path)
    msg = str(err.value)
    assert msg.startswith(str(path)) and f"'{where}'" in msg and words in msg, msg
    assert "\n" not in msg


def test_set_may_not_change_a_grid_key(tmp_path):
    path = write(tmp_path, '[grid]\nsender.cost_model = ["fee"]\n')
    with pytest.raises(InputError, match="^--set: field 'sender.cost_model': is a grid key"):
        load_sweep(path, overrides={"sender.cost_model": "lnd"})


def test_a_missing_base_file_is_named(tmp_path):
    path = write(tmp_path, 'base = "nope.toml"\n')
    with pytest.raises(InputError, match="nope.toml: cannot read the file"):
        load_sweep(path)


# ---------------------------------------------------------------- running


def test_the_sweep_writes_hive_folders_summary_and_record(tiny_sweep):
    record = json.loads((tiny_sweep / "sweep.json").read_text())
    assert record["counts"] == {"done": 8, "failed": 0, "pending": 0}
    assert record["definition"]["grid"] == {"sender.cost_model": ["fee", "probability"],
                                            "engine.max_accepted_htlcs": [5, 483]}
    assert record["versions"]["fastsim"] and record["versions"]["numba"]
    # every worker started one Numba thread and ran its cell on it
    assert {(c["numba_threads_started"], c["numba_threads"]) for c in record["cells"]} == {(1, 1)}
    summary = pl.read_parquet(tiny_sweep / "summary.parquet")
    assert summary.height == 8 and set(summary["status"]) == {"done"}
    assert {"sender.cost_model", "engine.max_accepted_htlcs", "seed", "elapsed_s",
            "success_rate", "failed_no_route"} <= set(summary.columns)
    payments = pl.scan_parquet(tiny_sweep / "**" / "payments.parquet", hive_partitioning=True)
    counts = payments.group_by("sender.cost_model", "engine.max_accepted_htlcs", "seed").len()
    assert counts.collect()["len"].to_list() == [60] * 8
    # each cell is its scenario: the same as `fastsim run` of that config gives
    cell = summary.filter((pl.col("sender.cost_model") == "fee") & (pl.col("seed") == 2)
                          & (pl.col("engine.max_accepted_htlcs") == 5)).row(0, named=True)
    info = json.loads((tiny_sweep / cell["path"] / "run.json").read_text())
    assert info["config"]["sender"]["cost_model"] == "fee" and info["seed"] == 2


def test_one_worker_and_a_rerun_give_the_same_cells(tiny_sweep, tiny_sweep_file, tmp_path):
    outcome = run_sweep(load_sweep(tiny_sweep_file), out=tmp_path / "one", workers=1)
    assert outcome.count("done") == 8 and outcome.skipped == 0
    assert_same_cells(tiny_sweep, tmp_path / "one")
    # rerunning the finished sweep runs nothing and changes nothing
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "one").rglob("run.json")}
    again = run_sweep(load_sweep(tiny_sweep_file), out=tmp_path / "one", workers=1)
    assert again.skipped == 8 and again.count("done") == 8
    assert stamps == {p: p.stat().st_mtime_ns for p in (tmp_path / "one").rglob("run.json")}


def test_a_dask_local_cluster_gives_the_same_cells(tiny_sweep, tiny_sweep_file, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        outcome = run_sweep(load_sweep(tiny_sweep_file), out=tmp_path / "dask",
                            scheduler=cluster.scheduler_address)
    assert outcome.count("done") == 8
    record = json.loads((tmp_path / "dask" / "sweep.json").read_text())
    assert record["executor"].startswith("Dask cluster tcp://127.0.0.1:")
    assert {c["numba_threads"] for c in record["cells"]} == {1}
    assert len({c["pid"] for c in record["cells"]}) == 2  # both workers took cells
    assert_same_cells(tiny_sweep, tmp_path / "dask")


def test_an_unreachable_scheduler_is_input_error(tiny_sweep_file, tmp_path):
    pytest.importorskip("distributed")
    with pytest.raises(InputError, match="^--scheduler: cannot reach tcp://127.0.0.1:9"):
        run_sweep(load_sweep(tiny_sweep_file), out=tmp_path / "x",
                  scheduler="tcp://127.0.0.1:9")


def test_resume_after_kill_9_equals_an_uninterrupted_sweep(tiny_sweep, tiny_sweep_file, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "fastsim", "sweep", str(tiny_sweep_file),
                             "--out", str(out), "--workers", "1", "--quiet"],
                            cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600  # a busy machine compiling the kernels afresh takes minutes
    while len(finished(out)) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its worker, as kill -9 of the job
    proc.wait()
    before = finished(out)
    assert 2 <= len(before) < 8, (len(before), proc.stderr.read())

    outcome = run_sweep(load_sweep(tiny_sweep_file), out=out, workers=2)
    assert outcome.skipped == len(before) and outcome.count("done") == 8
    assert_same_cells(tiny_sweep, out)


def test_a_failing_cell_is_recorded_and_the_others_run(tmp_path):
    path = write(tmp_path, "[base]\nnetwork.synthetic_nodes = 120\nworkload.n_payments = 40\n"
                           '[grid]\nworkload.file = ["", "missing.parquet"]\n')
    outcome = run_sweep(load_sweep(path), out=tmp_path / "out", workers=2)
    assert (outcome.count("done"), outcome.count("failed")) == (1, 1)
    record = json.loads((tmp_path / "out" / "sweep.json").read_text())
    bad = next(c for c in record["cells"] if c["status"] == "failed")
    assert bad["path"] == "workload.file=missing.parquet/seed=1"
    assert "missing.parquet" in bad["error"] and "Traceback" in bad["traceback"]
    assert not (tmp_path / "out" / bad["path"]).exists()
    summary = pl.read_parquet(tmp_path / "out" / "summary.parquet")
    assert summary.filter(pl.col("status") == "failed")["error"].to_list() == [bad["error"]]
    assert summary.filter(pl.col("status") == "failed")["success_rate"].to_list() == [None]
    # a staging folder left by a write cut short is cleared by the rerun, which retries the cell
    staging = tmp_path / "out" / "workload.file=" / ".seed=1.staging-x1"
    staging.mkdir()
    pl.DataFrame({"id": [1]}).write_parquet(staging / "payments.parquet")
    again = run_sweep(load_sweep(path), out=tmp_path / "out", workers=1)
    assert again.skipped == 1 and again.count("failed") == 1 and not staging.exists()
    payments = pl.scan_parquet(tmp_path / "out" / "**" / "payments.parquet", hive_partitioning=True)
    assert payments.collect().height == 40


def test_a_changed_sweep_needs_force_which_keeps_matching_cells(tiny_sweep_file, tmp_path):
    first = write(tmp_path, "seeds = [1, 2]\n[base]\nnetwork.synthetic_nodes = 120\n"
                            'workload.n_payments = 30\n[grid]\nsender.cost_model = ["fee", "lnd"]\n')
    out = tmp_path / "out"
    run_sweep(load_sweep(first), out=out, workers=2)
    kept = out / "sender.cost_model=fee" / "seed=1" / "run.json"
    stamp = kept.stat().st_mtime_ns
    changed = write(tmp_path, "seeds = [1]\n[base]\nnetwork.synthetic_nodes = 120\n"
                              'workload.n_payments = 30\n[grid]\nsender.cost_model = ["fee"]\n')
    with pytest.raises(InputError) as err:
        run_sweep(load_sweep(changed), out=out)
    assert "holds a different sweep (grid.sender.cost_model: ['fee', 'lnd'] -> ['fee']; " \
           "seeds: [1, 2] -> [1]); use --force" in str(err.value)
    outcome = run_sweep(load_sweep(changed), out=out, force=True)
    assert outcome.skipped == 1 and kept.stat().st_mtime_ns == stamp
    assert finished(out) == {"sender.cost_model=fee/seed=1"}
    assert not (out / "sender.cost_model=lnd").exists()
    assert pl.read_parquet(out / "summary.parquet").height == 1


def test_a_folder_that_is_not_a_sweep_is_refused(tiny_sweep_file, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="exists and holds no sweep.json"):
        run_sweep(load_sweep(tiny_sweep_file), out=tmp_path)


def test_importing_the_sweep_module_does_not_import_numba():
    code = "import sys, fastsim.sweep; assert 'numba' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


SWEEP_FILES = sorted(p for p in (REPO / "configs").glob("*.toml") if "grid" in tomllib.loads(p.read_text()))


@pytest.mark.parametrize("path", SWEEP_FILES,
                         ids=lambda p: p.name)
def test_shipped_sweeps_load(path):
    """Each ships a small grid over seeds on the synthetic graph, every key known."""
    assert [p.name for p in SWEEP_FILES] == ["jit-adoption.toml", "mpp-vs-jit.toml", "overpay.toml"]
    sweep = load_sweep(path)
    assert len(sweep.seeds) == 3 and sweep.base["network.source"] == "synthetic"
    assert len(sweep.cells) <= 60

