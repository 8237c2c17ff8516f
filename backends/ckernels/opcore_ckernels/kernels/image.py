"""Device kernels: image family, convolution (Conv2D and its gradients).

Image ops take NHWC or NCHW directly: host-built index maps (from shapes and
attributes only, cached on the device) say which input element of one image
each tap reads, and the kernels add the image offset, so a map does not grow
with the batch. Conv2D is im2col through such a map plus a GEMM
(:func:`opcore_ckernels.gemm.matmul`); its input gradient is a GEMM and a
direct col2im (each input element sums the columns of the taps that read it,
found from the geometry: a gather-sum, no atomics, no map); its filter
gradient is a GEMM of the im2col columns and the output gradient. On a CPU
device Conv2D (NHWC) and both gradients work on a few images at a time
(:data:`CHUNK_BYTES` of columns), so the columns one kernel writes are read
from the cache by the next (GEMMs at offsets into the batch and the output;
per-image filter gradients summed); there im2col of NHWC images with
:data:`DIRECT_IM2COL_CHANNELS` or more is a direct kernel (each work-item
copies one channel of every tap, neighbouring work-items neighbouring
channels: under half the time of the map-driven gather).

Pooling is in :mod:`.pool`; the window geometry, the device sources and the
launch helpers both use are in :mod:`._image`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from opcore.registry import KernelContext, KernelTable
from opcore_ckernels import gemm
from opcore_ckernels.kernels._common import empty_output, num_elements, row_local
from opcore_ckernels.kernels._gather import index_map
from opcore_ckernels.kernels._image import _bgather, _direct_launch, _Geometry, _image_kernel, _zeros

KERNELS = KernelTable()


# --------------------------------------------------------------------------- convolution


#: im2col is the direct kernel on a CPU device for NHWC images of at least this many channels (a vector
#: of work-items; Intel's CPU runtime, 64 images of 26 x 26: 32 channels 1.9 ms direct, 4.4 ms through the
#: map; 8 channels 3.2 and 1.6 ms, 1 channel 0.77 and 0.18 ms). GPUs gather through the map, whose
#: work-items write neighbouring columns.
DIRECT_IM2COL_CHANNELS = 16


def _direct_im2col(rt: Any, g: _Geometry) -> bool:
    return not g.nchw and getattr(rt, "cpu", False) and g.c >= DIRECT_IM2COL_CHANNELS


def _im2col(ctx: KernelContext, x: Any, g: _Geometry) -> Any:
    """The im2col columns of ``x``: shape (N, Ho * Wo, kh * kw * C)."""
    if _direct_im2col(ctx.backend.runtime, g):
        cols = ctx.backend.runtime.empty((g.n, g.ho * g.wo, g.taps * g.c), x.dtype)
        return _direct_launch(ctx, "im2col_direct", g, cols, x, (g.ho, g.wo), conv=True)
    idx = index_map(ctx, ("conv-im2col", *g.key), g.conv_map)
    m = g.ho * g.wo * g.taps * g.c
    return _bgather(ctx.backend.runtime, x, idx, m, g.image, g.n, (g.n, g.ho * g.wo, g.taps * g.c))


def _im2col_parts(ctx: KernelContext, x: Any, g: _Geometry, step: int) -> Any:
    """(first image, images, their im2col columns (images * Ho * Wo, kh * kw * C)) for ``step`` images at a time."""
    rt = ctx.backend.runtime
    direct = _direct_im2col(rt, g)
    if not direct:
        idx = index_map(ctx, ("conv-im2col", *g.key), g.conv_map)
        gather = _image_kernel(rt, x.dtype, "bgather_part")
    m = g.ho * g.wo * g.taps * g.c
    for n0 in range(0, g.n, step):
        b = min(g.n, n0 + step) - n0
        cols = rt.empty((b * g.ho * g.wo, g.taps * g.c), x.dtype)
        if direct:
            _direct_launch(ctx, "im2col_direct", g, cols, x, (g.ho, g.wo), conv=True, images=(n0, n0 + b))
        else:
            args = [cols.data, x.data, idx.data, np.int64(m), np.int64(g.image), np.int64(n0), np.int64(n0)]
            rt.launch(gather, (m, b), args, local_size=row_local(rt, m, b))
        yield n0, b, cols


def _matmul(ctx: KernelContext, a: Any, b: Any, ta: bool, tb: bool, shape: tuple[int, ...]) -> Any:
    return gemm.matmul(ctx.backend.runtime, a, b, ta, tb, shape, ctx.out_dtypes[0])


@KERNELS.kernel("Conv2D")
def conv2d(ctx: KernelContext, input: Any, filter: Any) -> Any:
    g = _Geometry(ctx.attrs, input.shape, filter.shape[:2])
    if num_elements(ctx.out_shapes[0]) == 0:
        return empty_output(ctx)
    k, o, p = g.taps * g.c, int(filter.shape[3]), g.ho * g.wo
    w = filter.reshape(k, o)
    step = _image_chunk(ctx.backend.runtime, p * k * np.dtype(input.dtype).itemsize, g.n)
    if step < g.n and not g.nchw and gemm.has_tiled(ctx.backend.runtime, input.dtype):
        # A CPU device: im2col of a few images at a time, multiplied into their rows of the output while
        # the columns are in cache.
        rt = ctx.backend.runtime
        y = empty_output(ctx)
        for n0, b, cols in _im2col_parts(ctx, input, g, step):
            gemm.tiled(rt, cols, w, False, False, (1, b * p, o), k, 0, 0, 0, out=y, out_first=n0 * p * o)
        return y
    cols = _im2col(ctx, input, g)
    if g.nchw:
        # (O, K) @ (K, Ho*Wo) per image gives NCHW directly.
        y = _matmul(ctx, w, cols, True, True, (g.n, o, p))
    else:
        y = _matmul(ctx, cols.reshape(g.n * p, k), w, False, False, (g.n * p, o))
    return y.reshape(ctx.out_shapes[0])


@KERNELS.kernel("Conv2DBackpropInput")
def conv2d_backprop_input(ctx: KernelContext, input_like: Any, filter: Any, out_backprop: Any) -> Any:
    rt = ctx.backend.runtime
    g = _Geometry(ctx.attrs, input_like.shape, filter.shape[:2])
    if num_elements(ctx.out_shapes[0]) == 0:
        return empty_output(ctx)
    k, o, p = g.taps * g.c, int(filter.shape[3]), g.ho * g.wo
    if p == 0:
        return _zeros(rt, ctx.out_shapes[0], ctx.out_dtypes[0].np)
    w = filter.reshape(k, o)
    out = empty_output(ctx)
    step = _image_chunk(rt, p * k * np.dtype(out.dtype).itemsize, g.n)
    if step < g.n and gemm.has_tiled(rt, out.dtype):
        # A CPU device: the columns of a few images at a time, so col2im reads them from the cache the
        # GEMM just wrote them to (all of them at once: 42 MB for the CNN's second convolution).
        for n0 in range(0, g.n, step):
            b = min(g.n, n0 + step) - n0
            if g.nchw:  # per image (O, P)^T @ (K, O)^T
                dcols = gemm.tiled(rt, out_backprop, w, True, True, (b, p, k), o, n0 * o * p, o * p)
            else:  # (b * P, O) @ (K, O)^T
                dcols = gemm.tiled(rt, out_backprop, w, False, True, (1, b * p, k), o, n0 * p * o, 0)
            _direct_launch(ctx, "col2im_direct", g, out, dcols, (g.h, g.w), conv=True, images=(n0, n0 + b))
        return out
    if g.nchw:
        dcols = _matmul(ctx, out_backprop.reshape(g.n, o, p), w, True, True, (g.n, p, k))
    else:
        dcols = _matmul(ctx, out_backprop.reshape(g.n * p, o), w, False, True, (g.n * p, k))
    return _direct_launch(ctx, "col2im_direct", g, out, dcols, (g.h, g.w), conv=True)


#: On a CPU device, intermediate image columns are made for this many bytes of them at a time (a part of
#: the last-level cache).
CHUNK_BYTES = 4 << 20
#: ... and per-image filter gradients for at most this many bytes of them, when an image has at least this
#: many output positions (the depth of its product: shallower ones would mostly multiply padding).
PARTS_BYTES = 4 << 20
IMAGE_PRODUCT_DEPTH = 128


def _image_chunk(rt: Any, per_image: int, n: int) -> int:
    """How many images' intermediate columns to make at a time (``n``: all; GPUs and OpenCL only)."""
    if not getattr(rt, "cpu", False):
        return n
    return max(1, min(n, CHUNK_BYTES // max(per_image, 1)))


@KERNELS.kernel("Conv2DBackpropFilter")
def conv2d_backprop_filter(ctx: KernelContext, input: Any, filter_like: Any, out_backprop: Any) -> Any:
    rt = ctx.backend.runtime
    g = _Geometry(ctx.attrs, input.shape, filter_like.shape[:2])
    if num_elements(ctx.out_shapes[0]) == 0:
        return empty_output(ctx)
    k, o, p = g.taps * g.c, int(filter_like.shape[3]), g.ho * g.wo
    step = _image_chunk(rt, p * k * np.dtype(input.dtype).itemsize, g.n)
    if step < g.n and not g.nchw and p and gemm.has_tiled(rt, input.dtype):
        # A CPU device: im2col of a few images at a time, multiplied while the columns are in cache. A
        # product of few output tiles (the CNN's 288 x 64 filter gradient: 5 work-groups, one of 2 cores
        # idle a third of the time) runs as one product per image, the images' gradients then summed.
        per_image = gemm.output_tiles(rt, input.dtype, k, o) < gemm.SPLIT_K_TILES and p >= IMAGE_PRODUCT_DEPTH
        if per_image:
            step = max(1, min(step, PARTS_BYTES // (k * o * np.dtype(input.dtype).itemsize)))
        dw = empty_output(ctx)
        for n0, b, cols in _im2col_parts(ctx, input, g, step):
            q = 1 if per_image else b  # images per product
            parts = rt.empty((b // q, k, o), input.dtype)
            gemm.tiled(rt, cols, out_backprop, True, False, (b // q, k, o), q * p, 0, q * p * k, n0 * p * o,
                       out=parts, b_stride=q * p * o)  # fmt: skip
            args = [dw.data, parts.data, np.int32(b // q), np.int32(n0 > 0), np.int64(k * o)]
            rt.launch(_image_kernel(rt, input.dtype, "sum_parts"), (k * o,), args)
        return dw
    cols = _im2col(ctx, input, g).reshape(g.n * p, k)
    dy = out_backprop
    if g.nchw:
        # (N, O, Ho*Wo) -> (N, Ho*Wo, O), so the batch folds into the GEMM's inner dimension.
        key = ("nn-transpose", o, p)
        idx = index_map(ctx, key, lambda: (np.arange(o)[None, :] * p + np.arange(p)[:, None]).reshape(-1))
        dy = _bgather(rt, dy, idx, p * o, p * o, g.n, (g.n, p, o))
    dw = _matmul(ctx, cols, dy.reshape(g.n * p, o), True, False, (k, o))
    return dw.reshape(ctx.out_shapes[0])
