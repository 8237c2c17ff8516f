"""TensorFlow 1's array, math and random functions, with its signatures, on opcore's ops.

Each function builds into the default graph (see :mod:`opcore.compat.v1._graph`),
takes TensorFlow 1's arguments (``keep_dims``, ``reduction_indices``,
``dimension``, ``squeeze_dims`` ...) and names its result ``name`` (``name:0``).
Functions TensorFlow 1 has as one op and opcore composes (``clip_by_value``,
``floor``, ``add_n``) are written with opcore's ops: the namespace computes nothing
itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import opcore
from opcore import dtypes as _dt
from opcore.compat.v1._graph import building, builds, tf_dtype
from opcore.errors import GraphError, OpDefinitionError, ShapeError
from opcore.graph import SymbolicTensor
from opcore.shapes import Shape

__all__ = [
    "abs",
    "add",
    "add_n",
    "argmax",
    "argmin",
    "cast",
    "ceil",
    "clip_by_value",
    "concat",
    "constant",
    "convert_to_tensor",
    "cos",
    "count_nonzero",
    "div",
    "divide",
    "equal",
    "exp",
    "expand_dims",
    "fill",
    "floor",
    "floordiv",
    "floormod",
    "gather",
    "greater",
    "greater_equal",
    "identity",
    "less",
    "less_equal",
    "log",
    "log1p",
    "log_sigmoid",
    "logical_and",
    "logical_not",
    "logical_or",
    "logical_xor",
    "matmul",
    "maximum",
    "minimum",
    "mod",
    "multiply",
    "negative",
    "not_equal",
    "one_hot",
    "ones",
    "ones_like",
    "pad",
    "placeholder",
    "pow",
    "random_normal",
    "random_uniform",
    "range",
    "rank",
    "realdiv",
    "reciprocal",
    "reduce_all",
    "reduce_any",
    "reduce_logsumexp",
    "reduce_max",
    "reduce_mean",
    "reduce_min",
    "reduce_prod",
    "reduce_sum",
    "reshape",
    "round",
    "rsqrt",
    "scalar_mul",
    "set_random_seed",
    "shape",
    "sigmoid",
    "sign",
    "sin",
    "size",
    "slice",
    "split",
    "sqrt",
    "square",
    "squared_difference",
    "squeeze",
    "stack",
    "stop_gradient",
    "subtract",
    "tanh",
    "tile",
    "to_double",
    "to_float",
    "to_int32",
    "to_int64",
    "transpose",
    "truediv",
    "truncated_normal",
    "unstack",
    "where",
    "zeros",
    "zeros_like",
]

_builtin_range = range


def _d(dtype: Any) -> Any:
    return None if dtype is None else tf_dtype(dtype)


def _one_of(value: Any, alias: Any, name: str, alias_name: str) -> Any:
    """TensorFlow 1's deprecated argument aliases (``keep_dims`` for ``keepdims``): one or the other."""
    if alias is not None:
        if value is not None:
            raise OpDefinitionError(f"cannot give both {name} and its deprecated alias {alias_name}")
        return alias
    return value


def _named(t: Any, name: str | None) -> Any:
    """``t`` under the name ``name`` (an Identity node named so), for functions composed of several ops."""
    return opcore.identity(t, name=name) if name else t


# --------------------------------------------------------------------------- tensors


@builds
def constant(value: Any, dtype: Any = None, shape: Any = None, name: str = "Const", verify_shape: bool = False) -> Any:
    """A ``Const`` node holding ``value`` (TensorFlow 1's ``tf.constant``).

    ``shape`` reshapes ``value`` or, for a scalar, fills the shape with it; with
    ``verify_shape=True`` the value must already have that shape.
    """
    if verify_shape and shape is not None:
        got = Shape(getattr(value, "shape", None) or _py_shape(value))
        if got != Shape(shape):
            raise ShapeError(f"constant {name!r}: value has shape {got}, expected {Shape(shape)} (verify_shape=True)")
    return opcore.constant(value, dtype=_d(dtype), shape=shape, name=name)


def _py_shape(value: Any) -> tuple[int, ...]:
    dims: list[int] = []
    while isinstance(value, (list, tuple)):
        dims.append(len(value))
        value = value[0] if value else None
    return tuple(dims)


@builds
def placeholder(dtype: Any, shape: Any = None, name: str | None = None) -> Any:
    """A graph input fed at run time through ``feed_dict``: ``tf.placeholder(tf.float32, [None, 784])``."""
    return opcore.placeholder(tf_dtype(dtype), shape, name)


@builds
def convert_to_tensor(value: Any, dtype: Any = None, name: str | None = None, preferred_dtype: Any = None) -> Any:
    """A graph tensor for ``value``: graph tensors and variables as they are, data as a constant."""
    if isinstance(value, opcore.GraphVariable):
        value = value.value()
    if isinstance(value, SymbolicTensor):
        if dtype is not None and _dt.as_dtype(dtype) is not value.dtype:
            raise OpDefinitionError(f"convert_to_tensor: tensor {value.name!r} has dtype {value.dtype}, not {dtype}")
        return value
    if isinstance(value, (list, tuple)) and any(isinstance(x, (SymbolicTensor, opcore.GraphVariable)) for x in value):
        return stack(list(value), name=name or "packed")
    d = _d(dtype if dtype is not None else preferred_dtype)
    try:
        return opcore.constant(value, dtype=d, name=name)
    except (TypeError, ValueError):
        if dtype is None and preferred_dtype is not None:
            return opcore.constant(value, name=name)
        raise


@builds
def zeros(shape: Any, dtype: Any = _dt.float32, name: str | None = None) -> Any:
    return opcore.zeros(_static_dims(shape, "zeros"), tf_dtype(dtype), name=name)


@builds
def ones(shape: Any, dtype: Any = _dt.float32, name: str | None = None) -> Any:
    return opcore.ones(_static_dims(shape, "ones"), tf_dtype(dtype), name=name)


@builds
def fill(dims: Any, value: Any, name: str | None = None) -> Any:
    return opcore.fill(_static_dims(dims, "fill"), value, name=name)


@builds
def zeros_like(tensor: Any, dtype: Any = None, name: str | None = None, optimize: bool = True) -> Any:
    out = opcore.zeros_like(tensor, name=name if dtype is None else None)
    return out if dtype is None else opcore.cast(out, tf_dtype(dtype), name=name)


@builds
def ones_like(tensor: Any, dtype: Any = None, name: str | None = None, optimize: bool = True) -> Any:
    out = opcore.ones_like(tensor, name=name if dtype is None else None)
    return out if dtype is None else opcore.cast(out, tf_dtype(dtype), name=name)


@builds
def identity(input: Any, name: str | None = None) -> Any:
    return opcore.identity(input, name=name)


@builds
def stop_gradient(input: Any, name: str | None = None) -> Any:
    return opcore.stop_gradient(input, name=name)


def shape(input: Any, name: str | None = None, out_type: Any = _dt.int32) -> Any:
    """The shape of ``input`` as an int32 tensor, when it is fully known when the graph is built.

    opcore has no ``Shape`` op: a shape with an unknown dim (a ``None`` batch size)
    cannot be read at run time. Use the static ``input.shape`` in Python instead.
    """
    s = getattr(input, "shape", None)
    s = s if isinstance(s, Shape) else Shape(_py_shape(input))
    if not s.is_fully_defined:
        raise ShapeError(
            f"tf.shape: the shape of {getattr(input, 'name', 'the input')!r} is {s}, not fully known when the graph "
            "is built, and opcore has no Shape op to read it at run time; use the static shape (x.shape, with "
            "-1 in reshape for the unknown dim) instead"
        )
    return constant(list(s.as_tuple()), dtype=out_type, name=name or "Shape")


def size(input: Any, name: str | None = None, out_type: Any = _dt.int32) -> Any:
    """The number of elements of ``input``, when its shape is known when the graph is built (see :func:`shape`)."""
    s = getattr(input, "shape", None)
    s = s if isinstance(s, Shape) else Shape(_py_shape(input))
    n = s.num_elements()
    if n is None:
        raise ShapeError(f"tf.size: the shape {s} is not fully known when the graph is built; use x.shape instead")
    return constant(n, dtype=out_type, name=name or "Size")


def rank(input: Any, name: str | None = None) -> Any:
    """The rank of ``input`` as an int32 scalar (known when the graph is built)."""
    s = getattr(input, "shape", None)
    s = s if isinstance(s, Shape) else Shape(_py_shape(input))
    if s.rank is None:
        raise ShapeError("tf.rank: the rank is not known when the graph is built")
    return constant(s.rank, dtype=_dt.int32, name=name or "Rank")


def range(start: Any, limit: Any = None, delta: Any = 1, dtype: Any = None, name: str = "range") -> Any:
    """``[start, start + delta, ...)`` up to ``limit``, for Python numbers (a constant)."""
    if limit is None:
        start, limit = 0, start
    for v in (start, limit, delta):
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise OpDefinitionError("tf.range: start, limit and delta must be Python numbers in opcore.compat.v1")
    if delta == 0:
        raise OpDefinitionError("tf.range: delta must not be 0")
    n = max(0, -int(-(limit - start) // delta)) if delta > 0 else max(0, -int(-(start - limit) // -delta))
    values = [start + i * delta for i in _builtin_range(n)]
    if dtype is None:
        dtype = _dt.float32 if any(isinstance(v, float) for v in (start, limit, delta)) else _dt.int32
    return constant(values, dtype=dtype, shape=[n], name=name)


# --------------------------------------------------------------------------- elementwise


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


# --------------------------------------------------------------------------- reductions


def _reduction(op: Any, doc: str) -> Any:
    def reduce(
        input_tensor: Any,
        axis: Any = None,
        keepdims: bool | None = None,
        name: str | None = None,
        reduction_indices: Any = None,
        keep_dims: bool | None = None,
    ) -> Any:
        axis = _one_of(axis, reduction_indices, "axis", "reduction_indices")
        keep = _one_of(keepdims, keep_dims, "keepdims", "keep_dims")
        with building():
            return op(input_tensor, axis=axis, keepdims=bool(keep), name=name)

    reduce.__name__ = reduce.__qualname__ = op.__name__
    reduce.__doc__ = doc
    return reduce


reduce_sum = _reduction(opcore.reduce_sum, "Sum over ``axis`` (None: every axis); ``keep_dims`` keeps them as 1s.")
reduce_mean = _reduction(opcore.reduce_mean, "Mean over ``axis`` (None: every axis); a list of tensors is stacked.")
reduce_max = _reduction(opcore.reduce_max, "Maximum over ``axis`` (None: every axis).")
reduce_min = _reduction(opcore.reduce_min, "Minimum over ``axis`` (None: every axis).")
reduce_prod = _reduction(opcore.reduce_prod, "Product over ``axis`` (None: every axis).")


def _bool_reduction(use_max: bool, doc: str, fname: str) -> Any:
    def reduce(
        input_tensor: Any,
        axis: Any = None,
        keepdims: bool | None = None,
        name: str | None = None,
        reduction_indices: Any = None,
        keep_dims: bool | None = None,
    ) -> Any:
        axis = _one_of(axis, reduction_indices, "axis", "reduction_indices")
        keep = bool(_one_of(keepdims, keep_dims, "keepdims", "keep_dims"))
        with building():
            as_int = opcore.cast(input_tensor, _dt.int32)
            r = (opcore.reduce_max if use_max else opcore.reduce_min)(as_int, axis=axis, keepdims=keep)
            return opcore.cast(r, _dt.bool_, name=name)

    reduce.__name__ = reduce.__qualname__ = fname
    reduce.__doc__ = doc
    return reduce


reduce_any = _bool_reduction(True, "Logical or over ``axis`` of a bool tensor.", "reduce_any")
reduce_all = _bool_reduction(False, "Logical and over ``axis`` of a bool tensor.", "reduce_all")


def reduce_logsumexp(
    input_tensor: Any,
    axis: Any = None,
    keepdims: bool | None = None,
    name: str | None = None,
    reduction_indices: Any = None,
    keep_dims: bool | None = None,
) -> Any:
    """``log(sum(exp(x)))`` over ``axis``, computed stably (the maximum is subtracted first)."""
    axis = _one_of(axis, reduction_indices, "axis", "reduction_indices")
    keep = bool(_one_of(keepdims, keep_dims, "keepdims", "keep_dims"))
    with building():
        m = opcore.stop_gradient(opcore.reduce_max(input_tensor, axis=axis, keepdims=True))
        s = opcore.reduce_sum(opcore.exp(opcore.subtract(input_tensor, m)), axis=axis, keepdims=True)
        out = opcore.add(opcore.log(s), m)
        if not keep:
            out = opcore.squeeze(out, axis=axis)
        return _named(out, name)


def count_nonzero(
    input_tensor: Any,
    axis: Any = None,
    keepdims: bool | None = None,
    dtype: Any = _dt.int64,
    name: str | None = None,
    reduction_indices: Any = None,
    keep_dims: bool | None = None,
) -> Any:
    """How many elements along ``axis`` are not zero."""
    axis = _one_of(axis, reduction_indices, "axis", "reduction_indices")
    keep = bool(_one_of(keepdims, keep_dims, "keepdims", "keep_dims"))
    with building():
        nz = opcore.cast(opcore.not_equal(input_tensor, opcore.zeros_like(input_tensor)), dtype)
        return opcore.reduce_sum(nz, axis=axis, keepdims=keep, name=name)


def _arg(op: Any, fname: str) -> Any:
    def arg(
        input: Any, axis: Any = None, name: str | None = None, dimension: Any = None, output_type: Any = _dt.int64
    ) -> Any:
        axis = _one_of(axis, dimension, "axis", "dimension")
        with building():
            return op(input, axis=0 if axis is None else axis, output_type=output_type, name=name)

    arg.__name__ = arg.__qualname__ = fname
    arg.__doc__ = f"The index of the {'largest' if 'max' in fname else 'smallest'} value along ``axis`` (default 0)."
    return arg


argmax = _arg(opcore.argmax, "argmax")
argmin = _arg(opcore.argmin, "argmin")


# --------------------------------------------------------------------------- shapes and indexing


@builds
def reshape(tensor: Any, shape: Any, name: str | None = None) -> Any:
    return opcore.reshape(tensor, _static_dims(shape, "reshape"), name=name)


def _static_dims(shape: Any, who: str) -> list[int]:
    if isinstance(shape, SymbolicTensor):
        if shape.node.kind == "const":
            return [int(v) for v in shape.node.value.reshape(-1).tolist()]
        raise GraphError(
            f"tf.{who}: the shape must be known when the graph is built (a list of ints, -1 for one unknown dim); "
            f"{shape.name!r} is computed at run time, and opcore's shapes are attributes, not tensors"
        )
    if isinstance(shape, Shape):
        return [-1 if d is None else d for d in shape.as_list()]
    return [int(d) if not isinstance(d, SymbolicTensor) else _static_dims(d, who)[0] for d in shape]


@builds
def transpose(a: Any, perm: Any = None, name: str = "transpose", conjugate: bool = False) -> Any:
    return opcore.transpose(a, perm=perm, name=name)


@builds
def concat(values: Sequence[Any], axis: int, name: str = "concat") -> Any:
    return opcore.concat(list(values), axis=axis, name=name)


@builds
def stack(values: Sequence[Any], axis: int = 0, name: str = "stack") -> Any:
    return opcore.stack(list(values), axis=axis, name=name)


@builds
def unstack(value: Any, num: int | None = None, axis: int = 0, name: str = "unstack") -> Any:
    if num is None:
        dims = _as_graph(value).shape
        num = dims[axis] if dims.rank is not None else None
        if num is None:
            raise ShapeError(f"tf.unstack: cannot infer num from shape {dims}; pass num=")
    return opcore.unstack(value, num=num, axis=axis, name=name)


@builds
def split(value: Any, num_or_size_splits: Any, axis: int = 0, num: int | None = None, name: str = "split") -> Any:
    """Split into ``num_or_size_splits`` equal parts, or parts of the given sizes along ``axis``."""
    if isinstance(num_or_size_splits, int):
        return opcore.split(value, num_split=num_or_size_splits, axis=axis, name=name)
    sizes = [int(s) for s in num_or_size_splits]
    x = _as_graph(value)
    rank_ = x.shape.rank
    if rank_ is None:
        raise ShapeError("tf.split with sizes needs a known rank")
    ax = axis % rank_
    if -1 in sizes:
        total = x.shape[ax]
        if total is None:
            raise ShapeError(f"tf.split: cannot infer the -1 size along an unknown dim of shape {x.shape}")
        sizes[sizes.index(-1)] = total - sum(s for s in sizes if s != -1)
    parts, start = [], 0
    for s in sizes:
        begin = [0] * rank_
        size_ = [-1] * rank_
        begin[ax], size_[ax] = start, s
        parts.append(opcore.slice(x, begin=begin, size=size_))
        start += s
    return parts


@builds
def squeeze(input: Any, axis: Any = None, name: str | None = None, squeeze_dims: Any = None) -> Any:
    axis = _one_of(axis, squeeze_dims, "axis", "squeeze_dims")
    return opcore.squeeze(input, axis=axis, name=name)


@builds
def expand_dims(input: Any, axis: Any = None, name: str | None = None, dim: Any = None) -> Any:
    axis = _one_of(axis, dim, "axis", "dim")
    if axis is None:
        raise OpDefinitionError("tf.expand_dims: axis is required")
    return opcore.expand_dims(input, axis=axis, name=name)


@builds
def tile(input: Any, multiples: Any, name: str | None = None) -> Any:
    return opcore.tile(input, multiples=_static_dims(multiples, "tile"), name=name)


@builds
def pad(tensor: Any, paddings: Any, mode: str = "CONSTANT", name: str | None = None, constant_values: Any = 0) -> Any:
    if str(mode).upper() != "CONSTANT":
        raise OpDefinitionError(f"tf.pad: mode {mode!r} is not provided; opcore pads with a constant")
    return opcore.pad(tensor, paddings, constant_values=constant_values, name=name)


@builds
def one_hot(
    indices: Any,
    depth: int,
    on_value: Any = None,
    off_value: Any = None,
    axis: int | None = None,
    dtype: Any = None,
    name: str | None = None,
) -> Any:
    return opcore.one_hot(
        indices,
        depth,
        on_value=1.0 if on_value is None else on_value,
        off_value=0.0 if off_value is None else off_value,
        axis=-1 if axis is None else axis,
        dtype=_dt.float32 if dtype is None else tf_dtype(dtype),
        name=name,
    )


@builds
def gather(
    params: Any,
    indices: Any,
    validate_indices: Any = None,
    name: str | None = None,
    axis: int | None = None,
    batch_dims: int = 0,
) -> Any:
    if batch_dims:
        raise OpDefinitionError("tf.gather: batch_dims is not provided by opcore's GatherV2")
    return opcore.gather(params, indices, axis=0 if axis is None else axis, name=name)


@builds
def slice(input_: Any, begin: Any, size: Any, name: str | None = None) -> Any:
    return opcore.slice(input_, begin=_static_dims(begin, "slice"), size=_static_dims(size, "slice"), name=name)


# --------------------------------------------------------------------------- random


def set_random_seed(seed: int | None) -> None:
    """The graph-level seed (TensorFlow 1's ``tf.set_random_seed``): random ops made after it are reproducible."""
    opcore.set_seed(seed)


@builds
def random_normal(
    shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: Any = _dt.float32, seed: int | None = None,
    name: str | None = None,
) -> Any:  # fmt: skip
    return opcore.random_normal(_static_dims(shape, "random_normal"), mean, stddev, tf_dtype(dtype), seed, name=name)


@builds
def truncated_normal(
    shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: Any = _dt.float32, seed: int | None = None,
    name: str | None = None,
) -> Any:  # fmt: skip
    return opcore.truncated_normal(
        _static_dims(shape, "truncated_normal"), mean, stddev, tf_dtype(dtype), seed, name=name
    )


@builds
def random_uniform(
    shape: Any, minval: Any = 0, maxval: Any = None, dtype: Any = _dt.float32, seed: int | None = None,
    name: str | None = None,
) -> Any:  # fmt: skip
    return opcore.random_uniform(
        _static_dims(shape, "random_uniform"), minval, maxval, tf_dtype(dtype), seed, name=name
    )


# --------------------------------------------------------------------------- helpers

_TENSORS = (SymbolicTensor, opcore.GraphVariable)


def _as_graph(x: Any) -> Any:
    """``x`` as a graph tensor of the default graph (data becomes a constant)."""
    if isinstance(x, opcore.GraphVariable):
        return x.value()
    if isinstance(x, SymbolicTensor):
        return x
    return opcore.constant(x)
