"""A seeded train/test split shared by the small bundled data sets."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from opcore.datasets._errors import DatasetError

__all__ = ["train_test_split"]


def train_test_split(
    x: np.ndarray, y: np.ndarray, test_split: float, seed: int | None, what: str
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Shuffle ``(x, y)`` with ``seed`` and hold out a ``test_split`` fraction for testing."""
    if not isinstance(test_split, (int, float)) or not 0.0 < float(test_split) < 1.0:
        raise DatasetError(f"{what}: test_split must be a fraction strictly between 0 and 1, got {test_split!r}")
    n = len(x)
    n_test = math.ceil(n * float(test_split))  # as scikit-learn rounds: the test set gets the odd example
    if n_test == 0 or n_test == n:
        raise DatasetError(f"{what}: test_split={test_split} leaves an empty train or test set ({n} examples)")
    order: Any = np.random.default_rng(seed).permutation(n)
    test, train = order[:n_test], order[n_test:]
    return (x[train], y[train]), (x[test], y[test])
