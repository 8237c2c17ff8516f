"""Layers: stateful building blocks, usable eagerly and in graphs.

The classes (``Dense``, ``Conv2D``, ``MaxPooling2D`` ...) are Keras-style: create
once, call on inputs, read ``layer.trainable_variables``. The lowercase
functions (``dense``, ``conv2d``, ``max_pooling2d`` ...) are TensorFlow 1's
``tf.layers``: each call creates a new layer (with new variables) and applies
it once.

>>> import numpy as np
>>> from opcore import layers
>>> x = np.ones((2, 28, 28, 1), np.float32)
>>> h = layers.conv2d(x, 4, 5, padding="same", activation="relu")
>>> h = layers.max_pooling2d(h, 2, 2)
>>> layers.dense(layers.flatten(h), 10).shape
Shape([2, 10])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from opcore.layers import activations
from opcore.layers.base import Layer
from opcore.layers.conv import Conv2D, Convolution2D
from opcore.layers.core import Activation, Dense, Dropout, Flatten
from opcore.layers.pooling import AveragePooling2D, AvgPool2D, MaxPool2D, MaxPooling2D

__all__ = [
    "Activation",
    "AveragePooling2D",
    "AvgPool2D",
    "Conv2D",
    "Convolution2D",
    "Dense",
    "Dropout",
    "Flatten",
    "Layer",
    "MaxPool2D",
    "MaxPooling2D",
    "activations",
    "average_pooling2d",
    "conv2d",
    "dense",
    "dropout",
    "flatten",
    "max_pooling2d",
]


def dense(
    inputs: Any,
    units: int,
    activation: Any = None,
    use_bias: bool = True,
    kernel_initializer: Any = None,
    bias_initializer: Any = None,
    trainable: bool = True,
    name: str | None = None,
) -> Any:
    """TF1's ``tf.layers.dense``: a new :class:`Dense` layer applied to ``inputs``.

    ``kernel_initializer=None`` means Glorot uniform and ``bias_initializer=None`` zeros, as in TF1.
    """
    layer = Dense(
        units,
        activation=activation,
        use_bias=use_bias,
        kernel_initializer=kernel_initializer,
        bias_initializer=bias_initializer,
        trainable=trainable,
        name=name,
    )
    return layer(inputs)


def conv2d(
    inputs: Any,
    filters: int,
    kernel_size: int | Sequence[int],
    strides: int | Sequence[int] = (1, 1),
    padding: str = "valid",
    data_format: str = "channels_last",
    dilation_rate: int | Sequence[int] = (1, 1),
    activation: Any = None,
    use_bias: bool = True,
    kernel_initializer: Any = None,
    bias_initializer: Any = None,
    trainable: bool = True,
    name: str | None = None,
) -> Any:
    """TF1's ``tf.layers.conv2d``: a new :class:`Conv2D` layer applied to ``inputs``."""
    layer = Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        data_format=data_format,
        dilation_rate=dilation_rate,
        activation=activation,
        use_bias=use_bias,
        kernel_initializer=kernel_initializer,
        bias_initializer=bias_initializer,
        trainable=trainable,
        name=name,
    )
    return layer(inputs)


def max_pooling2d(
    inputs: Any,
    pool_size: int | Sequence[int],
    strides: int | Sequence[int],
    padding: str = "valid",
    data_format: str = "channels_last",
    name: str | None = None,
) -> Any:
    """TF1's ``tf.layers.max_pooling2d``."""
    return MaxPooling2D(pool_size, strides, padding=padding, data_format=data_format, name=name)(inputs)


def average_pooling2d(
    inputs: Any,
    pool_size: int | Sequence[int],
    strides: int | Sequence[int],
    padding: str = "valid",
    data_format: str = "channels_last",
    name: str | None = None,
) -> Any:
    """TF1's ``tf.layers.average_pooling2d``."""
    return AveragePooling2D(pool_size, strides, padding=padding, data_format=data_format, name=name)(inputs)


def dropout(
    inputs: Any, rate: float = 0.5, training: Any = False, seed: int | None = None, name: str | None = None
) -> Any:
    """TF1's ``tf.layers.dropout``: active only when ``training`` is true.

    ``training`` is a Python bool or a boolean scalar tensor (such as an ``is_training``
    placeholder, chosen at run time).
    """
    layer = Dropout(rate, seed=seed, name=name)
    if training is None or isinstance(training, (bool, np.bool_)):
        return layer(inputs, training=bool(training))
    return layer.call(inputs, training=training)


def flatten(inputs: Any, name: str | None = None) -> Any:
    """TF1's ``tf.layers.flatten``: ``[batch, ...] -> [batch, n]``."""
    return Flatten(name=name)(inputs)
