"""NumPy kernels for the shape-matching ops (SumToLike, BroadcastLike, ReshapeLike)."""

from __future__ import annotations

import numpy as np

from opcore.registry import KernelContext, KernelTable

KERNELS = KernelTable()


@KERNELS.kernel("SumToLike")
def sum_to_like(ctx: KernelContext, x: np.ndarray, like: np.ndarray) -> np.ndarray:
    target = ctx.out_shapes[0]
    lead = x.ndim - len(target)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(target) if d == 1 and x.shape[lead + i] != 1)
    out = x.sum(axis=axes, dtype=x.dtype) if axes else x
    return np.asarray(out).reshape(target)


@KERNELS.kernel("BroadcastLike")
def broadcast_like(ctx: KernelContext, x: np.ndarray, like: np.ndarray) -> np.ndarray:
    return np.array(np.broadcast_to(x, ctx.out_shapes[0]))


@KERNELS.kernel("ReshapeLike")
def reshape_like(ctx: KernelContext, x: np.ndarray, like: np.ndarray) -> np.ndarray:
    return x.reshape(ctx.out_shapes[0]).copy()
