"""NumPy kernels: array family.

Results never alias an input (a later in-place variable update would change
them), so views of inputs are copied.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from opcore.errors import InvalidIndexError
from opcore.registry import KernelContext, KernelTable

KERNELS = KernelTable()


@KERNELS.kernel("Reshape")
def reshape(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    # A view where NumPy can make one: tensors are immutable, and in-place variable
    # updates first check that no view of the variable's buffer is alive.
    return x.reshape(ctx.out_shapes[0])


@KERNELS.kernel("Transpose")
def transpose(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    perm = ctx.attrs["perm"]
    return np.transpose(x, None if perm is None else [p % x.ndim for p in perm]).copy()


@KERNELS.kernel("ExpandDims")
def expand_dims(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    return x.reshape(ctx.out_shapes[0]).copy()


@KERNELS.kernel("Squeeze")
def squeeze(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    return x.reshape(ctx.out_shapes[0]).copy()


@KERNELS.kernel("ConcatV2")
def concat(ctx: KernelContext, values: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(values, axis=ctx.attrs["axis"])


@KERNELS.kernel("SplitLike")
def split_like(ctx: KernelContext, x: np.ndarray, like: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    axis = ctx.attrs["axis"] % x.ndim
    bounds = np.cumsum([s[axis] for s in ctx.out_shapes])[:-1]
    return tuple(p.copy() for p in np.split(x, bounds, axis=axis))


@KERNELS.kernel("Pack")
def pack(ctx: KernelContext, values: list[np.ndarray]) -> np.ndarray:
    # One concatenation and a view: the new axis splits the joined one (np.stack makes a view per value).
    out = ctx.out_shapes[0]
    axis = ctx.attrs["axis"] % len(out)
    if axis == 0:  # equally shaped arrays of one dtype: np.array stacks them in one C loop
        return np.array(values)
    if axis == len(out) - 1:
        values = [v.reshape(*v.shape, 1) for v in values]
    return np.concatenate(values, axis=axis).reshape(out)


@KERNELS.kernel("Unpack")
def unpack(ctx: KernelContext, x: np.ndarray) -> tuple[np.ndarray, ...]:
    axis = ctx.attrs["axis"] % x.ndim
    return tuple(np.asarray(np.take(x, i, axis=axis)) for i in range(ctx.attrs["num"]))


@KERNELS.kernel("Split")
def split(ctx: KernelContext, x: np.ndarray) -> tuple[np.ndarray, ...]:
    # The index of each piece, once per input shape (a session's context may see several):
    # np.split costs more than the copies on small tensors.
    memo: tuple[Any, ...] | None = ctx.memo.get("split")
    if memo is None or memo[0] != x.shape:
        n, axis = ctx.attrs["num_split"], ctx.attrs["axis"] % x.ndim
        step = x.shape[axis] // n
        lead = (slice(None),) * axis
        memo = ctx.memo["split"] = (x.shape, tuple((*lead, slice(i * step, (i + 1) * step)) for i in range(n)))
    return tuple([x[p].copy() for p in memo[1]])


def _bit(mask: int, i: int) -> bool:
    return bool((mask >> i) & 1)


def _strided_key(attrs: Mapping[str, Any]) -> tuple[Any, ...]:
    """NumPy basic indexing equals TensorFlow's strided-slice semantics once the masks are applied."""
    key: list[Any] = []
    for i, (b, e, s) in enumerate(zip(attrs["begin"], attrs["end"], attrs["strides"])):
        if _bit(attrs["ellipsis_mask"], i):
            key.append(Ellipsis)
        elif _bit(attrs["new_axis_mask"], i):
            key.append(None)
        elif _bit(attrs["shrink_axis_mask"], i):
            key.append((0 if s > 0 else -1) if _bit(attrs["begin_mask"], i) else b)
        else:
            key.append(
                slice(
                    None if _bit(attrs["begin_mask"], i) else b,
                    None if _bit(attrs["end_mask"], i) else e,
                    s,
                )
            )
    return tuple(key)


@KERNELS.kernel("StridedSlice")
def strided_slice(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    key = ctx.memo.get("key")
    if key is None:
        key = ctx.memo["key"] = _strided_key(ctx.attrs)
    r = x[key]  # basic indexing: a view, like Reshape's
    return r if type(r) is np.ndarray else np.asarray(r)


@KERNELS.kernel("StridedSliceGrad")
def strided_slice_grad(ctx: KernelContext, dy: np.ndarray, like: np.ndarray) -> np.ndarray:
    out = np.zeros(ctx.out_shapes[0], dtype=ctx.out_dtypes[0].np)
    out[_strided_key(ctx.attrs)] = dy
    return out


@KERNELS.kernel("Slice")
def slice_(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    key = tuple(slice(b, b + n) for b, n in zip(ctx.attrs["begin"], ctx.out_shapes[0]))
    return np.array(x[key])


#: The unsigned dtype of each index dtype (the ops take int32 and int64 indices).
_UNSIGNED = {np.dtype(np.int32): np.dtype(np.uint32), np.dtype(np.int64): np.dtype(np.uint64)}


def check_range(op: str, name: str, values: np.ndarray, size: int, meaning: str) -> None:
    """Raise InvalidIndexError for the first entry of ``values`` (C order) outside ``[0, size)``."""
    if values.size == 0:
        return
    # One pass: read as unsigned, a negative index is larger than any size.
    if values.view(_UNSIGNED[values.dtype]).max() < size:
        return
    bad = (values < 0) | (values >= size)
    where = np.unravel_index(int(np.argmax(bad)), values.shape)
    raise InvalidIndexError.out_of_range(op, name, where, int(values[where]), size, meaning)


@KERNELS.kernel("GatherV2")
def gather(ctx: KernelContext, params: np.ndarray, indices: np.ndarray) -> np.ndarray:
    axis = ctx.attrs["axis"] % params.ndim
    check_range("GatherV2", "indices", indices, params.shape[axis], f"the size of params along axis {axis}")
    return np.asarray(np.take(params, indices, axis=axis))


#: Elements per index above which GatherGrad adds whole slices one index at a time.
_SLICE_ADD = 4096
#: Flat indices built at once by GatherGrad (their temporary stays in the L2 cache).
_FLAT_BLOCK = 1 << 16


#: Sizes of the gathered axis up to which GatherGrad sorts its indices (NumPy's stable sort
#: of 16-bit integers is a radix sort: linear time).
_SORTED_DIM = 1 << 16
#: The most times one index may repeat for the sorted path (it makes one pass per repeat).
_SORTED_REPEATS = 64


def _sorted_rows_sum(out: np.ndarray, src: np.ndarray, idx: np.ndarray) -> bool:
    """``out[idx[k]] += src[k]`` for every k, into a zero ``out`` of fewer than 2**16 rows, by
    sorted segments: a stable sort groups each row's occurrences in their order, and pass r
    gathers the r-th occurrence of every row that has that many (rows sorted by how often they
    occur, so that those rows are a prefix) and adds it to their sums with one vectorised
    add. Each row's sum is formed in the order of its occurrences, from zero, as np.add.at
    forms it, so the result is bit for bit the same; the work is a few whole-row copies
    instead of one scalar update per element. False (nothing done) when an index repeats
    more than ``_SORTED_REPEATS`` times."""
    n = idx.size
    order = np.argsort(idx.astype(np.uint16), kind="stable")
    keys = idx[order]
    starts = np.flatnonzero(keys[1:] != keys[:-1])
    starts += 1
    starts = np.concatenate((np.zeros(1, np.intp), starts))
    counts = np.diff(starts, append=n)
    most = int(counts.max())
    if most > _SORTED_REPEATS:
        return False
    by_count = np.argsort((most - counts).astype(np.uint16), kind="stable")  # most frequent first
    starts, rows = starts[by_count], keys[starts[by_count]]
    active = starts.size - np.cumsum(np.bincount(counts, minlength=most + 1))[:most]  # rows with > r
    acc = np.zeros((starts.size, out.shape[1]), out.dtype)
    buf = np.empty((starts.size, out.shape[1]), src.dtype)
    for r, a in enumerate(active.tolist()):
        part = np.take(src, order[starts[:a] + r], axis=0, out=buf[:a], mode="clip")  # indices are valid
        np.add(acc[:a], part, out=acc[:a])
    out[rows] = acc
    return True


@KERNELS.kernel("GatherGrad")
def gather_grad(ctx: KernelContext, dy: np.ndarray, indices: np.ndarray, like: np.ndarray) -> np.ndarray:
    axis = ctx.attrs["axis"] % like.ndim
    check_range("GatherGrad", "indices", indices, like.shape[axis], f"the size of like along axis {axis}")
    out = np.zeros(ctx.out_shapes[0], dtype=ctx.out_dtypes[0].np)
    if out.size == 0 or indices.size == 0:
        return out
    dim = like.shape[axis]
    pre, post = math.prod(like.shape[:axis]), math.prod(like.shape[axis + 1 :])
    idx = indices.reshape(-1).astype(np.intp, copy=False)
    src = dy.reshape(pre, idx.size, post)
    if pre * post >= _SLICE_ADD:  # large slices: one vectorised add per index
        moved = out.reshape(pre, dim, post)
        for k, i in enumerate(idx.tolist()):
            moved[:, i] += src[:, k]
        return out
    if pre == 1 and dim <= _SORTED_DIM and _sorted_rows_sum(out.reshape(dim, post), src.reshape(-1, post), idx):
        return out
    # Small slices (an embedding's rows): np.add.at on 1-D flat indices takes NumPy's fast
    # path, several times faster than adding rows at 2-D indices; repeated indices add up.
    flat_out = out.reshape(-1)
    lanes = np.arange(post, dtype=np.intp)
    rows = (np.arange(pre, dtype=np.intp) * (dim * post))[:, None, None]
    scaled = idx * post
    step = max(1, _FLAT_BLOCK // (pre * post))
    for lo in range(0, idx.size, step):
        flat = np.add.outer(scaled[lo : lo + step], lanes)  # (indices, post): row starts plus lanes
        if pre > 1:
            flat = rows + flat
        np.add.at(flat_out, flat.reshape(-1), src[:, lo : lo + step].reshape(-1))
    return out


@KERNELS.kernel("Tile")
def tile(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    return np.tile(x, ctx.attrs["multiples"]).reshape(ctx.out_shapes[0])


@KERNELS.kernel("TileGrad")
def tile_grad(ctx: KernelContext, dy: np.ndarray, like: np.ndarray) -> np.ndarray:
    split: list[int] = []
    for m, d in zip(ctx.attrs["multiples"], like.shape):
        split.extend((m, d))
    summed = dy.reshape(split).sum(axis=tuple(range(0, len(split), 2)), dtype=dy.dtype)
    return np.asarray(summed).reshape(ctx.out_shapes[0])


@KERNELS.kernel("Pad")
def pad(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    before = ctx.attrs["paddings"][0::2]
    value = np.asarray(ctx.attrs["constant_values"]).astype(x.dtype)
    out = np.full(ctx.out_shapes[0], value, dtype=x.dtype)
    out[tuple(slice(b, b + d) for b, d in zip(before, x.shape))] = x
    return out


@KERNELS.kernel("OneHot")
def one_hot(ctx: KernelContext, indices: np.ndarray) -> np.ndarray:
    a = ctx.attrs
    depth, dtype = a["depth"], ctx.out_dtypes[0].np
    hot = indices[..., None] == np.arange(depth)
    out = np.where(hot, np.asarray(a["on_value"]).astype(dtype), np.asarray(a["off_value"]).astype(dtype))
    axis = a["axis"] % out.ndim
    return np.ascontiguousarray(np.moveaxis(out, -1, axis)).astype(dtype, copy=False)


@KERNELS.kernel("Fill")
def fill(ctx: KernelContext, value: np.ndarray) -> np.ndarray:
    return np.full(ctx.out_shapes[0], value, dtype=ctx.out_dtypes[0].np)


@KERNELS.kernel("ZerosLike")
def zeros_like(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    return np.zeros(x.shape, dtype=x.dtype)


@KERNELS.kernel("Identity")
@KERNELS.kernel("StopGradient")
def identity(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    return x.copy()


@KERNELS.kernel("OnesLike")
def ones_like(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    return np.ones(x.shape, dtype=x.dtype)
