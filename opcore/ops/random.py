"""Built-in ops: random family (uniform, normal, truncated normal) and seeding.

Random ops take no tensor inputs: the output's shape and dtype are attributes,
and so are the two seeds. Kernels are counter-based and deterministic given
``(seed, seed2, shape, dtype)``, so a node always produces the same values for
the same seeds. Reproducibility follows TensorFlow: :func:`set_seed` fixes a
global seed; an op called without its own seed then gets ``seed2`` from a
per-process counter, so repeated calls differ while a rerun of the program
with the same global seed repeats every value.

>>> import opcore
>>> from opcore.ops import random
>>> random.set_seed(1)
>>> a = random.random_uniform([2, 3])
>>> b = random.random_uniform([2, 3])  # a different draw
>>> random.set_seed(1)
>>> bool((random.random_uniform([2, 3]).numpy() == a.numpy()).all())
True
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence
from typing import Any

from opcore import dtypes as dt
from opcore.errors import OpDefinitionError
from opcore.ops import math as _math
from opcore.registry import define_op
from opcore.shapes import Shape, ShapeContext

__all__ = [
    "get_seed",
    "random_normal",
    "random_uniform",
    "random_uniform_like",
    "set_seed",
    "truncated_normal",
]

#: The ``seed`` used when only an op-level seed is given (TensorFlow uses the same constant).
DEFAULT_GLOBAL_SEED = 87654321

_lock = threading.Lock()
_global_seed: int | None = None
_counter = 0


def set_seed(seed: int | None) -> None:
    """Set the global random seed (None: unseeded) and restart the per-process op counter.

    After ``set_seed(s)`` the sequence of random values a program draws is the same on every run.
    """
    global _global_seed, _counter
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise OpDefinitionError(f"set_seed: seed must be an int or None, got {seed!r}")
    with _lock:
        _global_seed = seed
        _counter = 0


def get_seed(op_seed: int | None = None) -> tuple[int, int]:
    """The ``(seed, seed2)`` attributes for a random op called with ``op_seed``.

    - global seed and op seed: ``(global, op_seed)``;
    - global seed only: ``(global, counter)``, the counter advancing on every call;
    - op seed only: ``(DEFAULT_GLOBAL_SEED, op_seed)``;
    - neither: a fresh nondeterministic pair.
    """
    global _counter
    if op_seed is not None and (isinstance(op_seed, bool) or not isinstance(op_seed, int)):
        raise OpDefinitionError(f"random op: seed must be an int or None, got {op_seed!r}")
    with _lock:
        if _global_seed is not None:
            if op_seed is None:
                op_seed = _counter
                _counter += 1
            return _global_seed, op_seed
    if op_seed is not None:
        return DEFAULT_GLOBAL_SEED, op_seed
    return secrets.randbits(63), secrets.randbits(63)


# --------------------------------------------------------------------------- shape functions


def _shape_attr(ctx: ShapeContext) -> Shape:
    dims = ctx.attr("shape")
    if any(d is None or d < 0 for d in dims):
        raise ctx.error(
            f"attribute 'shape' must be fully known with non-negative dims, got {list(dims)}; "
            "for a runtime shape use random_uniform_like"
        )
    return Shape(dims)


def _uniform_shape(ctx: ShapeContext) -> Shape:
    lo, hi = ctx.attr("minval"), ctx.attr("maxval")
    if not lo < hi:
        raise OpDefinitionError(f"{ctx.op}: minval must be less than maxval, got minval={lo}, maxval={hi}")
    return _shape_attr(ctx)


def _like_shape(ctx: ShapeContext) -> Shape:
    return ctx.input("like")


_SEED_ATTRS = ["seed: int", "seed2: int"]
_INTS = (dt.int32, dt.int64)

_RANDOM_UNIFORM = define_op(
    "RandomUniform",
    inputs=[],
    outputs=["output: dtype"],
    type_vars={"dtype": dt.FLOATING},
    attrs=["shape: shape", "dtype: type = float32", *_SEED_ATTRS, "minval: float = 0.0", "maxval: float = 1.0"],
    shape_fn=_uniform_shape,
    differentiable=False,
    stateful=True,
    doc="Uniform floats in [minval, maxval) of the given shape, from the seeds (seed, seed2).",
)

_RANDOM_UNIFORM_INT = define_op(
    "RandomUniformInt",
    inputs=[],
    outputs=["output: dtype"],
    type_vars={"dtype": _INTS},
    attrs=["shape: shape", "dtype: type = int32", *_SEED_ATTRS, "minval: int", "maxval: int"],
    shape_fn=_uniform_shape,
    differentiable=False,
    stateful=True,
    doc="Uniform integers in [minval, maxval) of the given shape, from the seeds (seed, seed2).",
)

_RANDOM_STANDARD_NORMAL = define_op(
    "RandomStandardNormal",
    inputs=[],
    outputs=["output: dtype"],
    type_vars={"dtype": dt.FLOATING},
    attrs=["shape: shape", "dtype: type = float32", *_SEED_ATTRS],
    shape_fn=_shape_attr,
    differentiable=False,
    stateful=True,
    doc="Standard normal values (mean 0, stddev 1) of the given shape, from the seeds (seed, seed2).",
)

_TRUNCATED_NORMAL = define_op(
    "TruncatedNormal",
    inputs=[],
    outputs=["output: dtype"],
    type_vars={"dtype": dt.FLOATING},
    attrs=["shape: shape", "dtype: type = float32", *_SEED_ATTRS],
    shape_fn=_shape_attr,
    differentiable=False,
    stateful=True,
    doc="Standard normal values with every value beyond 2 stddevs re-drawn, like TensorFlow's TruncatedNormal.",
)

random_uniform_like = define_op(
    "RandomUniformLike",
    inputs=["like: T"],
    outputs=["output: T"],
    type_vars={"T": dt.FLOATING},
    attrs=_SEED_ATTRS,
    shape_fn=_like_shape,
    differentiable=False,
    stateful=True,
    doc=(
        "Uniform floats in [0, 1) with the (runtime) shape and dtype of ``like``; the same values as "
        "RandomUniform for that shape, dtype and seeds. Dropout uses it when the batch size is unknown "
        "until run time."
    ),
)


def _scale_shift(x: Any, mean: float, stddev: float, name: str | None) -> Any:
    # Composed from math ops so the standard ops stay TensorFlow's primitives; the last
    # op takes the caller's name (TensorFlow's ``random_normal(..., name="w")`` is ``w:0``).
    if stddev != 1.0:
        x = _math.multiply(x, stddev, name=name if mean == 0.0 else None)
    if mean != 0.0:
        x = _math.add(x, mean, name=name)
    return x


def random_uniform(
    shape: Sequence[int] | Shape,
    minval: float = 0.0,
    maxval: float | None = None,
    dtype: Any = dt.float32,
    seed: int | None = None,
    name: str | None = None,
) -> Any:
    """Uniform values in ``[minval, maxval)``.

    For float dtypes (float16, float32, float64) ``maxval`` defaults to 1. For int32 and
    int64 ``minval`` and ``maxval`` must be whole numbers and ``maxval`` is required
    (op ``RandomUniformInt``, like TensorFlow). ``seed`` is the op-level seed (see :func:`get_seed`).

    >>> random_uniform([2], 0, 10, dtype="int32", seed=3).dtype
    opcore.int32
    """
    d = dt.as_dtype(dtype)
    s1, s2 = get_seed(seed)
    if d.is_integer:
        if maxval is None:
            raise OpDefinitionError(f"random_uniform: maxval is required for dtype {d}")
        lo, hi = _whole(minval, "minval"), _whole(maxval, "maxval")
        return _RANDOM_UNIFORM_INT(shape=shape, dtype=d, seed=s1, seed2=s2, minval=lo, maxval=hi, name=name)
    hi_f = 1.0 if maxval is None else maxval
    return _RANDOM_UNIFORM(shape=shape, dtype=d, seed=s1, seed2=s2, minval=minval, maxval=hi_f, name=name)


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise OpDefinitionError(f"random_uniform: {name} must be a whole number for an integer dtype, got {value!r}")
    return int(value)


def random_normal(
    shape: Sequence[int] | Shape,
    mean: float = 0.0,
    stddev: float = 1.0,
    dtype: Any = dt.float32,
    seed: int | None = None,
    name: str | None = None,
) -> Any:
    """Normal values with the given ``mean`` and ``stddev`` (op ``RandomStandardNormal``, scaled and shifted)."""
    s1, s2 = get_seed(seed)
    plain = float(mean) == 0.0 and float(stddev) == 1.0
    out = _RANDOM_STANDARD_NORMAL(shape=shape, dtype=dtype, seed=s1, seed2=s2, name=name if plain else None)
    return _scale_shift(out, float(mean), float(stddev), name)


def truncated_normal(
    shape: Sequence[int] | Shape,
    mean: float = 0.0,
    stddev: float = 1.0,
    dtype: Any = dt.float32,
    seed: int | None = None,
    name: str | None = None,
) -> Any:
    """Normal values whose distance from ``mean`` is at most 2 ``stddev`` (farther ones are re-drawn).

    The usual initialiser of the classic courses: ``truncated_normal([784, 10], stddev=0.1)``.
    """
    s1, s2 = get_seed(seed)
    plain = float(mean) == 0.0 and float(stddev) == 1.0
    out = _TRUNCATED_NORMAL(shape=shape, dtype=dtype, seed=s1, seed2=s2, name=name if plain else None)
    return _scale_shift(out, float(mean), float(stddev), name)
