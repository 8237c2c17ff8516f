"""Conformance specs: softmax and the losses (Softmax, LogSoftmax, the cross entropies, L2Loss)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from opcore_conformance.spec import BadValues, Case, Draw, Invalid, OpSpec, make_array

# --------------------------------------------------------------------------- softmax family


def _ref_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    if logits.size == 0:
        return logits.copy()
    e = np.exp(logits - np.max(logits, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _ref_log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    if logits.size == 0:
        return logits.copy()
    m = np.max(logits, axis=axis, keepdims=True)
    return logits - m - np.log(np.sum(np.exp(logits - m), axis=axis, keepdims=True))


def _draw_softmax(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    return Case([shape], {"axis": axis})


_SOFTMAX_EXAMPLES = [
    Case([(2, 3)], label="matrix"),
    Case([(4,)], {"axis": 0}, label="vector"),
    Case([(0, 3)], label="zero-size batch"),
    Case([(2, 0)], label="zero classes"),
]
_SOFTMAX_INVALID = [
    Invalid([(2, 3)], {"axis": 2}, label="axis out of range"),
    Invalid([()], label="scalar logits"),
]


def _ref_sce(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ls = _ref_log_softmax(logits, -1)
    return -np.sum(labels * ls, axis=-1), _ref_softmax(logits, -1) - labels


def _draw_sce(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    return Case([shape, shape])


def _ref_sparse_sce(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    classes = logits.shape[-1]
    one_hot = (labels[..., None] == np.arange(classes)).astype(np.float64)
    return _ref_sce(logits, one_hot)


def _draw_sparse_sce(draw: Draw, binding: Mapping[str, str]) -> Case:
    batch = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4))
    classes = draw(st.integers(1, 5))
    return Case([(*batch, classes), batch])


def _sparse_inputs(rng: np.random.Generator, case: Case, binding: Mapping[str, str]) -> list[Any]:
    logits_shape, labels_shape = case.shapes
    assert isinstance(logits_shape, tuple) and isinstance(labels_shape, tuple)
    logits = make_array(rng, logits_shape, binding["T"], "logits")
    labels = rng.integers(0, logits_shape[-1], size=labels_shape).astype(binding["Tidx"])
    return [logits, labels]


def _ref_sigmoid_ce(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    p = 1.0 / (1.0 + np.exp(-logits))
    return -labels * np.log(p) - (1.0 - labels) * np.log(1.0 - p)


def _draw_same_shapes(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    return Case([shape, shape])


def _draw_unary(draw: Draw, binding: Mapping[str, str]) -> Case:
    return Case([draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))])


# --------------------------------------------------------------------------- the specs

SPECS = [
    OpSpec(
        "Softmax",
        reference=_ref_softmax,
        draw=_draw_softmax,
        examples=_SOFTMAX_EXAMPLES,
        domains=["logits"],
        invalid=_SOFTMAX_INVALID,
        tolerance=2.0,
    ),
    OpSpec(
        "LogSoftmax",
        reference=_ref_log_softmax,
        draw=_draw_softmax,
        examples=_SOFTMAX_EXAMPLES,
        domains=["logits"],
        invalid=_SOFTMAX_INVALID,
        tolerance=2.0,
    ),
    OpSpec(
        "SoftmaxCrossEntropyWithLogits",
        reference=_ref_sce,
        draw=_draw_sce,
        examples=[
            Case([(2, 3), (2, 3)]),
            Case([(4,), (4,)], label="one example"),
            Case([(0, 3), (0, 3)], label="zero-size"),
        ],
        domains=["logits", "probs"],
        invalid=[Invalid([(2, 3), (2, 4)], label="class mismatch"), Invalid([(), ()], label="scalars")],
        tolerance=4.0,
    ),
    OpSpec(
        "SparseSoftmaxCrossEntropyWithLogits",
        reference=_ref_sparse_sce,
        draw=_draw_sparse_sce,
        examples=[
            Case([(3, 4), (3,)]),
            Case([(5,), ()], label="scalar label"),
            Case([(0, 3), (0,)], label="zero-size"),
        ],
        make_inputs=_sparse_inputs,
        grad_inputs=[0],
        invalid=[
            Invalid([(2, 5), (3,)], label="batch mismatch"),
            Invalid([(2, 5), (2, 1)], label="labels rank"),
            Invalid([(2, 5), (2,)], dtypes=["float32", "float32"], error="DTypeError", label="float labels"),
        ],
        bad_values=[
            # NumPy used to raise a plain ValueError here, and OpenCL to give a NaN row.
            BadValues([(3, 4), (3,)], {1: [1, 4, 0]}, mentions=["labels[1] = 4"], label="a label = classes"),
            BadValues(
                [(2, 2, 3), (2, 2)], {1: [[0, 2], [-1, 7]]}, mentions=["labels[1, 0] = -1"], label="a negative label"
            ),
            BadValues([(5,), ()], {1: 5}, mentions=["labels = 5"], label="a scalar label"),
        ],
        tolerance=4.0,
    ),
    OpSpec(
        "SigmoidCrossEntropyWithLogits",
        reference=_ref_sigmoid_ce,
        draw=_draw_same_shapes,
        examples=[Case([(), ()], label="scalar"), Case([(0, 3), (0, 3)], label="zero-size"), Case([(2, 3), (2, 3)])],
        domains=["logits", "probs"],
        invalid=[Invalid([(2, 3), (3,)], label="shape mismatch")],
        tolerance=2.0,
    ),
    OpSpec(
        "L2Loss",
        reference=lambda t: np.asarray(0.5 * np.sum(t * t)),
        draw=_draw_unary,
        examples=[Case([()], label="scalar"), Case([(0, 3)], label="zero-size"), Case([(2, 3, 4)])],
        invalid=[Invalid([(2,)], dtypes=["int32"], error="DTypeError", label="int32")],
        tolerance=4.0,
    ),
]
