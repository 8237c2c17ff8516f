"""Conformance specs: the collectives (``distributed.Allreduce``, ``distributed.Allgather``, ``distributed.Broadcast``
and their grouped forms).

The suite runs in one process that did not call ``opcore.distributed.init``:
a world of one, where every reduction of a tensor is the tensor, a gather
returns it and a broadcast from rank 0 returns it. That still checks what a
backend's kernel must get right: the output shapes and dtypes, several
tensors at once (the fused path), zero-size tensors, that inputs are not
written, eager and graph execution, and the gradients (an allreduce's is the
allreduce of the output gradients, which in a world of one is the identity).
Multi-process results are tested under ``mpiexec`` by tests/test_distributed_mpi.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from opcore_conformance.spec import Case, Draw, Invalid, OpSpec

BAD_ATTR = "OpDefinitionError"
_LINEAR = ("sum", "average")


def _shape(draw: Draw, min_dims: int = 0) -> tuple[int, ...]:
    return tuple(draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, min_side=0, max_side=4)))


def _reductions(binding: Mapping[str, str]) -> list[str]:
    floating = binding["T"].startswith("float")
    return ["sum", "min", "max", "product"] + (["average"] if floating else [])


def _draw_allreduce(draw: Draw, binding: Mapping[str, str]) -> Case:
    shapes = [_shape(draw) for _ in range(draw(st.integers(1, 4)))]
    reduction = draw(st.sampled_from(_reductions(binding)))
    return Case([shapes], {"num": len(shapes), "reduction": reduction}, grad=reduction in _LINEAR)


def _identity_list(tensors: list[np.ndarray], **attrs: Any) -> tuple[np.ndarray, ...]:
    return tuple(np.array(t, copy=True) for t in tensors)


def _draw_allgather(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape = _shape(draw, min_dims=1)
    counts = draw(st.sampled_from([None, [shape[0]]]))
    return Case([shape], {"size": 1, "counts": counts})


def _draw_broadcast(draw: Draw, binding: Mapping[str, str]) -> Case:
    shapes = [_shape(draw) for _ in range(draw(st.integers(1, 4)))]
    return Case([shapes], {"num": len(shapes), "root_rank": 0})


def _draw_allreduce_one(draw: Draw, binding: Mapping[str, str]) -> Case:
    reduction = draw(st.sampled_from(_reductions(binding)))
    return Case([_shape(draw)], {"reduction": reduction}, grad=reduction in _LINEAR)


def _draw_broadcast_one(draw: Draw, binding: Mapping[str, str]) -> Case:
    return Case([_shape(draw)], {"root_rank": 0})


def _identity(x: np.ndarray, **attrs: Any) -> np.ndarray:
    return np.array(x, copy=True)


SPECS: list[OpSpec] = [
    OpSpec(
        "distributed.Allreduce",
        reference=_identity,
        draw=_draw_allreduce_one,
        examples=[
            Case([(2, 3)], {"reduction": "sum"}, label="matrix"),
            Case([()], {"reduction": "max"}, grad=False, label="scalar"),
            Case([(0, 2)], {"reduction": "sum"}, label="zero-size"),
        ],
        invalid=[
            Invalid([(2,)], {"reduction": "average"}, dtypes=["int32"], error="DTypeError", label="average ints"),
            Invalid([(2,)], {"reduction": "mean"}, error=BAD_ATTR, label="unknown reduction"),
        ],
    ),
    OpSpec(
        "distributed.GroupedAllreduce",
        reference=_identity_list,
        draw=_draw_allreduce,
        examples=[
            Case([[(2, 3)]], {"num": 1, "reduction": "sum"}, label="one tensor"),
            Case([[(), (0, 2), (3,), (2, 2)]], {"num": 4, "reduction": "max"}, grad=False, label="fused, zero-size"),
            Case([[(4,), (2, 1)]], {"num": 2, "reduction": "sum"}, label="two"),
        ],
        invalid=[
            Invalid([[(2,), (2,)]], {"num": 3}, label="num differs"),
            Invalid(
                [[(2,)]], {"num": 1, "reduction": "average"}, dtypes=["int32"], error="DTypeError", label="average ints"
            ),
            Invalid([[(2,)]], {"num": 1, "reduction": "mean"}, error=BAD_ATTR, label="unknown reduction"),
        ],
    ),
    OpSpec(
        "distributed.Allgather",
        reference=lambda tensor, size, counts: np.array(tensor, copy=True),
        draw=_draw_allgather,
        examples=[
            Case([(2, 3)], {"size": 1}, label="rows"),
            Case([(0, 2)], {"size": 1, "counts": [0]}, label="zero rows, counts"),
            Case([(3,)], {"size": 1, "counts": [3]}, label="vector"),
        ],
        invalid=[
            Invalid([()], {"size": 1}, label="scalar"),
            Invalid([(2, 3)], {"size": 1, "counts": [2, 2]}, label="counts for another world"),
            Invalid([(2, 3)], {"size": 0}, error=BAD_ATTR, label="size < 1"),
        ],
    ),
    OpSpec(
        "distributed.Broadcast",
        reference=_identity,
        draw=_draw_broadcast_one,
        examples=[
            Case([(2, 3)], {"root_rank": 0}, label="matrix"),
            Case([()], {"root_rank": 0}, label="scalar"),
            Case([(0,)], {"root_rank": 0}, label="zero-size"),
        ],
        invalid=[Invalid([(2,)], {"root_rank": -1}, error=BAD_ATTR, label="negative root")],
    ),
    OpSpec(
        "distributed.GroupedBroadcast",
        reference=_identity_list,
        draw=_draw_broadcast,
        examples=[
            Case([[(2, 3)]], {"num": 1, "root_rank": 0}, label="one tensor"),
            Case([[(), (0, 3), (5,)]], {"num": 3, "root_rank": 0}, label="fused, zero-size"),
        ],
        invalid=[
            Invalid([[(2,)]], {"num": 2, "root_rank": 0}, label="num differs"),
            Invalid([[(2,)]], {"num": 1, "root_rank": -1}, error=BAD_ATTR, label="negative root"),
        ],
    ),
]
