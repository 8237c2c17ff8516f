"""Initializers: callables ``init(shape, dtype) -> tensor`` that give variables their first value.

They are built from ops (``fill``, ``random_uniform``, ``truncated_normal`` ...),
so the same initializer gives an eager tensor when executing eagerly and a
graph node while a graph is being built. With a ``seed`` the values are
reproducible: the same seed, shape and dtype always give the same values.

>>> import opcore
>>> from opcore import initializers
>>> init = initializers.get("glorot_uniform")
>>> init((784, 10), "float32").shape
Shape([784, 10])
>>> initializers.GlorotUniform(seed=1)((2, 2), "float32").numpy().tolist() == (
...     initializers.GlorotUniform(seed=1)((2, 2), "float32").numpy().tolist())
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from opcore import dtypes as _dt
from opcore.dtypes import DType
from opcore.errors import DTypeError, OpDefinitionError
from opcore.ops import array as _array
from opcore.ops import random as _random
from opcore.shapes import Shape

__all__ = [
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Initializer",
    "LecunNormal",
    "Ones",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
    "compute_fans",
    "constant_initializer",
    "deserialize",
    "get",
    "glorot_normal_initializer",
    "glorot_uniform_initializer",
    "ones_initializer",
    "random_normal_initializer",
    "random_uniform_initializer",
    "serialize",
    "truncated_normal_initializer",
    "variance_scaling_initializer",
    "zeros_initializer",
]

ShapeArg = Sequence[int] | Shape


def _dims(shape: ShapeArg) -> tuple[int, ...]:
    if isinstance(shape, Shape):
        return shape.as_tuple()
    return tuple(int(d) for d in shape)


class Initializer:
    """Base class: ``init(shape, dtype=None)`` returns a tensor of that shape and dtype.

    ``dtype`` defaults to the initializer's own ``dtype`` (set by the TF1-style
    ``*_initializer`` functions) and then to float32. Subclasses implement
    :meth:`_generate` and :meth:`get_config`.
    """

    #: The dtype used when a call gives none (TF1's ``tf.zeros_initializer(dtype=...)``).
    dtype: DType | None = None

    def __call__(self, shape: ShapeArg, dtype: Any = None, partition_info: Any = None) -> Any:
        """A tensor of ``shape`` and ``dtype``; ``partition_info`` is accepted for TF1 compatibility."""
        d = _dt.as_dtype(dtype) if dtype is not None else (self.dtype or _dt.float32)
        return self._generate(_dims(shape), d)

    def _generate(self, shape: tuple[int, ...], dtype: DType) -> Any:
        raise NotImplementedError(f"{type(self).__name__}._generate")

    def get_config(self) -> dict[str, Any]:
        """JSON-serialisable constructor arguments."""
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        """The initializer that ``get_config`` described."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _floating(dtype: DType, who: str) -> DType:
    if not dtype.is_floating:
        raise DTypeError(f"{who} draws random floats; it cannot initialise a {dtype} variable (use a float dtype)")
    return dtype


class Zeros(Initializer):
    """All zeros (any dtype)."""

    def _generate(self, shape: tuple[int, ...], dtype: DType) -> Any:
        return _array.zeros(shape, dtype)


class Ones(Initializer):
    """All ones (any dtype)."""

    def _generate(self, shape: tuple[int, ...], dtype: DType) -> Any:
        return _array.ones(shape, dtype)


class Constant(Initializer):
    """A constant: a scalar ``value`` fills the shape; a list or array must have as many elements.

    >>> Constant(0.1)((2,), "float32").numpy().tolist()  # doctest: +SKIP
    [0.1, 0.1]
    """

    def __init__(self, value: Any = 0.0) -> None:
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise OpDefinitionError(f"Constant: value must be numeric, got {value!r}")
        self.value: Any = arr.item() if arr.ndim == 0 else arr.tolist()

    def _generate(self, shape: tuple[int, ...], dtype: DType) -> Any:
        arr = np.asarray(self.value, dtype=dtype.np)
        if arr.ndim == 0:
            return _array.fill(shape, arr, dtype)
        if arr.size != math.prod(shape):
            raise OpDefinitionError(
                f"Constant: value has {arr.size} elements (shape {arr.shape}) but the variable has shape "
                f"{shape} ({math.prod(shape)} elements); give a scalar or a value with as many elements"
            )
        # An op on the array (not opcore.constant) so that a graph being built gets a node.
        return _array.reshape(arr, list(shape))

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value}


class RandomUniform(Initializer):
    """Uniform values in ``[minval, maxval)``."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None) -> None:
        if not minval < maxval:
            raise OpDefinitionError(f"RandomUniform: minval must be less than maxval, got {minval} and {maxval}")
        self.minval = float(minval)
        self.maxval = float(maxval)
        self.seed = seed

    def _generate(self, shape: tuple[int, ...], dtype: DType) -> Any:
        d = _floating(dtype, "RandomUniform")
        return _random.random_uniform(shape, self.minval, self.maxval, dtype=d, seed=self.seed)

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(Initializer):
    """Normal values with ``mean`` and ``stddev``."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        if stddev < 0:
            raise OpDefinitionError(f"RandomNormal: stddev must be non-negative, got {stddev}")
        self.mean = float(mean)
        self.stddev = float(stddev)
        self.seed = seed

    def _generate(self, shape: tuple[int, ...], dtype: DType) -> Any:
        d = _floating(dtype, "RandomNormal")
        return _random.random_normal(shape, self.mean, self.stddev, dtype=d, seed=self.seed)

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(Initializer):
    """Normal values with ``mean`` and ``stddev``, re-drawn when farther than 2 ``stddev`` from the mean."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        if stddev < 0:
            raise OpDefinitionError(f"TruncatedNormal: stddev must be non-negative, got {stddev}")
        self.mean = float(mean)
        self.stddev = float(stddev)
        self.seed = seed

    def _generate(self, shape: tuple[int, ...], dtype: DType) -> Any:
        d = _floating(dtype, "TruncatedNormal")
        return _random.truncated_normal(shape, self.mean, self.stddev, dtype=d, seed=self.seed)

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


def compute_fans(shape: Sequence[int]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a kernel, as TensorFlow computes them.

    Dense kernels are ``[in, out]``; convolution kernels ``[k1, ..., kn, in, out]``,
    whose fans are multiplied by the receptive field ``k1 * ... * kn``. A vector
    counts its length as both fans, a scalar 1.
    """
    dims = tuple(int(d) for d in shape)
    if not dims:
        return 1, 1
    if len(dims) == 1:
        return dims[0], dims[0]
    receptive = math.prod(dims[:-2])
    return dims[-2] * receptive, dims[-1] * receptive


# The stddev of a unit normal truncated at +-2 is 0.8796...; dividing by it restores the wanted variance.
_TRUNCATED_STDDEV = 0.87962566103423978

_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


class VarianceScaling(Initializer):
    """Values with variance ``scale / n``, ``n`` the fan-in, fan-out or their average (``mode``).

    ``distribution``: ``"truncated_normal"`` (corrected so the truncated values keep that
    variance), ``"untruncated_normal"`` or ``"uniform"`` (limit ``sqrt(3 * scale / n)``).
    """

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
    ) -> None:
        if scale <= 0:
            raise OpDefinitionError(f"VarianceScaling: scale must be positive, got {scale}")
        if mode not in _MODES:
            raise OpDefinitionError(f"VarianceScaling: mode must be one of {list(_MODES)}, got {mode!r}")
        if distribution == "normal":  # the old name TF1 used for truncated_normal
            distribution = "truncated_normal"
        if distribution not in _DISTRIBUTIONS:
            raise OpDefinitionError(
                f"VarianceScaling: distribution must be one of {list(_DISTRIBUTIONS)}, got {distribution!r}"
            )
        self.scale = float(scale)
        self.mode = mode
        self.distribution = distribution
        self.seed = seed

    def _generate(self, shape: tuple[int, ...], dtype: DType) -> Any:
        d = _floating(dtype, type(self).__name__)
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return _random.random_uniform(shape, -limit, limit, dtype=d, seed=self.seed)
        if self.distribution == "untruncated_normal":
            return _random.random_normal(shape, 0.0, math.sqrt(variance), dtype=d, seed=self.seed)
        stddev = math.sqrt(variance) / _TRUNCATED_STDDEV
        return _random.truncated_normal(shape, 0.0, stddev, dtype=d, seed=self.seed)

    def get_config(self) -> dict[str, Any]:
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


class _FixedVarianceScaling(VarianceScaling):
    """A VarianceScaling whose scale, mode and distribution are fixed by the subclass."""

    _SCALE: ClassVar[float]
    _MODE: ClassVar[str]
    _DISTRIBUTION: ClassVar[str]

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(self._SCALE, self._MODE, self._DISTRIBUTION, seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class GlorotUniform(_FixedVarianceScaling):
    """Xavier uniform: uniform in ``[-limit, limit]`` with ``limit = sqrt(6 / (fan_in + fan_out))``."""

    _SCALE, _MODE, _DISTRIBUTION = 1.0, "fan_avg", "uniform"


class GlorotNormal(_FixedVarianceScaling):
    """Xavier normal: truncated normal with stddev ``sqrt(2 / (fan_in + fan_out))``."""

    _SCALE, _MODE, _DISTRIBUTION = 1.0, "fan_avg", "truncated_normal"


class HeNormal(_FixedVarianceScaling):
    """He normal (for ReLU): truncated normal with stddev ``sqrt(2 / fan_in)``."""

    _SCALE, _MODE, _DISTRIBUTION = 2.0, "fan_in", "truncated_normal"


class HeUniform(_FixedVarianceScaling):
    """He uniform: uniform in ``[-limit, limit]`` with ``limit = sqrt(6 / fan_in)``."""

    _SCALE, _MODE, _DISTRIBUTION = 2.0, "fan_in", "uniform"


class LecunNormal(_FixedVarianceScaling):
    """LeCun normal: truncated normal with stddev ``sqrt(1 / fan_in)``."""

    _SCALE, _MODE, _DISTRIBUTION = 1.0, "fan_in", "truncated_normal"


# --------------------------------------------------------------------------- TF1-style constructors


def _with_dtype(init: Initializer, dtype: Any) -> Initializer:
    if dtype is not None:
        init.dtype = _dt.as_dtype(dtype)
    return init


def zeros_initializer(dtype: Any = None) -> Initializer:
    """TF1's ``tf.zeros_initializer()``."""
    return _with_dtype(Zeros(), dtype)


def ones_initializer(dtype: Any = None) -> Initializer:
    """TF1's ``tf.ones_initializer()``."""
    return _with_dtype(Ones(), dtype)


def constant_initializer(value: Any = 0, dtype: Any = None) -> Initializer:
    """TF1's ``tf.constant_initializer(value)``: a scalar, or a list with one value per element."""
    return _with_dtype(Constant(value), dtype)


def random_uniform_initializer(
    minval: float = 0.0, maxval: float | None = None, seed: int | None = None, dtype: Any = None
) -> Initializer:
    """TF1's ``tf.random_uniform_initializer``: uniform in ``[minval, maxval)``, ``maxval`` 1 by default."""
    return _with_dtype(RandomUniform(minval, 1.0 if maxval is None else maxval, seed), dtype)


def random_normal_initializer(
    mean: float = 0.0, stddev: float = 1.0, seed: int | None = None, dtype: Any = None
) -> Initializer:
    """TF1's ``tf.random_normal_initializer`` (stddev 1 by default, unlike Keras's RandomNormal)."""
    return _with_dtype(RandomNormal(mean, stddev, seed), dtype)


def truncated_normal_initializer(
    mean: float = 0.0, stddev: float = 1.0, seed: int | None = None, dtype: Any = None
) -> Initializer:
    """TF1's ``tf.truncated_normal_initializer`` (stddev 1 by default, unlike Keras's TruncatedNormal).

    The classic courses write ``tf.truncated_normal_initializer(stddev=0.1)``.
    """
    return _with_dtype(TruncatedNormal(mean, stddev, seed), dtype)


def glorot_uniform_initializer(seed: int | None = None, dtype: Any = None) -> Initializer:
    """TF1's ``tf.glorot_uniform_initializer()`` (Xavier uniform)."""
    return _with_dtype(GlorotUniform(seed), dtype)


def glorot_normal_initializer(seed: int | None = None, dtype: Any = None) -> Initializer:
    """TF1's ``tf.glorot_normal_initializer()`` (Xavier truncated normal)."""
    return _with_dtype(GlorotNormal(seed), dtype)


def variance_scaling_initializer(
    scale: float = 1.0,
    mode: str = "fan_in",
    distribution: str = "truncated_normal",
    seed: int | None = None,
    dtype: Any = None,
) -> Initializer:
    """TF1's ``tf.variance_scaling_initializer``."""
    return _with_dtype(VarianceScaling(scale, mode, distribution, seed), dtype)


# --------------------------------------------------------------------------- lookup by name

_BY_NAME: dict[str, type[Initializer]] = {
    "zeros": Zeros,
    "ones": Ones,
    "constant": Constant,
    "random_uniform": RandomUniform,
    "random_normal": RandomNormal,
    "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform,
    "xavier_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "xavier_normal": GlorotNormal,
    "he_normal": HeNormal,
    "he_uniform": HeUniform,
    "lecun_normal": LecunNormal,
}
_CLASSES: dict[str, type[Initializer]] = {cls.__name__: cls for cls in _BY_NAME.values()}


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i > 0 and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def serialize(initializer: Initializer) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}``, JSON-serialisable; :func:`deserialize` inverts it."""
    if type(initializer).__name__ not in _CLASSES:
        raise OpDefinitionError(
            f"cannot serialise initializer {initializer!r}: only the built-in initializers "
            f"({', '.join(sorted(_CLASSES))}) can be saved by name"
        )
    return {"class_name": type(initializer).__name__, "config": initializer.get_config()}


def deserialize(config: dict[str, Any]) -> Initializer:
    """The initializer described by ``serialize``'s ``{"class_name", "config"}``."""
    name = config.get("class_name")
    cls = _CLASSES.get(str(name)) or _BY_NAME.get(_snake(str(name)))
    if cls is None:
        raise OpDefinitionError(f"unknown initializer class {name!r}; known: {', '.join(sorted(_CLASSES))}")
    return cls.from_config(dict(config.get("config") or {}))


InitializerLike = Initializer | Callable[..., Any] | str | dict[str, Any]


def get(identifier: InitializerLike | None) -> Any:
    """The initializer for ``identifier``: a name (``"glorot_uniform"``, ``"GlorotUniform"``,
    ``"zeros"``...), a ``serialize`` dict, an initializer or any callable ``(shape, dtype)``.

    ``None`` gives ``None`` (callers pick their own default).
    """
    if identifier is None or isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        key = identifier if identifier in _BY_NAME else _snake(identifier)
        key = key.removesuffix("_initializer")
        cls = _BY_NAME.get(key)
        if cls is None:
            raise OpDefinitionError(f"unknown initializer {identifier!r}; known names: {', '.join(sorted(_BY_NAME))}")
        return cls()
    if callable(identifier):
        return identifier
    raise OpDefinitionError(
        f"cannot interpret {identifier!r} as an initializer: give a name, a config dict or a callable"
    )
