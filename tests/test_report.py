"""Reports: every figure whose data exist, a plain reason for each that is skipped, one HTML page."""

import itertools
import json

import polars as pl
import pytest

from fastsim.config import load_config
from fastsim.errors import InputError
from fastsim.report import FIGURES, _axes, build_report, load_runs
from fastsim.results import write_results
from fastsim.scenario import run_scenario

IMAGE = "data:image/png;base64,"


def fake_jit_sweep(tmp_path):
    """A sweep folder as JIT runs will write it (their columns and timeline), one cell failed."""
    out = tmp_path / "jit"
    grid = {"jit.variant": ["rebalance", "conditional"], "jit.adoption": [0.0, 0.5, 1.0]}
    rows = []
    for variant, adoption, seed in itertools.product(*grid.values(), [1, 2]):
        params = {"jit.variant": variant, "jit.adoption": adoption, "seed": seed}
        path = "/".join(f"{k}={v}" for k, v in params.items())
        if (variant, adoption, seed) == ("conditional", 1.0, 2):
            rows.append(pl.DataFrame([{**params, "status": "failed", "error": "boom",
                                       "elapsed_s": 0.1, "path": path}]))
            continue
        folder = out / path
        folder.mkdir(parents=True)
        succeeded = int(50 + 30 * adoption + seed)
        summary = pl.DataFrame([{
            "payments": 100, "succeeded": succeeded, "success_rate": succeeded / 100,
            "mean_attempts": 1.5, "median_fee_ppm": 20.0, "p95_completion_s": 2.0,
            "fees_msat": 1000 * succeeded, "volume_succeeded_msat": 10**6 * succeeded,
            "failed_liquidity": 100 - succeeded, "failed_no_route": 0,
            "jit_events": int(10 * adoption), "jit_rescued": int(5 * adoption),
            "rebalance_fees_msat": int(100 * adoption)}])
        summary.write_parquet(folder / "summary.parquet")
        pl.DataFrame({"succeeded": [True, True, False], "completion_s": [0.5, 1.5, 3.0]}) \
            .write_parquet(folder / "payments.parquet")
        pl.DataFrame({"rebalance_fees_msat": [0, 2000, 5000], "rebalances": [0, 1, 3],
                      "net_fees_msat": [0, -100, 400]}).write_parquet(folder / "nodes.parquet")
        pl.DataFrame({"t_s": [0.0, 10.0, 20.0], "imbalance": [0.5, 0.4 - adoption / 10, 0.3]}) \
            .write_parquet(folder / "timeline.parquet")
        (folder / "run.json").write_text("{}")
        rows.append(pl.concat([pl.DataFrame([{**params, "status": "done", "error": None,
                                              "elapsed_s": 1.0, "path": path}],
                                            schema_overrides={"error": pl.Utf8}), summary],
                              how="horizontal"))
    pl.concat(rows, how="diagonal_relaxed").write_parquet(out / "summary.parquet")
    (out / "sweep.json").write_text(json.dumps({
        "sweep_file": "configs/jit-adoption.toml",
        "definition": {"base": {}, "grid": grid, "seeds": [1, 2]}}))
    return out


def test_every_figure_of_a_jit_sweep(tmp_path):
    folder = fake_jit_sweep(tmp_path)
    runs = load_runs(folder)
    assert _axes(runs) == ("jit.adoption", ["jit.variant"])
    report = build_report(folder)
    assert [m.name for m in report.figures] == list(FIGURES) and report.skipped == []
    for made in report.figures:
        assert made.path.parent == folder / "report" and made.path.read_bytes()[:4] == b"\x89PNG"
    groups = report.tables["groups"]
    assert groups.height == 6 and {"jit_events", "jit_rescued", "rebalance_fees_msat"} <= set(
        groups.columns)
    row = groups.filter((pl.col("jit.variant") == "rebalance") & (pl.col("jit.adoption") == 1.0))
    assert row["success_rate"].to_list() == [pytest.approx(0.815)] and row["seeds"][0] == 2
    assert report.tables["failed cells"]["error"].to_list() == ["boom"]
    page = report.html.read_text()
    assert page.count(IMAGE) == len(FIGURES) and "boom" in page and "jit-adoption" in page


def test_a_sweep_without_jit_says_what_it_skipped(tiny_sweep, tmp_path):
    report = build_report(tiny_sweep, out=tmp_path / "r")
    assert [m.name for m in report.figures] == ["success_rate", "fees_vs_success",
                                                "completion_cdf", "failure_reasons", "imbalance"]
    assert {s.name: s.reason for s in report.skipped} == {
        "rebalance_fees": "no node rebalanced in these runs"}
    # success against the numeric grid key, one line per cost model
    assert _axes(report.runs) == ("engine.max_accepted_htlcs", ["sender.cost_model"])
    assert report.tables["groups"].height == 4 and report.tables["failed cells"].height == 0
    page = report.html.read_text()
    assert page.count(IMAGE) == 5 and "no node rebalanced in these runs" in page
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [
        "completion_cdf.png", "failure_reasons.png", "fees_vs_success.png", "imbalance.png",
        "report.html", "success_rate.png"]


def test_a_single_run_folder(tmp_path):
    config = load_config(None, overrides={"network.synthetic_nodes": 120,
                                          "workload.n_payments": 40, "name": "one"})
    result, run_info = run_scenario(config)
    write_results(result, tmp_path / "run", run_info=run_info)
    # as runs of a version without JIT wrote it
    nodes = pl.read_parquet(tmp_path / "run" / "nodes.parquet")
    nodes.drop("rebalance_fees_msat", strict=False).write_parquet(tmp_path / "run" / "nodes.parquet")
    report = build_report(tmp_path / "run")
    assert [m.name for m in report.figures] == ["fees_vs_success", "completion_cdf",
                                                "failure_reasons", "imbalance"]
    assert report.skipped[0].name == "success_rate" and "grid key" in report.skipped[0].reason
    assert report.skipped[1].reason == ("no JIT columns in these runs (nodes.parquet has no "
                                        "rebalance_fees_msat)")
    assert report.tables["groups"]["seeds"].to_list() == [1] and report.runs.title == "one"


def test_a_folder_with_no_runs_is_input_error(tmp_path):
    with pytest.raises(InputError, match="is neither a sweep folder"):
        build_report(tmp_path)
