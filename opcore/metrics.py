"""Metrics: accuracy in the forms the classic courses and Keras use.

Each function returns a scalar float32 tensor (the mean over the batch) and
is built from ops, so it works eagerly and in graphs.

>>> import opcore
>>> from opcore import metrics
>>> y = opcore.constant([[0.0, 1.0], [1.0, 0.0]])
>>> float(metrics.categorical_accuracy(y, opcore.constant([[0.2, 0.8], [0.3, 0.7]])))
0.5
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from opcore import dtypes as _dt
from opcore.dtypes import DType
from opcore.errors import OpDefinitionError
from opcore.ops import array as _array
from opcore.ops import math as _math
from opcore.ops import reduce as _reduce
from opcore.shapes import Shape, as_shape

__all__ = [
    "accuracy",
    "auto_accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "get",
    "sparse_categorical_accuracy",
]


def _dtype_of(x: Any) -> DType | None:
    d = getattr(x, "dtype", None)
    return d if isinstance(d, DType) else None


def _static_shape(x: Any) -> Shape:
    s = getattr(x, "shape", None)
    return s if isinstance(s, Shape) else as_shape(np.shape(x) if s is None else s)


def _mean_of(hits: Any) -> Any:
    return _reduce.reduce_mean(_math.cast(hits, _dt.float32))


def accuracy(labels: Any, predictions: Any) -> Any:
    """The fraction of elements where ``labels == predictions`` (class ids, say), as a float32 scalar.

    When the dtypes differ, ``labels`` is cast to the dtype of ``predictions``.
    """
    d = _dtype_of(predictions)
    if d is not None and _dtype_of(labels) is not d:
        labels = _math.cast(labels, d)
    return _mean_of(_math.equal(labels, predictions))


def categorical_accuracy(y_true: Any, y_pred: Any) -> Any:
    """``reduce_mean(cast(equal(argmax(y_true, -1), argmax(y_pred, -1)), float32))``: one-hot labels."""
    return _mean_of(_math.equal(_reduce.argmax(y_true, axis=-1), _reduce.argmax(y_pred, axis=-1)))


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> Any:
    """Accuracy of class indices ``y_true`` (shape ``[batch]`` or ``[batch, 1]``) against ``argmax(y_pred, -1)``."""
    if _static_shape(y_true).rank == _static_shape(y_pred).rank:
        y_true = _array.squeeze(y_true, axis=-1)
    predicted = _reduce.argmax(y_pred, axis=-1)
    return _mean_of(_math.equal(_math.cast(y_true, _dt.int64), predicted))


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> Any:
    """The fraction of elements where ``y_pred > threshold`` matches the 0/1 label ``y_true``."""
    predicted = _math.greater(y_pred, threshold)
    truth = _math.greater(_math.cast(y_true, _dt.float32), 0.5)
    return _mean_of(_math.equal(_math.cast(truth, _dt.int32), _math.cast(predicted, _dt.int32)))


def auto_accuracy(y_true: Any, y_pred: Any) -> Any:
    """Keras's ``"accuracy"``: binary, sparse or categorical accuracy, chosen from the static shapes.

    A last axis of 1 in ``y_pred`` means binary; labels with one axis fewer than
    ``y_pred`` (or a last axis of 1) mean sparse class indices; otherwise one-hot labels.
    """
    pred, true = _static_shape(y_pred), _static_shape(y_true)
    if pred.rank and pred[-1] == 1:
        return binary_accuracy(y_true, y_pred)
    if pred.rank is not None and true.rank is not None and (true.rank != pred.rank or true[-1] == 1):
        return sparse_categorical_accuracy(y_true, y_pred)
    return categorical_accuracy(y_true, y_pred)


_BY_NAME: dict[str, Callable[..., Any]] = {
    "accuracy": auto_accuracy,
    "acc": auto_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "binary_accuracy": binary_accuracy,
}

_ACCURACY_FOR_LOSS = {
    "binary_crossentropy": binary_accuracy,
    "sparse_categorical_crossentropy": sparse_categorical_accuracy,
    "categorical_crossentropy": categorical_accuracy,
}


def get(identifier: str | Callable[..., Any], loss: Any = None) -> Callable[..., Any]:
    """The metric ``fn(y_true, y_pred)`` for a name or a callable.

    ``"accuracy"``/``"acc"`` give :func:`auto_accuracy`, unless ``loss`` names a Keras loss
    (``"sparse_categorical_crossentropy"`` ...) or is that loss function, which picks the
    matching accuracy as Keras's ``compile`` does.
    """
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in ("accuracy", "acc") and loss is not None:
            loss_name = loss if isinstance(loss, str) else getattr(loss, "__name__", type(loss).__name__)
            picked = _ACCURACY_FOR_LOSS.get(_snake(str(loss_name)))
            if picked is not None:
                return picked
        fn = _BY_NAME.get(key)
        if fn is None:
            raise OpDefinitionError(f"unknown metric {identifier!r}; known: {', '.join(sorted(_BY_NAME))}")
        return fn
    if callable(identifier):
        return identifier
    raise OpDefinitionError(f"cannot interpret {identifier!r} as a metric: give a name or a callable")


def _snake(name: str) -> str:
    """``"SparseCategoricalCrossentropy"`` -> ``"sparse_categorical_crossentropy"``; snake names pass through."""
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i > 0 and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
