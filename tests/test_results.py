"""Result folders are all or nothing: killed or failed writes leave the old complete folder or the new one."""

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest

from fastsim import results
from fastsim.errors import InputError
from fastsim.results import write_results

REPO = Path(__file__).resolve().parents[1]

# Writes ever new result folders to argv[1]: every table holds the write's number in column "gen",
# run.json holds it too, and odd numbers also record htlcs.parquet.
WRITER = """
import sys, time
from types import SimpleNamespace
import polars as pl
from fastsim.results import write_results
rows = int(sys.argv[2])
print("ready", flush=True)
gen = time.time_ns()
while True:
    gen += 1
    frame = pl.DataFrame({"gen": [gen] * rows, "x": range(rows)})
    result = SimpleNamespace(payments=frame, nodes=frame, channels=frame, summary=frame.head(1),
                             htlcs=frame, jit_events=frame, timeline=frame, timings={})
    write_results(result, sys.argv[1], run_info={"gen": gen}, record_htlcs=bool(gen % 2))
"""


def fake_result(gen: int, rows: int = 10):
    frame = pl.DataFrame({"gen": [gen] * rows, "x": range(rows)})
    return SimpleNamespace(payments=frame, nodes=frame, channels=frame, summary=frame.head(1),
                           htlcs=frame, jit_events=frame, timeline=frame, timings={})


def assert_complete(out: Path) -> int:
    """The folder is one whole write: run.json, exactly its files, every table from the same write."""
    info = json.loads((out / "run.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == sorted(info["files"] + ["run.json"])
    assert ("htlcs.parquet" in info["files"]) == bool(info["gen"] % 2)
    for name in info["files"]:
        assert pl.read_parquet(out / name)["gen"].unique().to_list() == [info["gen"]], name
    return info["gen"]


def siblings(out: Path) -> list[str]:
    """What else its folder holds (nothing when a writer was killed before making the folder)."""
    if not out.parent.exists():
        return []
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name)


def test_kill_at_any_moment_leaves_the_old_or_the_new_complete_folder(tmp_path):
    out = tmp_path / "runs" / "r"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rng = random.Random(7)
    gens, interrupted = [], 0
    for i in range(12):
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(out), "30000"], env=env,
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.05 * i / 4 + rng.uniform(0, 0.05))  # from before the first swap to many writes in
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
        if out.exists():
            gens.append(assert_complete(out))
        interrupted += bool(siblings(out))
    assert len(set(gens)) > 3 and interrupted > 3  # the kills did land at different moments, mid-write
    write_results(fake_result(2), out, run_info={"gen": 2})
    assert assert_complete(out) == 2 and siblings(out) == []
    # what a sweep reads: no copy left in hidden staging folders beside the result
    scan = pl.scan_parquet(tmp_path / "runs" / "**" / "payments.parquet", hive_partitioning=True)
    assert scan.collect()["gen"].unique().to_list() == [2]


@pytest.mark.parametrize("fail_at", [1, 3, 5])
def test_a_failed_write_keeps_the_old_folder(tmp_path, monkeypatch, fail_at):
    out = tmp_path / "r"
    write_results(fake_result(1), out, run_info={"gen": 1}, record_htlcs=True)
    calls = []
    real = results.write_parquet

    def failing(df, path):
        calls.append(path)
        if len(calls) == fail_at:
            raise OSError(28, "No space left on device", str(path))
        real(df, path)

    monkeypatch.setattr(results, "write_parquet", failing)
    with pytest.raises(OSError):
        write_results(fake_result(3), out, run_info={"gen": 3}, record_htlcs=True)
    assert assert_complete(out) == 1 and siblings(out) == []


def test_an_earlier_runs_files_never_stay_beside_new_ones(tmp_path):
    out = tmp_path / "r"
    write_results(fake_result(1), out, run_info={"gen": 1}, record_htlcs=True)
    write_results(fake_result(2), out, run_info={"gen": 2}, record_htlcs=False)
    assert assert_complete(out) == 2 and not (out / "htlcs.parquet").exists()


def test_a_folder_holding_other_files_is_not_replaced(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="'notes.txt'"):
        write_results(fake_result(2), tmp_path, run_info={"gen": 2})
    assert (tmp_path / "notes.txt").read_text() == "mine"


def documented_columns() -> dict[str, set[str]]:
    """The columns README's "What a run writes" lists for each file."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## What a run writes"):]
    section = section[:section.index("\n## ", 1)]
    out: dict[str, set[str]] = {}
    for block in section.split("\n\n"):
        if re.match(r"`\w+\.parquet`", block):  # the file's heading; its table follows
            name = block[1:block.index("`", 1)]
        elif block.startswith("| column"):
            rows = [line.split("|")[1] for line in block.split("\n")]
            out[name] = {c for row in rows for c in re.findall(r"`([a-z0-9_<>]+)`", row)}
    return out


def test_readme_documents_every_column_of_every_file(tmp_path):
    from fastsim.config import load_config
    from fastsim.scenario import run_scenario

    config = load_config(None, overrides={"network.synthetic_nodes": 60, "workload.n_payments": 50})
    result, run_info = run_scenario(config)
    write_results(result, tmp_path / "r", run_info=run_info, record_htlcs=True)
    documented = documented_columns()
    for path in (tmp_path / "r").glob("*.parquet"):
        columns = set(pl.read_parquet(path).columns)
        if path.stem == "summary":
            columns = {"failed_<reason>" if c.startswith("failed_") else c for c in columns}
        assert columns <= documented[path.name], (path.name, columns - documented[path.name])
