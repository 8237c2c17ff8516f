"""Built-in ops: selecting elements by their values (``where(cond)``, ``boolean_mask``, ``unique``, ``setdiff1d``).

Each op here has an output whose size depends on the input *values*: how many
elements are true, distinct, or missing from another list. Their shape
functions mark that dimension :data:`~opcore.shapes.VALUE_DEPENDENT`, so it is
``None`` in a graph and decided by the kernel when it runs; everything else
about the output (its rank, its other dimensions, its dtype) is known before.

>>> import opcore
>>> x = opcore.constant([3, 1, 3, 2, 1])
>>> y, idx = opcore.unique(x)
>>> y.numpy().tolist(), idx.numpy().tolist()
([3, 1, 2], [0, 1, 0, 2, 1])
>>> opcore.boolean_mask(x, x > 1).numpy().tolist()
[3, 3, 2]
>>> opcore.where(x > 2).numpy().tolist()
[[0], [2]]
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from opcore import dtypes as dt
from opcore.errors import DTypeError
from opcore.ops import math as _math
from opcore.ops.array import ones_like
from opcore.ops.indexing import gather, gather_grad
from opcore.registry import GradContext, define_op
from opcore.shapes import VALUE_DEPENDENT, Dim, Shape, ShapeContext, normalize_axis

__all__ = [
    "boolean_mask",
    "boolean_mask_grad",
    "setdiff1d",
    "unique",
]

#: What ``unique`` returns: the distinct values and, per input element, the index of its value in ``y``.
UniqueResult = namedtuple("UniqueResult", ["y", "idx"])
#: What ``setdiff1d`` returns: the kept values and their positions in ``x``.
SetDiffResult = namedtuple("SetDiffResult", ["out", "idx"])

_INDEX_TYPES = (dt.int32, dt.int64)


def _index_dtype(ctx: ShapeContext, attr: str) -> None:
    value = ctx.attr(attr)
    if value not in _INDEX_TYPES:
        raise DTypeError(f"{ctx.op}: {attr} must be int32 or int64, got {value}")


def _vector(ctx: ShapeContext, name: str) -> Dim:
    """The length of the 1-D input ``name`` (None if unknown); a ShapeError for any other rank."""
    s = ctx.input(name)
    if s.dims is None:
        return None
    if len(s.dims) != 1:
        raise ctx.error(f"input {name!r} must be a 1-D vector, got shape {s}")
    return s.dims[0]


# --------------------------------------------------------------------------- Where


def _where_shape(ctx: ShapeContext) -> Shape:
    """[number of true elements (value-dependent), rank of condition]."""
    return Shape([VALUE_DEPENDENT, ctx.input("condition").rank])


where_indices = define_op(
    "Where",
    inputs=["condition: T"],
    outputs=["index: int64"],
    type_vars={"T": dt.ALL},
    shape_fn=_where_shape,
    differentiable=False,
    doc=(
        "The coordinates of the true (nonzero) elements of ``condition``, in row-major order, as an int64 "
        "matrix of shape [number of true elements, rank of condition] (the one-argument ``where``)."
    ),
)


# --------------------------------------------------------------------------- BooleanMask


def _mask_layout(ctx: ShapeContext, tensor: Shape, mask: Shape) -> tuple[int, int] | None:
    """(axis, rank of mask) after checking that ``mask`` fits ``tensor`` at ``axis``; None if ranks are unknown."""
    if mask.dims is not None and not mask.dims:
        raise ctx.error("mask must have at least one dimension, got a scalar")
    if tensor.dims is None or mask.dims is None:
        return None
    rank, k = len(tensor.dims), len(mask.dims)
    axis = ctx.attr("axis")
    if rank == 0:
        raise ctx.error(f"tensor must have at least one dimension, got shape {tensor}")
    ax = normalize_axis(ctx, axis, rank)
    if ax + k > rank:
        raise ctx.error(
            f"mask with shape {mask} (rank {k}) does not fit tensor with shape {tensor} from axis {axis}: "
            f"it needs {ax + k} dimensions"
        )
    if not Shape(tensor.dims[ax : ax + k]).is_compatible_with(mask):
        raise ctx.error(
            f"mask with shape {mask} does not match the dimensions {Shape(tensor.dims[ax : ax + k])} of tensor "
            f"with shape {tensor} from axis {axis}"
        )
    return ax, k


def _boolean_mask_shape(ctx: ShapeContext) -> Shape:
    """tensor's shape with the mask's dimensions replaced by one: the number of true elements (value-dependent)."""
    tensor = ctx.input("tensor")
    layout = _mask_layout(ctx, tensor, ctx.input("mask"))
    if layout is None or tensor.dims is None:
        return Shape(None)
    ax, k = layout
    return Shape([*tensor.dims[:ax], VALUE_DEPENDENT, *tensor.dims[ax + k :]])


def _boolean_mask_grad(ctx: GradContext, dy: Any = None) -> list[Any]:
    if dy is None:
        return [None, None]
    tensor, mask = ctx.inputs
    return [boolean_mask_grad(dy, mask, tensor, axis=ctx.attrs["axis"]), None]


_BOOLEAN_MASK = define_op(
    "BooleanMask",
    inputs=["tensor: T", "mask: bool"],
    outputs=["output: T"],
    type_vars={"T": dt.ALL},
    attrs=["axis: int = 0"],
    shape_fn=_boolean_mask_shape,
    gradient=_boolean_mask_grad,
    doc=(
        "The slices of ``tensor`` where the k-D ``mask`` is true: the mask covers dimensions "
        "[axis, axis + k) of tensor, and they become one dimension as long as the number of true "
        "elements (row-major order)."
    ),
)


def _boolean_mask_grad_shape(ctx: ShapeContext) -> Shape:
    """The shape of ``like``; dy must have it with the mask's dimensions replaced by one."""
    dy, like = ctx.input("dy"), ctx.input("like")
    layout = _mask_layout(ctx, like, ctx.input("mask"))
    if layout is not None and like.dims is not None:
        ax, k = layout
        expected = Shape([*like.dims[:ax], None, *like.dims[ax + k :]])
        if not dy.is_compatible_with(expected):
            raise ctx.error(f"dy with shape {dy} does not match the masked shape {expected} of like {like}")
    return like


def _boolean_mask_grad_grad(ctx: GradContext, ddx: Any = None) -> list[Any]:
    if ddx is None:
        return [None, None, None]
    return [_BOOLEAN_MASK(ddx, ctx.inputs[1], axis=ctx.attrs["axis"]), None, None]


boolean_mask_grad = define_op(
    "BooleanMaskGrad",
    inputs=["dy: T", "mask: bool", "like: U"],
    outputs=["dx: T"],
    type_vars={"T": dt.ALL, "U": dt.ALL},
    attrs=["axis: int = 0"],
    shape_fn=_boolean_mask_grad_shape,
    gradient=_boolean_mask_grad_grad,
    doc=(
        "Put the slices of ``dy`` back where BooleanMask took them from: zeros shaped like ``like``, "
        "with ``dy``'s slices at the true elements of ``mask`` (BooleanMask's gradient)."
    ),
)


def boolean_mask(tensor: Any, mask: Any, axis: int | None = None, name: str | None = None) -> Any:
    """The slices of ``tensor`` where ``mask`` is true (TensorFlow's ``tf.boolean_mask``).

    ``mask`` is a bool tensor of rank k >= 1 whose shape matches dimensions
    ``[axis, axis + k)`` of ``tensor`` (``axis`` defaults to 0). Those k
    dimensions become one, as long as the number of true elements, taken in
    row-major order; the result's other dimensions are ``tensor``'s. The
    gradient puts the slices back and leaves zeros where the mask is false.

    >>> import opcore
    >>> t = opcore.constant([[1, 2], [3, 4], [5, 6]])
    >>> opcore.boolean_mask(t, [True, False, True]).numpy().tolist()
    [[1, 2], [5, 6]]
    >>> opcore.boolean_mask(t, [False, True], axis=1).numpy().tolist()
    [[2], [4], [6]]
    """
    return _BOOLEAN_MASK(tensor, mask, axis=0 if axis is None else axis, name=name)


# --------------------------------------------------------------------------- Unique


def _unique_shape(ctx: ShapeContext) -> list[Shape]:
    """y: [number of distinct values (value-dependent)]; idx: x's shape; x must be 1-D."""
    _index_dtype(ctx, "out_idx")
    return [Shape([VALUE_DEPENDENT]), Shape([_vector(ctx, "x")])]


def _unique_grad(ctx: GradContext, dy: Any = None, _didx: Any = None) -> list[Any]:
    # y[j] stands for every x[i] with idx[i] == j; the gradient is shared equally among them
    # (as the gradient of a maximum is shared among ties). For distinct values it is dy itself.
    if dy is None or not ctx.needs_grad(0):
        return [None]
    x = ctx.inputs[0]
    y, idx = ctx.outputs
    counts = gather_grad(ones_like(x), idx, y)  # how many elements of x each y[j] stands for
    return [gather(_math.divide(dy, counts), idx)]


_UNIQUE = define_op(
    "Unique",
    inputs=["x: T"],
    outputs=["y: T", "idx: out_idx"],
    type_vars={"T": dt.ALL},
    attrs=["out_idx: type = int32"],
    shape_fn=_unique_shape,
    gradient=_unique_grad,
    doc=(
        "The distinct values ``y`` of the 1-D ``x`` in the order of their first occurrence, and for each "
        "element of x the index ``idx`` of its value in y (``x == gather(y, idx)``). Values are compared "
        "with ``==``: 0.0 and -0.0 are one value (y keeps the first), every NaN is its own."
    ),
)


def unique(x: Any, out_idx: Any = dt.int32, name: str | None = None) -> Any:
    """The distinct values of the 1-D ``x`` and where each element's value is (TensorFlow's ``tf.unique``).

    Returns ``(y, idx)`` (a named tuple): ``y`` holds each distinct value once,
    in the order of its first occurrence in ``x``; ``idx`` (dtype ``out_idx``,
    int32 or int64) has one entry per element of ``x``, the index of its value
    in ``y``, so ``gather(y, idx)`` rebuilds ``x``. As in TensorFlow, values
    are compared with ``==``: ``0.0`` and ``-0.0`` are one value and every NaN
    is distinct. The gradient of ``y`` flows back to ``x``, shared equally
    among the elements that share a value.

    >>> import opcore
    >>> y, idx = opcore.unique(opcore.constant([1, 1, 2, 4, 4, 4, 7, 8, 8]))
    >>> y.numpy().tolist(), idx.numpy().tolist()
    ([1, 2, 4, 7, 8], [0, 0, 1, 2, 2, 2, 3, 4, 4])
    """
    return UniqueResult(*_UNIQUE(x, out_idx=out_idx, name=name))


# --------------------------------------------------------------------------- ListDiff (setdiff1d)


def _setdiff_shape(ctx: ShapeContext) -> list[Shape]:
    """out and idx: [number of elements of x not in y (value-dependent)]; x and y must be 1-D."""
    _index_dtype(ctx, "out_idx")
    _vector(ctx, "x")
    _vector(ctx, "y")
    return [Shape([VALUE_DEPENDENT]), Shape([VALUE_DEPENDENT])]


_LIST_DIFF = define_op(
    "ListDiff",
    inputs=["x: T", "y: T"],
    outputs=["out: T", "idx: out_idx"],
    type_vars={"T": dt.ALL},
    attrs=["out_idx: type = int32"],
    shape_fn=_setdiff_shape,
    differentiable=False,
    doc=(
        "The elements of the 1-D ``x`` that are not in the 1-D ``y``, in their order in x (repeats kept), "
        "and their positions ``idx`` in x. Values are compared with ``==`` (a NaN is never in y)."
    ),
)


def setdiff1d(x: Any, y: Any, index_dtype: Any = dt.int32, name: str | None = None) -> Any:
    """The elements of ``x`` that are not in ``y`` (TensorFlow's ``tf.setdiff1d``).

    Returns ``(out, idx)`` (a named tuple): ``out`` holds the elements of the
    1-D ``x`` that do not occur in the 1-D ``y``, in their order in ``x`` with
    repeats kept, and ``idx`` (dtype ``index_dtype``, int32 or int64) their
    positions in ``x``, so ``out == gather(x, idx)``. Values are compared with
    ``==``, so a NaN is never found in ``y``. Not differentiable (as in TensorFlow).

    >>> import opcore
    >>> out, idx = opcore.setdiff1d([1, 2, 3, 4, 5, 6], [1, 3, 5])
    >>> out.numpy().tolist(), idx.numpy().tolist()
    ([2, 4, 6], [1, 3, 5])
    """
    return SetDiffResult(*_LIST_DIFF(x, y, out_idx=index_dtype, name=name))
