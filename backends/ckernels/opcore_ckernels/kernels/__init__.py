"""The OpenCL backend's kernel tables, one module per op family.

Kernel modules import no OpenCL library at load time: they reach the device
through ``ctx.backend.runtime`` when they run.
"""

from opcore.registry import KernelTable
from opcore_ckernels.kernels import array, broadcast, image, math, nn, pool, random, reduce, selection, train

TABLES: tuple[KernelTable, ...] = (
    broadcast.KERNELS,
    math.KERNELS,
    array.KERNELS,
    selection.KERNELS,
    reduce.KERNELS,
    nn.KERNELS,
    image.KERNELS,
    pool.KERNELS,
    random.KERNELS,
    train.KERNELS,
)

__all__ = ["TABLES"]
