"""NumPy kernels: image family (Conv2D and pooling, with their gradient ops).

Kernels work in NHWC, where one pixel's channels are contiguous: NCHW inputs are read
through a transposed view and results are transposed back once.

Padding and dilation are never materialised. Each window offset (a *tap*) reads one
strided rectangle of the input and writes one rectangle of the output (``_Geometry.taps``);
positions that fall into the padding are simply not visited, so memory does not depend on
the pads or the dilation.

Convolution is im2col plus one GEMM (``np.matmul`` on BLAS) per block of images, the
batch split over the cores by images with BLAS held to one thread (``_by_images``): the
column matrix of a block (taps copied into a reused buffer) is kept near
``_BLOCK_BYTES`` so that it is still in cache when the GEMM reads it, and the GEMM
writes straight into its slice of the output. The input gradient is the same GEMM
transposed, one product per tap so that each tap's rows come out contiguous, followed
by col2im (each tap added back onto the input), block by block; the
filter gradient accumulates one (kh*kw*C, O) GEMM per block. A 1x1 convolution with
unit strides is a single GEMM with no copies.

Pooling is separable: a window's maximum or sum is taken along the width, then along the
height, each as one vectorised pass per tap over strided views (3x3 pooling costs six
passes instead of nine). The average-pool gradient is the transpose of those passes. The
max-pool gradients route each window to its first maximum in row-major order, one
vectorised pass per tap: a window that has been routed is marked (its maximum set to NaN)
so that later taps skip it. When the windows tile the input (stride equal to the window,
no padding), MaxPoolGrad instead views the input as (N, Ho, kh, Wo, kw, C) and routes a
block of windows with one broadcast comparison against their maxima and one multiply,
by blocks kept in cache on several threads; a block where some window has a tie or a
NaN maximum is routed per tap as above. float16 is computed in float32 and rounded once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from opcore.registry import KernelContext, KernelTable
from opcore_numpy.kernels import _parallel
from opcore_numpy.kernels._buffer import runs_of

KERNELS = KernelTable()

#: The size of one block's column matrix: small enough to stay in the last-level cache
#: between im2col and the GEMM (and between the GEMM and col2im), large enough that each
#: GEMM call runs at BLAS's full speed (measured: 2-8 MB best).
_BLOCK_BYTES = 4 << 20

_ALL = slice(None)
_einsum = np.einsum


def _work(x: np.ndarray) -> np.ndarray:
    """``x`` in the dtype to compute in (float16 is widened to float32)."""
    return x.astype(np.float32) if x.dtype == np.float16 else x


def _out(ctx: KernelContext, value: np.ndarray) -> np.ndarray:
    return np.asarray(value, dtype=ctx.out_dtypes[0].np).reshape(ctx.out_shapes[0])


def _zeros(ctx: KernelContext) -> np.ndarray:
    return np.zeros(ctx.out_shapes[0], dtype=ctx.out_dtypes[0].np)


#: One tap along one axis: (window offset, output positions, input positions).
_AxisTap = tuple[int, slice, slice]


def _axis_taps(window: int, dilation: int, stride: int, size: int, out: int, pad: int) -> list[_AxisTap]:
    """The window offsets along one axis that read real input, each with the output positions
    whose input position (``o * stride + offset * dilation - pad``) lies inside the input, and
    those input positions."""
    taps = []
    for k in range(window):
        offset = k * dilation - pad
        lo = max(0, (stride - 1 - offset) // stride)  # the first o with o * stride + offset >= 0
        hi = min(out, (size - 1 - offset) // stride + 1) if offset < size else 0
        if lo < hi:
            start = lo * stride + offset
            taps.append((k, slice(lo, hi), slice(start, start + (hi - lo - 1) * stride + 1, stride)))
    return taps


def _covers(s: slice, n: int) -> bool:
    return s.start == 0 and s.stop == n


class _Geometry:
    """Window geometry of one conv/pool call, in NHWC terms."""

    def __init__(self, ctx: KernelContext, in_hw: Sequence[int], window: Sequence[int] | None) -> None:
        attrs = ctx.attrs
        self.nchw = attrs["data_format"] == "NCHW"
        pick = (2, 3) if self.nchw else (1, 2)
        self.sh, self.sw = (attrs["strides"][i] for i in pick)
        self.dh, self.dw = (attrs["dilations"][i] for i in pick) if "dilations" in attrs else (1, 1)
        self.kh, self.kw = window if window is not None else (attrs["ksize"][i] for i in pick)
        self.h, self.w = in_hw
        eff_h, eff_w = (self.kh - 1) * self.dh + 1, (self.kw - 1) * self.dw + 1
        same = attrs["padding"] == "SAME"
        self.ho = -(-self.h // self.sh) if same else (self.h - eff_h) // self.sh + 1
        self.wo = -(-self.w // self.sw) if same else (self.w - eff_w) // self.sw + 1
        # SAME: TensorFlow puts the odd padding row/column at the bottom/right.
        top = max((self.ho - 1) * self.sh + eff_h - self.h, 0) // 2 if same else 0
        left = max((self.wo - 1) * self.sw + eff_w - self.w, 0) // 2 if same else 0
        self.row_taps = _axis_taps(self.kh, self.dh, self.sh, self.h, self.ho, top)
        self.col_taps = _axis_taps(self.kw, self.dw, self.sw, self.w, self.wo, left)

    @property
    def empty(self) -> bool:
        return self.ho <= 0 or self.wo <= 0

    @property
    def pointwise(self) -> bool:
        """A 1x1 window with unit strides: every output pixel is one input pixel."""
        return self.kh == self.kw == self.sh == self.sw == 1

    def to_nhwc(self, x: np.ndarray) -> np.ndarray:
        return x.transpose(0, 2, 3, 1) if self.nchw else x

    def from_nhwc(self, x: np.ndarray) -> np.ndarray:
        return x.transpose(0, 3, 1, 2) if self.nchw else x

    def taps(self) -> Iterator[tuple[int, int, tuple[slice, ...], tuple[slice, ...]]]:
        """Each window offset (i, j) that reads real input, in row-major order: the output
        rectangle it contributes to and the input rectangle it reads (NHWC keys)."""
        for i, out_rows, in_rows in self.row_taps:
            for j, out_cols, in_cols in self.col_taps:
                yield i, j, (_ALL, out_rows, out_cols), (_ALL, in_rows, in_cols)

    def images_per_block(self, channels: int, itemsize: int) -> int:
        per_image = self.ho * self.wo * self.kh * self.kw * channels * itemsize
        return max(1, _BLOCK_BYTES // max(per_image, 1))

    def column_blocks(self, x: np.ndarray) -> Iterator[tuple[int, int, np.ndarray]]:
        """im2col by blocks of images: (first image, end image, the block's C-contiguous
        (images*Ho*Wo, kh*kw*C) column matrix). The buffer is reused from block to block
        (consume each before asking for the next); positions in the padding stay zero."""
        n, c = x.shape[0], x.shape[3]
        per_block = min(n, self.images_per_block(c, x.itemsize))
        buf = np.zeros((per_block, self.ho, self.wo, self.kh, self.kw, c), dtype=x.dtype)
        taps = list(self.taps())
        for lo in range(0, n, per_block):
            hi = min(n, lo + per_block)
            cols, src = buf[: hi - lo], x[lo:hi]
            for i, j, out, inp in taps:
                cols[out[0], out[1], out[2], i, j] = src[inp]
            yield lo, hi, cols.reshape(-1, self.kh * self.kw * c)


# --------------------------------------------------------------------------- conv2d


#: Multiply-adds a thread must get at the least before a convolution is split over its
#: images (about the time of waking a thread, some 50 us on 2 cores of a virtual machine).
_MIN_MACS_PER_THREAD = 1 << 21


def _by_images(n: int, macs: int, fn: Any) -> list[Any]:
    """``fn(lo, hi)`` over contiguous ranges of the ``n`` images: one per thread, each
    building its own columns and multiplying them on one BLAS thread (see
    ``_parallel.run_with_blas``), or the whole batch on the calling thread when small,
    with BLAS still held to one thread: a convolution never wakes BLAS's threads, which
    would spin beside the next convolution's blocks."""
    parts = max(1, min(_parallel.threads(), n, macs // _MIN_MACS_PER_THREAD))
    return _parallel.run_with_blas(fn, _parallel.even_ranges(n, parts))


def _conv_dims(shape: Sequence[int], nchw: bool) -> tuple[int, int, int, int]:
    n, a, b, c = shape
    return (n, b, c, a) if nchw else (n, a, b, c)


@KERNELS.kernel("Conv2D")
def conv2d(ctx: KernelContext, input: np.ndarray, filter: np.ndarray) -> np.ndarray:
    w = _work(filter)
    g = _Geometry(ctx, _conv_dims(input.shape, ctx.attrs["data_format"] == "NCHW")[1:3], w.shape[:2])
    x = _work(g.to_nhwc(input))
    n, o = x.shape[0], w.shape[3]
    if g.empty or n == 0:
        return _zeros(ctx)
    wmat = w.reshape(-1, o)
    if g.pointwise:
        out = _parallel.matmul(x.reshape(-1, x.shape[3]), wmat).reshape(n, g.ho, g.wo, o)
    else:
        out = np.empty((n, g.ho, g.wo, o), dtype=np.result_type(x, w))

        def images(first: int, end: int) -> None:
            for lo, hi, cols in g.column_blocks(x[first:end]):
                np.matmul(cols, wmat, out=out[first + lo : first + hi].reshape(-1, o))

        _by_images(n, out.size * wmat.shape[0], images)
    return _out(ctx, g.from_nhwc(out))


@KERNELS.kernel("Conv2DBackpropInput")
def conv2d_backprop_input(
    ctx: KernelContext, input_like: np.ndarray, filter: np.ndarray, out_backprop: np.ndarray
) -> np.ndarray:
    n, h, w_, c = _conv_dims(input_like.shape, ctx.attrs["data_format"] == "NCHW")
    w = _work(filter)
    g = _Geometry(ctx, (h, w_), w.shape[:2])
    if g.empty or n * h * w_ * c == 0:
        return _zeros(ctx)
    dy = _work(g.to_nhwc(out_backprop))
    o = dy.shape[3]
    if g.pointwise:
        return _out(ctx, g.from_nhwc(_parallel.matmul(dy.reshape(-1, o), w.reshape(c, o).T).reshape(n, h, w_, c)))
    dtype = np.result_type(dy, w)
    dx = np.zeros((n, h, w_, c), dtype=dtype)
    # Tap-major (kh*kw, rows, C): each tap's rows are contiguous, so col2im adds long runs.
    w_taps = np.ascontiguousarray(w.transpose(0, 1, 3, 2)).reshape(g.kh * g.kw, o, c)
    taps = list(g.taps())

    def images(first: int, end: int) -> None:
        per_block = min(end - first, g.images_per_block(c, dtype.itemsize))
        buf = np.empty((g.kh * g.kw, per_block * g.ho * g.wo, c), dtype=dtype)
        for lo in range(first, end, per_block):
            hi = min(end, lo + per_block)
            cols = buf[:, : (hi - lo) * g.ho * g.wo]
            np.matmul(dy[lo:hi].reshape(1, -1, o), w_taps, out=cols)  # one GEMM per tap and block
            dxb = dx[lo:hi]
            for i, j, out, inp in taps:  # col2im: each tap back onto the input
                dxb[inp] += cols[i * g.kw + j].reshape(hi - lo, g.ho, g.wo, c)[out]

    _by_images(n, dy.size * g.kh * g.kw * c, images)
    return _out(ctx, g.from_nhwc(dx))


@KERNELS.kernel("Conv2DBackpropFilter")
def conv2d_backprop_filter(
    ctx: KernelContext, input: np.ndarray, filter_like: np.ndarray, out_backprop: np.ndarray
) -> np.ndarray:
    kh, kw, c, o = filter_like.shape
    g = _Geometry(ctx, _conv_dims(input.shape, ctx.attrs["data_format"] == "NCHW")[1:3], (kh, kw))
    x = _work(g.to_nhwc(input))
    n = x.shape[0]
    if g.empty or n == 0:
        return _zeros(ctx)
    dy = _work(g.to_nhwc(out_backprop))
    if g.pointwise:
        return _out(ctx, _parallel.matmul(x.reshape(-1, c).T, dy.reshape(-1, o)))

    def images(first: int, end: int) -> Any:
        dw: Any = None
        for lo, hi, cols in g.column_blocks(x[first:end]):
            part = cols.T @ dy[first + lo : first + hi].reshape(-1, o)  # one GEMM per block: (kh*kw*C, O)
            if dw is None:
                dw = part
            else:
                dw += part
        return dw

    parts = _by_images(n, dy.size * kh * kw * c, images)  # each thread's sum, added in image order
    total = parts[0]
    for part in parts[1:]:
        total += part
    return _out(ctx, total)


# --------------------------------------------------------------------------- pooling


def _pool_setup(ctx: KernelContext, x: np.ndarray) -> tuple[_Geometry, np.ndarray]:
    nchw = ctx.attrs["data_format"] == "NCHW"
    xn = _work(x.transpose(0, 2, 3, 1) if nchw else x)
    return _Geometry(ctx, xn.shape[1:3], None), xn


def _reduce_axis(x: np.ndarray, axis: int, taps: list[_AxisTap], out_size: int, ufunc: np.ufunc) -> np.ndarray:
    """Reduce the windows of ``x`` along one spatial axis (1: height, 2: width) with ``ufunc``,
    one pass per tap; the first tap that covers every output position initialises the result."""
    shape = list(x.shape)
    shape[axis] = out_size
    lead = (_ALL,) * axis
    full = next((t for t in taps if _covers(t[1], out_size)), None)
    if full is not None:
        out = np.array(x[(*lead, full[2])])
    else:  # every window holds at least one real element: the identity is always replaced
        out = np.full(shape, -np.inf if ufunc is np.maximum else 0, dtype=x.dtype)
    for t in taps:
        if t is not full:
            dst = out[(*lead, t[1])]
            ufunc(dst, x[(*lead, t[2])], out=dst)
    return out


def _scatter_axis(d: np.ndarray, axis: int, taps: list[_AxisTap], in_size: int) -> np.ndarray:
    """The transpose of the sum ``_reduce_axis``: add each tap's outputs back onto its inputs."""
    shape = list(d.shape)
    shape[axis] = in_size
    lead = (_ALL,) * axis
    out = np.zeros(shape, dtype=d.dtype)
    for _, o, i in taps:
        dst = out[(*lead, i)]
        np.add(dst, d[(*lead, o)], out=dst)
    return out


def _window_max(g: _Geometry, x: np.ndarray) -> np.ndarray:
    return _reduce_axis(_reduce_axis(x, 2, g.col_taps, g.wo, np.maximum), 1, g.row_taps, g.ho, np.maximum)


def _pool_counts(g: _Geometry, dtype: Any) -> np.ndarray:
    """How many real (unpadded) elements each window covers, shaped (1, Ho, Wo, 1)."""
    rows, cols = np.zeros(g.ho, dtype), np.zeros(g.wo, dtype)
    for _, o, _ in g.row_taps:
        rows[o] += 1
    for _, o, _ in g.col_taps:
        cols[o] += 1
    return np.multiply.outer(rows, cols)[None, :, :, None]


@KERNELS.kernel("MaxPool")
def max_pool(ctx: KernelContext, input: np.ndarray) -> np.ndarray:
    g, x = _pool_setup(ctx, input)
    if g.empty or x.size == 0:
        return _zeros(ctx)
    return _out(ctx, g.from_nhwc(_window_max(g, x)))


@KERNELS.kernel("AvgPool")
def avg_pool(ctx: KernelContext, input: np.ndarray) -> np.ndarray:
    g, x = _pool_setup(ctx, input)
    if g.empty or x.size == 0:
        return _zeros(ctx)
    total = _reduce_axis(_reduce_axis(x, 2, g.col_taps, g.wo, np.add), 1, g.row_taps, g.ho, np.add)
    total /= _pool_counts(g, total.dtype)
    return _out(ctx, g.from_nhwc(total))


@KERNELS.kernel("AvgPoolGrad")
def avg_pool_grad(ctx: KernelContext, orig_input_like: np.ndarray, grad: np.ndarray) -> np.ndarray:
    n, h, w, c = _conv_dims(orig_input_like.shape, ctx.attrs["data_format"] == "NCHW")
    g = _Geometry(ctx, (h, w), None)
    if g.empty or n * h * w * c == 0:
        return _zeros(ctx)
    d = _work(g.to_nhwc(grad))
    d = d / _pool_counts(g, d.dtype)
    return _out(ctx, g.from_nhwc(_scatter_axis(_scatter_axis(d, 1, g.row_taps, h), 2, g.col_taps, w)))


def _first_maxima(g: _Geometry, x: np.ndarray) -> Iterator[tuple[tuple[slice, ...], tuple[slice, ...], np.ndarray]]:
    """For each tap in row-major order: its output and input rectangles and the mask of the
    windows whose first maximum sits at that tap. A window whose maximum is NaN has none.

    Boolean arithmetic only: masked NumPy operations (``where=``, boolean indexing) are
    several times slower on masks as irregular as these."""
    best = _window_max(g, x)
    taken = np.zeros(best.shape, dtype=bool)  # windows already routed
    taps = list(g.taps())
    for k, (_, _, out, inp) in enumerate(taps):
        at_max = np.equal(x[inp], best[out])
        seen = taken[out]
        hit = np.greater(at_max, seen)  # a maximum here, in a window not routed yet
        if k + 1 < len(taps):
            np.logical_or(seen, at_max, out=seen)
        yield out, inp, hit


#: Input bytes per block of the tiling max-pool gradient at the most (its temporaries,
#: about twice as many bytes, stay in the last-level cache).
_TILE_BLOCK_BYTES = 1 << 22


def _tiles(g: _Geometry) -> bool:
    """Windows that tile the input without overlap or padding (stride == window, no
    dilation, no padding before the first window and none after the last)."""
    return (
        g.sh == g.kh
        and g.sw == g.kw
        and g.dh == g.dw == 1
        and g.ho * g.kh <= g.h
        and g.wo * g.kw <= g.w
        and _covers(g.row_taps[0][1], g.ho)
        and _covers(g.col_taps[0][1], g.wo)
        and g.row_taps[0][2].start == 0
        and g.col_taps[0][2].start == 0
        and len(g.row_taps) == g.kh
        and len(g.col_taps) == g.kw
    )


def _tiled_max_pool_grad(g: _Geometry, x: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """MaxPoolGrad for windows that tile the input: the input is viewed as (N, Ho, kh, Wo,
    kw, C), so a window's elements broadcast against its maximum and its gradient, and the
    routing is two long vectorised passes (compare, multiply) per block of window rows
    instead of four strided passes per tap. A block with a tie or a NaN maximum (some window
    has other than exactly one maximum) takes the per-tap first-maximum routing instead, so
    the result is the same. Blocks run on several threads (``_parallel.row_ranges``), their
    temporaries in cache."""
    n, c = x.shape[0], x.shape[3]
    ho, wo, kh, kw = g.ho, g.wo, g.kh, g.kw
    dx = np.empty(x.shape, dtype=dy.dtype)
    if ho * kh < g.h:
        dx[:, ho * kh :] = 0
    if wo * kw < g.w:
        dx[:, :, wo * kw :] = 0
    x6 = x[:, : ho * kh, : wo * kw].reshape(n, ho, kh, wo, kw, c)
    dx6 = dx[:, : ho * kh, : wo * kw].reshape(n, ho, kh, wo, kw, c)
    dy6 = dy.reshape(n, ho, 1, wo, 1, c)
    row_bytes = kh * wo * kw * c * x.itemsize  # one row of windows of one image
    rows = n * ho
    # As many blocks per thread, as few as the size limit allows: each NumPy call hands the
    # GIL over, and while another thread holds it a thread that wants it back sleeps for a
    # wake-up (tens of us), so ten short blocks per thread cost more than the L2 saves.
    threads = len(_parallel.row_ranges(rows, x.size))
    count = threads * -(-rows * row_bytes // (threads * _TILE_BLOCK_BYTES))
    per_block = -(-rows // count)
    if per_block >= ho:  # whole images per block
        step = per_block // ho
        blocks = [(i, min(n, i + step), 0, ho) for i in range(0, n, step)]
    else:
        blocks = [(i, i + 1, r, min(ho, r + per_block)) for i in range(n) for r in range(0, ho, per_block)]
    taps = [(a, b) for a in range(kh) for b in range(kw)]

    most = max((i1 - i0) * (r1 - r0) for i0, i1, r0, r1 in blocks) * wo * c  # windows in a block
    # one row of a row of windows: contiguous in dx, and in x unless it is an NCHW view
    row_run = wo * kw * c if x.strides[2:] == (c * x.itemsize, x.itemsize) else 0

    def run(lo: int, hi: int) -> None:
        # scratch reused from block to block: (maxima, maxima and gradient spread over the
        # window's columns, the comparison)
        best_buf, wide_buf = np.empty(most, x.dtype), np.empty(most * kw, x.dtype)
        grad_buf, hit_buf = np.empty(most * kw, dy.dtype), np.empty(most * kh * kw, bool)
        for i0, i1, r0, r1 in blocks[lo:hi]:
            xs, ds, out = x6[i0:i1, r0:r1], dy6[i0:i1, r0:r1], dx6[i0:i1, r0:r1]
            lead = xs.shape[:2]
            m = lead[0] * lead[1] * wo * c
            best = best_buf[:m].reshape(*lead, wo, c)
            np.copyto(best, xs[:, :, 0, :, 0])
            for a, b in taps[1:]:
                np.maximum(best, xs[:, :, a, :, b], out=best)
            wide = wide_buf[: m * kw].reshape(*lead, 1, wo, kw, c)
            wide[...] = best[:, :, None, :, None]
            with runs_of(row_run):  # wide and grad broadcast over the window's rows, not copied
                hit = np.equal(xs, wide, out=hit_buf[: m * kh * kw].reshape(xs.shape))
                # Every window has exactly one maximum: as many hits as windows, none of them
                # a NaN maximum (it has no hit, a tie has several). A NaN sum of the maxima (a
                # NaN, or infinities of both signs) sends the block to the exact per-tap routing.
                if np.count_nonzero(hit) == best.size and not np.isnan(_einsum("i->", best_buf[:m])):
                    grad = grad_buf[: m * kw].reshape(*lead, 1, wo, kw, c)
                    grad[...] = ds
                    np.multiply(hit, grad, out=out)
                    continue
            seen = np.zeros(best.shape, dtype=bool)
            for a, b in taps:
                at_max = np.equal(xs[:, :, a, :, b], best)
                np.multiply(np.greater(at_max, seen), ds[:, :, 0, :, 0], out=out[:, :, a, :, b])
                np.logical_or(seen, at_max, out=seen)

    _parallel.run(run, _parallel.row_ranges(len(blocks), x.size))
    return dx


@KERNELS.kernel("MaxPoolGrad")
def max_pool_grad(ctx: KernelContext, orig_input: np.ndarray, orig_output: np.ndarray, grad: np.ndarray) -> np.ndarray:
    g, x = _pool_setup(ctx, orig_input)
    if g.empty or x.size == 0:
        return _zeros(ctx)
    dy = _work(g.to_nhwc(grad))
    if _tiles(g):
        return _out(ctx, g.from_nhwc(_tiled_max_pool_grad(g, x, dy)))
    dx = np.zeros(x.shape, dtype=dy.dtype)
    overlap = g.sh < g.kh or g.sw < g.kw  # may two windows route to one element?
    for out, inp, hit in _first_maxima(g, x):
        dst = dx[inp]
        if overlap:
            dst += np.multiply(hit, dy[out])
        else:  # each element is in one window at most: write, do not add
            np.multiply(hit, dy[out], out=dst)
    return _out(ctx, g.from_nhwc(dx))


@KERNELS.kernel("MaxPoolGradGrad")
def max_pool_grad_grad(
    ctx: KernelContext, orig_input: np.ndarray, orig_output: np.ndarray, grad: np.ndarray
) -> np.ndarray:
    g, x = _pool_setup(ctx, orig_input)
    if g.empty or x.size == 0:
        return _zeros(ctx)
    gin = _work(g.to_nhwc(grad))
    out = np.zeros((x.shape[0], g.ho, g.wo, x.shape[3]), dtype=gin.dtype)
    for o, inp, hit in _first_maxima(g, x):
        out[o] += np.multiply(hit, gin[inp])
    return _out(ctx, g.from_nhwc(out))
