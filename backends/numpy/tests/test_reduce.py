"""Reduce-family ops on the NumPy backend: ties, zeros and integer means."""

from __future__ import annotations

import numpy as np
import pytest

import opcore
from opcore.errors import ShapeError
from opcore.ops import reduce as R


def _grad(fn, x):
    t = opcore.constant(x)
    with opcore.GradientTape() as tape:
        tape.watch(t)
        y = fn(t)
    return tape.gradient(y, t).numpy()


def test_max_gradient_splits_ties_evenly():
    g = _grad(lambda t: R.reduce_sum(R.reduce_max(t, 1)), np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]]))
    assert np.allclose(g, [[0, 0.5, 0.5], [1, 0, 0]])


def test_min_gradient_all_axes_keepdims():
    g = _grad(lambda t: R.reduce_sum(R.reduce_min(t, keepdims=True)), np.array([[1.0, 0.0], [0.0, 5.0]]))
    assert np.allclose(g, [[0, 0.5], [0.5, 0]])


@pytest.mark.parametrize(
    ("row", "expected"),
    [([2.0, 3.0, 4.0], [12.0, 8.0, 6.0]), ([2.0, 0.0, 4.0], [0.0, 8.0, 0.0]), ([0.0, 3.0, 0.0], [0.0, 0.0, 0.0])],
)
def test_prod_gradient_with_zeros(row, expected):
    assert np.allclose(_grad(lambda t: R.reduce_sum(R.reduce_prod(t, 0)), np.array(row)), expected)


def test_mean_gradient_and_int_truncation():
    assert np.allclose(_grad(lambda t: R.reduce_mean(t, [0, 2]), np.ones((2, 3, 4))), 1 / 8)
    out = R.reduce_mean(opcore.constant(np.array([[-3, 1, 1], [7, 0, 0]], np.int32)), 1).numpy()
    assert out.dtype == np.int32 and out.tolist() == [0, 2]


def test_empty_reductions_follow_tensorflow():
    empty = opcore.constant(np.zeros((0, 2), np.float32))
    assert R.reduce_max(empty, 0).numpy().tolist() == [-np.inf, -np.inf]
    assert np.isnan(R.reduce_mean(empty).numpy())
    assert R.reduce_min(opcore.constant(np.zeros((0,), np.int8))).numpy() == 127


def test_argmax_first_of_ties_and_output_type():
    out = R.argmax(opcore.constant(np.array([[1, 5, 5], [7, 7, 0]])), 1, output_type="int32").numpy()
    assert out.dtype == np.int32 and out.tolist() == [1, 0]
    with pytest.raises(ShapeError):
        R.argmin(opcore.constant(np.zeros((0, 2))), 0)


def test_sum_keeps_small_int_dtype():
    out = R.reduce_sum(opcore.constant(np.full(3, 100, np.int8)))
    assert out.dtype == opcore.int8 and out.numpy() == np.int8(44)
