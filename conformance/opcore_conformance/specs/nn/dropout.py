"""Conformance specs: dropout, checked by its statistics on inputs of ones."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from opcore_conformance.spec import Case, Draw, Invalid, OpSpec

# --------------------------------------------------------------------------- dropout


def _check_dropout(output: np.ndarray, rate: float, seed: int, seed2: int) -> None:
    """Inputs are all ones: every output is 0 or 1/(1-rate), and about 1-rate of them are kept."""
    scale = 1.0 / (1.0 - rate)
    out = np.asarray(output, dtype=np.float64)
    kept = np.isclose(out, scale, rtol=1e-3)
    assert np.all(kept | (out == 0)), f"values other than 0 and {scale}: {np.unique(out)[:5]}"
    if out.size >= 1000:
        p = 1.0 - rate
        tol = 6 * np.sqrt(p * (1 - p) / out.size) + 1e-3
        assert abs(kept.mean() - p) <= tol, f"kept fraction {kept.mean():.4f}, expected {p} +- {tol:.4f}"


def _ones_input(rng: np.random.Generator, case: Case, binding: Mapping[str, str]) -> list[Any]:
    (shape,) = case.shapes
    assert isinstance(shape, tuple)
    return [np.ones(shape, dtype=binding["T"])]


_SAMPLE_SHAPES = [(40, 30), (1500,), (10, 10, 12)]


def _draw_sample_shape(draw: Draw) -> tuple[int, ...]:
    """Mostly large shapes (for the statistics), sometimes small or empty ones."""
    small = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)
    return tuple(draw(st.one_of(st.sampled_from(_SAMPLE_SHAPES), small)))


def _draw_dropout(draw: Draw, binding: Mapping[str, str]) -> Case:
    rate = draw(st.sampled_from([0.0, 0.1, 0.5, 0.9]))
    seed, seed2 = draw(st.integers(0, 2**31)), draw(st.integers(0, 2**31))
    return Case([_draw_sample_shape(draw)], {"rate": rate, "seed": seed, "seed2": seed2})


_SEEDS = {"seed": 1, "seed2": 2}


# --------------------------------------------------------------------------- the specs

SPECS = [
    OpSpec(
        "Dropout",
        reference=_check_dropout,
        draw=_draw_dropout,
        examples=[
            Case([(50, 40)], {"rate": 0.5, **_SEEDS}, label="large"),
            Case([(2, 3)], {"rate": 0.0, **_SEEDS}, label="rate 0"),
            Case([()], {"rate": 0.3, **_SEEDS}, label="scalar"),
            Case([(0, 3)], {"rate": 0.3, **_SEEDS}, label="zero-size"),
        ],
        make_inputs=_ones_input,
        invalid=[
            Invalid([(2, 3)], {"rate": 1.0, **_SEEDS}, "OpDefinitionError", "rate 1"),
            Invalid([(2, 3)], {"rate": -0.1, **_SEEDS}, "OpDefinitionError", "negative rate"),
        ],
        random=True,
    ),
]
