"""TensorFlow 1's initializers: classes (``tf.zeros_initializer`` is one, so ``get_variable``
takes it called or not), with TensorFlow 1's constructor arguments, on :mod:`opcore.initializers`."""

from __future__ import annotations

from typing import Any

from opcore import initializers as _init
from opcore.compat.v1._graph import tf_dtype

__all__ = [
    "constant_initializer",
    "glorot_normal_initializer",
    "glorot_uniform_initializer",
    "ones_initializer",
    "random_normal_initializer",
    "random_uniform_initializer",
    "truncated_normal_initializer",
    "variance_scaling_initializer",
    "zeros_initializer",
]


def _dtype(dtype: Any) -> Any:
    return None if dtype is None else tf_dtype(dtype)


class zeros_initializer(_init.Zeros):
    """Zeros (of ``dtype``, float32 by default)."""

    def __init__(self, dtype: Any = None) -> None:
        self.dtype = _dtype(dtype)


class ones_initializer(_init.Ones):
    """Ones."""

    def __init__(self, dtype: Any = None) -> None:
        self.dtype = _dtype(dtype)


class constant_initializer(_init.Constant):
    """A scalar fills the variable; a list gives one value per element."""

    def __init__(self, value: Any = 0, dtype: Any = None, verify_shape: bool = False) -> None:
        super().__init__(value)
        self.dtype = _dtype(dtype)


class random_normal_initializer(_init.RandomNormal):
    """Normal values (``stddev`` 1 by default)."""

    def __init__(self, mean: float = 0.0, stddev: float = 1.0, seed: int | None = None, dtype: Any = None) -> None:
        super().__init__(mean, stddev, seed)
        self.dtype = _dtype(dtype)


class truncated_normal_initializer(_init.TruncatedNormal):
    """Normal values re-drawn beyond 2 ``stddev`` (``stddev`` 1 by default)."""

    def __init__(self, mean: float = 0.0, stddev: float = 1.0, seed: int | None = None, dtype: Any = None) -> None:
        super().__init__(mean, stddev, seed)
        self.dtype = _dtype(dtype)


class random_uniform_initializer(_init.RandomUniform):
    """Uniform values in ``[minval, maxval)`` (``[0, 1)`` by default)."""

    def __init__(
        self, minval: float = 0.0, maxval: float | None = None, seed: int | None = None, dtype: Any = None
    ) -> None:
        super().__init__(minval, 1.0 if maxval is None else maxval, seed)
        self.dtype = _dtype(dtype)


class glorot_uniform_initializer(_init.GlorotUniform):
    """Glorot (Xavier) uniform: the default of ``tf.get_variable`` and ``tf.layers``."""

    def __init__(self, seed: int | None = None, dtype: Any = None) -> None:
        super().__init__(seed)
        self.dtype = _dtype(dtype)


class glorot_normal_initializer(_init.GlorotNormal):
    """Glorot (Xavier) truncated normal."""

    def __init__(self, seed: int | None = None, dtype: Any = None) -> None:
        super().__init__(seed)
        self.dtype = _dtype(dtype)


class variance_scaling_initializer(_init.VarianceScaling):
    """``scale / fan`` variance, from a truncated normal, normal or uniform distribution."""

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(scale, mode, distribution, seed)
        self.dtype = _dtype(dtype)
