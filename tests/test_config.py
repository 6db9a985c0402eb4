"""Scenario config: defaults, TOML files, overrides, and errors that name the file and the key."""

import tomllib
from pathlib import Path

import pytest

from fastsim.config import Config, documented_toml, load_config, parse_assignments
from fastsim.errors import InputError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def write(tmp_path, text, name="s.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_default_toml_documents_exactly_the_defaults():
    assert load_config(CONFIGS / "default.toml") == Config()
    # regenerate with: python -c "from fastsim.config import *; print(documented_toml(), end='')"
    assert (CONFIGS / "default.toml").read_text() == documented_toml()
    text = (CONFIGS / "default.toml").read_text()
    for key in Config().to_dict()["sender"]:
        assert f"\n{key} = " in text


def test_every_shipped_config_loads():
    for path in CONFIGS.glob("*.toml"):
        if "grid" not in tomllib.loads(path.read_text()):  # a sweep file (tests/test_sweep.py)
            load_config(path)


def test_file_and_overrides(tmp_path):
    path = write(tmp_path, 'seed = 4\n[workload]\nn_payments = 7\nrate_per_s = 2\n')
    cfg = load_config(path, overrides={"workload.n_payments": 9, "engine.mode": "atomic"})
    assert (cfg.seed, cfg.workload.n_payments, cfg.engine.mode) == (4, 9, "atomic")
    assert cfg.workload.rate_per_s == 2.0 and isinstance(cfg.workload.rate_per_s, float)
    assert cfg.to_dict()["workload"]["n_payments"] == 9


@pytest.mark.parametrize("text, key, words", [
    ("[workload]\nn_paymnets = 5\n", "workload.n_paymnets", "did you mean 'n_payments'"),
    ("[workloda]\nn_payments = 5\n", "workloda", "did you mean 'workload'"),
    ("sed = 5\n", "sed", "did you mean 'seed'"),
    ('[workload]\nn_payments = "many"\n', "workload.n_payments", "expected int"),
    ("[sender]\nmax_attempts = true\n", "sender.max_attempts", "expected int"),
    ("[sender]\nremember_failures = 1\n", "sender.remember_failures", "expected bool"),
    ("[workload]\nn_payments = -3\n", "workload.n_payments", ">= 1"),
    ("[sender]\nmaxfeepercent = 101.0\n", "sender.maxfeepercent", "<= 100"),
    ("[sender]\napriori_hop_probability = 0.0\n", "sender.apriori_hop_probability", "> 0"),
    ('[engine]\nmode = "fast"\n', "engine.mode", "'event', 'atomic'"),
    ("workload = 3\n", "workload", "expected a table"),
    ("[workload]\nn_payments = 99_999_999_999\n", "workload.n_payments", "bytes per payment"),
    ("[network]\nsynthetic_nodes = 10_000_001\n", "network.synthetic_nodes", "<= 10,000,000"),
])
def test_errors_name_file_key_and_expectation(tmp_path, text, key, words):
    path = write(tmp_path, text, "bad.toml")
    with pytest.raises(InputError) as err:
        load_config(path)
    msg = str(err.value)
    assert "bad.toml" in msg and f"'{key}'" in msg and words in msg


def test_invalid_toml_names_the_line(tmp_path):
    path = write(tmp_path, "[workload]\nn_payments = = 3\n", "broken.toml")
    with pytest.raises(InputError, match=r"broken\.toml.*invalid TOML.*line 2"):
        load_config(path)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="nope.toml"):
        load_config(tmp_path / "nope.toml")


def test_bad_override_key():
    with pytest.raises(InputError, match="did you mean 'mode'"):
        load_config(None, overrides={"engine.mdoe": "atomic"})


def test_override_errors_are_not_blamed_on_the_file(tmp_path):
    path = write(tmp_path, "[workload]\nn_payments = 7\n", "ok.toml")
    with pytest.raises(InputError) as err:
        load_config(path, overrides={"workload.n_payments": -1})
    assert "ok.toml" not in str(err.value) and str(err.value).startswith("--set")


def test_assignments_are_typed_by_the_spec():
    overrides = parse_assignments(["engine.mode=atomic", "seed=7", "sender.maxfeepercent=1",
                                   "sender.remember_failures=false", 'name="x y"', "workload.rate_per_s = 2.5"])
    cfg = load_config(None, overrides=overrides)
    assert (cfg.engine.mode, cfg.seed, cfg.name, cfg.workload.rate_per_s) == ("atomic", 7, "x y", 2.5)
    assert cfg.sender.maxfeepercent == 1.0 and cfg.sender.remember_failures is False


@pytest.mark.parametrize("item, words", [
    ("engine.mdoe=atomic", "'engine.mdoe': unknown key; did you mean 'mode'"),
    ("workload.n_payments=many", "'workload.n_payments': expected int, got 'many'"),
    ("seed", "expected KEY=VALUE, got 'seed'"),
    ("a.b.c=1", "'a.b.c': expected 'key' or 'section.key'"),
])
def test_assignment_errors_name_set_and_the_key(item, words):
    with pytest.raises(InputError) as err:
        load_config(None, overrides=parse_assignments([item]))
    assert str(err.value).startswith("--set") and words in str(err.value)


def test_an_option_error_names_the_option_not_the_field():
    with pytest.raises(InputError) as err:
        load_config(None, overrides={"workload.n_payments": -5},
                    sources={"workload.n_payments": "--payments"})
    assert str(err.value) == "--payments: expected a value >= 1, got -5"


def test_paths_in_a_file_are_taken_from_its_folder(tmp_path):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    path = write(folder, '[network]\nsource = "../data/ln.json"\n[workload]\nfile = "w.csv"\n'
                         f'amount_file = "{tmp_path / "a.csv"}"\n')
    cfg = load_config(path)
    assert cfg.network.source == str(folder / "../data/ln.json")
    assert (cfg.workload.file, cfg.workload.amount_file) == (str(folder / "w.csv"), str(tmp_path / "a.csv"))
    # given on the command line, a path is the user's own: relative to where fastsim runs
    cfg = load_config(path, overrides={"workload.file": "mine.csv", "network.source": "synthetic"})
    assert (cfg.workload.file, cfg.network.source) == ("mine.csv", "synthetic")
    assert load_config(write(folder, "[workload]\nn_payments = 5\n")).network.source == "synthetic"
