"""NumPy-backend tests of the math family: numerical edge cases and second derivatives.

The conformance suite covers forward values and first derivatives on ordinary inputs; these tests
pin down what it does not: extreme inputs, integer corner cases, and gradients of gradients.
pytest runs with ``filterwarnings = error``, so a kernel that lets NumPy warn fails here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import opcore
from opcore.ops import math as m

FLOATS = ["float16", "float32", "float64"]


def const(values: Any, dtype: str) -> Any:
    return opcore.constant(np.asarray(values, dtype=dtype))


# --------------------------------------------------------------------------- forward edge cases


@pytest.mark.parametrize("dtype", FLOATS)
def test_sigmoid_is_stable_for_extreme_inputs(dtype: str) -> None:
    x = np.array([-1e4, -50.0, -5.0, 0.0, 5.0, 50.0, 1e4], dtype=dtype)
    got = m.sigmoid(opcore.constant(x)).numpy()
    assert got.dtype == np.dtype(dtype)
    assert np.all(np.isfinite(got))
    x64 = x.astype(np.float64)
    want = np.exp(-np.logaddexp(0.0, -x64))
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=2e-3 if dtype == "float16" else 1e-6, atol=1e-7)


@pytest.mark.parametrize(("dtype", "low"), [("float32", -104.0), ("float64", -745.0)])
def test_sigmoid_keeps_relative_accuracy_where_exp_overflows(dtype: str, low: float) -> None:
    # Down to the smallest subnormal results: where exp(-x) overflows, sigmoid(x) is exp(x), not 0.
    if np.finfo(np.longdouble).eps >= np.finfo(dtype).eps:
        pytest.skip("no extended-precision long double on this platform for the reference")
    x = np.concatenate([np.linspace(low, 40.0, 4001), [np.inf, -np.inf, 0.0]]).astype(dtype)
    got = m.sigmoid(opcore.constant(x)).numpy()
    with np.errstate(over="ignore"):  # a reference in extended precision (80-bit on x86)
        want = (1 / (1 + np.exp(-x.astype(np.longdouble)))).astype(dtype)
    normal = np.abs(want) >= np.finfo(dtype).tiny
    np.testing.assert_allclose(got[normal], want[normal], rtol=4 * np.finfo(dtype).eps, atol=0)
    np.testing.assert_allclose(got[~normal], want[~normal], rtol=0, atol=4 * np.finfo(dtype).smallest_subnormal)
    assert m.sigmoid(opcore.constant(np.array(np.nan, dtype))).numpy().shape == ()
    assert np.isnan(m.sigmoid(opcore.constant(np.array(np.nan, dtype))).numpy())
    assert m.sigmoid(opcore.constant(np.array(-1000.0, dtype))).numpy() == 0.0


@pytest.mark.parametrize("dtype", FLOATS)
def test_softplus_is_stable_for_extreme_inputs(dtype: str) -> None:
    x = np.array([-1e4, -30.0, -1.0, 0.0, 1.0, 30.0, 1e4], dtype=dtype)
    got = m.softplus(opcore.constant(x)).numpy()
    assert got.dtype == np.dtype(dtype)
    want = np.logaddexp(0.0, x.astype(np.float64))
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=2e-3 if dtype == "float16" else 1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "uint8"])
def test_integer_division_by_zero_gives_zero_without_warning(dtype: str) -> None:
    x, y = const([7, 0, 5], dtype), const([0, 0, 2], dtype)
    np.testing.assert_array_equal(m.floor_divide(x, y).numpy(), np.array([0, 0, 2], dtype=dtype))
    np.testing.assert_array_equal(m.mod(x, y).numpy(), np.array([0, 0, 1], dtype=dtype))


def test_floor_semantics_follow_python_signs() -> None:
    a = [7, -7, 7, -7]
    b = [2, 2, -2, -2]
    x, y = const(a, "int32"), const(b, "int32")
    assert m.floor_divide(x, y).numpy().tolist() == [p // q for p, q in zip(a, b)]
    assert m.mod(x, y).numpy().tolist() == [p % q for p, q in zip(a, b)]
    xf, yf = const([7.5, -7.5], "float32"), const([-2.0, 2.0], "float32")
    assert m.mod(xf, yf).numpy().tolist() == [7.5 % -2.0, -7.5 % 2.0]


def test_float_exceptions_give_ieee_values_without_warning() -> None:
    assert m.exp(const([1000.0], "float32")).numpy()[0] == np.inf
    assert m.log(const([0.0], "float64")).numpy()[0] == -np.inf
    assert np.isnan(m.sqrt(const([-1.0], "float16")).numpy()[0])
    assert m.divide(const([1.0], "float32"), const([0.0], "float32")).numpy()[0] == np.inf


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64"])
def test_integer_pow_with_negative_exponent_truncates(dtype: str) -> None:
    x = const([2, 1, -1, -1, 3, 0], dtype)
    y = const([-1, -5, -3, -2, 2, 3], dtype)
    assert m.pow(x, y).numpy().tolist() == [0, 1, -1, 1, 9, 0]
    assert m.pow(x, y).numpy().dtype == np.dtype(dtype)


def test_signed_minimum_wraps_like_numpy() -> None:
    x = const([-128, 5], "int8")
    assert m.abs(x).numpy().tolist() == [-128, 5]
    assert m.negative(x).numpy().tolist() == [-128, -5]


def test_scalar_results_are_zero_d_arrays() -> None:
    out = m.add(const(1.5, "float32"), const(2.0, "float32"))
    assert out.numpy().shape == ()
    assert m.less(const(1, "int8"), const(2, "int8")).numpy().dtype == np.bool_


def test_cast_truncates_and_does_not_alias() -> None:
    x = np.array([1.7, -1.7, 0.2], dtype=np.float32)
    t = opcore.constant(x)
    assert m.cast(t, "int32").numpy().tolist() == [1, -1, 0]
    assert m.cast(t, "bool").numpy().tolist() == [True, True, True]
    same = m.cast(t, "float32").numpy()
    same[0] = 99.0
    np.testing.assert_array_equal(t.numpy(), x)


def test_matmul_transposes_and_batch_broadcast() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2, 1, 4, 3))
    b = rng.normal(size=(5, 2, 4))
    got = m.matmul(opcore.constant(a), opcore.constant(b), transpose_a=True, transpose_b=True).numpy()
    want = np.swapaxes(a, -1, -2) @ np.swapaxes(b, -1, -2)
    assert got.shape == (2, 5, 3, 2)
    np.testing.assert_allclose(got, want, rtol=1e-12)


# --------------------------------------------------------------------------- gradients


def test_maximum_gradient_goes_to_x_on_ties() -> None:
    x, y = const([1.0, 2.0, 3.0], "float64"), const([1.0, 3.0, 2.0], "float64")
    with opcore.GradientTape() as tape:
        tape.watch([x, y])
        z = m.maximum(x, y)
    gx, gy = tape.gradient(z, [x, y])
    assert gx.numpy().tolist() == [1.0, 0.0, 1.0]
    assert gy.numpy().tolist() == [0.0, 1.0, 0.0]


def test_pow_gradient_for_exponent_is_zero_for_non_positive_base() -> None:
    x, y = const([-2.0, 0.0, 2.0], "float64"), const([2.0, 2.0, 2.0], "float64")
    with opcore.GradientTape() as tape:
        tape.watch([x, y])
        z = m.pow(x, y)
    gx, gy = tape.gradient(z, [x, y])
    np.testing.assert_allclose(gx.numpy(), [-4.0, 0.0, 4.0])
    np.testing.assert_allclose(gy.numpy(), [0.0, 0.0, 4.0 * np.log(2.0)])


def test_select_gradient_sums_over_broadcast() -> None:
    cond = opcore.constant(np.array([[True, False, True], [False, False, True]]))
    x, y = const([1.0, 2.0, 3.0], "float64"), const(5.0, "float64")
    with opcore.GradientTape() as tape:
        tape.watch([x, y])
        z = m.where(cond, x, y)
    gx, gy = tape.gradient(z, [x, y])
    assert gx.numpy().tolist() == [1.0, 0.0, 2.0]
    assert gy.numpy().tolist() == 3.0


def _unary_cases() -> list[tuple[str, Callable[..., Any], np.ndarray]]:
    pos = np.array([0.7, 1.3, 2.1])
    real = np.array([-1.2, 0.4, 1.7])
    return [
        ("negative", m.negative, real),
        ("abs", m.abs, real),
        ("square", m.square, real),
        ("sqrt", m.sqrt, pos),
        ("rsqrt", m.rsqrt, pos),
        ("exp", m.exp, real),
        ("log", m.log, pos),
        ("log1p", m.log1p, np.array([-0.5, 0.2, 0.8])),
        ("sin", m.sin, real),
        ("cos", m.cos, real),
        ("tanh", m.tanh, real),
        ("sigmoid", m.sigmoid, real),
        ("relu", m.relu, real),
        ("softplus", m.softplus, real),
        ("cast", lambda t: m.cast(t, "float64"), real),
    ]


def _binary_cases() -> list[tuple[str, Callable[..., Any], np.ndarray, np.ndarray]]:
    x = np.array([[0.7, 1.3, 2.1], [1.1, 0.6, 1.9]])
    y = np.array([1.4, -0.8, 0.9])
    return [
        ("add", m.add, x, y),
        ("subtract", m.subtract, x, y),
        ("multiply", m.multiply, x, y),
        ("divide", m.divide, x, y),
        ("mod", m.mod, x, y),
        ("pow", m.pow, x, y),
        ("maximum", m.maximum, x, y),
        ("minimum", m.minimum, x, y),
        ("matmul", lambda a, b: m.matmul(a, b, transpose_b=True), x, np.array([[0.3, -1.1, 0.5]])),
    ]


def _first_gradients(fn: Callable[..., Any], arrays: list[np.ndarray], w: np.ndarray) -> list[np.ndarray]:
    ts = [opcore.constant(a) for a in arrays]
    with opcore.GradientTape() as tape:
        tape.watch(ts)
        loss = m.multiply(fn(*ts), opcore.constant(w))
    return [g.numpy() for g in tape.gradient(loss, ts)]


def _check_second_order(fn: Callable[..., Any], arrays: list[np.ndarray]) -> None:
    """Differentiate sum(v * grad(sum(w * fn))) with the tape and compare with finite differences."""
    rng = np.random.default_rng(3)
    w = rng.uniform(0.5, 1.5, size=np.shape(fn(*[opcore.constant(a) for a in arrays]).numpy()))
    vs = [rng.uniform(0.5, 1.5, size=a.shape) for a in arrays]
    ts = [opcore.constant(a) for a in arrays]
    with opcore.GradientTape() as outer:
        outer.watch(ts)
        with opcore.GradientTape() as inner:
            inner.watch(ts)
            loss = m.multiply(fn(*ts), opcore.constant(w))
        firsts = inner.gradient(loss, ts)
        # Several targets: the tape sums their gradients, i.e. differentiates sum_i sum(v_i * g_i).
        targets = [m.multiply(g, opcore.constant(v)) for g, v in zip(firsts, vs)]
    seconds = outer.gradient(targets, ts)
    eps = 1e-6
    for i, a in enumerate(arrays):
        numeric = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            up = [b.copy() for b in arrays]
            down = [b.copy() for b in arrays]
            up[i][idx] += eps
            down[i][idx] -= eps
            f_up = sum(np.sum(g * v) for g, v in zip(_first_gradients(fn, up, w), vs))
            f_down = sum(np.sum(g * v) for g, v in zip(_first_gradients(fn, down, w), vs))
            numeric[idx] = (f_up - f_down) / (2 * eps)
        got = np.zeros_like(a) if seconds[i] is None else seconds[i].numpy()
        np.testing.assert_allclose(got, numeric, rtol=1e-5, atol=1e-6, err_msg=f"second derivative, input {i}")


@pytest.mark.parametrize("case", _unary_cases(), ids=lambda c: c[0])
def test_unary_second_derivatives(case: tuple[str, Callable[..., Any], np.ndarray]) -> None:
    _, fn, x = case
    _check_second_order(fn, [x.copy()])


@pytest.mark.parametrize("case", _binary_cases(), ids=lambda c: c[0])
def test_binary_second_derivatives(case: tuple[str, Callable[..., Any], np.ndarray, np.ndarray]) -> None:
    _, fn, x, y = case
    _check_second_order(fn, [x.copy(), y.copy()])


def test_select_second_derivative() -> None:
    cond = opcore.constant(np.array([True, False, True]))
    _check_second_order(
        lambda x, y: m.multiply(m.where(cond, x, y), m.where(cond, x, y)),
        [np.array([0.5, 1.5, -0.7]), np.array([2.0, -1.0, 0.3])],
    )


def test_floating_point_errors_neither_warn_nor_raise_and_leave_the_callers_error_state():
    import warnings

    old = np.seterr(all="raise")  # a caller's own setting, which kernels must neither obey nor change
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            big = opcore.constant([1e30, -1e30], dtype="float32")
            assert np.isinf(opcore.exp(opcore.constant([1000.0])).numpy()).all()
            assert opcore.log(opcore.constant([0.0])).numpy().tolist() == [-np.inf]
            assert np.isinf(opcore.square(big).numpy()).all()
            assert np.isinf((opcore.constant([1.0]) / opcore.constant([0.0])).numpy()).all()
            assert np.isinf(opcore.matmul(opcore.reshape(big, [1, 2]), opcore.reshape(big, [2, 1])).numpy()).all()
            assert opcore.sigmoid(opcore.constant([-1000.0, 1000.0])).numpy().tolist() == [0.0, 1.0]
        assert np.geterr() == {"divide": "raise", "over": "raise", "under": "raise", "invalid": "raise"}
        with pytest.raises(FloatingPointError):
            np.exp(np.float32(1000.0))
    finally:
        np.seterr(**old)


# Large Select goes bitwise; it must equal np.where bit for bit, broadcasting included.
SELECT_SHAPES = [
    ((300, 80), (300, 80), (300, 80)),
    ((300, 80), (300, 80), ()),  # a scalar y (ReLU's gradient: y = 0)
    ((1, 80), (300, 1), (80,)),
    ((300, 80), (), (300, 80)),
    ((300, 80), (300, 80), (1, 1, 1)),  # y adds a dimension
]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int8", "int64", "uint8", "bool"])
@pytest.mark.parametrize("shapes", SELECT_SHAPES)
@pytest.mark.parametrize("zero_y", [False, True])
def test_large_select_equals_np_where_bitwise(shapes, dtype, zero_y):
    rng = np.random.default_rng(0)
    cs, xs, ys = shapes
    cond = rng.random(cs) < 0.5
    x = (rng.standard_normal(xs) * 100).astype(dtype)
    y = np.zeros(ys, dtype) if zero_y else (rng.standard_normal(ys) * 100).astype(dtype)
    if dtype.startswith("float"):  # NaN, signed zeros and infinities must come through unchanged
        if x.size >= 3:
            x.reshape(-1)[:3] = [np.nan, -0.0, np.inf]
        if y.size >= 2 and not zero_y:
            y.reshape(-1)[:2] = [-0.0, -np.inf]
    got = opcore.where(opcore.constant(cond), opcore.constant(x), opcore.constant(y)).numpy()
    want = np.where(cond, x, y)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
