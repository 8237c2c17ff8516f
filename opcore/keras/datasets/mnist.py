"""MNIST as Keras gives it: ``(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()``.

The arrays are Keras's: ``x`` uint8 of shape ``(n, 28, 28)`` with pixels 0-255,
``y`` uint8 class indices 0-9; 60,000 training and 10,000 test examples. They
come from opcore's MNIST loader (:mod:`opcore.datasets.mnist`), which looks for
the four IDX files in ``$OPCORE_DATA_DIR/mnist/``, then in the user cache
(``~/.cache/opcore/mnist/``), and downloads them there when missing.

>>> from opcore import keras
>>> (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()  # doctest: +SKIP
>>> x_train.shape, x_train.dtype, y_train[:5]  # doctest: +SKIP
((60000, 28, 28), dtype('uint8'), array([5, 0, 4, 1, 9], dtype=uint8))
"""

from __future__ import annotations

import os
import zipfile
from typing import Any

import numpy as np

from opcore.datasets import mnist as _mnist
from opcore.datasets._errors import DatasetError

__all__ = ["load_data"]

_SPLITS = {"x_train": (60000, 28, 28), "y_train": (60000,), "x_test": (10000, 28, 28), "y_test": (10000,)}

Split = tuple[np.ndarray, np.ndarray]


def load_data(path: str | os.PathLike[str] | None = None) -> tuple[Split, Split]:
    """``((x_train, y_train), (x_test, y_test))`` as uint8 arrays, as Keras's ``mnist.load_data``.

    ``path``: a folder holding the four gzipped IDX files (searched before
    ``$OPCORE_DATA_DIR`` and the cache), or a Keras ``mnist.npz`` file (read
    without pickle, its arrays checked). Missing files raise
    :class:`~opcore.datasets.DatasetError` listing every place searched.
    """
    if path is not None and os.path.isfile(path):
        return _load_npz(os.fspath(path))
    if path is not None and not os.path.isdir(path):
        raise DatasetError(
            f"mnist.load_data: {os.fspath(path)!r} is neither a folder of MNIST IDX files nor a Keras mnist.npz file"
        )
    (x_train, y_train), (x_test, y_test) = _mnist.load_data(path, normalize=False, flatten=False)
    return (x_train, y_train.astype(np.uint8)), (x_test, y_test.astype(np.uint8))


def _load_npz(path: str) -> tuple[Split, Split]:
    arrays: dict[str, Any] = {}
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = sorted(set(_SPLITS) - set(f.files))
            if missing:
                raise DatasetError(f"{path!r} is not a Keras mnist.npz file: it lacks {missing}")
            for key, shape in _SPLITS.items():
                arr = f[key]
                if arr.dtype != np.uint8 or arr.shape != shape:
                    raise DatasetError(
                        f"{path!r}: array {key!r} is {arr.dtype} of shape {arr.shape}, expected uint8 of shape {shape}"
                    )
                arrays[key] = arr
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DatasetError(f"{path!r} is not a readable .npz file: {exc}") from None
    if arrays["y_train"].max() > 9 or arrays["y_test"].max() > 9:
        raise DatasetError(f"{path!r}: labels must be the digits 0-9")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
