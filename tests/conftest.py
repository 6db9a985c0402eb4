from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def data_dir() -> Path:
    """The shared real snapshots; tests that need them skip cleanly when the folder is absent."""
    if not DATA.is_dir():
        pytest.skip(f"real LN snapshots not found at {DATA} (../shared/data beside the repo)")
    return DATA


# a sweep small enough for tests: 8 cells of 150 nodes and 60 payments
TINY_SWEEP = """
seeds = [1, 2]

[base]
network.synthetic_nodes = 150
workload.n_payments = 60
workload.rate_per_s = 20.0

[grid]
sender.cost_model = ["fee", "probability"]
engine.max_accepted_htlcs = [5, 483]
"""


@pytest.fixture(scope="session")
def tiny_sweep_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sweeps") / "tiny.toml"
    path.write_text(TINY_SWEEP)
    return path


@pytest.fixture(scope="session")
def tiny_sweep(tiny_sweep_file, tmp_path_factory) -> Path:
    """The tiny sweep run once by two local workers; tests read it, never change it."""
    from fastsim.sweep import load_sweep, run_sweep

    out = tmp_path_factory.mktemp("tiny") / "out"
    outcome = run_sweep(load_sweep(tiny_sweep_file), out=out, workers=2)
    assert outcome.count("done") == 8
    return out
