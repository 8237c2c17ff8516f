"""What TensorFlow 1's functions share: argument aliases, dtypes, names, graph tensors and static shapes."""

from __future__ import annotations

from typing import Any

import opcore
from opcore.compat.v1._graph import tf_dtype
from opcore.errors import GraphError, OpDefinitionError
from opcore.graph import SymbolicTensor
from opcore.shapes import Shape


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


def _as_graph(x: Any) -> Any:
    """``x`` as a graph tensor of the default graph (data becomes a constant)."""
    if isinstance(x, opcore.GraphVariable):
        return x.value()
    if isinstance(x, SymbolicTensor):
        return x
    return opcore.constant(x)


def _py_shape(value: Any) -> tuple[int, ...]:
    dims: list[int] = []
    while isinstance(value, (list, tuple)):
        dims.append(len(value))
        value = value[0] if value else None
    return tuple(dims)


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
