"""Graphs and sessions (TensorFlow 1 style)."""

from __future__ import annotations

import numpy as np
import pytest

import opcore


def test_names_scopes_and_build_time_shapes() -> None:
    g = opcore.Graph()
    with g.as_default():
        x = opcore.placeholder(opcore.float32, [None, 784], name="x")
        with opcore.name_scope("layer"):
            w = opcore.Variable(opcore.zeros([784, 10]), name="W")
            y = opcore.matmul(x, w)
            y2 = opcore.matmul(x, w)
        assert x.name == "x:0" and w.name == "layer/W"
        assert y.name == "layer/MatMul:0" and y2.name == "layer/MatMul_1:0"
        assert y.shape == opcore.Shape([None, 10]) and y.dtype is opcore.float32
        with pytest.raises(opcore.ShapeError, match=r"MatMul: inner dimensions differ.*\(\?, 784\).*\(10, 784\)"):
            opcore.matmul(x, opcore.constant(np.zeros((10, 784), np.float32)))
        with pytest.raises(opcore.DTypeError, match="Sqrt does not accept dtype int32"):
            opcore.sqrt(opcore.placeholder(opcore.int32, [3]))
    assert g.trainable_variables() == [w]
    assert opcore.executing_eagerly()


def test_session_runs_nested_fetches_and_only_what_they_need() -> None:
    g = opcore.Graph()
    with g.as_default():
        a = opcore.placeholder(opcore.float32, [2], name="a")
        unused = opcore.placeholder(opcore.float32, [2], name="unused")
        b = a * 2.0
        c = opcore.reduce_sum(b)
        _ = unused + 1.0  # needs a feed, but nothing fetched depends on it
    with opcore.Session(g) as sess:
        out = sess.run({"b": b, "pair": (c, [b])}, feed_dict={a: [1.0, 2.0]})
    assert out["b"].tolist() == [2.0, 4.0]
    assert out["pair"][0] == 6.0 and out["pair"][1][0].tolist() == [2.0, 4.0]
    assert isinstance(out["pair"], tuple) and isinstance(out["pair"][1], list)


def test_feed_errors_name_the_placeholder_expected_and_actual() -> None:
    g = opcore.Graph()
    with g.as_default():
        x = opcore.placeholder(opcore.float32, [None, 3], name="images")
        n = opcore.placeholder(opcore.int32, [], name="count")
        y = opcore.reduce_sum(x) + opcore.cast(n, "float32")
    with opcore.Session(g) as sess:
        with pytest.raises(opcore.ShapeError, match=r"shape \(2, 4\) to 'images:0', which has shape \(\?, 3\)"):
            sess.run(y, {x: np.zeros((2, 4), np.float32), n: 1})
        with pytest.raises(opcore.DTypeError, match=r"float64 data to 'count:0', which expects int32"):
            sess.run(y, {x: np.zeros((2, 3), np.float32), n: np.float64(1.5)})
        with pytest.raises(opcore.GraphError, match=r"missing a feed for placeholder 'count:0'"):
            sess.run(y, {x: np.zeros((2, 3), np.float32)})
        assert sess.run(y, {x: np.ones((2, 3)), n: 4}) == 10.0  # float64 data converts to float32


@pytest.mark.parametrize(
    ("feed", "error", "message"),
    [
        ([["a", "b", "c"]], opcore.DTypeError, r"cannot feed <U1 data to 'images:0', which expects float32"),
        ([[b"a", b"b", b"c"]], opcore.DTypeError, r"cannot feed \|S1 data"),
        ([[1 + 2j, 0, 0]], opcore.DTypeError, r"cannot feed complex128 data"),
        ([[None, 1.0, 2.0]], opcore.DTypeError, r"cannot feed object data"),
        ([[1.0, 2.0, 3.0], [1.0]], opcore.ShapeError, r"'images:0': the value is not a rectangular array"),
    ],
)
def test_string_object_complex_and_ragged_feeds_are_typed_errors(feed: object, error: type, message: str) -> None:
    g = opcore.Graph()
    with g.as_default():
        x = opcore.placeholder(opcore.float32, [None, 3], name="images")
        n = opcore.placeholder(opcore.int32, [None], name="counts")
    with opcore.Session(g) as sess:
        with pytest.raises(error, match=message):
            sess.run(x, {x: feed})
        with pytest.raises(opcore.DTypeError, match=r"'counts:0': a value is outside the range of int32"):
            sess.run(n, {n: [1, 2**40]})
        assert sess.run(x, {x: [[1, 2, 3]]}).tolist() == [[1.0, 2.0, 3.0]]  # Python numbers convert


def test_variables_initialization_and_assignment() -> None:
    g = opcore.Graph()
    with g.as_default():
        v = opcore.Variable([1.0, 2.0], name="v")
        step = opcore.Variable(0, trainable=False, name="step")
        inc = opcore.assign_add(step, 1)
        double = opcore.assign(v, v * 2.0)
        init = opcore.global_variables_initializer()
    with opcore.Session(g) as sess:
        with pytest.raises(opcore.GraphError, match=r"variable 'v' is not initialized.*global_variables_initializer"):
            sess.run(v)
        sess.run(init)
        sess.run([inc, inc])
        sess.run(inc)
        assert sess.run(step) == 2
        assert sess.run(double).tolist() == [2.0, 4.0]
        assert sess.run(v).tolist() == [2.0, 4.0]
    with opcore.Session(g) as other:  # variables live in each session
        other.run(init)
        assert other.run(v).tolist() == [1.0, 2.0]
    assert g.trainable_variables() == [v]


def test_fetch_from_another_graph_and_eager_values_are_rejected() -> None:
    g1, g2 = opcore.Graph(), opcore.Graph()
    with g1.as_default():
        a = opcore.constant(1.0)
    with g2.as_default():
        b = opcore.constant(2.0)
        with pytest.raises(opcore.GraphError, match="belongs to another graph"):
            a + b
    with opcore.Session(g2) as sess:
        with pytest.raises(opcore.GraphError, match="another graph"):
            sess.run(a)
        with pytest.raises(opcore.GraphError, match="eager tensor"):
            sess.run(opcore.constant(1.0))


def test_graph_gradients_match_eager_and_go_higher_order() -> None:
    x_np = np.array([0.3, -1.2, 2.0])
    g = opcore.Graph()
    with g.as_default():
        x = opcore.placeholder(opcore.float64, [3])
        y = opcore.reduce_sum(opcore.tanh(x) * x)
        (dx,) = opcore.gradients(y, x)
        (ddx,) = opcore.gradients(opcore.reduce_sum(dx), x)
        (none,) = opcore.gradients(y, opcore.placeholder(opcore.float64, [3]))
        (blocked,) = opcore.gradients(opcore.reduce_sum(opcore.stop_gradient(x) * x), x)
    with opcore.Session(g) as sess:
        got_dx, got_ddx, got_blocked = sess.run([dx, ddx, blocked], {x: x_np})
    xe = opcore.constant(x_np)
    with opcore.GradientTape() as t2:
        t2.watch(xe)
        with opcore.GradientTape() as t1:
            t1.watch(xe)
            ye = opcore.reduce_sum(opcore.tanh(xe) * xe)
        dxe = t1.gradient(ye, xe)
        total = opcore.reduce_sum(dxe)
    ddxe = t2.gradient(total, xe)
    np.testing.assert_allclose(got_dx, dxe.numpy())
    np.testing.assert_allclose(got_ddx, ddxe.numpy())
    np.testing.assert_allclose(got_blocked, x_np)
    assert none is None


def test_plans_are_compiled_once_and_values_stay_on_the_device(toy: str) -> None:
    g = opcore.Graph()
    with g.as_default():
        a = opcore.placeholder(opcore.float32, [2])
        b = a + a
        c = b + b + b
    with opcore.Session(g, backend=toy) as sess:
        opcore.stats.reset()
        for _ in range(3):
            out = sess.run(c, {a: [1.0, 2.0]})
        assert out.tolist() == [6.0, 12.0]
        assert len(sess._plans) == 1
        # per run: one feed to the device, one fetch back; nothing in between
        assert opcore.stats.transfers == {"host->toy": 3, "toy->host": 3}


def test_random_ops_in_a_session_draw_new_values_each_run_reproducibly() -> None:
    def sample() -> list[np.ndarray]:
        g = opcore.Graph()
        with g.as_default():
            r = opcore.random_uniform([4], seed=7)
        with opcore.Session(g) as sess:
            return [sess.run(r), sess.run(r)]

    first, second = sample()
    assert not np.array_equal(first, second)
    again = sample()
    np.testing.assert_array_equal(first, again[0])
    np.testing.assert_array_equal(second, again[1])


def test_graph_gradient_of_op_without_one_names_it() -> None:
    from opcore import shapes
    from opcore.registry import OpDef

    op = OpDef("test.GraphNoGrad", inputs=["x: T"], outputs=["y: T"], type_vars={"T": "float32"},
               shape_fn=shapes.unchanged("x"))  # fmt: skip
    reg = opcore.get_registry()
    with reg.plugin_scope("test-graph-nograd"):
        reg.register_op(op)
    try:
        g = opcore.Graph()
        with g.as_default():
            x = opcore.placeholder(opcore.float32, [2])
            y = opcore.reduce_sum(op(x))
            with pytest.raises(opcore.GradientError, match=r"'test\.GraphNoGrad' .*no registered gradient"):
                opcore.gradients(y, x)
    finally:
        reg.ops.pop("test.GraphNoGrad")


def test_scalar_feeds_keep_their_rank() -> None:
    g = opcore.Graph()
    with g.as_default():
        n = opcore.placeholder(opcore.float32, [], name="n")
        doubled = n * 2.0
    with opcore.Session(g) as sess:
        out = sess.run(doubled, {n: 3.0})
    assert out.shape == () and float(out) == 6.0
