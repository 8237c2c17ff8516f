"""The reduce family's folds over adjacent axes (used by :mod:`.reduce` and the nn family's sums).

When the reduced axes are adjacent (the common case: a full reduction, the
last axes, the leading axes), ``x`` is seen as (outer, width, inner) and the
kernels address it directly, with no maps:

- inner == 1 (rows are contiguous): one work-group per row (or per chunk of a
  long row), its work-items striding through the row together and combining
  their results with a tree reduction in local memory;
- inner > 1: a 2-D range of work-items (i, o), each folding column i of slab o,
  so neighbouring work-items read neighbouring elements.

When there are few outputs and many elements each (a full sum), the fold runs
in stages: each work-group (or work-item) folds one chunk of a row into a
partial result, and the partial results (now contiguous rows) are folded the
same way until a row is short; partials keep the accumulator type, so nothing
is rounded early. :func:`sum_adjacent` is the float sum (of squares) the nn
family's BiasAddGrad and L2Loss use.

On a CPU device, long contiguous rows are folded as columns instead: a row
of ``width`` elements is seen as (width / lanes, lanes), the columns folded
as above, then the ``lanes`` column results folded as a short row. A CPU's
OpenCL compiler turns work-items into vector lanes, and a work-group striding
through a row reads memory at well under its bandwidth: on Intel's CPU
runtime a 16M-element sum took 3.7 ms as rows, 1.25 ms as 64 columns (the
NumPy backend: 1.1 ms), while ``x * 2`` over the same array took 3.3 ms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from opcore_ckernels.kernels._common import group_size, launch_rows, row_group_size
from opcore_ckernels.source import ctype

#: Contiguous layouts: split rows into chunks while there are fewer than this many outputs (work-groups for
#: rows, work-items for columns) and the rows are longer than ``SPLIT_WIDTH``.
ROW_GROUPS = 256
COLUMN_ITEMS = 16384
SPLIT_WIDTH = 4096
#: Columns are split into chunks of at least this many rows (fewer than ``COLUMN_ITEMS`` columns would
#: otherwise leave most cores idle: (4096, 1024) summed over axis 0 made one work-group of 1024
#: work-items, one core, 6x the NumPy backend's time on a 2-core CPU).
COLUMN_CHUNK = 64
#: ... and into enough chunks that about this many work-items run.
COLUMN_TASKS = 262144
#: The first pass over the input cuts its columns into chunks of about this many bytes of rows (at least
#: ``COLUMN_FIRST`` rows, at most ``COLUMN_CHUNK``): a work-item walking down a column reads rows a row's
#: length apart, and 64 rows of 4 KB (the (4096, 1024) sum) defeat a CPU's prefetchers and cache sets
#: (1.5x the NumPy backend's time on Intel's CPU runtime, 1.0x with chunks of 16 rows, 64 KB).
COLUMN_BLOCK = 64 << 10
COLUMN_FIRST = 16
#: On a CPU device, contiguous rows of at least this many elements are folded as (width / lanes, lanes)
#: columns, with ``lanes`` the first of ``CPU_LANES`` that divides the width (see the module doc).
CPU_COLUMNS_FROM = 1 << 18
CPU_LANES = (64, 32, 16)
#: Later passes (over partial results) fold columns of up to this many rows in one pass.
COLUMN_LAST = 512


# The contiguous layouts (the module doc). COMB(a, b) is COMBINE as an expression; LOAD(v) reads an element
# into the accumulator type (L2Loss squares it there).
_FOLD_RUNS = """
#define MAX_OF(a, b) (((b) > (a) || ISNAN(b)) ? (b) : (a))
#define MIN_OF(a, b) (((b) < (a) || ISNAN(b)) ? (b) : (a))
/* Output g = (row, chunk c) folds elements [c * chunk, min(width, (c + 1) * chunk)) of contiguous row ``row``. */
__kernel void fold_rows(__global OUT* out, __global const SRC* src, const long width, const long chunk,
                        const long nchunks, const long count) {
  __local ACC buf[GROUP];
  const int lid = get_local_id(0), lsize = get_local_size(0);
  const long g = get_group_id(0);
  const long row = g / nchunks, lo = (g - row * nchunks) * chunk;
  const long hi = min(width, lo + chunk);
  __global const SRC* x = src + row * width;
  /* four independent accumulators: a single one would wait for each add to finish */
  ACC a0 = (ACC)(INIT), a1 = a0, a2 = a0, a3 = a0;
  long r = lo + lid;
  for (; r + 3 * lsize < hi; r += 4 * lsize) {
    a0 = COMB(a0, LOAD(x[r])); a1 = COMB(a1, LOAD(x[r + lsize]));
    a2 = COMB(a2, LOAD(x[r + 2 * lsize])); a3 = COMB(a3, LOAD(x[r + 3 * lsize]));
  }
  for (; r < hi; r += lsize) a0 = COMB(a0, LOAD(x[r]));
  ACC acc = COMB(COMB(a0, a1), COMB(a2, a3));
  buf[lid] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = lsize >> 1; s > 0; s >>= 1) {
    if (lid < s) { const ACC a = buf[lid], b = buf[lid + s]; buf[lid] = COMB(a, b); }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lid == 0) { acc = buf[0]; FINISH }
}
/* x seen as (outer, width, inner): work-item (i, q), q = (o, chunk c), folds column i of slab o over
   [c * chunk, min(width, (c + 1) * chunk)) into output (q, i). */
__kernel void fold_columns(__global OUT* out, __global const SRC* src, const long width, const long inner,
                           const long chunk, const long nchunks, const long count, const long row0) {
  const long i = get_global_id(0); if (i >= inner) return;
  const long q = row0 + get_global_id(1);
  const long o = q / nchunks, lo = (q - o * nchunks) * chunk;
  const long hi = min(width, lo + chunk);
  __global const SRC* x = src + o * width * inner + i;
  ACC a0 = (ACC)(INIT), a1 = a0, a2 = a0, a3 = a0;
  long r = lo;
  for (; r + 3 < hi; r += 4) {
    a0 = COMB(a0, LOAD(x[r * inner])); a1 = COMB(a1, LOAD(x[(r + 1) * inner]));
    a2 = COMB(a2, LOAD(x[(r + 2) * inner])); a3 = COMB(a3, LOAD(x[(r + 3) * inner]));
  }
  for (; r < hi; ++r) a0 = COMB(a0, LOAD(x[r * inner]));
  ACC acc = COMB(COMB(a0, a1), COMB(a2, a3));
  const long g = q * inner + i;
  FINISH
}
"""


_NP = {
    "float": np.float32,
    "double": np.float64,
    "long": np.int64,
    "ulong": np.uint64,
    "uint": np.uint32,
    "int": np.int32,
    "short": np.int16,
    "char": np.int8,
    "uchar": np.uint8,
}


def _size(shape: Sequence[int]) -> int:
    return math.prod(int(d) for d in shape)


def _dummy(ctx: Any) -> Any:
    return ctx.backend.runtime.cached(("dummy-long",), lambda: np.zeros(1, np.int64))


def _adjacent(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, int, int] | None:
    """(outer, width, inner) when ``axes`` are adjacent (after dropping axes of length 1), else None."""
    kept = [a for a in axes if shape[a] != 1]
    if kept and kept != list(range(kept[0], kept[-1] + 1)):
        return None
    if not kept:  # only length-1 axes: rows of one element
        return _size(shape), 1, 1
    return _size(shape[: kept[0]]), _size([shape[a] for a in kept]), _size(shape[kept[-1] + 1 :])


def _chunks(width: int, outputs: int, enough: int, split: int = SPLIT_WIDTH, least: int = SPLIT_WIDTH // 4) -> int:
    """How many chunks to cut rows of ``width`` into so that ``outputs`` outputs make about ``enough`` tasks.

    Rows of at most ``split`` elements are not cut; a chunk keeps at least ``least`` elements.
    """
    if width <= split or outputs >= enough:
        return 1
    return int(min(-(-width // least), -(-enough // outputs)))


_COMB = {
    "sum": "((a) + (b))",
    "mean": "((a) + (b))",
    "prod": "((a) * (b))",
    "max": "MAX_OF(a, b)",
    "min": "MIN_OF(a, b)",
}


def _reduce_adjacent(ctx: Any, x: Any, kind: str, out: Any, layout: tuple[int, int, int], defines: dict[str, str],
                     acc: str, finish: str, count: int, square: bool = False) -> None:  # fmt: skip
    """Reduce ``x`` seen as (outer, width, inner) over its middle axis into ``out`` (the module doc).

    ``square`` folds the squares of the elements (L2Loss).
    """
    rt = ctx.backend.runtime
    outer, width, inner = layout
    if inner == 1 and width >= CPU_COLUMNS_FROM and getattr(rt, "cpu", False):
        lanes = next((n for n in CPU_LANES if width % n == 0), 0)
        if lanes:
            partial = rt.empty((outer * lanes,), np.dtype(_NP[acc]))
            _reduce_adjacent(ctx, x, kind, partial, (outer, width // lanes, lanes), defines, acc, "out[g] = acc;",
                             count, square)  # fmt: skip
            _reduce_adjacent(ctx, partial, kind, out, (outer, lanes, 1), defines, acc, finish, count)
            return
    group = group_size(rt)
    dt = np.dtype(x.dtype)

    def kernel(name: str, src_t: str, out_t: str, fin: str, load: str) -> Any:
        def source() -> str:
            types = {**defines, "SRC": src_t, "OUT": out_t, "FINISH": fin, "GROUP": str(group), "LOAD(v)": load}
            types["COMB(a, b)"] = _COMB[kind]
            return "".join(f"#define {k} {v}\n" for k, v in types.items()) + _FOLD_RUNS

        return rt.kernel(("fold_runs", kind, dt.char, src_t, out_t, fin, load, group), source, name)

    src, src_t = x, ctype(dt)
    load = "((ACC)(v) * (ACC)(v))" if square else "((ACC)(v))"
    while True:
        if inner == 1:
            nchunks = _chunks(width, outer, ROW_GROUPS)
        elif src is x:
            least = max(COLUMN_FIRST, min(COLUMN_CHUNK, COLUMN_BLOCK // max(1, inner * dt.itemsize)))
            nchunks = _chunks(width, outer * inner, COLUMN_TASKS, 2 * least, least)
        else:
            nchunks = _chunks(width, outer * inner, COLUMN_TASKS, COLUMN_LAST, COLUMN_CHUNK)
        chunk = -(-width // nchunks) if width else 1
        nchunks = -(-width // chunk) if width else 1
        last = nchunks == 1
        dest = out if last else rt.empty((outer * nchunks * inner,), np.dtype(_NP[acc]))
        out_t = ctype(out.dtype) if last else acc
        fin = finish if last else "out[g] = acc;"
        sizes = [np.int64(width), np.int64(chunk), np.int64(nchunks), np.int64(count)]
        src_buf = src.data if src.size else _dummy(ctx).data
        if inner == 1:
            local = row_group_size(rt, chunk)
            k = kernel("fold_rows", src_t, out_t, fin, load)
            rt.launch(k, (outer * nchunks * local,), [dest.data, src_buf, *sizes], local_size=(local,))
        else:
            k = kernel("fold_columns", src_t, out_t, fin, load)
            args = [dest.data, src_buf, np.int64(width), np.int64(inner), *sizes[1:]]
            launch_rows(rt, k, inner, outer * nchunks, args)
        if last:
            return
        src, src_t, width, load = dest, acc, nchunks, "((ACC)(v))"  # partial results are already squared


def sum_adjacent(ctx: Any, x: Any, out: Any, layout: tuple[int, int, int], square: bool = False,
                 scale: float = 1.0) -> None:  # fmt: skip
    """``out = scale * sum`` of the (squared) elements of float ``x`` seen as (outer, width, inner), over width.

    For the nn family's BiasAddGrad and L2Loss; float16 accumulates in float32.
    """
    t = ctype(x.dtype)
    acc = "float" if t == "half" else t
    defines = {"ACC": acc, "INIT": "0", "ISNAN(v)": "isnan(v)"}
    finish = "out[g] = (OUT)acc;" if scale == 1.0 else f"out[g] = (OUT)(acc * (ACC){float(scale)!r});"
    _reduce_adjacent(ctx, x, "sum", out, layout, defines, acc, finish, 0, square)
