"""The diabetes data of scikit-learn's ``load_diabetes``: a small, offline regression set.

442 patients, ten standardised baseline features (age, sex, BMI, blood
pressure, six blood serum measurements); the target is a measure of disease
progression one year later (25..346). From B. Efron, T. Hastie, I. Johnstone
and R. Tibshirani, "Least Angle Regression" (2004), as scikit-learn
distributes it. opcore ships a copy inside the package (see
``opcore/datasets/data/README.md`` for the licences), so it needs neither a
download nor scikit-learn.
"""

from __future__ import annotations

import numpy as np

from opcore.datasets._bundled import load_array
from opcore.datasets._split import train_test_split

__all__ = ["load_data"]


def load_data(
    test_split: float = 0.2, seed: int | None = 0
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The diabetes set as float32 ``((x_train, y_train), (x_test, y_test))``.

    ``x`` has shape ``(n, 10)``, ``y`` shape ``(n,)``. The split is a seeded
    shuffle: the same ``seed`` gives the same split.
    """
    x = load_array("diabetes_data.npy.gz").astype(np.float32)
    y = load_array("diabetes_target.npy.gz").astype(np.float32)
    return train_test_split(x, y, test_split, seed, "diabetes.load_data")
