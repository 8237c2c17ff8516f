"""The NumPy backend's kernel tables, one module per op family."""

from opcore.registry import KernelTable
from opcore_numpy.kernels import array, broadcast, image, math, nn, random, reduce, selection, train

TABLES: tuple[KernelTable, ...] = (
    broadcast.KERNELS,
    math.KERNELS,
    array.KERNELS,
    selection.KERNELS,
    reduce.KERNELS,
    nn.KERNELS,
    image.KERNELS,
    random.KERNELS,
    train.KERNELS,
)

__all__ = ["TABLES", "KernelTable"]
