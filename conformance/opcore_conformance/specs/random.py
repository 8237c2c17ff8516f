"""Conformance specs: random family.

Random ops are checked for shapes, dtypes, reproducibility with the same seeds,
and the statistics of a sample: each ``reference(output, **attrs)`` asserts
bounds always and mean/stddev (with loose, about 6-sigma limits) when the
sample has at least 1000 values. The draws favour large shapes for that reason.
The dtype attribute is drawn from the binding, so every case sets it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from opcore_conformance.spec import Case, Draw, Invalid, OpSpec

_MIN_SAMPLE = 1000
_SAMPLE_SHAPES = [(40, 30), (1500,), (10, 10, 12)]


def _draw_shape(draw: Draw) -> tuple[int, ...]:
    """Mostly large shapes (for the statistics), sometimes small, scalar or empty ones."""
    small = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)
    return tuple(draw(st.one_of(st.sampled_from(_SAMPLE_SHAPES), small)))


def _draw_seeds(draw: Draw) -> dict[str, int]:
    return {"seed": draw(st.integers(0, 2**40)), "seed2": draw(st.integers(-(2**31), 2**31))}


def _check_moments(x: np.ndarray, mean: float, std: float, what: str) -> None:
    if x.size < _MIN_SAMPLE:
        return
    m, s = float(x.mean()), float(x.std())
    tol = 6 * std / np.sqrt(x.size) + 1e-3 * max(1.0, abs(mean))
    assert abs(m - mean) <= tol, f"{what}: sample mean {m:.4f}, expected {mean:.4f} +- {tol:.4f}"
    assert abs(s - std) <= 0.1 * std + 1e-3, f"{what}: sample stddev {s:.4f}, expected {std:.4f} +- 10%"


def _in_dtype(value: float, attrs: Mapping[str, Any], output: np.ndarray) -> float:
    """``value`` rounded to the output's dtype, as a float (bounds are exact only in that dtype)."""
    dtype = np.dtype(getattr(attrs.get("dtype"), "np", output.dtype))
    return float(np.asarray(value).astype(dtype))


# --------------------------------------------------------------------------- uniform


def _check_uniform(output: np.ndarray, **attrs: Any) -> None:
    lo, hi = float(attrs.get("minval", 0.0)), float(attrs.get("maxval", 1.0))
    x = np.asarray(output, dtype=np.float64)
    lo_d, hi_d = _in_dtype(lo, attrs, output), _in_dtype(hi, attrs, output)
    if x.size:
        assert x.min() >= min(lo, lo_d), f"value {x.min()} below minval {lo}"
        assert x.max() < hi_d, f"value {x.max()} not below maxval {hi} (half-open interval)"
    _check_moments(x, (lo + hi) / 2, (hi - lo) / np.sqrt(12.0), "uniform")


def _draw_uniform(draw: Draw, binding: Mapping[str, str]) -> Case:
    lo = draw(st.sampled_from([0.0, -1.0, 2.5, -10.0]))
    width = draw(st.sampled_from([1.0, 0.5, 3.0, 20.0]))
    attrs = {
        "shape": _draw_shape(draw),
        "dtype": binding["dtype"],
        **_draw_seeds(draw),
        "minval": lo,
        "maxval": lo + width,
    }
    return Case([], attrs)


def _check_uniform_int(output: np.ndarray, **attrs: Any) -> None:
    lo, hi = int(attrs["minval"]), int(attrs["maxval"])
    assert output.dtype.kind == "i", f"dtype {output.dtype} is not an integer dtype"
    if output.size:
        assert output.min() >= lo and output.max() < hi, f"values {output.min()}..{output.max()} outside [{lo}, {hi})"
    n = hi - lo
    _check_moments(output.astype(np.float64), (lo + hi - 1) / 2, np.sqrt((n * n - 1) / 12.0), "uniform int")


def _draw_uniform_int(draw: Draw, binding: Mapping[str, str]) -> Case:
    lo = draw(st.integers(-20, 20))
    hi = lo + draw(st.integers(1, 50))
    attrs = {"shape": _draw_shape(draw), "dtype": binding["dtype"], **_draw_seeds(draw), "minval": lo, "maxval": hi}
    return Case([], attrs)


def _check_uniform_like(output: np.ndarray, **attrs: Any) -> None:
    _check_uniform(output, minval=0.0, maxval=1.0)


def _draw_uniform_like(draw: Draw, binding: Mapping[str, str]) -> Case:
    return Case([_draw_shape(draw)], _draw_seeds(draw))


# --------------------------------------------------------------------------- normal


def _check_normal(output: np.ndarray, **attrs: Any) -> None:
    x = np.asarray(output, dtype=np.float64)
    assert np.all(np.isfinite(x)), "non-finite values"
    _check_moments(x, 0.0, 1.0, "standard normal")


# The stddev of a standard normal truncated to [-2, 2].
_TRUNCATED_STD = float(np.sqrt(1 - 4 * np.exp(-2) / np.sqrt(2 * np.pi) / 0.9544997361036416))


def _check_truncated(output: np.ndarray, **attrs: Any) -> None:
    x = np.asarray(output, dtype=np.float64)
    if x.size:
        assert np.abs(x).max() <= 2.0, f"value {x[np.abs(x).argmax()]} beyond 2 stddevs"
    _check_moments(x, 0.0, _TRUNCATED_STD, "truncated normal")


def _draw_normal(draw: Draw, binding: Mapping[str, str]) -> Case:
    return Case([], {"shape": _draw_shape(draw), "dtype": binding["dtype"], **_draw_seeds(draw)})


_SEEDS = {"seed": 3, "seed2": 4}

SPECS = [
    OpSpec(
        "RandomUniform",
        reference=_check_uniform,
        draw=_draw_uniform,
        invalid=[
            Invalid([], {"shape": (2,), **_SEEDS, "minval": 1.0, "maxval": 1.0}, "OpDefinitionError", "empty range"),
            Invalid([], {"shape": (2, -1), **_SEEDS}, label="unknown dim"),
            Invalid([], {"shape": (2,), "dtype": "int32", **_SEEDS}, "DTypeError", "int32 (use RandomUniformInt)"),
            Invalid([], {"shape": (2,)}, "OpDefinitionError", "no seeds"),
        ],
        random=True,
    ),
    OpSpec(
        "RandomUniformInt",
        reference=_check_uniform_int,
        draw=_draw_uniform_int,
        invalid=[
            Invalid([], {"shape": (2,), **_SEEDS, "minval": 3, "maxval": 2}, "OpDefinitionError", "empty range"),
            Invalid([], {"shape": (2,), "dtype": "float32", **_SEEDS, "minval": 0, "maxval": 2}, "DTypeError", "float"),
        ],
        random=True,
    ),
    OpSpec(
        "RandomUniformLike",
        reference=_check_uniform_like,
        draw=_draw_uniform_like,
        examples=[Case([(50, 40)], _SEEDS, label="large"), Case([()], _SEEDS, label="scalar"), Case([(0, 3)], _SEEDS)],
        invalid=[Invalid([(2,)], _SEEDS, dtypes=["int32"], error="DTypeError", label="int32 like")],
        random=True,
    ),
    OpSpec(
        "RandomStandardNormal",
        reference=_check_normal,
        draw=_draw_normal,
        invalid=[Invalid([], {"shape": (-1, 2), **_SEEDS}, label="unknown dim")],
        random=True,
    ),
    OpSpec(
        "TruncatedNormal",
        reference=_check_truncated,
        draw=_draw_normal,
        invalid=[Invalid([], {"shape": (-1, 2), **_SEEDS}, label="unknown dim")],
        random=True,
    ),
]
