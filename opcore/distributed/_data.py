"""The sharded data pipeline: each rank reads its own part of the data set."""

from __future__ import annotations

from typing import Any

import numpy as np

from opcore.datasets import DataSet, Datasets, shard_indices
from opcore.distributed import _world
from opcore.distributed._errors import DistributedError

__all__ = ["shard"]


def shard(data: Any, drop_remainder: bool = True) -> Any:
    """This rank's part of ``data``: the examples ``rank, rank + size, ...``.

    ``data`` is a :class:`~opcore.datasets.DataSet` (``mnist.train``), an array,
    or a tuple/list of arrays with one example per row (``(x_train, y_train)``,
    sharded alike). With ``drop_remainder`` (the default) every rank gets the
    same number of examples, so that every rank runs the same number of steps
    (a rank with one batch more would wait for the others' allreduce until the
    timeout).

    For example::

        x_part, y_part = hvd.shard((x_train, y_train))
        train_set = hvd.shard(mnist.train)
    """
    world = _world.initialized_world("opcore.distributed.shard()")
    if isinstance(data, Datasets):
        raise DistributedError(
            "shard() takes one data set: shard the training split (hvd.shard(mnist.train)); every rank usually "
            "evaluates the whole validation and test splits"
        )
    if isinstance(data, DataSet):
        return data.shard(world.size, world.rank, drop_remainder)
    if isinstance(data, (tuple, list)):
        arrays = [np.asarray(a) for a in data]
        lengths = {len(a) for a in arrays if a.ndim}
        if len(lengths) != 1 or any(a.ndim == 0 for a in arrays):
            raise DistributedError(
                f"shard(): the arrays must have the same number of examples (first dimension), got shapes "
                f"{[a.shape for a in arrays]}"
            )
        idx = shard_indices(lengths.pop(), world.size, world.rank, drop_remainder)
        return type(data)(a[idx] for a in arrays)
    array = np.asarray(data)
    if array.ndim == 0:
        raise DistributedError("shard() needs data with one example per row, not a scalar")
    return array[shard_indices(len(array), world.size, world.rank, drop_remainder)]
