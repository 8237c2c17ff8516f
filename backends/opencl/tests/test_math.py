"""Math-family kernels on the OpenCL backend: the NumPy edge-case semantics the generated kernels must keep."""

from __future__ import annotations

import numpy as np
import pytest

import opcore
from opcore.ops import math as M

BACKEND = "opencl"


def _dev(x: object, dtype: object = None) -> object:
    return opcore.constant(np.asarray(x, dtype=dtype), backend=BACKEND)


def _np(fn: object, *xs: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.asarray(fn(*xs))  # type: ignore[operator]


INT_DTYPES = ["int8", "int16", "int32", "int64"]


@pytest.mark.parametrize("dtype", [*INT_DTYPES, "uint8"])
def test_integer_floor_division_and_mod_follow_numpy(dtype: str) -> None:
    info = np.iinfo(dtype)
    small = [-7, -1, 0, 1, 7] if info.min < 0 else [0, 1, 7, 254]  # 254 // 255: no "-1" shortcut for uint8
    vals = np.array([info.min, info.min + 1, *small, info.max], dtype=dtype)
    x, y = np.meshgrid(vals, vals, indexing="ij")
    x, y = x.ravel(), y.ravel()
    for op, ref in ((M.floor_divide, np.floor_divide), (M.mod, np.remainder)):
        got = op(_dev(x), _dev(y)).numpy()
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got, _np(ref, x, y), err_msg=f"{op.name} {dtype}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_floor_division_and_mod_follow_numpy(dtype: str) -> None:
    vals = np.array([-7.5, -3.0, -1.0, -0.0, 0.0, 0.5, 3.0, 7.25, np.inf, -np.inf, np.nan], dtype=dtype)
    x, y = (a.ravel() for a in np.meshgrid(vals, vals, indexing="ij"))
    for op, ref in ((M.floor_divide, np.floor_divide), (M.mod, np.remainder)):
        got = op(_dev(x), _dev(y)).numpy()
        want = _np(ref, x, y)
        np.testing.assert_array_equal(got, want, err_msg=f"{op.name} {dtype}")
        # The sign of zero results follows the divisor for mod (NumPy), checked bit for bit.
        zero = want == 0
        np.testing.assert_array_equal(np.signbit(got[zero]), np.signbit(want[zero]))


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_integer_pow_truncates_negative_exponents_and_wraps(dtype: str) -> None:
    x = np.array([2, -2, 1, -1, -1, 0, 3, 5, 7], dtype=dtype)
    y = np.array([-1, -3, -5, -2, -3, 3, 4, 3, 40], dtype=dtype)
    want = np.array([0, 0, 1, 1, -1, 0, 81, 125, 0], dtype=dtype)
    want[-1] = np.power(x[-1:], y[-1:])[0]  # 7**40 wraps in the dtype, like NumPy
    np.testing.assert_array_equal(M.pow(_dev(x), _dev(y)).numpy(), want)


def test_maximum_minimum_propagate_nan_and_sign_abs_edges() -> None:
    x = np.array([np.nan, 1.0, -2.0, np.nan], np.float32)
    y = np.array([1.0, np.nan, -3.0, np.nan], np.float32)
    np.testing.assert_array_equal(M.maximum(_dev(x), _dev(y)).numpy(), np.maximum(x, y))
    np.testing.assert_array_equal(M.minimum(_dev(x), _dev(y)).numpy(), np.minimum(x, y))
    s = np.array([np.nan, -0.5, 0.0, 2.0], np.float64)
    np.testing.assert_array_equal(M.sign(_dev(s)).numpy(), np.sign(s))
    for dtype in INT_DTYPES:
        info = np.iinfo(dtype)
        v = np.array([info.min, -1, 0, info.max], dtype=dtype)
        np.testing.assert_array_equal(M.abs(_dev(v)).numpy(), np.abs(v))
        np.testing.assert_array_equal(M.negative(_dev(v)).numpy(), np.negative(v))
        np.testing.assert_array_equal(M.add(_dev(v), _dev(v)).numpy(), v + v)


def test_sigmoid_and_softplus_are_stable_at_extremes() -> None:
    x = np.array([-1000.0, -100.0, -20.0, 0.0, 20.0, 100.0, 1000.0], np.float32)
    sig = M.sigmoid(_dev(x)).numpy()
    assert np.all(np.isfinite(sig)) and sig[0] == 0.0 and sig[-1] == 1.0
    np.testing.assert_allclose(sig, _np(lambda v: 1 / (1 + np.exp(-v)), x.astype(np.float64)), rtol=2e-6, atol=1e-43)
    sp = M.softplus(_dev(x)).numpy()
    np.testing.assert_allclose(sp, np.logaddexp(0, x.astype(np.float64)), rtol=2e-6, atol=1e-43)
    assert sp[-1] == 1000.0


def test_cast_truncates_and_bool_is_nonzero() -> None:
    x = np.array([-2.7, -0.5, 0.0, 0.5, 2.7, np.nan], np.float64)
    np.testing.assert_array_equal(M.cast(_dev(x[:5]), "int32").numpy(), x[:5].astype(np.int32))
    np.testing.assert_array_equal(M.cast(_dev(x), "bool").numpy(), x.astype(bool))
    i = np.array([300, -1, 255], np.int32)
    np.testing.assert_array_equal(M.cast(_dev(i), "uint8").numpy(), i.astype(np.uint8))
    np.testing.assert_array_equal(M.cast(_dev(i), "int8").numpy(), i.astype(np.int8))
    big = np.array([2**40 + 1, -(2**53) - 1], np.int64)
    np.testing.assert_array_equal(M.cast(_dev(big), "float32").numpy(), big.astype(np.float32))


def test_comparisons_with_nan_and_select_broadcast() -> None:
    x = np.array([np.nan, 1.0, 2.0], np.float32)
    y = np.array([np.nan, 1.0, 3.0], np.float32)
    for op, ref in (
        (M.equal, np.equal),
        (M.not_equal, np.not_equal),
        (M.less, np.less),
        (M.greater_equal, np.greater_equal),
    ):
        got = op(_dev(x), _dev(y)).numpy()
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(got, ref(x, y))
    c = np.array([[True], [False]])
    got = M.where(_dev(c), _dev(np.arange(3, dtype=np.int8)), _dev(np.int8(-1))).numpy()
    np.testing.assert_array_equal(got, np.where(c, np.arange(3, dtype=np.int8), np.int8(-1)))


def test_binary_broadcasting_reuses_kernels_across_shapes() -> None:
    rt = opcore.get_backend(BACKEND).runtime
    M.add(_dev(np.ones((2, 3), np.float32)), _dev(np.ones((3,), np.float32))).numpy()
    builds = rt.counters["builds"]
    got = M.add(_dev(np.ones((5, 7), np.float32)), _dev(np.arange(7, dtype=np.float32))).numpy()
    np.testing.assert_array_equal(got, np.ones((5, 7)) + np.arange(7))
    assert rt.counters["builds"] == builds


BROADCASTS = [
    ((5, 7), (7,)),  # row (bias), 1-D kernel: last dimension under ROW_MIN
    ((40, 33), (33,)),  # row, 2-D kernel
    ((3, 4, 40), (1, 1, 40)),
    ((40, 33), (40, 1)),  # column
    ((2, 3, 50), (2, 3, 1)),
    ((6, 5), (6, 1)),
    ((4, 1, 20), (1, 6, 1)),  # general, both inputs broadcast
    ((3, 4, 5, 17), (4, 1, 17)),
    ((7, 3), (7, 1, 1, 3)),  # the output has more dimensions than either input
    ((2, 1), (1, 30)),
]


@pytest.mark.parametrize(("a_shape", "b_shape"), BROADCASTS, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_every_broadcast_pattern_matches_numpy(a_shape: tuple[int, ...], b_shape: tuple[int, ...], dtype: str) -> None:
    rng = np.random.default_rng(11)
    a = (rng.standard_normal(a_shape) * 100).astype(dtype)
    b = (rng.standard_normal(b_shape) * 100).astype(dtype)
    for x, y in ((a, b), (b, a)):
        np.testing.assert_array_equal(M.add(_dev(x), _dev(y)).numpy(), x + y)
        np.testing.assert_array_equal(M.multiply(_dev(x), _dev(y)).numpy(), x * y)
    c = a > 0
    np.testing.assert_array_equal(M.where(_dev(c), _dev(b), _dev(a)).numpy(), np.where(c, b, a))
