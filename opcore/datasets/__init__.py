"""Data sets: MNIST (from local files or downloaded once into a cache) and small offline sets.

- :mod:`opcore.datasets.mnist`: ``load_data()`` and TensorFlow 1's ``read_data_sets()``.
- :mod:`opcore.datasets.digits`: the 8x8 digits of scikit-learn's ``load_digits`` (classification,
  bundled with opcore: offline, no scikit-learn needed).
- :mod:`opcore.datasets.diabetes`: the diabetes data of scikit-learn's ``load_diabetes`` (regression,
  bundled likewise).
"""

from __future__ import annotations

from opcore.datasets import diabetes, digits, mnist
from opcore.datasets._dataset import DataSet, Datasets, shard_indices
from opcore.datasets._errors import DatasetError

__all__ = ["DataSet", "DatasetError", "Datasets", "diabetes", "digits", "mnist", "shard_indices"]
