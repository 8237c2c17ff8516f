"""Device kernels: image family, pooling (MaxPool, AvgPool and their gradients).

Pooling takes NHWC or NCHW directly (the window geometry of :mod:`._image`,
shared with convolution). MaxPool (on a GPU: of 32 or more channels, NHWC, or
output columns, NCHW), AvgPool and AvgPoolGrad are direct kernels: window
bounds and element counts from the geometry, one work-item per channel (NHWC)
or column (NCHW), so neighbouring work-items read neighbouring elements (a CPU
device loads them as one vector; the map-driven MaxPool takes 2.7x as long on
Intel's CPU runtime). MaxPoolGrad of windows that tile the image (2x2/2 of an
even size) lets each window write its gradient to its first maximum and zeros
to its other elements; of windows that do not overlap, its gradient straight
to its first maximum in a zero-filled output; with overlapping windows it
finds each window's first maximum through the window map, then every input
element sums the gradients of the windows that routed to it through the
inverse map.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from opcore.registry import KernelContext, KernelTable
from opcore_ckernels.kernels._common import buffer_or_dummy, empty_output, launch_rows
from opcore_ckernels.kernels._gather import index_map
from opcore_ckernels.kernels._image import _bgather, _direct_launch, _Geometry, _image_kernel, _inverse, _zeros

KERNELS = KernelTable()

#: On a GPU, MaxPool is direct when a position has at least this many work-items (channels in NHWC, output
#: columns in NCHW: CUDA's blocks of a direct kernel are that wide); narrower ones run through the window map,
#: whose blocks cover whole rows of pooled elements.
GPU_DIRECT_LANES = 32


# --------------------------------------------------------------------------- pooling


def _pool(ctx: KernelContext, x: Any) -> tuple[_Geometry, Any]:
    g = _Geometry(ctx.attrs, x.shape, None)
    return g, index_map(ctx, ("pool-window", *g.key), g.pool_map)


def _pool_launch(ctx: KernelContext, name: str, g: _Geometry, src: Any, idx: Any, out: Any) -> Any:
    rt = ctx.backend.runtime
    m = g.ho * g.wo * g.c
    args = [out.data, buffer_or_dummy(rt, src), idx.data, np.int32(g.taps), np.int64(m), np.int64(g.image)]
    launch_rows(rt, _image_kernel(rt, src.dtype, name), m, g.n, args)
    return out


def _argmax(ctx: KernelContext, g: _Geometry, x: Any, idx: Any) -> Any:
    arg = ctx.backend.runtime.empty((g.n * g.ho * g.wo * g.c,), np.int64)
    return _pool_launch(ctx, "pool_argmax", g, x, idx, arg)


@KERNELS.kernel("MaxPool")
def max_pool(ctx: KernelContext, input: Any) -> Any:
    out = empty_output(ctx)
    if out.size == 0:
        return out
    g = _Geometry(ctx.attrs, input.shape, None)
    if getattr(ctx.backend.runtime, "cpu", False) or (g.wo if g.nchw else g.c) >= GPU_DIRECT_LANES:
        return _direct_launch(ctx, "max_pool_direct", g, out, input, (g.ho, g.wo))
    idx = index_map(ctx, ("pool-window", *g.key), g.pool_map)
    return _pool_launch(ctx, "pool_max", g, input, idx, out)


@KERNELS.kernel("AvgPool")
def avg_pool(ctx: KernelContext, input: Any) -> Any:
    out = empty_output(ctx)
    if out.size == 0:
        return out
    g = _Geometry(ctx.attrs, input.shape, None)
    return _direct_launch(ctx, "avg_pool_direct", g, out, input, (g.ho, g.wo))


def _pool_inverse(ctx: KernelContext, g: _Geometry) -> tuple[Any, int]:
    """For each input element of an image, the pooled elements whose windows read it."""
    inv = index_map(ctx, ("pool-inverse", *g.key), lambda: _inverse(g.pool_map(), g.image, g.taps))
    return inv, int(inv.shape[1]) if len(inv.shape) == 2 else 0


@KERNELS.kernel("MaxPoolGrad")
def max_pool_grad(ctx: KernelContext, orig_input: Any, orig_output: Any, grad: Any) -> Any:
    rt = ctx.backend.runtime
    out = empty_output(ctx)
    if out.size == 0:
        return out
    g = _Geometry(ctx.attrs, orig_input.shape, None)
    pooled = g.ho * g.wo * g.c
    if pooled == 0:
        return _zeros(rt, ctx.out_shapes[0], ctx.out_dtypes[0].np)
    if g.sh == g.kh and g.sw == g.kw and (g.padding == "SAME" or (g.h % g.kh == 0 and g.w % g.kw == 0)):
        # windows tile the image (SAME pads the last ones): each writes every element of its window
        return _direct_launch(ctx, "max_pool_grad_tiles", g, out, grad, (g.ho, g.wo), extra=[orig_input])
    if g.sh >= g.kh and g.sw >= g.kw:  # windows do not overlap: each element checks its own window
        out = _zeros(rt, ctx.out_shapes[0], ctx.out_dtypes[0].np)
        return _direct_launch(ctx, "max_pool_grad_scatter", g, out, grad, (g.ho, g.wo), extra=[orig_input])
    idx = index_map(ctx, ("pool-window", *g.key), g.pool_map)
    arg = _argmax(ctx, g, orig_input, idx)
    inv, width = _pool_inverse(ctx, g)
    args = [out.data, grad.data, buffer_or_dummy(rt, inv), arg.data, np.int32(width), np.int64(g.image),
            np.int64(pooled)]  # fmt: skip
    launch_rows(rt, _image_kernel(rt, out.dtype, "gsum_routed"), g.image, g.n, args)
    return out


@KERNELS.kernel("MaxPoolGradGrad")
def max_pool_grad_grad(ctx: KernelContext, orig_input: Any, orig_output: Any, grad: Any) -> Any:
    out = empty_output(ctx)
    if out.size == 0:
        return out
    g, idx = _pool(ctx, orig_input)
    arg = _argmax(ctx, g, orig_input, idx)
    pooled = g.ho * g.wo * g.c
    return _bgather(ctx.backend.runtime, grad, arg, pooled, g.image, g.n, ctx.out_shapes[0], istride=pooled)


@KERNELS.kernel("AvgPoolGrad")
def avg_pool_grad(ctx: KernelContext, orig_input_like: Any, grad: Any) -> Any:
    rt = ctx.backend.runtime
    out = empty_output(ctx)
    if out.size == 0:
        return out
    g = _Geometry(ctx.attrs, orig_input_like.shape, None)
    pooled = g.ho * g.wo * g.c
    if pooled == 0:
        return _zeros(rt, ctx.out_shapes[0], ctx.out_dtypes[0].np)
    return _direct_launch(ctx, "avg_pool_grad_direct", g, out, grad, (g.h, g.w))
