"""``tf.random`` (TensorFlow 1.13+ names): ``normal``, ``uniform``, ``truncated_normal``, ``set_random_seed``."""

from __future__ import annotations

from opcore.compat.v1._ops import random_normal as normal
from opcore.compat.v1._ops import random_uniform as uniform
from opcore.compat.v1._ops import set_random_seed, truncated_normal
from opcore.compat.v1._ops import set_random_seed as set_seed

__all__ = ["normal", "set_random_seed", "set_seed", "truncated_normal", "uniform"]
