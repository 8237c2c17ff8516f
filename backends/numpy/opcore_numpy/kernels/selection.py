"""NumPy kernels: selecting elements by value (Where, BooleanMask, Unique, ListDiff).

Their outputs' value-dependent dimensions are ``None`` in ``ctx.out_shapes``;
each kernel returns arrays of the size the values call for.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from opcore.registry import KernelContext, KernelTable

KERNELS = KernelTable()


@KERNELS.kernel("Where")
def where(ctx: KernelContext, condition: np.ndarray) -> np.ndarray:
    # argwhere of a 0-d array gives shape (n, 0), as TensorFlow's Where does.
    return np.argwhere(condition).astype(np.int64, copy=False)


def _mask_key(ctx: KernelContext, ndim: int, mask: np.ndarray) -> tuple[Any, ...]:
    axis = ctx.attrs["axis"] % ndim
    return (slice(None),) * axis + (mask.astype(bool, copy=False),)


@KERNELS.kernel("BooleanMask")
def boolean_mask(ctx: KernelContext, tensor: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.array(tensor[_mask_key(ctx, tensor.ndim, mask)])  # advanced indexing copies


@KERNELS.kernel("BooleanMaskGrad")
def boolean_mask_grad(ctx: KernelContext, dy: np.ndarray, mask: np.ndarray, like: np.ndarray) -> np.ndarray:
    out = np.zeros(like.shape, dtype=dy.dtype)
    out[_mask_key(ctx, like.ndim, mask)] = dy
    return out


@KERNELS.kernel("Unique")
def unique(ctx: KernelContext, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values in order of first occurrence, compared with ``==`` (every NaN distinct, -0.0 == 0.0)."""
    index_dtype = ctx.out_dtypes[1].np
    n = x.shape[0]
    if n == 0:
        return x.copy(), np.zeros(0, index_dtype)
    order = np.argsort(x, kind="stable")  # equal values adjacent, each run in index order
    ordered = x[order]
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    starts[1:] = ordered[1:] != ordered[:-1]  # NaN != NaN: each NaN starts its own run
    group = np.cumsum(starts) - 1  # run number of each sorted position
    first = order[starts]  # the first occurrence of each run (stable sort: its smallest index)
    by_first = np.argsort(first, kind="stable")  # runs in order of first occurrence
    position = np.empty(len(first), dtype=np.int64)
    position[by_first] = np.arange(len(first))
    idx = np.empty(n, dtype=index_dtype)
    idx[order] = position[group]
    return x[first[by_first]], idx


@KERNELS.kernel("ListDiff")
def list_diff(ctx: KernelContext, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The elements of ``x`` not found in ``y`` by ``==`` (a NaN is never found), with their positions."""
    ys = np.sort(y)
    pos = np.searchsorted(ys, x)
    found = np.zeros(x.shape, dtype=bool)
    inside = pos < ys.shape[0]
    found[inside] = ys[pos[inside]] == x[inside]
    keep = np.flatnonzero(~found)
    return x[keep], keep.astype(ctx.out_dtypes[1].np)
