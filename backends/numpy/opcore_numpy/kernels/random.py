"""NumPy kernels: random family.

Every kernel builds a fresh counter-based generator, ``Philox`` keyed by the op's
two seeds, so the values depend only on (seed, seed2, shape, dtype): the same
node gives the same values on every call and in every process.
"""

from __future__ import annotations

import numpy as np

from opcore.registry import KernelContext, KernelTable

KERNELS = KernelTable()

_MASK = (1 << 64) - 1
#: Truncated normal re-draws values beyond this many standard deviations.
_TRUNCATE_AT = 2.0


def _generator(seed: int, seed2: int) -> np.random.Generator:
    key = np.array([seed & _MASK, seed2 & _MASK], dtype=np.uint64)
    return np.random.Generator(np.random.Philox(key=key))


def _draw_dtype(dtype: np.dtype) -> type[np.floating]:
    """Draw in the target precision (float64 only for float64 outputs): no float64
    temporary twice the size of a float32 result."""
    return np.float64 if dtype == np.float64 else np.float32


def _uniform(ctx: KernelContext, shape: tuple[int, ...], dtype: np.dtype, lo: float, hi: float) -> np.ndarray:
    gen = _generator(ctx.attrs["seed"], ctx.attrs["seed2"])
    work = _draw_dtype(dtype)
    if abs(float(hi) - float(lo)) > float(np.finfo(work).max):  # a range wider than float32 holds
        work = np.float64
    u = np.asarray(gen.random(shape, dtype=work))
    u *= work(hi) - work(lo)
    u += work(lo)
    out = u.astype(dtype, copy=False)
    # Rounding to a narrow dtype can land on maxval: clip to the largest value below it.
    limit = dtype.type(hi)
    if limit >= hi:
        limit = np.nextafter(limit, dtype.type(-np.inf))
    return np.minimum(out, limit, out=out)


@KERNELS.kernel("RandomUniform")
def random_uniform(ctx: KernelContext) -> np.ndarray:
    return _uniform(ctx, ctx.out_shapes[0], ctx.out_dtypes[0].np, ctx.attrs["minval"], ctx.attrs["maxval"])


@KERNELS.kernel("RandomUniformLike")
def random_uniform_like(ctx: KernelContext, like: np.ndarray) -> np.ndarray:
    return _uniform(ctx, ctx.out_shapes[0], ctx.out_dtypes[0].np, 0.0, 1.0)


@KERNELS.kernel("RandomUniformInt")
def random_uniform_int(ctx: KernelContext) -> np.ndarray:
    gen = _generator(ctx.attrs["seed"], ctx.attrs["seed2"])
    dtype = ctx.out_dtypes[0].np
    return np.asarray(gen.integers(ctx.attrs["minval"], ctx.attrs["maxval"], size=ctx.out_shapes[0], dtype=dtype))


@KERNELS.kernel("RandomStandardNormal")
def random_standard_normal(ctx: KernelContext) -> np.ndarray:
    gen = _generator(ctx.attrs["seed"], ctx.attrs["seed2"])
    dtype = ctx.out_dtypes[0].np
    return np.asarray(gen.standard_normal(ctx.out_shapes[0], dtype=_draw_dtype(dtype))).astype(dtype, copy=False)


@KERNELS.kernel("TruncatedNormal")
def truncated_normal(ctx: KernelContext) -> np.ndarray:
    gen = _generator(ctx.attrs["seed"], ctx.attrs["seed2"])
    dtype = ctx.out_dtypes[0].np
    work = _draw_dtype(dtype)
    out = np.asarray(gen.standard_normal(ctx.out_shapes[0], dtype=work))
    bad = np.abs(out) > _TRUNCATE_AT
    # About 4.6% of draws are re-drawn per round, so this loop ends after a few rounds.
    while bad.any():
        out[bad] = gen.standard_normal(int(bad.sum()), dtype=work)
        bad = np.abs(out) > _TRUNCATE_AT
    return out.astype(dtype, copy=False)
