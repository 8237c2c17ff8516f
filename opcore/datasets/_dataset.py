"""``DataSet``: TensorFlow-1-style in-memory examples with ``next_batch``."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from opcore.datasets._errors import DatasetError

__all__ = ["DataSet", "Datasets", "shard_indices"]


def shard_indices(num_examples: int, num_shards: int, index: int, drop_remainder: bool = True) -> np.ndarray:
    """The examples of shard ``index`` of ``num_shards``: ``index, index + num_shards, ...`` (tf.data's ``shard``).

    With ``drop_remainder`` every shard gets ``num_examples // num_shards``
    examples (the last ``num_examples % num_shards`` are left out), so that
    workers that each read one shard run the same number of steps.

    >>> shard_indices(10, 3, 1).tolist(), shard_indices(10, 3, 0, drop_remainder=False).tolist()
    ([1, 4, 7], [0, 3, 6, 9])
    """
    for name, value in (("num_examples", num_examples), ("num_shards", num_shards), ("index", index)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise DatasetError(f"shard: {name} must be an int, got {value!r}")
    if num_shards < 1:
        raise DatasetError(f"shard: num_shards must be >= 1, got {num_shards}")
    if not 0 <= index < num_shards:
        raise DatasetError(f"shard: index must be in [0, {num_shards}), got {index}")
    stop = (num_examples // num_shards) * num_shards if drop_remainder else num_examples
    if stop < num_shards and num_examples > 0 and drop_remainder:
        raise DatasetError(f"shard: {num_examples} examples cannot give each of {num_shards} shards even one example")
    return np.arange(index, stop, num_shards)


class DataSet:
    """Images and labels held in memory, served in (re)shuffled mini-batches.

    Like TensorFlow 1's ``mnist.train``: ``next_batch(n)`` walks through the
    examples in a seeded random order, reshuffling after each epoch; a batch
    that crosses an epoch boundary takes the rest of one epoch and the start
    of the next, so every batch has exactly ``n`` examples.

    >>> import numpy as np
    >>> ds = DataSet(np.arange(10.0).reshape(5, 2), np.arange(5), seed=0)
    >>> xb, yb = ds.next_batch(2)
    >>> xb.shape, yb.shape
    ((2, 2), (2,))
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, seed: int | None = 0) -> None:
        if len(images) != len(labels):
            raise DatasetError(f"DataSet: {len(images)} images but {len(labels)} labels; they must match")
        self._images = images
        self._labels = labels
        self._num_examples = len(images)
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._order: np.ndarray = np.arange(self._num_examples)
        self._index = 0
        self._epochs_completed = 0
        self._started = False

    @property
    def images(self) -> np.ndarray:
        """All images, in their original order."""
        return self._images

    @property
    def labels(self) -> np.ndarray:
        """All labels, in their original order."""
        return self._labels

    @property
    def num_examples(self) -> int:
        return self._num_examples

    @property
    def epochs_completed(self) -> int:
        """How many full passes ``next_batch`` has made."""
        return self._epochs_completed

    def _new_order(self, shuffle: bool) -> None:
        n = self._num_examples
        self._order = self._rng.permutation(n) if shuffle else np.arange(n)

    def next_batch(self, batch_size: int, shuffle: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """The next ``batch_size`` ``(images, labels)``, in a seeded shuffled order when ``shuffle``."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise DatasetError(f"next_batch: batch_size must be a positive int, got {batch_size!r}")
        if batch_size > self._num_examples:
            raise DatasetError(
                f"next_batch: batch_size {batch_size} is larger than the data set ({self._num_examples} examples)"
            )
        if not self._started:
            self._started = True
            self._new_order(shuffle)
        start = self._index
        if start + batch_size <= self._num_examples:
            idx = self._order[start : start + batch_size]
            self._index = start + batch_size
        else:
            rest = self._order[start:]
            self._epochs_completed += 1
            self._new_order(shuffle)
            need = batch_size - len(rest)
            idx = np.concatenate([rest, self._order[:need]])
            self._index = need
        return self._images[idx], self._labels[idx]

    def shard(self, num_shards: int, index: int, drop_remainder: bool = True) -> DataSet:
        """Shard ``index`` of ``num_shards``: the examples ``index, index + num_shards, ...`` as a new DataSet.

        One worker of several reads its own part (``opcore.distributed.shard``
        calls this with the rank and the world's size). With ``drop_remainder``
        every shard has the same number of examples. The shard shuffles with
        the same seed as this data set.

        >>> import numpy as np
        >>> ds = DataSet(np.arange(10.0).reshape(5, 2), np.arange(5))
        >>> ds.shard(2, 1).labels.tolist()
        [1, 3]
        """
        idx = shard_indices(self._num_examples, num_shards, index, drop_remainder)
        return DataSet(self._images[idx], self._labels[idx], seed=self._seed)

    def __repr__(self) -> str:
        return f"<DataSet {self._num_examples} examples, images {self._images.shape}, labels {self._labels.shape}>"


class Datasets(NamedTuple):
    """The three splits returned by :func:`opcore.datasets.mnist.read_data_sets`."""

    train: DataSet
    validation: DataSet
    test: DataSet
