"""The one Numba decorator the kernels use: cached by default, ``FASTSIM_NUMBA_CACHE=0`` turns caching off.

Numba keys a cached kernel on its own file only, while our kernels inline functions from sibling
modules; so the cache is dropped whenever any kernel source changes (a stamp of their hash).
"""

import hashlib
import os
from pathlib import Path

import numba

CACHE = os.environ.get("FASTSIM_NUMBA_CACHE", "1") not in ("0", "false", "no", "off")


def _drop_stale_cache() -> None:
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for source in sorted(here.glob("*.py")):
        digest.update(source.read_bytes())
    cache = here / "__pycache__"
    stamp = cache / "fastsim-kernels.stamp"
    try:
        if stamp.is_file() and stamp.read_text() == digest.hexdigest():
            return
        cache.mkdir(exist_ok=True)
        for entry in cache.iterdir():
            if entry.suffix in (".nbi", ".nbc"):
                entry.unlink(missing_ok=True)
        stamp.write_text(digest.hexdigest())
    except OSError:  # a read-only install: Numba falls back to its own cache location
        pass


if CACHE:
    _drop_stale_cache()


def njit(*args, **kwargs):
    kwargs.setdefault("cache", CACHE)
    return numba.njit(*args, **kwargs)
