"""The prefetch hint compiles for the arrays the searches give it and changes nothing."""

import numpy as np

from fastsim.kernels._jit import njit
from fastsim.kernels.prefetch import prefetch


@njit(entry=True, cache=False)
def _sum_with_hints(flat, table):
    total = 0
    for i in range(flat.shape[0] + 2):  # rows past the end too: a prefetch never faults
        prefetch(flat, i)
        prefetch(table, i)
    for i in range(flat.shape[0]):
        total += flat[i] + table[i, 1]
    return total


def test_prefetch_compiles_for_flat_and_packed_arrays_and_changes_nothing():
    flat = np.arange(5, dtype=np.int64)
    table = np.arange(10, dtype=np.int64).reshape(5, 2)
    assert _sum_with_hints(flat, table) == flat.sum() + table[:, 1].sum()
    # the search's other kinds: float and int32 lists
    assert _sum_with_hints(flat.astype(np.float64), table.astype(np.float64)) == 35.0
    assert _sum_with_hints(flat.astype(np.int32), table) == 35
