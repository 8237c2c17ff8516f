"""Built-in ops: elementwise math, comparisons, logic, selection, casts and matrix products.

Binary ops broadcast like NumPy. Allowed dtypes follow TensorFlow: arithmetic
over every numeric dtype, sign-sensitive ops (``negative``, ``abs``, ``sign``,
``relu``) over signed integers and floats, transcendental functions over
floats, comparisons over numbers (``equal``/``not_equal`` over every dtype),
logic over ``bool``.

Every gradient is written with opcore ops, so it runs eagerly and in graphs
and can itself be differentiated:

>>> import opcore  # doctest: +SKIP
>>> x = opcore.constant([0.5, 1.0])  # doctest: +SKIP
>>> with opcore.GradientTape() as tape:  # doctest: +SKIP
...     tape.watch(x)
...     y = tanh(x)
>>> tape.gradient(y, x)  # dy/dx = 1 - tanh(x)**2  # doctest: +SKIP
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from opcore import dtypes as dt
from opcore.errors import OpDefinitionError
from opcore.ops._broadcast import sum_to_like
from opcore.registry import GradContext, OpDef, define_op
from opcore.shapes import Shape, ShapeContext, broadcast, matmul_shape, unchanged

__all__ = [
    "abs",
    "add",
    "cast",
    "cos",
    "divide",
    "equal",
    "exp",
    "floor_divide",
    "greater",
    "greater_equal",
    "less",
    "less_equal",
    "log",
    "log1p",
    "logical_and",
    "logical_not",
    "logical_or",
    "matmul",
    "maximum",
    "minimum",
    "mod",
    "multiply",
    "negative",
    "not_equal",
    "pow",
    "relu",
    "rsqrt",
    "sigmoid",
    "sign",
    "sin",
    "softplus",
    "sqrt",
    "square",
    "subtract",
    "tanh",
    "where",
]

GradFn = Callable[[GradContext, Any], list[Any]]


def _dy_or_none(fn: GradFn) -> Callable[..., list[Any]]:
    """Wrap a single-output gradient: no incoming gradient means no gradient for any input."""

    @functools.wraps(fn)
    def grad(ctx: GradContext, dy: Any = None, *_: Any) -> list[Any]:
        if dy is None:
            return [None] * len(ctx.inputs)
        return fn(ctx, dy)

    return grad


_XY = broadcast("x", "y")
_X = unchanged("x")


# --------------------------------------------------------------------------- binary arithmetic


@_dy_or_none
def _add_grad(ctx: GradContext, dy: Any) -> list[Any]:
    x, y = ctx.inputs
    return [
        sum_to_like(dy, x) if ctx.needs_grad(0) else None,
        sum_to_like(dy, y) if ctx.needs_grad(1) else None,
    ]


@_dy_or_none
def _sub_grad(ctx: GradContext, dy: Any) -> list[Any]:
    x, y = ctx.inputs
    return [
        sum_to_like(dy, x) if ctx.needs_grad(0) else None,
        sum_to_like(negative(dy), y) if ctx.needs_grad(1) else None,
    ]


@_dy_or_none
def _mul_grad(ctx: GradContext, dy: Any) -> list[Any]:
    x, y = ctx.inputs
    return [
        sum_to_like(multiply(dy, y), x) if ctx.needs_grad(0) else None,
        sum_to_like(multiply(dy, x), y) if ctx.needs_grad(1) else None,
    ]


@_dy_or_none
def _div_grad(ctx: GradContext, dy: Any) -> list[Any]:
    x, y = ctx.inputs
    gx = sum_to_like(divide(dy, y), x) if ctx.needs_grad(0) else None
    gy = None
    if ctx.needs_grad(1):
        # d(x/y)/dy = -x / y**2, computed as ((-x / y) / y) * dy: y*y alone over- or underflows
        # for |y| beyond about 1.8e19 or below 1e-19 in float32.
        gy = sum_to_like(multiply(divide(divide(negative(x), y), y), dy), y)
    return [gx, gy]


@_dy_or_none
def _mod_grad(ctx: GradContext, dy: Any) -> list[Any]:
    x, y = ctx.inputs
    # x mod y = x - floor(x / y) * y, and floor is piecewise constant.
    gy = negative(multiply(dy, floor_divide(x, y)))
    return [sum_to_like(dy, x), sum_to_like(gy, y)]


@_dy_or_none
def _pow_grad(ctx: GradContext, dy: Any) -> list[Any]:
    x, y = ctx.inputs
    z = ctx.outputs[0]
    gx = multiply(dy, multiply(y, pow(x, subtract(y, 1))))
    # d(x**y)/dy = x**y * log(x), defined for x > 0 only; elsewhere 0 (as TensorFlow does).
    # The inner where keeps log's argument positive so that second derivatives stay finite.
    positive = greater(x, 0)
    log_x = where(positive, log(where(positive, x, 1)), 0)
    gy = multiply(dy, multiply(z, log_x))
    return [sum_to_like(gx, x), sum_to_like(gy, y)]


@_dy_or_none
def _maximum_grad(ctx: GradContext, dy: Any) -> list[Any]:
    x, y = ctx.inputs
    # Ties send the whole gradient to x, like TensorFlow.
    x_wins = greater_equal(x, y)
    return [sum_to_like(where(x_wins, dy, 0), x), sum_to_like(where(x_wins, 0, dy), y)]


@_dy_or_none
def _minimum_grad(ctx: GradContext, dy: Any) -> list[Any]:
    x, y = ctx.inputs
    x_wins = less_equal(x, y)
    return [sum_to_like(where(x_wins, dy, 0), x), sum_to_like(where(x_wins, 0, dy), y)]


def _binary(
    name: str,
    dtypes: Any,
    doc: str,
    gradient: Callable[..., list[Any]] | None = None,
    function_name: str | None = None,
) -> OpDef:
    return define_op(
        name,
        inputs=["x: T", "y: T"],
        outputs=["z: T"],
        type_vars={"T": dtypes},
        shape_fn=_XY,
        gradient=gradient,
        differentiable=gradient is not None,
        doc=doc,
        function_name=function_name,
    )


add = _binary("Add", dt.NUMERIC, "Elementwise ``x + y`` with broadcasting.", _add_grad)
subtract = _binary("Sub", dt.NUMERIC, "Elementwise ``x - y`` with broadcasting.", _sub_grad, "subtract")
multiply = _binary("Mul", dt.NUMERIC, "Elementwise ``x * y`` with broadcasting.", _mul_grad, "multiply")
divide = _binary(
    "RealDiv",
    dt.FLOATING,
    "Elementwise true division ``x / y`` of floats, with broadcasting. Integer inputs are rejected: "
    "cast them to a float dtype first (``divide(cast(a, 'float32'), cast(b, 'float32'))``), or use "
    "``floor_divide`` for integer division.",
    _div_grad,
    "divide",
)
floor_divide = _binary(
    "FloorDiv",
    dt.NUMERIC,
    "Elementwise ``floor(x / y)`` with broadcasting (Python's ``//``). Integer division by zero "
    "gives 0, like NumPy. Not differentiable.",
    function_name="floor_divide",
)
mod = _binary(
    "FloorMod",
    dt.NUMERIC,
    "Elementwise remainder of floor division, with the sign of ``y`` (Python's and NumPy's ``%``). "
    "Integer ``x mod 0`` gives 0, like NumPy. Gradient: ``dy`` for x, ``-dy * floor(x / y)`` for y.",
    _mod_grad,
    "mod",
)
pow = _binary(
    "Pow",
    dt.NUMERIC,
    "Elementwise ``x ** y`` with broadcasting. For integers, a negative exponent truncates like "
    "integer division: 1 for x == 1, +-1 for x == -1, otherwise 0. The gradient for y uses "
    "``log(x)`` and is defined for x > 0 only (0 elsewhere).",
    _pow_grad,
)
maximum = _binary(
    "Maximum",
    dt.NUMERIC,
    "Elementwise maximum with broadcasting. NaN, on every backend: NaN propagates, the result is NaN where "
    "either input is (TensorFlow, NumPy's maximum, PyTorch). Ties send the whole gradient to x.",
    _maximum_grad,
)
minimum = _binary(
    "Minimum",
    dt.NUMERIC,
    "Elementwise minimum with broadcasting. NaN, on every backend: NaN propagates, the result is NaN where "
    "either input is (TensorFlow, NumPy's minimum, PyTorch). Ties send the whole gradient to x.",
    _minimum_grad,
)


# --------------------------------------------------------------------------- unary


@_dy_or_none
def _neg_grad(ctx: GradContext, dy: Any) -> list[Any]:
    return [negative(dy)]


@_dy_or_none
def _abs_grad(ctx: GradContext, dy: Any) -> list[Any]:
    return [multiply(dy, sign(ctx.inputs[0]))]


@_dy_or_none
def _square_grad(ctx: GradContext, dy: Any) -> list[Any]:
    return [multiply(dy, multiply(ctx.inputs[0], 2))]


@_dy_or_none
def _sqrt_grad(ctx: GradContext, dy: Any) -> list[Any]:
    return [divide(multiply(dy, 0.5), ctx.outputs[0])]


@_dy_or_none
def _rsqrt_grad(ctx: GradContext, dy: Any) -> list[Any]:
    # d(x**-0.5)/dx = -0.5 * x**-1.5 = -0.5 * y**3
    y = ctx.outputs[0]
    return [multiply(multiply(dy, -0.5), multiply(y, multiply(y, y)))]


@_dy_or_none
def _exp_grad(ctx: GradContext, dy: Any) -> list[Any]:
    return [multiply(dy, ctx.outputs[0])]


@_dy_or_none
def _log_grad(ctx: GradContext, dy: Any) -> list[Any]:
    return [divide(dy, ctx.inputs[0])]


@_dy_or_none
def _log1p_grad(ctx: GradContext, dy: Any) -> list[Any]:
    return [divide(dy, add(ctx.inputs[0], 1))]


@_dy_or_none
def _sin_grad(ctx: GradContext, dy: Any) -> list[Any]:
    return [multiply(dy, cos(ctx.inputs[0]))]


@_dy_or_none
def _cos_grad(ctx: GradContext, dy: Any) -> list[Any]:
    return [negative(multiply(dy, sin(ctx.inputs[0])))]


@_dy_or_none
def _tanh_grad(ctx: GradContext, dy: Any) -> list[Any]:
    y = ctx.outputs[0]
    return [multiply(dy, subtract(1, multiply(y, y)))]


@_dy_or_none
def _sigmoid_grad(ctx: GradContext, dy: Any) -> list[Any]:
    y = ctx.outputs[0]
    return [multiply(dy, multiply(y, subtract(1, y)))]


@_dy_or_none
def _relu_grad(ctx: GradContext, dy: Any) -> list[Any]:
    return [where(greater(ctx.inputs[0], 0), dy, 0)]


@_dy_or_none
def _softplus_grad(ctx: GradContext, dy: Any) -> list[Any]:
    return [multiply(dy, sigmoid(ctx.inputs[0]))]


def _unary(
    name: str,
    dtypes: Any,
    doc: str,
    gradient: Callable[..., list[Any]] | None = None,
    function_name: str | None = None,
) -> OpDef:
    return define_op(
        name,
        inputs=["x: T"],
        outputs=["y: T"],
        type_vars={"T": dtypes},
        shape_fn=_X,
        gradient=gradient,
        differentiable=gradient is not None,
        doc=doc,
        function_name=function_name,
    )


negative = _unary("Neg", dt.REAL, "Elementwise ``-x`` (integers wrap around at their minimum).", _neg_grad, "negative")
abs = _unary("Abs", dt.REAL, "Elementwise ``|x|`` (the minimum of a signed integer type maps to itself).", _abs_grad)
sign = _unary("Sign", dt.REAL, "Elementwise sign: -1, 0 or 1 (NaN for NaN). Not differentiable.")
square = _unary("Square", dt.NUMERIC, "Elementwise ``x * x``.", _square_grad)
sqrt = _unary("Sqrt", dt.FLOATING, "Elementwise square root (NaN for negative x).", _sqrt_grad)
rsqrt = _unary("Rsqrt", dt.FLOATING, "Elementwise ``1 / sqrt(x)``.", _rsqrt_grad)
exp = _unary("Exp", dt.FLOATING, "Elementwise ``e ** x``.", _exp_grad)
log = _unary("Log", dt.FLOATING, "Elementwise natural logarithm (-inf at 0, NaN below).", _log_grad)
log1p = _unary("Log1p", dt.FLOATING, "Elementwise ``log(1 + x)``, accurate for small x.", _log1p_grad)
sin = _unary("Sin", dt.FLOATING, "Elementwise sine.", _sin_grad)
cos = _unary("Cos", dt.FLOATING, "Elementwise cosine.", _cos_grad)
tanh = _unary("Tanh", dt.FLOATING, "Elementwise hyperbolic tangent.", _tanh_grad)
sigmoid = _unary(
    "Sigmoid", dt.FLOATING, "Elementwise logistic function ``1 / (1 + exp(-x))``, stable for any x.", _sigmoid_grad
)
relu = _unary("Relu", dt.REAL, "Elementwise ``max(x, 0)``; the gradient at 0 is 0.", _relu_grad)
softplus = _unary("Softplus", dt.FLOATING, "Elementwise ``log(1 + exp(x))``, stable for any x.", _softplus_grad)


# --------------------------------------------------------------------------- comparisons and logic


def _compare(name: str, dtypes: Any, doc: str) -> OpDef:
    return define_op(
        name,
        inputs=["x: T", "y: T"],
        outputs=["z: bool"],
        type_vars={"T": dtypes},
        shape_fn=_XY,
        differentiable=False,
        doc=doc,
    )


equal = _compare("Equal", dt.ALL, "Elementwise ``x == y`` with broadcasting; a bool tensor.")
not_equal = _compare("NotEqual", dt.ALL, "Elementwise ``x != y`` with broadcasting; a bool tensor.")
less = _compare("Less", dt.NUMERIC, "Elementwise ``x < y`` with broadcasting; a bool tensor.")
less_equal = _compare("LessEqual", dt.NUMERIC, "Elementwise ``x <= y`` with broadcasting; a bool tensor.")
greater = _compare("Greater", dt.NUMERIC, "Elementwise ``x > y`` with broadcasting; a bool tensor.")
greater_equal = _compare("GreaterEqual", dt.NUMERIC, "Elementwise ``x >= y`` with broadcasting; a bool tensor.")

logical_and = define_op(
    "LogicalAnd",
    inputs=["x: bool", "y: bool"],
    outputs=["z: bool"],
    shape_fn=_XY,
    differentiable=False,
    doc="Elementwise ``x and y`` of bool tensors, with broadcasting.",
)
logical_or = define_op(
    "LogicalOr",
    inputs=["x: bool", "y: bool"],
    outputs=["z: bool"],
    shape_fn=_XY,
    differentiable=False,
    doc="Elementwise ``x or y`` of bool tensors, with broadcasting.",
)
logical_not = define_op(
    "LogicalNot",
    inputs=["x: bool"],
    outputs=["y: bool"],
    shape_fn=_X,
    differentiable=False,
    doc="Elementwise ``not x`` of a bool tensor.",
)


# --------------------------------------------------------------------------- selection


@_dy_or_none
def _select_grad(ctx: GradContext, dy: Any) -> list[Any]:
    condition, x, y = ctx.inputs
    return [None, sum_to_like(where(condition, dy, 0), x), sum_to_like(where(condition, 0, dy), y)]


select = define_op(
    "Select",
    inputs=["condition: bool", "x: T", "y: T"],
    outputs=["z: T"],
    type_vars={"T": dt.ALL},
    shape_fn=broadcast("condition", "x", "y"),
    gradient=_select_grad,
    doc="Elementwise ``x if condition else y``; the three inputs broadcast together.",
    function_name="where",
)


def where(condition: Any, x: Any = None, y: Any = None, name: str | None = None) -> Any:
    """``x`` where ``condition`` is true, else ``y``; or, with neither, the coordinates of the true elements.

    With ``x`` and ``y`` (TensorFlow's ``tf.where(condition, x, y)``, op
    ``Select``): elementwise ``x if condition else y``, the three broadcasting
    together; the gradient flows to ``x`` and ``y``. With neither
    (``tf.where(condition)``, op ``Where``): an int64 matrix with one row per
    true (nonzero) element of ``condition``, in row-major order, holding its
    coordinates; its first dimension depends on the values.

    >>> import opcore
    >>> c = opcore.constant([[True, False], [False, True]])
    >>> opcore.where(c, 1.0, -1.0).numpy().tolist()
    [[1.0, -1.0], [-1.0, 1.0]]
    >>> opcore.where(c).numpy().tolist()
    [[0, 0], [1, 1]]
    """
    if x is None and y is None:
        from opcore.ops.selection import where_indices  # a later family

        return where_indices(condition, name=name)
    if x is None or y is None:
        raise OpDefinitionError(
            f"where: give both x and y (select elementwise) or neither (coordinates of the true elements); "
            f"got {'only y' if x is None else 'only x'}"
        )
    return select(condition, x, y, name=name)


# --------------------------------------------------------------------------- cast


@_dy_or_none
def _cast_grad(ctx: GradContext, dy: Any) -> list[Any]:
    src = dt.as_dtype(ctx.inputs[0].dtype)
    dst = dt.as_dtype(ctx.attrs["DstT"])
    if src.is_floating and dst.is_floating:
        return [cast(dy, src)]
    return [None]


_CAST = define_op(
    "Cast",
    inputs=["x: SrcT"],
    outputs=["y: DstT"],
    type_vars={"SrcT": dt.ALL},
    attrs=["DstT: type"],
    shape_fn=_X,
    gradient=_cast_grad,
    doc=(
        "Convert ``x`` to dtype ``DstT``. Float to integer truncates toward zero and saturates: NaN gives 0, "
        "values beyond the integer range (infinities included) give its minimum or maximum, so -2.5 to uint8 "
        "is 0 and 3e9 to int32 is 2147483647, on every backend. Other conversions follow NumPy ``astype`` "
        "(integers wrap; to bool is ``x != 0``)."
    ),
)


def cast(x: Any, dtype: Any, name: str | None = None) -> Any:
    """Convert ``x`` to ``dtype`` (a DType, dtype name or NumPy dtype).

    Floats truncate toward zero when cast to integers and saturate: NaN gives
    0, values beyond the integer range (infinities included) give its minimum
    or maximum (``-2.5`` to uint8 is 0, ``3e9`` to int32 is 2147483647), the
    same on every backend (TensorFlow's and XLA's GPU rule). Other conversions
    follow NumPy ``astype``: integers wrap, to bool is ``x != 0``. The
    gradient flows only between floating dtypes.

    >>> cast(opcore.constant([1.7, -1.7]), "int32").numpy()  # doctest: +SKIP
    array([ 1, -1], dtype=int32)
    """
    return _CAST(x, DstT=dtype, name=name)


# --------------------------------------------------------------------------- matmul


def _matmul_shape(ctx: ShapeContext) -> Shape:
    return matmul_shape(ctx, ctx.input("a"), ctx.input("b"), ctx.attr("transpose_a"), ctx.attr("transpose_b"))


@_dy_or_none
def _matmul_grad(ctx: GradContext, dy: Any) -> list[Any]:
    a, b = ctx.inputs
    ta, tb = ctx.attrs["transpose_a"], ctx.attrs["transpose_b"]
    # With A = op(a), B = op(b) and C = A @ B: dA = dC @ B^T and dB = A^T @ dC; transposing back
    # to a and b folds into the flags of the two products.
    # Only the products whose gradient someone uses are computed (the input batch of a
    # first layer needs none).
    need_a, need_b = ctx.needs_grad(0), ctx.needs_grad(1)
    ga = gb = None
    if not ta and not tb:
        ga = matmul(dy, b, transpose_b=True) if need_a else None
        gb = matmul(a, dy, transpose_a=True) if need_b else None
    elif ta and not tb:
        ga = matmul(b, dy, transpose_b=True) if need_a else None
        gb = matmul(a, dy) if need_b else None
    elif not ta and tb:
        ga = matmul(dy, b) if need_a else None
        gb = matmul(dy, a, transpose_a=True) if need_b else None
    else:
        ga = matmul(b, dy, transpose_a=True, transpose_b=True) if need_a else None
        gb = matmul(dy, a, transpose_a=True, transpose_b=True) if need_b else None
    # Batch dims broadcast; sum the gradients back to each input's own batch shape.
    return [None if ga is None else sum_to_like(ga, a), None if gb is None else sum_to_like(gb, b)]


matmul = define_op(
    "MatMul",
    inputs=["a: T", "b: T"],
    outputs=["product: T"],
    type_vars={"T": "float16, float32, float64, int32, int64"},
    attrs=["transpose_a: bool = False", "transpose_b: bool = False"],
    shape_fn=_matmul_shape,
    gradient=_matmul_grad,
    doc="Matrix product of the last two dims, optionally transposing either input first; "
    "inputs have rank >= 2 and their leading (batch) dims broadcast.",
    function_name="matmul",
)
