"""`fastsim report` through CliRunner."""

from typer.testing import CliRunner

from fastsim.cli.main import app

runner = CliRunner()


def test_report_prints_tables_files_and_what_it_skipped(tiny_sweep, tmp_path):
    res = runner.invoke(app, ["report", str(tiny_sweep), "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert "groups" in res.output and "sender.cost_model" in res.output
    assert f"figure: {tmp_path / 'r' / 'success_rate.png'}" in res.output
    assert "skipped rebalance_fees: no node rebalanced in these runs" in res.output
    assert f"report: {tmp_path / 'r' / 'report.html'}" in res.output


def test_report_on_a_folder_without_runs_is_one_line_exit_2(tmp_path):
    res = runner.invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 2
    assert res.output == f"error: {tmp_path}: is neither a sweep folder (sweep.json, " \
                         "summary.parquet) nor a run folder (run.json, summary.parquet)\n"
