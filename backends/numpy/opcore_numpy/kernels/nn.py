"""NumPy kernels: nn family (softmax, losses, bias add).

float16 is computed in float32 and rounded once. Convolution and pooling are in
``image.py``.
"""

from __future__ import annotations

import math

import numpy as np

from opcore.registry import KernelContext, KernelTable
from opcore_numpy.kernels import _parallel
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


#: Rows up to this long are summed by ``np.einsum`` (vectorised, 3x faster than
#: ``np.add.reduce`` on short rows; its lane-wise accumulation stays within a few ulp here).
_EINSUM_ROW = 8192
#: exp(x) stays finite, with its full precision, for x below this.
_EXP_SAFE = 80.0


def _softmax_into(x: np.ndarray, out: np.ndarray, axis: int) -> np.ndarray:
    """Softmax of ``x`` along ``axis`` into ``out``: exp(x - max) / sum.

    Where every slice's maximum m lies in [0, 80 - log(n)], exp(x) itself cannot overflow,
    nor can its sum, and it underflows no sooner than exp(x - m) does, so the subtraction
    pass is skipped: exp(x) / sum(exp(x)) is the same quotient, rounded as closely (within
    an ulp or two; a subnormal result within its last bit)."""
    top = x.max(axis=axis, keepdims=True)
    n = x.shape[axis]
    if top.min() >= 0.0 and top.max() <= _EXP_SAFE - math.log(n):  # NaN fails both
        np.exp(x, out=out)
    else:
        np.subtract(x, top, out=out)
        np.exp(out, out=out)
    if axis == out.ndim - 1 == 1 and n <= _EINSUM_ROW and out.flags.c_contiguous:
        total = np.einsum("ij->i", out)[:, None]
    else:
        total = out.sum(axis=axis, keepdims=True)
    # times the reciprocal (as PyTorch does): a multiply pass is faster than a divide pass
    out *= np.reciprocal(total, out=total)
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
    return _out(ctx, value + bias.reshape(shape))


@KERNELS.kernel("BiasAddGrad")
def bias_add_grad(ctx: KernelContext, out_backprop: np.ndarray) -> np.ndarray:
    axis = _channel_axis(ctx.attrs["data_format"], out_backprop.ndim)
    others = tuple(i for i in range(out_backprop.ndim) if i != axis)
    return _out(ctx, _work(out_backprop).sum(axis=others))
