"""How the conformance suite exercises one op: its reference and its inputs.

An :class:`OpSpec` is plain data about one op: a float64 NumPy *reference*
(independent of any backend's kernel), how to draw valid input shapes and
attributes (with Hypothesis), fixed edge cases (scalars, zero-size,
broadcasting), the value domain of each input, invalid calls that must
fail in the frontend, and calls with invalid input *values* (an index out of
range) that every backend must refuse with the same typed error. Specs for the built-in ops live in
``opcore_conformance.specs``; an op plugin supplies its own through the
``opcore_conformance_specs`` hook.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st

__all__ = [
    "BadValues",
    "Case",
    "Draw",
    "Invalid",
    "OpSpec",
    "make_array",
]

ShapeT = tuple[int, ...]
#: An input's shape, or a list of shapes for a variadic input.
InputShape = ShapeT | list[ShapeT]
Draw = Callable[[st.SearchStrategy[Any]], Any]

#: Value domains an input can be drawn from.
DOMAINS = (
    "real",
    "positive",
    "nonzero",
    "unit",
    "small",
    "bool",
    "int",
    "logits",
    "probs",
    "away_from_zero",
    "extremes",
    "nan",
)

#: The values of the ``extremes`` domain besides subnormals: NaN, infinities, signed zeros, halves
#: and values beyond the ranges of the integer dtypes (converted to the input's dtype, so
#: some become infinities in float16).
EXTREMES = (np.nan, np.inf, -np.inf, 0.0, -0.0, 2.5, -2.5, -0.5, 127.9, 128.5, -128.5, -129.0, 255.5, 256.0,
            -32769.0, 65535.5, 3e9, -3e9, 2.0**31, -(2.0**31), 1e19, -1e19, 1e30)  # fmt: skip


@dataclass
class Case:
    """One call: the inputs' shapes and the attributes."""

    shapes: list[InputShape]
    attrs: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    #: Whether to check gradients for this case (large cases are skipped).
    grad: bool = True
    #: Value domains of the inputs for this case, overriding the spec's ``domains``.
    domains: Sequence[str] | None = None
    #: Fixed values of some inputs (input position -> values, cast to the tested dtype), replacing
    #: what the domains or ``make_inputs`` give: edge cases such as ``[[1, nan, 3]]``.
    values: Mapping[int, Any] | None = None


@dataclass
class Invalid:
    """A call that must raise ``error`` (by name, e.g. ``"ShapeError"``) before any kernel runs."""

    shapes: list[InputShape]
    attrs: dict[str, Any] = field(default_factory=dict)
    error: str = "ShapeError"
    label: str = ""
    #: Optional per-input dtype names overriding the tested binding (for dtype errors).
    dtypes: list[str] | None = None


@dataclass
class BadValues:
    """A call whose input *values* are invalid (an index or label out of range).

    Shapes and attributes are valid, so the frontend cannot see the problem: the
    kernel must. Every backend must raise ``error`` (an ``opcore.errors`` class
    name) whose message names the op and contains each string of ``mentions``
    (the position and the value), eagerly and from a session run. ``values`` maps
    an input position to the values that input holds (cast to the tested dtype);
    the other inputs are drawn for their shape in ``shapes``.
    """

    shapes: list[InputShape]
    values: Mapping[int, Any]
    attrs: dict[str, Any] = field(default_factory=dict)
    error: str = "InvalidIndexError"
    mentions: Sequence[str] = ()
    label: str = ""


@dataclass
class OpSpec:
    """Everything the conformance suite needs to test one op.

    - ``reference(*inputs, **attrs)`` takes float64 (or integer/bool) NumPy
      arrays (a list for a variadic input) and returns an array or a tuple of
      arrays; it must be plain, obviously correct NumPy.
    - ``draw(draw_fn, binding)`` returns a :class:`Case` using Hypothesis
      strategies through ``draw_fn``; ``binding`` maps type variables to dtype names.
    - ``examples`` are fixed cases run for every dtype (scalar, zero-size, broadcast).
    - ``domains`` gives each input's value domain (see :data:`DOMAINS`); for
      inputs whose valid values depend on other inputs or attributes (indices,
      labels), ``make_inputs(rng, case, binding)`` builds all inputs itself.
    - ``grad_inputs`` are the input positions whose gradients are checked
      (default: every floating input of a differentiable op).
    """

    op: str
    reference: Callable[..., Any]
    draw: Callable[[Draw, Mapping[str, str]], Case]
    examples: Sequence[Case] = ()
    domains: Sequence[str] = ()
    make_inputs: Callable[[np.random.Generator, Case, Mapping[str, str]], list[Any]] | None = None
    grad_inputs: Sequence[int] | None = None
    invalid: Sequence[Invalid] = ()
    #: Calls with invalid input values that every backend must refuse with the same error.
    bad_values: Sequence[BadValues] = ()
    #: Multiplies the dtype's default tolerances (for ops that lose precision, e.g. sums).
    tolerance: float = 1.0
    #: Multiplies the finite-difference tolerance (for ops with kinks, e.g. max).
    grad_tolerance: float = 1.0
    #: Output positions compared (default all); e.g. skip a backprop output.
    compare_outputs: Sequence[int] | None = None
    #: Whether the op is random: then only shapes, dtypes, seeded reproducibility
    #: and value statistics are checked, against ``reference`` as a bounds checker.
    random: bool = False


def make_array(rng: np.random.Generator, shape: ShapeT, dtype: str, domain: str = "real") -> np.ndarray:
    """Draw an array of ``dtype`` with values from ``domain`` (see :data:`DOMAINS`)."""
    dt = np.dtype(dtype)
    if dt == np.bool_ or domain == "bool":
        return rng.random(shape) < 0.5 if dt == np.bool_ else (rng.random(shape) < 0.5).astype(dt)
    if dt.kind in "iu":
        if domain == "positive" or dt.kind == "u":
            lo, hi = (1 if domain in ("positive", "nonzero") else 0), 10
        else:
            lo, hi = -9, 10
        vals = rng.integers(lo, hi, size=shape)
        if domain in ("nonzero", "away_from_zero"):
            vals = np.where(vals == 0, 1, vals)
        return vals.astype(dt)
    if domain == "extremes":
        # Each dtype's subnormals too (the smallest one and a larger one, both signs), then the fixed extremes.
        tiny = float(np.finfo(dt).smallest_subnormal)
        pool = np.array([*EXTREMES, tiny, -tiny, tiny * 1000, -tiny * 1000])
        with np.errstate(over="ignore"):  # beyond float16's range is infinity, by intent
            return pool[rng.integers(0, len(pool), size=shape)].astype(dt)
    if domain == "nan":
        # Ordinary values with NaNs among them: about one in three, and a NaN first when there is room.
        vals = rng.uniform(-2.0, 2.0, size=shape)
        if vals.size:
            flat = vals.reshape(-1)
            flat[rng.random(flat.size) < 0.35] = np.nan
            flat[0] = np.nan
        return np.asarray(vals).astype(dt)
    if domain == "positive":
        vals = rng.uniform(0.5, 2.0, size=shape)
    elif domain in ("nonzero", "away_from_zero"):
        vals = rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    elif domain == "unit":
        vals = rng.uniform(-0.9, 0.9, size=shape)
    elif domain == "small":
        vals = rng.uniform(-0.5, 0.5, size=shape)
    elif domain == "probs":
        raw = rng.uniform(0.1, 1.0, size=shape)
        vals = raw / raw.sum(axis=-1, keepdims=True) if raw.ndim else raw
    elif domain == "logits":
        vals = rng.normal(0.0, 2.0, size=shape)
    else:
        vals = rng.uniform(-2.0, 2.0, size=shape)
    return np.asarray(vals).astype(dt)
