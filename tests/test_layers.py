"""Layers, activations and initializers: values against NumPy, shapes, configs, gradients, graph mode."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

import opcore
from opcore import initializers, layers
from opcore.layers import activations

RNG = np.random.default_rng(0)


def _np(x: Any) -> np.ndarray:
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


# --------------------------------------------------------------------------- NumPy references


def ref_conv2d(x: np.ndarray, w: np.ndarray, stride: tuple[int, int], padding: str) -> np.ndarray:
    """Plain NHWC cross-correlation with TensorFlow's SAME padding (extra at the bottom/right)."""
    n, h, wd, _ = x.shape
    kh, kw, _, co = w.shape
    sh, sw = stride
    if padding == "same":
        ho, wo = -(-h // sh), -(-wd // sw)
        ph = max((ho - 1) * sh + kh - h, 0)
        pw = max((wo - 1) * sw + kw - wd, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        ho, wo = (h - kh) // sh + 1, (wd - kw) // sw + 1
    out = np.zeros((n, ho, wo, co))
    for i in range(ho):
        for j in range(wo):
            patch = x[:, i * sh : i * sh + kh, j * sw : j * sw + kw, :]
            out[:, i, j, :] = np.tensordot(patch, w, axes=([1, 2, 3], [0, 1, 2]))
    return out


def ref_pool(x: np.ndarray, size: tuple[int, int], stride: tuple[int, int], padding: str, op: str) -> np.ndarray:
    n, h, w, c = x.shape
    kh, kw = size
    sh, sw = stride
    if padding == "same":
        ho, wo = -(-h // sh), -(-w // sw)
        ph = max((ho - 1) * sh + kh - h, 0)
        pw = max((wo - 1) * sw + kw - w, 0)
        top, left = ph // 2, pw // 2
    else:
        ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
        top = left = 0
    out = np.zeros((n, ho, wo, c))
    for i in range(ho):
        for j in range(wo):
            r0, c0 = i * sh - top, j * sw - left
            win = x[:, max(r0, 0) : min(r0 + kh, h), max(c0, 0) : min(c0 + kw, w), :]
            out[:, i, j, :] = win.max(axis=(1, 2)) if op == "max" else win.mean(axis=(1, 2))
    return out


# --------------------------------------------------------------------------- initializers


def test_compute_fans_dense_and_conv() -> None:
    assert initializers.compute_fans((784, 10)) == (784, 10)
    assert initializers.compute_fans((5, 5, 3, 32)) == (75, 800)
    assert initializers.compute_fans((7,)) == (7, 7)
    assert initializers.compute_fans(()) == (1, 1)


@pytest.mark.parametrize(
    ("init", "shape", "expect_std", "bound"),
    [
        (initializers.GlorotUniform(seed=1), (300, 200), math.sqrt(6 / 500) / math.sqrt(3), math.sqrt(6 / 500)),
        (initializers.GlorotUniform(seed=2), (5, 5, 4, 16), math.sqrt(6 / 500) / math.sqrt(3), math.sqrt(6 / 500)),
        (initializers.GlorotNormal(seed=3), (300, 200), math.sqrt(2 / 500), None),
        (initializers.HeNormal(seed=4), (400, 100), math.sqrt(2 / 400), None),
        (initializers.HeUniform(seed=4), (400, 100), math.sqrt(2 / 400), math.sqrt(6 / 400)),
        (initializers.RandomUniform(-0.3, 0.3, seed=5), (300, 200), 0.6 / math.sqrt(12), 0.3),
        (initializers.RandomNormal(1.0, 0.2, seed=6), (300, 200), 0.2, None),
    ],
)
def test_initializer_statistics(init: Any, shape: tuple[int, ...], expect_std: float, bound: float | None) -> None:
    a = _np(init(shape, "float32"))
    assert a.shape == shape and a.dtype == np.float32
    mean = getattr(init, "mean", 0.0)
    assert abs(a.mean() - mean) < 0.05 * max(expect_std, 1e-3) * 10
    assert abs(a.std() - expect_std) / expect_std < 0.05
    if bound is not None:
        assert np.abs(a - mean).max() <= bound + 1e-6


def test_truncated_normal_stays_within_two_stddevs() -> None:
    a = _np(initializers.TruncatedNormal(mean=0.5, stddev=0.1, seed=7)((200, 300), "float64"))
    assert a.dtype == np.float64
    assert np.abs(a - 0.5).max() <= 0.2 + 1e-9
    # A unit normal truncated at 2 sigma has stddev 0.8796.
    assert abs(a.std() - 0.1 * 0.8796) < 0.005
    assert initializers.TruncatedNormal().get_config() == {"mean": 0.0, "stddev": 0.05, "seed": None}
    # TF1's function keeps TF1's default stddev of 1.
    assert initializers.truncated_normal_initializer().stddev == 1.0


def test_seeded_initializers_are_reproducible_and_unseeded_differ() -> None:
    for cls in (initializers.GlorotUniform, initializers.HeNormal, initializers.TruncatedNormal):
        a, b = _np(cls(seed=11)((4, 5), "float32")), _np(cls(seed=11)((4, 5), "float32"))
        assert np.array_equal(a, b)
        assert not np.array_equal(a, _np(cls(seed=12)((4, 5), "float32")))
    u = initializers.GlorotUniform()
    assert not np.array_equal(_np(u((4, 5), "float32")), _np(u((4, 5), "float32")))


def test_constant_zeros_ones_and_tf1_aliases() -> None:
    assert _np(initializers.get("zeros")((2, 3), "int32")).tolist() == [[0, 0, 0]] * 2
    assert _np(initializers.Ones()((2,), "float64")).dtype == np.float64
    assert np.allclose(_np(initializers.constant_initializer(0.1)((3,))), 0.1)
    assert _np(initializers.Constant([1, 2, 3, 4])((2, 2), "float32")).tolist() == [[1, 2], [3, 4]]
    with pytest.raises(opcore.OpDefinitionError, match="4 elements"):
        initializers.Constant([1, 2, 3, 4])((3,), "float32")
    assert _np(initializers.zeros_initializer(dtype="float64")((2,))).dtype == np.float64
    assert isinstance(initializers.glorot_uniform_initializer(), initializers.GlorotUniform)
    assert isinstance(initializers.get("glorot_uniform_initializer"), initializers.GlorotUniform)
    assert isinstance(initializers.get("GlorotNormal"), initializers.GlorotNormal)
    assert isinstance(initializers.get("he_normal"), initializers.HeNormal)
    with pytest.raises(opcore.DTypeError, match="int32"):
        initializers.GlorotUniform()((2, 2), "int32")
    with pytest.raises(opcore.OpDefinitionError, match="unknown initializer 'glorious'"):
        initializers.get("glorious")


def test_initializer_serialize_round_trip() -> None:
    for init in (
        initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=3),
        initializers.TruncatedNormal(0.1, 0.2, seed=1),
        initializers.Constant(0.5),
        initializers.HeNormal(seed=9),
    ):
        data = json.loads(json.dumps(initializers.serialize(init)))
        back = initializers.deserialize(data)
        assert type(back) is type(init) and back.get_config() == init.get_config()
        assert np.array_equal(_np(back((3, 4), "float32")), _np(init((3, 4), "float32")))


# --------------------------------------------------------------------------- activations


def test_activations_by_name() -> None:
    x = np.array([[-2.0, 0.5, 3.0]], np.float32)
    e = np.exp(x - x.max())
    expected = {
        "relu": np.maximum(x, 0),
        "sigmoid": 1 / (1 + np.exp(-x)),
        "tanh": np.tanh(x),
        "softplus": np.log1p(np.exp(x)),
        "softmax": e / e.sum(),
        "log_softmax": np.log(e / e.sum()),
        "linear": x,
    }
    for name, want in expected.items():
        np.testing.assert_allclose(_np(activations.get(name)(opcore.constant(x))), want, rtol=1e-5, atol=1e-6)
        assert activations.serialize(activations.get(name)) == name
    assert activations.get(None) is activations.linear
    assert activations.serialize(opcore.relu) == "relu"
    with pytest.raises(opcore.OpDefinitionError, match="unknown activation 'swishy'"):
        activations.get("swishy")


# --------------------------------------------------------------------------- Dense


def test_dense_matches_numpy_for_rank_2_and_3() -> None:
    layer = layers.Dense(3, activation="tanh", bias_initializer=initializers.Constant(0.25))
    x = RNG.standard_normal((4, 5)).astype(np.float32)
    y = layer(x)
    k, b = _np(layer.kernel), _np(layer.bias)
    assert k.shape == (5, 3) and b.tolist() == [0.25] * 3
    np.testing.assert_allclose(_np(y), np.tanh(x @ k + b), rtol=1e-5, atol=1e-6)
    x3 = RNG.standard_normal((2, 6, 5)).astype(np.float32)
    np.testing.assert_allclose(_np(layer(x3)), np.tanh(x3 @ k + b), rtol=1e-5, atol=1e-6)
    assert layer.compute_output_shape(opcore.Shape([None, 6, 5])) == opcore.Shape([None, 6, 3])
    assert [v.name for v in layer.trainable_variables] == [f"{layer.name}/kernel", f"{layer.name}/bias"]


def test_dense_without_bias_casts_inputs_and_rejects_unknown_last_dim() -> None:
    layer = layers.Dense(2, use_bias=False, kernel_initializer="ones")
    y = layer(np.ones((3, 4)))  # float64 data, float32 kernel
    assert y.dtype is opcore.float32 and _np(y).tolist() == [[4.0, 4.0]] * 3
    assert len(layer.variables) == 1
    with pytest.raises(opcore.ShapeError, match="known last dimension"):
        layers.Dense(2).build(opcore.Shape([None, None]))
    with pytest.raises(opcore.ShapeError, match="rank >= 2"):
        layers.Dense(2).compute_output_shape(opcore.Shape([5]))
    with pytest.raises(opcore.OpDefinitionError, match="units"):
        layers.Dense(0)


def test_dense_gradients_reach_variables_through_the_tape() -> None:
    layer = layers.Dense(3)
    x = RNG.standard_normal((4, 5)).astype(np.float32)
    layer(x)  # build
    with opcore.GradientTape() as tape:
        loss = opcore.reduce_sum(layer(x))
    gk, gb = tape.gradient(loss, layer.trainable_variables)
    np.testing.assert_allclose(_np(gk), x.T @ np.ones((4, 3)), rtol=1e-5)
    np.testing.assert_allclose(_np(gb), np.full(3, 4.0))


# --------------------------------------------------------------------------- Conv2D and pooling


@pytest.mark.parametrize(("stride", "padding"), [((1, 1), "valid"), ((2, 2), "same"), ((2, 1), "SAME"), (2, "VALID")])
def test_conv2d_matches_numpy(stride: Any, padding: str) -> None:
    x = RNG.standard_normal((2, 7, 6, 3)).astype(np.float32)
    layer = layers.Conv2D(4, (3, 2), strides=stride, padding=padding, activation="relu", bias_initializer="ones")
    y = layer(x)
    s = (stride, stride) if isinstance(stride, int) else stride
    want = np.maximum(ref_conv2d(x, _np(layer.kernel), s, padding.lower()) + 1.0, 0)
    np.testing.assert_allclose(_np(y), want, rtol=1e-4, atol=1e-5)
    assert layer.compute_output_shape(opcore.Shape([None, 7, 6, 3])) == opcore.Shape([None, *want.shape[1:]])
    assert layer.kernel.shape == opcore.Shape([3, 2, 3, 4])


def test_conv2d_channels_first_and_gradients() -> None:
    x = RNG.standard_normal((2, 3, 5, 5)).astype(np.float32)
    layer = layers.Conv2D(2, 3, data_format="channels_first", padding="same")
    y = layer(x)
    want = ref_conv2d(x.transpose(0, 2, 3, 1), _np(layer.kernel), (1, 1), "same").transpose(0, 3, 1, 2)
    np.testing.assert_allclose(_np(y), want, rtol=1e-4, atol=1e-5)
    assert layer.compute_output_shape((None, 3, 5, 5)) == opcore.Shape([None, 2, 5, 5])
    with opcore.GradientTape() as tape:
        loss = opcore.reduce_sum(layer(x))
    gk, gb = tape.gradient(loss, layer.trainable_variables)
    # d(sum y)/d bias = number of output positions per channel.
    np.testing.assert_allclose(_np(gb), [2 * 5 * 5] * 2)
    assert gk.shape == layer.kernel.shape


@pytest.mark.parametrize("cls", [layers.MaxPooling2D, layers.AveragePooling2D])
@pytest.mark.parametrize(
    ("size", "strides", "padding"), [((2, 2), None, "valid"), (3, 2, "same"), ((2, 3), 1, "valid")]
)
def test_pooling_matches_numpy(cls: Any, size: Any, strides: Any, padding: str) -> None:
    x = RNG.standard_normal((2, 7, 6, 3)).astype(np.float32)
    layer = cls(size, strides, padding=padding)
    sz = (size, size) if isinstance(size, int) else size
    st = sz if strides is None else ((strides, strides) if isinstance(strides, int) else strides)
    want = ref_pool(x, sz, st, padding, "max" if cls is layers.MaxPooling2D else "avg")
    np.testing.assert_allclose(_np(layer(x)), want, rtol=1e-5, atol=1e-6)
    assert layer.compute_output_shape(opcore.Shape([None, 7, 6, 3])) == opcore.Shape([None, *want.shape[1:]])
    assert layer.variables == []


# --------------------------------------------------------------------------- Flatten, Dropout, Activation


def test_flatten_values_and_shapes() -> None:
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    assert np.array_equal(_np(layers.Flatten()(x)), x.reshape(2, 12))
    assert _np(layers.flatten(np.arange(3.0))).shape == (3, 1)
    f = layers.Flatten()
    assert f.compute_output_shape(opcore.Shape([None, 7, 7, 64])) == opcore.Shape([None, 3136])
    assert f.compute_output_shape(opcore.Shape([8, None, 2])) == opcore.Shape([8, None])


def test_dropout_only_in_training() -> None:
    x = np.ones((50, 40), np.float32)
    layer = layers.Dropout(0.25, seed=3)
    assert layer(x) is x and layer(x, training=False) is x
    y = _np(layer(x, training=True))
    kept = y != 0
    assert np.allclose(y[kept], 1 / 0.75)
    assert abs(kept.mean() - 0.75) < 0.05
    # Successive calls draw new masks; a new layer with the same seed repeats them.
    y2 = _np(layer(x, training=True))
    assert not np.array_equal(y, y2)
    again = layers.Dropout(0.25, seed=3)
    assert np.array_equal(_np(again(x, training=True)), y)
    assert _np(layers.dropout(x, 0.5, training=opcore.constant(False))).tolist() == x.tolist()
    with pytest.raises(opcore.OpDefinitionError, match="rate"):
        layers.Dropout(1.0)


def test_activation_layer() -> None:
    x = np.array([[-1.0, 2.0]], np.float32)
    assert _np(layers.Activation("relu")(x)).tolist() == [[0.0, 2.0]]
    assert layers.Activation("softmax").compute_output_shape((None, 2)) == opcore.Shape([None, 2])


# --------------------------------------------------------------------------- configs and functional API


@pytest.mark.parametrize(
    "layer",
    [
        layers.Dense(5, activation="relu", use_bias=False, kernel_initializer=initializers.HeNormal(seed=2)),
        layers.Dense(2, kernel_initializer="truncated_normal", dtype="float64"),
        layers.Conv2D(8, 5, strides=2, padding="same", data_format="channels_first", activation="sigmoid"),
        layers.MaxPooling2D((3, 3), strides=2, padding="same"),
        layers.AveragePooling2D(),
        layers.Flatten(name="flat"),
        layers.Dropout(0.3, seed=5),
        layers.Activation("softplus"),
    ],
)
def test_config_round_trip(layer: Any) -> None:
    config = json.loads(json.dumps(layer.get_config()))
    clone = type(layer).from_config(config)
    assert clone.get_config() == layer.get_config()
    assert clone.name == layer.name


def test_functional_wrappers_build_a_cnn() -> None:
    x = RNG.standard_normal((2, 12, 12, 1)).astype(np.float32)
    h = layers.conv2d(x, 4, 5, padding="same", activation="relu", name="conv1")
    assert h.shape == opcore.Shape([2, 12, 12, 4])
    h = layers.max_pooling2d(h, 2, 2)
    h = layers.average_pooling2d(h, 2, 2, padding="same")
    h = layers.flatten(h)
    h = layers.dropout(h, 0.5, training=True, seed=1)
    y = layers.dense(h, 10, kernel_initializer=initializers.truncated_normal_initializer(stddev=0.1))
    assert y.shape == opcore.Shape([2, 10])


def test_layer_default_names_are_unique() -> None:
    a, b = layers.Dense(1), layers.Dense(1)
    assert a.name != b.name


# --------------------------------------------------------------------------- graph mode


def test_layers_in_graph_mode_with_unknown_batch() -> None:
    g = opcore.Graph()
    with g.as_default():
        x = opcore.placeholder(opcore.float32, [None, 8, 8, 2], name="x")
        training = opcore.placeholder(opcore.bool_, [], name="training")
        conv = layers.Conv2D(3, 3, padding="same", activation="relu", kernel_initializer=initializers.GlorotUniform(1))
        h = conv(x)
        assert h.shape == opcore.Shape([None, 8, 8, 3])
        pooled = layers.MaxPooling2D()(h)
        flat = layers.Flatten()(pooled)
        assert flat.shape == opcore.Shape([None, 48])
        dropped = layers.dropout(flat, 0.5, training=training, seed=4)
        dense = layers.Dense(5)
        y = dense(dropped)
        assert y.shape == opcore.Shape([None, 5])
        y3 = layers.Dense(2)(opcore.placeholder(opcore.float32, [None, 4, 3]))
        assert y3.shape == opcore.Shape([None, 4, 2])
        loss = opcore.reduce_mean(opcore.square(y))
        grads = opcore.gradients(loss, dense.trainable_variables + conv.trainable_variables)
        init = opcore.global_variables_initializer()
        assert len(opcore.trainable_variables()) == 6
    xv = RNG.standard_normal((3, 8, 8, 2)).astype(np.float32)
    with opcore.Session(g) as sess:
        sess.run(init)
        k, b, ck, cb = sess.run([dense.kernel, dense.bias, conv.kernel, conv.bias])
        out, flat_v, gv = sess.run([y, flat, grads], {x: xv, training: False})
        want_h = np.maximum(ref_conv2d(xv, ck, (1, 1), "same") + cb, 0)
        want_flat = ref_pool(want_h, (2, 2), (2, 2), "valid", "max").reshape(3, -1)
        np.testing.assert_allclose(flat_v, want_flat, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(out, want_flat @ k + b, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(gv[0], want_flat.T @ (2 * out / out.size), rtol=1e-4, atol=1e-6)
        d1 = sess.run(dropped, {x: xv, training: True})
        d2 = sess.run(dropped, {x: xv, training: True})
        assert set(np.unique(d1[flat_v != 0] / flat_v[flat_v != 0]).round(4)) <= {0.0, 2.0}
        assert not np.array_equal(d1, d2)


def _graph_initial_values() -> tuple[np.ndarray, np.ndarray]:
    g = opcore.Graph()
    with g.as_default():
        v = opcore.Variable(initializers.GlorotUniform(seed=5)((30, 40), "float32"), name="w")
        c = opcore.Variable(initializers.Constant([1.0, 2.0])((2,), "float32"), name="c")
        init = opcore.global_variables_initializer()
    with opcore.Session(g) as sess:
        sess.run(init)
        w, cv = sess.run([v, c])
    return w, cv


def test_initializers_build_graph_nodes_reproducibly() -> None:
    w, cv = _graph_initial_values()
    w2, _ = _graph_initial_values()
    assert np.array_equal(w, w2)  # same seed, same graph: same initial values in a new session
    limit = math.sqrt(6 / 70)
    assert np.abs(w).max() <= limit and w.std() > limit / 3
    assert cv.tolist() == [1.0, 2.0]


def test_layers_train_eagerly_and_in_a_graph() -> None:
    from opcore import losses

    x = RNG.standard_normal((64, 2)).astype(np.float32)
    labels = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    # Eager: a gradient-descent loop on the tape.
    hidden, out = layers.Dense(8, activation="tanh"), layers.Dense(2)
    first = last = 0.0
    for step in range(60):
        with opcore.GradientTape() as tape:
            loss = losses.sparse_softmax_cross_entropy(labels, out(hidden(x)))
        variables = hidden.trainable_variables + out.trainable_variables
        for v, g in zip(variables, tape.gradient(loss, variables)):
            v.assign_sub(g * 0.5)
        first, last = (float(loss), float(loss)) if step == 0 else (first, float(loss))
    assert last < 0.5 * first
    # Graph: the same model with TF1's functional layers, opcore.gradients and assign_sub.
    g = opcore.Graph()
    with g.as_default():
        xp = opcore.placeholder(opcore.float32, [None, 2])
        yp = opcore.placeholder(opcore.int64, [None])
        logits = layers.dense(layers.dense(xp, 8, activation="tanh"), 2)
        gloss = losses.sparse_softmax_cross_entropy(yp, logits)
        params = opcore.trainable_variables()
        step_op = opcore.group(
            *[opcore.assign_sub(v, d * 0.5) for v, d in zip(params, opcore.gradients(gloss, params))]
        )
        init = opcore.global_variables_initializer()
    with opcore.Session(g) as sess:
        sess.run(init)
        start = sess.run(gloss, {xp: x, yp: labels})
        for _ in range(60):
            sess.run(step_op, {xp: x, yp: labels})
        assert sess.run(gloss, {xp: x, yp: labels}) < 0.5 * start
