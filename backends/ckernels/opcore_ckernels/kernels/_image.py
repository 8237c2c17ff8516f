"""Shared parts of the image family (:mod:`.image` convolution, :mod:`.pool` pooling).

The host-side window geometry of one conv/pool call (:class:`_Geometry`) and
the index maps derived from it (im2col, pooling windows and their inverse),
the device sources of both families' kernels (one program of map-driven
kernels and one of direct kernels, each built once per dtype and
layout for both families), and the launch helpers that run them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from opcore.registry import KernelContext
from opcore_ckernels.kernels._common import buffer_or_dummy, launch_rows, row_local, storage_and_acc_types

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

/* out (+)= parts[0] + ... + parts[n - 1] (n blocks of size elements): added to out when add is 1. */
__kernel void sum_parts(__global T* out, __global const T* parts, const int n, const int add, const long size) {{
  const long i = get_global_id(0);
  if (i >= size) return;
  A acc = (A)parts[i];
  for (int p = 1; p < n; ++p) acc += (A)parts[p * size + i];
  out[i] = add ? (T)((A)out[i] + acc) : (T)acc;
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
#define RSTEP(W, C) ((long)(W))
#define CSTEP(C) 1
#else
#define OFF(i, j, c, H, W, C) ((((long)(i)) * (W) + (j)) * (C) + (c))
#define RSTEP(W, C) ((long)(W) * (C))
#define CSTEP(C) (C)
#endif
/* RSTEP and CSTEP: the distance between vertical and horizontal neighbours. The window loops step a
   pointer by them from the window's first element: Intel's CPU compiler then loads the elements of
   neighbouring work-items as one vector, where it gathers them one by one through OFF (4-7x the time). */

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

/* The window of this work-item's output (n, p, q, c) (returning when out of range): its real rows ra..rb
   and columns ca..cb, x at its first real element, rs and cs the steps to the next row and column, ns its
   real columns. */
#define WINDOW()                                                                                      \
  int n, p, q, c;                                                                                     \
  if (!grid_coords(get_global_id(0), row0 + get_global_id(1), Ho, Wo, C, &n, &p, &q, &c)) return;     \
  SPAN(p * sh - top, kh, H, ra, rb)                                                                   \
  SPAN(q * sw - left, kw, W, ca, cb)                                                                  \
  __global const T* x = src + (long)n * H * W * C + OFF(ra, ca, c, H, W, C);                          \
  const long rs = RSTEP(W, C);                                                                        \
  const int cs = CSTEP(C), ns = cb - ca;

/* Average pooling of the window of each output (n, p, q, c), over its real elements. */
__kernel void avg_pool_direct(__global T* out, __global const T* src, const int H, const int W, const int C,
                              const int Ho, const int Wo, const int kh, const int kw, const int sh,
                              const int sw, const int top, const int left, const long row0) {{
  WINDOW()
  A acc = 0;
  for (int r = ra; r < rb; ++r, x += rs)
    for (int s = 0; s < ns; ++s) acc += (A)x[s * cs];
  out[(long)n * Ho * Wo * C + OFF(p, q, c, Ho, Wo, C)] = (T)(acc / (A)((rb - ra) * (cb - ca)));
}}

/* Max pooling of the window of each output (n, p, q, c) over its real elements, in row-major order: a
   greater value or a NaN replaces the running maximum (so the last NaN wins; of equal values, +0 and -0
   included, the first); -inf when the window holds no real element. */
__kernel void max_pool_direct(__global T* out, __global const T* src, const int H, const int W, const int C,
                              const int Ho, const int Wo, const int kh, const int kw, const int sh,
                              const int sw, const int top, const int left, const long row0) {{
  WINDOW()
  A acc = -INFINITY;
  for (int r = ra; r < rb; ++r, x += rs)
    for (int s = 0; s < ns; ++s) {{
      const A v = (A)x[s * cs];
      acc = ((v > acc) | isnan(v)) ? v : acc;  /* | rather than ||: no branch per element */
    }}
  out[(long)n * Ho * Wo * C + OFF(p, q, c, Ho, Wo, C)] = (T)acc;
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
  __global const T* g = grad + (long)n * Ho * Wo * C + OFF(pa, qa, c, Ho, Wo, C);
  const long rs = RSTEP(Wo, C);
  const int cs = CSTEP(C);
  A acc = 0;
  for (int p = pa; p <= pb; ++p, g += rs) {{
    SPAN(p * sh - top, kh, H, ra, rb)
    for (int q = qa; q <= qb; ++q) {{
      SPAN(q * sw - left, kw, W, ca, cb)
      acc += (A)g[(q - qa) * cs] * ((A)1 / (A)((rb - ra) * (cb - ca)));
    }}
  }}
  out[(long)n * H * W * C + OFF(i, j, c, H, W, C)] = (T)acc;
}}

/* The element of the first maximum of the window from (r0, s0) of image x, channel c (row-major; padding
   reads as -inf, NaN wins, like pool_argmax), or -1 when that is on the padding. The first tap is the first
   maximum unless a later one beats it; padding taps never do. */
static inline long first_max(__global const T* x, const int H, const int W, const int C, const int c,
                             const int r0, const int s0, const int kh, const int kw) {{
  SPAN(r0, kh, H, ra, rb)
  SPAN(s0, kw, W, ca, cb)
  const long rs = RSTEP(W, C);
  const int cs = CSTEP(C), ns = cb - ca;
  long e = OFF(ra, ca, c, H, W, C), best = -1;
  A bv = -INFINITY;
  if (ra == r0 && ca == s0 && ra < rb && ca < cb) {{ best = e; bv = (A)x[e]; }}
  for (int r = ra; r < rb; ++r, e += rs)
    for (int s = 0; s < ns; ++s) {{
      const A v = (A)x[e + s * cs];
      const int take = (v > bv) | (isnan(v) & !isnan(bv));
      bv = take ? v : bv;
      best = take ? e + s * cs : best;
    }}
  return best;
}}

/* MaxPoolGrad of windows that do not overlap (each element in at most one; out is zero-filled first): output
   (n, p, q, c) gives its gradient to its window's first maximum (nothing when that is on the padding). */
__kernel void max_pool_grad_scatter(__global T* out, __global const T* grad, __global const T* src, const int H,
                                    const int W, const int C, const int Ho, const int Wo, const int kh,
                                    const int kw, const int sh, const int sw, const int top, const int left,
                                    const long row0) {{
  int n, p, q, c;
  if (!grid_coords(get_global_id(0), row0 + get_global_id(1), Ho, Wo, C, &n, &p, &q, &c)) return;
  const long best = first_max(src + (long)n * H * W * C, H, W, C, c, p * sh - top, q * sw - left, kh, kw);
  if (best >= 0) out[(long)n * H * W * C + best] = grad[(long)n * Ho * Wo * C + OFF(p, q, c, Ho, Wo, C)];
}}

/* The same for windows that tile the image (every element in exactly one): each writes its whole window,
   its gradient at the first maximum and 0 elsewhere, so out needs no zero fill first. */
__kernel void max_pool_grad_tiles(__global T* out, __global const T* grad, __global const T* src, const int H,
                                  const int W, const int C, const int Ho, const int Wo, const int kh,
                                  const int kw, const int sh, const int sw, const int top, const int left,
                                  const long row0) {{
  int n, p, q, c;
  if (!grid_coords(get_global_id(0), row0 + get_global_id(1), Ho, Wo, C, &n, &p, &q, &c)) return;
  const int r0 = p * sh - top, s0 = q * sw - left;
  const long best = first_max(src + (long)n * H * W * C, H, W, C, c, r0, s0, kh, kw);
  const T gv = grad[(long)n * Ho * Wo * C + OFF(p, q, c, Ho, Wo, C)];
  __global T* o = out + (long)n * H * W * C;
  SPAN(r0, kh, H, ra, rb)
  SPAN(s0, kw, W, ca, cb)
  const long rs = RSTEP(W, C);
  const int cs = CSTEP(C), ns = cb - ca;
  long e = OFF(ra, ca, c, H, W, C);
  for (int r = ra; r < rb; ++r, e += rs)
    for (int s = 0; s < ns; ++s) o[e + s * cs] = e + s * cs == best ? gv : (T)0;
}}

/* im2col of images n0..: cols (images * Ho * Wo, kh * kw * C), columns ordered (a, b, c) like the filter's
   rows; row (n, p, q) holds input element (p * sh - top + a * dh, q * sw - left + b * dw, c) of image n, 0 on
   the padding. Each work-item copies its channel (NHWC) or column (NCHW) of every tap. */
__kernel void im2col_direct(__global T* cols, __global const T* src, const int H, const int W, const int C,
                            const int Ho, const int Wo, const int kh, const int kw, const int sh, const int sw,
                            const int dh, const int dw, const int top, const int left, const int n0,
                            const long row0) {{
  int n, p, q, c;
  if (!grid_coords(get_global_id(0), row0 + get_global_id(1), Ho, Wo, C, &n, &p, &q, &c)) return;
  __global T* out = cols + ((long)((n - n0) * Ho + p) * Wo + q) * kh * kw * C + c;
  __global const T* x = src + (long)n * H * W * C;
  const int r0 = p * sh - top, s0 = q * sw - left;
  const int cs = CSTEP(C);
  for (int a = 0; a < kh; ++a, out += kw * C) {{
    const int r = r0 + a * dh;
    if (r < 0 || r >= H) {{
      for (int b = 0; b < kw; ++b) out[b * C] = (T)0;
      continue;
    }}
    __global const T* xr = x + OFF(r, 0, c, H, W, C);
    for (int b = 0; b < kw; ++b) {{
      const int s = s0 + b * dw;
      out[b * C] = (s >= 0 && s < W) ? xr[s * cs] : (T)0;
    }}
  }}
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

    ``conv``: the kernel is col2im or im2col (dilations and the first image of its columns follow); ``images``: only
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
