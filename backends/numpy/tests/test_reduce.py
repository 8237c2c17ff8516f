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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("shape", "axis"),
    [((64, 32), 1), ((64, 32), 0), ((64, 32), -1), ((2, 3, 4), [1, 2]), ((2, 3, 4), [0, 1]), ((2, 3, 4), [2, 1]),
     ((2, 3, 4), 1), ((2, 3, 4), [0, 2]), ((5, 1), 1), ((1, 7), 0), ((100, 100), 1), ((3, 0), 1), ((0, 3), 1)],
)  # fmt: skip
@pytest.mark.parametrize("keepdims", [False, True])
def test_sum_matches_numpy_on_every_layout(dtype, shape, axis, keepdims):
    # Leading and trailing float reductions run as a matrix-vector product; the rest through
    # np.add.reduce. Contiguous arrays, strided views and transposed copies must all agree.
    x = np.random.default_rng(3).standard_normal(shape).astype(dtype)
    ax = tuple(axis) if isinstance(axis, list) else axis
    for t in (opcore.constant(x), opcore.constant(np.concatenate([x, x], -1))[..., ::2]):
        for _ in range(2):  # the second call runs the cached plan
            out = R.reduce_sum(t, axis, keepdims=keepdims).numpy()
            ref = np.sum(t.numpy().astype(np.float64), axis=ax, keepdims=keepdims)
            assert out.dtype == dtype and out.shape == ref.shape
            np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-4)


def test_sum_propagates_nan_and_inf_like_numpy():
    x = np.array([[np.inf, 1.0, 2.0], [np.nan, 1.0, 2.0], [np.inf, -np.inf, 0.0], [-0.0, -0.0, -0.0]], np.float32)
    with np.errstate(invalid="ignore"):
        for axis in (0, 1):
            out = R.reduce_sum(opcore.constant(x), axis).numpy()
            np.testing.assert_array_equal(out, np.add.reduce(x, axis))


def test_sum_context_serves_another_input_shape():
    # A kernel context remembers how it summed; given an input of another shape (as a
    # hand-made context can be) it decides again rather than reuse the remembered shape.
    from opcore.plugins import ensure_loaded
    from opcore.registry import KernelContext, get_registry

    ensure_loaded()
    fn = get_registry().kernel("Sum", "numpy", (opcore.float32,)).fn
    ctx = KernelContext("Sum", {"axis": [1], "keepdims": False}, ((4,),), (opcore.float32,))
    a = np.arange(8, dtype=np.float32).reshape(4, 2)
    b = np.arange(12, dtype=np.float32).reshape(4, 3)
    assert fn(ctx, a).tolist() == a.sum(1).tolist()
    assert fn(ctx, b).tolist() == b.sum(1).tolist()


# Large float sums take vectorised paths (lanes for a whole array, a BLAS product over trailing axes).
LARGE_SUMS = [
    ((300, 700), None, False),  # everything, not a multiple of the lane count
    ((64, 4096), None, True),  # everything, an exact number of lanes, keepdims
    ((300, 700), [1], False),  # trailing axis: matrix-vector product
    ((30, 10, 700), [1, 2], True),  # trailing axes, keepdims
    ((30, 10, 700), [2, 1], False),  # the same axes out of order
    ((700, 300), [0], False),  # a leading axis, wide rows: NumPy's own loop
    ((4000, 40), [1], False),  # short rows: NumPy's own loop
    ((4000, 40), [0], False),  # a leading axis, narrow rows: ones times the matrix
    ((16, 20, 20, 64), [0, 1, 2], True),  # leading axes (a bias gradient in NHWC), keepdims
    ((16, 20, 20, 64), [2, 0, 1], False),  # the same axes out of order
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, axis, keepdims", LARGE_SUMS)
def test_large_sums_and_means_match_float64(shape, axis, keepdims, dtype):
    x = np.random.default_rng(0).normal(1.0, 2.0, size=shape).astype(dtype)
    ref = x.astype(np.float64).sum(axis=None if axis is None else tuple(axis), keepdims=keepdims)
    count = x.size // ref.size
    tol = 1e-5 if dtype == "float32" else 1e-12
    for op, expected in ((R.reduce_sum, ref), (R.reduce_mean, ref / count)):
        got = op(opcore.constant(x), axis, keepdims=keepdims).numpy()
        assert got.dtype == x.dtype and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * np.abs(x).sum() / ref.size)


def test_nhwc_bias_gradient_sums_the_leading_axes_and_keeps_nan():
    x = np.random.default_rng(2).normal(size=(16, 20, 20, 64)).astype(np.float32)
    x[3, 4, 5, 6] = np.nan
    got = opcore.bias_add_grad(opcore.constant(x)).numpy()
    want = x.astype(np.float64).sum(axis=(0, 1, 2))
    assert got.dtype == np.float32 and got.shape == (64,)
    assert np.isnan(got[6]) and not np.isnan(np.delete(got, 6)).any()
    np.testing.assert_allclose(np.delete(got, 6), np.delete(want, 6), rtol=1e-5, atol=1e-3)


def test_large_sum_of_a_transposed_view_and_of_nan():
    x = np.random.default_rng(1).normal(size=(500, 300)).astype(np.float32)
    t = opcore.transpose(opcore.constant(x))
    np.testing.assert_allclose(R.reduce_sum(t, [1]).numpy(), x.sum(axis=0), rtol=1e-4, atol=1e-3)
    x[123, 45] = np.nan
    assert np.isnan(R.reduce_sum(opcore.constant(x)).numpy())
    sums = R.reduce_sum(opcore.constant(x), [1]).numpy()
    assert np.isnan(sums[123]) and not np.isnan(np.delete(sums, 123)).any()


@pytest.mark.parametrize("threads", [False, True])
@pytest.mark.parametrize("size", [1 << 16, (1 << 20) + 4095, 3 << 20])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_whole_array_sum_is_as_accurate_as_a_pairwise_sum(size, dtype, threads, monkeypatch):
    from opcore_numpy.kernels import _parallel

    if threads:
        monkeypatch.setattr(_parallel, "MIN_PER_THREAD", 1 << 12)
    rng = np.random.default_rng(size)
    x = (rng.random(size) * 2.0 + 1.0).astype(dtype)  # all positive: a running sum drifts
    x[:: 1 << 12] *= 1e3
    ref = x.astype(np.longdouble).sum()
    got = R.reduce_sum(opcore.constant(x.reshape(1, -1))).numpy()
    assert got.dtype == dtype
    eps = np.finfo(dtype).eps
    assert abs(got.astype(np.longdouble) - ref) <= 8 * eps * ref  # a running sum is off by ~200 eps
    x[-1] = np.inf
    assert R.reduce_sum(opcore.constant(x)).numpy() == np.inf
