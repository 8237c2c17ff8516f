"""OpenCL kernels for the shape-matching ops (SumToLike, BroadcastLike, ReshapeLike).

SumToLike is a gather-reduce over a host-built index map (built from shapes
only, cached on the device), or its input itself when there is nothing to sum
(no launch); BroadcastLike and ReshapeLike are copies through the generated
broadcasting elementwise kernel.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from opcore.registry import KernelContext, KernelTable

KERNELS = KernelTable()


@functools.lru_cache(maxsize=1024)
def _summed_axes(x_shape: tuple[int, ...], target: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """The axes of ``x_shape`` summed to reach ``target``, and how many elements each output sums.

    Worked out once per pair of shapes: gradients call SumToLike on every step.
    """
    lead = len(x_shape) - len(target)
    axes = (*range(lead), *[lead + i for i, d in enumerate(target) if d == 1 and x_shape[lead + i] != 1])
    width = 1
    for d in axes:
        width *= x_shape[d]
    return axes, width


def _sum_map(x_shape: tuple[int, ...], target: tuple[int, ...]) -> np.ndarray:
    """Index map (target.size, width) of the input elements summed into each output element."""
    axes, width = _summed_axes(x_shape, target)
    keep = [d for d in range(len(x_shape)) if d not in axes]
    flat = np.arange(int(np.prod(x_shape, dtype=np.int64)), dtype=np.int64).reshape(x_shape)
    n_out = int(np.prod(target, dtype=np.int64))
    return flat.transpose([*keep, *axes]).reshape(n_out, width)


def _copy(ctx: KernelContext, x: Any, shape: tuple[int, ...]) -> Any:
    """A fresh contiguous copy of ``x`` with the same number of elements, shaped ``shape``."""
    from opcore_ckernels.kernels._elementwise import elementwise

    t = "(float)a" if np.dtype(x.dtype) == np.float16 else "a"
    out = elementwise(ctx, [x], [t], out_dtypes=[x.dtype], out_shape=tuple(x.shape))[0]
    return out if tuple(out.shape) == shape else out.reshape(shape)


@KERNELS.kernel("SumToLike")
def sum_to_like(ctx: KernelContext, x: Any, like: Any) -> Any:
    from opcore_ckernels.kernels._gather import gather_reduce, index_map

    target = tuple(ctx.out_shapes[0])
    x_shape = tuple(x.shape)
    _, width = _summed_axes(x_shape, target)
    if width == 1:
        # Nothing to sum (only leading 1s differ): x itself, as on NumPy. Sharing the buffer is safe: an
        # in-place update writes only into a buffer that nothing else holds (``Backend.may_overwrite``).
        return x if x_shape == target else x.reshape(target)
    idx = index_map(ctx, ("sum_to_like", x_shape, target), lambda: _sum_map(x_shape, target))
    acc = np.float32 if np.dtype(x.dtype) == np.float16 else x.dtype
    return gather_reduce(ctx, x, idx, width, target, "sum", acc_dtype=acc)


@KERNELS.kernel("BroadcastLike")
def broadcast_like(ctx: KernelContext, x: Any, like: Any) -> Any:
    from opcore_ckernels.kernels._elementwise import elementwise

    t = "(float)a" if np.dtype(x.dtype) == np.float16 else "a"
    return elementwise(ctx, [x], [t])[0]


@KERNELS.kernel("ReshapeLike")
def reshape_like(ctx: KernelContext, x: Any, like: Any) -> Any:
    return _copy(ctx, x, tuple(ctx.out_shapes[0]))
