"""`fastsim run` through Typer's CliRunner and once as a real subprocess."""

import json
import os
import subprocess
import sys

import polars as pl
import pytest
from typer.testing import CliRunner

from fastsim.cli.main import app
from fastsim.kernels import _jit

runner = CliRunner()


def run_cli(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_run_writes_every_table_and_run_json(tmp_path):
    out = tmp_path / "r"
    res = run_cli("run", "--synthetic", "300", "--payments", "400", "--seed", "3", "--out", str(out),
                  "--record-htlcs", "--debug-invariants", "--quiet")
    assert res.exit_code == 0, res.output
    assert "succeeded" in res.output and "payments/s" in res.output
    for name in ("payments", "nodes", "channels", "summary", "htlcs"):
        assert (out / f"{name}.parquet").is_file()
    payments = pl.scan_parquet(out / "payments.parquet").collect()
    assert payments.height == 400
    info = json.loads((out / "run.json").read_text())
    assert info["seed"] == 3 and info["config"]["workload"]["n_payments"] == 400
    assert info["invariants_checked"] is True and "simulate_s" in info["timings"]
    summary = pl.read_parquet(out / "summary.parquet").row(0, named=True)
    assert summary["payments"] == 400 and summary["succeeded"] == payments["succeeded"].sum()


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="nothing compiles")
def test_a_run_that_compiles_says_so_and_the_next_does_not(tmp_path, monkeypatch):
    monkeypatch.setattr(_jit, "_FOLDER", tmp_path)  # a cache in which no run noted its event loop
    args = ("run", "--synthetic", "60", "--payments", "20", "--out")
    said = "compiling the simulation kernels, once"
    first = run_cli(*args, str(tmp_path / "first")).output
    assert said in first and "compiling the kernels included (" in first
    again = run_cli(*args, str(tmp_path / "again")).output
    assert said not in again and "included" not in again
    # another variant of the event loop compiles again
    assert said in run_cli(*args, str(tmp_path / "mpp"), "--set", "mpp.enabled=true").output


def test_same_seed_gives_byte_identical_parquet(tmp_path):
    for name in ("a", "b"):
        res = run_cli("run", "--synthetic", "200", "--payments", "300", "--seed", "5",
                      "--out", str(tmp_path / name), "--record-htlcs", "--quiet")
        assert res.exit_code == 0, res.output
    for table in ("payments", "nodes", "channels", "summary", "htlcs"):
        a = (tmp_path / "a" / f"{table}.parquet").read_bytes()
        b = (tmp_path / "b" / f"{table}.parquet").read_bytes()
        assert a == b, table


def test_atomic_mode_and_config_file(tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text('name = "tiny"\nseed = 2\n[network]\nsynthetic_nodes = 150\n'
                   '[workload]\nn_payments = 100\n[engine]\nmode = "atomic"\n')
    res = run_cli("run", str(cfg), "--out", str(tmp_path / "o"), "--quiet")
    assert res.exit_code == 0, res.output
    info = json.loads((tmp_path / "o" / "run.json").read_text())
    assert info["config"]["engine"]["mode"] == "atomic" and info["config"]["name"] == "tiny"


def test_bad_config_is_one_line_error_without_traceback(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[workload]\nn_paymnets = 5\n")
    res = runner.invoke(app, ["run", str(cfg), "--quiet"])
    assert res.exit_code == 2
    assert "bad.toml" in res.output and "n_paymnets" in res.output
    assert "Traceback" not in res.output


def test_missing_graph_file_is_a_clear_error(tmp_path):
    res = runner.invoke(app, ["run", "--graph", str(tmp_path / "nope.json"), "--quiet"])
    assert res.exit_code == 2 and "nope.json" in res.output and "Traceback" not in res.output


def test_real_subprocess_version_and_run(tmp_path):
    version = subprocess.run([sys.executable, "-m", "fastsim", "--version"], capture_output=True,
                             text=True, check=True)
    assert version.stdout.startswith("fastsim ")
    proc = subprocess.run([sys.executable, "-m", "fastsim", "run", "--synthetic", "200",
                           "--payments", "200", "--out", str(tmp_path / "p"), "--quiet"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "p" / "payments.parquet").is_file()


def test_rerun_into_the_same_folder_replaces_results(tmp_path):
    out = tmp_path / "same"
    for payments in ("120", "80"):
        res = run_cli("run", "--synthetic", "150", "--payments", payments, "--out", str(out), "--quiet")
        assert res.exit_code == 0, res.output
    assert pl.read_parquet(out / "payments.parquet").height == 80
    assert json.loads((out / "run.json").read_text())["config"]["workload"]["n_payments"] == 80
    assert not list(out.glob(".*.tmp"))  # no temporary files left behind


def test_set_overrides_any_key_and_help_shows_defaults(tmp_path):
    res = run_cli("run", "--synthetic", "150", "--payments", "50", "--set", "engine.mode=atomic",
                  "--set", "sender.maxfeepercent=1", "--out", str(tmp_path / "s"), "--quiet")
    assert res.exit_code == 0, res.output
    info = json.loads((tmp_path / "s" / "run.json").read_text())
    assert info["config"]["engine"]["mode"] == "atomic" and info["config"]["sender"]["maxfeepercent"] == 1.0
    bad = runner.invoke(app, ["run", "--set", "sender.cost_modle=lnd", "--quiet"])
    assert bad.exit_code == 2 and "did you mean 'cost_model'" in bad.output
    negative = runner.invoke(app, ["run", "--payments", "-5", "--quiet"])
    assert negative.exit_code == 2 and "--payments: expected a value >= 1" in negative.output
    helptext = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).output
    assert "workload.n_payments, 10000" in helptext and "--set" in helptext


def test_scenario_file_with_its_own_network_and_workload_beside_it(tmp_path, monkeypatch):
    """Paths in the TOML are the TOML folder's; the workload names nodes by pubkey."""
    from fastsim.synth import synthesize
    from fastsim.workload import generate_workload

    folder = tmp_path / "study"
    folder.mkdir()
    net = synthesize(n_nodes=60, seed=3)
    net.save(folder / "net.parquet")
    df, _ = generate_workload(net, n_payments=40, seed=3)
    df.with_columns(src=pl.Series([net.pubkey[i] for i in df["src"]]),
                    dst=pl.Series([net.pubkey[i] for i in df["dst"]])).write_csv(folder / "w.csv")
    (folder / "s.toml").write_text('[network]\nsource = "net.parquet"\n[workload]\nfile = "w.csv"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    res = run_cli("run", str(folder / "s.toml"), "--out", "o", "--quiet")
    assert res.exit_code == 0, res.output
    payments = pl.read_parquet(elsewhere / "o" / "payments.parquet")
    assert payments["src"].to_list() == df["src"].to_list() and payments.height == 40
