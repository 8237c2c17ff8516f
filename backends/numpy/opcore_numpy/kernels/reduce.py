"""NumPy kernels: reduce family."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from opcore.registry import KernelContext, KernelTable
from opcore_numpy.kernels import _parallel

KERNELS = KernelTable()


def _axes(ctx: KernelContext, x: np.ndarray) -> tuple[int, ...]:
    axes: tuple[int, ...] | None = ctx.memo.get("axes")
    if axes is None:  # derived once per plan: a context serves every call of one plan
        axis = ctx.attrs["axis"]
        axes = ctx.memo["axes"] = tuple(range(x.ndim)) if axis is None else tuple(a % x.ndim for a in axis)
    return axes


def _acc_dtype(x: np.ndarray) -> Any:
    # float16 accumulates in float32 (as TensorFlow does on CPU); other dtypes in themselves.
    return np.float32 if x.dtype == np.float16 else x.dtype


def _finish(ctx: KernelContext, value: Any) -> np.ndarray:
    return np.asarray(value).astype(ctx.out_dtypes[0].np, copy=False).reshape(ctx.out_shapes[0])


# A float32/float64 sum over the leading or the trailing axes is a matrix-vector product
# with ones: one BLAS gemv call, 2-7x faster than np.add.reduce on small and medium arrays
# (its per-row loop dominates when rows are short). Only below OpenBLAS's threading
# threshold (m * n < 9216): gemv stays single-threaded there, and the accuracy is that of
# np.add.reduce (gemv accumulates in vector lanes, as NumPy's pairwise sum does per block).
_GEMV_MAX = 9216
_GEMV_TYPES = (np.float32, np.float64)


def _sum_how(ctx: KernelContext, x: np.ndarray) -> tuple[Any, ...]:
    """How this context's Sum runs on ``x``: decided once per input shape and dtype."""
    axes = _axes(ctx, x)
    shape, dt, nd, n = x.shape, x.dtype, x.ndim, len(axes)
    gemv: Any = None
    if dt.type in _GEMV_TYPES and dt.isnative and 0 < x.size < _GEMV_MAX and 0 < n < nd:
        ordered = sorted(axes)
        trailing = ordered == list(range(nd - n, nd))
        if trailing or ordered == list(range(n)):
            k = 1
            for a in axes:
                k *= shape[a]
            rows = x.size // k
            ones = np.ones(k, dt)
            ones.flags.writeable = False  # shared by every call of the plan
            out_shape = ctx.out_shapes[0]
            gemv = (trailing, ones, (rows, k) if trailing else (k, rows), None if out_shape == (rows,) else out_shape)
    how = ctx.memo["sum"] = (shape, dt, axes, ctx.attrs["keepdims"], gemv)
    return how


_add_reduce = np.add.reduce
_dot = np.dot

#: Float sums of at least this many elements may take ``large_sum``'s vectorised paths.
LARGE = 1 << 16
#: Row length of the whole-array sum: each row is summed, then the row sums.
_LANES = 4096


@functools.lru_cache(maxsize=8)
def _ones(n: int, dtype: Any) -> np.ndarray:
    """A read-only vector of ``n`` ones, shared by every call."""
    ones = np.ones(n, dtype)
    ones.flags.writeable = False
    return ones


def _gemv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` (a matrix and a vector, either way round) on BLAS, held to one thread near
    the backend's held BLAS work."""
    return _parallel.held(_dot, a, b) if _parallel.near_held() else _dot(a, b)


def large_sum(x: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray | None:
    """A float32/float64 sum over the trailing or the leading axes of a C-contiguous array,
    in the shapes where NumPy's loops (scalar, or one short row at a time) are several
    times slower than memory allows; None elsewhere.

    Over everything: the array is viewed as rows of ``_LANES`` elements, each row is summed by
    one BLAS matrix-vector product with a vector of ones (vector lanes, several accumulators:
    a few ulp per row), then the row sums are summed pairwise. The product runs on BLAS's
    own threads (held to one near the backend's held BLAS work: ``_parallel.NEAR_HELD_S``),
    which wait spinning between calls: a (4096, 1024) float32 sum takes half
    the time of two einsum halves on this module's thread pool, whose hand-off (waking a
    sleeping thread, then the caller) costs as much as the second half saves. Over the
    trailing axes of many rows: the same product, one row per output. Over the leading
    axes, leaving fewer than 256 columns (a bias gradient in NHWC): a vector of ones times
    the matrix, where ``np.add.reduce`` adds one short row at a time (a (36864, 64) float32
    sum took 0.10 ms so against 0.48).
    """
    nd = x.ndim
    if x.dtype.type not in (np.float32, np.float64) or not x.flags.c_contiguous:
        return None
    ordered = sorted(axes)
    if ordered == list(range(len(axes))) and len(axes) < nd:
        rows = math.prod(x.shape[: len(axes)])
        if x.size // rows >= 256:
            return None
        out = _gemv(_ones(rows, x.dtype), x.reshape(rows, -1))
        shape = [1] * len(axes) + list(x.shape[len(axes) :]) if keepdims else x.shape[len(axes) :]
        return out.reshape(shape)
    if ordered != list(range(nd - len(axes), nd)):
        return None
    inner = math.prod(x.shape[nd - len(axes) :])
    outer = x.size // inner
    if outer == 1:
        flat = x.reshape(-1)
        head = flat.size - flat.size % _LANES
        sums = _gemv(flat[:head].reshape(-1, _LANES), _ones(_LANES, x.dtype))
        out = np.asarray(_add_reduce(sums) + _add_reduce(flat[head:]), dtype=x.dtype)
    elif inner >= 256:
        out = _gemv(x.reshape(outer, inner), _ones(inner, x.dtype))
    else:
        return None
    shape = [1 if i in axes else d for i, d in enumerate(x.shape)] if keepdims else x.shape[: nd - len(axes)]
    return out.reshape(shape)


@KERNELS.kernel("Sum")
def reduce_sum(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    how = ctx.memo.get("sum")
    if how is None or how[0] != x.shape or how[1] is not x.dtype:
        how = _sum_how(ctx, x)
    gemv = how[4]
    if gemv is not None:
        trailing, ones, flat, out_shape = gemv
        m = x if x.ndim == 2 else x.reshape(flat)
        r = _dot(m, ones) if trailing else _dot(ones, m)
        return r if out_shape is None else r.reshape(out_shape)
    dtype = x.dtype
    if dtype.type is np.float16:
        out = _add_reduce(x, how[2], np.float32, None, how[3])
        return _finish(ctx, out)
    if x.size >= LARGE:
        big = large_sum(x, _axes(ctx, x), ctx.attrs["keepdims"])
        if big is not None:
            return big
    # In x's own dtype: integers wrap as TensorFlow's do (NumPy would widen small ones).
    # (Positional arguments: the ufunc parses them faster than keywords.)
    out = _add_reduce(x, how[2], dtype, None, how[3])
    return out if type(out) is np.ndarray else _finish(ctx, out)


@KERNELS.kernel("Prod")
def reduce_prod(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    out = np.prod(x, axis=_axes(ctx, x), dtype=_acc_dtype(x), keepdims=ctx.attrs["keepdims"])
    return _finish(ctx, out)


@KERNELS.kernel("Mean")
def reduce_mean(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    axes = _axes(ctx, x)
    count = 1
    for a in axes:
        count *= x.shape[a]
    keep = ctx.attrs["keepdims"]
    if x.dtype.kind in "iu":
        # TensorFlow: integer sum divided by the count, truncated toward zero.
        total = np.sum(x, axis=axes, dtype=np.int64, keepdims=keep)
        if count == 0:
            return np.zeros(ctx.out_shapes[0], dtype=x.dtype)
        q = np.abs(total) // count * np.sign(total)
        return _finish(ctx, q)
    total = large_sum(x, axes, keep) if x.size >= LARGE else None
    if total is None:
        total = np.add.reduce(x, axis=axes, dtype=_acc_dtype(x), keepdims=keep)
    if not count:
        return _finish(ctx, total * np.nan)
    if type(total) is np.ndarray and total.dtype == x.dtype:
        total /= count  # a fresh array: divide in place
        return total
    return _finish(ctx, total / count)


def _lowest(dtype: np.dtype[Any]) -> Any:
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _highest(dtype: np.dtype[Any]) -> Any:
    return np.inf if dtype.kind == "f" else np.iinfo(dtype).max


@KERNELS.kernel("Max")
def reduce_max(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    out = np.max(x, axis=_axes(ctx, x), keepdims=ctx.attrs["keepdims"], initial=_lowest(x.dtype))
    return _finish(ctx, out)


@KERNELS.kernel("Min")
def reduce_min(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    out = np.min(x, axis=_axes(ctx, x), keepdims=ctx.attrs["keepdims"], initial=_highest(x.dtype))
    return _finish(ctx, out)


def _nan_as(x: np.ndarray, value: float) -> np.ndarray:
    """``x`` with NaN read as ``value`` (the arg-reductions' rule: a NaN is never picked over a number)."""
    if x.dtype.kind != "f":
        return x
    nan = np.isnan(x)
    return np.where(nan, np.asarray(value, x.dtype), x) if nan.any() else x


@KERNELS.kernel("ArgMax")
def argmax(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    return _finish(ctx, np.argmax(_nan_as(x, -np.inf), axis=ctx.attrs["axis"] % x.ndim))


@KERNELS.kernel("ArgMin")
def argmin(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    return _finish(ctx, np.argmin(_nan_as(x, np.inf), axis=ctx.attrs["axis"] % x.ndim))


@KERNELS.kernel("UnreduceLike")
def unreduce_like(ctx: KernelContext, dy: np.ndarray, like: np.ndarray) -> np.ndarray:
    if not ctx.attrs["keepdims"]:
        dy = np.expand_dims(dy, _axes(ctx, like))
    return np.array(np.broadcast_to(dy, ctx.out_shapes[0]))
