"""TensorFlow 1's elementwise math: opcore's ops under TensorFlow 1's names, and the functions it composes
(true and floor division, ``floor``, ``ceil``, ``round``, ``clip_by_value``, ``add_n``, casts, ``matmul``, ``where``).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import opcore
from opcore import dtypes as _dt
from opcore.compat.v1._graph import building, builds, tf_dtype
from opcore.compat.v1._ops._helpers import _as_graph
from opcore.errors import OpDefinitionError

add = builds(opcore.add)
subtract = builds(opcore.subtract)
multiply = builds(opcore.multiply)
maximum = builds(opcore.maximum)
minimum = builds(opcore.minimum)
pow = builds(opcore.pow)
mod = builds(opcore.mod)
floormod = builds(opcore.mod)
floordiv = builds(opcore.floor_divide)
equal = builds(opcore.equal)
not_equal = builds(opcore.not_equal)
less = builds(opcore.less)
less_equal = builds(opcore.less_equal)
greater = builds(opcore.greater)
greater_equal = builds(opcore.greater_equal)
logical_and = builds(opcore.logical_and)
logical_or = builds(opcore.logical_or)
logical_not = builds(opcore.logical_not)
abs = builds(opcore.abs)
negative = builds(opcore.negative)
sign = builds(opcore.sign)
square = builds(opcore.square)
sqrt = builds(opcore.sqrt)
rsqrt = builds(opcore.rsqrt)
exp = builds(opcore.exp)
log = builds(opcore.log)
log1p = builds(opcore.log1p)
sin = builds(opcore.sin)
cos = builds(opcore.cos)
tanh = builds(opcore.tanh)
sigmoid = builds(opcore.sigmoid)


def _float_operands(x: Any, y: Any) -> tuple[Any, Any]:
    """Integer operands as the default float (Python 3's ``/``, opcore's ``/``)."""
    out = []
    for v in (x, y):
        t = _as_graph(v)
        out.append(t if t.dtype.is_floating else opcore.cast(t, _dt.default_float))
    return out[0], out[1]


@builds
def divide(x: Any, y: Any, name: str | None = None) -> Any:
    """``x / y``: true division; integers are converted to float32 first (as opcore's ``/``)."""
    return opcore.divide(*_float_operands(x, y), name=name)


@builds
def truediv(x: Any, y: Any, name: str | None = None) -> Any:
    """``x / y``: true division; integers are converted to float32 first."""
    return opcore.divide(*_float_operands(x, y), name=name)


@builds
def realdiv(x: Any, y: Any, name: str | None = None) -> Any:
    """``x / y`` for floats (op ``RealDiv``)."""
    return opcore.divide(x, y, name=name)


@builds
def div(x: Any, y: Any, name: str | None = None) -> Any:
    """TensorFlow 1's ``tf.div``: floor division for integers, true division for floats."""
    d = _dt.result_type(*(v.dtype if hasattr(v, "dtype") else v for v in (x, y)))
    if d.is_integer:
        return opcore.floor_divide(x, y, name=name)
    return opcore.divide(x, y, name=name)


@builds
def reciprocal(x: Any, name: str | None = None) -> Any:
    return opcore.divide(*_float_operands(1.0, x), name=name)


@builds
def scalar_mul(scalar: Any, x: Any, name: str | None = None) -> Any:
    return opcore.multiply(scalar, x, name=name)


@builds
def squared_difference(x: Any, y: Any, name: str | None = None) -> Any:
    return opcore.square(opcore.subtract(x, y), name=name)


@builds
def logical_xor(x: Any, y: Any, name: str = "LogicalXor") -> Any:
    return opcore.logical_and(opcore.logical_or(x, y), opcore.logical_not(opcore.logical_and(x, y)), name=name)


@builds
def log_sigmoid(x: Any, name: str | None = None) -> Any:
    """``log(sigmoid(x)) = -softplus(-x)``, stable for large ``|x|``."""
    return opcore.negative(opcore.softplus(opcore.negative(x)), name=name)


@builds
def floor(x: Any, name: str | None = None) -> Any:
    """The largest whole number <= x: ``x - (x mod 1)``, composed of opcore's ``FloorMod``."""
    x = _as_graph(x)
    return opcore.subtract(x, opcore.mod(x, 1.0), name=name)


@builds
def ceil(x: Any, name: str | None = None) -> Any:
    """The smallest whole number >= x: ``-floor(-x)``."""
    return opcore.negative(floor(opcore.negative(x)), name=name)


@builds
def round(x: Any, name: str | None = None) -> Any:
    """Round to the nearest whole number, halves to even (TensorFlow's banker's rounding)."""
    x = _as_graph(x)
    if not x.dtype.is_floating:
        return opcore.identity(x, name=name)
    f = floor(x)
    frac = opcore.subtract(x, f)
    up = opcore.add(f, 1.0)
    even_half = opcore.where(opcore.equal(opcore.mod(f, 2.0), 0.0), f, up)
    nearer = opcore.where(opcore.less(frac, 0.5), f, up)
    return opcore.where(opcore.equal(frac, 0.5), even_half, nearer, name=name)


@builds
def clip_by_value(t: Any, clip_value_min: Any, clip_value_max: Any, name: str | None = None) -> Any:
    """``t`` with values below ``clip_value_min`` or above ``clip_value_max`` set to those bounds."""
    return opcore.minimum(opcore.maximum(t, clip_value_min), clip_value_max, name=name)


@builds
def add_n(inputs: Sequence[Any], name: str | None = None) -> Any:
    """The elementwise sum of a list of tensors of one shape and dtype."""
    items = list(inputs)
    if not items:
        raise OpDefinitionError("tf.add_n: inputs must be a non-empty list of tensors")
    total = items[0]
    for x in items[1:-1]:
        total = opcore.add(total, x)
    return opcore.add(total, items[-1], name=name) if len(items) > 1 else opcore.identity(total, name=name)


@builds
def cast(x: Any, dtype: Any, name: str | None = None) -> Any:
    return opcore.cast(x, tf_dtype(dtype), name=name)


@builds
def to_float(x: Any, name: str = "ToFloat") -> Any:
    return opcore.cast(x, _dt.float32, name=name)


@builds
def to_double(x: Any, name: str = "ToDouble") -> Any:
    return opcore.cast(x, _dt.float64, name=name)


@builds
def to_int32(x: Any, name: str = "ToInt32") -> Any:
    return opcore.cast(x, _dt.int32, name=name)


@builds
def to_int64(x: Any, name: str = "ToInt64") -> Any:
    return opcore.cast(x, _dt.int64, name=name)


@builds
def matmul(
    a: Any,
    b: Any,
    transpose_a: bool = False,
    transpose_b: bool = False,
    adjoint_a: bool = False,
    adjoint_b: bool = False,
    a_is_sparse: bool = False,
    b_is_sparse: bool = False,
    name: str | None = None,
) -> Any:
    """Matrix product (``adjoint_*`` is the transpose: opcore's tensors are real; ``*_is_sparse`` is a hint)."""
    return opcore.matmul(a, b, transpose_a=transpose_a or adjoint_a, transpose_b=transpose_b or adjoint_b, name=name)


def where(condition: Any, x: Any = None, y: Any = None, name: str | None = None) -> Any:
    """``x`` where ``condition`` is true, else ``y``; with only ``condition``, the indices of its true elements."""
    with building():
        if x is None and y is None:
            params = inspect.signature(opcore.where).parameters
            if "x" in params and params["x"].default is not inspect.Parameter.empty:
                return opcore.where(condition, name=name)
            raise OpDefinitionError(
                "one-argument tf.where(condition) (the indices of the true elements) needs an op whose output "
                "shape depends on the values, which this opcore does not have; give x and y to select values"
            )
        if x is None or y is None:
            raise OpDefinitionError("tf.where: give both x and y, or neither")
        c = _as_graph(condition)
        if c.shape.rank == 1 and getattr(_as_graph(x).shape, "rank", None) not in (None, 1):
            # TensorFlow 1 selects whole rows with a vector condition.
            c = opcore.reshape(c, [-1] + [1] * (_as_graph(x).shape.rank - 1))
        return opcore.where(c, x, y, name=name)
