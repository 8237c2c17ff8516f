"""The layers of the Keras-style API: opcore's layer classes, plus ``Input`` for functional models.

>>> from opcore import keras
>>> x = keras.layers.Input(shape=(784,))
>>> y = keras.layers.Dense(10, activation="softmax")(x)
>>> y.shape
Shape([None, 10])
"""

from __future__ import annotations

from typing import Any

from opcore.keras._errors import ModelError
from opcore.keras._functional import Input, KerasTensor
from opcore.layers import (
    Activation,
    AveragePooling2D,
    AvgPool2D,
    Conv2D,
    Convolution2D,
    Dense,
    Dropout,
    Flatten,
    Layer,
    MaxPool2D,
    MaxPooling2D,
)

__all__ = [
    "Activation",
    "AveragePooling2D",
    "AvgPool2D",
    "Conv2D",
    "Convolution2D",
    "Dense",
    "Dropout",
    "Flatten",
    "Input",
    "InputLayer",
    "KerasTensor",
    "Layer",
    "MaxPool2D",
    "MaxPooling2D",
]


class InputLayer(Layer):
    """Keras's ``InputLayer``: put first in a ``Sequential`` to give the input shape (the batch dim excluded).

    ``InputLayer(input_shape=(784,))`` (Keras 2) or ``InputLayer(shape=(784,))``
    (Keras 3) does what a leading ``keras.layers.Input(shape=(784,))`` does; the
    model's ``layers`` do not list it. Called on data, it returns the data.

    >>> from opcore import keras
    >>> model = keras.Sequential([keras.layers.InputLayer(input_shape=(4,)), keras.layers.Dense(2)])
    >>> model.output_shape, len(model.layers)
    (Shape([None, 2]), 1)
    """

    def __init__(
        self,
        input_shape: Any = None,
        batch_size: int | None = None,
        dtype: Any = None,
        name: str | None = None,
        *,
        shape: Any = None,
        batch_input_shape: Any = None,
        trainable: bool = True,
    ) -> None:
        if shape is not None and input_shape is not None:
            raise ModelError("InputLayer: give shape or input_shape, not both")
        super().__init__(
            name=name,
            trainable=trainable,
            dtype=dtype,
            input_shape=input_shape if shape is None else shape,
            batch_size=batch_size,
            batch_input_shape=batch_input_shape,
        )
        if self._batch_input_shape is None:
            raise ModelError("InputLayer needs the input shape: InputLayer(input_shape=(...))")
        self.built = True

    def call(self, inputs: Any, training: Any = False) -> Any:
        """The inputs, unchanged."""
        return inputs
