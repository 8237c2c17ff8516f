"""opcore.compat.v1: TensorFlow 1's names, signatures and semantics on opcore, without a global switch."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

import opcore
import opcore.compat.v1 as tf
from opcore.compat._moved import MissingNameError


@pytest.fixture(autouse=True)
def fresh_graph() -> Iterator[None]:
    tf.reset_default_graph()
    yield
    tf.reset_default_graph()


# --------------------------------------------------------------------------- graph mode without a switch


def test_the_namespace_builds_graphs_and_opcore_stays_eager() -> None:
    c = tf.constant(3.0)
    assert isinstance(c, tf.Tensor) and c.graph is tf.get_default_graph()
    assert opcore.executing_eagerly()
    eager = opcore.constant(3.0) + 1.0
    assert isinstance(eager, opcore.Tensor) and float(eager) == 4.0
    with tf.Session() as sess:
        assert sess.run(c * 2.0) == 6.0


def test_importing_the_namespace_flips_no_global_switch() -> None:
    from opcore import _context

    assert not _context.eager_disabled
    assert _context.state.graphs == []  # no graph left entered after a call
    tf.placeholder(tf.float32)
    assert _context.state.graphs == []


def test_another_thread_builds_into_its_own_default_graph() -> None:
    mine = tf.constant(1.0)
    seen: list[object] = []

    def worker() -> None:
        seen.append(tf.constant(2.0).graph)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen and seen[0] is not mine.graph


def test_with_graph_as_default_builds_into_that_graph() -> None:
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 2], name="x")
        y = tf.reduce_sum(x, axis=1, name="y")
    assert y.graph is g and tf.get_default_graph() is not g
    with tf.Session(graph=g) as sess:
        assert sess.run(y, {x: [[1.0, 2.0]]}).tolist() == [3.0]


# --------------------------------------------------------------------------- names


def test_name_on_every_function_gives_tensorflow_names() -> None:
    with tf.name_scope("layer1") as scope:
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        w = tf.Variable(tf.zeros([3, 2]), name="W")
        y = tf.matmul(x, w, name="mul")
        z = tf.nn.relu6(y, name="act")
        m = tf.reduce_mean(z, name="mean")
    assert scope == "layer1/"
    assert (x.name, y.name, z.name, m.name) == ("layer1/x:0", "layer1/mul:0", "layer1/act:0", "layer1/mean:0")
    assert w.op.name == "layer1/W"
    assert tf.constant(1.0, name="c").name == "c:0"
    assert tf.constant(1.0, name="c").name == "c_1:0"
    assert tf.random_normal([2], stddev=0.5, name="noise").name == "noise:0"


def test_names_as_feeds_and_fetches() -> None:
    a = tf.placeholder(tf.float32, name="a")
    tf.multiply(a, 2.0, name="double")
    with tf.Session() as sess:
        assert sess.run("double:0", feed_dict={"a:0": 4.0}) == 8.0
        assert sess.run("double:0", feed_dict={"a": 1.5}) == 3.0  # a node with one output
        assert sess.run("double", feed_dict={a: 1.0}) is None  # a node name runs the node
        with pytest.raises(opcore.GraphError, match=r"no tensor named 'duble:0'.*'double'"):
            sess.run("duble:0", {a: 1.0})


def test_graph_lookup_by_name_explains_tensor_versus_node() -> None:
    tf.placeholder(tf.float32, name="x")
    g = tf.get_default_graph()
    with pytest.raises(opcore.GraphError, match="did you mean 'x:0'"):
        g.get_tensor_by_name("x")
    with pytest.raises(opcore.GraphError, match="names a tensor, not a node"):
        g.get_operation_by_name("x:0")


# --------------------------------------------------------------------------- default sessions


def test_eval_and_run_use_the_default_session() -> None:
    v = tf.Variable(2.0)
    doubled = v * 2.0
    with tf.Session():
        tf.global_variables_initializer().run()
        assert doubled.eval() == 4.0
        tf.assign(v, 5.0).op.run()
        assert v.eval() == 5.0


def test_interactive_session_is_the_default_until_closed() -> None:
    c = tf.constant([1.0, 2.0])
    sess = tf.InteractiveSession()
    try:
        assert tf.get_default_session() is sess
        assert c.eval().tolist() == [1.0, 2.0]
    finally:
        sess.close()
    assert tf.get_default_session() is None
    with pytest.raises(opcore.GraphError, match="needs a session"):
        c.eval()


def test_scalars_come_back_as_numpy_scalars() -> None:
    with tf.Session() as sess:
        out = sess.run([tf.constant(3.0), tf.constant([1, 2])])
    assert type(out[0]) is np.float32 and isinstance(out[1], np.ndarray)


def test_session_config_and_device_are_accepted() -> None:
    config = tf.ConfigProto(allow_soft_placement=True, log_device_placement=False)
    config.gpu_options.allow_growth = True
    with pytest.raises(AttributeError, match="no field named 'alow_growth'"):
        config.gpu_options.alow_growth = True
    with tf.device("/gpu:0"), tf.device("/device:CPU:0"), tf.device("/job:worker/task:1/cpu:0"):
        c = tf.constant(1.0)
    with pytest.raises(ValueError, match="not a device specification"), tf.device("gpu zero"):
        pass
    with tf.Session(config=config) as sess:
        assert sess.run(c) == 1.0
    with pytest.raises(opcore.GraphError, match="in this process"):
        tf.Session("grpc://localhost:2222")


# --------------------------------------------------------------------------- TensorFlow 1 semantics


def test_nn_dropout_keeps_keep_prob() -> None:
    x = tf.ones([200, 100])
    kept = tf.nn.dropout(x, 0.75, seed=1)
    p = tf.placeholder(tf.float32)
    fed = tf.nn.dropout(x, p)
    with tf.Session() as sess:
        out = sess.run(kept)
        assert 0.72 < (out != 0).mean() < 0.78  # keeps 75%, as TensorFlow 1
        assert np.allclose(out[out != 0], 1 / 0.75)
        half = sess.run(fed, {p: 0.5})
        assert 0.47 < (half != 0).mean() < 0.53 and np.allclose(half[half != 0], 2.0)
        assert (sess.run(fed, {p: 1.0}) == 1.0).all()
        assert not np.array_equal(sess.run(fed, {p: 0.5}), half)  # a new mask every run
    with pytest.raises(opcore.OpDefinitionError, match=r"keep_prob must be in \(0, 1\]"):
        tf.nn.dropout(x, 0.0)


def test_layers_dropout_takes_the_rate_and_training() -> None:
    x = tf.ones([100, 100])
    training = tf.placeholder(tf.bool)
    y = tf.layers.dropout(x, rate=0.25, training=training)
    with tf.Session() as sess:
        assert (sess.run(y, {training: False}) == 1.0).all()
        assert 0.72 < (sess.run(y, {training: True}) != 0).mean() < 0.78


def test_softmax_cross_entropy_v1_sends_no_gradient_to_labels() -> None:
    labels = tf.Variable([[0.2, 0.8]])
    logits = tf.Variable([[1.0, 2.0]])
    v1 = tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    v2 = tf.nn.softmax_cross_entropy_with_logits_v2(labels=labels, logits=logits)
    assert tf.gradients(v1, [labels])[0] is None
    assert tf.gradients(v2, [labels])[0] is not None
    with pytest.raises(opcore.OpDefinitionError, match="by keyword"):
        tf.nn.softmax_cross_entropy_with_logits(labels, logits)


def test_tensorflow_1_argument_aliases() -> None:
    x = tf.constant([[1.0, 5.0], [3.0, 2.0]])
    with tf.Session() as sess:
        assert sess.run(tf.reduce_sum(x, reduction_indices=[1], keep_dims=True)).tolist() == [[6.0], [5.0]]
        assert sess.run(tf.argmax(x, dimension=1)).tolist() == [1, 0]
        assert sess.run(tf.reduce_mean([tf.constant(2.0), tf.constant(4.0)])) == 3.0  # a list is stacked
        assert sess.run(tf.squeeze(tf.expand_dims(x, dim=0), squeeze_dims=[0])).shape == (2, 2)
    with pytest.raises(opcore.OpDefinitionError, match="deprecated alias"):
        tf.reduce_sum(x, axis=1, reduction_indices=1)


def test_dtypes_and_tensorflow_dtype_strings() -> None:
    assert tf.bool is opcore.bool_ and tf.double is tf.float64 and tf.half is tf.float16
    assert tf.placeholder("float").dtype is tf.float32  # TensorFlow's "float" is float32, not NumPy's
    assert tf.cast(tf.constant(1), "double").dtype is tf.float64
    with pytest.raises(MissingNameError, match="complex64 is not provided"):
        _ = tf.complex64


def test_shapes_behave_like_tensor_shapes() -> None:
    x = tf.placeholder(tf.float32, [None, 7, 7, 64])
    shape = x.get_shape()
    assert shape.as_list() == [None, 7, 7, 64]
    assert shape[1:].num_elements() == 3136 and shape.num_elements() is None
    assert isinstance(shape, tf.TensorShape) and shape.ndims == 4
    x.set_shape([32, 7, 7, 64])
    assert x.shape.as_list() == [32, 7, 7, 64]
    with pytest.raises(opcore.ShapeError, match="incompatible"):
        x.set_shape([16, 7, 7, 64])


def test_variable_is_a_graph_variable_with_tensorflow_arguments() -> None:
    step = tf.Variable(0, name="global_step", trainable=False)
    w = tf.Variable(tf.truncated_normal([3, 2], stddev=0.1), name="w", collections=[tf.GraphKeys.WEIGHTS, "variables"])
    assert isinstance(w, tf.Variable) and isinstance(step, tf.Variable) and not isinstance(1.0, tf.Variable)
    assert step.dtype is tf.int32 and tf.trainable_variables() == [w]
    assert tf.get_collection(tf.GraphKeys.WEIGHTS) == [w] and tf.global_variables() == [step, w]
    assert tf.global_variables("w") == [w]
    with tf.Session() as sess:
        sess.run(tf.initializers.global_variables())
        w.load(np.ones((3, 2), np.float32), sess)
        assert sess.run(w).tolist() == [[1.0, 1.0]] * 3
        sess.run(tf.local_variables_initializer())


def test_get_variable_shares_by_name_under_reuse() -> None:
    with tf.variable_scope("enc"):
        w = tf.get_variable("w", [2, 3], initializer=tf.zeros_initializer)
        with pytest.raises(ValueError, match="already exists"):
            tf.get_variable("w", [2, 3])
    with tf.variable_scope("enc", reuse=True):
        assert tf.get_variable("w") is w
        with tf.variable_scope("inner"), pytest.raises(ValueError, match="does not exist"):  # reuse is inherited
            tf.get_variable("v", [1])
    with tf.variable_scope("enc") as scope:
        scope.reuse_variables()
        assert tf.get_variable("w", [2, 3]) is w
    with pytest.raises(ValueError, match="specified shape"), tf.variable_scope("enc", reuse=True):
        tf.get_variable("w", [3, 3])
    assert w.op.name == "enc/w"
    with tf.variable_scope("dec", initializer=tf.constant_initializer(0.5)):
        d = tf.get_variable("d", [2])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(d).tolist() == [0.5, 0.5]


def test_layers_share_variables_when_built_again_under_reuse() -> None:
    x = tf.placeholder(tf.float32, [None, 4])

    def net(reuse: bool) -> object:
        with tf.variable_scope("net", reuse=reuse):
            h = tf.layers.dense(x, 8, activation=tf.nn.relu)
            return tf.layers.dense(h, 2)

    a, b = net(False), net(True)
    assert [v.op.name for v in tf.trainable_variables()] == [
        "net/dense/kernel", "net/dense/bias", "net/dense_1/kernel", "net/dense_1/bias",
    ]  # fmt: skip
    assert a.name.startswith("net/dense_1/") and b.name.startswith("net_1/dense_1/")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        feed = {x: np.ones((1, 4), np.float32)}
        assert np.array_equal(sess.run(a, feed), sess.run(b, feed))


def test_regularizers_reach_the_total_loss() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    y = tf.layers.dense(x, 1, kernel_regularizer=tf.nn.l2_loss, kernel_initializer=tf.ones_initializer())
    loss = tf.losses.mean_squared_error(tf.zeros_like(y), y)
    total = tf.losses.get_total_loss()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        feed = {x: np.ones((2, 3), np.float32)}
        assert sess.run(loss, feed) == pytest.approx(9.0)
        assert sess.run(total, feed) == pytest.approx(9.0 + 1.5)  # + l2_loss(ones(3, 1)) = 3 / 2


def test_train_optimizers_take_tensorflow_1_arguments() -> None:
    x = tf.placeholder(tf.float32, [None, 1])
    w = tf.Variable([[0.0]])
    loss = tf.reduce_mean(tf.square(tf.matmul(x, w) - 2.0 * x))
    step = tf.train.get_or_create_global_step()
    train = tf.train.MomentumOptimizer(0.1, 0.9, use_locking=False).minimize(loss, step)
    rate = tf.train.exponential_decay(0.1, step, 10, 0.5, staircase=True)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(200):
            sess.run(train, {x: [[1.0], [2.0]]})
        assert sess.run(w)[0, 0] == pytest.approx(2.0, abs=1e-3)
        assert tf.train.global_step(sess, step) == 200
        assert sess.run(rate) == pytest.approx(0.1 * 0.5**20)


def test_control_dependencies_order_the_update() -> None:
    v = tf.Variable(1.0)
    update = tf.assign_add(v, 1.0)
    with tf.control_dependencies([update]):
        read = tf.identity(v)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(read) == 2.0
        assert sess.run(read) == 3.0


def test_composed_functions_follow_tensorflow() -> None:
    x = tf.constant([-2.5, -0.5, 0.5, 1.5, 2.5, 3.7])
    with tf.Session() as sess:
        assert sess.run(tf.round(x)).tolist() == [-2.0, -0.0, 0.0, 2.0, 2.0, 4.0]  # halves to even
        assert sess.run(tf.floor(x)).tolist() == [-3.0, -1.0, 0.0, 1.0, 2.0, 3.0]
        assert sess.run(tf.ceil(x)).tolist() == [-2.0, -0.0, 1.0, 2.0, 3.0, 4.0]
        assert sess.run(tf.clip_by_value(x, -1.0, 1.0)).tolist() == [-1.0, -0.5, 0.5, 1.0, 1.0, 1.0]
        assert sess.run(tf.add_n([x, x, x]))[0] == pytest.approx(-7.5)
        assert sess.run(tf.nn.crelu(tf.constant([[1.0, -2.0]]))).tolist() == [[1.0, 0.0, 0.0, 2.0]]
        assert sess.run(tf.nn.relu6(tf.constant([-1.0, 3.0, 8.0]))).tolist() == [0.0, 3.0, 6.0]
        mean, var = sess.run(tf.nn.moments(tf.constant([[1.0, 3.0], [5.0, 7.0]]), axes=[0]))
        assert mean.tolist() == [3.0, 5.0] and var.tolist() == [4.0, 4.0]
        top = tf.nn.in_top_k(tf.constant([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]]), tf.constant([2, 0]), 2)
        assert sess.run(top).tolist() == [True, True]
        assert sess.run(tf.range(1, 7, 2)).tolist() == [1, 3, 5]
        assert sess.run(tf.split(tf.constant([1, 2, 3, 4, 5]), [2, -1]))[1].tolist() == [3, 4, 5]
        assert sess.run(tf.div(tf.constant(7), 2)) == 3 and sess.run(tf.divide(7, 2)) == 3.5


def test_where_selects_rows_with_a_vector_condition() -> None:
    cond = tf.constant([True, False])
    with tf.Session() as sess:
        out = sess.run(tf.where(cond, tf.ones([2, 3]), tf.zeros([2, 3])))
    assert out.tolist() == [[1.0] * 3, [0.0] * 3]


def test_shape_of_a_partly_known_tensor_explains_the_difference() -> None:
    with tf.Session() as sess:
        assert sess.run(tf.shape(tf.zeros([2, 3]))).tolist() == [2, 3]
    with pytest.raises(opcore.ShapeError, match="no Shape op"):
        tf.shape(tf.placeholder(tf.float32, [None, 3]))


def test_input_data_uses_tensorflow_1_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from opcore.compat.v1.examples.tutorials.mnist import input_data
    from opcore.datasets import mnist

    rng = np.random.default_rng(0)
    fake = ((rng.random((60000, 784), np.float32), np.arange(60000) % 10), (np.zeros((10000, 784)), np.zeros(10000)))
    seen: dict[str, object] = {}

    def load_data(data_dir: object, one_hot: bool, normalize: bool, flatten: bool, mirrors: object) -> object:
        seen.update(data_dir=data_dir, one_hot=one_hot, normalize=normalize, flatten=flatten)
        (xt, yt), (xs, ys) = fake
        if not flatten:
            xt, xs = xt.reshape(-1, 28, 28), xs.reshape(-1, 28, 28)
        return (xt, yt), (xs, ys)

    monkeypatch.setattr(mnist, "load_data", load_data)
    data = input_data.read_data_sets("MNIST_data/")
    assert seen == {"data_dir": "MNIST_data/", "one_hot": False, "normalize": True, "flatten": True}
    assert data.train.num_examples == 55000 and data.validation.num_examples == 5000
    assert tf.examples.tutorials.mnist.input_data is input_data
    images = input_data.read_data_sets("d", reshape=False).train.images
    assert images.shape == (55000, 28, 28, 1)


# --------------------------------------------------------------------------- errors that explain a difference


def test_fetching_an_eager_tensor_explains_graph_mode() -> None:
    g = opcore.Graph()
    with opcore.Session(g) as sess, pytest.raises(opcore.GraphError) as info:
        sess.run(opcore.constant(3.0))
    message = str(info.value)
    assert "eager" in message and "opcore.compat.v1" in message and "disable_eager_execution" in message


def test_tensorflow_1_names_on_opcore_say_where_they_live() -> None:
    with pytest.raises(AttributeError, match=r"opcore has no 'nn': in TensorFlow 1 this is tf\.nn; in opcore use"):
        _ = opcore.nn
    with pytest.raises(AttributeError, match=r"in opcore use opcore\.set_seed"):
        _ = opcore.set_random_seed
    with pytest.raises(AttributeError, match="InteractiveSession"):
        _ = opcore.InteractiveSession
    with pytest.raises(AttributeError, match="did you mean reduce_sum"):
        _ = opcore.reduce_sun
    assert opcore.compat.v1 is tf


def test_names_the_namespace_lacks_say_what_to_use() -> None:
    with pytest.raises(AttributeError, match=r"tf\.contrib is not provided: xavier_initializer"):
        _ = tf.contrib
    with pytest.raises(AttributeError, match="control-flow"):
        _ = tf.cond
    with pytest.raises(AttributeError, match="did you mean"):
        _ = tf.reduce_summ
    if hasattr(opcore.train, "latest_checkpoint"):  # forwarded once opcore's Saver writes the state file
        assert tf.train.latest_checkpoint is opcore.train.latest_checkpoint
    else:
        with pytest.raises(AttributeError, match=r"checkpoint state file"):
            tf.train.latest_checkpoint(".")


def test_value_dependent_ops_are_forwarded_when_opcore_has_them() -> None:
    for name in tf.FORWARDED:
        if hasattr(opcore, name):
            assert callable(getattr(tf, name))
        else:
            with pytest.raises(AttributeError, match="depends on the values"):
                getattr(tf, name)


def test_app_flags() -> None:
    from opcore.compat.v1 import flags

    fl = flags.Flags()
    fl._define("steps", 10, "", int)
    fl._define("fast", False, "", flags._bool)
    assert fl(["prog", "--steps=3", "--fast", "rest"]) == ["prog", "rest"]
    assert fl.steps == 3 and fl.fast is True
    assert tf.app.flags is tf.flags
