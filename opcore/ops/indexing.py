"""Built-in ops: indexing family (strided slices, slices, basic indexing, gathers).

``t[key]`` on a tensor is one StridedSlice (basic indexing: ints, slices, None,
``...``); ``gather`` picks whole slices by index. Their gradients put values back
with helper ops that take the forward input as a ``like`` argument.
"""

from __future__ import annotations

from typing import Any

from opcore import dtypes as dt
from opcore.errors import InvalidIndexError, OpDefinitionError, ShapeError
from opcore.registry import GradContext, define_op
from opcore.shapes import Dim, Shape, ShapeContext, normalize_axis

__all__ = [
    "gather",
    "gather_grad",
    "getitem",
    "slice",
    "strided_slice",
    "strided_slice_grad",
]

_INDEX_TYPES = "int32, int64"
# The op below is TensorFlow's ``slice``; keep Python's builtin reachable.
_py_slice = slice


# --------------------------------------------------------------------------- StridedSlice


def _bit(mask: int, i: int) -> bool:
    return bool((mask >> i) & 1)


def _strided_slice_dims(ctx: ShapeContext, x: Shape, attrs: Any) -> Shape:
    """The output shape of a TensorFlow-style strided slice of ``x``."""
    begin, end, strides = attrs["begin"], attrs["end"], attrs["strides"]
    if not len(begin) == len(end) == len(strides):
        raise ctx.error(f"begin {list(begin)}, end {list(end)} and strides {list(strides)} must have the same length")
    n = len(begin)
    ell, new, shrink = attrs["ellipsis_mask"], attrs["new_axis_mask"], attrs["shrink_axis_mask"]
    ell_bits = [i for i in range(n) if _bit(ell, i)]
    if len(ell_bits) > 1:
        raise ctx.error(f"ellipsis_mask {ell} marks more than one ellipsis")
    for i in range(n):
        if strides[i] == 0 and not _bit(new, i) and not _bit(ell, i):
            raise ctx.error(f"strides[{i}] is 0; strides must be nonzero")
    if x.dims is None:
        return Shape(None)
    rank = len(x.dims)
    consumed = sum(1 for i in range(n) if not _bit(ell, i) and not _bit(new, i))
    if consumed > rank:
        raise ctx.error(f"too many indices ({consumed}) for x with shape {x} of rank {rank}")
    spec = list(range(n))
    if not ell_bits:
        spec.append(-1)  # an implicit trailing ellipsis
    out: list[Dim] = []
    axis = 0
    for i in spec:
        if i == -1 or _bit(ell, i):
            for _ in range(rank - consumed):
                out.append(x.dims[axis])
                axis += 1
            continue
        if _bit(new, i):
            out.append(1)
            continue
        dim = x.dims[axis]
        b, e, s = begin[i], end[i], strides[i]
        if _bit(shrink, i):
            if _bit(attrs["begin_mask"], i):
                b = 0 if s > 0 else -1
            if dim is not None and not -dim <= b < dim:
                raise ctx.error(
                    f"index {b} is out of bounds for axis {axis} with size {dim} (x has shape {x}); "
                    f"an index must be in [-{dim}, {dim})",
                    InvalidIndexError,
                )
        elif dim is None:
            out.append(None)
        else:
            start = None if _bit(attrs["begin_mask"], i) else b
            stop = None if _bit(attrs["end_mask"], i) else e
            out.append(len(range(*_py_slice(start, stop, s).indices(dim))))
        axis += 1
    return Shape(out)


_SLICE_ATTRS = [
    "begin: list(int)",
    "end: list(int)",
    "strides: list(int)",
    "begin_mask: int = 0",
    "end_mask: int = 0",
    "ellipsis_mask: int = 0",
    "new_axis_mask: int = 0",
    "shrink_axis_mask: int = 0",
]
_MASKS = ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")


def _strided_slice_shape(ctx: ShapeContext) -> Shape:
    return _strided_slice_dims(ctx, ctx.input("x"), ctx.attrs)


def _slice_attrs(attrs: Any) -> dict[str, Any]:
    return {k: attrs[k] for k in ("begin", "end", "strides", *_MASKS)}


def _strided_slice_grad(ctx: GradContext, dy: Any) -> list[Any]:
    return [strided_slice_grad(dy, ctx.inputs[0], **_slice_attrs(ctx.attrs))]


strided_slice = define_op(
    "StridedSlice",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.ALL},
    attrs=_SLICE_ATTRS,
    shape_fn=_strided_slice_shape,
    gradient=_strided_slice_grad,
    doc=(
        "TensorFlow's strided slice: per entry of begin/end/strides a slice, with bit masks for a "
        "full begin/end, an ellipsis, a new axis, or an index that drops the axis (``shrink``). "
        "A shrunk axis uses begin[i] (0, or -1 for a negative stride, when begin_mask masks it). "
        "Out of range, on every backend, as in Python and TensorFlow: the begin and end of a slice are "
        "clamped to the axis (they never raise); the index of a shrunk axis must lie in [-dim, dim) "
        "(negative ones count from the end), else InvalidIndexError. Both are decided by the shape "
        "function before any kernel runs (in a session, from the fed shapes when a dim was unknown)."
    ),
)


def _strided_slice_grad_shape(ctx: ShapeContext) -> Shape:
    like, dy = ctx.input("like"), ctx.input("dy")
    expected = _strided_slice_dims(ctx, like, ctx.attrs)
    if not dy.is_compatible_with(expected):
        raise ctx.error(f"dy with shape {dy} does not match the slice shape {expected} of like {like}")
    return like


def _strided_slice_grad_grad(ctx: GradContext, ddx: Any) -> list[Any]:
    return [strided_slice(ddx, **_slice_attrs(ctx.attrs)), None]


strided_slice_grad = define_op(
    "StridedSliceGrad",
    inputs=["dy: T", "like: U"],
    outputs=["dx: T"],
    type_vars={"T": dt.ALL, "U": dt.ALL},
    attrs=_SLICE_ATTRS,
    shape_fn=_strided_slice_grad_shape,
    gradient=_strided_slice_grad_grad,
    doc=(
        "Scatter ``dy`` into zeros shaped like ``like`` at the positions StridedSlice reads; "
        "out-of-range begin/end/shrink indices follow StridedSlice's rule."
    ),
)


# --------------------------------------------------------------------------- Slice


def _slice_shape(ctx: ShapeContext) -> Shape:
    x = ctx.input("x")
    begin, size = ctx.attr("begin"), ctx.attr("size")
    if len(begin) != len(size):
        raise ctx.error(f"begin {list(begin)} and size {list(size)} must have the same length")
    for b, s in zip(begin, size):
        if b < 0:
            raise ctx.error(f"begin {list(begin)} must be >= 0 (Slice counts no index from the end)", InvalidIndexError)
        if s < -1:
            raise ctx.error(f"size {list(size)} must be >= -1 (-1: to the end of the axis)")
    if x.dims is None:
        return Shape(None if s == -1 else s for s in size)
    if len(x.dims) != len(begin):
        raise ctx.error(f"begin {list(begin)} has {len(begin)} entries for x with shape {x}")
    out: list[Dim] = []
    for i, (d, b, s) in enumerate(zip(x.dims, begin, size)):
        if d is not None and (b > d or (s != -1 and b + s > d)):
            raise ctx.error(
                f"slice [{b}, {b}+{s}) of axis {i} is out of bounds for x with shape {x}", InvalidIndexError
            )
        out.append(s if s != -1 else (None if d is None else d - b))
    return Shape(out)


def _slice_grad(ctx: GradContext, dy: Any) -> list[Any]:
    begin, size = ctx.attrs["begin"], ctx.attrs["size"]
    end = [b + s if s != -1 else 0 for b, s in zip(begin, size)]
    end_mask = sum(1 << i for i, s in enumerate(size) if s == -1)
    return [strided_slice_grad(dy, ctx.inputs[0], begin, end, [1] * len(begin), end_mask=end_mask)]


slice = define_op(  # TensorFlow's name; getitem uses _py_slice
    "Slice",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.ALL},
    attrs=["begin: list(int)", "size: list(int)"],
    shape_fn=_slice_shape,
    gradient=_slice_grad,
    doc=(
        "The block of ``x`` starting at ``begin`` of extent ``size`` (-1: to the end of the axis). "
        "Nothing is clamped, on every backend, as in TensorFlow: a negative begin, or a block reaching "
        "past the end of an axis, raises InvalidIndexError from the shape function before any kernel runs."
    ),
)


# --------------------------------------------------------------------------- getitem


def getitem(x: Any, key: Any) -> Any:
    """``x[key]`` with basic indexing, as one StridedSlice.

    Supports ints (negative count from the end), slices with any nonzero step,
    ``None`` (a new axis) and ``...``. Out-of-range ints raise InvalidIndexError
    (a ShapeError and an IndexError) naming the index and the shape; slice bounds
    are clamped to the axis, as in Python.

    ``t[1, ::-1, None]`` becomes ``strided_slice(t, [1, 0, 0], [2, 0, 0], [1, -1, 1],
    begin_mask=0b010, end_mask=0b010, new_axis_mask=0b100, shrink_axis_mask=0b001)``.
    """
    shape = getattr(x, "shape", None)
    attrs = strided_slice_attrs(key)
    try:
        return strided_slice(x, **attrs)
    except ShapeError as e:
        raise type(e)(f"cannot index a tensor of shape {shape} with {key!r}: {e}") from None


def strided_slice_attrs(key: Any) -> dict[str, Any]:
    """The StridedSlice attributes (begin, end, strides and the masks) of a basic index ``key``."""
    items = key if isinstance(key, tuple) else (key,)
    begin: list[int] = []
    end: list[int] = []
    strides: list[int] = []
    masks: dict[str, Any] = dict.fromkeys(_MASKS, 0)

    def entry(b: int, e: int, s: int) -> None:
        begin.append(b)
        end.append(e)
        strides.append(s)

    for i, item in enumerate(items):
        bit = 1 << i
        if item is None:
            masks["new_axis_mask"] |= bit
            entry(0, 0, 1)
        elif item is Ellipsis:
            if masks["ellipsis_mask"]:
                raise ShapeError(f"index {key!r} has more than one ellipsis ('...')")
            masks["ellipsis_mask"] |= bit
            entry(0, 0, 1)
        elif isinstance(item, _py_slice):
            step = 1 if item.step is None else _index(item.step, key)
            if step == 0:
                raise ShapeError(f"index {key!r}: slice step cannot be zero")
            if item.start is None:
                masks["begin_mask"] |= bit
            if item.stop is None:
                masks["end_mask"] |= bit
            entry(
                0 if item.start is None else _index(item.start, key),
                0 if item.stop is None else _index(item.stop, key),
                step,
            )
        else:
            idx = _index(item, key)
            masks["shrink_axis_mask"] |= bit
            entry(idx, idx + 1, 1)
    return {"begin": begin, "end": end, "strides": strides, **masks}


def index_key(key: Any) -> Any:
    """A hashable stand-in for a basic index made of ints, slices of ints, None and ``...``;
    None for anything else (tensors, bools, NumPy integers take the general path)."""
    items = key if type(key) is tuple else (key,)
    out: list[Any] = []
    for item in items:
        t = type(item)
        if t is int or item is None or item is Ellipsis:
            out.append(item)
        elif t is _py_slice:
            a, b, c = item.start, item.stop, item.step
            if (a is not None and type(a) is not int) or (b is not None and type(b) is not int):
                return None
            if c is not None and type(c) is not int:
                return None
            out.append((a, b, c))
        else:
            return None
    return tuple(out)


def _index(value: Any, key: Any) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise OpDefinitionError(
            f"index {key!r}: {value!r} is not an int, slice, None or ...; only basic indexing is "
            "supported (use gather for tensor indices)"
        )
    return int(value.__index__())


# --------------------------------------------------------------------------- GatherV2 / GatherGrad


def _gather_shape(ctx: ShapeContext) -> Shape:
    params, indices = ctx.input("params"), ctx.input("indices")
    if params.dims is None or indices.dims is None:
        if params.dims is not None:
            normalize_axis(ctx, ctx.attr("axis"), len(params.dims))
        return Shape(None)
    ax = normalize_axis(ctx, ctx.attr("axis"), len(params.dims))
    return Shape((*params.dims[:ax], *indices.dims, *params.dims[ax + 1 :]))


def _gather_grad(ctx: GradContext, dy: Any) -> list[Any]:
    params, indices = ctx.inputs
    return [gather_grad(dy, indices, params, axis=ctx.attrs["axis"]), None]


gather = define_op(
    "GatherV2",
    inputs=["params: T", "indices: Tidx"],
    outputs=["output: T"],
    type_vars={"T": dt.ALL, "Tidx": _INDEX_TYPES},
    attrs=["axis: int = 0"],
    shape_fn=_gather_shape,
    gradient=_gather_grad,
    doc=(
        "Take the slices of ``params`` along ``axis`` at ``indices``; output shape "
        "params.shape[:axis] + indices.shape + params.shape[axis+1:]. "
        "Invalid indices, on every backend: each index must lie in [0, dim), dim = params.shape[axis] "
        "(a negative index is not counted from the end); any other raises InvalidIndexError naming the "
        "first bad position (C order) and its value, even when the output is empty. TensorFlow's CPU "
        "kernel raises too, where its GPU kernel returns zeros; device backends check on the device and "
        "raise at the call (in a session, at the end of the run at the latest)."
    ),
    function_name="gather",
)


def _gather_grad_shape(ctx: ShapeContext) -> Shape:
    dy, indices, like = ctx.input("dy"), ctx.input("indices"), ctx.input("like")
    if like.dims is not None:
        ax = normalize_axis(ctx, ctx.attr("axis"), len(like.dims))
        if indices.dims is not None:
            expected = Shape((*like.dims[:ax], *indices.dims, *like.dims[ax + 1 :]))
            if not dy.is_compatible_with(expected):
                raise ctx.error(
                    f"dy with shape {dy} does not match the gather shape {expected} of like {like} "
                    f"and indices {indices}"
                )
    return like


def _gather_grad_grad(ctx: GradContext, ddx: Any) -> list[Any]:
    return [gather(ddx, ctx.inputs[1], axis=ctx.attrs["axis"]), None, None]


gather_grad = define_op(
    "GatherGrad",
    inputs=["dy: T", "indices: Tidx", "like: U"],
    outputs=["dx: T"],
    type_vars={"T": dt.NUMERIC, "Tidx": _INDEX_TYPES, "U": dt.ALL},
    attrs=["axis: int = 0"],
    shape_fn=_gather_grad_shape,
    gradient=_gather_grad_grad,
    doc=(
        "Add the slices of ``dy`` into zeros shaped like ``like`` at ``indices`` (GatherV2's gradient); "
        "repeated indices add up. Invalid indices follow GatherV2's rule (dim = like.shape[axis]): "
        "InvalidIndexError on every backend, never a silently dropped slice."
    ),
)
