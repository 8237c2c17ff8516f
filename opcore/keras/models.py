"""Keras-style models: :class:`Sequential`, functional :class:`Model`, and :func:`load_model`.

``model.save(path)`` writes ONE file, a safetensors file holding the weights
with the architecture as versioned JSON in its metadata (see
:mod:`opcore.keras._saving` for the layout); ``load_model(path)`` rebuilds the
model with the same weights (uncompiled: call ``compile`` again to train).

>>> import numpy as np
>>> from opcore import keras
>>> model = keras.Sequential([keras.layers.Input(shape=(4,)), keras.layers.Dense(2)])
>>> model.predict(np.zeros((3, 4), np.float32)).shape
(3, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from opcore import dtypes as _dt
from opcore.errors import ShapeError
from opcore.keras._engine import Model
from opcore.keras._errors import ModelError
from opcore.keras._functional import KerasTensor, is_symbolic, symbolic_call
from opcore.keras._saving import load_model, serialize_layer
from opcore.keras.layers import InputLayer
from opcore.layers.base import Layer
from opcore.shapes import Shape, as_shape

__all__ = ["Model", "Sequential", "load_model"]


class Sequential(Model):
    """A plain stack of layers, each feeding the next.

    Give the input shape with a leading ``keras.layers.Input(shape=...)``, or
    as Keras 2 programs do with ``input_shape=`` / ``input_dim=`` on the first
    layer, to build the model at once (``summary()`` then works before
    training); otherwise it is built by its first call, from the data's shape.

    >>> from opcore import keras
    >>> model = keras.Sequential([keras.layers.Dense(32, activation="relu", input_dim=64), keras.layers.Dense(10)])
    >>> model.output_shape
    Shape([None, 10])

    >>> from opcore import keras
    >>> model = keras.Sequential([
    ...     keras.layers.Input(shape=(64,)),
    ...     keras.layers.Dense(32, activation="relu"),
    ...     keras.layers.Dense(10, activation="softmax"),
    ... ])
    >>> model.count_params()
    2410
    """

    def __init__(self, layers: Sequence[Any] | None = None, name: str | None = None) -> None:
        super().__init__(name=name)
        self._input_spec: KerasTensor | None = None
        self._output_shapes: list[Shape] = []
        for item in layers or ():
            self.add(item)

    def add(self, layer: Any) -> None:
        """Append a layer (or, first, a ``keras.layers.Input`` giving the input shape)."""
        if isinstance(layer, KerasTensor):
            if not layer.is_input:
                raise ModelError(
                    f"Sequential {self.name!r}: add() takes layers or a keras.layers.Input, got a layer output"
                )
            if self._layers or self._input_spec is not None:
                raise ModelError(f"Sequential {self.name!r}: an Input can only come first")
            self._input_spec = layer
            self._inputs = [layer]
            return
        if isinstance(layer, InputLayer):
            if self._layers or self._input_spec is not None:
                raise ModelError(f"Sequential {self.name!r}: an InputLayer can only come first")
            declared = layer.batch_input_shape
            assert declared is not None
            dtype = _dt.as_dtype(layer.dtype) if layer.dtype is not None else _dt.float32
            self._input_spec = KerasTensor(declared, dtype, layer.name)
            self._inputs = [self._input_spec]
            return
        if not isinstance(layer, Layer):
            raise ModelError(f"Sequential {self.name!r}: add() takes a Layer, got {type(layer).__name__}")
        if any(layer is known for known in self._layers):
            raise ModelError(f"Sequential {self.name!r}: layer {layer.name!r} is already in the model")
        self._check_unique_names([*self._layers, layer])
        declared = layer.batch_input_shape
        if not self._layers and self._input_spec is None and declared is not None:
            dtype = _dt.as_dtype(layer.dtype) if layer.dtype is not None else _dt.float32
            self._input_spec = KerasTensor(declared, dtype, f"{layer.name}_input")
            self._inputs = [self._input_spec]
        self._layers.append(layer)
        if self._input_spec is not None:
            try:
                self._build_layers()
            except ShapeError:
                self._layers.pop()
                if not self._layers and declared is not None:
                    self._input_spec, self._inputs = None, []
                raise

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not self._layers:
            raise ModelError(f"Sequential {self.name!r} has no layers to pop")
        layer = self._layers.pop()
        self._output_shapes = self._output_shapes[: len(self._layers)]
        return layer

    def build(self, input_shape: Any) -> None:
        """Build every layer for inputs of ``input_shape`` (batch dim included; it may be None)."""
        shape = as_shape(input_shape)
        if shape.dims is None or not shape.dims:
            raise ShapeError(f"Sequential {self.name!r}: needs inputs with a batch axis, got shape {shape}")
        if self._input_spec is None:
            self._input_spec = KerasTensor(Shape((None, *shape.dims[1:])), _dt.float32, "input")
            self._inputs = [self._input_spec]
        self._build_layers()

    def _build_layers(self) -> None:
        assert self._input_spec is not None
        shape = self._input_spec.shape
        shapes: list[Shape] = []
        for layer in self._layers:
            layer._check_declared_input(shape)
            try:
                if not layer.built:
                    layer.build(shape)
                    layer.built = True
                shape = as_shape(layer.compute_output_shape(shape))
            except ShapeError as exc:
                raise ShapeError(
                    f"Sequential {self.name!r}: layer {layer.name!r} ({type(layer).__name__}) cannot take input "
                    f"of shape {shape}: {exc}"
                ) from None
            shapes.append(shape)
        self._output_shapes = shapes
        self.built = True

    def __call__(self, inputs: Any, training: bool | None = None) -> Any:
        if is_symbolic(inputs):
            return symbolic_call(self, inputs, training)
        return self.call(inputs, training=bool(training))

    def call(self, inputs: Any, training: bool = False) -> Any:
        """Run the layers in order on ``inputs`` (built from its shape on first use)."""
        if not self._layers:
            raise ModelError(f"Sequential {self.name!r} has no layers")
        if self._input_spec is None:
            shape = getattr(inputs, "shape", None)
            self.build(shape if isinstance(shape, Shape) else np.shape(inputs))
            spec = self._input_spec
            assert spec is not None
            d = getattr(inputs, "dtype", None)
            if isinstance(d, _dt.DType):
                spec.dtype = d
        spec = self._input_spec
        assert spec is not None
        self._check_input(inputs, spec, self._layers[0])
        x = self._to_tensor(inputs, spec, "inputs")
        for layer in self._layers:
            x = self._call_layer(layer, x, training)
        return x

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = as_shape(input_shape)
        for layer in self._layers:
            shape = as_shape(layer.compute_output_shape(shape))
        return shape

    @property
    def output_shape(self) -> Shape:
        """The model's output shape (batch dim unknown); the model must be built."""
        if not self._output_shapes:
            raise ModelError(f"Sequential {self.name!r} is not built yet")
        return self._output_shapes[-1]

    def _summary_rows(self) -> list[tuple[str, str, int, str]]:
        if not self.built or len(self._output_shapes) != len(self._layers):
            raise ModelError(
                f"Sequential {self.name!r} is not built yet: start it with keras.layers.Input(shape=...), "
                "call build(input_shape), or call/fit it once"
            )
        rows = []
        for layer, shape in zip(self._layers, self._output_shapes):
            params = sum(int(np.prod(v.shape.as_tuple())) for v in layer.variables)
            rows.append((f"{layer.name} ({type(layer).__name__})", str(shape), params, ""))
        return rows

    def get_config(self) -> dict[str, Any]:
        """The name, the input (shape and dtype, when known) and each layer's class name and config."""
        spec = self._input_spec
        return {
            "name": self.name,
            "input": None
            if spec is None
            else {"name": spec.name, "shape": list(spec.shape.dims or ()), "dtype": spec.dtype.name},
            "layers": [serialize_layer(layer) for layer in self._layers],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Sequential:
        from opcore.keras._saving import _classes, _model_from_config

        model = _model_from_config("Sequential", config, _classes(None))
        assert isinstance(model, Sequential)
        return model
