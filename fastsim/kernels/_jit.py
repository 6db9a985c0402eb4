"""The one Numba decorator the kernels use: cached by default, ``FASTSIM_NUMBA_CACHE=0`` turns caching off.

Numba keys a cached kernel on its own file only, while our kernels inline functions from sibling
modules; so the cache is dropped whenever any kernel source changes (a stamp of their hash).

Serial kernels are compiled without Numba's reference counting (``_nrt=False``): they take every
array from the caller and allocate none (Numba refuses to compile an allocation without it), and
the atomic increments and decrements it adds around each helper call took half the event loop's
time. Parallel kernels keep it, as their scheduling needs it.
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
    if not kwargs.get("parallel"):
        kwargs.setdefault("_nrt", False)
    return numba.njit(*args, **kwargs)
