"""The kernel cache: one folder per hash of the kernel sources, safe for processes starting at once."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                                reason="the cache is Numba's; plain Python has none")

PROBE = "from fastsim.kernels._jit import njit\n\n\n@njit\ndef probe(x):\n    return x + 1\n"
# prints its cache folder and whether the probe kernel came from that cache; waits for a line on
# stdin first when asked to, so that it is still running while others start
CHILD = """
import sys
import fastsim
from fastsim.kernels import _jit, _probe
assert fastsim.__file__.startswith(sys.argv[1]), fastsim.__file__
assert _probe.probe(41) == 42
print(_jit._FOLDER, sum(_probe.probe.stats.cache_hits.values()), flush=True)
if len(sys.argv) > 2:
    sys.stdin.readline()
    assert _probe.probe(1) == 2
"""


def _env(root: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CACHE_DIR", "FASTSIM_NUMBA_CACHE", "NUMBA_DISABLE_JIT")}
    return {**env, "PYTHONPATH": str(root)}


def _start(root: Path, *extra: str) -> subprocess.Popen:
    # cwd=root: `python -c` puts its working directory first on sys.path
    return subprocess.Popen([sys.executable, "-c", CHILD, str(root), *extra], env=_env(root),
                            cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _report(proc: subprocess.Popen) -> tuple[Path, int]:
    folder, hits = proc.stdout.readline().split()
    return Path(folder), int(hits)


def test_a_source_change_never_deletes_a_running_process_cache(tmp_path):
    shutil.copytree(REPO / "fastsim", tmp_path / "fastsim",
                    ignore=shutil.ignore_patterns("__pycache__"))
    kernels = tmp_path / "fastsim" / "kernels"
    (kernels / "_probe.py").write_text(PROBE)

    old = _start(tmp_path, "wait")
    old_folder, _ = _report(old)
    assert old_folder.parent == kernels / "__pycache__" and any(old_folder.rglob("*.nbi"))

    (kernels / "_probe.py").write_text(PROBE + "# changed\n")
    starters = [_start(tmp_path) for _ in range(4)]
    new_folders = set()
    for proc in starters:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        new_folders.add(Path(out.split()[0]))
    (new_folder,) = new_folders
    assert new_folder != old_folder and new_folder.parent == old_folder.parent
    # the older process still holds its folder: nothing was deleted under it, and it still runs
    assert any(old_folder.rglob("*.nbi"))
    _, err = old.communicate("go\n", timeout=60)
    assert old.returncode == 0, err

    # once nobody holds it, the next start removes the old folder and reads its kernel from the cache
    last = _start(tmp_path)
    folder, hits = _report(last)
    assert last.wait(timeout=60) == 0, last.stderr.read()
    assert folder == new_folder and hits == 1
    assert not old_folder.exists()
