"""The one Numba decorator the kernels use: cached by default, ``FASTSIM_NUMBA_CACHE=0`` turns caching off."""

import os

import numba

CACHE = os.environ.get("FASTSIM_NUMBA_CACHE", "1") not in ("0", "false", "no", "off")


def njit(*args, **kwargs):
    kwargs.setdefault("cache", CACHE)
    return numba.njit(*args, **kwargs)
