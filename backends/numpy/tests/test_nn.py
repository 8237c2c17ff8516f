"""NumPy-backend tests of the nn family: what the conformance suite does not pin down.

Larger convolution geometries end to end through the tape, second derivatives
through the gradient ops (Conv2DBackpropInput/Filter, MaxPoolGrad, BiasAddGrad,
the cross-entropy ops), TensorFlow's tie rule for max pooling, numerically
extreme inputs, and the dropout wrapper.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import opcore
from opcore.errors import OpDefinitionError, ShapeError
from opcore.ops import nn
from opcore.ops import reduce as r

FLOATS = ["float16", "float32", "float64"]


def const(values: Any, dtype: str = "float64") -> Any:
    return opcore.constant(np.asarray(values, dtype=dtype))


def numeric_grad(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    g = np.zeros_like(x)
    flat, gf = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        up = f(x)
        flat[i] = orig - eps
        down = f(x)
        flat[i] = orig
        gf[i] = (up - down) / (2 * eps)
    return g


def weighted_sum(y: Any, w: np.ndarray) -> Any:
    return r.reduce_sum(y * const(w))


CONV_CASES = [
    # (input shape, filter shape, strides, padding, data_format, dilations)
    ((2, 7, 6, 3), (3, 3, 3, 4), (2, 2), "SAME", "NHWC", (1, 1)),
    ((1, 3, 8, 7), (2, 3, 3, 2), (1, 2), "SAME", "NCHW", (2, 1)),
    ((2, 6, 7, 2), (3, 2, 2, 3), (2, 1), "VALID", "NHWC", (1, 2)),
    ((1, 2, 9, 5), (2, 2, 2, 1), (3, 2), "VALID", "NCHW", (2, 2)),
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_gradients_match_finite_differences(case: tuple[Any, ...]) -> None:
    xs, ws, strides, padding, fmt, dil = case
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=xs), rng.normal(size=ws)
    y_shape = nn.conv2d(const(x), const(w), strides, padding, fmt, dil).shape
    weights = rng.uniform(0.5, 1.5, size=tuple(y_shape))

    def loss(xv: np.ndarray, wv: np.ndarray) -> float:
        return float(weighted_sum(nn.conv2d(const(xv), const(wv), strides, padding, fmt, dil), weights).numpy())

    tx, tw = const(x), const(w)
    with opcore.GradientTape() as tape:
        tape.watch(tx)
        tape.watch(tw)
        out = weighted_sum(nn.conv2d(tx, tw, strides, padding, fmt, dil), weights)
    gx, gw = tape.gradient(out, [tx, tw])
    np.testing.assert_allclose(gx.numpy(), numeric_grad(lambda v: loss(v, w), x.copy()), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gw.numpy(), numeric_grad(lambda v: loss(x, v), w.copy()), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("case", CONV_CASES[:3])
def test_conv2d_second_derivatives(case: tuple[Any, ...]) -> None:
    """d/dw <v, dL/dx> and d/dx <u, dL/dw> go through the gradients of the backprop ops."""
    xs, ws, strides, padding, fmt, dil = case
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=xs), rng.normal(size=ws)
    v, u = rng.normal(size=xs), rng.normal(size=ws)

    def first(xv: np.ndarray, wv: np.ndarray) -> tuple[Any, Any]:
        tx, tw = const(xv), const(wv)
        with opcore.GradientTape() as tape:
            tape.watch(tx)
            tape.watch(tw)
            y = nn.conv2d(tx, tw, strides, padding, fmt, dil)
            out = r.reduce_sum(y * y)  # quadratic, so second derivatives are not trivially zero
        return tape.gradient(out, [tx, tw])

    tx, tw = const(x), const(w)
    with opcore.GradientTape(persistent=True) as outer:
        outer.watch(tx)
        outer.watch(tw)
        with opcore.GradientTape() as inner:
            inner.watch(tx)
            inner.watch(tw)
            y = nn.conv2d(tx, tw, strides, padding, fmt, dil)
            out = r.reduce_sum(y * y)
        gx, gw = inner.gradient(out, [tx, tw])
        sx = r.reduce_sum(gx * const(v))
        sw = r.reduce_sum(gw * const(u))
    d_sx_dw = outer.gradient(sx, tw).numpy()
    d_sw_dx = outer.gradient(sw, tx).numpy()
    want_w = numeric_grad(lambda wv: float(np.sum(first(x, wv)[0].numpy() * v)), w.copy())
    want_x = numeric_grad(lambda xv: float(np.sum(first(xv, w)[1].numpy() * u)), x.copy())
    np.testing.assert_allclose(d_sx_dw, want_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d_sw_dx, want_x, rtol=1e-5, atol=1e-6)


def test_conv2d_accepts_int_two_and_four_strides() -> None:
    rng = np.random.default_rng(2)
    x, w = const(rng.normal(size=(1, 5, 5, 2))), const(rng.normal(size=(2, 2, 2, 3)))
    a = nn.conv2d(x, w, 2, "SAME").numpy()
    b = nn.conv2d(x, w, (2, 2), "SAME").numpy()
    c = nn.conv2d(x, w, [1, 2, 2, 1], "SAME").numpy()
    assert a.shape == (1, 3, 3, 3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_conv2d_nchw_matches_nhwc() -> None:
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=(2, 6, 5, 3)), rng.normal(size=(3, 2, 3, 2))
    nhwc = nn.conv2d(const(x), const(w), (2, 1), "SAME", "NHWC", (1, 2)).numpy()
    nchw = nn.conv2d(const(x.transpose(0, 3, 1, 2)), const(w), (2, 1), "SAME", "NCHW", (1, 2)).numpy()
    np.testing.assert_allclose(nchw.transpose(0, 2, 3, 1), nhwc, rtol=1e-12)


def test_conv2d_channel_mismatch_names_both_shapes() -> None:
    with pytest.raises(ShapeError, match=r"Conv2D.*\(1, 4, 4, 2\).*\(3, 3, 5, 1\)"):
        nn.conv2d(const(np.zeros((1, 4, 4, 2))), const(np.zeros((3, 3, 5, 1))), 1, "SAME")


@pytest.mark.parametrize("dtype", FLOATS)
def test_conv2d_keeps_dtype_and_does_not_mutate(dtype: str) -> None:
    x = np.random.default_rng(4).normal(size=(1, 4, 4, 2)).astype(dtype)
    w = np.ones((2, 2, 2, 1), dtype=dtype)
    x0, w0 = x.copy(), w.copy()
    y = nn.conv2d(opcore.constant(x), opcore.constant(w), 1, "VALID")
    assert y.dtype is opcore.as_dtype(dtype)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)


# --------------------------------------------------------------------------- pooling


def test_max_pool_grad_routes_ties_to_the_first_maximum() -> None:
    x = const(np.ones((1, 4, 4, 1)))
    with opcore.GradientTape() as tape:
        tape.watch(x)
        y = nn.max_pool(x, 2, 2, "VALID")
    g = tape.gradient(y, x).numpy()[0, :, :, 0]
    want = np.zeros((4, 4))
    want[::2, ::2] = 1.0  # the top-left element of every window
    np.testing.assert_array_equal(g, want)


def test_max_pool_same_padding_never_wins() -> None:
    x = const(-np.arange(1.0, 10.0).reshape(1, 3, 3, 1))  # all negative: a zero pad would win
    y = nn.max_pool(x, 2, 2, "SAME").numpy()[0, :, :, 0]
    np.testing.assert_array_equal(y, [[-1.0, -3.0], [-7.0, -9.0]])


def test_avg_pool_same_counts_only_real_elements() -> None:
    x = const(np.ones((1, 3, 3, 1)))
    np.testing.assert_array_equal(nn.avg_pool(x, 2, 2, "SAME").numpy(), np.ones((1, 2, 2, 1)))


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_pool_second_derivative_through_grad_ops(pool: str) -> None:
    """The gradient of the pooling gradient with respect to dy is checked by finite differences."""
    rng = np.random.default_rng(5)
    x = const(rng.permutation(2 * 5 * 5 * 2).reshape(2, 2, 5, 5) * 0.5)
    fn = nn.max_pool if pool == "max" else nn.avg_pool
    y = fn(x, (2, 3), (2, 2), "SAME", "NCHW")
    dy = rng.normal(size=tuple(y.shape))
    v = rng.normal(size=tuple(x.shape))

    def grad_dot_v(dyv: np.ndarray) -> Any:
        t = const(dyv)
        with opcore.GradientTape() as inner:
            inner.watch(x)
            out = fn(x, (2, 3), (2, 2), "SAME", "NCHW")
        gx = inner.gradient(out, x, output_gradients=t)
        return r.reduce_sum(gx * const(v)), t

    tdy = const(dy)
    with opcore.GradientTape() as outer:
        outer.watch(tdy)
        with opcore.GradientTape() as inner:
            inner.watch(x)
            out = fn(x, (2, 3), (2, 2), "SAME", "NCHW")
        gx = inner.gradient(out, x, output_gradients=tdy)
        s = r.reduce_sum(gx * const(v))
    got = outer.gradient(s, tdy).numpy()
    want = numeric_grad(lambda d: float(grad_dot_v(d)[0].numpy()), dy.copy())
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------------- softmax and losses


@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_is_stable_for_large_logits(dtype: str) -> None:
    x = np.array([[1e4, 0.0, -1e4], [30000.0, 30000.0, 0.0]], dtype=dtype)
    s = nn.softmax(opcore.constant(x)).numpy().astype(np.float64)
    ls = nn.log_softmax(opcore.constant(x)).numpy().astype(np.float64)
    np.testing.assert_allclose(s, [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]], atol=1e-3)
    assert np.all(np.isfinite(ls))
    np.testing.assert_allclose(ls[0, :2], [0.0, -1e4], rtol=1e-3)


def _hvp_check(loss_fn: Callable[[Any, Any], Any], logits: np.ndarray, labels: np.ndarray, v: np.ndarray) -> None:
    def grad_logits(lv: np.ndarray) -> np.ndarray:
        t = const(lv)
        with opcore.GradientTape() as tape:
            tape.watch(t)
            out = r.reduce_sum(loss_fn(labels, t))
        return np.asarray(tape.gradient(out, t).numpy())

    t = const(logits)
    with opcore.GradientTape() as outer:
        outer.watch(t)
        with opcore.GradientTape() as inner:
            inner.watch(t)
            out = r.reduce_sum(loss_fn(labels, t))
        g = inner.gradient(out, t)
        s = r.reduce_sum(g * const(v))
    got = outer.gradient(s, t).numpy()
    want = numeric_grad(lambda lv: float(np.sum(grad_logits(lv) * v)), logits.copy())
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_softmax_cross_entropy_second_derivative() -> None:
    rng = np.random.default_rng(6)
    logits, v = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    labels = const(rng.dirichlet(np.ones(4), size=3))
    _hvp_check(lambda z, x: nn.softmax_cross_entropy_with_logits(labels=z, logits=x), logits, labels, v)


@pytest.mark.parametrize("label_dtype", ["int32", "int64"])
def test_sparse_softmax_cross_entropy_second_derivative(label_dtype: str) -> None:
    rng = np.random.default_rng(7)
    logits, v = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    labels = const([0, 3, 1], label_dtype)
    _hvp_check(lambda z, x: nn.sparse_softmax_cross_entropy_with_logits(labels=z, logits=x), logits, labels, v)


def test_sparse_softmax_cross_entropy_rejects_out_of_range_labels() -> None:
    # An opcore error (issue: it was a plain ValueError), still a ValueError for old callers.
    with pytest.raises(opcore.InvalidIndexError, match=r"labels\[1\] = 4 is out of range"):
        nn.sparse_softmax_cross_entropy_with_logits(labels=const([0, 4], "int32"), logits=const(np.zeros((2, 4))))


def test_softmax_cross_entropy_gradient_for_labels() -> None:
    rng = np.random.default_rng(8)
    logits, labels = rng.normal(size=(2, 3)), rng.dirichlet(np.ones(3), size=2)
    x, z = const(logits), const(labels)
    with opcore.GradientTape() as tape:
        tape.watch(z)
        out = r.reduce_sum(nn.softmax_cross_entropy_with_logits(labels=z, logits=x))
    ls = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    np.testing.assert_allclose(tape.gradient(out, z).numpy(), -ls, rtol=1e-12)


@pytest.mark.parametrize("dtype", FLOATS)
def test_sigmoid_cross_entropy_is_stable_and_exact_at_zero(dtype: str) -> None:
    x = opcore.constant(np.array([-1e4, -40.0, 0.0, 40.0, 1e4], dtype=dtype))
    z = opcore.constant(np.array([0.0, 1.0, 0.25, 0.0, 1.0], dtype=dtype))
    with opcore.GradientTape() as tape:
        tape.watch(x)
        loss = nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x)
    got = loss.numpy().astype(np.float64)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got[[0, 4]], [0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(got[1], 40.0, rtol=1e-3)
    g = tape.gradient(loss, x).numpy().astype(np.float64)
    assert g[2] == pytest.approx(0.5 - 0.25, rel=1e-3)  # sigmoid(0) - z, no kink at 0


# --------------------------------------------------------------------------- bias add, l2 loss


def test_bias_add_nchw_and_its_second_derivative() -> None:
    rng = np.random.default_rng(9)
    value, bias = const(rng.normal(size=(2, 3, 2, 2))), const(rng.normal(size=3))
    dy = const(rng.normal(size=(2, 3, 2, 2)))
    u = rng.normal(size=3)
    with opcore.GradientTape() as outer:
        outer.watch(dy)
        with opcore.GradientTape() as inner:
            inner.watch(bias)
            y = nn.bias_add(value, bias, data_format="NCHW")
        gb = inner.gradient(y, bias, output_gradients=dy)
        s = r.reduce_sum(gb * const(u))
    np.testing.assert_allclose(gb.numpy(), dy.numpy().sum(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(outer.gradient(s, dy).numpy(), np.broadcast_to(u[None, :, None, None], (2, 3, 2, 2)))


def test_bias_add_rejects_a_bias_of_the_wrong_length() -> None:
    with pytest.raises(ShapeError, match="BiasAdd"):
        nn.bias_add(const(np.zeros((2, 3))), const(np.zeros(4)))


def test_l2_loss_and_gradient() -> None:
    x = const([[1.0, -2.0], [3.0, 0.5]])
    with opcore.GradientTape() as tape:
        tape.watch(x)
        y = nn.l2_loss(x)
    assert y.shape == ()
    assert float(y.numpy()) == pytest.approx(0.5 * (1 + 4 + 9 + 0.25))
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), x.numpy())


# --------------------------------------------------------------------------- dropout


def test_dropout_scales_kept_values_and_the_gradient_follows_the_mask() -> None:
    x = const(np.full((20, 50), 2.0), "float32")
    with opcore.GradientTape() as tape:
        tape.watch(x)
        y = nn.dropout(x, 0.25, seed=5)
    out = y.numpy()
    kept = out != 0
    np.testing.assert_allclose(out[kept], 2.0 / 0.75, rtol=1e-6)
    assert 0.65 < kept.mean() < 0.85
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), kept / 0.75, rtol=1e-6)
    np.testing.assert_array_equal(nn.dropout(x, 0.25, seed=5).numpy(), out)  # same op seed, same mask


def test_dropout_outside_training_is_the_identity() -> None:
    x = const([1.0, 2.0])
    assert nn.dropout(x, 0.5, training=False) is x


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5, float("nan")])
def test_dropout_rejects_rates_outside_0_1(rate: float) -> None:
    with pytest.raises(OpDefinitionError, match="rate"):
        nn.dropout(const([1.0]), rate)


def test_conv2d_memory_does_not_grow_with_dilation_or_padding() -> None:
    import tracemalloc

    x = opcore.constant(np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1))
    w = opcore.Variable(np.ones((3, 3, 1, 1), np.float32))
    tracemalloc.start()
    with opcore.GradientTape() as tape:
        y = opcore.conv2d(x, w, strides=[1, 1, 1, 1], padding="SAME", dilations=[1, 5000, 5000, 1])
        loss = opcore.reduce_sum(y)
    g = tape.gradient(loss, w)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # Only the centre tap ever reads the input: y == x, and only the centre of dw is non-zero.
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    expected = np.zeros((3, 3, 1, 1), np.float32)
    expected[1, 1] = x.numpy().sum()
    np.testing.assert_array_equal(g.numpy(), expected)
    assert peak < 1e6, peak  # explicit padding would need (10004 x 10004) floats: 400 MB


SOFTMAX_CASES = [
    # (shape, axis, logits' offset): the unshifted path (every sum of exp(x) in [1, FLT_MAX]),
    # rows whose sum is below 1 or overflows, long rows (summed by np.add.reduce), a middle
    # axis, rows the threads split
    ((7, 13), -1, 0.0),
    ((3, 5, 40), -1, -85.0),
    ((6, 20), -1, 75.0),
    ((6, 20), -1, 95.0),
    ((4, 9000), -1, 0.0),
    ((5, 6, 7), 1, 3.0),
    ((1100, 300), -1, 2.0),
    ((2, 1), -1, 0.0),
]


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize(("shape", "axis", "offset"), SOFTMAX_CASES)
def test_softmax_matches_a_float64_reference(shape: tuple[int, ...], axis: int, offset: float, dtype: str) -> None:
    rng = np.random.default_rng(5)
    x = (rng.normal(size=shape) * 4 + offset).astype(dtype)
    wide = x.astype(np.longdouble)  # 80-bit on x86: a reference more precise than float64
    e = np.exp(wide - wide.max(axis=axis, keepdims=True))
    want = e / e.sum(axis=axis, keepdims=True)
    got = nn.softmax(opcore.constant(x), axis=axis).numpy()
    assert got.dtype == dtype
    eps = float(np.finfo(dtype).eps)
    tiny = float(np.finfo(dtype).smallest_subnormal)  # the spacing of subnormal results
    np.testing.assert_allclose(got.astype(np.longdouble), want, rtol=8 * eps, atol=tiny)


def test_softmax_of_nan_infinite_and_tiny_logits() -> None:
    nan_row = nn.softmax(opcore.constant(np.array([[1.0, np.nan, 0.0]], np.float32))).numpy()
    assert np.isnan(nan_row).all()  # a NaN: the row is NaN
    x = np.array(
        [
            [-np.inf, 0.0, 0.0],  # -inf contributes nothing
            [2.0, -100.0, -120.0],  # subnormal and zero results
            [0.0, 0.0, 0.0],
        ],
        np.float32,
    )
    got = nn.softmax(opcore.constant(x)).numpy()
    np.testing.assert_array_equal(got[0], [0.0, 0.5, 0.5])
    x64 = x[1].astype(np.float64)
    tiny = float(np.finfo(np.float32).smallest_subnormal)
    np.testing.assert_allclose(got[1], np.exp(x64 - x64.max()) / np.exp(x64 - x64.max()).sum(), rtol=1e-6, atol=tiny)
    assert got[1, 1] > 0
    np.testing.assert_allclose(got[2], [1 / 3] * 3, rtol=1e-7)


@pytest.mark.parametrize("threads", [False, True])
def test_softmax_rows_do_not_depend_on_their_neighbours(threads: bool, monkeypatch: Any) -> None:
    """Rows that need the maximum subtracted (sums below 1 or overflowing, NaN) beside rows
    that do not: each row's result is the one it gets alone, however rows are split."""
    from opcore_numpy.kernels import _parallel

    if threads:
        monkeypatch.setattr(_parallel, "MIN_PER_THREAD", 64)
    rng = np.random.default_rng(9)
    x = rng.normal(size=(40, 50)).astype(np.float32) * 3
    x[3] -= 120.0  # every exp(x) underflows
    x[7] += 120.0  # every exp(x) overflows
    x[11, 4] = np.nan
    x[13] -= 8.0  # the sum of exp(x) is below 1
    got = nn.softmax(opcore.constant(x)).numpy()
    for i in range(x.shape[0]):
        alone = nn.softmax(opcore.constant(x[i : i + 1])).numpy()[0]
        np.testing.assert_array_equal(got[i], alone)
    assert np.isnan(got[11]).all() and not np.isnan(np.delete(got, 11, axis=0)).any()
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=1, keepdims=True))
    ok = np.arange(40) != 11
    np.testing.assert_allclose(got[ok], (e / e.sum(axis=1, keepdims=True))[ok], rtol=1e-6, atol=1e-30)
