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
