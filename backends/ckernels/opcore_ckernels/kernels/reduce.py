"""OpenCL kernels: reduce family (Sum, Mean, Max, Min, Prod, ArgMax, ArgMin, UnreduceLike).

A reduction of ``x`` over some axes is "output k folds ``x[base[k] + roff[r]]``
for r < width": ``base`` holds the offsets of the kept axes, ``roff`` those of
the reduced axes. Both maps come from the shape and the axes only (cached on
the device, ``nout + width`` entries rather than one per input element).

When the reduced axes are adjacent (the common case: a full reduction, the
last axes, the leading axes), ``x`` is seen as (outer, width, inner) and the
kernels address it directly, with no maps: contiguous rows (inner == 1) get
one work-group per row, their work-items combining results in local memory;
columns (inner > 1) get one work-item each. The folds for these layouts are
in :mod:`._fold`; ArgMax and ArgMin have their own kernels for them here.

Other axis sets use the maps: one work-item folds one output when there are
many outputs. In both layouts, when there are few outputs and many elements
each (a full sum), the reduction runs in stages: each work-item (or
work-group) folds one chunk of a row into a partial result, and the partial
results (now contiguous rows) are folded the same way until a row is short;
partials keep the accumulator type, so nothing is rounded early.

Numerics follow the NumPy backend: float16 accumulates in float32; integer
sums and products wrap (computed in unsigned arithmetic, where C defines
wrap-around); an integer mean is the int64 sum divided by the count,
truncated toward zero (0 when empty); a float mean of nothing is NaN; max and
min propagate NaN and give the lowest/highest value when empty; ArgMax and
ArgMin return the first occurrence, reading NaN as -inf (ArgMax) or +inf
(ArgMin), so a NaN is never picked over a number (TensorFlow's rule; the
op's doc says more).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from opcore.registry import KernelTable
from opcore_ckernels.kernels._common import group_size, launch_rows, row_group_size
from opcore_ckernels.kernels._fold import (
    _NP,
    COLUMN_ITEMS,
    ROW_GROUPS,
    SPLIT_WIDTH,
    _adjacent,
    _dummy,
    _reduce_adjacent,
    _size,
)
from opcore_ckernels.kernels._gather import gather, index_map
from opcore_ckernels.source import ctype

KERNELS = KernelTable()

#: Fold rows serially when they are this short, or when there are this many outputs.
SHORT_ROW = 512
MANY_OUTPUTS = 8192
#: Target number of work-items of a staged (split-row) pass.
PARALLELISM = 16384

_UNSIGNED = {"char": "uint", "short": "uint", "int": "uint", "long": "ulong", "uchar": "uint"}

_INIT = {"sum": "0", "mean": "0", "prod": "1", "max": "LOWEST", "min": "HIGHEST"}
_COMBINE = {
    "sum": "acc += v;",
    "mean": "acc += v;",
    "prod": "acc *= v;",
    "max": "acc = (v > acc || ISNAN(v)) ? v : acc;",
    "min": "acc = (v < acc || ISNAN(v)) ? v : acc;",
}

_FOLD = """
__kernel void fold(__global OUT* out, __global const SRC* src, __global const long* base,
                   __global const long* roff, const long width, const long chunk, const long nchunks,
                   const long count, const long n) {
  const long g = get_global_id(0); if (g >= n) return;
  const long k = g / nchunks;
  const long lo = (g % nchunks) * chunk;
  const long hi = min(width, lo + chunk);
  const long b = base[k];
  ACC acc = (ACC)(INIT);
  for (long r = lo; r < hi; ++r) {
    const ACC v = (ACC)src[b + roff[r]];
    COMBINE
  }
  FINISH
}
"""

_ARG = """
__kernel void arg(__global OUTI* out_idx, __global SRC* out_val, __global const SRC* src,
                  __global const long* src_idx, const int has_idx, __global const long* base,
                  __global const long* roff, const long width, const long chunk, const long nchunks, const long n) {
  const long g = get_global_id(0); if (g >= n) return;
  const long k = g / nchunks;
  const long lo = (g % nchunks) * chunk;
  const long hi = min(width, lo + chunk);
  const long b = base[k];
  SRC best = KEY(src[b + roff[lo]]);
  long at = has_idx ? src_idx[b + roff[lo]] : lo;
  for (long r = lo + 1; r < hi; ++r) {
    const SRC v = KEY(src[b + roff[r]]);
    if (BETTER) { best = v; at = has_idx ? src_idx[b + roff[r]] : r; }
  }
  out_idx[g] = (OUTI)at;
  out_val[g] = best;
}
"""


_ARG_RUNS = """
/* Does (v, j) beat (best, at)? Better value, or the same value at an earlier position. */
#define WINS(v, j, best, at) ((v) BETTER_THAN (best) || ((v) == (best) && (j) < (at)))
/* Contiguous rows of ``width``: one work-group per row, (value, position) pairs combined in a tree. */
__kernel void arg_rows(__global OUTI* out, __global const SRC* src, const long width) {
  __local SRC bv[GROUP];
  __local long bi[GROUP];
  const int lid = get_local_id(0), lsize = get_local_size(0);
  const long row = get_group_id(0);
  __global const SRC* x = src + row * width;
  SRC best = KEY(x[0]);
  long at = 0;
  for (long r = lid; r < width; r += lsize) {  /* r grows: a tie never wins here, only in the tree */
    const SRC v = KEY(x[r]);
    if (v BETTER_THAN best) { best = v; at = r; }
  }
  bv[lid] = best; bi[lid] = at;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = lsize >> 1; s > 0; s >>= 1) {
    if (lid < s && WINS(bv[lid + s], bi[lid + s], bv[lid], bi[lid])) { bv[lid] = bv[lid + s]; bi[lid] = bi[lid + s]; }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lid == 0) out[row] = (OUTI)bi[0];
}
/* x seen as (outer, width, inner): work-item (i, o) scans column i of slab o. */
__kernel void arg_columns(__global OUTI* out, __global const SRC* src, const long width, const long inner,
                          const long row0) {
  const long i = get_global_id(0); if (i >= inner) return;
  const long o = row0 + get_global_id(1);
  __global const SRC* x = src + o * width * inner + i;
  SRC best = KEY(x[0]);
  long at = 0;
  for (long r = 1; r < width; ++r) {
    const SRC v = KEY(x[r * inner]);
    if (v BETTER_THAN best) { best = v; at = r; }
  }
  out[o * inner + i] = (OUTI)at;
}
"""


def _offsets(dims: Sequence[int], strides: Sequence[int]) -> np.ndarray:
    """Flat element offsets of every index of ``dims`` (C order) with element ``strides``."""
    off = np.zeros((), np.int64)
    for d, s in zip(dims, strides):
        off = off[..., None] + np.arange(d, dtype=np.int64) * s
    return off.reshape(-1)


def _strides(shape: Sequence[int]) -> list[int]:
    out, acc = [0] * len(shape), 1
    for d in range(len(shape) - 1, -1, -1):
        out[d] = acc
        acc *= shape[d]
    return out


def _axes(axis: Any, rank: int) -> tuple[int, ...]:
    return tuple(range(rank)) if axis is None else tuple(sorted({a % rank for a in axis}))


def _maps(ctx: Any, shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[Any, Any, int, int]:
    """Device maps (base, roff), the number of outputs and the row width of reducing ``shape`` over ``axes``."""
    strides = _strides(shape)
    kept = [d for d in range(len(shape)) if d not in axes]
    nout = _size([shape[d] for d in kept])
    width = _size([shape[d] for d in axes])
    base = index_map(
        ctx, ("reduce-base", shape, axes), lambda: _offsets([shape[d] for d in kept], [strides[d] for d in kept])
    )
    roff = index_map(
        ctx, ("reduce-roff", shape, axes), lambda: _offsets([shape[d] for d in axes], [strides[d] for d in axes])
    )
    return base, roff, nout, width


def _rows(ctx: Any, nout: int, width: int) -> tuple[Any, Any]:
    """Maps of a contiguous (nout, width) array: base k*width, roff r."""
    base = index_map(ctx, ("rows-base", nout, width), lambda: np.arange(nout, dtype=np.int64) * width)
    roff = index_map(ctx, ("rows-roff", width), lambda: np.arange(width, dtype=np.int64))
    return base, roff


def _split(nout: int, width: int) -> int:
    """How many chunks to cut each row into (1: fold rows serially)."""
    if width <= SHORT_ROW or nout >= MANY_OUTPUTS:
        return 1
    return int(min(-(-width // (SHORT_ROW // 2)), max(2, -(-PARALLELISM // nout))))


def _limits(dt: np.dtype[Any]) -> tuple[str, str]:
    if dt.kind == "f":
        return "-INFINITY", "INFINITY"
    info = np.iinfo(dt)
    suffix = "L" if dt.itemsize == 8 else ""
    low = f"({info.min + 1}{suffix} - 1)" if info.min < 0 else "0"
    return low, f"{info.max}{suffix}"


def _reduce(ctx: Any, x: Any, kind: str) -> Any:
    rt = ctx.backend.runtime
    dt = np.dtype(x.dtype)
    out_dt = np.dtype(ctx.out_dtypes[0].np)
    out = rt.empty(ctx.out_shapes[0], out_dt)
    shape = tuple(x.shape)
    axes = _axes(ctx.attrs["axis"], len(shape))
    if out.size == 0:
        return out
    t = ctype(dt)
    if dt.kind == "f":
        acc = "float" if t == "half" else t
    elif kind == "mean":
        acc = "long"  # the NumPy backend sums integers in int64 for the mean
    elif kind in ("sum", "prod"):
        acc = _UNSIGNED.get(t, t)  # wrap-around is defined for unsigned types
    else:
        acc = t
    low, high = _limits(dt)
    defines = {
        "ACC": acc,
        "INIT": _INIT[kind],
        "COMBINE": _COMBINE[kind],
        "LOWEST": low,
        "HIGHEST": high,
        "ISNAN(v)": "isnan(v)" if dt.kind == "f" else "0",
    }

    def kernel(src_t: str, out_t: str, finish: str) -> Any:
        def source() -> str:
            types = {**defines, "SRC": src_t, "OUT": out_t, "FINISH": finish}
            return "".join(f"#define {k} {v}\n" for k, v in types.items()) + _FOLD

        return rt.kernel(("fold", kind, dt.char, src_t, out_t, finish), source, "fold")

    if kind == "mean" and dt.kind == "f":
        finish = "out[g] = (OUT)(count ? acc / (ACC)count : (ACC)NAN);"
    elif kind == "mean":
        finish = "out[g] = (OUT)(count ? acc / count : 0);"  # C division truncates toward zero
    else:
        finish = "out[g] = (OUT)acc;"
    count = _size([shape[a] for a in axes])
    layout = _adjacent(shape, axes)
    if layout is not None:
        _reduce_adjacent(ctx, x, kind, out, layout, defines, acc, finish, count)
        return out
    base, roff, nout, width = _maps(ctx, shape, axes)
    dummy = _dummy(ctx)
    src, src_t = x, t
    while (nchunks := _split(nout, width)) > 1:
        chunk = -(-width // nchunks)
        nchunks = -(-width // chunk)
        partial = rt.empty((nout * nchunks,), np.dtype(_NP[acc]))
        k = kernel(src_t, acc, "out[g] = acc;")
        args = [partial.data, src.data, base.data, roff.data, np.int64(width), np.int64(chunk), np.int64(nchunks)]
        rt.launch(k, (nout * nchunks,), [*args, np.int64(0), np.int64(nout * nchunks)])
        src, src_t, width = partial, acc, nchunks
        base, roff = _rows(ctx, nout, width)
    args = [
        out.data,
        src.data if src.size else dummy.data,
        base.data,
        roff.data if roff.size else dummy.data,
        np.int64(width),
        np.int64(max(width, 1)),
        np.int64(1),
        np.int64(count),
        np.int64(nout),
    ]
    rt.launch(kernel(src_t, ctype(out_dt), finish), (nout,), args)
    return out


@KERNELS.kernel("Sum")
def reduce_sum(ctx: Any, x: Any) -> Any:
    return _reduce(ctx, x, "sum")


@KERNELS.kernel("Mean")
def reduce_mean(ctx: Any, x: Any) -> Any:
    return _reduce(ctx, x, "mean")


@KERNELS.kernel("Prod")
def reduce_prod(ctx: Any, x: Any) -> Any:
    return _reduce(ctx, x, "prod")


@KERNELS.kernel("Max")
def reduce_max(ctx: Any, x: Any) -> Any:
    return _reduce(ctx, x, "max")


@KERNELS.kernel("Min")
def reduce_min(ctx: Any, x: Any) -> Any:
    return _reduce(ctx, x, "min")


def _arg_source(dt: np.dtype[Any], better: str, outi: str, group: int) -> str:
    # NaN reads as the worst value (-inf for ArgMax), so it is never picked over a number.
    t = ctype(dt)
    worst = "-INFINITY" if better == ">" else "INFINITY"
    defines = {
        "SRC": t,
        "OUTI": outi,
        "GROUP": str(group),
        "BETTER_THAN": better,
        "KEY(v)": f"(isnan(v) ? (SRC)({worst}) : (v))" if dt.kind == "f" else "(v)",
    }
    return "".join(f"#define {k} {v}\n" for k, v in defines.items()) + _ARG_RUNS


def _arg_adjacent(ctx: Any, x: Any, better: str, out: Any, outer: int, width: int, inner: int) -> None:
    """ArgMax/ArgMin of ``x`` seen as (outer, width, inner) over its middle axis, read in place."""
    rt = ctx.backend.runtime
    dt, outi, group = np.dtype(x.dtype), ctype(out.dtype), group_size(rt)
    key = ("arg_runs", better, dt.char, outi, group)
    if inner == 1:
        local = row_group_size(rt, width)
        kernel = rt.kernel(key, lambda: _arg_source(dt, better, outi, group), "arg_rows")
        rt.launch(kernel, (outer * local,), [out.data, x.data, np.int64(width)], local_size=(local,))
    else:
        kernel = rt.kernel(key, lambda: _arg_source(dt, better, outi, group), "arg_columns")
        launch_rows(rt, kernel, inner, outer, [out.data, x.data, np.int64(width), np.int64(inner)])


def _arg(ctx: Any, x: Any, better: str) -> Any:
    """Index of the first best element along ``axis`` (staged like the folds when rows are long)."""
    rt = ctx.backend.runtime
    dt = np.dtype(x.dtype)
    out_dt = np.dtype(ctx.out_dtypes[0].np)
    out = rt.empty(ctx.out_shapes[0], out_dt)
    shape = tuple(x.shape)
    axis = ctx.attrs["axis"] % len(shape)
    axes = (axis,)
    if out.size == 0:
        return out  # the shape function rejects an empty axis, so width >= 1 here
    t = ctype(dt)
    outer, width, inner = _size(shape[:axis]), shape[axis], _size(shape[axis + 1 :])
    # The contiguous layouts (the module doc), unless a few long rows need the staged passes to keep
    # enough work-items busy.
    few = (outer if inner == 1 else outer * inner) < (ROW_GROUPS if inner == 1 else COLUMN_ITEMS // 16)
    if not (few and width > 16 * SPLIT_WIDTH):
        _arg_adjacent(ctx, x, better, out, outer, width, inner)
        return out
    base, roff, nout, width = _maps(ctx, shape, axes)

    def kernel(outi: str) -> Any:
        # NaN reads as the worst value (-inf for ArgMax), so it is never picked over a number;
        # partial results of a staged pass hold values read that way.
        worst = "-INFINITY" if better == ">" else "INFINITY"
        defines = {
            "SRC": t,
            "OUTI": outi,
            "BETTER": f"(v {better} best)",
            "KEY(v)": f"(isnan(v) ? (SRC)({worst}) : (v))" if dt.kind == "f" else "(v)",
        }

        def source() -> str:
            return "".join(f"#define {k} {v}\n" for k, v in defines.items()) + _ARG

        return rt.kernel(("arg", better, dt.char, outi), source, "arg")

    dummy = _dummy(ctx)
    src, src_idx = x, None
    while (nchunks := _split(nout, width)) > 1:
        chunk = -(-width // nchunks)
        nchunks = -(-width // chunk)
        n = nout * nchunks
        part_idx, part_val = rt.empty((n,), np.int64), rt.empty((n,), dt)
        args = [
            part_idx.data,
            part_val.data,
            src.data,
            (dummy if src_idx is None else src_idx).data,
            np.int32(src_idx is not None),
        ]
        args += [base.data, roff.data, np.int64(width), np.int64(chunk), np.int64(nchunks), np.int64(n)]
        rt.launch(kernel("long"), (n,), args)
        src, src_idx, width = part_val, part_idx, nchunks
        base, roff = _rows(ctx, nout, width)
    vals = rt.empty((nout,), dt)
    args = [out.data, vals.data, src.data, (dummy if src_idx is None else src_idx).data, np.int32(src_idx is not None)]
    args += [base.data, roff.data, np.int64(width), np.int64(width), np.int64(1), np.int64(nout)]
    rt.launch(kernel(ctype(out_dt)), (nout,), args)
    return out


@KERNELS.kernel("ArgMax")
def argmax(ctx: Any, x: Any) -> Any:
    return _arg(ctx, x, ">")


@KERNELS.kernel("ArgMin")
def argmin(ctx: Any, x: Any) -> Any:
    return _arg(ctx, x, "<")


_UNREDUCE = """
/* out seen as (outer, width, inner) takes dy (outer, inner) along width: work-item (i, q), q = (o, r). */
__kernel void unreduce_columns(__global T* out, __global const T* dy, const long width, const long inner,
                               const long row0) {
  const long i = get_global_id(0); if (i >= inner) return;
  const long q = row0 + get_global_id(1);
  out[q * inner + i] = dy[(q / width) * inner + i];
}
/* inner == 1: work-item (r, o) writes element r of row o. */
__kernel void unreduce_rows(__global T* out, __global const T* dy, const long width, const long inner,
                            const long row0) {
  const long r = get_global_id(0); if (r >= width) return;
  const long o = row0 + get_global_id(1);
  out[o * width + r] = dy[o];
}
"""


@KERNELS.kernel("UnreduceLike")
def unreduce_like(ctx: Any, dy: Any, like: Any) -> Any:
    """Broadcast ``dy`` back over the reduced axes of ``like``: in place for adjacent axes, else by an index map."""
    rt = ctx.backend.runtime
    shape = tuple(ctx.out_shapes[0])
    axes = _axes(ctx.attrs["axis"], len(shape))
    if _size(shape) == 0:
        return rt.empty(shape, dy.dtype)
    layout = _adjacent(shape, axes)
    if layout is not None:
        outer, width, inner = layout
        out = rt.empty(shape, dy.dtype)
        t = ctype(dy.dtype)
        name = "unreduce_rows" if inner == 1 else "unreduce_columns"
        kernel = rt.kernel(("unreduce", t), lambda: f"#define T {t}\n" + _UNREDUCE, name)
        args = [out.data, dy.data, np.int64(width), np.int64(inner)]
        if inner == 1:
            launch_rows(rt, kernel, width, outer, args)
        else:
            launch_rows(rt, kernel, inner, outer * width, args)
        return out
    kept = tuple(1 if d in axes else n for d, n in enumerate(shape))

    def build() -> np.ndarray:
        return np.broadcast_to(np.arange(_size(kept), dtype=np.int64).reshape(kept), shape).reshape(-1)

    return gather(ctx, dy, index_map(ctx, ("UnreduceLike", shape, axes), build), shape)
