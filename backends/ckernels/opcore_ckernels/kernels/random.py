"""OpenCL kernels: random family (uniform floats and integers, normal, truncated normal).

Every kernel runs Philox4x32-10 (:mod:`opcore_ckernels.philox`) with counter =
element index and key = the op's seeds, so the values depend only on (seed,
seed2, shape, dtype) and are the same on every call. They are not NumPy's
values (NumPy's Philox is the 4x64 variant with another stream layout); the
conformance suite checks bounds, statistics and reproducibility.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from opcore.registry import KernelContext, KernelTable
from opcore_ckernels.philox import render
from opcore_ckernels.source import ctype

KERNELS = KernelTable()

_MASK = (1 << 64) - 1
#: Truncated normal re-draws values beyond this many standard deviations (as the NumPy kernel).
_TRUNCATE_AT = 2.0
#: Draws tried per element before giving up (each draw fails with probability < 0.003).
_MAX_DRAWS = 256

_FLOAT_KERNELS = """
#define T {t}
#define W {w}

__kernel void rng_uniform(__global T* out, const long n, const ulong seed, const ulong seed2,
                          const W lo, const W hi, const W limit) {{
  const long i = get_global_id(0);
  if (i >= n) return;
  const philox_u32x4 w = philox_bits((ulong)i, 0u, seed, seed2);
  const W u = {uniform};
  const T r = (T)(lo + (hi - lo) * u);
  /* Rounding to T can land on maxval: clip to the largest value below it. */
  out[i] = r < (T)limit ? r : (T)limit;
}}

__kernel void rng_normal(__global T* out, const long n, const ulong seed, const ulong seed2) {{
  const long i = get_global_id(0);
  if (i >= n) return;
  const philox_u32x4 w = philox_bits((ulong)i, 0u, seed, seed2);
  W z[4];
  {normals}
  out[i] = (T)z[0];
}}

__kernel void rng_truncated(__global T* out, const long n, const ulong seed, const ulong seed2) {{
  const long i = get_global_id(0);
  if (i >= n) return;
  W result = 0;
  for (uint d = 0; d < {max_draws}u; ++d) {{
    const philox_u32x4 w = philox_bits((ulong)i, d, seed, seed2);
    W z[4];
    {normals}
    int found = 0;
    for (int k = 0; k < {per_draw}; ++k) {{
      if (fabs(z[k]) <= ({w}){bound}) {{ result = z[k]; found = 1; break; }}
    }}
    if (found) break;
  }}
  out[i] = (T)result;
}}
"""

_INT_KERNEL = """
__kernel void rng_int(__global {t}* out, const long n, const ulong seed, const ulong seed2,
                      const long lo, const ulong range) {{
  const long i = get_global_id(0);
  if (i >= n) return;
  const philox_u32x4 w = philox_bits((ulong)i, 0u, seed, seed2);
  /* Unsigned arithmetic: lo + offset wraps instead of overflowing a signed type. */
  out[i] = ({t})(long)((ulong)lo + philox_bounded_u64(w.v[0], w.v[1], range));
}}
"""


def _float_source(dtype: np.dtype[Any]) -> str:
    double = dtype == np.float64
    w = "double" if double else "float"
    if double:
        uniform = "philox_uniform_f64(w.v[0], w.v[1])"
        normals = "philox_normal2_f64(w, &z[0], &z[1]);"
    else:
        uniform = "philox_uniform_f32(w.v[0])"
        normals = "philox_normal2_f32(w.v[0], w.v[1], &z[0], &z[1]); philox_normal2_f32(w.v[2], w.v[3], &z[2], &z[3]);"
    body = _FLOAT_KERNELS.format(
        t=ctype(dtype),
        w=w,
        uniform=uniform,
        normals=normals,
        max_draws=_MAX_DRAWS,
        per_draw=2 if double else 4,
        bound=repr(_TRUNCATE_AT),
    )
    return render("opencl", double=double) + body


def _seeds(ctx: KernelContext) -> list[Any]:
    return [np.uint64(int(ctx.attrs["seed"]) & _MASK), np.uint64(int(ctx.attrs["seed2"]) & _MASK)]


def _launch(ctx: KernelContext, name: str, extra: list[Any]) -> Any:
    rt = ctx.backend.runtime
    dtype = np.dtype(ctx.out_dtypes[0].np)
    out = rt.empty(ctx.out_shapes[0], dtype)
    n = int(out.size)
    if n == 0:
        return out

    def source() -> str:
        if dtype.kind == "f":
            return _float_source(dtype)
        return render("opencl") + _INT_KERNEL.format(t=ctype(dtype))

    rt.launch(rt.kernel(("random", dtype.char), source, name), (n,), [out.data, np.int64(n), *_seeds(ctx), *extra])
    return out


def _uniform(ctx: KernelContext, lo: float, hi: float) -> Any:
    dtype = np.dtype(ctx.out_dtypes[0].np)
    work = np.float64 if dtype == np.float64 else np.float32
    limit = dtype.type(hi)
    if limit >= hi:
        limit = np.nextafter(limit, dtype.type(-np.inf))
    return _launch(ctx, "rng_uniform", [work(lo), work(hi), work(limit)])


@KERNELS.kernel("RandomUniform")
def random_uniform(ctx: KernelContext) -> Any:
    return _uniform(ctx, float(ctx.attrs["minval"]), float(ctx.attrs["maxval"]))


@KERNELS.kernel("RandomUniformLike")
def random_uniform_like(ctx: KernelContext, like: Any) -> Any:
    # The same values as RandomUniform over [0, 1) for this shape, dtype and seeds.
    return _uniform(ctx, 0.0, 1.0)


@KERNELS.kernel("RandomUniformInt")
def random_uniform_int(ctx: KernelContext) -> Any:
    lo, hi = int(ctx.attrs["minval"]), int(ctx.attrs["maxval"])
    return _launch(ctx, "rng_int", [np.int64(lo), np.uint64((hi - lo) & _MASK)])


@KERNELS.kernel("RandomStandardNormal")
def random_standard_normal(ctx: KernelContext) -> Any:
    return _launch(ctx, "rng_normal", [])


@KERNELS.kernel("TruncatedNormal")
def truncated_normal(ctx: KernelContext) -> Any:
    return _launch(ctx, "rng_truncated", [])
