"""TensorFlow 1's ``tensorflow.examples.tutorials.mnist.input_data``, on :mod:`opcore.datasets.mnist`.

``from opcore.compat.v1.examples.tutorials.mnist import input_data`` replaces
``from tensorflow.examples.tutorials.mnist import input_data``;
``input_data.read_data_sets("MNIST_data/", one_hot=True)`` looks for the four files
in that folder, then in ``$OPCORE_DATA_DIR/mnist/`` and the user cache, and only
then downloads them (into that folder) — see :mod:`opcore.datasets.mnist`.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from opcore import dtypes as _dt
from opcore.datasets import mnist as _mnist
from opcore.datasets._dataset import DataSet as _DataSet
from opcore.datasets._dataset import Datasets
from opcore.datasets._errors import DatasetError

__all__ = ["DataSet", "Datasets", "read_data_sets"]

_N_TRAIN = 60000


class DataSet(_DataSet):
    """One split: ``images``, ``labels``, ``num_examples``, ``epochs_completed`` and ``next_batch``."""

    def next_batch(  # type: ignore[override]
        self, batch_size: int, fake_data: bool = False, shuffle: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """The next ``batch_size`` examples, reshuffled after every epoch when ``shuffle``."""
        if fake_data:
            raise DatasetError("next_batch(fake_data=True) is not provided; the real MNIST files are used")
        return super().next_batch(batch_size, shuffle=shuffle)


def read_data_sets(
    train_dir: str | os.PathLike[str] | None = None,
    fake_data: bool = False,
    one_hot: bool = False,
    dtype: Any = _dt.float32,
    reshape: bool = True,
    validation_size: int = 5000,
    seed: int | None = None,
    source_url: str | None = None,
) -> Datasets:
    """MNIST as ``.train`` (55,000), ``.validation`` (5,000) and ``.test`` (10,000) data sets.

    TensorFlow 1's defaults: labels are class indices unless ``one_hot=True``; images are
    float32 in [0, 1] (``dtype=tf.uint8``: the raw 0-255 pixels), flattened to 784 values
    (``reshape=False``: ``[28, 28, 1]``); ``seed=None`` shuffles differently on every run.
    ``source_url`` replaces the download mirrors.
    """
    if fake_data:
        raise DatasetError("read_data_sets(fake_data=True) is not provided; the real MNIST files are used")
    d = _dt.as_dtype(dtype)
    if d not in (_dt.float32, _dt.uint8):
        raise DatasetError(f"read_data_sets: dtype must be float32 or uint8, got {d}")
    if isinstance(validation_size, bool) or not isinstance(validation_size, int) or not 0 <= validation_size < _N_TRAIN:
        raise DatasetError(
            f"read_data_sets: validation_size must be an int in [0, {_N_TRAIN}), got {validation_size!r}"
        )
    mirrors = None if source_url is None else [source_url]
    (x_train, y_train), (x_test, y_test) = _mnist.load_data(
        train_dir, one_hot=one_hot, normalize=d is _dt.float32, flatten=reshape, mirrors=mirrors
    )
    if not reshape:
        x_train, x_test = x_train[..., None], x_test[..., None]
    seeds: list[int | None] = [None, None, None]
    if seed is not None:
        seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(3)]
    v = validation_size
    return Datasets(
        train=DataSet(x_train[v:], y_train[v:], seed=seeds[0]),
        validation=DataSet(x_train[:v], y_train[:v], seed=seeds[1]),
        test=DataSet(x_test, y_test, seed=seeds[2]),
    )
