"""Built-in ops, array family: tiling, padding and filling (Tile, TileGrad, Pad, OneHot, Fill, ZerosLike,
OnesLike, Identity, StopGradient), with the functions ``pad``, ``one_hot``, ``fill``, ``zeros`` and ``ones``
that take their arguments in TensorFlow's form.

TileGrad, Tile's gradient, takes the forward input as a ``like`` argument, so
it works when shapes are only known at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from opcore import dtypes as dt
from opcore.dtypes import DType
from opcore.errors import ShapeError
from opcore.ops import math as _math
from opcore.ops.indexing import strided_slice
from opcore.registry import GradContext, define_op
from opcore.shapes import Dim, Shape, ShapeContext, normalize_axis, unchanged

__all__ = [
    "fill",
    "identity",
    "one_hot",
    "ones",
    "ones_like",
    "pad",
    "stop_gradient",
    "tile",
    "tile_grad",
    "zeros",
    "zeros_like",
]

_INDEX_TYPES = "int32, int64"
_X = unchanged("x")


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
    shape_fn=_X,
    differentiable=False,
    doc="Zeros with the shape and dtype of ``x`` (False for bool).",
)

ones_like = define_op(
    "OnesLike",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.ALL},
    shape_fn=_X,
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
    shape_fn=_X,
    gradient=_identity_grad,
    doc="``x`` itself, as a new tensor (a named node in a graph).",
)

stop_gradient = define_op(
    "StopGradient",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.ALL},
    shape_fn=_X,
    differentiable=False,
    doc="``x`` itself, but no gradient flows through it (a constant for autodiff).",
)
