"""Conformance specs: array family (reshaping, joining, slicing, gathering, filling).

References are plain NumPy on float64 (integer and bool inputs in their own dtype).
The specs live in modules by kind of op: :mod:`.reshape` (reshaping and
joining), :mod:`.slicing` (slicing and gathering) and :mod:`.fill` (tiling,
padding and filling); ``SPECS`` lists them all, in that order.
"""

from __future__ import annotations

from opcore_conformance.spec import OpSpec
from opcore_conformance.specs.array import fill, reshape, slicing
from opcore_conformance.specs.array._common import BAD_ATTR, BAD_INDEX
from opcore_conformance.specs.array.fill import UNARY_EXAMPLES

SPECS: list[OpSpec] = [*reshape.SPECS, *slicing.SPECS, *fill.SPECS]

__all__ = ["BAD_ATTR", "BAD_INDEX", "SPECS", "UNARY_EXAMPLES"]
