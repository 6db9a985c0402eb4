"""``prefetch(array, row)``: ask the CPU to start loading the cache line of ``array[row]`` (of a 2-D
array, ``array[row, 0]``) without waiting for it; a hint that changes no result. An address past
the end is harmless: a prefetch never faults. As plain Python (``NUMBA_DISABLE_JIT=1``) it does
nothing."""

from llvmlite import ir
from numba.core import cgutils, config, types
from numba.extending import intrinsic

_I32 = ir.IntType(32)


@intrinsic
def _prefetch(typingctx, array, row):
    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        data = context.make_array(array_type)(context, builder, args[0])
        index = [args[1]] + [context.get_constant(types.intp, 0)] * (array_type.ndim - 1)
        address = cgutils.get_item_pointer(context, builder, array_type, data, index,
                                           wraparound=False)
        pointer = builder.bitcast(address, ir.IntType(8).as_pointer())
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [pointer.type, _I32, _I32, _I32]),
            "llvm.prefetch.p0")
        # a read, kept in every cache level, of data (not instructions)
        builder.call(function, [pointer, ir.Constant(_I32, 0), ir.Constant(_I32, 3),
                                ir.Constant(_I32, 1)])
        return context.get_dummy_value()

    return types.void(array, row), codegen


def _skip(array, row):
    return None


prefetch = _skip if config.DISABLE_JIT else _prefetch
