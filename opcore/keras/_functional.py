"""Symbolic tensors for the functional API: ``Input`` and the graph of layer calls.

Calling a layer on a :class:`KerasTensor` does not compute anything: it
builds the layer for the tensor's shape, records a :class:`Node` (the layer
and its inputs) and returns a new KerasTensor whose shape comes from the
layer's ``compute_output_shape``. A functional ``Model(inputs, outputs)``
replays the recorded nodes on real tensors. This is a small graph of its own,
independent of opcore's TF1 ``Graph``.
"""

from __future__ import annotations

import itertools
from typing import Any

from opcore import dtypes as _dt
from opcore.dtypes import DType
from opcore.errors import ShapeError
from opcore.keras._errors import ModelError
from opcore.shapes import Shape, as_shape

__all__ = ["Input", "KerasTensor", "Node", "is_symbolic", "symbolic_call"]

_input_names = itertools.count()


class Node:
    """One recorded layer call: ``output = layer(inputs)``."""

    __slots__ = ("as_list", "inputs", "layer", "output")

    def __init__(self, layer: Any, inputs: list[KerasTensor], as_list: bool) -> None:
        self.layer = layer
        self.inputs = inputs
        #: Whether the layer was called with a list (``layer([a, b])``) rather than one tensor.
        self.as_list = as_list
        self.output: KerasTensor | None = None


class KerasTensor:
    """A symbolic tensor of the functional API: a shape (batch dim unknown), a dtype, and how it was made.

    Made by :func:`Input` or by calling a layer on KerasTensors; it holds no data.

    >>> from opcore import keras
    >>> x = keras.layers.Input(shape=(64,))
    >>> x.shape
    Shape([None, 64])
    """

    __slots__ = ("dtype", "name", "node", "shape")

    def __init__(self, shape: Shape, dtype: DType, name: str, node: Node | None = None) -> None:
        self.shape = shape
        self.dtype = dtype
        self.name = name
        #: The layer call that produced this tensor; None for an ``Input``.
        self.node = node

    @property
    def is_input(self) -> bool:
        return self.node is None

    def _opcore_layer_call(self, layer: Any, inputs: Any, training: Any = None) -> KerasTensor:
        """Hook used by ``Layer.__call__`` when a layer is called on symbolic inputs."""
        return symbolic_call(layer, inputs, training)

    def __repr__(self) -> str:
        return f"<KerasTensor {self.name!r} shape={self.shape} dtype={self.dtype.name}>"

    def __bool__(self) -> bool:
        raise ModelError(f"KerasTensor {self.name!r} is symbolic: it has no value to test")


def Input(shape: Any, dtype: Any = "float32", name: str | None = None) -> KerasTensor:
    """A symbolic model input of ``shape`` per example (the batch dimension is added, unknown).

    >>> from opcore import keras
    >>> inputs = keras.layers.Input(shape=(28, 28, 1))
    >>> inputs.shape
    Shape([None, 28, 28, 1])
    """
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        per_example = as_shape(shape)
    except ShapeError as exc:
        raise ShapeError(f"Input: bad shape {shape!r}: {exc}") from None
    if per_example.dims is None:
        raise ShapeError("Input: the shape per example must have a known rank, e.g. shape=(784,)")
    full = Shape((None, *per_example.dims))
    return KerasTensor(full, _dt.as_dtype(dtype), name or _next_input_name())


def _next_input_name() -> str:
    n = next(_input_names)
    return "input" if n == 0 else f"input_{n}"


def is_symbolic(value: Any) -> bool:
    """Whether ``value`` is a KerasTensor or a non-empty list/tuple of them."""
    if isinstance(value, KerasTensor):
        return True
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, KerasTensor) for v in value)


def symbolic_call(layer: Any, inputs: Any, training: Any = None) -> KerasTensor:
    """Record ``layer(inputs)`` for KerasTensor inputs, building the layer on first use."""
    as_list = isinstance(inputs, (list, tuple))
    tensors: list[KerasTensor] = list(inputs) if as_list else [inputs]
    if not all(isinstance(t, KerasTensor) for t in tensors):
        raise ModelError(f"layer {layer.name!r}: cannot mix symbolic KerasTensors with concrete values in one call")
    shape: Any = [t.shape for t in tensors] if as_list else tensors[0].shape
    check = getattr(layer, "_check_declared_input", None)
    if check is not None and not as_list:
        check(shape)
    try:
        if not layer.built:
            layer.build(shape)
            layer.built = True
        out_shape = layer.compute_output_shape(shape)
    except ShapeError as exc:
        raise ShapeError(
            f"layer {layer.name!r} ({type(layer).__name__}) cannot take input of shape {_describe(shape)}: {exc}"
        ) from None
    dtype = _dt.as_dtype(layer.dtype) if getattr(layer, "dtype", None) is not None else tensors[0].dtype
    node = Node(layer, tensors, as_list)
    out = KerasTensor(as_shape(out_shape), dtype, f"{layer.name}/output", node)
    node.output = out
    return out


def _describe(shape: Any) -> str:
    if isinstance(shape, list):
        return "[" + ", ".join(str(s) for s in shape) + "]"
    return str(shape)
