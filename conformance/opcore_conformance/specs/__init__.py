"""Conformance specs of the built-in ops, one module per op family."""

from __future__ import annotations

from opcore_conformance.spec import OpSpec
from opcore_conformance.specs import array, broadcast, distributed, math, nn, random, reduce, selection, train

BUILTIN_SPECS: list[OpSpec] = [
    *broadcast.SPECS,
    *math.SPECS,
    *array.SPECS,
    *selection.SPECS,
    *reduce.SPECS,
    *nn.SPECS,
    *random.SPECS,
    *train.SPECS,
    *distributed.SPECS,
]

__all__ = ["BUILTIN_SPECS"]
