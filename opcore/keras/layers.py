"""The layers of the Keras-style API: opcore's layer classes, plus ``Input`` for functional models.

>>> from opcore import keras
>>> x = keras.layers.Input(shape=(784,))
>>> y = keras.layers.Dense(10, activation="softmax")(x)
>>> y.shape
Shape([None, 10])
"""

from __future__ import annotations

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
    "KerasTensor",
    "Layer",
    "MaxPool2D",
    "MaxPooling2D",
]
