"""scikit-learn's bundled 8x8 handwritten digits: a small, offline classification set.

1,797 grey 8x8 images of the digits 0-9 (ten classes), shipped with
scikit-learn, so it needs no download.

>>> from opcore.datasets import digits
>>> (x_train, y_train), (x_test, y_test) = digits.load_data()  # doctest: +SKIP
>>> x_train.shape, y_train.dtype  # doctest: +SKIP
((1437, 64), dtype('int32'))
"""

from __future__ import annotations

import importlib

import numpy as np

from opcore.datasets._errors import DatasetError
from opcore.datasets._split import train_test_split

__all__ = ["load_data"]


def load_data(
    test_split: float = 0.2, seed: int | None = 0, normalize: bool = True, flatten: bool = True
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The digits as ``((x_train, y_train), (x_test, y_test))``.

    ``x`` is float32, shape ``(n, 64)`` (``(n, 8, 8)`` with ``flatten=False``),
    scaled to [0, 1] unless ``normalize=False`` (raw values are 0..16).
    ``y`` holds the class indices 0..9 as int32 (what
    ``sparse_categorical_crossentropy`` expects). The split is a seeded
    shuffle: the same ``seed`` gives the same split.
    """
    try:
        sk_datasets = importlib.import_module("sklearn.datasets")
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise DatasetError(f"opcore.datasets.digits needs scikit-learn (pip install scikit-learn): {exc}") from None
    bunch = sk_datasets.load_digits()
    x = np.asarray(bunch.data, dtype=np.float32)
    if normalize:
        x /= np.float32(16.0)
    if not flatten:
        x = x.reshape(-1, 8, 8)
    y = np.asarray(bunch.target, dtype=np.int32)
    return train_test_split(x, y, test_split, seed, "digits.load_data")
