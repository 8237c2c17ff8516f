"""``tf.losses``: TensorFlow 1's losses (mean over nonzero weights), on :mod:`opcore.losses`.

Each loss is added to the ``tf.GraphKeys.LOSSES`` collection (``loss_collection``), so
``tf.losses.get_total_loss()`` sums them with the regularization losses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opcore import losses as _losses
from opcore.compat.v1._graph import building
from opcore.compat.v1._variables import GraphKeys, add_to_collection, get_collection
from opcore.errors import OpDefinitionError

__all__ = [
    "Reduction",
    "absolute_difference",
    "add_loss",
    "get_losses",
    "get_regularization_loss",
    "get_regularization_losses",
    "get_total_loss",
    "hinge_loss",
    "huber_loss",
    "log_loss",
    "mean_squared_error",
    "sigmoid_cross_entropy",
    "softmax_cross_entropy",
    "sparse_softmax_cross_entropy",
]


class Reduction:
    """How a loss reduces its per-element values; opcore's losses use ``SUM_BY_NONZERO_WEIGHTS``."""

    NONE = "none"
    SUM = "weighted_sum"
    MEAN = "weighted_mean"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"


def _finish(
    compute: Callable[[], Any], scope: str | None, loss_collection: str | None, reduction: str, who: str
) -> Any:
    if reduction not in (Reduction.SUM_BY_NONZERO_WEIGHTS, Reduction.SUM_OVER_BATCH_SIZE, Reduction.MEAN):
        raise OpDefinitionError(f"tf.losses.{who}: reduction {reduction!r} is not provided; opcore's losses are means")
    with building() as g, g.name_scope(scope or who):
        loss = compute()
    if loss_collection:
        add_to_collection(loss_collection, loss)
    return loss


_R = Reduction.SUM_BY_NONZERO_WEIGHTS


def mean_squared_error(
    labels: Any, predictions: Any, weights: Any = 1.0, scope: str | None = None,
    loss_collection: str | None = GraphKeys.LOSSES, reduction: str = _R,
) -> Any:  # fmt: skip
    """Mean of ``(labels - predictions) ** 2``."""
    return _finish(lambda: _losses.mean_squared_error(labels, predictions, weights), scope, loss_collection,
                   reduction, "mean_squared_error")  # fmt: skip


def absolute_difference(
    labels: Any, predictions: Any, weights: Any = 1.0, scope: str | None = None,
    loss_collection: str | None = GraphKeys.LOSSES, reduction: str = _R,
) -> Any:  # fmt: skip
    """Mean of ``|labels - predictions|``."""
    return _finish(lambda: _losses.absolute_difference(labels, predictions, weights), scope, loss_collection,
                   reduction, "absolute_difference")  # fmt: skip


def huber_loss(
    labels: Any, predictions: Any, weights: Any = 1.0, delta: float = 1.0, scope: str | None = None,
    loss_collection: str | None = GraphKeys.LOSSES, reduction: str = _R,
) -> Any:  # fmt: skip
    """Mean Huber loss."""
    return _finish(lambda: _losses.huber_loss(labels, predictions, weights, delta), scope, loss_collection,
                   reduction, "huber_loss")  # fmt: skip


def hinge_loss(
    labels: Any, logits: Any, weights: Any = 1.0, scope: str | None = None,
    loss_collection: str | None = GraphKeys.LOSSES, reduction: str = _R,
) -> Any:  # fmt: skip
    """Mean hinge loss for labels in {0, 1}."""
    return _finish(lambda: _losses.hinge_loss(labels, logits, weights), scope, loss_collection, reduction,
                   "hinge_loss")  # fmt: skip


def log_loss(
    labels: Any, predictions: Any, weights: Any = 1.0, epsilon: float = 1e-7, scope: str | None = None,
    loss_collection: str | None = GraphKeys.LOSSES, reduction: str = _R,
) -> Any:  # fmt: skip
    """Mean logistic loss of probabilities ``predictions``."""
    return _finish(lambda: _losses.log_loss(labels, predictions, weights, epsilon), scope, loss_collection,
                   reduction, "log_loss")  # fmt: skip


def softmax_cross_entropy(
    onehot_labels: Any, logits: Any, weights: Any = 1.0, label_smoothing: float = 0, scope: str | None = None,
    loss_collection: str | None = GraphKeys.LOSSES, reduction: str = _R,
) -> Any:  # fmt: skip
    """Mean cross-entropy of one-hot labels and ``softmax(logits)``."""
    return _finish(lambda: _losses.softmax_cross_entropy(onehot_labels, logits, weights, label_smoothing), scope,
                   loss_collection, reduction, "softmax_cross_entropy_loss")  # fmt: skip


def sparse_softmax_cross_entropy(
    labels: Any, logits: Any, weights: Any = 1.0, scope: str | None = None,
    loss_collection: str | None = GraphKeys.LOSSES, reduction: str = _R,
) -> Any:  # fmt: skip
    """Mean cross-entropy of class indices and ``softmax(logits)``."""
    return _finish(lambda: _losses.sparse_softmax_cross_entropy(labels, logits, weights), scope, loss_collection,
                   reduction, "sparse_softmax_cross_entropy_loss")  # fmt: skip


def sigmoid_cross_entropy(
    multi_class_labels: Any, logits: Any, weights: Any = 1.0, label_smoothing: float = 0,
    scope: str | None = None, loss_collection: str | None = GraphKeys.LOSSES, reduction: str = _R,
) -> Any:  # fmt: skip
    """Mean logistic loss of labels in [0, 1] and ``sigmoid(logits)``."""
    return _finish(lambda: _losses.sigmoid_cross_entropy(multi_class_labels, logits, weights, label_smoothing),
                   scope, loss_collection, reduction, "sigmoid_cross_entropy_loss")  # fmt: skip


def add_loss(loss: Any, loss_collection: str = GraphKeys.LOSSES) -> None:
    """Add ``loss`` to ``loss_collection`` (counted by :func:`get_total_loss`)."""
    if loss_collection:
        add_to_collection(loss_collection, loss)


def get_losses(scope: str | None = None, loss_collection: str = GraphKeys.LOSSES) -> list[Any]:
    return get_collection(loss_collection, scope)


def get_regularization_losses(scope: str | None = None) -> list[Any]:
    return get_collection(GraphKeys.REGULARIZATION_LOSSES, scope)


def get_regularization_loss(scope: str | None = None, name: str = "total_regularization_loss") -> Any:
    """The sum of the regularization losses (0.0 when there are none)."""
    from opcore.compat.v1._ops import add_n, constant

    losses = get_regularization_losses(scope)
    with building():
        return add_n(losses, name=name) if losses else constant(0.0, name=name)


def get_total_loss(add_regularization_losses: bool = True, name: str = "total_loss", scope: str | None = None) -> Any:
    """The sum of the losses in ``tf.GraphKeys.LOSSES`` (and the regularization losses)."""
    from opcore.compat.v1._ops import add_n

    losses = get_losses(scope)
    if add_regularization_losses:
        losses += get_regularization_losses(scope)
    if not losses:
        raise ValueError("tf.losses.get_total_loss: no losses have been added")
    with building():
        return add_n(losses, name=name)
