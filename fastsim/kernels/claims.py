"""An atomic fetch-and-add for compiled kernels: threads of a parallel kernel claim work from a
shared counter, so that a thread done early takes the next item instead of idling.

Numba has no CPU atomics; this emits LLVM's ``atomicrmw add``. Without JIT it is plain Python.
"""

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload


def fetch_add(counter, index, value):
    """Add ``value`` to ``counter[index]`` atomically; returns the value before."""
    old = counter[index]
    counter[index] += value
    return old


@intrinsic
def _fetch_add(typingctx, counter, index, value):
    if not (isinstance(counter, types.Array) and counter.dtype == types.int64 and counter.ndim == 1
            and isinstance(index, types.Integer) and isinstance(value, types.Integer)):
        return None
    sig = types.int64(counter, index, value)

    def codegen(context, builder, signature, args):
        array_type, index_type, value_type = signature.args
        array = context.make_array(array_type)(context, builder, args[0])
        at = context.cast(builder, args[1], index_type, types.intp)
        ptr = cgutils.get_item_pointer(context, builder, array_type, array, [at])
        add = context.cast(builder, args[2], value_type, types.int64)
        return builder.atomic_rmw("add", ptr, add, "seq_cst")

    return sig, codegen


@overload(fetch_add)
def _fetch_add_overload(counter, index, value):
    return lambda counter, index, value: _fetch_add(counter, index, value)
