"""NumPy kernels: nn family (softmax, losses, bias add).

float16 is computed in float32 and rounded once. Convolution and pooling are in
``image.py``.
"""

from __future__ import annotations

import numpy as np

from opcore.registry import KernelContext, KernelTable
from opcore_numpy.kernels import _parallel, reduce
from opcore_numpy.kernels._buffer import runs_of
from opcore_numpy.kernels.array import check_range

KERNELS = KernelTable()

#: What the class count of SparseSoftmaxCrossEntropyWithLogits is, in its error message.
_CLASSES = "the number of classes (the last dimension of logits)"


def _work(x: np.ndarray) -> np.ndarray:
    """``x`` in the dtype to compute in (float16 is widened to float32)."""
    return x.astype(np.float32) if x.dtype == np.float16 else x


def _out(ctx: KernelContext, value: np.ndarray, i: int = 0) -> np.ndarray:
    return np.asarray(value, dtype=ctx.out_dtypes[i].np).reshape(ctx.out_shapes[i])


# --------------------------------------------------------------------------- softmax


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    if x.size == 0:
        return np.array(x, copy=True)
    shifted = x - x.max(axis=axis, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return shifted


@KERNELS.kernel("Softmax")
def softmax(ctx: KernelContext, logits: np.ndarray) -> np.ndarray:
    x = _work(logits)
    if x.size == 0:
        return _out(ctx, x)
    axis = ctx.attrs["axis"] % x.ndim
    if axis == x.ndim - 1 and x.flags.c_contiguous:  # rows: blocks of them on several threads
        rows = x.reshape(-1, x.shape[-1])
        out = np.empty(rows.shape, dtype=x.dtype)
        _parallel.run(
            lambda lo, hi: _softmax_into(rows[lo:hi], out[lo:hi], 1), _parallel.row_ranges(rows.shape[0], x.size)
        )
        return _out(ctx, out)
    return _out(ctx, _softmax_into(x, np.empty(x.shape, dtype=x.dtype), axis))


#: Softmaxes of at least this many elements scale their rows with NumPy's buffer held to a
#: row (``_buffer.runs_of``): setting it costs about 2 us.
_BUFFERED = 1 << 15

#: Rows up to this long are summed by ``np.einsum`` (vectorised, 3x faster than
#: ``np.add.reduce`` on short rows; its lane-wise accumulation stays within a few ulp here).
_EINSUM_ROW = 8192


def _sums(e: np.ndarray, axis: int) -> np.ndarray:
    """The sums of ``e`` along ``axis``, kept as a size-1 axis."""
    if axis == e.ndim - 1 == 1 and e.shape[1] <= _EINSUM_ROW and e.flags.c_contiguous:
        return np.einsum("ij->i", e)[:, None]
    return e.sum(axis=axis, keepdims=True)


def _softmax_into(x: np.ndarray, out: np.ndarray, axis: int) -> np.ndarray:
    """Softmax of ``x`` along ``axis`` into ``out``: exp(x - max) / sum, in three passes
    where the slice allows it.

    exp(x) / sum(exp(x)) is the same quotient as with the maximum m subtracted. It is taken
    as is for every slice whose sum s is in [1, FLT_MAX]: nothing overflowed, and s >= 1
    means that an element whose exp(x) underflowed has a result below the smallest normal
    number either way (its result is exp(x) / s), so results agree with the shifted ones
    within an ulp or two (a subnormal one within its last bits). Other slices (a maximum
    far below zero or above 88 - log(n), infinities, NaN) take exp(x - m) / sum, each
    slice by its own sum, so no slice's result depends on its neighbours."""
    with np.errstate(over="ignore", invalid="ignore"):
        np.exp(x, out=out)
        total = _sums(out, axis)
    bad = ~((total >= 1.0) & (total <= np.finfo(out.dtype).max))  # NaN is bad as well
    if bad.any():
        shifted = np.subtract(x, x.max(axis=axis, keepdims=True))
        np.exp(shifted, out=shifted)
        np.copyto(out, shifted, where=bad)
        np.copyto(total, _sums(shifted, axis), where=bad)
    # times the reciprocal (as PyTorch does): a multiply pass is faster than a divide pass
    np.reciprocal(total, out=total)
    if axis == x.ndim - 1 and out.size >= _BUFFERED and out.flags.c_contiguous:
        with runs_of(x.shape[-1]):  # each row scaled in place, the factor not copied out
            out *= total
    else:
        out *= total
    return out


@KERNELS.kernel("LogSoftmax")
def log_softmax(ctx: KernelContext, logits: np.ndarray) -> np.ndarray:
    return _out(ctx, _log_softmax(_work(logits), ctx.attrs["axis"]))


@KERNELS.kernel("SoftmaxCrossEntropyWithLogits")
def softmax_cross_entropy(ctx: KernelContext, logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ls = _log_softmax(_work(logits), -1)
    z = _work(labels)
    loss = -(z * ls).sum(axis=-1)
    return _out(ctx, loss, 0), _out(ctx, np.exp(ls) - z, 1)


@KERNELS.kernel("SparseSoftmaxCrossEntropyWithLogits")
def sparse_softmax_cross_entropy(
    ctx: KernelContext, logits: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    classes = logits.shape[-1]
    check_range("SparseSoftmaxCrossEntropyWithLogits", "labels", labels, classes, _CLASSES)
    ls = _log_softmax(_work(logits), -1)
    idx = labels.astype(np.intp)[..., None]
    loss = -np.take_along_axis(ls, idx, axis=-1)[..., 0]
    backprop = np.exp(ls)
    np.put_along_axis(backprop, idx, np.take_along_axis(backprop, idx, axis=-1) - 1, axis=-1)
    return _out(ctx, loss, 0), _out(ctx, backprop, 1)


@KERNELS.kernel("SigmoidCrossEntropyWithLogits")
def sigmoid_cross_entropy(ctx: KernelContext, logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    x, z = _work(logits), _work(labels)
    return _out(ctx, np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x))))


@KERNELS.kernel("L2Loss")
def l2_loss(ctx: KernelContext, t: np.ndarray) -> np.ndarray:
    x = _work(t)
    return _out(ctx, np.sum(x * x) / 2)


# --------------------------------------------------------------------------- bias add


def _channel_axis(data_format: str, ndim: int) -> int:
    return 1 if data_format == "NCHW" and ndim >= 3 else ndim - 1


@KERNELS.kernel("BiasAdd")
def bias_add(ctx: KernelContext, value: np.ndarray, bias: np.ndarray) -> np.ndarray:
    axis = _channel_axis(ctx.attrs["data_format"], value.ndim)
    shape = [1] * value.ndim
    shape[axis] = bias.shape[0]
    b = bias.reshape(shape)
    if value.size >= _parallel.LARGE_ELEMENTWISE and value.shape[0] > 1 and value.dtype == bias.dtype:
        return _parallel.ufunc_into(np.add, np.empty_like(value), value, b)
    return _out(ctx, value + b)


@KERNELS.kernel("BiasAddGrad")
def bias_add_grad(ctx: KernelContext, out_backprop: np.ndarray) -> np.ndarray:
    axis = _channel_axis(ctx.attrs["data_format"], out_backprop.ndim)
    others = tuple(i for i in range(out_backprop.ndim) if i != axis)
    g = _work(out_backprop)
    if g.size >= reduce.LARGE and (total := reduce.large_sum(g, others, False)) is not None:
        return _out(ctx, total)
    return _out(ctx, g.sum(axis=others))
