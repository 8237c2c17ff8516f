"""Keras's loss names (``keras.losses.categorical_crossentropy`` ...), from :mod:`opcore.losses`.

>>> import numpy as np
>>> from opcore import keras
>>> float(keras.losses.mean_squared_error(np.zeros((1, 2)), np.ones((1, 2))))
1.0
"""

from __future__ import annotations

from opcore.losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Loss,
    MeanAbsoluteError,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
    binary_crossentropy,
    categorical_crossentropy,
    get,
    mae,
    mean_absolute_error,
    mse,
    sparse_categorical_crossentropy,
)

#: Keras's long name for :func:`mse`.
mean_squared_error = mse

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Loss",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "SparseCategoricalCrossentropy",
    "binary_crossentropy",
    "categorical_crossentropy",
    "get",
    "mae",
    "mean_absolute_error",
    "mean_squared_error",
    "mse",
    "sparse_categorical_crossentropy",
]
