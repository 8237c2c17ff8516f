"""TensorBoard summaries: written from a session, eagerly and by Keras ``fit``, read back with TensorBoard's
own event reader."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import opcore
from opcore import keras, summary
from opcore.errors import DTypeError, MissingDependencyError, ShapeError, SummaryError

event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator", reason="the tensorboard extra is not installed"
)
PIL = pytest.importorskip("PIL.Image", reason="pillow (the examples extra) decodes the PNGs")

ROOT = Path(__file__).resolve().parents[1]
EVERYTHING = {"scalars": 0, "histograms": 0, "images": 0, "tensors": 0, "audio": 0, "compressedHistograms": 0}


def read(logdir: Path | str) -> Any:
    acc = event_accumulator.EventAccumulator(str(logdir), size_guidance=EVERYTHING)
    acc.Reload()
    return acc


def decode_png(encoded: bytes) -> np.ndarray:
    return np.asarray(PIL.open(io.BytesIO(encoded)))


def tf1_buckets(values: np.ndarray) -> dict[float, int]:
    """Counts per TensorFlow 1 bucket, computed directly: value v lands in the first limit > v."""
    limits = summary._encode.default_bucket_limits()
    counts: dict[float, int] = {}
    for v in values.reshape(-1):
        upper = float(limits[limits > v][0])
        counts[upper] = counts.get(upper, 0) + 1
    return counts


# --------------------------------------------------------------------------- graph mode (TensorFlow 1)


def test_session_summaries_read_back(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    g = opcore.Graph()
    with g.as_default():
        x = opcore.placeholder(opcore.float32, [None, 4], name="x")
        images = opcore.placeholder(opcore.uint8, [None, 5, 6, 3], name="images")
        with opcore.name_scope("layer"):
            w = opcore.Variable(rng.normal(size=(4, 3)).astype(np.float32), name="W")
            y = opcore.matmul(x, w)
        loss = opcore.reduce_mean(y)
        opcore.summary.scalar("loss", loss)
        opcore.summary.histogram("weights", w)
        opcore.summary.image("input", images, 2)  # TensorFlow 1's positional max_outputs
        opcore.summary.text("note", "a **bold** note")
        merged = opcore.summary.merge_all()
        init = opcore.global_variables_initializer()
    writer = opcore.summary.FileWriter(tmp_path, g)
    expected_loss = []
    batch = rng.integers(0, 256, (3, 5, 6, 3), dtype=np.uint8)
    with opcore.Session(g) as sess:
        sess.run(init)
        w_value = sess.run(w)
        for step in range(0, 50, 10):
            xb = rng.normal(size=(8, 4)).astype(np.float32)
            s, value = sess.run([merged, loss], {x: xb, images: batch})
            assert isinstance(s, bytes)
            writer.add_summary(s, step)
            expected_loss.append(float(np.mean(xb.astype(np.float64) @ w_value)))
            assert value == pytest.approx(expected_loss[-1], rel=1e-5)
    writer.close()

    acc = read(tmp_path)
    tags = acc.Tags()
    assert tags["scalars"] == ["loss"]
    assert tags["histograms"] == ["weights"]
    assert tags["images"] == ["input/image/0", "input/image/1"]
    assert tags["tensors"] == ["note"]
    scalars = acc.Scalars("loss")
    assert [e.step for e in scalars] == [0, 10, 20, 30, 40]
    assert [e.value for e in scalars] == pytest.approx(expected_loss, rel=1e-5)
    histo = acc.Histograms("weights")[0].histogram_value
    assert (histo.min, histo.max, histo.num) == (float(w_value.min()), float(w_value.max()), 12)
    assert histo.sum == pytest.approx(float(w_value.astype(np.float64).sum()))
    assert histo.sum_squares == pytest.approx(float((w_value.astype(np.float64) ** 2).sum()))
    nonzero = {lim: int(c) for lim, c in zip(histo.bucket_limit, histo.bucket) if c}
    assert nonzero == tf1_buckets(w_value.astype(np.float64))
    for i in range(2):
        img = acc.Images(f"input/image/{i}")[0]
        assert (img.height, img.width) == (5, 6)
        np.testing.assert_array_equal(decode_png(img.encoded_image_string), batch[i])
    text = acc.Tensors("note")[0].tensor_proto
    assert list(text.string_val) == [b"a **bold** note"]
    assert acc.SummaryMetadata("note").plugin_data.plugin_name == "text"
    graph_def = acc.Graph()
    assert len(graph_def.node) == len(g.nodes)
    names = {n.name: n.op for n in graph_def.node}
    assert names["layer/W"] == "VariableV2" and names["layer/MatMul"] == "MatMul"
    assert names["loss"] == "ScalarSummary" and names["Merge/MergeSummary"] == "MergeSummary"


def test_tag_names_follow_scopes_families_and_uniqueness() -> None:
    g = opcore.Graph()
    with g.as_default():
        x = opcore.placeholder(opcore.float32, [], name="x")
        with opcore.name_scope("train"):
            a = opcore.summary.scalar("loss", x)
            b = opcore.summary.scalar("loss", x)
        c = opcore.summary.scalar("loss", x, family="extra")
        d = opcore.summary.scalar("bad name!", x)
    assert [t.node.attrs["tag"] for t in (a, b, c, d)] == [
        "train/loss",
        "train/loss_1",
        "extra/extra/loss",
        "bad_name_",
    ]
    with opcore.Session(g) as sess:
        parsed = opcore.summary.Summary.FromString(sess.run(opcore.summary.merge([a, b, c, d]), {x: 2.5}))
    assert [(v.tag, v.simple_value) for v in parsed.value] == [
        ("train/loss", 2.5),
        ("train/loss_1", 2.5),
        ("extra/extra/loss", 2.5),
        ("bad_name_", 2.5),
    ]


def test_merge_all_collections_and_scope() -> None:
    g = opcore.Graph()
    with g.as_default():
        x = opcore.placeholder(opcore.float32, [], name="x")
        with opcore.name_scope("train"):
            opcore.summary.scalar("a", x)
        with opcore.name_scope("eval"):
            opcore.summary.scalar("b", x * 2.0)
        opcore.summary.scalar("c", x * 3.0, ["mine"])  # TensorFlow 1's positional collections
        everything = opcore.summary.merge_all()
        only_train = opcore.summary.merge_all(scope="train")
        mine = opcore.summary.merge_all(key="mine")
        assert opcore.summary.merge_all(key="nothing") is None
    assert len(g.get_collection(opcore.GraphKeys.SUMMARIES)) == 2
    with opcore.Session(g) as sess:
        out = sess.run({"all": everything, "train": only_train, "mine": mine}, {x: 1.0})

    def tags(b: bytes) -> dict[str, float]:
        return {v.tag: v.simple_value for v in opcore.summary.Summary.FromString(b).value}

    assert tags(out["all"]) == {"train/a": 1.0, "eval/b": 2.0}
    assert tags(out["train"]) == {"train/a": 1.0}
    assert tags(out["mine"]) == {"c": 3.0}


def test_summaries_leave_training_and_gradients_alone() -> None:
    g = opcore.Graph()
    with g.as_default():
        w = opcore.Variable(np.float32(3.0), name="w")
        loss = w * w
        opcore.summary.scalar("loss", loss)
        opcore.summary.histogram("w", w)
        merged = opcore.summary.merge_all()
        train = opcore.train.GradientDescentOptimizer(0.25).minimize(loss)
        init = opcore.global_variables_initializer()
    with opcore.Session(g) as sess:
        sess.run(init)
        before = opcore.summary.Summary.FromString(sess.run(merged)).value[0].simple_value
        _, s = sess.run([train, merged])
        assert sess.run(w) == pytest.approx(1.5)  # 3 - 0.25 * 2 * 3
    assert before == pytest.approx(9.0)
    assert opcore.summary.Summary.FromString(s).value[0].simple_value in (pytest.approx(9.0), pytest.approx(2.25))


def test_saver_skips_summary_nodes(tmp_path: Path) -> None:
    g = opcore.Graph()
    with g.as_default():
        w = opcore.Variable(np.arange(3, dtype=np.float32), name="w")
        opcore.summary.scalar("total", opcore.reduce_sum(w))
        opcore.summary.merge_all()
        init = opcore.global_variables_initializer()
        saver = opcore.io.Saver()
    with opcore.Session(g) as sess:
        sess.run(init)
        path = saver.save(sess, str(tmp_path / "model"))
    g2 = opcore.Graph()
    with g2.as_default():
        restorer = opcore.io.import_meta_graph(path)
    with opcore.Session(g2) as sess:
        restorer.restore(sess, path)
        assert sess.run(g2.get_tensor_by_name("w:0")).tolist() == [0.0, 1.0, 2.0]
    assert all(n.kind != "host" for n in g2.nodes)


def test_graph_def_attributes() -> None:
    g = opcore.Graph()
    with g.as_default():
        x = opcore.placeholder(opcore.float32, [None, 3], name="x")
        with opcore.name_scope("block"):
            z = opcore.get_op("myorg.ZeroOut")(opcore.cast(x, opcore.int32))
            s = opcore.reduce_sum(x, axis=1)
    gd = opcore.summary.to_graph_def(g)
    nodes = {n.name: n for n in gd.node}
    types_pb2 = summary._tb.proto("types_pb2")
    assert nodes["x"].op == "Placeholder"
    assert nodes["x"].attr["dtype"].type == types_pb2.DT_FLOAT
    assert [d.size for d in nodes["x"].attr["shape"].shape.dim] == [-1, 3]
    zero = nodes[z.node.name]
    assert zero.name.startswith("block/") and zero.op == "myorg.ZeroOut"
    assert zero.attr["provider"].s == b"opcore-zero-out"
    assert zero.attr["T"].type == types_pb2.DT_INT32
    assert [d.size for d in zero.attr["_output_shapes"].list.shape[0].dim] == [-1, 3]
    total = nodes[s.node.name]
    assert total.op == "Sum" and total.attr["provider"].s == b"opcore"
    assert list(total.input) == ["x"]
    assert list(total.attr["axis"].list.i) == [1] and total.attr["keepdims"].b is False


# --------------------------------------------------------------------------- eager mode (TensorFlow 2)


def test_eager_summaries_read_back(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    writer = opcore.summary.create_file_writer(tmp_path)
    assert opcore.summary.scalar("ignored", 1.0, step=0) is False  # no default writer
    data = rng.normal(size=200)
    pictures = rng.random((2, 4, 4, 1)).astype(np.float32)
    with writer.as_default():
        for step in range(4):
            assert opcore.summary.scalar("loss", opcore.constant(np.float32(1.0 / (step + 1))), step=step)
        assert opcore.summary.histogram("values", data, step=3, buckets=10)
        assert opcore.summary.image("pictures", pictures, step=2, max_outputs=1)
        assert opcore.summary.text("words", ["x", "y"], step=1)
        with writer.as_default(step=9):
            opcore.summary.scalar("stepped", 5.0)
        assert opcore.summary.graph(opcore.Graph())
    writer.close()
    acc = read(tmp_path)
    assert acc.Tags()["scalars"] == ["loss", "stepped"]
    assert [(e.step, e.value) for e in acc.Scalars("loss")] == [(s, pytest.approx(1.0 / (s + 1))) for s in range(4)]
    assert acc.Scalars("stepped")[0].step == 9
    h = acc.Histograms("values")[0]
    counts, edges = np.histogram(data, bins=10)
    assert h.step == 3
    assert list(h.histogram_value.bucket) == counts.tolist()
    assert list(h.histogram_value.bucket_limit) == pytest.approx(edges[1:].tolist())
    img = acc.Images("pictures/image")[0]
    expected = np.clip(pictures[0] * 255.0 + 0.5, 0, 255).astype(np.uint8)[..., 0]
    np.testing.assert_array_equal(decode_png(img.encoded_image_string), expected)
    assert list(acc.Tensors("words")[0].tensor_proto.string_val) == [b"x", b"y"]
    assert len(acc.Graph().node) == 0


def test_eager_steps_record_if_and_threads(tmp_path: Path) -> None:
    writer = opcore.summary.create_file_writer(tmp_path)
    step = opcore.Variable(np.int64(0), trainable=False)
    seen_in_thread: list[bool] = []
    with writer.as_default():
        with pytest.raises(SummaryError, match="no step"):
            opcore.summary.scalar("x", 1.0)
        opcore.summary.experimental.set_step(step)
        try:
            with opcore.summary.record_if(lambda: int(step.numpy()) % 2 == 0):
                for i in range(5):
                    step.assign(i)
                    opcore.summary.scalar("even", float(i))
        finally:
            opcore.summary.experimental.set_step(None)
        t = threading.Thread(target=lambda: seen_in_thread.append(opcore.summary.should_record_summaries()))
        t.start()
        t.join()
    writer.close()
    assert seen_in_thread == [False]  # the default writer belongs to the thread that set it
    assert [(e.step, e.value) for e in read(tmp_path).Scalars("even")] == [(0, 0.0), (2, 2.0), (4, 4.0)]


def test_file_writer_events_and_reopen(tmp_path: Path) -> None:
    w = opcore.summary.FileWriter(tmp_path / "run")
    value = opcore.summary.Summary.Value(tag="acc", simple_value=0.5)
    w.add_summary(opcore.summary.Summary(value=[value]), global_step=np.int64(3))
    w.add_session_log(opcore.summary.SessionLog(status=opcore.summary.SessionLog.START), 4)
    w.close()
    with pytest.raises(SummaryError, match="closed"):
        w.add_summary(opcore.summary.Summary(value=[value]), 5)
    w.reopen()
    w.add_summary(opcore.summary.Summary(value=[value]), 6)
    w.close()
    assert len(list((tmp_path / "run").glob("events.out.tfevents.*"))) == 2
    assert [e.step for e in read(tmp_path / "run").Scalars("acc")] == [3, 6]


def test_text_metadata_written_once(tmp_path: Path) -> None:
    g = opcore.Graph()
    with g.as_default():
        s = opcore.summary.text("t", "hello")
    files: list[Any] = []
    with opcore.summary.FileWriter(tmp_path) as w, opcore.Session(g) as sess:
        for step in range(3):
            w.add_summary(sess.run(s), step)
        files = list(tmp_path.glob("events.*"))
    reader = summary._tb._import("tensorboard.backend.event_processing.event_file_loader")
    events = [e for e in reader.EventFileLoader(str(files[0])).Load() if e.HasField("summary")]
    assert [e.summary.value[0].HasField("metadata") for e in events] == [True, False, False]


# --------------------------------------------------------------------------- Keras


def test_keras_fit_tensorboard_read_back(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    x = rng.random((60, 5)).astype(np.float32)
    y = rng.integers(0, 3, 60)
    model = keras.Sequential(
        [
            keras.layers.Input((5,)),
            keras.layers.Dense(8, activation="relu", name="hidden"),
            keras.layers.Dense(3, name="out"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    tb = keras.callbacks.TensorBoard(tmp_path, histogram_freq=1, write_images=True, update_freq=2)
    history = model.fit(x, y, epochs=3, batch_size=10, validation_split=0.2, verbose=0, seed=0, callbacks=[tb])

    train = read(tmp_path / "train")
    assert train.Tags()["scalars"] == ["batch_loss", "batch_accuracy", "epoch_loss", "epoch_accuracy"]
    epoch_loss = train.Scalars("epoch_loss")
    assert [e.step for e in epoch_loss] == [0, 1, 2]
    assert [e.value for e in epoch_loss] == pytest.approx(history.history["loss"], rel=1e-6)
    assert [e.value for e in train.Scalars("epoch_accuracy")] == pytest.approx(history.history["accuracy"])
    assert [e.step for e in train.Scalars("batch_loss")] == list(range(2, 16, 2))  # 5 batches an epoch, every 2nd
    val = read(tmp_path / "validation")
    assert [e.value for e in val.Scalars("epoch_loss")] == pytest.approx(history.history["val_loss"], rel=1e-6)
    weights = {v.name: v.numpy() for v in model.variables}
    assert sorted(train.Tags()["histograms"]) == sorted(f"{n}/histogram" for n in weights)
    last = train.Histograms("hidden/kernel/histogram")[-1]
    assert last.step == 2 and last.histogram_value.sum == pytest.approx(float(weights["hidden/kernel"].sum()), rel=1e-5)
    assert "hidden/kernel/image" in train.Tags()["images"]
    graph_def = train.Graph()
    traced = keras.callbacks._trace_graph(model)
    assert traced is not None and len(graph_def.node) == len(traced.nodes)
    ops = {n.name: n.op for n in graph_def.node}
    assert ops["hidden/MatMul"] == "MatMul" and ops["hidden/kernel"] == "VariableV2" and ops["out/BiasAdd"] == "BiasAdd"


def test_keras_callback_hooks_and_stop_training() -> None:
    calls: list[str] = []

    class Recorder(keras.callbacks.Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            calls.append("train_begin")

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            calls.append(f"epoch_end {epoch} {sorted(logs)}")
            if epoch == 1:
                self.model.stop_training = True

        def on_batch_end(self, batch: int, logs: Any = None) -> None:  # Keras' older name still called
            calls.append(f"batch {batch}")

        def on_train_end(self, logs: Any = None) -> None:
            calls.append("train_end")

    model = keras.Sequential([keras.layers.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=5, batch_size=2, verbose=0, callbacks=[Recorder()])
    assert calls == ["train_begin", "batch 0", "batch 1", "epoch_end 0 ['loss']", "batch 0", "batch 1",
                     "epoch_end 1 ['loss']", "train_end"]  # fmt: skip
    assert history.epoch == [0, 1]
    with pytest.raises(keras.ModelError, match="Callback"):
        model.fit(np.ones((4, 2)), np.ones((4, 1)), verbose=0, callbacks=[object()])


def test_keras_tensorboard_arguments(tmp_path: Path) -> None:
    with pytest.raises(keras.ModelError, match="update_freq"):
        keras.callbacks.TensorBoard(tmp_path, update_freq="sometimes")
    with pytest.raises(keras.ModelError, match="histogram_freq"):
        keras.callbacks.TensorBoard(tmp_path, histogram_freq=-1)
    with pytest.raises(keras.ModelError, match="embeddings"):
        keras.callbacks.TensorBoard(tmp_path, embeddings_freq=1)
    with pytest.warns(UserWarning, match="profiler"):
        keras.callbacks.TensorBoard(tmp_path, profile_batch=2)


# --------------------------------------------------------------------------- errors


def test_bad_input_raises_typed_errors(tmp_path: Path) -> None:
    g = opcore.Graph()
    with g.as_default():
        v = opcore.placeholder(opcore.float32, [3], name="v")
        with pytest.raises(ShapeError, match="one value"):
            opcore.summary.scalar("v", v)
        with pytest.raises(ShapeError, match="channels"):
            opcore.summary.image("img", opcore.placeholder(opcore.float32, [1, 2, 2, 2]))
        with pytest.raises(ShapeError, match="height"):
            opcore.summary.image("img", v)
        with pytest.raises(DTypeError, match="summary tensors"):
            opcore.summary.merge([v])
        with pytest.raises(SummaryError, match="step"):
            opcore.summary.scalar("v", opcore.reduce_sum(v), step=3)
        with pytest.raises(DTypeError, match="string"):
            opcore.summary.scalar("s", opcore.summary.scalar("t", opcore.reduce_sum(v)))
        h = opcore.summary.histogram("h", v)
    with opcore.Session(g) as sess, pytest.raises(SummaryError, match="NaN"):
        sess.run(h, {v: [1.0, np.nan, 2.0]})
    writer = opcore.summary.create_file_writer(tmp_path)
    with writer.as_default():
        with pytest.raises(ShapeError, match="one value"):
            opcore.summary.scalar("pair", [1.0, 2.0], step=0)
        with pytest.raises(DTypeError, match="numbers"):
            opcore.summary.histogram("words", np.array(["a"]), step=0)
        with pytest.raises(SummaryError, match="summary name"):
            opcore.summary.scalar(3, 1.0, step=0)  # type: ignore[arg-type]
    writer.close()
    with pytest.raises(SummaryError, match="add_summary"):
        opcore.summary.FileWriter(tmp_path).add_summary("not a summary")
    (tmp_path / "file").write_text("x")
    with pytest.raises(SummaryError, match="not a directory"):
        opcore.summary.FileWriter(tmp_path / "file")


def test_missing_tensorboard_is_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorboard.compat.proto.summary_pb2", None)
    summary._tb._import.cache_clear()
    try:
        g = opcore.Graph()
        with g.as_default(), pytest.raises(MissingDependencyError, match=r"opcore\[tensorboard\]"):
            opcore.summary.scalar("x", 1.0)
        assert not opcore.summary.available()
    finally:
        summary._tb._import.cache_clear()


def test_import_opcore_without_tensorboard() -> None:
    code = (
        "import sys; sys.modules['tensorboard'] = None\n"
        "import opcore\n"
        "try:\n"
        "    opcore.summary.create_file_writer('unused')\n"
        "except opcore.errors.MissingDependencyError as e:\n"
        "    print('missing:', e)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "missing:" in out.stdout and "pip install 'opcore[tensorboard]'" in out.stdout
    plain = subprocess.run(
        [sys.executable, "-c", "import sys, opcore; print('tensorboard' in sys.modules)"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert plain.stdout.strip() == "False"  # import opcore never loads tensorboard


# --------------------------------------------------------------------------- encoders


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_png_round_trip(channels: int) -> None:
    img = np.random.default_rng(channels).integers(0, 256, (7, 9, channels), dtype=np.uint8)
    decoded = decode_png(summary._encode.png(img))
    np.testing.assert_array_equal(decoded.reshape(7, 9, channels), img)


def test_tf1_image_scaling() -> None:
    positive = np.array([[[[0.0], [0.5], [2.0]]]], np.float32)
    mixed = np.array([[[[-1.0], [0.0], [0.5]]]], np.float32)
    (p,) = summary._encode.image_values("p", positive, 1, rescale=True)
    (m,) = summary._encode.image_values("m", mixed, 1, rescale=True)
    assert decode_png(p.image.encoded_image_string).reshape(-1).tolist() == [0, 64, 255]
    assert decode_png(m.image.encoded_image_string).reshape(-1).tolist() == [1, 128, 192]


def test_audio_summary_is_wav(tmp_path: Path) -> None:
    import wave

    clip = np.sin(np.linspace(0, 20 * np.pi, 800))[None, :, None]
    writer = opcore.summary.create_file_writer(tmp_path)
    with writer.as_default():
        assert opcore.summary.audio("tone", clip, 8000, step=0)
    writer.close()
    encoded = read(tmp_path).Audio("tone/audio/0")[0].encoded_audio_string
    with wave.open(io.BytesIO(encoded)) as f:
        assert (f.getframerate(), f.getnchannels(), f.getnframes()) == (8000, 1, 800)
        frames = np.frombuffer(f.readframes(800), "<i2")
    np.testing.assert_allclose(frames / 32767, clip[0, :, 0], atol=1e-4)


def test_examples_write_logs(tmp_path: Path) -> None:
    data = os.environ.get("OPCORE_DATA_DIR") or str(ROOT.parent / "shared" / "data")
    if not (Path(data) / "mnist" / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("the MNIST files are not available (set OPCORE_DATA_DIR to a folder with mnist/)")
    env = {**os.environ, "OPCORE_DATA_DIR": data}
    cmd = [sys.executable, str(ROOT / "examples" / "mnist_softmax.py"), "--epochs", "1", "--max-steps", "6",
           "--log-every", "2", "--logdir", str(tmp_path)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    acc = read(tmp_path)
    assert [e.step for e in acc.Scalars("cost")] == [2, 4, 6]
    assert set(acc.Tags()["scalars"]) == {"cost", "accuracy"} and acc.Tags()["histograms"] == ["weights"]
    assert any(n.op == "MatMul" for n in acc.Graph().node)


def test_tensor_summaries_keep_the_tensor(tmp_path: Path) -> None:
    value = np.arange(6, dtype=np.int32).reshape(2, 3)
    g = opcore.Graph()
    with g.as_default():
        t = opcore.summary.tensor_summary("t", opcore.constant(value), summary_description="the counts")
    writer = opcore.summary.FileWriter(tmp_path)
    with opcore.Session(g) as sess:
        writer.add_summary(sess.run(t), 1)
    writer.close()
    eager = opcore.summary.create_file_writer(tmp_path / "eager")
    with eager.as_default():
        assert opcore.summary.write("w", np.float64(2.5), step=4)
    eager.close()
    from tensorboard.util import tensor_util

    acc = read(tmp_path)
    np.testing.assert_array_equal(tensor_util.make_ndarray(acc.Tensors("t")[0].tensor_proto), value)
    assert acc.SummaryMetadata("t").summary_description == "the counts"
    event = read(tmp_path / "eager").Tensors("w")[0]
    assert event.step == 4 and tensor_util.make_ndarray(event.tensor_proto) == 2.5


def test_records_carry_checksums_that_tensorboard_checks(tmp_path: Path) -> None:
    writer = opcore.summary.create_file_writer(tmp_path)
    with writer.as_default():
        for i in range(3):
            opcore.summary.scalar("x", float(i), step=i)
    writer.close()
    assert summary._tb.native_crc()  # the extra brings the native CRC-32C
    assert writer.path is not None
    loader = summary._tb._import("tensorboard.backend.event_processing.event_file_loader")
    assert len(list(loader.RawEventFileLoader(writer.path).Load())) == 4  # the file-version event and 3 values
    data = bytearray(Path(writer.path).read_bytes())
    data[-10] ^= 0xFF  # one flipped bit pattern inside the last record's payload
    Path(writer.path).write_bytes(bytes(data))
    assert len(list(loader.RawEventFileLoader(writer.path).Load())) == 3  # TensorBoard drops the damaged record


def test_layers_draw_as_name_scopes_and_variables_keep_their_names() -> None:
    g = opcore.Graph()
    with g.as_default():
        x = opcore.placeholder(opcore.float32, [None, 4], name="x")
        opcore.layers.dense(x, 3, activation="relu", name="hidden")
        with opcore.name_scope("outer"):
            w = opcore.Variable(np.zeros(2, np.float32), name="w")
    names = [n.name for n in g.nodes]
    assert "hidden/MatMul" in names and "hidden/Relu" in names
    assert any(n.startswith("hidden/kernel/Initializer/") for n in names)
    assert {v.name for v in g.variables} == {"hidden/kernel", "hidden/bias", "outer/w"}
    assert w.node.name == "outer/w" and w.initializer.node.name == "outer/w/Assign"


def test_graph_collections() -> None:
    g = opcore.Graph()
    with g.as_default():
        v = opcore.Variable(1.0, name="v")
        frozen = opcore.Variable(2.0, name="frozen", trainable=False)
        opcore.add_to_collection("losses", v)
        opcore.add_to_collections(["a", "b", "a"], frozen)
        assert opcore.get_collection("losses") == [v]
        assert opcore.get_collection("a") == [frozen] and opcore.get_collection("b") == [frozen]
        assert opcore.get_collection(opcore.GraphKeys.GLOBAL_VARIABLES) == [v, frozen]
        assert opcore.get_collection(opcore.GraphKeys.TRAINABLE_VARIABLES) == [v]
        assert opcore.get_collection(opcore.GraphKeys.GLOBAL_VARIABLES, scope="fro") == [frozen]
        opcore.get_collection_ref("losses").clear()
        assert opcore.get_collection("losses") == []
    eager = opcore.Variable(1.0, name="eager")
    with opcore.Graph().as_default(), pytest.raises(opcore.GraphError, match="eager variable"):
        opcore.reduce_sum(eager)  # only a graph made with capture_variables=True takes eager variables
