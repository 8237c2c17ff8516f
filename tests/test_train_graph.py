"""Optimizers in graph mode (opcore.train): minimize in a session, the same numbers as eagerly, slots as graph
variables, schedules driven by the global step."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import opcore
import opcore.train as T
from tests.optimizer_cases import OPTIMIZERS

# --------------------------------------------------------------------------- graph mode


def _regression_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + np.float32(0.3)
    return x, y


_W_INIT = np.array([[0.1], [0.2], [-0.1]], np.float32)


def _graph_regression(make: Callable[[], T.Optimizer], steps: int) -> tuple[np.ndarray, float, int]:
    xs, ys = _regression_data()
    with opcore.Graph().as_default():
        x = opcore.placeholder(opcore.float32, [None, 3])
        y = opcore.placeholder(opcore.float32, [None, 1])
        w = opcore.Variable(_W_INIT, name="w")
        b = opcore.Variable(np.zeros((1,), np.float32), name="b")
        loss = opcore.reduce_mean(opcore.square(opcore.matmul(x, w) + b - y))
        step = T.get_or_create_global_step()
        train_op = make().minimize(loss, global_step=step)
        with opcore.Session() as sess:
            sess.run(opcore.global_variables_initializer())
            for _ in range(steps):
                sess.run(train_op, {x: xs, y: ys})
            w_val, loss_val, step_val = sess.run([w, loss, step], {x: xs, y: ys})
    return w_val, float(loss_val), int(step_val)


def _eager_regression(make: Callable[[], T.Optimizer], steps: int) -> np.ndarray:
    xs, ys = _regression_data()
    x, y = opcore.constant(xs), opcore.constant(ys)
    w = opcore.Variable(_W_INIT, name="w")
    b = opcore.Variable(np.zeros((1,), np.float32), name="b")
    opt = make()
    for _ in range(steps):
        opt.minimize(lambda: opcore.reduce_mean(opcore.square(opcore.matmul(x, w) + b - y)), var_list=[w, b])
    return np.asarray(w.numpy())


@pytest.mark.parametrize("make", OPTIMIZERS[:4] + OPTIMIZERS[5:])
def test_graph_linear_regression_converges(make: Callable[[], T.Optimizer]) -> None:
    w, loss, step = _graph_regression(make, 300)
    assert loss < 5e-3, (type(make()).__name__, loss)  # RMSProp with a constant rate hovers near 3e-3
    np.testing.assert_allclose(w.ravel(), [1.0, -2.0, 0.5], atol=0.05)
    assert step == 300


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_graph_and_eager_give_the_same_numbers(make: Callable[[], T.Optimizer]) -> None:
    graph_w, _, _ = _graph_regression(make, 5)
    eager_w = _eager_regression(make, 5)
    np.testing.assert_allclose(graph_w, eager_w, rtol=1e-5, atol=1e-6)


def test_graph_slots_are_global_non_trainable_variables_created_by_minimize() -> None:
    with opcore.Graph().as_default():
        w = opcore.Variable(np.ones((2,), np.float32), name="w")
        loss = opcore.reduce_sum(w * w)
        assert [v.name for v in opcore.global_variables()] == ["w"]
        opt = T.AdamOptimizer(0.1)
        opt.minimize(loss)
        names = {v.name for v in opcore.global_variables()}
        assert {"w", "w/m", "w/v", "beta1_power", "beta2_power"} <= names
        assert [v.name for v in opcore.trainable_variables()] == ["w"]
        assert {v.name for v in opt.variables()} == {"w/m", "w/v", "beta1_power", "beta2_power"}


def test_graph_schedule_with_global_step_and_tf1_function() -> None:
    with opcore.Graph().as_default():
        w = opcore.Variable(np.zeros((1,), np.float32), name="w")
        step = T.get_or_create_global_step()
        assert step is T.get_or_create_global_step()
        lr = T.exponential_decay(1.0, step, decay_steps=1, decay_rate=0.5)
        assert not callable(lr)
        train_op = T.GradientDescentOptimizer(lr).minimize(-opcore.reduce_sum(w), global_step=step)  # gradient -1
        with opcore.Session() as sess:
            sess.run(opcore.global_variables_initializer())
            values = []
            for _ in range(3):
                values.append(float(sess.run(lr)))
                sess.run(train_op)
            # each run reads the step before incrementing it: rates 1, 0.5, 0.25
            assert values == pytest.approx([1.0, 0.5, 0.25])
            assert float(sess.run(w)[0]) == pytest.approx(1.75)
            assert int(sess.run(step)) == 3


def test_graph_schedule_without_global_step_uses_iterations() -> None:
    with opcore.Graph().as_default():
        w = opcore.Variable(np.zeros((1,), np.float32), name="w")
        opt = T.GradientDescentOptimizer(T.PiecewiseConstantDecay([0], [1.0, 0.1]))
        train_op = opt.minimize(-opcore.reduce_sum(w))
        with opcore.Session() as sess:
            sess.run(opcore.global_variables_initializer())
            for _ in range(3):
                sess.run(train_op)
            assert float(sess.run(w)[0]) == pytest.approx(1.2)
            assert int(sess.run(opt.iterations)) == 3


def test_graph_compute_and_apply_gradients() -> None:
    with opcore.Graph().as_default():
        w = opcore.Variable(np.array([1.0, 2.0], np.float32), name="w")
        other = opcore.Variable(np.array([3.0], np.float32), name="other")
        opt = T.MomentumOptimizer(0.1, 0.5)
        pairs = opt.compute_gradients(opcore.reduce_sum(w * w))
        assert len(pairs) == 2 and pairs[0][1] is w and pairs[1][1] is other
        assert pairs[1][0] is None
        train_op = opt.apply_gradients(pairs)
        with opcore.Session() as sess:
            sess.run(opcore.global_variables_initializer())
            sess.run(train_op)
            sess.run(train_op)
            # accum1 = 2w0; w1 = w0 - 0.2 w0 = 0.8 w0; accum2 = 0.5 * 2 w0 + 2 * 0.8 w0 = 2.6 w0; w2 = 0.8 w0 - 0.26 w0
            np.testing.assert_allclose(sess.run(w), [0.54, 1.08], rtol=1e-6)
            np.testing.assert_allclose(sess.run(opt.get_slot(w, "momentum")), [2.6, 5.2], rtol=1e-6)
