"""Learning rates as tensors, callables and schedules, the global step, and optimizers from names and configs
(opcore.train)."""

from __future__ import annotations

import numpy as np
import pytest

import opcore
import opcore.train as T
from opcore.train import schedules as schedules_module

# --------------------------------------------------------------------------- hyperparameters as tensors, callables


def test_learning_rate_as_variable_tensor_and_callable() -> None:
    lr = opcore.Variable(0.5, trainable=False)
    w = opcore.Variable([1.0])
    opt = T.GradientDescentOptimizer(lr)
    opt.apply_gradients([(opcore.constant([1.0]), w)])
    lr.assign(0.25)  # the optimizer reads the variable on every step
    opt.apply_gradients([(opcore.constant([1.0]), w)])
    np.testing.assert_allclose(w.numpy(), [0.25])
    # a float64 tensor for a float32 variable is cast
    w2 = opcore.Variable([1.0])
    T.GradientDescentOptimizer(opcore.constant(0.5, dtype="float64")).apply_gradients([(opcore.constant([1.0]), w2)])
    assert w2.dtype is opcore.float32
    np.testing.assert_allclose(w2.numpy(), [0.5])
    calls = []

    def rate() -> float:
        calls.append(1)
        return 0.1

    w3 = opcore.Variable([1.0])
    opt3 = T.MomentumOptimizer(rate, momentum=lambda: 0.0)
    for _ in range(2):
        opt3.apply_gradients([(opcore.constant([1.0]), w3)])
    assert len(calls) == 2
    np.testing.assert_allclose(w3.numpy(), [0.8], rtol=1e-6)


def test_schedule_learning_rate_uses_the_iteration_count() -> None:
    schedule = T.ExponentialDecay(1.0, decay_steps=1, decay_rate=0.5)
    w = opcore.Variable([0.0], dtype="float64")
    opt = T.GradientDescentOptimizer(schedule)
    for _ in range(3):
        opt.apply_gradients([(opcore.constant([-1.0], dtype="float64"), w)])
    assert opt.iterations == 3
    np.testing.assert_allclose(w.numpy(), [1.0 + 0.5 + 0.25], rtol=1e-6)


def test_schedule_learning_rate_uses_the_global_step_when_given() -> None:
    step = opcore.Variable(np.int64(10), trainable=False)
    schedule = T.PiecewiseConstantDecay([10], [1.0, 0.1])
    w = opcore.Variable([0.0])
    opt = T.GradientDescentOptimizer(schedule)
    opt.apply_gradients([(opcore.constant([-1.0]), w)], global_step=step)  # step 10: 1.0
    opt.apply_gradients([(opcore.constant([-1.0]), w)], global_step=step)  # step 11: 0.1
    assert int(step.numpy()) == 12
    np.testing.assert_allclose(w.numpy(), [1.1], rtol=1e-6)


def test_global_step_increments_once_per_apply() -> None:
    step = opcore.Variable(np.int64(0), trainable=False)
    w, v = opcore.Variable([1.0]), opcore.Variable([2.0])
    opt = T.AdamOptimizer(0.1)
    for _ in range(4):
        opt.minimize(lambda: opcore.reduce_sum(w * v), var_list=[w, v], global_step=step)
    assert int(step.numpy()) == 4
    assert step.dtype is opcore.int64
    assert opt.iterations == 4


def test_get_or_create_global_step_eager() -> None:
    step = T.get_or_create_global_step()
    assert step is T.get_or_create_global_step() is T.get_global_step()
    assert step.dtype is opcore.int64 and not step.trainable and step.name == "global_step"


# --------------------------------------------------------------------------- schedules


def test_schedule_values() -> None:
    exp = T.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert [float(exp(s)) for s in (0, 5, 10, 20)] == pytest.approx([0.1, 0.1 * 0.5**0.5, 0.05, 0.025], rel=1e-6)
    stair = T.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    assert [float(stair(s)) for s in (0, 9, 10, 19, 20)] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025], rel=1e-6)
    inv = T.InverseTimeDecay(1.0, decay_steps=2, decay_rate=0.5)
    assert [float(inv(s)) for s in (0, 1, 2, 4)] == pytest.approx([1.0, 1 / 1.25, 1 / 1.5, 0.5], rel=1e-6)
    inv_stair = T.InverseTimeDecay(1.0, decay_steps=2, decay_rate=0.5, staircase=True)
    assert [float(inv_stair(s)) for s in (0, 1, 2, 3)] == pytest.approx([1.0, 1.0, 1 / 1.5, 1 / 1.5], rel=1e-6)
    pw = T.PiecewiseConstantDecay([100, 200], [0.1, 0.01, 0.001])
    got = [float(pw(s)) for s in (0, 100, 101, 200, 201, 10**6)]
    assert got == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert float(pw(150)) == np.float32(0.01)  # the value itself, no arithmetic on it


def test_schedules_accept_tensors_and_variables_as_step() -> None:
    exp = T.ExponentialDecay(1.0, decay_steps=1, decay_rate=0.5)
    assert float(exp(opcore.constant(2))) == pytest.approx(0.25)
    assert float(exp(opcore.Variable(np.int64(3), trainable=False))) == pytest.approx(0.125)
    assert float(exp(np.int64(1))) == pytest.approx(0.5)
    with pytest.raises(TypeError, match="step"):
        exp("3")


def test_tf1_schedule_functions_return_callables_eagerly() -> None:
    step = opcore.Variable(np.int64(0), trainable=False)
    lr = T.exponential_decay(0.1, step, decay_steps=1, decay_rate=0.5)
    assert callable(lr)
    assert float(lr()) == pytest.approx(0.1)
    step.assign(np.int64(2))
    assert float(lr()) == pytest.approx(0.025)
    assert float(T.inverse_time_decay(1.0, step, 1, 1.0)()) == pytest.approx(1 / 3)
    assert float(T.piecewise_constant(step, [1], [1.0, 2.0])()) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="global_step is required"):
        T.exponential_decay(0.1, None, 1, 0.5)


def test_schedule_argument_errors_and_config() -> None:
    with pytest.raises(ValueError, match="one more entry"):
        T.PiecewiseConstantDecay([1, 2], [1.0, 2.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        T.PiecewiseConstantDecay([2, 1], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="decay_steps must be > 0"):
        T.ExponentialDecay(0.1, 0, 0.5)
    s = T.InverseTimeDecay(0.5, 10, 0.1, staircase=True)
    again = schedules_module.deserialize(schedules_module.serialize(s))
    assert isinstance(again, T.InverseTimeDecay) and again.get_config() == s.get_config()
    with pytest.raises(ValueError, match="unknown learning-rate schedule"):
        schedules_module.deserialize({"class_name": "Cosine", "config": {}})


# --------------------------------------------------------------------------- get() and configs


def test_get_by_name_instance_and_config() -> None:
    expected = {
        "sgd": T.SGD,
        "momentum": T.SGD,
        "adagrad": T.Adagrad,
        "adadelta": T.Adadelta,
        "rmsprop": T.RMSprop,
        "adam": T.Adam,
    }
    for name, cls in expected.items():
        assert type(T.get(name)) is cls
        assert type(T.get(name.upper())) is cls
    assert T.get("momentum").get_config()["momentum"] == 0.9
    opt = T.AdamOptimizer(0.01)
    assert T.get(opt) is opt
    with pytest.raises(ValueError, match="adadelta, adagrad, adam, momentum, rmsprop, sgd"):
        T.get("adamw")
    with pytest.raises(TypeError, match="cannot make an optimizer"):
        T.get(3)


@pytest.mark.parametrize(
    "opt",
    [
        T.AdamOptimizer(0.01, beta1=0.8),
        T.RMSprop(0.01, rho=0.8),
        T.MomentumOptimizer(T.ExponentialDecay(0.1, 100, 0.9), 0.9, use_nesterov=True),
        T.SGD(0.1, momentum=0.5),
    ],
    ids=repr,
)
def test_config_round_trip(opt: T.Optimizer) -> None:
    config = opt.get_config()
    again = T.get({"class_name": type(opt).__name__, "config": config})
    assert type(again) is type(opt)
    assert again.get_config() == config
