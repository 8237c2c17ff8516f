"""Optimizers and fused update ops (opcore.train), eagerly: first steps against hand-computed references, minimize.

Learning rates as tensors, schedules and configs are tested in test_train_hyperparameters.py, graph mode in
test_train_graph.py.
"""

from __future__ import annotations

import doctest
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import opcore
import opcore.ops.train as train_ops
import opcore.train as T
from opcore.train import optimizer as optimizer_module
from opcore.train import optimizers as optimizers_module
from opcore.train import schedules as schedules_module
from tests.optimizer_cases import OPTIMIZERS

# Three fixed gradients, applied in turn to a float64 variable starting at W0.
W0 = np.array([[1.0, -2.0, 0.5], [0.25, 3.0, -1.5]])
GRADS = [
    np.array([[0.5, -1.0, 2.0], [0.1, 0.0, -0.3]]),
    np.array([[-0.2, 0.4, 1.0], [1.5, -0.7, 0.2]]),
    np.array([[0.3, 0.3, -0.6], [-0.9, 0.8, 0.05]]),
]


def _run_eager(opt: T.Optimizer) -> tuple[opcore.Variable, T.Optimizer]:
    w = opcore.Variable(W0, name="w")
    for g in GRADS:
        assert opt.apply_gradients([(opcore.constant(g), w)]) is None
    return w, opt


def _slot(opt: T.Optimizer, w: Any, name: str) -> np.ndarray:
    slot = opt.get_slot(w, name)
    assert slot is not None, f"no slot {name!r}"
    return np.asarray(slot.numpy())


# --------------------------------------------------------------------------- hand-computed references


def _ref_gd(lr: float) -> np.ndarray:
    w = W0.copy()
    for g in GRADS:
        w = w - lr * g
    return w


def _ref_momentum(lr: float, mu: float, nesterov: bool) -> tuple[np.ndarray, np.ndarray]:
    w, a = W0.copy(), np.zeros_like(W0)
    for g in GRADS:
        a = mu * a + g
        w = w - (lr * g + lr * mu * a if nesterov else lr * a)
    return w, a


def _ref_adagrad(lr: float, init: float) -> tuple[np.ndarray, np.ndarray]:
    w, a = W0.copy(), np.full_like(W0, init)
    for g in GRADS:
        a = a + g * g
        w = w - lr * g / np.sqrt(a)
    return w, a


def _ref_adadelta(lr: float, rho: float, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    w, a, u = W0.copy(), np.zeros_like(W0), np.zeros_like(W0)
    for g in GRADS:
        a = rho * a + (1 - rho) * g * g
        upd = np.sqrt(u + eps) / np.sqrt(a + eps) * g
        u = rho * u + (1 - rho) * upd * upd
        w = w - lr * upd
    return w, a, u


def _ref_rmsprop(lr: float, rho: float, mu: float, eps: float, ms0: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    w, ms, mom = W0.copy(), np.full_like(W0, ms0), np.zeros_like(W0)
    for g in GRADS:
        ms = rho * ms + (1 - rho) * g * g
        mom = mu * mom + lr * g / np.sqrt(ms + eps)
        w = w - mom
    return w, ms, mom


def _ref_adam(lr: float, b1: float, b2: float, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    w, m, v = W0.copy(), np.zeros_like(W0), np.zeros_like(W0)
    for t, g in enumerate(GRADS, start=1):
        lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr_t * m / (np.sqrt(v) + eps)
    return w, m, v


# --------------------------------------------------------------------------- eager: first steps vs references


def test_gradient_descent_steps() -> None:
    w, _ = _run_eager(T.GradientDescentOptimizer(0.1))
    np.testing.assert_allclose(w.numpy(), _ref_gd(0.1), rtol=1e-12)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_steps(nesterov: bool) -> None:
    w, opt = _run_eager(T.MomentumOptimizer(0.1, 0.9, use_nesterov=nesterov))
    ref_w, ref_a = _ref_momentum(0.1, 0.9, nesterov)
    np.testing.assert_allclose(w.numpy(), ref_w, rtol=1e-12)
    np.testing.assert_allclose(_slot(opt, w, "momentum"), ref_a, rtol=1e-12)


def test_nesterov_differs_from_plain_momentum() -> None:
    plain, _ = _run_eager(T.MomentumOptimizer(0.1, 0.9))
    nest, _ = _run_eager(T.MomentumOptimizer(0.1, 0.9, use_nesterov=True))
    assert not np.allclose(plain.numpy(), nest.numpy())


def test_adagrad_steps() -> None:
    w, opt = _run_eager(T.AdagradOptimizer(0.2, initial_accumulator_value=0.1))
    ref_w, ref_a = _ref_adagrad(0.2, 0.1)
    np.testing.assert_allclose(w.numpy(), ref_w, rtol=1e-12)
    np.testing.assert_allclose(_slot(opt, w, "accumulator"), ref_a, rtol=1e-12)


def test_adadelta_steps() -> None:
    w, opt = _run_eager(T.AdadeltaOptimizer(1.0, rho=0.9, epsilon=1e-6))
    ref_w, ref_a, ref_u = _ref_adadelta(1.0, 0.9, 1e-6)
    np.testing.assert_allclose(w.numpy(), ref_w, rtol=1e-12)
    np.testing.assert_allclose(_slot(opt, w, "accum"), ref_a, rtol=1e-12)
    np.testing.assert_allclose(_slot(opt, w, "accum_update"), ref_u, rtol=1e-12)


@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_rmsprop_steps(momentum: float) -> None:
    w, opt = _run_eager(T.RMSPropOptimizer(0.01, decay=0.9, momentum=momentum, epsilon=1e-10))
    ref_w, ref_ms, ref_mom = _ref_rmsprop(0.01, 0.9, momentum, 1e-10, ms0=1.0)  # TF1: rms starts at 1
    np.testing.assert_allclose(w.numpy(), ref_w, rtol=1e-12)
    np.testing.assert_allclose(_slot(opt, w, "rms"), ref_ms, rtol=1e-12)
    np.testing.assert_allclose(_slot(opt, w, "momentum"), ref_mom, rtol=1e-12)


def test_keras_rmsprop_starts_mean_square_at_zero() -> None:
    w, _ = _run_eager(T.RMSprop(0.01, rho=0.9, epsilon=1e-7))
    ref_w, _, _ = _ref_rmsprop(0.01, 0.9, 0.0, 1e-7, ms0=0.0)
    np.testing.assert_allclose(w.numpy(), ref_w, rtol=1e-12)


def test_adam_steps_and_beta_powers() -> None:
    w, opt = _run_eager(T.AdamOptimizer(0.1, beta1=0.8, beta2=0.99, epsilon=1e-8))
    ref_w, ref_m, ref_v = _ref_adam(0.1, 0.8, 0.99, 1e-8)
    np.testing.assert_allclose(w.numpy(), ref_w, rtol=1e-12)
    np.testing.assert_allclose(_slot(opt, w, "m"), ref_m, rtol=1e-12)
    np.testing.assert_allclose(_slot(opt, w, "v"), ref_v, rtol=1e-12)
    powers = {v.name: float(v.numpy()) for v in opt.variables() if "power" in v.name}
    assert powers == pytest.approx({"beta1_power": 0.8**4, "beta2_power": 0.99**4})


def test_keras_aliases_match_tf1_classes() -> None:
    sgd, _ = _run_eager(T.SGD(0.1))
    np.testing.assert_allclose(sgd.numpy(), _ref_gd(0.1), rtol=1e-12)
    sgd_m, opt = _run_eager(T.SGD(0.1, momentum=0.9, nesterov=True))
    np.testing.assert_allclose(sgd_m.numpy(), _ref_momentum(0.1, 0.9, True)[0], rtol=1e-12)
    assert opt.get_slot_names() == ["momentum"]
    adam, _ = _run_eager(T.Adam(0.1, beta_1=0.8, beta_2=0.99, epsilon=1e-8))
    np.testing.assert_allclose(adam.numpy(), _ref_adam(0.1, 0.8, 0.99, 1e-8)[0], rtol=1e-12)
    assert T.Momentum is T.MomentumOptimizer


def test_float32_and_float16_variables_keep_their_dtype() -> None:
    for dtype in ("float32", "float16"):
        w = opcore.Variable(W0.astype(dtype))
        opt = T.AdamOptimizer(0.01, epsilon=1e-4)  # 1e-8 would round to 0 in float16: 0/0 for zero gradients
        opt.apply_gradients([(opcore.constant(GRADS[0].astype(dtype)), w)])
        assert w.dtype is opcore.as_dtype(dtype)
        assert opt.get_slot(w, "m").dtype is opcore.as_dtype(dtype)
        np.testing.assert_allclose(w.numpy(), W0 - 0.01 * np.sign(GRADS[0]) * (GRADS[0] != 0), atol=2e-3)


def test_slots_are_not_trainable_and_named_after_the_variable() -> None:
    w, opt = _run_eager(T.AdadeltaOptimizer(1.0))
    slots = [opt.get_slot(w, n) for n in opt.get_slot_names()]
    assert [s.name for s in slots] == ["w/accum", "w/accum_update"]
    assert not any(s.trainable for s in slots)
    assert opt.get_slot(opcore.Variable(1.0), "accum") is None


# --------------------------------------------------------------------------- eager: minimize


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_minimize_quadratic_converges(make: Callable[[], T.Optimizer]) -> None:
    target = opcore.constant([1.0, -2.0, 3.0])
    w = opcore.Variable([0.0, 0.0, 0.0])
    opt = make()

    def loss() -> Any:
        return opcore.reduce_sum(opcore.square(w - target))

    start = float(loss())
    for _ in range(300):
        opt.minimize(loss, var_list=[w])
    assert float(loss()) < 1e-3 * start, (type(opt).__name__, w.numpy())


def test_minimize_gathers_watched_variables_when_var_list_is_omitted() -> None:
    w = opcore.Variable(3.0)
    frozen = opcore.Variable(2.0, trainable=False)
    opt = T.GradientDescentOptimizer(0.25)
    opt.minimize(lambda: w * w * frozen)
    assert float(w.numpy()) == pytest.approx(3.0 - 0.25 * 2 * 3.0 * 2.0)
    assert float(frozen.numpy()) == 2.0


def test_compute_gradients_pairs_and_unconnected_none() -> None:
    w, unused = opcore.Variable([1.0, 2.0]), opcore.Variable([5.0])
    opt = T.GradientDescentOptimizer(0.1)
    pairs = opt.compute_gradients(lambda: opcore.reduce_sum(w * w), var_list=[w, unused])
    assert len(pairs) == 2 and pairs[0][1] is w and pairs[1][1] is unused
    np.testing.assert_allclose(pairs[0][0].numpy(), [2.0, 4.0])
    assert pairs[1][0] is None
    opt.apply_gradients(pairs)  # None gradients are skipped
    np.testing.assert_allclose(w.numpy(), [0.8, 1.6], rtol=1e-6)
    np.testing.assert_allclose(unused.numpy(), [5.0])


def test_minimize_with_an_explicit_tape() -> None:
    w = opcore.Variable([1.0, -1.0])
    with opcore.GradientTape() as tape:
        loss = opcore.reduce_sum(w * w)
    T.GradientDescentOptimizer(0.5).minimize(loss, var_list=[w], tape=tape)
    np.testing.assert_allclose(w.numpy(), [0.0, 0.0])


def test_eager_loss_must_be_callable() -> None:
    w = opcore.Variable(1.0)
    with pytest.raises(TypeError, match="zero-argument callable"):
        T.AdamOptimizer().minimize(opcore.reduce_sum(w * w), var_list=[w])


def test_no_gradient_for_any_variable_is_an_error() -> None:
    w = opcore.Variable(1.0)
    with pytest.raises(ValueError, match="no gradients provided"):
        T.GradientDescentOptimizer(0.1).minimize(lambda: opcore.constant(3.0) * 2.0, var_list=[w])
    with pytest.raises(ValueError, match="no gradients provided"):
        T.GradientDescentOptimizer(0.1).apply_gradients([(None, w)])


def test_bad_inputs_raise_clear_errors() -> None:
    w = opcore.Variable([1.0, 2.0])
    with pytest.raises(TypeError, match="learning_rate must be a number"):
        T.GradientDescentOptimizer("fast")
    with pytest.raises(TypeError, match=r"only optimize opcore\.Variable"):
        T.GradientDescentOptimizer(0.1).apply_gradients([(opcore.constant([1.0, 1.0]), opcore.constant([1.0, 2.0]))])
    with pytest.raises(opcore.DTypeError, match="has dtype float64"):
        T.GradientDescentOptimizer(0.1).apply_gradients([(opcore.constant([1.0, 1.0], dtype="float64"), w)])
    with pytest.raises(opcore.ShapeError, match="ApplyGradientDescent"):
        T.GradientDescentOptimizer(0.1).apply_gradients([(opcore.constant([1.0, 1.0, 1.0]), w)])
    with pytest.raises(TypeError, match=r"\(gradient, variable\) pairs"):
        T.GradientDescentOptimizer(0.1).apply_gradients([w])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="initial_accumulator_value must be positive"):
        T.AdagradOptimizer(0.1, initial_accumulator_value=0.0)
    with pytest.raises(ValueError, match="must be a scalar"):
        T.AdamOptimizer(opcore.constant([0.1, 0.2]))
    with pytest.raises(opcore.DTypeError, match="floating"):
        T.AdamOptimizer(opcore.constant(1))


# --------------------------------------------------------------------------- the fused ops themselves


def test_fused_ops_check_shapes_and_scalars() -> None:
    var, grad = opcore.constant(np.ones((2, 3))), opcore.constant(np.ones((2, 3)))
    with pytest.raises(opcore.ShapeError, match=r"ApplyMomentum: 'accum' must have the shape of 'var'"):
        train_ops.apply_momentum(var, opcore.constant(np.ones((3, 2))), 0.1, grad, 0.9)
    with pytest.raises(opcore.ShapeError, match=r"ApplyAdam: hyperparameter 'lr' must be a scalar"):
        z = opcore.constant(np.zeros((2, 3)))
        train_ops.apply_adam(var, z, z, 0.9, 0.99, opcore.constant([0.1]), 0.9, 0.999, 1e-8, grad)
    with pytest.raises(opcore.DTypeError, match="ApplyGradientDescent"):
        train_ops.apply_gradient_descent(opcore.constant([1, 2]), 1, opcore.constant([1, 1]))
    for op in ("ApplyGradientDescent", "ApplyMomentum", "ApplyAdagrad", "ApplyAdadelta", "ApplyRMSProp", "ApplyAdam"):
        assert not opcore.get_op(op).differentiable


def test_fused_op_does_not_mutate_its_inputs() -> None:
    var, m, v = opcore.constant(W0), opcore.constant(W0), opcore.constant(np.abs(W0))
    before = var.numpy()
    out = train_ops.apply_adam(var, m, v, 0.9, 0.999, 0.1, 0.9, 0.999, 1e-8, opcore.constant(GRADS[0]))
    assert len(out) == 3
    np.testing.assert_array_equal(var.numpy(), before)


# --------------------------------------------------------------------------- examples in docstrings


@pytest.mark.parametrize(
    "module", [train_ops, T, optimizer_module, optimizers_module, schedules_module], ids=lambda m: m.__name__
)
def test_docstring_examples(module: Any) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_eager_minimize_misuse_raises_opcore_errors_that_stay_value_and_type_errors() -> None:
    v = opcore.Variable(1.0)
    opt = opcore.train.GradientDescentOptimizer(0.1)
    cases = [
        (lambda: opt.minimize(v * v), r"loss must be a zero-argument callable"),
        (lambda: opt.minimize(lambda: opcore.constant(3.0)), r"no variables to optimize"),
        (lambda: opt.minimize(lambda: v * v, var_list=[1.0]), r"can only optimize opcore.Variable"),
        (lambda: opt.apply_gradients([1.0]), r"apply_gradients takes \(gradient, variable\) pairs"),
    ]
    for call, message in cases:
        with pytest.raises(opcore.InvalidArgumentError, match=message) as err:
            call()
        assert isinstance(err.value, ValueError) and isinstance(err.value, TypeError)
    assert float(v.numpy()) == 1.0  # nothing was applied


# --------------------------------------------------------------------------- in-place updates in sessions


def _adam_graph() -> tuple[Any, Any, Any, Any]:
    w = opcore.Variable(W0.copy(), name="w")
    g = opcore.placeholder(opcore.float64, [2, 3])
    train = T.AdamOptimizer(0.1).minimize(opcore.reduce_sum(w * g))
    return w, g, train, opcore.global_variables_initializer()


def _session_buffer(sess: opcore.Session, var: Any) -> Any:
    return sess._values[var]


def test_session_updates_write_into_the_variable_buffers_and_match_functional_updates() -> None:
    with opcore.Graph().as_default():
        w, g, train, init = _adam_graph()
        with opcore.Session() as sess:
            sess.run(init)
            sess.run(train, {g: GRADS[0]})  # the initial values may be shared with the graph's constants
            buffer = weakref.ref(_session_buffer(sess, w))  # (a reference would keep the update functional)
            for grad in GRADS[1:]:
                sess.run(train, {g: grad})
                assert _session_buffer(sess, w) is buffer()  # written in place
            got = sess.run(w)
    eager = opcore.Variable(W0.copy())
    opt = T.AdamOptimizer(0.1)
    for grad in GRADS:
        opt.apply_gradients([(opcore.constant(grad), eager)])
    np.testing.assert_allclose(got, eager.numpy(), rtol=1e-12)


def test_session_update_leaves_a_view_taken_before_it_in_the_same_run_as_it_was() -> None:
    with opcore.Graph().as_default():
        w = opcore.Variable(W0.copy(), name="w")
        g = opcore.placeholder(opcore.float64, [2, 3])
        flat = opcore.reshape(w, [-1])  # runs before the update; a view of the buffer on NumPy
        train = T.AdamOptimizer(0.1).minimize(opcore.reduce_sum(w * g))
        with opcore.Session() as sess:
            sess.run(opcore.global_variables_initializer())
            for grad in GRADS[:2]:
                before = sess.run(w)
                _, fetched = sess.run([train, flat], {g: grad})
                np.testing.assert_array_equal(fetched, before.ravel())
                assert not np.array_equal(sess.run(w), before)


def test_session_update_never_writes_into_a_buffer_that_another_variable_shares() -> None:
    with opcore.Graph().as_default():
        w, g, train, init = _adam_graph()
        copy = opcore.Variable(np.zeros((2, 3)), name="copy")
        snapshot = copy.assign(w)  # on NumPy both variables then hold one buffer
        with opcore.Session() as sess:
            sess.run(init)
            sess.run(train, {g: GRADS[0]})
            sess.run(snapshot)
            kept = sess.run(copy)
            for grad in GRADS[1:]:
                sess.run(train, {g: grad})
            np.testing.assert_array_equal(sess.run(copy), kept)
            assert not np.array_equal(sess.run(w), kept)


def test_session_update_never_writes_into_a_fed_array() -> None:
    with opcore.Graph().as_default():
        w, g, train, init = _adam_graph()
        with opcore.Session() as sess:
            sess.run(init)
            mine = W0.copy()
            sess.run(train, {g: GRADS[0], w.value(): mine})
            np.testing.assert_array_equal(mine, W0)


def test_session_update_is_functional_while_another_run_is_in_flight() -> None:
    with opcore.Graph().as_default():
        w, g, train, init = _adam_graph()
        with opcore.Session() as sess:
            sess.run(init)
            sess.run(train, {g: GRADS[0]})
            buffer = weakref.ref(_session_buffer(sess, w))
            sess._running += 1  # as while another thread's run of this session is under way
            try:
                sess.run(train, {g: GRADS[1]})
            finally:
                sess._running -= 1
            assert _session_buffer(sess, w) is not buffer()
            sess.run(train, {g: GRADS[2]})
            got = sess.run(w)
    eager = opcore.Variable(W0.copy())
    opt = T.AdamOptimizer(0.1)
    for grad in GRADS:
        opt.apply_gradients([(opcore.constant(grad), eager)])
    np.testing.assert_allclose(got, eager.numpy(), rtol=1e-12)


def test_concurrent_session_runs_train_consistently() -> None:
    # Runs from three threads: no deadlock, no error, and no fetch ever sees a half-written update.
    import threading

    with opcore.Graph().as_default():
        w = opcore.Variable(np.zeros((64, 64)), name="w")
        g = opcore.placeholder(opcore.float64, [64, 64])
        train = T.GradientDescentOptimizer(1.0).minimize(opcore.reduce_sum(w * g))
        with opcore.Session() as sess:
            sess.run(opcore.global_variables_initializer())
            errors: list[BaseException] = []

            def work() -> None:
                try:
                    for _ in range(50):
                        sess.run(train, {g: np.full((64, 64), -1.0)})  # w += 1 per run
                        got = sess.run(w)
                        assert np.all(got == got.flat[0])  # never half written
                except BaseException as exc:  # (reported by the main thread)
                    errors.append(exc)

            threads = [threading.Thread(target=work) for _ in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert not errors, errors[0]
            assert 0 < sess.run(w).flat[0] <= 150  # (concurrent read-modify-writes may overlap, as in TF1)
