"""Device kernels: selecting elements by value (Where, BooleanMask, BooleanMaskGrad, Unique, ListDiff).

Everything runs on the device with the compaction and sort of
:mod:`._compact`; the host reads one 8-byte count per op, the size of the
value-dependent output, because a device array cannot be allocated before its
size is known on the host (see :mod:`._compact`).

- Where: compaction of ``condition != 0``; emit writes the coordinates.
- BooleanMask: compaction of the mask writes the kept positions, then a gather
  kernel copies the slices (tensor seen as [outer, mask elements, inner]).
- BooleanMaskGrad: compaction writes each mask element's rank among the true
  ones (-1 where false; the total is dy's masked dimension, so nothing is read
  back), then each output element takes its dy element or zero.
- Unique: a sort of (value, index) pairs puts equal values together, first
  occurrence first; marking where runs start and compacting those marks in
  sorted order numbers the runs and finds each run's first occurrence; a
  second compaction, of "is a first occurrence" in input order, writes y in
  order of first occurrence; a last kernel writes idx.
- ListDiff: y is sorted; each element of x binary-searches it, and compaction
  keeps the elements not found.

Values are compared with ``==``, as TensorFlow does: -0.0 equals 0.0 and a NaN
equals nothing (so every NaN is its own unique value and never found in y).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from opcore.registry import KernelContext, KernelTable
from opcore_ckernels.kernels._compact import Compaction, data, sort_pairs
from opcore_ckernels.source import ctype

KERNELS = KernelTable()


def _size(shape: Any) -> int:
    return int(np.prod(tuple(shape), dtype=np.int64))


def _dims_buffer(rt: Any, shape: tuple[int, ...]) -> Any:
    return rt.cached(("selection-dims", shape), lambda: np.array(shape or (1,), np.int64))


# --------------------------------------------------------------------------- Where


@KERNELS.kernel("Where")
def where(ctx: KernelContext, condition: Any) -> Any:
    rt = ctx.backend.runtime
    shape = tuple(condition.shape)
    rank = len(shape)
    t = ctype(condition.dtype)
    # Coordinates of element i, last dimension fastest (row-major), written to row p.
    emit = (
        "if (keep) {\n"
        "      long r = i;\n"
        f"      for (long d = {rank - 1}; d >= 0; --d) {{ out[p * {rank} + d] = r % dims[d]; r /= dims[d]; }}\n"
        "      ++p;\n    }"
    )
    compact = Compaction(
        rt,
        ("Where", t, rank),
        params=f"__global const {t}* x, __global const long* dims",
        flag="x[i] != 0",
        emit=emit,
        outputs="__global long* out",
    )
    n = _size(shape)
    if n == 0:
        return rt.empty((0, rank), np.int64)
    made: list[Any] = []

    def outputs(total: int) -> list[Any]:
        made.append(rt.empty((total, rank), np.int64))
        return [data(rt, made[0])]

    compact.run(n, [condition.data, _dims_buffer(rt, shape).data], outputs)
    return made[0]


# --------------------------------------------------------------------------- BooleanMask / BooleanMaskGrad


def _mask_split(shape: tuple[int, ...], mask_shape: tuple[int, ...], axis: int) -> tuple[int, int]:
    """(mask elements, inner) of a tensor of ``shape`` masked from ``axis``: it is [outer, mask elements, inner]."""
    ax = axis % len(shape)
    return _size(mask_shape), _size(shape[ax + len(mask_shape) :])


# The tensor is [outer, m, inner]: BooleanMask's output row (o, j) is row (o, pos[j]) of it, and
# BooleanMaskGrad's output row (o, d) is row (o, rank[d]) of dy, or zeros. Short rows are copied
# by one work-item each (one division per row); long rows get one work-item per element, so
# neighbouring work-items touch neighbouring elements.
_MASK_GATHER = """
__kernel void mask_gather_rows(__global T* out, __global const T* x, __global const long* pos, const long m,
                               const long kept, const long inner, const long rows) {
  const long r = get_global_id(0); if (r >= rows) return;
  const long o = r / kept, j = r - o * kept;
  __global const T* src = x + (o * m + pos[j]) * inner;
  __global T* dst = out + r * inner;
  for (long i = 0; i < inner; ++i) dst[i] = src[i];
}
__kernel void mask_gather_elements(__global T* out, __global const T* x, __global const long* pos, const long m,
                                   const long kept, const long inner, const long n) {
  const long g = get_global_id(0); if (g >= n) return;
  const long r = g / inner, i = g - r * inner;
  const long o = r / kept, j = r - o * kept;
  out[g] = x[(o * m + pos[j]) * inner + i];
}
__kernel void mask_scatter_rows(__global T* out, __global const T* dy, __global const long* rank, const long m,
                                const long kept, const long inner, const long rows) {
  const long r = get_global_id(0); if (r >= rows) return;
  const long o = r / m, d = r - o * m;
  const long k = rank[d];
  __global T* dst = out + r * inner;
  if (k < 0) {
    for (long i = 0; i < inner; ++i) dst[i] = (T)0;
  } else {
    __global const T* src = dy + (o * kept + k) * inner;
    for (long i = 0; i < inner; ++i) dst[i] = src[i];
  }
}
__kernel void mask_scatter_elements(__global T* out, __global const T* dy, __global const long* rank, const long m,
                                    const long kept, const long inner, const long n) {
  const long g = get_global_id(0); if (g >= n) return;
  const long r = g / inner, i = g - r * inner;
  const long o = r / m, d = r - o * m;
  const long k = rank[d];
  out[g] = k >= 0 ? dy[(o * kept + k) * inner + i] : (T)0;
}
"""

#: Rows up to this many elements are copied by one work-item each.
ROW_COPY = 16


def _launch_rows(rt: Any, dtype: Any, name: str, args: list[Any], rows: int, inner: int) -> None:
    """Run ``mask_gather`` or ``mask_scatter`` over ``rows`` rows of ``inner`` elements."""
    t = ctype(dtype)

    def source() -> str:
        return f"#define T {t}\n" + _MASK_GATHER

    by_rows = rt.kernel(("mask_gather", t), source, f"{name}_rows")
    by_elements = rt.kernel(("mask_gather", t), source, f"{name}_elements")
    if rows * inner == 0:
        return
    if inner <= ROW_COPY:
        rt.launch(by_rows, (rows,), [*args, np.int64(rows)])
    else:
        rt.launch(by_elements, (rows * inner,), [*args, np.int64(rows * inner)])


@KERNELS.kernel("BooleanMask")
def boolean_mask(ctx: KernelContext, tensor: Any, mask: Any) -> Any:
    rt = ctx.backend.runtime
    shape = tuple(tensor.shape)
    ax = ctx.attrs["axis"] % len(shape)
    m, inner = _mask_split(shape, tuple(mask.shape), ax)
    compact = Compaction(
        rt,
        ("BooleanMask",),
        params="__global const uchar* mask",
        flag="mask[i] != 0",
        emit="if (keep) { pos[p] = i; ++p; }",
        outputs="__global long* pos",
    )
    made: list[Any] = []

    def outputs(total: int) -> list[Any]:
        made.append(rt.empty((total,), np.int64))
        return [data(rt, made[0])]

    kept = compact.run(m, [mask.data], outputs) if m else 0
    out_shape = (*shape[:ax], kept, *shape[ax + len(mask.shape) :])
    out = rt.empty(out_shape, tensor.dtype)
    args = [data(rt, out), data(rt, tensor), data(rt, made[0]) if made else None, np.int64(m), np.int64(kept),
            np.int64(inner)]  # fmt: skip
    _launch_rows(rt, tensor.dtype, "mask_gather", args, out.size // inner if inner else 0, inner)
    return out


@KERNELS.kernel("BooleanMaskGrad")
def boolean_mask_grad(ctx: KernelContext, dy: Any, mask: Any, like: Any) -> Any:
    rt = ctx.backend.runtime
    shape = tuple(like.shape)
    ax = ctx.attrs["axis"] % len(shape)
    m, inner = _mask_split(shape, tuple(mask.shape), ax)
    kept = int(dy.shape[ax])  # the number of true elements: dy's masked dimension (no read-back)
    compact = Compaction(
        rt,
        ("BooleanMaskGrad",),
        params="__global const uchar* mask",
        flag="mask[i] != 0",
        emit="rank[i] = keep ? p : -1; p += keep;",
        outputs="__global long* rank",
    )
    out = rt.empty(shape, dy.dtype)
    if out.size == 0:
        _launch_rows(rt, dy.dtype, "mask_scatter", [], 0, inner)  # (builds the kernels)
        return out
    rank = rt.empty((m,), np.int64)
    compact.run(m, [mask.data], lambda total: [rank.data], total=kept)
    args = [out.data, data(rt, dy), rank.data, np.int64(m), np.int64(kept), np.int64(inner)]
    _launch_rows(rt, dy.dtype, "mask_scatter", args, out.size // inner, inner)
    return out


# --------------------------------------------------------------------------- Unique

_UNIQUE = """
/* sorted position k starts a run of equal values? Mark it there and at the element's input position. */
__kernel void unique_marks(__global uchar* starts, __global uchar* first, __global const T* keys,
                           __global const long* index, const long n) {
  const long k = get_global_id(0); if (k >= n) return;
  const uchar s = (k == 0 || !(keys[k] == keys[k - 1])) ? 1 : 0;
  starts[k] = s;
  first[index[k]] = s;
}
/* idx of input element index[k]: the position in y of its run's first occurrence. */
__kernel void unique_idx(__global I* idx, __global const long* index, __global const long* run,
                         __global const long* head, __global const long* ypos, const long n) {
  const long k = get_global_id(0); if (k >= n) return;
  idx[index[k]] = (I)ypos[head[run[k]]];
}
"""


@KERNELS.kernel("Unique")
def unique(ctx: KernelContext, x: Any) -> tuple[Any, Any]:
    rt = ctx.backend.runtime
    t, i_t = ctype(x.dtype), ctype(ctx.out_dtypes[1].np)
    n = int(x.shape[0])

    def source() -> str:
        return f"#define T {t}\n#define I {i_t}\n" + _UNIQUE

    marks = rt.kernel(("unique", t, i_t), source, "unique_marks")
    write_idx = rt.kernel(("unique", t, i_t), source, "unique_idx")
    # In sorted order: number the runs, and note each run's first occurrence (head[run] = its input index).
    runs = Compaction(
        rt,
        ("unique-runs",),
        params="__global const uchar* starts, __global const long* index",
        flag="starts[i] != 0",
        emit="if (keep) { head[p] = index[i]; ++p; } run[i] = p - 1;",
        outputs="__global long* head, __global long* run",
    )
    # In input order: the first occurrences, compacted, are y; ypos[i] is the y position of each.
    firsts = Compaction(
        rt,
        ("unique-firsts", t),
        params=f"__global const uchar* first, __global const {t}* x",
        flag="first[i] != 0",
        emit="if (keep) { y[p] = x[i]; ypos[i] = p; ++p; }",
        outputs=f"__global {t}* y, __global long* ypos",
    )
    idx = rt.empty((n,), ctx.out_dtypes[1].np)
    if n == 0:
        return rt.empty((0,), x.dtype), idx
    keys, index, _ = sort_pairs(ctx, x)
    starts = rt.empty((n,), np.uint8)
    first = rt.empty((n,), np.uint8)
    rt.launch(marks, (n,), [starts.data, first.data, keys.data, index.data, np.int64(n)])
    run = rt.empty((n,), np.int64)
    heads: list[Any] = []

    def run_outputs(total: int) -> list[Any]:
        heads.append(rt.empty((max(total, 1),), np.int64))
        return [heads[0].data, run.data]

    count = runs.run(n, [starts.data, index.data], run_outputs)
    y = rt.empty((count,), x.dtype)
    ypos = rt.empty((n,), np.int64)
    firsts.run(n, [first.data, x.data], lambda total: [data(rt, y), ypos.data], total=count)
    rt.launch(write_idx, (n,), [idx.data, index.data, run.data, heads[0].data, ypos.data, np.int64(n)])
    return y, idx


# --------------------------------------------------------------------------- ListDiff

_FOUND = """
/* Is v in the sorted ys[0..m)? (NaNs sort last and equal nothing.) */
int found(const T v, __global const T* ys, const long m) {
  long lo = 0, hi = m;
  while (lo < hi) {
    const long mid = lo + (hi - lo) / 2;
    if (ys[mid] < v) lo = mid + 1; else hi = mid;
  }
  return lo < m && ys[lo] == v;
}
"""


@KERNELS.kernel("ListDiff")
def list_diff(ctx: KernelContext, x: Any, y: Any) -> tuple[Any, Any]:
    rt = ctx.backend.runtime
    t, i_t = ctype(x.dtype), ctype(ctx.out_dtypes[1].np)
    compact = Compaction(
        rt,
        ("ListDiff", t, i_t),
        params=f"__global const {t}* x, __global const {t}* ys, const long m",
        flag="!found(x[i], ys, m)",
        emit="if (keep) { out[p] = x[i]; idx[p] = (I)i; ++p; }",
        outputs=f"__global {t}* out, __global {i_t}* idx",
        helpers=f"#define T {t}\n#define I {i_t}\n" + _FOUND,
    )
    n, m = int(x.shape[0]), int(y.shape[0])
    if n == 0:
        return rt.empty((0,), x.dtype), rt.empty((0,), ctx.out_dtypes[1].np)
    keys, _, _ = sort_pairs(ctx, y)
    made: list[Any] = []

    def outputs(total: int) -> list[Any]:
        made.extend([rt.empty((total,), x.dtype), rt.empty((total,), ctx.out_dtypes[1].np)])
        return [data(rt, made[0]), data(rt, made[1])]

    compact.run(n, [x.data, data(rt, keys), np.int64(m)], outputs)
    return made[0], made[1]
