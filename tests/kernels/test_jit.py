"""The kernel cache: one folder per hash of the kernel sources, safe for processes starting at once."""

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                                reason="the cache is Numba's; plain Python has none")

PROBE = "from fastsim.kernels._jit import njit\n\n\n@njit(entry=True)\ndef probe(x):\n    return x + 1\n"
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


def test_a_kernel_only_kernel_refuses_python_and_its_twin_answers():
    from fastsim.kernels import _jit
    from fastsim.kernels._jit import KernelOnly, from_python, njit
    from fastsim.kernels.latency import half_normal

    assert isinstance(half_normal, KernelOnly)
    with pytest.raises(TypeError, match="latency.half_normal is called by other kernels only"):
        half_normal(np.uint64(7))  # without the wrapper Numba would read garbage, or crash

    @njit(entry=True, cache=False)
    def from_a_kernel(keys, out):
        for i in range(keys.shape[0]):
            out[i] = half_normal(keys[i])

    keys = np.random.default_rng(3).integers(0, 2**63, 50, dtype=np.uint64)
    expected = np.zeros(50)
    from_a_kernel(keys, expected)
    twin = from_python(half_normal)
    assert [twin(k) for k in keys] == expected.tolist()
    if _jit.CACHE and _jit._FOLDER:
        assert Path(twin.stats.cache_path).parent.name == "from_python"


def test_numba_compiles_a_branch_on_a_none_argument_away():
    from fastsim.kernels._jit import njit

    @njit(cache=False)
    def handler(x):
        return x + 1

    @njit(entry=True, cache=False)
    def loop(x, with_handler):
        if with_handler is not None:
            x = handler(x)
        if with_handler is None or handler(x) > 0:
            x += 10
        return x

    assert loop(1, None) == 11 and handler.signatures == []
    assert loop(1, True) == 12 and len(handler.signatures) == 1


def _guarded_calls(node, guards=frozenset()):
    """Each call under ``node`` with the strategies (``with_jit``, ``with_mpp``) whose None-check
    guards it: the body of ``if with_x is not None:``, or what follows ``with_x is None or``."""
    def checked(test, op):
        if (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
                and test.left.id.startswith("with_") and isinstance(test.ops[0], op)
                and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value is None):
            return test.left.id
        return None

    if isinstance(node, ast.If) and checked(node.test, ast.IsNot):
        inner = guards | {checked(node.test, ast.IsNot)}
        for child in node.body:
            yield from _guarded_calls(child, inner)
        for child in node.orelse:
            yield from _guarded_calls(child, guards)
        return
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or) and checked(node.values[0], ast.Is):
        for value in node.values[1:]:
            yield from _guarded_calls(value, guards | {checked(node.values[0], ast.Is)})
        return
    if isinstance(node, ast.Call):
        yield node, guards
    for child in ast.iter_child_nodes(node):
        yield from _guarded_calls(child, guards)


def test_the_event_loop_calls_each_strategy_only_where_numba_can_drop_it():
    # a run without JIT nodes or multipart payments passes None for with_jit / with_mpp (see
    # tests/test_engine.py), and Numba compiles a branch on a None argument away (the test above),
    # so their handlers are never compiled: a tiny run's cold start fell from 142 s to 41 s. A call
    # outside such a guard would compile them for every run
    tree = ast.parse((REPO / "fastsim" / "kernels" / "events.py").read_text())
    jit_handlers = {alias.asname or alias.name for node in tree.body
                    if isinstance(node, ast.ImportFrom) and node.module == "fastsim.kernels.jit"
                    for alias in node.names}
    (loop,) = [node for node in tree.body if isinstance(node, ast.FunctionDef)
               and node.name == "run_events"]
    strategy_calls = []
    for call, guards in _guarded_calls(loop):
        f = call.func
        if isinstance(f, ast.Name) and f.id in jit_handlers:
            strategy_calls.append((f.id, "with_jit" in guards))
        elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "mpp":
            strategy_calls.append((f"mpp.{f.attr}", "with_mpp" in guards))
    assert len(strategy_calls) == 11
    assert [name for name, guarded in strategy_calls if not guarded] == []


def test_a_compiled_variant_is_noted_in_the_cache_folder(tmp_path, monkeypatch):
    from fastsim.kernels import _jit

    monkeypatch.setattr(_jit, "_FOLDER", tmp_path)  # an empty cache: nothing compiled yet
    assert not _jit.compiled("run_events-jit0-mpp0")
    _jit.note_compiled("run_events-jit0-mpp0")
    assert _jit.compiled("run_events-jit0-mpp0") and not _jit.compiled("run_events-jit1-mpp0")
    monkeypatch.setattr(_jit, "_FOLDER", None)  # no cache folder: nothing to say
    assert _jit.compiled("run_events-jit1-mpp0")
