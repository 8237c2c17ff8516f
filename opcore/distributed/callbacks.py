"""Keras callbacks for data-parallel ``fit`` (Horovod's ``hvd.callbacks``).

Use them with :class:`~opcore.distributed.DistributedOptimizer`::

    model.compile(optimizer=hvd.DistributedOptimizer(opcore.train.Adam(0.001)), loss="mse")
    callbacks = [hvd.callbacks.BroadcastGlobalVariablesCallback(0), hvd.callbacks.MetricAverageCallback()]
    model.fit(*hvd.shard((x, y)), callbacks=callbacks, verbose=int(hvd.rank() == 0))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from opcore.distributed import _world
from opcore.distributed._collectives import broadcast_variables
from opcore.keras.callbacks import Callback

__all__ = ["BroadcastGlobalVariablesCallback", "MetricAverageCallback"]


class BroadcastGlobalVariablesCallback(Callback):
    """Start every rank from rank ``root_rank``'s model (and optimizer state).

    At the start of ``fit`` the model's variables and the optimizer's existing
    variables are set to the root's values; variables first made during the
    first batch (a model built by its first call, the optimizer's slots) are
    broadcast after that batch.
    """

    def __init__(self, root_rank: int = 0) -> None:
        super().__init__()
        self.root_rank = root_rank
        self._done: list[Any] = []
        self._pending = True

    def _variables(self) -> list[Any]:
        found = list(self.model.variables)
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "variables"):
            found += list(optimizer.variables())
        return [v for i, v in enumerate(found) if all(v is not w for w in found[:i])]

    def _broadcast_new(self) -> None:
        new = [v for v in self._variables() if all(v is not d for d in self._done)]
        if new:
            broadcast_variables(new, self.root_rank)
            self._done += new

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        _world.initialized_world("BroadcastGlobalVariablesCallback")
        self._pending = True
        self._broadcast_new()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._pending:
            self._pending = False
            self._broadcast_new()


class MetricAverageCallback(Callback):
    """At the end of each epoch, replace the loss and metrics in ``logs`` by their averages over the ranks.

    Put it before callbacks that read the logs (checkpoints, early stopping) so
    that they see the averages; the History (always last) records them.
    """

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        world = _world.initialized_world("MetricAverageCallback")
        if not logs:
            return
        keys = sorted(k for k, v in logs.items() if isinstance(v, (int, float, np.number)) and not isinstance(v, bool))
        values = np.asarray([float(logs[k]) for k in keys], dtype=np.float64)
        averaged = world.allreduce([values], "average", f"MetricAverageCallback (epoch {epoch}: {', '.join(keys)})")[0]
        for k, v in zip(keys, averaged):
            logs[k] = float(v)
