"""TensorFlow 1's tensor constructors: constants, placeholders, fills, ``shape``/``size``/``rank`` and ``range``."""

from __future__ import annotations

from typing import Any

import opcore
from opcore import dtypes as _dt
from opcore.compat.v1._graph import builds, tf_dtype
from opcore.compat.v1._ops._helpers import _d, _py_shape, _static_dims
from opcore.compat.v1._ops.shapes import stack
from opcore.errors import OpDefinitionError, ShapeError
from opcore.graph import SymbolicTensor
from opcore.shapes import Shape

_builtin_range = range


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


def _known_shape(input: Any) -> Shape:
    """The static shape of a graph tensor, or of nested Python lists."""
    s = getattr(input, "shape", None)
    return s if isinstance(s, Shape) else Shape(_py_shape(input))


def shape(input: Any, name: str | None = None, out_type: Any = _dt.int32) -> Any:
    """The shape of ``input`` as an int32 tensor, when it is fully known when the graph is built.

    opcore has no ``Shape`` op: a shape with an unknown dim (a ``None`` batch size)
    cannot be read at run time. Use the static ``input.shape`` in Python instead.
    """
    s = _known_shape(input)
    if not s.is_fully_defined:
        raise ShapeError(
            f"tf.shape: the shape of {getattr(input, 'name', 'the input')!r} is {s}, not fully known when the graph "
            "is built, and opcore has no Shape op to read it at run time; use the static shape (x.shape, with "
            "-1 in reshape for the unknown dim) instead"
        )
    return constant(list(s.as_tuple()), dtype=out_type, name=name or "Shape")


def size(input: Any, name: str | None = None, out_type: Any = _dt.int32) -> Any:
    """The number of elements of ``input``, when its shape is known when the graph is built (see :func:`shape`)."""
    s = _known_shape(input)
    n = s.num_elements()
    if n is None:
        raise ShapeError(f"tf.size: the shape {s} is not fully known when the graph is built; use x.shape instead")
    return constant(n, dtype=out_type, name=name or "Size")


def rank(input: Any, name: str | None = None) -> Any:
    """The rank of ``input`` as an int32 scalar (known when the graph is built)."""
    s = _known_shape(input)
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
