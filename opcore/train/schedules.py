"""Learning-rate schedules: objects called with a step, returning a scalar tensor.

A schedule computes its value with ops, so the same object works eagerly (a
Python int or an eager variable as the step) and in a graph (a symbolic step,
usually the global step, re-read on every ``Session.run``). Optimizers accept
a schedule as their ``learning_rate`` and call it with their step on every
update.

>>> from opcore.train import ExponentialDecay
>>> schedule = ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
>>> round(float(schedule(10)), 6), round(float(schedule(20)), 6)
(0.05, 0.025)

The TensorFlow 1 functions :func:`exponential_decay`, :func:`inverse_time_decay`
and :func:`piecewise_constant` take the step as an argument: in a graph they
return the decayed learning-rate tensor, and eagerly a zero-argument function
returning it (as TensorFlow does), which an optimizer calls on every update.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from opcore import _context
from opcore import dtypes as _dt
from opcore.errors import InvalidArgumentError
from opcore.ops import math as _math
from opcore.tensor import constant

__all__ = [
    "ExponentialDecay",
    "InverseTimeDecay",
    "LearningRateSchedule",
    "PiecewiseConstantDecay",
    "exponential_decay",
    "inverse_time_decay",
    "piecewise_constant",
]

_FLOAT = _dt.float32


def _step_as_float(step: Any) -> Any:
    """The step as a float32 scalar tensor (Python numbers become constants)."""
    if isinstance(step, (bool, np.bool_)):
        raise InvalidArgumentError(f"a schedule's step must be a number or a scalar tensor, got {step!r}")
    if isinstance(step, (int, float, np.integer, np.floating)):
        return constant(float(step), dtype=_FLOAT)
    dtype = getattr(step, "dtype", None)
    if dtype is None:
        raise InvalidArgumentError(
            f"a schedule's step must be an int, a scalar tensor or a variable (e.g. the global step), "
            f"got {type(step).__name__}"
        )
    return _math.cast(step, _FLOAT)


def _positive(name: str, value: Any) -> float:
    v = float(value)
    if not v > 0:
        raise InvalidArgumentError(f"{name} must be > 0, got {value!r}")
    return v


class LearningRateSchedule:
    """Base class: ``schedule(step)`` returns the learning rate at ``step`` as a scalar tensor.

    Subclasses implement ``__call__`` with ops and ``get_config`` (the
    constructor's keyword arguments, JSON-serialisable).
    """

    def __call__(self, step: Any) -> Any:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LearningRateSchedule:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``.

    With ``staircase=True`` the exponent is ``floor(step / decay_steps)``, so
    the rate drops in steps.

    >>> from opcore.train import ExponentialDecay
    >>> s = ExponentialDecay(1.0, decay_steps=2, decay_rate=0.5, staircase=True)
    >>> [float(s(k)) for k in range(5)]
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __init__(
        self, initial_learning_rate: float, decay_steps: float, decay_rate: float, staircase: bool = False
    ) -> None:
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = _positive("ExponentialDecay: decay_steps", decay_steps)
        self.decay_rate = float(decay_rate)
        self.staircase = bool(staircase)

    def __call__(self, step: Any) -> Any:
        p = _math.divide(_step_as_float(step), self.decay_steps)
        if self.staircase:
            p = _math.floor_divide(p, 1.0)
        return _math.multiply(self.initial_learning_rate, _math.pow(self.decay_rate, p))

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
        }


class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``.

    With ``staircase=True``, ``step / decay_steps`` is floored.

    >>> from opcore.train import InverseTimeDecay
    >>> s = InverseTimeDecay(1.0, decay_steps=1, decay_rate=0.5)
    >>> [float(s(k)) for k in range(3)]
    [1.0, 0.6666666865348816, 0.5]
    """

    def __init__(
        self, initial_learning_rate: float, decay_steps: float, decay_rate: float, staircase: bool = False
    ) -> None:
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = _positive("InverseTimeDecay: decay_steps", decay_steps)
        self.decay_rate = float(decay_rate)
        self.staircase = bool(staircase)

    def __call__(self, step: Any) -> Any:
        p = _math.divide(_step_as_float(step), self.decay_steps)
        if self.staircase:
            p = _math.floor_divide(p, 1.0)
        return _math.divide(self.initial_learning_rate, _math.add(1.0, _math.multiply(self.decay_rate, p)))

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
        }


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, then ``values[1]`` while ``step <= boundaries[1]``, ...,
    and ``values[-1]`` after the last boundary.

    >>> from opcore.train import PiecewiseConstantDecay
    >>> s = PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    >>> [round(float(s(k)), 6) for k in (0, 10, 11, 20, 21)]
    [1.0, 1.0, 0.5, 0.5, 0.1]
    """

    def __init__(self, boundaries: Sequence[float], values: Sequence[float]) -> None:
        self.boundaries = [float(b) for b in boundaries]
        self.values = [float(v) for v in values]
        if len(self.values) != len(self.boundaries) + 1:
            raise InvalidArgumentError(
                f"PiecewiseConstantDecay: values must have one more entry than boundaries, got "
                f"{len(self.boundaries)} boundaries and {len(self.values)} values"
            )
        if any(b >= a for b, a in zip(self.boundaries, self.boundaries[1:])):
            raise InvalidArgumentError(
                f"PiecewiseConstantDecay: boundaries must be strictly increasing, got {list(boundaries)}"
            )

    def __call__(self, step: Any) -> Any:
        s = _step_as_float(step)
        # Select exact values (no arithmetic on them), from the last interval backwards.
        out = constant(self.values[-1], dtype=_FLOAT)
        for b, v in zip(reversed(self.boundaries), reversed(self.values[:-1])):
            out = _math.where(_math.less_equal(s, b), constant(v, dtype=_FLOAT), out)
        return out

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": list(self.boundaries), "values": list(self.values)}


_SCHEDULES: dict[str, type[LearningRateSchedule]] = {
    "ExponentialDecay": ExponentialDecay,
    "InverseTimeDecay": InverseTimeDecay,
    "PiecewiseConstantDecay": PiecewiseConstantDecay,
}


def serialize(schedule: LearningRateSchedule) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` for a built-in schedule."""
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config: Mapping[str, Any]) -> LearningRateSchedule:
    """The schedule described by :func:`serialize`'s output."""
    name = config.get("class_name")
    cls = _SCHEDULES.get(str(name))
    if cls is None:
        raise InvalidArgumentError(f"unknown learning-rate schedule {name!r}; known: {', '.join(sorted(_SCHEDULES))}")
    return cls.from_config(config.get("config", {}))


def _tf1(schedule: LearningRateSchedule, global_step: Any, what: str) -> Any:
    if global_step is None:
        raise InvalidArgumentError(f"{what}: global_step is required (e.g. opcore.train.get_or_create_global_step())")
    if _context.executing_eagerly():
        bound: Callable[[], Any] = functools.partial(schedule, global_step)
        return bound
    return schedule(global_step)


def exponential_decay(
    learning_rate: float, global_step: Any, decay_steps: float, decay_rate: float, staircase: bool = False
) -> Any:
    """TF1's ``tf.train.exponential_decay``: ``learning_rate * decay_rate ** (global_step / decay_steps)``.

    In a graph, returns the decayed rate as a tensor (re-evaluated as the
    global step changes); eagerly, a zero-argument function returning it.
    See :class:`ExponentialDecay`.
    """
    return _tf1(ExponentialDecay(learning_rate, decay_steps, decay_rate, staircase), global_step, "exponential_decay")


def inverse_time_decay(
    learning_rate: float, global_step: Any, decay_steps: float, decay_rate: float, staircase: bool = False
) -> Any:
    """TF1's ``tf.train.inverse_time_decay``: ``learning_rate / (1 + decay_rate * global_step / decay_steps)``.

    Returns a tensor in a graph, a zero-argument function eagerly. See :class:`InverseTimeDecay`.
    """
    return _tf1(InverseTimeDecay(learning_rate, decay_steps, decay_rate, staircase), global_step, "inverse_time_decay")


def piecewise_constant(x: Any, boundaries: Sequence[float], values: Sequence[float]) -> Any:
    """TF1's ``tf.train.piecewise_constant``: ``values[i]`` on the ``i``-th interval of ``x`` (the step).

    Returns a tensor in a graph, a zero-argument function eagerly. See :class:`PiecewiseConstantDecay`.
    """
    return _tf1(PiecewiseConstantDecay(boundaries, values), x, "piecewise_constant")
