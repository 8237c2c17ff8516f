"""Device kernels: image family (Conv2D, pooling and their gradients).

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
partial filter gradients added up). MaxPool
reduces over the window map; MaxPoolGrad finds each window's first maximum on
the device, then every input element sums the gradients of the windows that
routed to it through the inverse map; when windows do not overlap (2x2/2),
each window instead writes its gradient straight to its first maximum in a
zero-filled output (a third of the time). AvgPool and AvgPoolGrad are direct
kernels too: window bounds and element counts from the geometry, one
work-item per channel (NHWC) or column (NCHW), so neighbouring work-items
read neighbouring elements (a CPU device loads them as one vector; the
map-driven kernels cost 2-4x as much on Intel's CPU runtime).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from opcore.registry import KernelContext, KernelTable
from opcore_ckernels import gemm
from opcore_ckernels.kernels._common import (
    buffer_or_dummy,
    empty_output,
    launch_rows,
    num_elements,
    row_local,
    storage_and_acc_types,
)
from opcore_ckernels.kernels._gather import index_map

KERNELS = KernelTable()


# --------------------------------------------------------------------------- image geometry (host)


class _Geometry:
    """Window geometry of one conv/pool call and the index maps derived from it (host side).

    Element indices are within one image in its own layout (NHWC or NCHW); -1
    marks a tap on the padding.
    """

    def __init__(self, attrs: Any, image_shape: Sequence[int], window: Sequence[int] | None) -> None:
        self.nchw = attrs["data_format"] == "NCHW"
        pick = (2, 3) if self.nchw else (1, 2)
        n, a, b, c = (int(s) for s in image_shape)
        self.n, self.h, self.w, self.c = (n, b, c, a) if self.nchw else (n, a, b, c)
        self.sh, self.sw = (int(attrs["strides"][i]) for i in pick)
        self.dh, self.dw = (int(attrs["dilations"][i]) for i in pick) if "dilations" in attrs else (1, 1)
        self.kh, self.kw = (int(v) for v in window) if window is not None else (int(attrs["ksize"][i]) for i in pick)
        self.padding = attrs["padding"]
        eff_h, eff_w = (self.kh - 1) * self.dh + 1, (self.kw - 1) * self.dw + 1
        if self.padding == "SAME":
            self.ho, self.wo = -(-self.h // self.sh), -(-self.w // self.sw)
            # TensorFlow puts the odd padding row/column at the bottom/right.
            self.top = max((self.ho - 1) * self.sh + eff_h - self.h, 0) // 2
            self.left = max((self.wo - 1) * self.sw + eff_w - self.w, 0) // 2
        else:
            self.ho, self.wo = (self.h - eff_h) // self.sh + 1, (self.w - eff_w) // self.sw + 1
            self.top = self.left = 0
        self.ho, self.wo = max(self.ho, 0), max(self.wo, 0)
        self.key = (self.nchw, self.h, self.w, self.c, self.kh, self.kw, self.sh, self.sw, self.dh, self.dw,
                    self.padding)  # fmt: skip

    @property
    def image(self) -> int:
        """Elements in one input image."""
        return self.h * self.w * self.c

    @property
    def taps(self) -> int:
        return self.kh * self.kw

    def _spatial(self) -> np.ndarray:
        """(Ho, Wo, kh, kw): the input position row * w + col each tap reads, or -1 on the padding."""
        rows = np.arange(self.ho)[:, None] * self.sh + np.arange(self.kh)[None, :] * self.dh - self.top
        cols = np.arange(self.wo)[:, None] * self.sw + np.arange(self.kw)[None, :] * self.dw - self.left
        r, c = rows[:, None, :, None], cols[None, :, None, :]
        ok = (r >= 0) & (r < self.h) & (c >= 0) & (c < self.w)
        return np.where(ok, r * self.w + c, -1).astype(np.int64)

    def _element(self, spatial: np.ndarray, channel: np.ndarray) -> np.ndarray:
        e = channel * (self.h * self.w) + spatial if self.nchw else spatial * self.c + channel
        return np.where(spatial < 0, -1, e).astype(np.int64)

    def conv_map(self) -> np.ndarray:
        """im2col map (Ho * Wo, kh * kw * C): columns ordered like the filter's (kh, kw, C) rows."""
        sp = self._spatial()[..., None]
        return self._element(sp, np.arange(self.c)).reshape(self.ho * self.wo, self.taps * self.c)

    def pool_map(self) -> np.ndarray:
        """Window map (pooled elements of one image in its layout, kh * kw)."""
        sp = self._spatial().reshape(self.ho, self.wo, self.taps)
        if self.nchw:
            e = self._element(sp[None], np.arange(self.c)[:, None, None, None])
        else:
            e = self._element(sp[:, :, None, :], np.arange(self.c)[None, None, :, None])
        return e.reshape(-1, self.taps)


def _inverse(forward: np.ndarray, size: int, div: int = 1) -> np.ndarray:
    """For each of ``size`` input elements, the flat positions (// ``div``) of ``forward`` that read it.

    Shape (size, width) with width the largest count, padded with -1;
    positions are in increasing order, so sums have a fixed order.
    """
    flat = forward.reshape(-1)
    where = np.nonzero(flat >= 0)[0]
    values = flat[where]
    counts = np.bincount(values, minlength=size)
    width = int(counts.max()) if counts.size else 0
    order = np.argsort(values, kind="stable")
    values, where = values[order], where[order]
    starts = np.cumsum(counts) - counts
    inv = np.full((size, width), -1, np.int64)
    inv[values, np.arange(values.size) - starts[values]] = where // div
    return inv


# --------------------------------------------------------------------------- image kernels (device)

_IMAGE_SOURCE = """
#define T {t}
#define A {a}

/* out[b, j] = src[b * s + idx[b * istride + j]] (0 where the index is -1), j < m. */
__kernel void bgather(__global T* out, __global const T* src, __global const long* idx, const long m,
                      const long s, const long istride, const long row0) {{
  const long j = get_global_id(0);
  if (j >= m) return;
  const long b = row0 + get_global_id(1), i = b * m + j;
  const long k = idx[b * istride + j];
  out[i] = k < 0 ? (T)0 : src[b * s + k];
}}

/* The same for images n0.. of a range whose rows start at image n0 (out holds only those images). */
__kernel void bgather_part(__global T* out, __global const T* src, __global const long* idx, const long m,
                           const long s, const long n0, const long row0) {{
  const long j = get_global_id(0);
  if (j >= m) return;
  const long b = row0 + get_global_id(1);
  const long k = idx[j];
  out[(b - n0) * m + j] = k < 0 ? (T)0 : src[b * s + k];
}}

/* acc += part (size elements). */
__kernel void add_into(__global T* acc, __global const T* part, const long size) {{
  const long i = get_global_id(0);
  if (i < size) acc[i] += part[i];
}}

__kernel void fill_zero(__global T* out, const long total) {{
  const long i = get_global_id(0);
  if (i < total) out[i] = (T)0;
}}

/* Pooling over windows idx[p, 0..R) of image b (m pooled and s input elements per image). */
__kernel void pool_max(__global T* out, __global const T* src, __global const long* idx, const int R,
                       const long m, const long s, const long row0) {{
  const long p = get_global_id(0);
  if (p >= m) return;
  const long b = row0 + get_global_id(1), i = b * m + p;
  A acc = -INFINITY;
  for (int r = 0; r < R; ++r) {{
    const long k = idx[p * R + r];
    if (k < 0) continue;
    const A v = (A)src[b * s + k];
    acc = (v > acc || isnan(v)) ? v : acc;
  }}
  out[i] = (T)acc;
}}

/* The input element of each window's first maximum (row-major; padding reads as -inf, NaN wins,
   like numpy.argmax), or -1 when that is on the padding. */
__kernel void pool_argmax(__global long* arg, __global const T* src, __global const long* idx, const int R,
                          const long m, const long s, const long row0) {{
  const long p = get_global_id(0);
  if (p >= m) return;
  const long b = row0 + get_global_id(1), i = b * m + p;
  long best = idx[p * R];
  A bv = best < 0 ? (A)(-INFINITY) : (A)src[b * s + best];
  for (int r = 1; r < R; ++r) {{
    const long k = idx[p * R + r];
    const A v = k < 0 ? (A)(-INFINITY) : (A)src[b * s + k];
    if (v > bv || (isnan(v) && !isnan(bv))) {{ best = k; bv = v; }}
  }}
  arg[i] = best;
}}

/* out[b, e] = sum over r of src[b * s + inv[e, r]] (inv -1: nothing), e < E, counting only windows k whose
   maximum arg[b * s + k] is element e. */
__kernel void gsum_routed(__global T* out, __global const T* src, __global const long* inv,
                          __global const long* arg, const int width, const long E, const long s,
                          const long row0) {{
  const long e = get_global_id(0);
  if (e >= E) return;
  const long b = row0 + get_global_id(1), i = b * E + e;
  A acc = 0;
  for (int r = 0; r < width; ++r) {{
    const long k = inv[e * width + r];
    if (k >= 0 && arg[b * s + k] == e) acc += (A)src[b * s + k];
  }}
  out[i] = (T)acc;
}}
"""


_DIRECT_SOURCE = """
#define T {t}
#define A {a}
#define NCHW {nchw}
/* Direct window kernels: no index maps. Element (i, j, c) of an image of H x W x C sits at
   OFF(i, j, c, H, W, C) in the image's own layout. A work-item's coordinates come from its (x, row):
   NHWC: c = x, row = (n * GH + i) * GW + j; NCHW: j = x, row = (n * C + c) * GH + i, for a grid of
   GH x GW positions. Neighbouring work-items then touch neighbouring elements (a CPU device loads
   them as one vector). */
#if NCHW
#define OFF(i, j, c, H, W, C) ((((long)(c)) * (H) + (i)) * (W) + (j))
#else
#define OFF(i, j, c, H, W, C) ((((long)(i)) * (W) + (j)) * (C) + (c))
#endif

/* (n, i, j, c) of work-item (x, row); false outside the grid. */
static inline int grid_coords(long x, long row, int GH, int GW, int C, int* n, int* i, int* j, int* c) {{
#if NCHW
  if (x >= GW) return 0;
  *j = (int)x;
  const long nc = row / GH;
  *i = (int)(row - nc * GH);
  *n = (int)(nc / C);
  *c = (int)(nc - (long)(*n) * C);
#else
  if (x >= C) return 0;
  *c = (int)x;
  const long ni = row / GW;
  *j = (int)(row - ni * GW);
  *n = (int)(ni / GH);
  *i = (int)(ni - (long)(*n) * GH);
#endif
  return 1;
}}

/* The real (not padding) rows lo..hi of the window starting at r0 (kh taps, no dilation). */
#define SPAN(r0, k, H, lo, hi) const int lo = max((r0), 0), hi = min((r0) + (k), (H));

/* Average pooling of the window of each output (n, p, q, c), over its real elements. */
__kernel void avg_pool_direct(__global T* out, __global const T* src, const int H, const int W, const int C,
                              const int Ho, const int Wo, const int kh, const int kw, const int sh,
                              const int sw, const int top, const int left, const long row0) {{
  int n, p, q, c;
  if (!grid_coords(get_global_id(0), row0 + get_global_id(1), Ho, Wo, C, &n, &p, &q, &c)) return;
  SPAN(p * sh - top, kh, H, ra, rb)
  SPAN(q * sw - left, kw, W, ca, cb)
  __global const T* x = src + (long)n * H * W * C;
  A acc = 0;
  for (int r = ra; r < rb; ++r)
    for (int s = ca; s < cb; ++s) acc += (A)x[OFF(r, s, c, H, W, C)];
  out[(long)n * Ho * Wo * C + OFF(p, q, c, Ho, Wo, C)] = (T)(acc / (A)((rb - ra) * (cb - ca)));
}}

/* The first output row (or column) whose window (k taps from p * s - top) reaches input row i, and the last. */
#define COVER(i, top, k, s, O, lo, hi)                                   \\
  const int lo##_x = (i) + (top) - (k) + 1;                               \\
  const int lo = lo##_x <= 0 ? 0 : (lo##_x + (s) - 1) / (s);              \\
  const int hi = min((O) - 1, ((i) + (top)) / (s));

/* AvgPoolGrad: each input element (n, i, j, c) sums grad / (real elements of the window) over the windows
   that read it, in increasing output order (as the forward's windows are numbered). */
__kernel void avg_pool_grad_direct(__global T* out, __global const T* grad, const int H, const int W,
                                   const int C, const int Ho, const int Wo, const int kh, const int kw,
                                   const int sh, const int sw, const int top, const int left, const long row0) {{
  int n, i, j, c;
  if (!grid_coords(get_global_id(0), row0 + get_global_id(1), H, W, C, &n, &i, &j, &c)) return;
  COVER(i, top, kh, sh, Ho, pa, pb)
  COVER(j, left, kw, sw, Wo, qa, qb)
  __global const T* g = grad + (long)n * Ho * Wo * C;
  A acc = 0;
  for (int p = pa; p <= pb; ++p) {{
    SPAN(p * sh - top, kh, H, ra, rb)
    for (int q = qa; q <= qb; ++q) {{
      SPAN(q * sw - left, kw, W, ca, cb)
      acc += (A)g[OFF(p, q, c, Ho, Wo, C)] * ((A)1 / (A)((rb - ra) * (cb - ca)));
    }}
  }}
  out[(long)n * H * W * C + OFF(i, j, c, H, W, C)] = (T)acc;
}}

/* MaxPoolGrad of windows that do not overlap (each element in at most one; out is zero-filled first): output
   (n, p, q, c) gives its gradient to its window's first maximum (row-major; padding reads as -inf, NaN
   wins, like pool_argmax; nothing when that is on the padding). */
__kernel void max_pool_grad_scatter(__global T* out, __global const T* grad, __global const T* src, const int H,
                                    const int W, const int C, const int Ho, const int Wo, const int kh,
                                    const int kw, const int sh, const int sw, const int top, const int left,
                                    const long row0) {{
  int n, p, q, c;
  if (!grid_coords(get_global_id(0), row0 + get_global_id(1), Ho, Wo, C, &n, &p, &q, &c)) return;
  __global const T* x = src + (long)n * H * W * C;
  const int r0 = p * sh - top, s0 = q * sw - left;
  long best = -1;
  A bv = -INFINITY;
  for (int a = 0; a < kh; ++a) {{
    const int r = r0 + a;
    for (int b = 0; b < kw; ++b) {{
      const int s = s0 + b;
      const int ok = r >= 0 && r < H && s >= 0 && s < W;
      const long e = ok ? OFF(r, s, c, H, W, C) : -1;
      const A v = ok ? (A)x[e] : (A)(-INFINITY);
      if ((a == 0 && b == 0) || v > bv || (isnan(v) && !isnan(bv))) {{ bv = v; best = e; }}
    }}
  }}
  if (best >= 0) out[(long)n * H * W * C + best] = grad[(long)n * Ho * Wo * C + OFF(p, q, c, Ho, Wo, C)];
}}

/* col2im of Conv2DBackpropInput: dcols is (N, Ho * Wo, kh * kw * C), columns ordered (a, b, c) like the
   filter's rows; input element (n, i, j, c) sums the columns of the taps that read it, in increasing
   output position (a and b descending). dcols may hold images n0.. only (the range then covers those). */
__kernel void col2im_direct(__global T* out, __global const T* dcols, const int H, const int W, const int C,
                            const int Ho, const int Wo, const int kh, const int kw, const int sh, const int sw,
                            const int dh, const int dw, const int top, const int left, const int n0,
                            const long row0) {{
  int n, i, j, c;
  if (!grid_coords(get_global_id(0), row0 + get_global_id(1), H, W, C, &n, &i, &j, &c)) return;
  const long K = (long)kh * kw * C;
  __global const T* d = dcols + (long)(n - n0) * Ho * Wo * K + c;  /* dcols starts at image n0 */
  A acc = 0;
  for (int a = kh - 1; a >= 0; --a) {{
    const int r = i + top - a * dh;
    if (r < 0 || r % sh != 0 || r / sh >= Ho) continue;
    const long prow = (long)(r / sh) * Wo;
    for (int b = kw - 1; b >= 0; --b) {{
      const int s = j + left - b * dw;
      if (s < 0 || s % sw != 0 || s / sw >= Wo) continue;
      acc += (A)d[(prow + s / sw) * K + (long)(a * kw + b) * C];
    }}
  }}
  out[(long)n * H * W * C + OFF(i, j, c, H, W, C)] = (T)acc;
}}
"""


def _direct_launch(ctx: KernelContext, name: str, g: _Geometry, out: Any, src: Any, grid: tuple[int, int],
                   conv: bool = False, extra: Sequence[Any] = (), images: tuple[int, int] | None = None) -> Any:  # fmt: skip
    """Run direct kernel ``name`` over a grid of ``grid`` = (rows, columns) positions of every image and channel.

    ``conv``: the kernel is col2im (dilations and the first image of its columns follow); ``images``: only
    images [n0, n1) (OpenCL only: CUDA's row slices start at 0).
    """
    rt = ctx.backend.runtime
    t, a = storage_and_acc_types(out.dtype)
    kernel = rt.kernel(("image-direct", t, g.nchw), lambda: _DIRECT_SOURCE.format(t=t, a=a, nchw=int(g.nchw)), name)
    gh, gw = grid
    i32 = np.int32
    sizes = [i32(g.h), i32(g.w), i32(g.c), i32(g.ho), i32(g.wo), i32(g.kh), i32(g.kw), i32(g.sh), i32(g.sw)]
    if conv:
        sizes += [i32(g.dh), i32(g.dw)]
    n0, n1 = images if images is not None else (0, g.n)
    args = [out.data, src.data, *(e.data for e in extra), *sizes, i32(g.top), i32(g.left)]
    if conv:
        args.append(i32(n0))
    width, per_image = (gw, g.c * gh) if g.nchw else (g.c, gh * gw)
    if images is None:
        launch_rows(rt, kernel, width, g.n * per_image, args)
    else:
        rows = (n1 - n0) * per_image
        rt.launch(kernel, (width, rows), [*args, np.int64(n0 * per_image)], local_size=row_local(rt, width, rows))
    return out


def _image_kernel(rt: Any, dtype: Any, name: str) -> Any:
    t, a = storage_and_acc_types(dtype)
    return rt.kernel(("image", t), lambda: _IMAGE_SOURCE.format(t=t, a=a), name)


def _zeros(rt: Any, shape: Sequence[int], dtype: Any) -> Any:
    out = rt.empty(tuple(shape), np.dtype(dtype))
    rt.launch(_image_kernel(rt, out.dtype, "fill_zero"), (int(out.size),), [out.data, np.int64(out.size)])
    return out


def _bgather(rt: Any, src: Any, idx: Any, m: int, s: int, batches: int, shape: Sequence[int],
             istride: int = 0) -> Any:  # fmt: skip
    out = rt.empty(tuple(shape), src.dtype)
    args = [
        buffer_or_dummy(rt, out),
        buffer_or_dummy(rt, src),
        buffer_or_dummy(rt, idx),
        np.int64(m),
        np.int64(s),
        np.int64(istride),
    ]
    launch_rows(rt, _image_kernel(rt, src.dtype, "bgather"), m, batches, args)
    return out


def _im2col(ctx: KernelContext, x: Any, g: _Geometry) -> Any:
    """The im2col columns of ``x``: shape (N, Ho * Wo, kh * kw * C)."""
    idx = index_map(ctx, ("conv-im2col", *g.key), g.conv_map)
    m = g.ho * g.wo * g.taps * g.c
    return _bgather(ctx.backend.runtime, x, idx, m, g.image, g.n, (g.n, g.ho * g.wo, g.taps * g.c))


def _im2col_parts(ctx: KernelContext, x: Any, g: _Geometry, step: int) -> Any:
    """(first image, images, their im2col columns (images * Ho * Wo, kh * kw * C)) for ``step`` images at a time."""
    rt = ctx.backend.runtime
    idx = index_map(ctx, ("conv-im2col", *g.key), g.conv_map)
    gather = _image_kernel(rt, x.dtype, "bgather_part")
    m = g.ho * g.wo * g.taps * g.c
    for n0 in range(0, g.n, step):
        b = min(g.n, n0 + step) - n0
        cols = rt.empty((b * g.ho * g.wo, g.taps * g.c), x.dtype)
        args = [cols.data, x.data, idx.data, np.int64(m), np.int64(g.image), np.int64(n0), np.int64(n0)]
        rt.launch(gather, (m, b), args, local_size=row_local(rt, m, b))
        yield n0, b, cols


def _matmul(ctx: KernelContext, a: Any, b: Any, ta: bool, tb: bool, shape: tuple[int, ...]) -> Any:
    from opcore_ckernels.gemm import matmul

    return matmul(ctx.backend.runtime, a, b, ta, tb, shape, ctx.out_dtypes[0])


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


def _image_chunk(rt: Any, per_image: int, n: int) -> int:
    """How many images' intermediate columns to make at a time (``n``: all; GPUs and OpenCL only)."""
    if rt.target != "opencl" or not getattr(rt, "cpu", False):
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
        # A CPU device: im2col of a few images at a time, multiplied while the columns are in cache.
        dw = None
        for n0, b, cols in _im2col_parts(ctx, input, g, step):
            part = gemm.tiled(rt, cols, out_backprop, True, False, (1, k, o), b * p, 0, 0, n0 * p * o)
            if dw is None:
                dw = part
            else:
                rt.launch(_image_kernel(rt, input.dtype, "add_into"), (k * o,), [dw.data, part.data, np.int64(k * o)])
        assert dw is not None
        return dw.reshape(ctx.out_shapes[0])
    cols = _im2col(ctx, input, g).reshape(g.n * p, k)
    dy = out_backprop
    if g.nchw:
        # (N, O, Ho*Wo) -> (N, Ho*Wo, O), so the batch folds into the GEMM's inner dimension.
        key = ("nn-transpose", o, p)
        idx = index_map(ctx, key, lambda: (np.arange(o)[None, :] * p + np.arange(p)[:, None]).reshape(-1))
        dy = _bgather(rt, dy, idx, p * o, p * o, g.n, (g.n, p, o))
    dw = _matmul(ctx, cols, dy.reshape(g.n * p, o), True, False, (k, o))
    return dw.reshape(ctx.out_shapes[0])


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
    g, idx = _pool(ctx, input)
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
