"""opcore.keras: Sequential and functional models, training eagerly, evaluation, summary, save/load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import opcore
from opcore import keras, train
from opcore.datasets import diabetes, digits
from opcore.keras import ModelError
from opcore.keras import layers as L


@pytest.fixture(scope="module")
def digit_data() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    return digits.load_data(test_split=0.2, seed=0)


def _mlp(name: str | None = None) -> keras.Sequential:
    return keras.Sequential(
        [L.Input(shape=(64,)), L.Dense(64, activation="relu"), L.Dense(10, activation="softmax")], name=name
    )


def _functional_mlp() -> keras.Model:
    inputs = L.Input(shape=(64,), name="pixels")
    h = L.Dense(64, activation="relu")(inputs)
    h = L.Dropout(0.1, seed=1)(h)
    outputs = L.Dense(10, activation="softmax")(h)
    return keras.Model(inputs, outputs, name="functional_mlp")


# -- training -------------------------------------------------------------------------


def test_sequential_learns_digits(digit_data: Any) -> None:
    (x_train, y_train), (x_test, y_test) = digit_data
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=10, batch_size=32, verbose=0, seed=0)
    assert set(history.history) == {"loss", "accuracy"}
    assert len(history.history["loss"]) == 10 and history.epoch == list(range(10))
    assert history.history["loss"][-1] < history.history["loss"][0] / 3
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=64)
    assert accuracy > 0.9, accuracy
    assert loss < 0.5
    assert model.history is history


def test_functional_learns_digits(digit_data: Any) -> None:
    (x_train, y_train), (x_test, y_test) = digit_data
    model = _functional_mlp()
    model.compile(optimizer=train.get("adam"), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=10, batch_size=32, validation_split=0.1, verbose=0, seed=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.params["samples"] == len(x_train) - int(np.ceil(0.1 * len(x_train)))
    _, accuracy = model.evaluate(x_test, y_test)
    assert accuracy > 0.9, accuracy
    assert history.history["val_accuracy"][-1] > 0.85


def test_one_hot_labels_and_validation_data(digit_data: Any) -> None:
    (x_train, y_train), (x_test, y_test) = digit_data
    one_hot = np.eye(10, dtype=np.float32)
    model = _mlp()
    model.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(
        x_train, one_hot[y_train], epochs=3, batch_size=64, validation_data=(x_test, one_hot[y_test]), verbose=0
    )
    assert len(history.history["val_accuracy"]) == 3
    assert history.history["val_accuracy"][-1] > 0.6


def test_regression_with_loss_as_metric() -> None:
    (x_train, y_train), (x_test, y_test) = diabetes.load_data()
    scale = float(y_train.std())
    model = keras.Sequential([L.Dense(16, activation="relu"), L.Dense(1)])
    model.compile(train.get("adam"), "mse", metrics=["mae"])
    history = model.fit(x_train, y_train[:, None] / scale, epochs=20, batch_size=32, verbose=0, seed=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, mae = model.evaluate(x_test, y_test[:, None] / scale)
    assert 0 < mae < 2.0 and loss > 0
    assert model.predict(x_test).shape == (len(x_test), 1)


def test_small_cnn_trains_and_roundtrips(digit_data: Any, tmp_path: Path) -> None:
    (x_train, y_train), (x_test, _) = digit_data
    images = x_train.reshape(-1, 8, 8, 1)[:256]
    model = keras.Sequential(
        [
            L.Input(shape=(8, 8, 1)),
            L.Conv2D(4, 3, padding="same", activation="relu"),
            L.MaxPooling2D(2, 2),
            L.Flatten(),
            L.Dense(10, activation="softmax"),
        ]
    )
    assert model.output_shape == (None, 10)
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    history = model.fit(images, y_train[:256], epochs=2, batch_size=64, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]
    model.save(tmp_path / "cnn.safetensors")
    loaded = keras.models.load_model(tmp_path / "cnn.safetensors")
    probe = x_test.reshape(-1, 8, 8, 1)[:20]
    np.testing.assert_array_equal(loaded.predict(probe), model.predict(probe))


def test_seeded_fit_is_reproducible(digit_data: Any, tmp_path: Path) -> None:
    (x_train, y_train), _ = digit_data
    _mlp().save(tmp_path / "init.safetensors")
    runs = []
    for _ in range(2):
        model = keras.models.load_model(tmp_path / "init.safetensors")
        model.compile("sgd", "sparse_categorical_crossentropy", ["accuracy"])
        runs.append(model.fit(x_train, y_train, epochs=2, verbose=0, seed=7).history)
    assert runs[0] == runs[1]


def test_progress_bar_goes_to_stderr(digit_data: Any, capsys: pytest.CaptureFixture[str]) -> None:
    (x_train, y_train), _ = digit_data
    model = _mlp()
    model.compile("sgd", "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(x_train[:100], y_train[:100], epochs=2, batch_size=50, verbose=1)
    captured = capsys.readouterr()
    assert "Epoch 1/2" in captured.err and "Epoch 2/2" in captured.err and "loss=" in captured.err
    assert captured.out == ""
    model.fit(x_train[:100], y_train[:100], epochs=1, verbose=0)
    assert capsys.readouterr().err == ""


# -- evaluate / predict ---------------------------------------------------------------------


def test_evaluate_and_predict_shapes(digit_data: Any) -> None:
    (x_train, y_train), _ = digit_data
    model = _mlp()
    model.compile("sgd", "sparse_categorical_crossentropy")
    score = model.evaluate(x_train[:70], y_train[:70], batch_size=32)
    assert isinstance(score, float)
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy", "sparse_categorical_accuracy"])
    scores = model.evaluate(x_train[:70], y_train[:70], batch_size=32)
    assert isinstance(scores, list) and len(scores) == 3 and scores[1] == pytest.approx(scores[2])
    assert model.metrics_names == ["loss", "accuracy", "sparse_categorical_accuracy"]
    probs = model.predict(x_train[:70], batch_size=32)  # 70 is not a multiple of 32
    assert probs.shape == (70, 10) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    full = model.predict(x_train[:70], batch_size=70)
    np.testing.assert_allclose(probs, full, rtol=1e-6, atol=1e-7)
    direct = model(opcore.constant(x_train[:5])).numpy()
    np.testing.assert_allclose(direct, probs[:5], rtol=1e-6, atol=1e-7)


def test_summary(capsys: pytest.CaptureFixture[str]) -> None:
    model = keras.Sequential(
        [L.Input(shape=(64,)), L.Dense(32, activation="relu", name="hidden"), L.Dense(10, name="logits")],
        name="mlp",
    )
    model.summary()
    out = capsys.readouterr().out
    assert 'Model: "mlp"' in out
    assert "hidden (Dense)" in out and "(?, 32)" in out and "2,080" in out
    assert "logits (Dense)" in out and "(?, 10)" in out and "330" in out
    assert "Total params: 2,410" in out and "Trainable params: 2,410" in out and "Non-trainable params: 0" in out
    lines: list[str] = []
    _functional_mlp().summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "pixels (InputLayer)" in text and "Connected to" in text and "Total params: 4,810" in text


def test_sequential_built_from_data_and_add(digit_data: Any) -> None:
    (x_train, _), _ = digit_data
    model = keras.Sequential()
    model.add(L.Dense(8, activation="relu"))
    model.add(L.Dense(3))
    with pytest.raises(ModelError, match="not built yet"):
        model.summary()
    assert model.predict(x_train[:4]).shape == (4, 3)
    assert model.count_params() == 64 * 8 + 8 + 8 * 3 + 3
    model.add(L.Activation("softmax"))
    assert model.predict(x_train[:4]).shape == (4, 3)
    assert model.pop().name.startswith("activation")


# -- saving -----------------------------------------------------------------------------


@pytest.mark.parametrize("make", [_mlp, _functional_mlp])
def test_save_load_gives_identical_predictions(make: Any, digit_data: Any, tmp_path: Path) -> None:
    (x_train, y_train), (x_test, _) = digit_data
    model = make()
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(x_train, y_train, epochs=1, verbose=0)
    path = tmp_path / "model.safetensors"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model) and loaded.name == model.name
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(x_test), model.predict(x_test))
    # The file is plain safetensors with the architecture as versioned JSON in its metadata.
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        arch = json.loads(f.metadata()["opcore.keras.model"])
        assert len(list(f.keys())) == len(model.weights)
    assert arch["format"] == "opcore.keras.model" and arch["version"] == 1
    assert arch["class_name"] == type(model).__name__
    # A loaded model trains after compile.
    loaded.compile("sgd", "sparse_categorical_crossentropy")
    loaded.fit(x_train[:64], y_train[:64], verbose=0)
    # Saving again replaces the file atomically, leaving no temporary file behind.
    loaded.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def _corrupt(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "flip":
        data[-3] ^= 0xFF  # inside the last tensor's bytes
    elif how == "truncate":
        data = data[: len(data) // 2]
    elif how == "garbage":
        data = bytearray(b"this is not a safetensors file")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("how", "message"),
    [("flip", "fails its sha256 checksum"), ("truncate", "not a valid safetensors file"), ("garbage", "not a valid")],
)
def test_corrupt_file_raises_checkpoint_error(how: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    _mlp().save(path)
    _corrupt(path, how)
    with pytest.raises(opcore.CheckpointError, match=message) as info:
        keras.models.load_model(path)
    assert str(path) in str(info.value)


def test_load_rejects_foreign_and_future_files(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"w": np.zeros(3, np.float32)}, str(plain))
    with pytest.raises(opcore.CheckpointError, match="not an opcore Keras model"):
        keras.models.load_model(plain)
    future = tmp_path / "future.safetensors"
    arch = {"format": "opcore.keras.model", "version": 99, "class_name": "Sequential", "config": {}}
    save_file({}, str(future), metadata={"opcore.keras.model": json.dumps(arch), "opcore.keras.sha256": "{}"})
    with pytest.raises(opcore.CheckpointError, match="version 99"):
        keras.models.load_model(future)
    with pytest.raises(opcore.CheckpointError, match="no saved model"):
        keras.models.load_model(tmp_path / "missing.safetensors")


def test_failed_save_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.safetensors"
    model = _mlp()
    model.save(path)
    before = path.read_bytes()

    def broken(tensors: Any, filename: str, metadata: Any = None) -> None:
        Path(filename).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr("opcore.keras._saving.save_file", broken)
    with pytest.raises(opcore.CheckpointError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_unknown_layer_class_needs_custom_objects(tmp_path: Path) -> None:
    class Scale(L.Layer):
        def call(self, inputs: Any, training: bool = False) -> Any:
            return inputs * 2.0

    model = keras.Sequential([L.Input(shape=(3,)), L.Dense(2), Scale(name="scale")])
    model.save(tmp_path / "m.safetensors")
    with pytest.raises(opcore.CheckpointError, match=r"unknown layer class 'Scale'.*custom_objects"):
        keras.models.load_model(tmp_path / "m.safetensors")
    loaded = keras.models.load_model(tmp_path / "m.safetensors", custom_objects={"Scale": Scale})
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


# -- errors ------------------------------------------------------------------------------


def test_wrong_input_shape_names_layer_and_shapes(digit_data: Any) -> None:
    (x_train, _), _ = digit_data
    model = _mlp()
    first = model.layers[0].name
    with pytest.raises(opcore.ShapeError) as info:
        model.predict(x_train[:5, :63])
    msg = str(info.value)
    assert first in msg and "(?, 64)" in msg and "(5, 63)" in msg
    functional = _functional_mlp()
    with pytest.raises(opcore.ShapeError, match=r"'pixels' expects shape \(\?, 64\), got \(5, 63\)"):
        functional.predict(x_train[:5, :63])
    lazy = keras.Sequential([L.Dense(4)])
    lazy.predict(x_train[:2])
    with pytest.raises(opcore.ShapeError, match=rf"{lazy.layers[0].name}.*\(\?, 64\).*\(2, 10\)"):
        lazy.predict(np.zeros((2, 10), np.float32))


def test_layer_that_cannot_take_its_input_is_named() -> None:
    with pytest.raises(opcore.ShapeError, match=r"'bad_conv'.*\(\?, 64\)"):
        keras.Sequential([L.Input(shape=(64,)), L.Conv2D(2, 3, name="bad_conv")])
    x = L.Input(shape=(64,))
    with pytest.raises(opcore.ShapeError, match=r"'bad_conv2'.*\(\?, 64\)"):
        L.Conv2D(2, 3, name="bad_conv2")(x)


def test_fit_argument_errors(digit_data: Any) -> None:
    (x_train, y_train), _ = digit_data
    model = _mlp()
    with pytest.raises(ModelError, match=r"compile\(optimizer, loss, metrics\) before fit"):
        model.fit(x_train, y_train)
    model.compile("sgd", "sparse_categorical_crossentropy", ["accuracy"])
    with pytest.raises(ModelError, match="same number of examples"):
        model.fit(x_train[:10], y_train[:9], verbose=0)
    with pytest.raises(ModelError, match="validation_split"):
        model.fit(x_train, y_train, validation_split=1.0, verbose=0)
    with pytest.raises(ModelError, match="batch_size"):
        model.fit(x_train, y_train, batch_size=0, verbose=0)
    with pytest.raises(ModelError, match="unknown metric 'nope'"):
        model.compile("sgd", "mse", metrics=["nope"])
    assert isinstance(ModelError("x"), opcore.OpcoreError) and isinstance(ModelError("x"), ValueError)


def test_functional_wiring_errors() -> None:
    a, b = L.Input(shape=(4,)), L.Input(shape=(4,))
    out = L.Dense(2)(b)
    with pytest.raises(ModelError, match="not among the model's inputs"):
        keras.Model(a, out)
    h = L.Dense(3, name="same")(a)
    with pytest.raises(ModelError, match="unique"):
        keras.Model(a, L.Dense(2, name="same")(h))
    with pytest.raises(ModelError, match="KerasTensors"):
        keras.Model(np.zeros(3), out)


def test_nested_sequential_in_functional_model(tmp_path: Path) -> None:
    inner = keras.Sequential([L.Dense(5, activation="relu"), L.Dense(2)], name="inner")
    x = L.Input(shape=(4,))
    model = keras.Model(x, L.Activation("softmax")(inner(x)), name="outer")
    assert len(model.trainable_variables) == 4
    data = np.random.default_rng(0).random((3, 4)).astype(np.float32)
    model.save(tmp_path / "nested.safetensors")
    loaded = keras.models.load_model(tmp_path / "nested.safetensors")
    np.testing.assert_array_equal(loaded.predict(data), model.predict(data))


# -- the Keras 2 course idioms: input_shape / input_dim, to_categorical, label checks ---------


@pytest.mark.parametrize(
    "first",
    [
        lambda: L.Dense(64, activation="relu", input_shape=(64,)),
        lambda: L.Dense(64, activation="relu", input_dim=64),
        lambda: L.Dense(64, activation="relu", batch_input_shape=(None, 64)),
        lambda: L.Dense(64, activation="relu", input_shape=64),
    ],
    ids=["input_shape", "input_dim", "batch_input_shape", "input_shape-int"],
)
def test_first_layer_declares_the_input_shape(first: Any, digit_data: Any, tmp_path: Path) -> None:
    (x_train, y_train), (x_test, y_test) = digit_data
    model = keras.Sequential([first(), L.Dense(10, activation="softmax")])
    assert model.built and model.output_shape == opcore.Shape([None, 10])
    assert model.inputs[0].shape == opcore.Shape([None, 64])
    lines: list[str] = []
    model.summary(print_fn=lines.append)  # before any data: the model is built
    assert any("4,160" in line for line in lines) and lines[-3] == "Trainable params: 4,810"
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=10, verbose=0, seed=0)
    assert model.evaluate(x_test, y_test)[1] > 0.9
    model.save(str(tmp_path / "m.safetensors"))
    loaded = keras.models.load_model(str(tmp_path / "m.safetensors"))
    np.testing.assert_array_equal(loaded.predict(x_test), model.predict(x_test))
    assert loaded.layers[0].batch_input_shape == opcore.Shape([None, 64])


def test_input_shape_on_conv_and_flatten_layers() -> None:
    model = keras.Sequential(
        [
            L.Conv2D(4, 3, activation="relu", input_shape=(28, 28, 1)),
            L.MaxPooling2D(2),
            L.Flatten(),
            L.Dense(10, activation="softmax"),
        ]
    )
    assert model.output_shape == opcore.Shape([None, 10])
    flat = keras.Sequential([L.Flatten(input_shape=(28, 28)), L.Dense(3)])
    assert flat.predict(np.zeros((2, 28, 28), np.uint8)).shape == (2, 3)


def test_add_builds_from_the_first_layers_input_dim_and_batch_size() -> None:
    model = keras.Sequential()
    model.add(L.Dense(5, input_dim=3, batch_size=4))
    model.add(L.Dense(2))
    assert model.built and model.inputs[0].shape == opcore.Shape([4, 3]) and model.output_shape == opcore.Shape([4, 2])
    with pytest.raises(opcore.ShapeError, match=r"expects shape \(4, 3\), got \(2, 3\)"):
        model.predict(np.zeros((2, 3), np.float32), batch_size=2)


def test_declared_input_shape_refuses_other_inputs() -> None:
    model = keras.Sequential([L.Dense(4, input_dim=3), L.Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(opcore.ShapeError, match=r"expects shape \(\?, 3\), got \(8, 5\)"):
        model.fit(np.zeros((8, 5), np.float32), np.zeros((8, 1), np.float32), verbose=0)
    # a later layer that declares a shape it will not get: refused, and the model is as before
    with pytest.raises(opcore.ShapeError, match=r"declared with input shape \(\?, 7\).*got inputs of shape \(\?, 1\)"):
        model.add(L.Dense(2, input_dim=7))
    assert len(model.layers) == 2
    with pytest.raises(opcore.ShapeError, match=r"declared with input shape \(\?, 3\)"):
        L.Dense(2, input_dim=3)(np.zeros((2, 4), np.float32))
    with pytest.raises(opcore.ShapeError, match=r"declared with input shape \(\?, 3\)"):
        L.Dense(2, input_dim=3)(keras.Input(shape=(4,)))
    assert L.Dense(2, input_dim=3)(np.zeros((2, 3), np.float32)).shape == opcore.Shape([2, 2])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_dim": 0}, "input_dim must be a positive int"),
        ({"input_dim": 3, "input_shape": (4,)}, "input_dim=3 contradicts input_shape"),
        ({"input_shape": "abc"}, "input_shape must be a tuple of positive ints"),
        ({"input_shape": (3, -1)}, "input_shape must be a tuple of positive ints"),
        ({"batch_input_shape": (None, 3), "input_shape": (3,)}, "not both"),
        ({"batch_input_shape": ()}, "needs a batch dimension"),
        ({"batch_size": 8}, "batch_size needs input_shape"),
        ({"batch_size": 0, "input_dim": 2}, "batch_size must be a positive int"),
    ],
)
def test_bad_input_shape_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(opcore.OpDefinitionError, match=message):
        L.Dense(2, **kwargs)


def test_to_categorical() -> None:
    out = keras.utils.to_categorical([2, 0, 1, 2])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.float32)[[2, 0, 1, 2]])
    np.testing.assert_array_equal(keras.utils.to_categorical(np.array([[1], [3]]), 5), np.eye(5)[[1, 3]])
    assert keras.utils.to_categorical(np.zeros((2, 3), np.int64), 4).shape == (2, 3, 4)
    assert keras.utils.to_categorical([1.0, 0.0], dtype="int32").dtype == np.int32
    assert keras.utils.to_categorical(np.array([], np.int64), 3).shape == (0, 3)
    for bad, kwargs, message in [
        ([0, 3], {"num_classes": 3}, "class index 3 is out of range for num_classes=3"),
        ([0, -1], {}, "must be >= 0"),
        ([0.5], {}, "whole class indices"),
        (["a"], {}, "integer class indices"),
        ([1], {"num_classes": 0}, "num_classes must be a positive int"),
    ]:
        with pytest.raises(ModelError, match=message):
            keras.utils.to_categorical(bad, **kwargs)


def test_normalize() -> None:
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(keras.utils.normalize(x), [[0.6, 0.8], [0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(keras.utils.normalize(x, axis=0)[:, 0], [3 / np.sqrt(10), 0, 1 / np.sqrt(10)])
    np.testing.assert_allclose(keras.utils.normalize([[1.0, 3.0]], order=1), [[0.25, 0.75]])


def test_integer_labels_with_categorical_crossentropy_name_the_sparse_loss(digit_data: Any) -> None:
    (x_train, y_train), _ = digit_data
    model = _mlp()
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    for labels in (y_train, y_train[:, None]):
        with pytest.raises(opcore.ShapeError, match=r"sparse_categorical_crossentropy.*to_categorical"):
            model.fit(x_train, labels, epochs=1, verbose=0)
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(opcore.ShapeError, match=r"look one-hot.*Use loss='categorical_crossentropy'"):
        model.fit(x_train, keras.utils.to_categorical(y_train, 10), epochs=1, verbose=0)
    # the fixes the messages name both work
    model.fit(x_train[:64], y_train[:64, None], epochs=1, verbose=0)
    model.compile("adam", "categorical_crossentropy")
    model.fit(x_train[:64], keras.utils.to_categorical(y_train[:64], 10), epochs=1, verbose=0)


def test_tf1_losses_name_the_other_cross_entropy() -> None:
    logits = opcore.constant(np.zeros((4, 3), np.float32))
    with pytest.raises(opcore.ShapeError, match="Use sparse_softmax_cross_entropy"):
        opcore.losses.softmax_cross_entropy(np.array([0, 1, 2, 0]), logits)
    with pytest.raises(opcore.ShapeError, match="Use softmax_cross_entropy"):
        opcore.losses.sparse_softmax_cross_entropy(np.eye(3, dtype=np.float32)[[0, 1, 2, 0]], logits)
    g = opcore.Graph()
    with g.as_default():
        y = opcore.placeholder(opcore.int64, [None])
        p = opcore.placeholder(opcore.float32, [None, 10])
        with pytest.raises(opcore.ShapeError, match="sparse_categorical_crossentropy"):
            opcore.losses.categorical_crossentropy(y, p)


def test_keras_utils_doctests() -> None:
    import doctest

    from opcore.keras import layers, losses, models, optimizers, utils

    for module in (utils, models, layers, optimizers, losses):
        assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0


def test_input_layer_first_in_a_sequential(tmp_path: Path) -> None:
    for first in (
        L.InputLayer(input_shape=(28, 28)),
        L.InputLayer(shape=(28, 28)),
        L.InputLayer(batch_input_shape=(None, 28, 28)),
    ):
        model = keras.Sequential([first, L.Flatten(), L.Dense(3)])
        assert model.output_shape == opcore.Shape([None, 3]) and [type(x).__name__ for x in model.layers] == [
            "Flatten",
            "Dense",
        ]
    model.save(str(tmp_path / "m.safetensors"))
    assert keras.models.load_model(str(tmp_path / "m.safetensors")).inputs[0].shape == opcore.Shape([None, 28, 28])
    with pytest.raises(ModelError, match="can only come first"):
        keras.Sequential([L.Dense(2, input_dim=3), L.InputLayer(input_shape=(2,))])
    with pytest.raises(ModelError, match="needs the input shape"):
        L.InputLayer()
    with pytest.raises(ModelError, match="not both"):
        L.InputLayer(input_shape=(2,), shape=(2,))


def test_a_one_element_list_is_the_single_input(digit_data: Any) -> None:
    """``model.predict([x_test])``, as Keras courses write it, is ``model.predict(x_test)``."""
    (x_train, y_train), (x_test, _) = digit_data
    model = keras.Sequential([L.Flatten(), L.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit([x_train], [y_train], epochs=1, verbose=0)
    np.testing.assert_array_equal(model.predict([x_test]), model.predict(x_test))
    assert model.predict([x_test]).shape == (len(x_test), 10)
    assert model.evaluate([x_test[:10]], [np.zeros(10, np.int64)]) == model.evaluate(
        x_test[:10], np.zeros(10, np.int64)
    )


def test_keras_2_course_programs_as_written(digit_data: Any) -> None:
    """keras/examples/mnist_mlp.py and mnist_cnn.py of the Keras 2 era, on the digits (8x8) instead of MNIST."""
    (x_train, y_train), (x_test, y_test) = digit_data
    num_classes = 10
    y_train_1h = keras.utils.to_categorical(y_train, num_classes)
    y_test_1h = keras.utils.to_categorical(y_test, num_classes)

    model = keras.models.Sequential()
    model.add(L.Dense(64, activation="relu", input_shape=(64,)))
    model.add(L.Dropout(0.2))
    model.add(L.Dense(num_classes, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.RMSprop(lr=0.003), metrics=["accuracy"])
    model.fit(x_train, y_train_1h, batch_size=32, epochs=8, verbose=0, validation_data=(x_test, y_test_1h))
    score = model.evaluate(x_test, y_test_1h, verbose=0)
    assert score[1] > 0.9, score

    images = x_train.reshape(x_train.shape[0], 8, 8, 1)
    cnn = keras.models.Sequential()
    cnn.add(L.Conv2D(8, kernel_size=(3, 3), activation="relu", input_shape=(8, 8, 1)))
    cnn.add(L.MaxPooling2D(pool_size=(2, 2)))
    cnn.add(L.Flatten())
    cnn.add(L.Dense(num_classes, activation="softmax"))
    cnn.compile(
        loss=keras.losses.categorical_crossentropy, optimizer=keras.optimizers.Adam(lr=0.01), metrics=["accuracy"]
    )
    cnn.fit(images, y_train_1h, batch_size=64, epochs=5, verbose=0)
    assert cnn.evaluate(x_test.reshape(-1, 8, 8, 1), y_test_1h)[1] > 0.85


def test_keras_optimizer_and_loss_names() -> None:
    assert keras.optimizers.Adam(lr=0.5).get_config()["learning_rate"] == 0.5
    assert keras.optimizers.SGD(lr=0.2, momentum=0.9).get_config()["momentum"] == 0.9
    with pytest.raises(opcore.OpDefinitionError, match="learning_rate or its older name lr, not both"):
        keras.optimizers.Adam(learning_rate=0.1, lr=0.2)
    assert isinstance(keras.optimizers.get("rmsprop"), keras.optimizers.RMSprop)
    y, p = np.array([[0.0, 1.0]], np.float32), opcore.constant([[0.5, 0.5]])
    assert float(keras.losses.mean_squared_error(y, p)) == pytest.approx(0.25)
    assert float(keras.losses.categorical_crossentropy(y, p)) == pytest.approx(np.log(2), rel=1e-6)
