"""`fastsim sweep` through CliRunner and once as the installed script."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from fastsim.cli.main import app

runner = CliRunner()
SMALL = ('[base]\nnetwork.synthetic_nodes = 120\nworkload.n_payments = 30\n'
         '[grid]\nsender.cost_model = ["fee", "lnd"]\n')


def test_exit_codes_and_the_closing_line(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SMALL)
    res = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path / "o"), "--workers", "2",
                              "--set", "workload.n_payments=20"])
    assert res.exit_code == 0, res.output
    assert "2 cells: 2 done (0 finished before), 0 failed" in res.output
    record = json.loads((tmp_path / "o" / "sweep.json").read_text())
    assert record["definition"]["base"]["workload.n_payments"] == 20
    # a cell that fails makes the exit code 1 and is named on stderr
    path.write_text(SMALL.replace('"lnd"]', '"lnd"]\nworkload.file = ["", "gone.csv"]'))
    res = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path / "p"), "--workers", "2"])
    assert res.exit_code == 1, res.output
    assert "failed sender.cost_model=fee/workload.file=gone.csv/seed=1: InputError: gone.csv" \
        in res.output


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[grid]\nsender.cost_modle = ["fee"]\n')
    for args, words in [
        ([str(path)], f"error: {path}: field 'grid.sender.cost_modle': unknown key; did you mean "
                      "'cost_model'?"),
        ([str(tmp_path / "none.toml")], "none.toml: cannot read the file"),
        ([str(path), "--workers", "0"], "error: --workers: expected a number >= 1, got 0"),
        ([str(path), "--set", "sender.mdoe=x"], "error: --set: field 'sender.mdoe': unknown key"),
    ]:
        res = runner.invoke(app, ["sweep", *args, "--out", str(tmp_path / "o")])
        assert res.exit_code == 2, res.output
        assert res.output.strip().splitlines() == [res.output.strip()] and words in res.output
        assert "Traceback" not in res.output
    assert not (tmp_path / "o").exists()  # nothing ran


def test_the_installed_script_starts_workers_with_one_numba_thread(tmp_path):
    # the script's spawned workers re-import it, and so Numba, before any code of the sweep runs
    script = shutil.which("fastsim", path=str(Path(sys.executable).parent))
    path = tmp_path / "s.toml"
    path.write_text(SMALL)
    proc = subprocess.run([script, "sweep", str(path), "--out", str(tmp_path / "o"),
                           "--workers", "2"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    cells = json.loads((tmp_path / "o" / "sweep.json").read_text())["cells"]
    assert {c["numba_threads_started"] for c in cells} == {1}
    assert proc.stderr == ""  # not a terminal: no progress bar
