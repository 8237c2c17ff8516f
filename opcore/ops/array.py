"""Built-in ops: array family (reshaping, joining, splitting, tiling, padding, filling).

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
from opcore.errors import ShapeError
from opcore.ops import math as _math
from opcore.ops._broadcast import reshape_like
from opcore.ops.indexing import (  # noqa: F401 - also reachable here, where they were defined before
    gather,
    gather_grad,
    getitem,
    slice,
    strided_slice,
    strided_slice_grad,
)
from opcore.registry import GradContext, define_op
from opcore.shapes import Dim, Shape, ShapeContext, concat_shape, normalize_axis

__all__ = [
    "concat",
    "expand_dims",
    "fill",
    "identity",
    "one_hot",
    "ones",
    "ones_like",
    "pad",
    "reshape",
    "split",
    "split_like",
    "squeeze",
    "stack",
    "stop_gradient",
    "tile",
    "tile_grad",
    "transpose",
    "unstack",
    "zeros",
    "zeros_like",
]

_INDEX_TYPES = "int32, int64"


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
    n = x.num_elements()
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
    function_name="concat",
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
    function_name="stack",
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
    function_name="unstack",
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
    doc=(
        "One-hot encoding along a new ``axis``. Invalid indices, on every backend: an index outside "
        "[0, depth), negative ones included, is no error; it gives a row of ``off_value`` (TensorFlow's rule)."
    ),
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
    as in TensorFlow, on every backend: they are not an error.

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
    """A tensor of shape ``shape`` filled with zeros, of ``dtype`` (float32 by default)."""
    return fill(shape, 0, dtype, name=name)


def ones(shape: Sequence[int], dtype: Any = dt.float32, name: str | None = None) -> Any:
    """A tensor of shape ``shape`` filled with ones, of ``dtype`` (float32 by default)."""
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
