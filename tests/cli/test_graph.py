"""`fastsim graph import|synth|info` through CliRunner, on the real snapshots and on bad input."""

import gzip

from typer.testing import CliRunner

from fastsim.cli.main import app
from fastsim.network import Network

runner = CliRunner()


def test_import_and_info_on_the_2026_snapshot(tmp_path, data_dir):
    out = tmp_path / "ln.parquet"
    res = runner.invoke(app, ["graph", "import", str(data_dir / "ln-2026-02-03.listchannels.json.gz"),
                              "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "warning: 1 directions announced enabled with CLTV delta 0, disabled" in res.output
    net = Network.load(out)
    assert (net.n_nodes, net.n_channels) == (17_324, 50_808)
    res = runner.invoke(app, ["graph", "info", str(out)])
    assert res.exit_code == 0, res.output
    assert "17,324" in res.output and "50,808" in res.output
    assert "6,191" in res.output  # largest strongly connected component over enabled directions
    assert "35,807" in res.output  # disabled directions


def test_synth_then_info(tmp_path):
    out = tmp_path / "s.parquet"
    res = runner.invoke(app, ["graph", "synth", "--nodes", "500", "--seed", "4", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert Network.load(out).n_nodes == 500
    res = runner.invoke(app, ["graph", "info", str(out)])
    assert res.exit_code == 0 and "500" in res.output


def test_bad_snapshot_names_file_and_field(tmp_path):
    bad = tmp_path / "bad.json.gz"
    with gzip.open(bad, "wt") as f:
        f.write('{"channels": [{"source": "02aa", "destination": "03bb", "short_channel_id": "1x1x1",'
                ' "satoshis": "lots", "active": true}]}')
    res = runner.invoke(app, ["graph", "import", str(bad), "-o", str(tmp_path / "o.parquet")])
    assert res.exit_code == 2
    assert "bad.json.gz" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o.parquet").exists()


def test_unknown_format_and_missing_file(tmp_path):
    res = runner.invoke(app, ["graph", "info", str(tmp_path / "missing.json")])
    assert res.exit_code == 2 and "missing.json" in res.output
    (tmp_path / "x.json").write_text("{}")
    res = runner.invoke(app, ["graph", "info", str(tmp_path / "x.json"), "--format", "nope"])
    assert res.exit_code == 2 and "nope" in res.output


def test_help_texts():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0 and "run" in res.output and "graph" in res.output
    res = runner.invoke(app, ["graph", "--help"])
    assert "import" in res.output and "synth" in res.output and "info" in res.output
