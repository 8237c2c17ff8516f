"""Conformance spec of myorg.ZeroOut (imported only when the suite runs)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from hypothesis.extra import numpy as hnp

from opcore_conformance import Case, Invalid, OpSpec
from opcore_conformance.spec import Draw


def reference(to_zero: np.ndarray) -> np.ndarray:
    flat = to_zero.reshape(-1)
    out = np.zeros(flat.shape, dtype=to_zero.dtype)
    if flat.size:
        out[0] = flat[0]
    return out.reshape(to_zero.shape)


def draw(draw: Draw, binding: Mapping[str, str]) -> Case:
    return Case([draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))])


SPEC = OpSpec(
    "myorg.ZeroOut",
    reference=reference,
    draw=draw,
    examples=[Case([()], label="scalar"), Case([(0, 3)], label="zero-size"), Case([(2, 3)])],
    invalid=[Invalid([(3,)], dtypes=["bool"], error="DTypeError", label="bool input")],
)
