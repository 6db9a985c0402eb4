"""Bad input to any command: exit code 2 and one line naming the file or option, never a traceback."""

import pytest
from typer.testing import CliRunner

from fastsim.cli import run as run_module
from fastsim.cli.main import app

runner = CliRunner()


def fails_cleanly(args, *names):
    """Run the CLI on bad input; it must exit 2 with one ``error:`` line that names ``names``."""
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    for name in names:
        assert str(name) in lines[0], res.output
    return lines[0]


@pytest.fixture
def no_simulation(monkeypatch):
    """A bad --out must be found before the run: simulating would fail the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("simulated before checking --out")
    monkeypatch.setattr(run_module, "run_scenario", refuse)


def test_out_that_cannot_be_written_is_found_before_the_run(tmp_path, no_simulation):
    afile = tmp_path / "afile"
    afile.write_text("keep")
    fails_cleanly(["run", "--synthetic", "50", "--out", afile, "-q"], afile, "is a file")
    fails_cleanly(["run", "--synthetic", "50", "--out", afile / "sub", "-q"], afile / "sub")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("keep")
    fails_cleanly(["run", "--synthetic", "50", "--out", mine, "-q"], mine, "thesis.tex")
    assert afile.read_text() == "keep" and (mine / "thesis.tex").read_text() == "keep"


def test_os_errors_while_writing_are_one_line(tmp_path, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "r" / "payments.parquet"))
    monkeypatch.setattr(run_module, "write_results", full_disk)
    fails_cleanly(["run", "--synthetic", "50", "--payments", "5", "--out", tmp_path / "r", "-q"],
                  "payments.parquet", "No space left on device")


def test_running_out_of_memory_is_one_line(monkeypatch):
    def too_big(*args, **kwargs):
        raise MemoryError
    monkeypatch.setattr(run_module, "run_scenario", too_big)
    fails_cleanly(["run", "-q"], "out of memory")
