"""What the array family's specs share: shape and axis strategies, and the errors of bad attributes and indices."""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from opcore_conformance.spec import Draw


def _shape(draw: Draw, min_dims: int = 0, max_dims: int = 3, min_side: int = 0, max_side: int = 4) -> tuple[int, ...]:
    return tuple(draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)))


def _axis(draw: Draw, rank: int) -> int:
    """An axis of a rank-``rank`` tensor, possibly negative."""
    return int(draw(st.integers(-rank, rank - 1)))


BAD_ATTR = "OpDefinitionError"
#: The error of an index out of range, in values (every backend's kernel) or attributes (the shape function).
BAD_INDEX = "InvalidIndexError"
