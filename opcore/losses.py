"""Losses: TensorFlow 1's ``tf.losses`` and Keras's loss functions.

The TF1 functions (``mean_squared_error(labels, predictions)``,
``softmax_cross_entropy(onehot_labels, logits)`` ...) return a scalar: the
weighted sum divided by the number of non-zero weights, which with the
default ``weights=1.0`` is the mean over every element (TF1's default
reduction, ``SUM_BY_NONZERO_WEIGHTS``).

The Keras functions take ``(y_true, y_pred)`` and are found by name through
:func:`get` (``"mse"``, ``"categorical_crossentropy"`` ...). Each loss is
first computed per example (reduced over the last axis, like Keras) and then,
with the default ``reduction="mean"``, averaged over the batch into a scalar;
``reduction="none"`` returns the per-example losses.

All are built from ops, so they work eagerly, in graphs, and under
``GradientTape``.

>>> import opcore
>>> from opcore import losses
>>> float(losses.mean_squared_error([1.0, 2.0], opcore.constant([1.0, 4.0])))
2.0
>>> float(losses.get("mse")([[1.0, 2.0]], opcore.constant([[1.0, 4.0]])))
2.0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from opcore import dtypes as _dt
from opcore.dtypes import DType
from opcore.errors import OpDefinitionError, ShapeError
from opcore.ops import array as _array
from opcore.ops import math as _math
from opcore.ops import nn as _nn
from opcore.ops import reduce as _reduce
from opcore.ops._broadcast import broadcast_like
from opcore.shapes import Shape, as_shape

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Loss",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "SparseCategoricalCrossentropy",
    "absolute_difference",
    "binary_crossentropy",
    "categorical_crossentropy",
    "get",
    "hinge_loss",
    "huber_loss",
    "log_loss",
    "mae",
    "mean_absolute_error",
    "mse",
    "mean_squared_error",
    "sigmoid_cross_entropy",
    "softmax_cross_entropy",
    "sparse_categorical_crossentropy",
    "sparse_softmax_cross_entropy",
]

#: Probabilities are clipped to ``[EPSILON, 1 - EPSILON]`` before a log (Keras's ``backend.epsilon()``).
EPSILON = 1e-7


# --------------------------------------------------------------------------- helpers


def _dtype_of(x: Any) -> DType | None:
    d = getattr(x, "dtype", None)
    return d if isinstance(d, DType) else None


def _float_pair(labels: Any, predictions: Any) -> tuple[Any, Any]:
    """Both as one floating dtype: the predictions' if floating, else float32 (labels follow predictions)."""
    d = _dtype_of(predictions)
    target = d if d is not None and d.is_floating else _dt.float32
    return _to(labels, target), _to(predictions, target)


def _to(x: Any, dtype: DType) -> Any:
    return x if _dtype_of(x) is dtype else _math.cast(x, dtype)


def _is_default_weight(weights: Any) -> bool:
    return isinstance(weights, (int, float)) and not isinstance(weights, bool) and float(weights) == 1.0


def _compute_weighted_loss(losses: Any, weights: Any = 1.0) -> Any:
    """TF1's ``SUM_BY_NONZERO_WEIGHTS``: ``sum(losses * weights) / count(weights != 0)`` (0 if none).

    ``weights`` broadcasts against ``losses``; a weight of 0 drops an element from the mean.
    """
    if _is_default_weight(weights):
        return _reduce.reduce_mean(losses)
    w = broadcast_like(_to(weights, losses.dtype), losses)
    total = _reduce.reduce_sum(_math.multiply(losses, w))
    count = _reduce.reduce_sum(_math.cast(_math.not_equal(w, 0), losses.dtype))
    # count is a whole number; max(count, 1) only changes the all-zero-weights case, where total is 0 too.
    return _math.divide(total, _math.maximum(count, 1))


def _static_shape(x: Any) -> Shape:
    s = getattr(x, "shape", None)
    return s if isinstance(s, Shape) else as_shape(np.shape(x) if s is None else s)


def _num_classes(x: Any, who: str) -> int:
    shape = _static_shape(x)
    last = shape[-1] if shape.rank else None
    if last is None:
        raise ShapeError(f"{who}: label_smoothing needs a known number of classes (last dim), got shape {shape}")
    return last


def _check_one_hot_labels(
    y_true: Any, y_pred: Any, who: str, sparse: str = "loss='sparse_categorical_crossentropy'"
) -> None:
    """Refuse class-index labels given to a loss that wants one-hot labels, naming the sparse loss."""
    true, pred = _static_shape(y_true), _static_shape(y_pred)
    if true.rank is None or pred.rank is None or pred.rank == 0:
        return
    classes = pred[-1]
    indices = true.rank == pred.rank - 1 or (true.rank == pred.rank and true[-1] == 1 and classes not in (None, 1))
    if indices:
        raise ShapeError(
            f"{who}: labels of shape {true} look like class indices, but {who} wants one-hot labels of the "
            f"predictions' shape {pred}. Use {sparse} for integer labels, or one-hot encode them first with "
            "keras.utils.to_categorical(y, num_classes)"
        )


def _check_index_labels(y_true: Any, y_pred: Any, who: str, dense: str = "loss='categorical_crossentropy'") -> None:
    """Refuse one-hot labels given to a loss that wants class indices, naming the categorical loss."""
    true, pred = _static_shape(y_true), _static_shape(y_pred)
    if true.rank is None or pred.rank is None or true.rank != pred.rank or true[-1] in (None, 1):
        return
    raise ShapeError(
        f"{who}: labels of shape {true} look one-hot (one column per class), but {who} wants class indices of "
        f"shape {Shape(pred.dims[:-1] if pred.dims else None)}. Use {dense} for one-hot labels, or pass the "
        "indices (y.argmax(axis=-1))"
    )


def _clip(p: Any, eps: float = EPSILON) -> Any:
    return _math.minimum(_math.maximum(p, eps), 1.0 - eps)


# --------------------------------------------------------------------------- TF1: tf.losses


def mean_squared_error(labels: Any, predictions: Any, weights: Any = 1.0) -> Any:
    """``mean((labels - predictions) ** 2)`` (weighted: see the module docstring)."""
    labels, predictions = _float_pair(labels, predictions)
    return _compute_weighted_loss(_math.square(_math.subtract(predictions, labels)), weights)


def absolute_difference(labels: Any, predictions: Any, weights: Any = 1.0) -> Any:
    """``mean(|labels - predictions|)``."""
    labels, predictions = _float_pair(labels, predictions)
    return _compute_weighted_loss(_math.abs(_math.subtract(predictions, labels)), weights)


def huber_loss(labels: Any, predictions: Any, weights: Any = 1.0, delta: float = 1.0) -> Any:
    """Mean Huber loss: ``0.5 * e**2`` where ``|e| <= delta``, else ``delta * (|e| - 0.5 * delta)``."""
    labels, predictions = _float_pair(labels, predictions)
    err = _math.abs(_math.subtract(predictions, labels))
    quadratic = _math.minimum(err, delta)
    linear = _math.subtract(err, quadratic)
    return _compute_weighted_loss(
        _math.add(_math.multiply(_math.square(quadratic), 0.5), _math.multiply(linear, delta)), weights
    )


def hinge_loss(labels: Any, logits: Any, weights: Any = 1.0) -> Any:
    """Mean hinge loss ``max(0, 1 - (2 * labels - 1) * logits)`` for labels in {0, 1}."""
    labels, logits = _float_pair(labels, logits)
    signs = _math.subtract(_math.multiply(labels, 2.0), 1.0)
    return _compute_weighted_loss(_math.relu(_math.subtract(1.0, _math.multiply(signs, logits))), weights)


def log_loss(labels: Any, predictions: Any, weights: Any = 1.0, epsilon: float = 1e-7) -> Any:
    """Mean ``-labels * log(p + eps) - (1 - labels) * log(1 - p + eps)`` for probabilities ``p``."""
    labels, predictions = _float_pair(labels, predictions)
    pos = _math.multiply(labels, _math.log(_math.add(predictions, epsilon)))
    neg = _math.multiply(_math.subtract(1.0, labels), _math.log(_math.add(_math.subtract(1.0, predictions), epsilon)))
    return _compute_weighted_loss(_math.negative(_math.add(pos, neg)), weights)


def softmax_cross_entropy(onehot_labels: Any, logits: Any, weights: Any = 1.0, label_smoothing: float = 0.0) -> Any:
    """Mean over examples of the cross-entropy of ``onehot_labels`` and ``softmax(logits)`` (last axis).

    ``weights`` is per example (shape of ``logits`` without its last axis, or a scalar).
    With ``label_smoothing`` s the labels become ``labels * (1 - s) + s / num_classes``.
    """
    _check_one_hot_labels(onehot_labels, logits, "softmax_cross_entropy", "sparse_softmax_cross_entropy")
    labels, logits = _float_pair(onehot_labels, logits)
    if label_smoothing:
        n = _num_classes(logits, "softmax_cross_entropy")
        labels = _math.add(_math.multiply(labels, 1.0 - label_smoothing), label_smoothing / n)
    per_example = _nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return _compute_weighted_loss(per_example, weights)


def _int_labels(labels: Any) -> Any:
    d = _dtype_of(labels)
    if d in (_dt.int32, _dt.int64):
        return labels
    return _math.cast(labels, _dt.int64)


def sparse_softmax_cross_entropy(labels: Any, logits: Any, weights: Any = 1.0) -> Any:
    """Mean over examples of the cross-entropy of class indices ``labels`` and ``softmax(logits)``."""
    _check_index_labels(labels, logits, "sparse_softmax_cross_entropy", "softmax_cross_entropy")
    d = _dtype_of(logits)
    if d is None or not d.is_floating:
        logits = _math.cast(logits, _dt.float32)
    per_example = _nn.sparse_softmax_cross_entropy_with_logits(labels=_int_labels(labels), logits=logits)
    return _compute_weighted_loss(per_example, weights)


def sigmoid_cross_entropy(
    multi_class_labels: Any, logits: Any, weights: Any = 1.0, label_smoothing: float = 0.0
) -> Any:
    """Mean over every element of the logistic loss of labels in [0, 1] and ``sigmoid(logits)``.

    With ``label_smoothing`` s the labels become ``labels * (1 - s) + s / 2``.
    """
    labels, logits = _float_pair(multi_class_labels, logits)
    if label_smoothing:
        labels = _math.add(_math.multiply(labels, 1.0 - label_smoothing), 0.5 * label_smoothing)
    return _compute_weighted_loss(_nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits), weights)


# --------------------------------------------------------------------------- Keras: loss(y_true, y_pred)

_REDUCTIONS = ("mean", "sum", "none")


def _reduce_batch(per_example: Any, reduction: str) -> Any:
    if reduction == "mean":
        return _reduce.reduce_mean(per_example)
    if reduction == "sum":
        return _reduce.reduce_sum(per_example)
    if reduction == "none":
        return per_example
    raise OpDefinitionError(f"reduction must be one of {list(_REDUCTIONS)}, got {reduction!r}")


def mse(y_true: Any, y_pred: Any, reduction: str = "mean") -> Any:
    """Keras's mean squared error: ``mean((y_true - y_pred) ** 2, axis=-1)``, then ``reduction`` over the batch.

    Available by the names ``"mse"`` and ``"mean_squared_error"`` through :func:`get`.
    """
    y_true, y_pred = _float_pair(y_true, y_pred)
    return _reduce_batch(_reduce.reduce_mean(_math.square(_math.subtract(y_pred, y_true)), axis=-1), reduction)


def mean_absolute_error(y_true: Any, y_pred: Any, reduction: str = "mean") -> Any:
    """Keras's mean absolute error: ``mean(|y_true - y_pred|, axis=-1)``, then ``reduction``."""
    y_true, y_pred = _float_pair(y_true, y_pred)
    return _reduce_batch(_reduce.reduce_mean(_math.abs(_math.subtract(y_pred, y_true)), axis=-1), reduction)


mae = mean_absolute_error


def categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Any:
    """Keras's categorical cross-entropy of one-hot ``y_true`` and ``y_pred`` over the last axis.

    ``y_pred`` holds probabilities (normalised to sum 1, then clipped to ``[1e-7, 1 - 1e-7]``)
    or, with ``from_logits=True``, logits (computed stably through log-softmax).
    Integer class labels (shape ``[batch]`` or ``[batch, 1]``) raise a
    :class:`~opcore.errors.ShapeError` that points to ``sparse_categorical_crossentropy``.
    """
    _check_one_hot_labels(y_true, y_pred, "categorical_crossentropy")
    y_true, y_pred = _float_pair(y_true, y_pred)
    if label_smoothing:
        n = _num_classes(y_pred, "categorical_crossentropy")
        y_true = _math.add(_math.multiply(y_true, 1.0 - label_smoothing), label_smoothing / n)
    if from_logits:
        per_example = _nn.softmax_cross_entropy_with_logits(labels=y_true, logits=y_pred)
    else:
        p = _clip(_math.divide(y_pred, _reduce.reduce_sum(y_pred, axis=-1, keepdims=True)))
        per_example = _math.negative(_reduce.reduce_sum(_math.multiply(y_true, _math.log(p)), axis=-1))
    return _reduce_batch(per_example, reduction)


def sparse_categorical_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, reduction: str = "mean"
) -> Any:
    """Keras's sparse categorical cross-entropy of class indices ``y_true`` and ``y_pred`` (last axis).

    ``y_true`` has the shape of ``y_pred`` without its last axis, or with a last axis of 1
    (``[batch, 1]``, as Keras allows); it may be float (it is cast to int64). One-hot labels
    (the predictions' shape) raise a :class:`~opcore.errors.ShapeError` that points to
    ``categorical_crossentropy``.
    """
    _check_index_labels(y_true, y_pred, "sparse_categorical_crossentropy")
    pred_dtype = _dtype_of(y_pred)
    if pred_dtype is None or not pred_dtype.is_floating:
        y_pred = _math.cast(y_pred, _dt.float32)
    pred_rank, true_rank = _static_shape(y_pred).rank, _static_shape(y_true).rank
    if pred_rank is not None and true_rank is not None and true_rank == pred_rank:
        y_true = _array.squeeze(y_true, axis=-1)
    labels = _int_labels(y_true)
    # softmax(log p) renormalises p, so clipped probabilities go through the same stable kernel as logits.
    logits = y_pred if from_logits else _math.log(_clip(y_pred))
    per_example = _nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return _reduce_batch(per_example, reduction)


def binary_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Any:
    """Keras's binary cross-entropy, averaged over the last axis, then ``reduction`` over the batch.

    ``y_pred`` holds probabilities (clipped to ``[1e-7, 1 - 1e-7]``) or, with ``from_logits=True``, logits.
    """
    y_true, y_pred = _float_pair(y_true, y_pred)
    if label_smoothing:
        y_true = _math.add(_math.multiply(y_true, 1.0 - label_smoothing), 0.5 * label_smoothing)
    if from_logits:
        elementwise = _nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=y_pred)
    else:
        p = _clip(y_pred)
        pos = _math.multiply(y_true, _math.log(p))
        neg = _math.multiply(_math.subtract(1.0, y_true), _math.log(_math.subtract(1.0, p)))
        elementwise = _math.negative(_math.add(pos, neg))
    return _reduce_batch(_reduce.reduce_mean(elementwise, axis=-1), reduction)


# --------------------------------------------------------------------------- Keras: loss objects


class Loss:
    """A configured loss: ``loss(y_true, y_pred)`` gives a scalar (``reduction="mean"``).

    Subclasses set ``fn``; constructor keywords (``from_logits`` ...) are passed on to it.
    """

    fn: Callable[..., Any]

    def __init__(self, reduction: str = "mean", name: str | None = None, **kwargs: Any) -> None:
        if reduction not in _REDUCTIONS:
            raise OpDefinitionError(f"reduction must be one of {list(_REDUCTIONS)}, got {reduction!r}")
        self.reduction = reduction
        self.name = name or type(self).__name__
        self._kwargs = kwargs

    def __call__(self, y_true: Any, y_pred: Any) -> Any:
        """The loss of a batch."""
        return type(self).fn(y_true, y_pred, reduction=self.reduction, **self._kwargs)

    def get_config(self) -> dict[str, Any]:
        """JSON-serialisable constructor arguments."""
        return {"reduction": self.reduction, "name": self.name, **self._kwargs}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        return cls(**config)


class MeanSquaredError(Loss):
    """Mean squared error (Keras's ``MeanSquaredError``)."""

    fn = staticmethod(mse)


class MeanAbsoluteError(Loss):
    """Mean absolute error."""

    fn = staticmethod(mean_absolute_error)


class CategoricalCrossentropy(Loss):
    """Categorical cross-entropy of one-hot labels; ``from_logits`` and ``label_smoothing`` as keywords."""

    fn = staticmethod(categorical_crossentropy)

    def __init__(
        self, from_logits: bool = False, label_smoothing: float = 0.0, reduction: str = "mean", name: str | None = None
    ) -> None:
        super().__init__(reduction, name, from_logits=from_logits, label_smoothing=label_smoothing)


class SparseCategoricalCrossentropy(Loss):
    """Sparse categorical cross-entropy of class indices; ``from_logits`` as a keyword."""

    fn = staticmethod(sparse_categorical_crossentropy)

    def __init__(self, from_logits: bool = False, reduction: str = "mean", name: str | None = None) -> None:
        super().__init__(reduction, name, from_logits=from_logits)


class BinaryCrossentropy(Loss):
    """Binary cross-entropy; ``from_logits`` and ``label_smoothing`` as keywords."""

    fn = staticmethod(binary_crossentropy)

    def __init__(
        self, from_logits: bool = False, label_smoothing: float = 0.0, reduction: str = "mean", name: str | None = None
    ) -> None:
        super().__init__(reduction, name, from_logits=from_logits, label_smoothing=label_smoothing)


_BY_NAME: dict[str, Callable[..., Any]] = {
    "mse": mse,
    "mean_squared_error": mse,
    "mae": mean_absolute_error,
    "mean_absolute_error": mean_absolute_error,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "binary_crossentropy": binary_crossentropy,
}
_CLASSES: dict[str, type[Loss]] = {
    cls.__name__: cls
    for cls in (
        MeanSquaredError,
        MeanAbsoluteError,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
        BinaryCrossentropy,
    )
}


def get(identifier: str | Callable[..., Any] | dict[str, Any]) -> Callable[..., Any]:
    """The Keras-style loss ``fn(y_true, y_pred)`` for a name, a class name, a config dict or a callable.

    Names: ``"mse"``/``"mean_squared_error"``, ``"mae"``/``"mean_absolute_error"``,
    ``"categorical_crossentropy"``, ``"sparse_categorical_crossentropy"``, ``"binary_crossentropy"``;
    class names (``"CategoricalCrossentropy"``) give an instance with default arguments.
    Every one returns the batch mean (a scalar).
    """
    if isinstance(identifier, str):
        fn = _BY_NAME.get(identifier.lower())
        if fn is not None:
            return fn
        cls = _CLASSES.get(identifier)
        if cls is not None:
            return cls()
        raise OpDefinitionError(
            f"unknown loss {identifier!r}; known names: {', '.join(sorted(_BY_NAME))}, "
            f"classes: {', '.join(sorted(_CLASSES))}"
        )
    if isinstance(identifier, dict):
        cls = _CLASSES.get(str(identifier.get("class_name")))
        if cls is None:
            raise OpDefinitionError(f"unknown loss class in {identifier!r}; known: {', '.join(sorted(_CLASSES))}")
        return cls.from_config(dict(identifier.get("config") or {}))
    if callable(identifier):
        return identifier
    raise OpDefinitionError(f"cannot interpret {identifier!r} as a loss: give a name, a config dict or a callable")
