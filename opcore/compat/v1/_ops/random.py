"""TensorFlow 1's random functions and its graph-level seed."""

from __future__ import annotations

from typing import Any

import opcore
from opcore import dtypes as _dt
from opcore.compat.v1._graph import builds, tf_dtype
from opcore.compat.v1._ops._helpers import _static_dims


def set_random_seed(seed: int | None) -> None:
    """The graph-level seed (TensorFlow 1's ``tf.set_random_seed``): random ops made after it are reproducible."""
    opcore.set_seed(seed)


@builds
def random_normal(
    shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: Any = _dt.float32, seed: int | None = None,
    name: str | None = None,
) -> Any:  # fmt: skip
    return opcore.random_normal(_static_dims(shape, "random_normal"), mean, stddev, tf_dtype(dtype), seed, name=name)


@builds
def truncated_normal(
    shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: Any = _dt.float32, seed: int | None = None,
    name: str | None = None,
) -> Any:  # fmt: skip
    return opcore.truncated_normal(
        _static_dims(shape, "truncated_normal"), mean, stddev, tf_dtype(dtype), seed, name=name
    )


@builds
def random_uniform(
    shape: Any, minval: Any = 0, maxval: Any = None, dtype: Any = _dt.float32, seed: int | None = None,
    name: str | None = None,
) -> Any:  # fmt: skip
    return opcore.random_uniform(
        _static_dims(shape, "random_uniform"), minval, maxval, tf_dtype(dtype), seed, name=name
    )
