"""A binary min-heap over parallel arrays, ordered by (key, tie): used for the event queue and the
route searches (whose values are their own ties: they pass one array as both)."""

import numpy as np

from fastsim.kernels._jit import njit

EMPTY = np.int64(0)  # an empty heap's size; a numpy scalar, as a literal 0 would compile a twin push


@njit(inline="always")
def _less(k1, t1, k2, t2):
    return k1 < k2 or (k1 == k2 and t1 < t2)


@njit
def heap_push(keys, ties, vals, size, key, tie, val):
    """Insert (key, tie, val); returns the new size. The arrays must have room for it."""
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if _less(keys[parent], ties[parent], key, tie):
            break
        keys[i] = keys[parent]
        ties[i] = ties[parent]
        vals[i] = vals[parent]
        i = parent
    keys[i] = key
    ties[i] = tie
    vals[i] = val
    return size + 1


@njit
def heap_pop(keys, ties, vals, size):
    """Remove the top entry (read it from index 0 first); returns the new size."""
    size -= 1
    key = keys[size]
    tie = ties[size]
    val = vals[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and _less(keys[child + 1], ties[child + 1], keys[child], ties[child]):
            child += 1
        if _less(key, tie, keys[child], ties[child]):
            break
        keys[i] = keys[child]
        ties[i] = ties[child]
        vals[i] = vals[child]
        i = child
    if size > 0:
        keys[i] = key
        ties[i] = tie
        vals[i] = val
    return size

