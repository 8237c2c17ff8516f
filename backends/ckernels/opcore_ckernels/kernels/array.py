"""OpenCL kernels: array family (reshaping, joining, slicing, gathering, filling).

Ops that only move elements get a host-built index map: the NumPy operation
applied to ``arange(size)`` of the input shape says which input element each
output element takes. The map depends on shapes and attributes only, so it is
built once per (op, shapes, attributes) and kept on the device; the gather,
scatter and gather-reduce kernels of :mod:`._gather` do the work.

GatherV2, GatherGrad and OneHot depend on index *values*, which stay on the
device: they have kernels of their own. GatherV2 and GatherGrad report an index
outside ``[0, dim)`` through an error flag (:mod:`opcore_ckernels.checks`), so
the call raises InvalidIndexError as on NumPy (in a session, at the end of the
run at the latest); the kernel itself never reads out of bounds. OneHot gives
off-value rows for such indices, as everywhere: that is its rule, not an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from opcore.registry import KernelTable
from opcore_ckernels.checks import REPORT, RangeCheck
from opcore_ckernels.kernels._common import launch_rows
from opcore_ckernels.kernels._compact import sort_bounded
from opcore_ckernels.kernels._elementwise import elementwise
from opcore_ckernels.kernels._gather import gather as _gather
from opcore_ckernels.kernels._gather import gather_reduce, index_map, scalar_of, scatter_into
from opcore_ckernels.source import ctype

KERNELS = KernelTable()


def _size(shape: Sequence[int]) -> int:
    return math.prod(int(d) for d in shape)


def _positions(shape: Sequence[int]) -> np.ndarray:
    """``arange`` laid out as ``shape``: the flat index of every element."""
    return np.arange(_size(shape), dtype=np.int64).reshape(tuple(shape))


def _copy(ctx: Any, x: Any, shape: Sequence[int]) -> Any:
    """A new device array holding ``x``'s elements (C order) with ``shape``."""
    return ctx.backend.runtime.copy(x, tuple(shape))


def _take(ctx: Any, x: Any, key: tuple[Any, ...], build: Any, shape: Sequence[int], fill: Any = 0) -> Any:
    """``gather`` through the cached map ``build()`` (keyed by ``key``)."""
    if _size(shape) == 0:
        return ctx.backend.runtime.empty(tuple(shape), x.dtype)
    return _gather(ctx, x, index_map(ctx, key, build), shape, fill)


# --------------------------------------------------------------------------- copies


@KERNELS.kernel("Reshape")
@KERNELS.kernel("ExpandDims")
@KERNELS.kernel("Squeeze")
@KERNELS.kernel("Identity")
@KERNELS.kernel("StopGradient")
def copy(ctx: Any, x: Any) -> Any:
    """The elements of ``x`` in a new array of the inferred shape (never ``x`` itself)."""
    return _copy(ctx, x, ctx.out_shapes[0])


@KERNELS.kernel("Fill")
def fill(ctx: Any, value: Any) -> Any:
    return elementwise(ctx, [value], ["a"])[0]


@KERNELS.kernel("ZerosLike")
def zeros_like(ctx: Any, x: Any) -> Any:
    return elementwise(ctx, [], ["0"])[0]


@KERNELS.kernel("OnesLike")
def ones_like(ctx: Any, x: Any) -> Any:
    return elementwise(ctx, [], ["1"])[0]


# --------------------------------------------------------------------------- permuting and slicing


@KERNELS.kernel("Transpose")
def transpose(ctx: Any, x: Any) -> Any:
    shape = tuple(x.shape)
    perm = ctx.attrs["perm"]
    norm = tuple(reversed(range(len(shape)))) if perm is None else tuple(p % len(shape) for p in perm)
    return _take(
        ctx, x, ("Transpose", shape, norm), lambda: _positions(shape).transpose(norm).ravel(), ctx.out_shapes[0]
    )


def _bit(mask: int, i: int) -> bool:
    return bool((mask >> i) & 1)


def _strided_key(attrs: Mapping[str, Any]) -> tuple[Any, ...]:
    """The NumPy basic-indexing key equal to TensorFlow's strided slice with its masks applied."""
    key: list[Any] = []
    for i, (b, e, s) in enumerate(zip(attrs["begin"], attrs["end"], attrs["strides"])):
        if _bit(attrs["ellipsis_mask"], i):
            key.append(Ellipsis)
        elif _bit(attrs["new_axis_mask"], i):
            key.append(None)
        elif _bit(attrs["shrink_axis_mask"], i):
            key.append((0 if s > 0 else -1) if _bit(attrs["begin_mask"], i) else b)
        else:
            start = None if _bit(attrs["begin_mask"], i) else b
            stop = None if _bit(attrs["end_mask"], i) else e
            key.append(slice(start, stop, s))
    return tuple(key)


_SLICE_ATTRS = (
    "begin",
    "end",
    "strides",
    "begin_mask",
    "end_mask",
    "ellipsis_mask",
    "new_axis_mask",
    "shrink_axis_mask",
)


def _slice_attr_key(attrs: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(tuple(attrs[k]) if isinstance(attrs[k], (list, tuple)) else attrs[k] for k in _SLICE_ATTRS)


@KERNELS.kernel("StridedSlice")
def strided_slice(ctx: Any, x: Any) -> Any:
    shape = tuple(x.shape)
    key = _strided_key(ctx.attrs)
    return _take(
        ctx,
        x,
        ("StridedSlice", shape, _slice_attr_key(ctx.attrs)),
        lambda: np.array(_positions(shape)[key]).ravel(),
        ctx.out_shapes[0],
    )


@KERNELS.kernel("StridedSliceGrad")
def strided_slice_grad(ctx: Any, dy: Any, like: Any) -> Any:
    shape, dy_shape = tuple(ctx.out_shapes[0]), tuple(dy.shape)
    key = _strided_key(ctx.attrs)

    def build() -> np.ndarray:
        m = np.full(shape, -1, np.int64)
        m[key] = _positions(dy_shape)
        return m.ravel()

    return _take(ctx, dy, ("StridedSliceGrad", shape, dy_shape, _slice_attr_key(ctx.attrs)), build, shape)


@KERNELS.kernel("Slice")
def slice_(ctx: Any, x: Any) -> Any:
    shape, out_shape = tuple(x.shape), tuple(ctx.out_shapes[0])
    begin = tuple(ctx.attrs["begin"])
    key = tuple(slice(b, b + n) for b, n in zip(begin, out_shape))
    return _take(
        ctx, x, ("Slice", shape, begin, out_shape), lambda: np.array(_positions(shape)[key]).ravel(), out_shape
    )


@KERNELS.kernel("Tile")
def tile(ctx: Any, x: Any) -> Any:
    shape, multiples = tuple(x.shape), tuple(ctx.attrs["multiples"])
    out_shape = ctx.out_shapes[0]
    return _take(
        ctx, x, ("Tile", shape, multiples), lambda: np.tile(_positions(shape), multiples).reshape(-1), out_shape
    )


@KERNELS.kernel("TileGrad")
def tile_grad(ctx: Any, dy: Any, like: Any) -> Any:
    shape, multiples = tuple(ctx.out_shapes[0]), tuple(ctx.attrs["multiples"])
    width = _size(multiples)

    def build() -> np.ndarray:
        # Row p lists the dy elements that are copies of like's element p, in increasing order
        # (the order of the tiles), so sums run in a fixed order.
        src = np.tile(_positions(shape), multiples).reshape(-1)
        return np.argsort(src, kind="stable").astype(np.int64)

    idx = index_map(ctx, ("TileGrad", shape, multiples), build)
    acc = np.float32 if dy.dtype == np.float16 else None
    return gather_reduce(ctx, dy, idx, width, shape, "sum", acc_dtype=acc)


@KERNELS.kernel("Pad")
def pad(ctx: Any, x: Any) -> Any:
    shape, paddings = tuple(x.shape), tuple(ctx.attrs["paddings"])
    out_shape = tuple(ctx.out_shapes[0])

    def build() -> np.ndarray:
        m = np.full(out_shape, -1, np.int64)
        m[tuple(slice(b, b + d) for b, d in zip(paddings[0::2], shape))] = _positions(shape)
        return m.ravel()

    return _take(ctx, x, ("Pad", shape, paddings), build, out_shape, ctx.attrs["constant_values"])


# --------------------------------------------------------------------------- joining and splitting


def _pieces(shape: Sequence[int], axis: int, sizes: Sequence[int]) -> list[np.ndarray]:
    """Flat positions in ``shape`` of consecutive blocks of ``sizes`` along ``axis``."""
    bounds = np.cumsum(sizes)[:-1]
    return [p.ravel() for p in np.split(_positions(shape), bounds, axis=axis)]


def _join(ctx: Any, values: Sequence[Any], axis: int, sizes: Sequence[int], op: str) -> Any:
    """Scatter each value into its block of the output (ConcatV2, Pack)."""
    rt = ctx.backend.runtime
    shape = tuple(ctx.out_shapes[0])
    out = rt.empty(shape, ctx.out_dtypes[0].np)
    if out.size == 0:
        return out
    key = (op, shape, axis, tuple(sizes))
    for i, v in enumerate(values):
        if v.size:
            idx = index_map(ctx, (*key, i), lambda i=i: _pieces(shape, axis, sizes)[i])
            scatter_into(ctx, out, v, idx)
    return out


@KERNELS.kernel("ConcatV2")
def concat(ctx: Any, values: list[Any]) -> Any:
    rank = len(ctx.out_shapes[0])
    axis = ctx.attrs["axis"] % rank
    return _join(ctx, values, axis, [v.shape[axis] for v in values], "ConcatV2")


@KERNELS.kernel("Pack")
def pack(ctx: Any, values: list[Any]) -> Any:
    rank = len(ctx.out_shapes[0])
    return _join(ctx, values, ctx.attrs["axis"] % rank, [1] * len(values), "Pack")


def _split(ctx: Any, x: Any, axis: int, sizes: Sequence[int], op: str) -> tuple[Any, ...]:
    """Gather each output's block of ``x`` (Split, SplitLike, Unpack)."""
    shape = tuple(x.shape)
    key = (op, shape, axis, tuple(sizes))
    return tuple(
        _take(ctx, x, (*key, i), lambda i=i: _pieces(shape, axis, sizes)[i], out_shape)
        for i, out_shape in enumerate(ctx.out_shapes)
    )


@KERNELS.kernel("Split")
def split(ctx: Any, x: Any) -> tuple[Any, ...]:
    axis = ctx.attrs["axis"] % len(x.shape)
    n = ctx.attrs["num_split"]
    return _split(ctx, x, axis, [x.shape[axis] // n] * n, "Split")


@KERNELS.kernel("SplitLike")
def split_like(ctx: Any, x: Any, like: list[Any]) -> tuple[Any, ...]:
    axis = ctx.attrs["axis"] % len(x.shape)
    return _split(ctx, x, axis, [s[axis] for s in ctx.out_shapes], "SplitLike")


@KERNELS.kernel("Unpack")
def unpack(ctx: Any, x: Any) -> tuple[Any, ...]:
    axis = ctx.attrs["axis"] % len(x.shape)
    return _split(ctx, x, axis, [1] * ctx.attrs["num"], "Unpack")


# --------------------------------------------------------------------------- value-dependent indices

# Gather and GatherGrad see params and the gradient as (outer, dim, inner) and indices as a flat list of
# nidx; the gathered tensor is (outer, nidx, inner). Their kernels run over 2-D ranges (``launch_rows``):
# work-item (i, r) handles element i of row r, so neighbouring work-items copy neighbouring elements.
_GATHER = """
/* Rows of inner > 1 elements: row r = (o, j) of the output is row (o, indices[j]) of params. */
__kernel void gather_v2(__global T* out, __global const T* params, __global const I* indices, __global int* err,
                        const long dim, const long nidx, const long inner, const long row0) {
  const long i = get_global_id(0); if (i >= inner) return;
  const long r = row0 + get_global_id(1);
  const long o = r < nidx ? 0 : r / nidx, j = r - o * nidx;  /* (no division for axis 0) */
  const long k = (long)indices[j];
  if (k >= 0 && k < dim) { out[r * inner + i] = params[(o * dim + k) * inner + i]; return; }
  out[r * inner + i] = (T)0;  /* nothing is read out of bounds; the flag makes the call raise */
#if CHECK
  if (o == 0 && i == 0) REPORT(err, j);  /* one report per bad index */
#endif
}
/* inner == 1: work-item (j, o) takes element (o, indices[j]), so neighbours read neighbouring indices. */
__kernel void gather_v2_scalars(__global T* out, __global const T* params, __global const I* indices,
                                __global int* err, const long dim, const long nidx, const long inner,
                                const long row0) {
  const long j = get_global_id(0); if (j >= nidx) return;
  const long o = row0 + get_global_id(1);
  const long k = (long)indices[j];
  if (k >= 0 && k < dim) { out[o * nidx + j] = params[o * dim + k]; return; }
  out[o * nidx + j] = (T)0;
#if CHECK
  if (o == 0) REPORT(err, j);
#endif
}
"""

_GATHER_GRAD_SCAN = """
/* Few indices: each output element scans them all (one launch, no sort). */
__kernel void gather_grad(__global T* out, __global const T* dy, __global const I* indices,
                          const long dim, const long nidx, const long inner, const long row0) {
  const long i = get_global_id(0); if (i >= inner) return;
  const long r = row0 + get_global_id(1);
  const long o = r / dim, d = r - o * dim;
  A acc = (A)0;
  __global const T* col = dy + o * nidx * inner + i;
  for (long j = 0; j < nidx; ++j) {
    if ((long)indices[j] == d) acc += (A)col[j * inner];
  }
  out[r * inner + i] = (T)acc;
}
"""

_GATHER_GRAD_SEGMENTS = """
/* start[d]: the first sorted position whose key is >= d, for d in [0, dim]; indices d occupy sorted
   positions [start[d], start[d + 1]) (out-of-range ones have key dim: they lie from start[dim] on). */
__kernel void segment_starts(__global long* start, __global const long* keys, const long nidx, const long dim) {
  const long d = get_global_id(0); if (d > dim) return;
  long lo = 0, hi = nidx;
  while (lo < hi) {
    const long mid = lo + (hi - lo) / 2;
    if (keys[mid] < d) lo = mid + 1; else hi = mid;
  }
  start[d] = lo;
}
/* Row r = (o, d) of the output sums dy's rows (o, pos[k]) over d's segment: the positions j with
   indices[j] == d, in increasing j (the sort is stable). */
__kernel void gather_grad_segments(__global T* out, __global const T* dy, __global const long* pos,
                                   __global const long* start, const long dim, const long nidx,
                                   const long inner, const long row0) {
  const long i = get_global_id(0); if (i >= inner) return;
  const long r = row0 + get_global_id(1);
  const long o = r / dim, d = r - o * dim;
  A acc = (A)0;
  __global const T* col = dy + o * nidx * inner + i;
  const long hi = start[d + 1];
  for (long k = start[d]; k < hi; ++k) acc += (A)col[pos[k] * inner];
  out[r * inner + i] = (T)acc;
}
"""

#: GatherGrad with at most this many indices scans them from every output element; with more it sorts them.
GATHER_GRAD_SCAN = 8


def _define(source: str, **types: str) -> str:
    return "".join(f"#define {k} {v}\n" for k, v in types.items()) + source


def _dummy(ctx: Any) -> Any:
    return ctx.backend.runtime.cached(("dummy-long",), lambda: np.zeros(1, np.int64))


@KERNELS.kernel("GatherV2")
def gather(ctx: Any, params: Any, indices: Any) -> Any:
    """``take(params, indices, axis)``; an index outside ``[0, dim)`` raises (see the module doc)."""
    rt = ctx.backend.runtime
    shape = tuple(params.shape)
    axis = ctx.attrs["axis"] % len(shape)
    out = rt.empty(ctx.out_shapes[0], params.dtype)
    check = RangeCheck(ctx, indices, shape[axis], "GatherV2", "indices", f"the size of params along axis {axis}")
    if out.size == 0:
        check.scan()  # no kernel reads the indices: check them all the same
        return out
    inner, nidx = _size(shape[axis + 1 :]), int(indices.size)
    outer = _size(shape[:axis])
    t, i = ctype(params.dtype), ctype(indices.dtype)
    name = "gather_v2" if inner > 1 else "gather_v2_scalars"
    kernel = rt.kernel(
        ("gather_v2", t, i, check.on), lambda: _define(REPORT + _GATHER, T=t, I=i, CHECK=int(check.on)), name
    )
    args = [out.data, params.data, indices.data, check.flag, np.int64(shape[axis]), np.int64(nidx), np.int64(inner)]
    if inner > 1:
        launch_rows(rt, kernel, inner, outer * nidx, args)
    else:
        launch_rows(rt, kernel, nidx, outer, args)
    check.done()
    return out


@KERNELS.kernel("GatherGrad")
def gather_grad(ctx: Any, dy: Any, indices: Any, like: Any) -> Any:
    """Sum the slices of ``dy`` into zeros shaped like ``like``, in time linear in dy's size.

    No atomics: the indices are sorted once with their positions (a stable
    radix sort of values bounded by ``dim``, :func:`sort_bounded`, whose first
    pass also checks them), a binary search finds where each index value's
    segment of the sorted list starts, and output element (o, d, i) adds
    ``dy[o, j, i]`` over d's segment, in increasing j (NumPy's ``add.at``
    order, so results do not depend on scheduling). With at most
    :data:`GATHER_GRAD_SCAN` indices every output element scans them instead
    (one launch, and a check kernel of its own). An index outside ``[0, dim)``
    matches no element, and the check reports it.
    """
    rt = ctx.backend.runtime
    shape = tuple(ctx.out_shapes[0])
    axis = ctx.attrs["axis"] % len(shape)
    out = rt.empty(shape, dy.dtype)
    check = RangeCheck(ctx, indices, shape[axis], "GatherGrad", "indices", f"the size of like along axis {axis}")
    inner, dim, nidx = _size(shape[axis + 1 :]), int(shape[axis]), int(indices.size)
    if out.size == 0 or nidx <= GATHER_GRAD_SCAN:
        check.scan()  # (a kernel of its own: no kernel below reads every index)
        if out.size == 0:
            return out
    rows = _size(shape[:axis]) * dim
    t = ctype(dy.dtype)
    i = ctype(indices.dtype)
    a = "float" if t == "half" else t
    dummy = _dummy(ctx)
    dy_buf = dy.data if dy.size else dummy.data
    sizes = [np.int64(dim), np.int64(nidx), np.int64(inner)]
    if nidx <= GATHER_GRAD_SCAN:
        kernel = rt.kernel(("gather_grad", t, i), lambda: _define(_GATHER_GRAD_SCAN, T=t, I=i, A=a), "gather_grad")
        launch_rows(rt, kernel, inner, rows, [out.data, dy_buf, indices.data if nidx else dummy.data, *sizes])
        return out

    def source() -> str:
        return _define(_GATHER_GRAD_SEGMENTS, T=t, A=a)

    starts = rt.kernel(("gather_grad_segments", t), source, "segment_starts")
    segments = rt.kernel(("gather_grad_segments", t), source, "gather_grad_segments")
    keys, pos = sort_bounded(ctx, indices.reshape((nidx,)), dim, check)  # the sort's first pass checks
    start = rt.empty((dim + 1,), np.int64)
    rt.launch(starts, (dim + 1,), [start.data, keys.data, np.int64(nidx), np.int64(dim)])
    launch_rows(rt, segments, inner, rows, [out.data, dy_buf, pos.data, start.data, *sizes])
    check.done()
    return out


_ONE_HOT = """
__kernel void one_hot(__global T* out, __global const I* indices, const T on, const T off,
                      const long depth, const long inner, const long n) {
  const long g = get_global_id(0); if (g >= n) return;
  const long i = g % inner;
  const long d = (g / inner) % depth;
  const long o = g / (inner * depth);
  out[g] = ((long)indices[o * inner + i] == d) ? on : off;
}
"""


@KERNELS.kernel("OneHot")
def one_hot(ctx: Any, indices: Any) -> Any:
    """Indices outside ``[0, depth)`` (negative ones included) give rows of ``off_value``."""
    rt = ctx.backend.runtime
    a = ctx.attrs
    shape = tuple(ctx.out_shapes[0])
    dtype = np.dtype(ctx.out_dtypes[0].np)
    out = rt.empty(shape, dtype)
    if out.size == 0:
        return out
    axis = a["axis"] % len(shape)
    inner = _size(shape[axis + 1 :])
    t, i = ctype(dtype), ctype(indices.dtype)
    kernel = rt.kernel(("one_hot", t, i), lambda: _define(_ONE_HOT, T=t, I=i), "one_hot")
    on, off = scalar_of(a["on_value"], dtype), scalar_of(a["off_value"], dtype)
    args = [out.data, indices.data, on, off, np.int64(a["depth"]), np.int64(inner), np.int64(out.size)]
    rt.launch(kernel, (out.size,), args)
    return out
