"""Built-in ops: array family (reshaping, joining, slicing, gathering, filling).

Every op here accepts every dtype where moving elements around makes sense.
Gradients that must put values back where they came from (slices, gathers,
concatenation, tiling) use small helper ops that take the forward input as a
``like`` argument, so they work when shapes are only known at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from opcore import dtypes as dt
from opcore.dtypes import DType
from opcore.errors import OpDefinitionError, ShapeError
from opcore.ops import math as _math
from opcore.ops._broadcast import reshape_like
from opcore.registry import GradContext, define_op
from opcore.shapes import Dim, Shape, ShapeContext, concat_shape, normalize_axis

__all__ = [
    "concat",
    "expand_dims",
    "fill",
    "gather",
    "gather_grad",
    "getitem",
    "identity",
    "one_hot",
    "ones",
    "ones_like",
    "pad",
    "reshape",
    "slice",
    "split",
    "split_like",
    "squeeze",
    "stack",
    "stop_gradient",
    "strided_slice",
    "strided_slice_grad",
    "tile",
    "tile_grad",
    "transpose",
    "unstack",
    "zeros",
    "zeros_like",
]

_INDEX_TYPES = "int32, int64"
# The op below is TensorFlow's ``slice``; keep Python's builtin reachable.
_py_slice = slice


def _flat(dys: Sequence[Any]) -> list[Any]:
    """Gradient arguments of a variadic output, as one flat list (None where no gradient arrived)."""
    out: list[Any] = []
    for d in dys:
        if isinstance(d, (list, tuple)):
            out.extend(d)
        else:
            out.append(d)
    return out


def _as_list(result: Any) -> list[Any]:
    return list(result) if isinstance(result, (list, tuple)) else [result]


def _fill_missing(dys: Sequence[Any], outputs: Sequence[Any]) -> list[Any]:
    """Replace missing output gradients by zeros shaped like the output."""
    return [zeros_like(y) if d is None else d for d, y in zip(_flat(dys), outputs)]


# --------------------------------------------------------------------------- Reshape


def _reshape_shape(ctx: ShapeContext) -> Shape:
    x = ctx.input("x")
    target = ctx.attr("shape")
    if sum(1 for d in target if d == -1) > 1:
        raise ctx.error(f"shape {list(target)} has more than one -1; at most one dimension can be inferred")
    if any(d < -1 for d in target):
        raise ctx.error(f"shape {list(target)} has a negative dimension other than -1")
    known = 1
    for d in target:
        if d != -1:
            known *= d
    n = x.num_elements
    if -1 not in target:
        if n is not None and n != known:
            raise ctx.error(
                f"cannot reshape x with shape {x} ({n} elements) to shape {list(target)} ({known} elements)"
            )
        return Shape(target)
    if n is None:
        return Shape(None if d == -1 else d for d in target)
    if known == 0 or n % known:
        raise ctx.error(
            f"cannot reshape x with shape {x} ({n} elements) to shape {list(target)}: "
            f"{n} elements are not a multiple of the {known} given by the other dimensions"
        )
    return Shape(n // known if d == -1 else d for d in target)


def _reshape_grad(ctx: GradContext, dy: Any) -> list[Any]:
    return [reshape_like(dy, ctx.inputs[0])]


reshape = define_op(
    "Reshape",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.ALL},
    attrs=["shape: list(int)"],
    shape_fn=_reshape_shape,
    gradient=_reshape_grad,
    doc="Reshape ``x`` to ``shape``; one entry may be -1 (inferred from the element count).",
)


# --------------------------------------------------------------------------- Transpose


def _check_perm(ctx: ShapeContext, perm: Sequence[int], rank: int) -> tuple[int, ...]:
    if len(perm) != rank:
        raise ctx.error(f"perm {list(perm)} has {len(perm)} entries for x of rank {rank}")
    norm = tuple(normalize_axis(ctx, p, rank, "perm entry") for p in perm)
    if sorted(norm) != list(range(rank)):
        raise ctx.error(f"perm {list(perm)} is not a permutation of the axes 0..{rank - 1}")
    return norm


def _transpose_shape(ctx: ShapeContext) -> Shape:
    x = ctx.input("x")
    perm = ctx.attr("perm")
    if x.dims is None:
        return Shape(None) if perm is None else Shape([None] * len(perm))
    if perm is None:
        return Shape(reversed(x.dims))
    norm = _check_perm(ctx, perm, len(x.dims))
    return Shape(x.dims[p] for p in norm)


def _transpose_grad(ctx: GradContext, dy: Any) -> list[Any]:
    perm = ctx.attrs["perm"]
    if perm is None:
        return [transpose(dy)]
    rank = len(perm)
    inverse = [0] * rank
    for i, p in enumerate(perm):
        inverse[p % rank] = i
    return [transpose(dy, perm=inverse)]


transpose = define_op(
    "Transpose",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.ALL},
    attrs=["perm: list(int)? = None"],
    shape_fn=_transpose_shape,
    gradient=_transpose_grad,
    doc="Permute the axes of ``x`` (``perm=None`` reverses them).",
)


# --------------------------------------------------------------------------- ExpandDims / Squeeze


def _expand_dims_shape(ctx: ShapeContext) -> Shape:
    x = ctx.input("x")
    if x.dims is None:
        return Shape(None)
    rank = len(x.dims) + 1
    ax = normalize_axis(ctx, ctx.attr("axis"), rank)
    dims = list(x.dims)
    dims.insert(ax, 1)
    return Shape(dims)


def _reshape_back_grad(ctx: GradContext, dy: Any) -> list[Any]:
    return [reshape_like(dy, ctx.inputs[0])]


expand_dims = define_op(
    "ExpandDims",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.ALL},
    attrs=["axis: int"],
    shape_fn=_expand_dims_shape,
    gradient=_reshape_back_grad,
    doc="Insert a dimension of size 1 at ``axis`` (``-rank-1 <= axis <= rank``).",
)


def _squeeze_shape(ctx: ShapeContext) -> Shape:
    x = ctx.input("x")
    axis = ctx.attr("axis")
    if x.dims is None:
        return Shape(None)
    rank = len(x.dims)
    if axis is None:
        if any(d is None for d in x.dims):
            return Shape(None)  # which dims are 1 is only known at run time
        return Shape(d for d in x.dims if d != 1)
    axes = {normalize_axis(ctx, a, rank) for a in axis}
    for a in sorted(axes):
        if x.dims[a] is not None and x.dims[a] != 1:
            raise ctx.error(f"cannot squeeze axis {a} of x with shape {x}: its size is {x.dims[a]}, not 1")
    return Shape(d for i, d in enumerate(x.dims) if i not in axes)


squeeze = define_op(
    "Squeeze",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.ALL},
    attrs=["axis: list(int)? = None"],
    shape_fn=_squeeze_shape,
    gradient=_reshape_back_grad,
    doc="Remove dimensions of size 1 (all of them, or those named in ``axis``, which must be 1).",
)


# --------------------------------------------------------------------------- ConcatV2 / SplitLike


def _concat_shape(ctx: ShapeContext) -> Shape:
    values = ctx.inputs("values")
    if not values:
        raise ctx.error("needs at least one tensor in values")
    return concat_shape(ctx, values, ctx.attr("axis"))


def _concat_grad(ctx: GradContext, dy: Any) -> list[Any]:
    values = list(ctx.inputs[0])
    parts = _as_list(split_like(dy, values, axis=ctx.attrs["axis"], num=len(values)))
    return [parts]


concat = define_op(
    "ConcatV2",
    inputs=["values: N * T"],
    outputs=["output: T"],
    type_vars={"T": dt.ALL},
    attrs=["axis: int"],
    shape_fn=_concat_shape,
    gradient=_concat_grad,
    doc="Join ``values`` along an existing ``axis``; the other dimensions must agree.",
)


def _split_like_shape(ctx: ShapeContext) -> list[Shape]:
    x = ctx.input("x")
    likes = ctx.inputs("like")
    num = ctx.attr("num")
    if len(likes) != num:
        raise ctx.error(f"num={num} but like holds {len(likes)} tensors")
    total = concat_shape(ctx, likes, ctx.attr("axis"), names="like")
    if x.dims is not None and total.dims is not None and not x.is_compatible_with(total):
        raise ctx.error(f"x with shape {x} is not the concatenation {total} of the like tensors")
    ref = x.merge_with(total) if x.dims is not None else total
    out: list[Shape] = []
    for s in likes:
        if ref.dims is None or s.dims is None:
            out.append(s if s.dims is not None else Shape(None))
            continue
        ax = normalize_axis(ctx, ctx.attr("axis"), len(ref.dims))
        out.append(Shape(s.dims[ax] if i == ax else d for i, d in enumerate(ref.dims)))
    return out


def _split_like_grad(ctx: GradContext, *dys: Any) -> list[Any]:
    parts = _fill_missing(dys, ctx.outputs)
    return [concat(parts, axis=ctx.attrs["axis"]), [None] * len(ctx.inputs[1])]


split_like = define_op(
    "SplitLike",
    inputs=["x: T", "like: N * U"],
    outputs=["output: num * T"],
    type_vars={"T": dt.ALL, "U": dt.ALL},
    attrs=["axis: int", "num: int >= 1"],
    shape_fn=_split_like_shape,
    gradient=_split_like_grad,
    doc="Split ``x`` along ``axis`` into pieces as long as each ``like`` tensor (ConcatV2's gradient).",
)


# --------------------------------------------------------------------------- Pack / Unpack


def _pack_shape(ctx: ShapeContext) -> Shape:
    values = ctx.inputs("values")
    if not values:
        raise ctx.error("needs at least one tensor in values")
    merged = Shape(None)
    for i, s in enumerate(values):
        if not merged.is_compatible_with(s):
            raise ctx.error(f"values[{i}] has shape {s}, which differs from {merged}; all values need one shape")
        merged = merged.merge_with(s)
    if merged.dims is None:
        return Shape(None)
    ax = normalize_axis(ctx, ctx.attr("axis"), len(merged.dims) + 1)
    dims: list[Dim] = list(merged.dims)
    dims.insert(ax, len(values))
    return Shape(dims)


def _pack_grad(ctx: GradContext, dy: Any) -> list[Any]:
    n = len(ctx.inputs[0])
    return [_as_list(unstack(dy, num=n, axis=ctx.attrs["axis"]))]


stack = define_op(
    "Pack",
    inputs=["values: N * T"],
    outputs=["output: T"],
    type_vars={"T": dt.ALL},
    attrs=["axis: int = 0"],
    shape_fn=_pack_shape,
    gradient=_pack_grad,
    doc="Stack equally shaped ``values`` along a new ``axis``.",
)


def _unpack_shape(ctx: ShapeContext) -> list[Shape]:
    x = ctx.input("x")
    num = ctx.attr("num")
    if x.dims is None:
        return [Shape(None)] * num
    ax = normalize_axis(ctx, ctx.attr("axis"), len(x.dims))
    if x.dims[ax] is not None and x.dims[ax] != num:
        raise ctx.error(f"x with shape {x} has {x.dims[ax]} entries along axis {ax}, not num={num}")
    return [Shape(d for i, d in enumerate(x.dims) if i != ax)] * num


def _unpack_grad(ctx: GradContext, *dys: Any) -> list[Any]:
    return [stack(_fill_missing(dys, ctx.outputs), axis=ctx.attrs["axis"])]


unstack = define_op(
    "Unpack",
    inputs=["x: T"],
    outputs=["output: num * T"],
    type_vars={"T": dt.ALL},
    attrs=["num: int >= 1", "axis: int = 0"],
    shape_fn=_unpack_shape,
    gradient=_unpack_grad,
    doc="Unstack ``x`` along ``axis`` into ``num`` tensors (Pack's inverse and gradient).",
)


# --------------------------------------------------------------------------- Split


def _split_shape(ctx: ShapeContext) -> list[Shape]:
    x = ctx.input("x")
    n = ctx.attr("num_split")
    if x.dims is None:
        return [Shape(None)] * n
    ax = normalize_axis(ctx, ctx.attr("axis"), len(x.dims))
    d = x.dims[ax]
    if d is not None and d % n:
        raise ctx.error(f"x with shape {x} has {d} entries along axis {ax}, not divisible by num_split={n}")
    part = None if d is None else d // n
    return [Shape(part if i == ax else s for i, s in enumerate(x.dims))] * n


def _split_grad(ctx: GradContext, *dys: Any) -> list[Any]:
    return [concat(_fill_missing(dys, ctx.outputs), axis=ctx.attrs["axis"])]


split = define_op(
    "Split",
    inputs=["x: T"],
    outputs=["output: num_split * T"],
    type_vars={"T": dt.ALL},
    attrs=["num_split: int >= 1", "axis: int = 0"],
    shape_fn=_split_shape,
    gradient=_split_grad,
    doc="Split ``x`` along ``axis`` into ``num_split`` equal pieces.",
)


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
                raise ctx.error(f"index {b} is out of bounds for axis {axis} with size {dim} (x has shape {x})")
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
        "A shrunk axis uses begin[i] (0, or -1 for a negative stride, when begin_mask masks it)."
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
    doc="Scatter ``dy`` into zeros shaped like ``like`` at the positions StridedSlice reads.",
)


# --------------------------------------------------------------------------- Slice


def _slice_shape(ctx: ShapeContext) -> Shape:
    x = ctx.input("x")
    begin, size = ctx.attr("begin"), ctx.attr("size")
    if len(begin) != len(size):
        raise ctx.error(f"begin {list(begin)} and size {list(size)} must have the same length")
    for b, s in zip(begin, size):
        if b < 0 or s < -1:
            raise ctx.error(f"begin {list(begin)} must be >= 0 and size {list(size)} >= -1")
    if x.dims is None:
        return Shape(None if s == -1 else s for s in size)
    if len(x.dims) != len(begin):
        raise ctx.error(f"begin {list(begin)} has {len(begin)} entries for x with shape {x}")
    out: list[Dim] = []
    for i, (d, b, s) in enumerate(zip(x.dims, begin, size)):
        if d is not None and (b > d or (s != -1 and b + s > d)):
            raise ctx.error(f"slice [{b}, {b}+{s}) of axis {i} is out of bounds for x with shape {x}")
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
    doc="The block of ``x`` starting at ``begin`` of extent ``size`` (-1: to the end of the axis).",
)


# --------------------------------------------------------------------------- getitem


def getitem(x: Any, key: Any) -> Any:
    """``x[key]`` with basic indexing, as one StridedSlice.

    Supports ints (negative count from the end), slices with any nonzero step,
    ``None`` (a new axis) and ``...``. Out-of-range ints raise ShapeError naming
    the index and the shape.

    ``t[1, ::-1, None]`` becomes ``strided_slice(t, [1, 0, 0], [2, 0, 0], [1, -1, 1],
    begin_mask=0b010, end_mask=0b010, new_axis_mask=0b100, shrink_axis_mask=0b001)``.
    """
    shape = getattr(x, "shape", None)
    attrs = strided_slice_attrs(key)
    try:
        return strided_slice(x, **attrs)
    except ShapeError as e:
        raise ShapeError(f"cannot index a tensor of shape {shape} with {key!r}: {e}") from None


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
        "params.shape[:axis] + indices.shape + params.shape[axis+1:]. Indices must lie in [0, dim)."
    ),
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
    doc="Add the slices of ``dy`` into zeros shaped like ``like`` at ``indices`` (GatherV2's gradient).",
)


# --------------------------------------------------------------------------- Tile / TileGrad


def _tile_shape(ctx: ShapeContext) -> Shape:
    x, multiples = ctx.input("x"), ctx.attr("multiples")
    if any(m < 0 for m in multiples):
        raise ctx.error(f"multiples {list(multiples)} must be >= 0")
    if x.dims is None:
        return Shape([None] * len(multiples))
    if len(multiples) != len(x.dims):
        raise ctx.error(f"multiples {list(multiples)} has {len(multiples)} entries for x with shape {x}")
    return Shape(None if d is None else d * m for d, m in zip(x.dims, multiples))


def _tile_grad(ctx: GradContext, dy: Any) -> list[Any]:
    return [tile_grad(dy, ctx.inputs[0], multiples=ctx.attrs["multiples"])]


tile = define_op(
    "Tile",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.ALL},
    attrs=["multiples: list(int)"],
    shape_fn=_tile_shape,
    gradient=_tile_grad,
    doc="Repeat ``x`` ``multiples[i]`` times along each axis i.",
)


def _tile_grad_shape(ctx: ShapeContext) -> Shape:
    dy, like, multiples = ctx.input("dy"), ctx.input("like"), ctx.attr("multiples")
    if like.dims is not None:
        if len(multiples) != len(like.dims):
            raise ctx.error(f"multiples {list(multiples)} has {len(multiples)} entries for like {like}")
        expected = Shape(None if d is None else d * m for d, m in zip(like.dims, multiples))
        if not dy.is_compatible_with(expected):
            raise ctx.error(f"dy with shape {dy} is not like {like} tiled by {list(multiples)}")
    return like


def _tile_grad_grad(ctx: GradContext, ddx: Any) -> list[Any]:
    return [tile(ddx, multiples=ctx.attrs["multiples"]), None]


tile_grad = define_op(
    "TileGrad",
    inputs=["dy: T", "like: U"],
    outputs=["dx: T"],
    type_vars={"T": dt.NUMERIC, "U": dt.ALL},
    attrs=["multiples: list(int)"],
    shape_fn=_tile_grad_shape,
    gradient=_tile_grad_grad,
    doc="Sum the tiles of ``dy`` back to the shape of ``like`` (Tile's gradient).",
)


# --------------------------------------------------------------------------- Pad


def _pad_shape(ctx: ShapeContext) -> Shape:
    x, paddings = ctx.input("x"), ctx.attr("paddings")
    if len(paddings) % 2 or any(p < 0 for p in paddings):
        raise ctx.error(f"paddings {list(paddings)} must be non-negative [before, after] pairs, flattened")
    pairs = [(paddings[2 * i], paddings[2 * i + 1]) for i in range(len(paddings) // 2)]
    if x.dims is None:
        return Shape([None] * len(pairs))
    if len(pairs) != len(x.dims):
        raise ctx.error(f"paddings has {len(pairs)} [before, after] pairs for x with shape {x}")
    return Shape(None if d is None else d + b + a for d, (b, a) in zip(x.dims, pairs))


def _pad_grad(ctx: GradContext, dy: Any) -> list[Any]:
    p = ctx.attrs["paddings"]
    n = len(p) // 2
    begin = [p[2 * i] for i in range(n)]
    end = [-p[2 * i + 1] for i in range(n)]
    end_mask = sum(1 << i for i in range(n) if p[2 * i + 1] == 0)
    return [strided_slice(dy, begin, end, [1] * n, end_mask=end_mask)]


_PAD = define_op(
    "Pad",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.ALL},
    attrs=["paddings: list(int)", "constant_values: float = 0.0"],
    shape_fn=_pad_shape,
    gradient=_pad_grad,
    doc="Constant padding; ``paddings`` is the flattened [[before, after], ...] list.",
)


def pad(x: Any, paddings: Sequence[Sequence[int]], constant_values: float = 0.0, name: str | None = None) -> Any:
    """Pad ``x`` with ``constant_values``: ``paddings[i] = [before, after]`` for axis i.

    Only constant padding (TensorFlow's mode ``CONSTANT``) is provided.

    >>> # pad(x, [[1, 1], [2, 2]]) turns a (2, 3) tensor into a (4, 7) one
    """
    flat: list[int] = []
    for i, pair in enumerate(paddings):
        pair = list(pair)
        if len(pair) != 2:
            raise ShapeError(f"Pad: paddings[{i}] is {pair}; each entry must be [before, after]")
        flat.extend(pair)
    return _PAD(x, paddings=flat, constant_values=constant_values, name=name)


# --------------------------------------------------------------------------- OneHot


def _one_hot_shape(ctx: ShapeContext) -> Shape:
    indices = ctx.input("indices")
    if ctx.attr("dtype") is None:
        raise ctx.error("dtype must be given")
    if indices.dims is None:
        return Shape(None)
    rank = len(indices.dims) + 1
    ax = normalize_axis(ctx, ctx.attr("axis"), rank)
    dims: list[Dim] = list(indices.dims)
    dims.insert(ax, ctx.attr("depth"))
    return Shape(dims)


_ONE_HOT = define_op(
    "OneHot",
    inputs=["indices: TI"],
    outputs=["output: dtype"],
    type_vars={"TI": _INDEX_TYPES},
    attrs=[
        "depth: int >= 0",
        "on_value: float = 1.0",
        "off_value: float = 0.0",
        "axis: int = -1",
        "dtype: type = float32",
    ],
    shape_fn=_one_hot_shape,
    differentiable=False,
    doc="One-hot encoding along a new ``axis``; indices outside [0, depth) give all-off rows.",
)


def one_hot(
    indices: Any,
    depth: int,
    on_value: float = 1.0,
    off_value: float = 0.0,
    axis: int = -1,
    dtype: Any = dt.float32,
    name: str | None = None,
) -> Any:
    """One-hot encode int ``indices`` into a new axis of length ``depth``.

    Indices outside ``[0, depth)`` (negative ones included) give rows of ``off_value``,
    as in TensorFlow.

    >>> # one_hot([0, 2], 3) -> [[1, 0, 0], [0, 0, 1]] (float32)
    """
    return _ONE_HOT(indices, depth=depth, on_value=on_value, off_value=off_value, axis=axis, dtype=dtype, name=name)


# --------------------------------------------------------------------------- Fill, ZerosLike, OnesLike


def _fill_shape(ctx: ShapeContext) -> Shape:
    value = ctx.input("value")
    if value.dims is not None and len(value.dims) != 0:
        raise ctx.error(f"value must be a scalar, got shape {value}")
    dims = ctx.attr("dims")
    if any(d is None or d < 0 for d in dims):
        raise ctx.error(f"dims {list(dims)} must be known non-negative sizes")
    return Shape(dims)


def _fill_grad(ctx: GradContext, dy: Any) -> list[Any]:
    from opcore.ops import reduce  # a later family

    return [reduce.reduce_sum(dy)]


_FILL = define_op(
    "Fill",
    inputs=["value: T"],
    outputs=["y: T"],
    type_vars={"T": dt.ALL},
    attrs=["dims: shape"],
    shape_fn=_fill_shape,
    gradient=_fill_grad,
    doc="A tensor of shape ``dims`` filled with the scalar ``value``.",
)


def _scalar(value: Any, dtype: DType | None) -> Any:
    """A scalar input of ``dtype`` from Python/NumPy data, or the tensor itself (cast if needed)."""
    if isinstance(value, (bool, int, float, np.generic, np.ndarray)):
        d = (
            dtype
            if dtype is not None
            else (
                dt.as_dtype(value.dtype)
                if isinstance(value, (np.generic, np.ndarray))
                else dt.weak_scalar_dtype(value, None)
            )
        )
        return np.asarray(value, dtype=d.np)
    if dtype is not None and getattr(value, "dtype", dtype) != dtype:
        return _math.cast(value, dtype)
    return value


def fill(dims: Sequence[int], value: Any, dtype: Any = None, name: str | None = None) -> Any:
    """A tensor of shape ``dims`` filled with the scalar ``value`` (of ``dtype`` if given).

    >>> # fill([2, 3], 7) -> a (2, 3) int32 tensor of sevens
    """
    d = None if dtype is None else dt.as_dtype(dtype)
    return _FILL(_scalar(value, d), dims=dims, name=name)


def zeros(shape: Sequence[int], dtype: Any = dt.float32, name: str | None = None) -> Any:
    """A tensor of zeros."""
    return fill(shape, 0, dtype, name=name)


def ones(shape: Sequence[int], dtype: Any = dt.float32, name: str | None = None) -> Any:
    """A tensor of ones."""
    return fill(shape, 1, dtype, name=name)


zeros_like = define_op(
    "ZerosLike",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.ALL},
    shape_fn=lambda ctx: ctx.input("x"),
    differentiable=False,
    doc="Zeros with the shape and dtype of ``x`` (False for bool).",
)

ones_like = define_op(
    "OnesLike",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.ALL},
    shape_fn=lambda ctx: ctx.input("x"),
    differentiable=False,
    doc="Ones with the shape and dtype of ``x`` (True for bool).",
)


def _identity_grad(ctx: GradContext, dy: Any) -> list[Any]:
    return [dy]


identity = define_op(
    "Identity",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.ALL},
    shape_fn=lambda ctx: ctx.input("x"),
    gradient=_identity_grad,
    doc="``x`` itself, as a new tensor (a named node in a graph).",
)

stop_gradient = define_op(
    "StopGradient",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.ALL},
    shape_fn=lambda ctx: ctx.input("x"),
    differentiable=False,
    doc="``x`` itself, but no gradient flows through it (a constant for autodiff).",
)
