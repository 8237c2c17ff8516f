"""scikit-learn's bundled diabetes data: a small, offline regression set.

442 patients, ten standardised baseline features (age, sex, BMI, blood
pressure, six blood serum measurements); the target is a measure of disease
progression one year later (25..346).
"""

from __future__ import annotations

import importlib

import numpy as np

from opcore.datasets._errors import DatasetError
from opcore.datasets._split import train_test_split

__all__ = ["load_data"]


def load_data(
    test_split: float = 0.2, seed: int | None = 0
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The diabetes set as float32 ``((x_train, y_train), (x_test, y_test))``.

    ``x`` has shape ``(n, 10)``, ``y`` shape ``(n,)``. The split is a seeded
    shuffle: the same ``seed`` gives the same split.
    """
    try:
        sk_datasets = importlib.import_module("sklearn.datasets")
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise DatasetError(f"opcore.datasets.diabetes needs scikit-learn (pip install scikit-learn): {exc}") from None
    bunch = sk_datasets.load_diabetes()
    x = np.asarray(bunch.data, dtype=np.float32)
    y = np.asarray(bunch.target, dtype=np.float32)
    return train_test_split(x, y, test_split, seed, "diabetes.load_data")
