"""Callbacks of ``Model.fit`` (Keras's ``keras.callbacks``), and :class:`History`, what ``fit`` returns.

A callback is told when training, each epoch and each batch begin and end::

    class PrintLoss(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(epoch, logs["loss"])

    model.fit(x, y, callbacks=[PrintLoss()])

``logs`` at the end of an epoch holds the epoch's loss and metrics (and the
``val_`` ones); a callback may change them, and later callbacks and the
:class:`History` (always last) see the change. At the end of a batch it holds
the epoch's running means so far. Setting ``model.stop_training = True`` ends
``fit`` after the current epoch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["Callback", "CallbackList", "History"]


class Callback:
    """Base class of callbacks: override the ``on_*`` methods you need.

    ``self.model`` is the model being trained and ``self.params`` the fit settings
    (``epochs``, ``batch_size``, ``samples``, ``steps``, ``verbose``).
    """

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = dict(params)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Before the first epoch."""

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """After the last epoch; ``logs`` are the last epoch's."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Before epoch ``epoch`` (counted from 0)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """After epoch ``epoch``, with its loss, metrics and validation results in ``logs``."""

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Before training batch ``batch`` of the epoch (counted from 0); calls :meth:`on_batch_begin`."""
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """After training batch ``batch``, with the epoch's running means in ``logs``; calls :meth:`on_batch_end`."""
        self.on_batch_end(batch, logs)

    def on_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """The older name of :meth:`on_train_batch_begin`."""

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """The older name of :meth:`on_train_batch_end`."""


class CallbackList:
    """Several callbacks called in order, as one."""

    def __init__(self, callbacks: Iterable[Callback] = (), model: Any = None, params: dict[str, Any] | None = None):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if model is not None:
                cb.set_model(model)
            if params is not None:
                cb.set_params(params)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        for cb in self.callbacks:
            cb.on_train_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        for cb in self.callbacks:
            cb.on_train_batch_end(batch, logs)


class History(Callback):
    """The per-epoch record of a ``fit`` call (the last callback of every ``fit``).

    ``history.history`` maps each metric name (``"loss"``, ``"accuracy"``,
    ``"val_loss"`` ...) to its list of per-epoch values; ``history.epoch`` lists
    the epoch indices; ``history.params`` holds the fit settings.
    """

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.params = dict(params or {})

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.append(epoch, dict(logs or {}))

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        """Record the logs of one finished epoch."""
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self) -> str:
        return f"<History epochs={len(self.epoch)} keys={list(self.history)}>"
