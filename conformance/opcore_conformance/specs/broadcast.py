"""Conformance specs for SumToLike, BroadcastLike and ReshapeLike."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from opcore_conformance.spec import Case, Draw, Invalid, OpSpec


def _sum_to(x: np.ndarray, like: np.ndarray) -> np.ndarray:
    out = x
    while out.ndim > like.ndim:
        out = out.sum(axis=0)
    for i, d in enumerate(like.shape):
        if d == 1 and out.shape[i] != 1:
            out = out.sum(axis=i, keepdims=True)
    return out


def _draw_sum_to(draw: Draw, binding: Mapping[str, str]) -> Case:
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=1, max_dims=3, max_side=4))
    return Case([shapes.result_shape, shapes.input_shapes[0]])


def _draw_broadcast(draw: Draw, binding: Mapping[str, str]) -> Case:
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=1, max_dims=3, max_side=4))
    return Case([shapes.input_shapes[0], shapes.result_shape])


def _draw_reshape(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
    size = int(np.prod(shape))
    target = draw(st.sampled_from([(size,), (1, size), (size, 1)]))
    return Case([shape, target])


SPECS = [
    OpSpec(
        "SumToLike",
        reference=_sum_to,
        draw=_draw_sum_to,
        examples=[Case([(), ()], label="scalar"), Case([(0, 3), (1, 3)], label="zero-size"), Case([(2, 3), (3,)])],
        grad_inputs=[0],
        invalid=[Invalid([(2, 3), (4, 2, 3, 1)])],
        tolerance=4.0,
    ),
    OpSpec(
        "BroadcastLike",
        reference=lambda x, like: np.broadcast_to(x, like.shape).copy(),
        draw=_draw_broadcast,
        examples=[Case([(), ()], label="scalar"), Case([(1, 3), (0, 3)], label="zero-size"), Case([(3,), (2, 3)])],
        grad_inputs=[0],
        invalid=[Invalid([(2, 2, 3), (2, 3)])],
    ),
    OpSpec(
        "ReshapeLike",
        reference=lambda x, like: x.reshape(like.shape),
        draw=_draw_reshape,
        examples=[Case([(), (1,)], label="scalar"), Case([(0, 3), (3, 0)], label="zero-size")],
        grad_inputs=[0],
        invalid=[Invalid([(2, 3), (5,)])],
    ),
]
