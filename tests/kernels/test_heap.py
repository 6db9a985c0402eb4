"""The heaps against a sorted list, on random pushes and pops with many equal keys."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fastsim.kernels._jit import from_python
from fastsim.kernels.heap import EMPTY, heap_pop, heap_push

heap_pop, heap_push = from_python(heap_pop), from_python(heap_push)

# a push (key, tie or value) or a pop (None); few keys and values, so that ties are common
operations = st.lists(st.one_of(st.none(), st.tuples(st.sampled_from([0.0, 1.5, 2.0, np.inf]),
                                                     st.integers(-4, 4))), max_size=60)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_a_heap_whose_values_are_their_own_ties_pops_the_least_key_then_value(ops):
    """As the route searches use it: one array passed as ties and as values."""
    keys, vals = np.zeros(len(ops)), np.zeros(len(ops), np.int64)
    size, naive = EMPTY, []
    for op in ops:
        if op is None:
            if naive:
                want = min(naive)
                naive.remove(want)
                assert (keys[0], vals[0]) == want
                size = heap_pop(keys, vals, vals, size)
        else:
            naive.append(op)
            size = heap_push(keys, vals, vals, size, op[0], op[1], op[1])
        assert size == len(naive)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_heap_pops_the_least_key_then_tie_with_its_value(ops):
    keys, ties, vals = np.zeros(len(ops)), np.zeros(len(ops), np.int64), np.zeros(len(ops), np.int64)
    size, naive = EMPTY, []
    for i, op in enumerate(ops):
        if op is None:
            if naive:
                least = min((key, tie) for key, tie, _ in naive)
                assert (keys[0], ties[0]) == least
                # equal (key, tie) entries may come out in any order, each with its own value
                naive.remove(next(e for e in naive if e[:2] == least and e[2] == vals[0]))
                size = heap_pop(keys, ties, vals, size)
        else:
            naive.append((*op, i))
            size = heap_push(keys, ties, vals, size, op[0], op[1], i)
        assert size == len(naive)
