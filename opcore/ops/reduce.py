"""Built-in ops: reduce family (sum, mean, max, min, prod, argmax, argmin).

``axis=None`` reduces over every axis; ``keepdims=True`` keeps the reduced
axes with size 1. Gradients restore the reduced axes with
:data:`unreduce_like`, which takes the forward input as ``like`` so it works
when shapes are only known at run time.
"""

from __future__ import annotations

from typing import Any

from opcore import dtypes as dt
from opcore.errors import OpDefinitionError
from opcore.ops import array as _array
from opcore.ops import math as _math
from opcore.registry import GradContext, define_op
from opcore.shapes import Shape, ShapeContext, normalize_axis, reduce_shape

__all__ = [
    "argmax",
    "argmin",
    "reduce_max",
    "reduce_mean",
    "reduce_min",
    "reduce_prod",
    "reduce_sum",
    "unreduce_like",
]

_REDUCE_ATTRS = ["axis: list(int)? = None", "keepdims: bool = False"]


def _reduce_shape(ctx: ShapeContext) -> Shape:
    return reduce_shape(ctx, ctx.input("x"), ctx.attr("axis"), ctx.attr("keepdims"))


def _unreduce(ctx: GradContext, value: Any) -> Any:
    """``value`` (shaped like the reduction's output) broadcast back to the input's shape."""
    return unreduce_like(value, ctx.inputs[0], axis=ctx.attrs["axis"], keepdims=ctx.attrs["keepdims"])


def _reduced_count(ctx: GradContext) -> Any:
    """How many input elements fed each output element, shaped like the output, in the input's dtype."""
    x = ctx.inputs[0]
    return reduce_sum(_array.ones_like(x), axis=ctx.attrs["axis"], keepdims=ctx.attrs["keepdims"])


# --------------------------------------------------------------------------- Sum / Mean


def _sum_grad(ctx: GradContext, dy: Any) -> list[Any]:
    return [_unreduce(ctx, dy)]


reduce_sum = define_op(
    "Sum",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.NUMERIC},
    attrs=_REDUCE_ATTRS,
    shape_fn=_reduce_shape,
    gradient=_sum_grad,
    doc="Sum over ``axis`` (None: all axes), in ``x``'s dtype (integers wrap on overflow).",
    function_name="reduce_sum",
)


def _mean_grad(ctx: GradContext, dy: Any) -> list[Any]:
    return [_unreduce(ctx, _math.divide(dy, _reduced_count(ctx)))]


reduce_mean = define_op(
    "Mean",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.NUMERIC},
    attrs=_REDUCE_ATTRS,
    shape_fn=_reduce_shape,
    gradient=_mean_grad,
    doc=(
        "Mean over ``axis`` (None: all axes). For integer ``x`` the result is the integer sum "
        "divided by the count, truncated toward zero, as in TensorFlow (an empty mean gives 0); "
        "for floats an empty mean is NaN."
    ),
    function_name="reduce_mean",
)


# --------------------------------------------------------------------------- Max / Min


def _extremum_grad(ctx: GradContext, dy: Any) -> list[Any]:
    # TensorFlow's rule: ties share the gradient equally.
    x, y = ctx.inputs[0], ctx.outputs[0]
    hit = _math.cast(_math.equal(x, _unreduce(ctx, y)), x.dtype)
    ties = reduce_sum(hit, axis=ctx.attrs["axis"], keepdims=ctx.attrs["keepdims"])
    return [_math.multiply(hit, _unreduce(ctx, _math.divide(dy, ties)))]


reduce_max = define_op(
    "Max",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.NUMERIC},
    attrs=_REDUCE_ATTRS,
    shape_fn=_reduce_shape,
    gradient=_extremum_grad,
    doc=(
        "Maximum over ``axis`` (None: all axes); an empty reduction gives the lowest value "
        "(-inf for floats). The gradient is shared equally among tied maxima. NaN, on every backend: "
        "NaN propagates, a reduced slice holding a NaN gives NaN (TensorFlow since 2.4, NumPy's max)."
    ),
    function_name="reduce_max",
)

reduce_min = define_op(
    "Min",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.NUMERIC},
    attrs=_REDUCE_ATTRS,
    shape_fn=_reduce_shape,
    gradient=_extremum_grad,
    doc=(
        "Minimum over ``axis`` (None: all axes); an empty reduction gives the highest value "
        "(+inf for floats). The gradient is shared equally among tied minima. NaN, on every backend: "
        "NaN propagates, a reduced slice holding a NaN gives NaN (TensorFlow since 2.4, NumPy's min)."
    ),
    function_name="reduce_min",
)


# --------------------------------------------------------------------------- Prod


def _prod_grad(ctx: GradContext, dy: Any) -> list[Any]:
    # d prod / d x_i is the product of the other elements. Dividing y by x_i fails at zeros,
    # so count the zeros of each group: none -> prod(nonzero) / x_i; exactly one -> the
    # zero position gets prod(nonzero), the others 0; two or more -> all 0.
    x = ctx.inputs[0]
    axis, keep = ctx.attrs["axis"], ctx.attrs["keepdims"]
    zero = _array.zeros_like(x)
    one = _array.ones_like(x)
    is_zero = _math.equal(x, zero)
    safe = _math.where(is_zero, one, x)
    prod_nonzero = _unreduce(ctx, reduce_prod(safe, axis=axis, keepdims=keep))
    zeros_in_group = _unreduce(ctx, reduce_sum(_math.cast(is_zero, x.dtype), axis=axis, keepdims=keep))
    none_zero = _math.equal(zeros_in_group, zero)
    one_zero = _math.equal(zeros_in_group, one)
    others = _math.where(
        none_zero,
        _math.divide(prod_nonzero, safe),
        _math.where(one_zero, _math.where(is_zero, prod_nonzero, zero), zero),
    )
    return [_math.multiply(others, _unreduce(ctx, dy))]


reduce_prod = define_op(
    "Prod",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.NUMERIC},
    attrs=_REDUCE_ATTRS,
    shape_fn=_reduce_shape,
    gradient=_prod_grad,
    doc="Product over ``axis`` (None: all axes), in ``x``'s dtype; the gradient is exact at zeros.",
    function_name="reduce_prod",
)


# --------------------------------------------------------------------------- ArgMax / ArgMin


def _arg_shape(ctx: ShapeContext) -> Shape:
    x = ctx.input("x")
    if ctx.attr("output_type") not in (dt.int32, dt.int64):
        raise OpDefinitionError(f"{ctx.op}: output_type must be int32 or int64, got {ctx.attr('output_type')}")
    if x.dims is None:
        return Shape(None)
    ax = normalize_axis(ctx, ctx.attr("axis"), len(x.dims))
    if x.dims[ax] == 0:
        raise ctx.error(f"cannot take the arg of an empty axis {ax} of x with shape {x}")
    return Shape(d for i, d in enumerate(x.dims) if i != ax)


_ARG_DOC = (
    "Index of the {what} along ``axis`` (the first one among ties), as ``output_type`` (int32 or int64). "
    "NaN, on every backend: a NaN counts as {inf}, so NaNs are skipped and a slice of NaNs only gives 0. "
    "This is TensorFlow's rule (its CPU kernel never picks a NaN: ``{name}([[1, nan, {ex}]], axis=1)`` is 2); "
    "NumPy and PyTorch return the first NaN's index instead (1 there). Integer inputs have no NaN."
)

argmax = define_op(
    "ArgMax",
    inputs=["x: T"],
    outputs=["output: output_type"],
    type_vars={"T": dt.NUMERIC},
    attrs=["axis: int = 0", "output_type: type = int64"],
    shape_fn=_arg_shape,
    differentiable=False,
    doc=_ARG_DOC.format(what="largest value", inf="-inf", name="argmax", ex=3),
    function_name="argmax",
)

argmin = define_op(
    "ArgMin",
    inputs=["x: T"],
    outputs=["output: output_type"],
    type_vars={"T": dt.NUMERIC},
    attrs=["axis: int = 0", "output_type: type = int64"],
    shape_fn=_arg_shape,
    differentiable=False,
    doc=_ARG_DOC.format(what="smallest value", inf="+inf", name="argmin", ex=-3),
    function_name="argmin",
)


# --------------------------------------------------------------------------- UnreduceLike


def _unreduce_like_shape(ctx: ShapeContext) -> Shape:
    dy, like = ctx.input("dy"), ctx.input("like")
    expected = reduce_shape(ctx, like, ctx.attr("axis"), ctx.attr("keepdims"))
    if not dy.is_compatible_with(expected):
        raise ctx.error(
            f"dy with shape {dy} is not the reduction {expected} of like {like} "
            f"over axis={ctx.attr('axis')} (keepdims={ctx.attr('keepdims')})"
        )
    return like


def _unreduce_like_grad(ctx: GradContext, ddx: Any) -> list[Any]:
    return [reduce_sum(ddx, axis=ctx.attrs["axis"], keepdims=ctx.attrs["keepdims"]), None]


unreduce_like = define_op(
    "UnreduceLike",
    inputs=["dy: T", "like: U"],
    outputs=["dx: T"],
    type_vars={"T": dt.ALL, "U": dt.ALL},
    attrs=_REDUCE_ATTRS,
    shape_fn=_unreduce_like_shape,
    gradient=_unreduce_like_grad,
    doc=(
        "Broadcast ``dy``, the result of reducing ``like`` over ``axis`` (with ``keepdims``), "
        "back to the shape of ``like`` (the gradient of Sum)."
    ),
)
