"""NumPy kernels: nn family.

Image kernels work in NHWC (NCHW inputs are transposed in and out). Convolution
is im2col (kh*kw strided slice copies into a contiguous matrix) and one matrix
product; its gradients are one matrix product each plus, for the input, the
inverse scatter. Max-pool gradients route to each window's first maximum in
kh*kw vectorised passes. float16 is computed in float32 and rounded once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from opcore.registry import KernelContext, KernelTable
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
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


@KERNELS.kernel("Softmax")
def softmax(ctx: KernelContext, logits: np.ndarray) -> np.ndarray:
    x = _work(logits)
    if x.size == 0:
        return _out(ctx, x)
    e = np.exp(x - x.max(axis=ctx.attrs["axis"], keepdims=True))
    return _out(ctx, e / e.sum(axis=ctx.attrs["axis"], keepdims=True))


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


# --------------------------------------------------------------------------- image helpers


class _Geometry:
    """Window geometry of one conv/pool call, in NHWC terms."""

    def __init__(self, ctx: KernelContext, in_hw: Sequence[int], window: Sequence[int], window_attr: str) -> None:
        fmt = ctx.attrs["data_format"]
        self.nchw = fmt == "NCHW"
        pick = (2, 3) if self.nchw else (1, 2)
        attrs = ctx.attrs
        self.sh, self.sw = (attrs["strides"][i] for i in pick)
        self.dh, self.dw = (attrs["dilations"][i] for i in pick) if "dilations" in attrs else (1, 1)
        self.kh, self.kw = window if window_attr == "filter" else (attrs["ksize"][i] for i in pick)
        self.h, self.w = in_hw
        eff_h, eff_w = (self.kh - 1) * self.dh + 1, (self.kw - 1) * self.dw + 1
        self.ho = self._out(self.h, eff_h, self.sh, attrs["padding"])
        self.wo = self._out(self.w, eff_w, self.sw, attrs["padding"])
        self.eff = (eff_h, eff_w)
        if attrs["padding"] == "SAME":
            # TensorFlow puts the odd padding row/column at the bottom/right.
            th = max((self.ho - 1) * self.sh + eff_h - self.h, 0)
            tw = max((self.wo - 1) * self.sw + eff_w - self.w, 0)
            self.pads = ((th // 2, th - th // 2), (tw // 2, tw - tw // 2))
        else:
            self.pads = ((0, 0), (0, 0))

    @staticmethod
    def _out(size: int, eff: int, stride: int, padding: str) -> int:
        return -(-size // stride) if padding == "SAME" else (size - eff) // stride + 1

    @property
    def empty(self) -> bool:
        return self.ho <= 0 or self.wo <= 0

    def to_nhwc(self, x: np.ndarray) -> np.ndarray:
        return x.transpose(0, 2, 3, 1) if self.nchw else x

    def from_nhwc(self, x: np.ndarray) -> np.ndarray:
        return x.transpose(0, 3, 1, 2) if self.nchw else x

    def pad(self, x: np.ndarray, value: float = 0.0) -> np.ndarray:
        (t, b), (left, r) = self.pads
        if not (t or b or left or r):
            return x
        return np.pad(x, ((0, 0), (t, b), (left, r), (0, 0)), constant_values=value)

    def crop(self, xp: np.ndarray) -> np.ndarray:
        (t, _), (left, _) = self.pads
        return xp[:, t : t + self.h, left : left + self.w, :]

    def windows(self, xp: np.ndarray) -> np.ndarray:
        """A view (N, Ho, Wo, C, kh, kw) of the windows of the padded NHWC input."""
        win = sliding_window_view(xp, self.eff, axis=(1, 2))
        win = win[:, :: self.sh, :: self.sw, :, :: self.dh, :: self.dw]
        return win[:, : self.ho, : self.wo]

    @staticmethod
    def _tap(offset: int, stride: int, size: int, out: int) -> tuple[slice, slice] | None:
        """For one window offset along one axis (``offset`` = tap * dilation - leading pad): the
        output positions whose input position lies inside the input, and those input positions."""
        lo = max(0, (stride - 1 - offset) // stride)  # the first o with o * stride + offset >= 0
        hi = min(out, (size - 1 - offset) // stride + 1) if offset < size else 0
        if lo >= hi:
            return None
        start = lo * stride + offset
        return slice(lo, hi), slice(start, start + (hi - lo - 1) * stride + 1, stride)

    def taps(self) -> Iterator[tuple[int, int, tuple[slice, ...], tuple[slice, ...]]]:
        """Each window offset (i, j) that reads real input: the output region and the input region
        it reads. Padding is never materialised, so memory does not depend on pads or dilation."""
        (t, _), (left, _) = self.pads
        every = slice(None)
        for i in range(self.kh):
            rows = self._tap(i * self.dh - t, self.sh, self.h, self.ho)
            if rows is None:
                continue
            for j in range(self.kw):
                cols = self._tap(j * self.dw - left, self.sw, self.w, self.wo)
                if cols is None:
                    continue
                yield i, j, (every, rows[0], cols[0], every), (every, rows[1], cols[1], every)

    def columns(self, x: np.ndarray) -> np.ndarray:
        """im2col: the windows of the unpadded NHWC input as a C-contiguous (N*Ho*Wo, kh*kw*C) matrix.

        Built with kh*kw strided slice copies (each reads whole channel rows), which is
        much faster than reshaping a window view whose innermost axes are the window;
        positions in the padding are zeros.
        """
        n, c = x.shape[0], x.shape[3]
        cols = np.zeros((n, self.ho, self.wo, self.kh, self.kw, c), dtype=x.dtype)
        for i, j, out, src in self.taps():
            cols[(*out[:3], i, j, out[3])] = x[src]
        return cols.reshape(n * self.ho * self.wo, self.kh * self.kw * c)

    def scatter(self, cols: np.ndarray, n: int, c: int, dtype: np.dtype) -> np.ndarray:
        """Add ``cols`` (N, Ho, Wo, kh, kw, C) back onto the (unpadded) input grid."""
        x = np.zeros((n, self.h, self.w, c), dtype=dtype)
        for i, j, out, src in self.taps():
            x[src] += cols[(*out[:3], i, j, out[3])]
        return x


def _nhwc_dims(shape: Sequence[int], nchw: bool) -> tuple[int, int, int, int]:
    n, a, b, c = shape
    return (n, b, c, a) if nchw else (n, a, b, c)


# --------------------------------------------------------------------------- conv2d


@KERNELS.kernel("Conv2D")
def conv2d(ctx: KernelContext, input: np.ndarray, filter: np.ndarray) -> np.ndarray:
    nchw = ctx.attrs["data_format"] == "NCHW"
    x = _work(input.transpose(0, 2, 3, 1) if nchw else input)
    w = _work(filter)
    g = _Geometry(ctx, x.shape[1:3], w.shape[:2], "filter")
    if g.empty or x.shape[0] == 0:
        return np.zeros(ctx.out_shapes[0], dtype=ctx.out_dtypes[0].np)
    out = g.columns(x) @ w.reshape(-1, w.shape[3])  # one GEMM
    return _out(ctx, g.from_nhwc(out.reshape(x.shape[0], g.ho, g.wo, w.shape[3])))


@KERNELS.kernel("Conv2DBackpropInput")
def conv2d_backprop_input(
    ctx: KernelContext, input_like: np.ndarray, filter: np.ndarray, out_backprop: np.ndarray
) -> np.ndarray:
    nchw = ctx.attrs["data_format"] == "NCHW"
    n, h, w_, c = _nhwc_dims(input_like.shape, nchw)
    w = _work(filter)
    g = _Geometry(ctx, (h, w_), w.shape[:2], "filter")
    dy = _work(g.to_nhwc(out_backprop))
    if g.empty or n == 0:
        return np.zeros(ctx.out_shapes[0], dtype=ctx.out_dtypes[0].np)
    cols = dy.reshape(-1, dy.shape[3]) @ w.reshape(-1, w.shape[3]).T  # one GEMM: (N*Ho*Wo, kh*kw*C)
    cols = cols.reshape(n, g.ho, g.wo, g.kh, g.kw, c)
    return _out(ctx, g.from_nhwc(g.scatter(cols, n, c, cols.dtype)))


@KERNELS.kernel("Conv2DBackpropFilter")
def conv2d_backprop_filter(
    ctx: KernelContext, input: np.ndarray, filter_like: np.ndarray, out_backprop: np.ndarray
) -> np.ndarray:
    nchw = ctx.attrs["data_format"] == "NCHW"
    x = _work(input.transpose(0, 2, 3, 1) if nchw else input)
    g = _Geometry(ctx, x.shape[1:3], filter_like.shape[:2], "filter")
    dy = _work(g.to_nhwc(out_backprop))
    if g.empty or x.shape[0] == 0:
        return np.zeros(ctx.out_shapes[0], dtype=ctx.out_dtypes[0].np)
    dw = g.columns(x).T @ dy.reshape(-1, dy.shape[3])  # one GEMM: (kh*kw*C, O)
    return _out(ctx, dw.reshape(g.kh, g.kw, x.shape[3], dy.shape[3]))


# --------------------------------------------------------------------------- pooling


def _pool_setup(ctx: KernelContext, x: np.ndarray) -> tuple[_Geometry, np.ndarray]:
    nchw = ctx.attrs["data_format"] == "NCHW"
    xn = _work(x.transpose(0, 2, 3, 1) if nchw else x)
    return _Geometry(ctx, xn.shape[1:3], (), "ksize"), xn


def _pool_counts(g: _Geometry) -> np.ndarray:
    """How many real (unpadded) elements each window covers, shaped (1, Ho, Wo, 1)."""
    ones = g.pad(np.ones((1, g.h, g.w, 1)))
    return g.windows(ones).sum(axis=(3, 4, 5))[..., None]


def _first_max_masks(g: _Geometry, xp: np.ndarray) -> Iterator[tuple[tuple[slice, ...], np.ndarray]]:
    """For each window offset (i, j), in row-major order: the strided view's slice of the padded
    input and the mask of windows whose first maximum sits at that offset."""
    best = g.windows(xp).max(axis=(4, 5))
    taken = np.zeros(best.shape, dtype=bool)
    rows_end, cols_end = (g.ho - 1) * g.sh + 1, (g.wo - 1) * g.sw + 1
    for i in range(g.kh):
        for j in range(g.kw):
            r0, c0 = i * g.dh, j * g.dw
            where = (slice(None), slice(r0, r0 + rows_end, g.sh), slice(c0, c0 + cols_end, g.sw), slice(None))
            hit = (xp[where] == best) & ~taken
            taken |= hit
            yield where, hit


@KERNELS.kernel("MaxPool")
def max_pool(ctx: KernelContext, input: np.ndarray) -> np.ndarray:
    g, x = _pool_setup(ctx, input)
    if g.empty or x.size == 0:
        return np.zeros(ctx.out_shapes[0], dtype=ctx.out_dtypes[0].np)
    out = g.windows(g.pad(x, -np.inf)).max(axis=(4, 5))
    return _out(ctx, g.from_nhwc(out))


@KERNELS.kernel("AvgPool")
def avg_pool(ctx: KernelContext, input: np.ndarray) -> np.ndarray:
    g, x = _pool_setup(ctx, input)
    if g.empty or x.size == 0:
        return np.zeros(ctx.out_shapes[0], dtype=ctx.out_dtypes[0].np)
    out = g.windows(g.pad(x)).sum(axis=(4, 5)) / _pool_counts(g)
    return _out(ctx, g.from_nhwc(out))


@KERNELS.kernel("MaxPoolGrad")
def max_pool_grad(ctx: KernelContext, orig_input: np.ndarray, orig_output: np.ndarray, grad: np.ndarray) -> np.ndarray:
    g, x = _pool_setup(ctx, orig_input)
    if g.empty or x.size == 0:
        return np.zeros(ctx.out_shapes[0], dtype=ctx.out_dtypes[0].np)
    xp = g.pad(x, -np.inf)
    dy = _work(g.to_nhwc(grad))
    dxp = np.zeros(xp.shape, dtype=dy.dtype)
    # kh*kw vectorised passes over strided views (windows may overlap, so accumulate)
    for where, hit in _first_max_masks(g, xp):
        dxp[where] += np.where(hit, dy, 0)
    return _out(ctx, g.from_nhwc(g.crop(dxp)))


@KERNELS.kernel("MaxPoolGradGrad")
def max_pool_grad_grad(
    ctx: KernelContext, orig_input: np.ndarray, orig_output: np.ndarray, grad: np.ndarray
) -> np.ndarray:
    g, x = _pool_setup(ctx, orig_input)
    if g.empty or x.size == 0:
        return np.zeros(ctx.out_shapes[0], dtype=ctx.out_dtypes[0].np)
    xp = g.pad(x, -np.inf)
    gp = g.pad(_work(g.to_nhwc(grad)))
    out = np.zeros((xp.shape[0], g.ho, g.wo, xp.shape[3]), dtype=gp.dtype)
    for where, hit in _first_max_masks(g, xp):
        out += np.where(hit, gp[where], 0)
    return _out(ctx, g.from_nhwc(out))


@KERNELS.kernel("AvgPoolGrad")
def avg_pool_grad(ctx: KernelContext, orig_input_like: np.ndarray, grad: np.ndarray) -> np.ndarray:
    nchw = ctx.attrs["data_format"] == "NCHW"
    n, h, w, c = _nhwc_dims(orig_input_like.shape, nchw)
    g = _Geometry(ctx, (h, w), (), "ksize")
    if g.empty or n * h * w * c == 0:
        return np.zeros(ctx.out_shapes[0], dtype=ctx.out_dtypes[0].np)
    dy = _work(g.to_nhwc(grad)) / _pool_counts(g)
    cols = np.broadcast_to(dy[:, :, :, None, None, :], (n, g.ho, g.wo, g.kh, g.kw, c))
    return _out(ctx, g.from_nhwc(g.scatter(cols, n, c, dy.dtype)))
