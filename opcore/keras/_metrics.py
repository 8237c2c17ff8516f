"""Metrics as ``Model.compile`` sees them: a history name and a per-batch function.

Names resolve through :func:`opcore.metrics.get` (which picks the accuracy
variant that fits the loss, as Keras does), then :func:`opcore.losses.get`, so a
loss such as ``"mse"`` can be tracked as a metric too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opcore import losses, metrics
from opcore.errors import OpcoreError
from opcore.keras._errors import ModelError

__all__ = ["MetricFn", "resolve_metric"]

MetricFn = Callable[[Any, Any], Any]


def _as_function(metric: Any) -> MetricFn:
    """A per-batch function for a plain function or a stateful Keras-style metric object."""
    if hasattr(metric, "update_state") and hasattr(metric, "result") and hasattr(metric, "reset_state"):

        def batch_value(y_true: Any, y_pred: Any) -> Any:
            metric.reset_state()
            metric.update_state(y_true, y_pred)
            return metric.result()

        return batch_value
    if callable(metric):
        return metric  # type: ignore[no-any-return]
    raise ModelError(f"cannot use {metric!r} as a metric: give a name or a callable fn(y_true, y_pred)")


def resolve_metric(identifier: Any, loss: Any) -> tuple[str, MetricFn]:
    """The (history name, per-batch function) for a metric given to ``compile`` alongside ``loss``."""
    if isinstance(identifier, str):
        try:
            return identifier, _as_function(metrics.get(identifier, loss=loss))
        except OpcoreError as metric_error:
            try:
                return identifier, _as_function(losses.get(identifier))
            except OpcoreError:
                raise ModelError(f"unknown metric {identifier!r}: {metric_error}") from None
    name = getattr(identifier, "name", None) or getattr(identifier, "__name__", None) or type(identifier).__name__
    return str(name), _as_function(identifier)
