"""Data sets: MNIST (from local files or downloaded once into a cache) and small offline sets.

- :mod:`opcore.datasets.mnist`: ``load_data()`` and TensorFlow 1's ``read_data_sets()``.
- :mod:`opcore.datasets.digits`: scikit-learn's 8x8 digits (classification, offline).
- :mod:`opcore.datasets.diabetes`: scikit-learn's diabetes data (regression, offline).
"""

from __future__ import annotations

from opcore.datasets import diabetes, digits, mnist
from opcore.datasets._dataset import DataSet, Datasets, shard_indices
from opcore.datasets._errors import DatasetError

__all__ = ["DataSet", "DatasetError", "Datasets", "diabetes", "digits", "mnist", "shard_indices"]
