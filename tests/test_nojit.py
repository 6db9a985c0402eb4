"""The kernel and engine tests once more with NUMBA_DISABLE_JIT=1, so coverage sees inside the kernels."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KERNEL_TESTS = ["tests/kernels", "tests/test_engine.py", "tests/test_engine_properties.py",
                "tests/test_jit.py", "tests/test_jit_conditional.py", "tests/test_jit_source.py",
                "tests/test_mpp.py", "tests/test_invariants.py"]


def test_kernel_tests_pass_as_plain_python():
    if os.environ.get("NUMBA_DISABLE_JIT") == "1":
        return  # already the pure-Python run
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    # the real snapshot's runs would take minutes as plain Python; the tiny graphs cover the same code
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k",
                           "not 2026_snapshot", *KERNEL_TESTS],
                          cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
