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


def test_running_out_of_memory_is_one_line(tmp_path, monkeypatch):
    def too_big(*args, **kwargs):
        raise MemoryError
    monkeypatch.setattr(run_module, "run_scenario", too_big)
    fails_cleanly(["run", "--out", tmp_path / "r", "-q"], "out of memory")


@pytest.mark.parametrize("nodes", ["0", "-5", "99999999999"])
def test_graph_synth_with_impossible_sizes(tmp_path, nodes):
    fails_cleanly(["graph", "synth", "--nodes", nodes, "-o", tmp_path / "s.parquet"], "--nodes", nodes)


def test_sizes_beyond_what_the_machine_can_hold(no_simulation):
    fails_cleanly(["run", "--payments", "99999999999", "-q"], "--payments", "bytes per payment", "GiB")
    fails_cleanly(["run", "--synthetic", "99999999999", "-q"], "--synthetic", "10,000,000")


def test_a_folder_where_a_file_is_expected(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "payments.parquet").write_bytes(b"PAR1")
    fails_cleanly(["run", "--graph", folder, "-q"], folder, "no CLoTH network", "snapshot file")
    fails_cleanly(["graph", "info", folder, "--format", "parquet"], folder, "is a folder")
    fails_cleanly(["graph", "synth", "--nodes", "20", "-o", folder], folder, "is a folder")
    config = tmp_path / "s.toml"
    config.write_text(f'[workload]\nfile = "{folder}"\n')
    fails_cleanly(["run", config, "--synthetic", "20", "-q"], folder, "is a folder")
    fails_cleanly(["run", folder, "-q"], folder, "Is a directory")


def test_graph_import_into_a_folder_is_refused_before_the_import(tmp_path, monkeypatch):
    from fastsim.cli import graph

    monkeypatch.setattr(graph, "import_network", lambda *a, **k: pytest.fail("imported first"))
    fails_cleanly(["graph", "import", tmp_path / "any.json", "-o", tmp_path], tmp_path, "is a folder")


@pytest.mark.parametrize("name, content, expected", [
    ("empty.json", b"", "cannot tell the format"),
    ("garbage.json", b'{"channels": 5', "invalid JSON"),
    ("garbage.json.gz", b"\x1f\x8bnot gzip", "broken gzip"),
    ("table.parquet", None, "not a fastsim network file"),
    ("junk.parquet", b"PAR1 and then nothing", "not a readable Parquet file"),
    ("amounts.csv", b"amount_msat\n5\n", "no CLoTH part in the file name"),
    ("only.json", b'{"nodes": [], "edges": []}', "kept none of the 0 read"),
])
def test_snapshots_that_are_not_networks(tmp_path, name, content, expected):
    path = tmp_path / name
    if content is None:
        import polars as pl
        pl.DataFrame({"a": [1]}).write_parquet(path)
    else:
        path.write_bytes(content)
    fails_cleanly(["run", "--graph", path, "-q"], name, expected)
    fails_cleanly(["graph", "import", path, "-o", tmp_path / "out.parquet"], name, expected)
    assert not (tmp_path / "out.parquet").exists()


def test_files_that_are_not_what_they_should_be(tmp_path):
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe garbage")
    fails_cleanly(["run", binary, "-q"], binary, "not a text file")
    header_only = tmp_path / "w.csv"
    header_only.write_text("id,t_arrival_s,src,dst,amount_msat\n")
    config = tmp_path / "s.toml"
    config.write_text('[workload]\nfile = "w.csv"\n')
    fails_cleanly(["run", config, "--synthetic", "20", "-q"], header_only, "at least one payment")
    fails_cleanly(["graph", "synth", "-n", "20", "-o", "/proc/x.parquet"], "/proc/x.parquet",
                  "cannot write here")
