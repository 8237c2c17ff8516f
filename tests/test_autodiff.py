"""GradientTape: first and higher order, variables, persistence, errors."""

from __future__ import annotations

import numpy as np
import pytest

import opcore
from opcore import shapes
from opcore.registry import OpDef


def test_gradient_of_a_small_model() -> None:
    x = opcore.constant(np.array([[1.0, 2.0], [3.0, 4.0]], np.float64))
    w = opcore.Variable(np.array([[0.5], [-1.0]]))
    b = opcore.Variable(np.array([0.25]))
    with opcore.GradientTape() as tape:
        loss = opcore.reduce_sum(opcore.square(x @ w + b))
    gw, gb = tape.gradient(loss, [w, b])
    r = x.numpy() @ w.numpy() + b.numpy()
    np.testing.assert_allclose(gw.numpy(), 2 * x.numpy().T @ r)
    np.testing.assert_allclose(gb.numpy(), [2 * r.sum()])


def test_higher_order_by_nesting_tapes() -> None:
    x = opcore.constant(0.7, dtype="float64")
    with opcore.GradientTape() as t2:
        t2.watch(x)
        with opcore.GradientTape() as t1:
            t1.watch(x)
            y = opcore.tanh(x)
        dy = t1.gradient(y, x)
    d2y = t2.gradient(dy, x)
    th = np.tanh(0.7)
    assert float(dy) == pytest.approx(1 - th**2)
    assert float(d2y) == pytest.approx(-2 * th * (1 - th**2))


def test_persistent_tape_and_spent_tape() -> None:
    x = opcore.constant(3.0)
    with opcore.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        z = y * x
    assert float(tape.gradient(y, x)) == 6.0
    assert float(tape.gradient(z, x)) == 27.0
    with opcore.GradientTape() as once:
        once.watch(x)
        y = x * x
    once.gradient(y, x)
    with pytest.raises(opcore.GradientError, match="persistent"):
        once.gradient(y, x)


def test_unconnected_and_non_differentiable() -> None:
    x = opcore.constant([1.0, 2.0])
    other = opcore.constant([3.0])
    with opcore.GradientTape(persistent=True) as tape:
        tape.watch([x, other])
        y = opcore.reduce_sum(opcore.cast(opcore.greater(x, 1.5), "float32") * x)
    assert tape.gradient(y, other) is None
    assert tape.gradient(y, other, unconnected_gradients="zero").numpy().tolist() == [0.0]
    assert tape.gradient(y, x).numpy().tolist() == [0.0, 1.0]


def test_differentiable_op_without_gradient_names_it() -> None:
    op = OpDef(
        "test.NoGrad", inputs=["x: T"], outputs=["y: T"], type_vars={"T": "float32"}, shape_fn=shapes.unchanged("x")
    )
    reg = opcore.get_registry()
    with reg.plugin_scope("test-nograd"):
        reg.register_op(op)
        reg.register_kernel(op, "numpy", lambda ctx, x: x * 2)
    try:
        x = opcore.constant([1.0])
        with opcore.GradientTape() as tape:
            tape.watch(x)
            y = op(x)
        with pytest.raises(opcore.GradientError, match=r"'test\.NoGrad' .*no registered gradient.*gradient=fn"):
            tape.gradient(y, x)
    finally:
        reg.ops.pop("test.NoGrad")


def test_only_trainable_variables_are_watched() -> None:
    w = opcore.Variable([2.0])
    frozen = opcore.Variable([3.0], trainable=False)
    with opcore.GradientTape() as tape:
        y = w * frozen
    assert tape.watched_variables() == [w]
    gw, gf = tape.gradient(y, [w, frozen])
    assert gw.numpy().tolist() == [3.0] and gf is None
