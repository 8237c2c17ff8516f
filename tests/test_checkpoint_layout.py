"""Checkpoints in TensorFlow 1's layout: .index, .data-00000-of-00001, .meta and the ``checkpoint`` state file."""

from __future__ import annotations

import doctest
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

import opcore
from opcore.io import bundle, checkpoint_state
from opcore.io import checkpoint as checkpoint_module
from opcore.train import (
    Saver,
    checkpoint_exists,
    get_checkpoint_state,
    import_meta_graph,
    latest_checkpoint,
    list_variables,
    load_variable,
    update_checkpoint_state,
)

DATA, INDEX, META = ".data-00000-of-00001", ".index", ".meta"


def _graph(w0: float = 1.0) -> tuple[opcore.Graph, Any, Any, Any]:
    g = opcore.Graph()
    with g.as_default():
        x = opcore.placeholder(opcore.float32, [None, 3], name="x")
        w = opcore.Variable(np.full((3, 2), w0, np.float32), name="dense/W")
        b = opcore.Variable(np.array([0.5, -0.5], np.float32), name="dense/b")
        y = opcore.matmul(x, w) + b
    return g, x, y, w


def _init(sess: opcore.Session, g: opcore.Graph) -> None:
    sess.run(g.group([v.initializer for v in g.variables]))


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ----------------------------------------------------------------------------- files and the state file


def test_save_writes_tensorflow_files_and_latest_checkpoint_finds_them(tmp_path: Path) -> None:
    g, x, y, _w = _graph(2.0)
    folder = tmp_path / "ckpts"
    ones = np.ones((1, 3), np.float32)
    with opcore.Session(g) as sess:
        _init(sess, g)
        before = sess.run(y, {x: ones})
        prefix = Saver().save(sess, str(folder / "model.ckpt"), global_step=1000)
    assert prefix == str(folder / "model.ckpt-1000")
    assert _files(folder) == [
        "checkpoint",
        f"model.ckpt-1000{DATA}",
        f"model.ckpt-1000{INDEX}",
        f"model.ckpt-1000{META}",
    ]
    assert latest_checkpoint(str(folder)) == prefix
    state = get_checkpoint_state(str(folder))
    assert state is not None and state.model_checkpoint_path == prefix and state.all_model_checkpoint_paths == [prefix]
    assert json.loads((folder / "checkpoint").read_text())["model_checkpoint_path"] == "model.ckpt-1000"  # relative

    # the data file is a plain safetensors file keyed by variable name; the index is JSON
    with safe_open(prefix + DATA, framework="numpy") as f:
        assert sorted(f.keys()) == ["dense/W", "dense/b"]
        np.testing.assert_array_equal(f.get_tensor("dense/W"), np.full((3, 2), 2.0, np.float32))
    index = json.loads(Path(prefix + INDEX).read_text())
    assert index["tensors"]["dense/W"]["dtype"] == "float32" and index["tensors"]["dense/W"]["shape"] == [3, 2]
    assert list_variables(str(folder)) == [("dense/W", [3, 2]), ("dense/b", [2])]
    np.testing.assert_array_equal(load_variable(prefix, "dense/b"), [0.5, -0.5])

    # restore into the same graph, and into a graph rebuilt from the .meta file
    with opcore.Session(g) as sess:
        _init(sess, g)
        sess.load_variable(g.variables[0], np.zeros((3, 2), np.float32))
        Saver().restore(sess, latest_checkpoint(str(folder)))
        np.testing.assert_array_equal(sess.run(y, {x: ones}), before)
    g2 = opcore.Graph()
    with g2.as_default():
        saver = import_meta_graph(prefix + META)
    with opcore.Session(g2) as sess:
        saver.restore(sess, prefix)
        np.testing.assert_array_equal(
            sess.run(g2.get_tensor_by_name(y.name), {g2.get_tensor_by_name("x:0"): ones}), before
        )


def test_global_step_from_a_variable_int_and_padded(tmp_path: Path) -> None:
    g, x, y, _ = _graph()
    with g.as_default():
        step = opcore.train.get_or_create_global_step()
        loss = opcore.reduce_sum(y)
        train = opcore.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=step)
    with opcore.Session(g) as sess:
        _init(sess, g)
        for _ in range(3):
            sess.run(train, {x: np.ones((2, 3), np.float32)})
        assert Saver().save(sess, str(tmp_path / "m"), global_step=step).endswith("m-3")
        assert Saver().save(sess, str(tmp_path / "m"), global_step=np.int64(12)).endswith("m-12")
        assert Saver(pad_step_number=True).save(sess, str(tmp_path / "m"), global_step=7).endswith("m-00000007")
        for bad in (1.5, True, "7", [1, 2]):
            with pytest.raises(opcore.CheckpointError, match="global_step must be an integer"):
                Saver().save(sess, str(tmp_path / "m"), global_step=bad)


def test_max_to_keep_removes_the_oldest_checkpoints(tmp_path: Path) -> None:
    g, *_ = _graph()
    with opcore.Session(g) as sess:
        _init(sess, g)
        saver = Saver(max_to_keep=3)
        for step in range(1, 8):
            saver.save(sess, str(tmp_path / "model.ckpt"), global_step=step)
    kept = [str(tmp_path / f"model.ckpt-{s}") for s in (5, 6, 7)]
    assert saver.last_checkpoints == kept
    assert _files(tmp_path) == [
        "checkpoint",
        *sorted(f"model.ckpt-{s}{e}" for s in (5, 6, 7) for e in (DATA, INDEX, META)),
    ]
    state = get_checkpoint_state(str(tmp_path))
    assert state is not None and state.all_model_checkpoint_paths == kept and state.model_checkpoint_path == kept[-1]
    assert not checkpoint_exists(str(tmp_path / "model.ckpt-4")) and checkpoint_exists(kept[0])


def test_default_keeps_five_and_none_keeps_every_file_but_lists_only_the_last(tmp_path: Path) -> None:
    g, *_ = _graph()
    with opcore.Session(g) as sess:
        _init(sess, g)
        five, every = Saver(), Saver(max_to_keep=None)
        for step in range(7):
            five.save(sess, str(tmp_path / "a" / "m"), global_step=step)
            every.save(sess, str(tmp_path / "b" / "m"), global_step=step)
    assert len(list((tmp_path / "a").glob("*.index"))) == 5
    assert len(list((tmp_path / "b").glob("*.index"))) == 7
    state = get_checkpoint_state(str(tmp_path / "b"))
    assert state is not None and state.all_model_checkpoint_paths == [str(tmp_path / "b" / "m-6")]


def test_saving_the_same_prefix_again_keeps_one_entry(tmp_path: Path) -> None:
    g, *_ = _graph()
    with opcore.Session(g) as sess:
        _init(sess, g)
        saver = Saver(max_to_keep=2)
        for name in ("a", "b", "a", "a"):
            saver.save(sess, str(tmp_path / name))
    assert saver.last_checkpoints == [str(tmp_path / "b"), str(tmp_path / "a")]
    assert _files(tmp_path) == ["a" + DATA, "a" + INDEX, "a" + META, "b" + DATA, "b" + INDEX, "b" + META, "checkpoint"]


def test_keep_checkpoint_every_n_hours_preserves_one_per_period(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1_000_000.0]

    class FakeTime:
        @staticmethod
        def time() -> float:
            return clock[0]

    monkeypatch.setattr(checkpoint_module, "time", FakeTime)
    g, *_ = _graph()
    with opcore.Session(g) as sess:
        _init(sess, g)
        saver = Saver(max_to_keep=2, keep_checkpoint_every_n_hours=1)
        for step in range(1, 6):  # saves at 0.5 h, 1.5 h, 2.5 h, 3.5 h, 4.5 h
            clock[0] = 1_000_000.0 + (step - 0.5) * 3600
            saver.save(sess, str(tmp_path / "m"), global_step=step)
    # 1 (0.5 h) fell out before the first hour was over and went; 2 and 3 each open a new hour and stay
    assert sorted(p.name for p in tmp_path.glob("*.index")) == [f"m-{s}.index" for s in (2, 3, 4, 5)]
    state = get_checkpoint_state(str(tmp_path))
    assert state is not None and state.all_model_checkpoint_paths == [str(tmp_path / "m-4"), str(tmp_path / "m-5")]
    assert state.last_preserved_timestamp == 1_000_000.0 + 2.5 * 3600


def test_recover_last_checkpoints_counts_an_earlier_run(tmp_path: Path) -> None:
    g, *_ = _graph()
    with opcore.Session(g) as sess:
        _init(sess, g)
        first = Saver(max_to_keep=2)
        for step in (1, 2):
            first.save(sess, str(tmp_path / "m"), global_step=step)
        state = get_checkpoint_state(str(tmp_path))
        assert state is not None
        second = Saver(max_to_keep=2)
        second.recover_last_checkpoints(state.all_model_checkpoint_paths)
        second.save(sess, str(tmp_path / "m"), global_step=3)
    assert sorted(p.name for p in tmp_path.glob("*.index")) == ["m-2.index", "m-3.index"]


def test_write_meta_graph_and_write_state_false(tmp_path: Path) -> None:
    g, *_ = _graph()
    with opcore.Session(g) as sess:
        _init(sess, g)
        prefix = Saver().save(sess, str(tmp_path / "m"), write_meta_graph=False, write_state=False)
        assert _files(tmp_path) == ["m" + DATA, "m" + INDEX]
        assert latest_checkpoint(str(tmp_path)) is None
        Saver().restore(sess, prefix)
    with pytest.raises(opcore.CheckpointError, match="no checkpoint"):
        import_meta_graph(prefix, graph=opcore.Graph())


def test_latest_filename_and_meta_graph_suffix(tmp_path: Path) -> None:
    g, *_ = _graph()
    with opcore.Session(g) as sess:
        _init(sess, g)
        prefix = Saver().save(sess, str(tmp_path / "m"), latest_filename="best", meta_graph_suffix="graph")
    assert _files(tmp_path) == ["best", "m" + DATA, "m.graph", "m" + INDEX]
    assert latest_checkpoint(str(tmp_path)) is None and latest_checkpoint(str(tmp_path), "best") == prefix
    with opcore.Graph().as_default():
        import_meta_graph(prefix + ".graph")


# ----------------------------------------------------------------------------- var_list


def test_var_list_as_a_dict_names_the_tensors(tmp_path: Path) -> None:
    g, _, _, w = _graph(3.0)
    with opcore.Session(g) as sess:
        _init(sess, g)
        prefix = Saver({"weights": w}).save(sess, str(tmp_path / "m"))
    assert list_variables(prefix) == [("weights", [3, 2])]
    g2 = opcore.Graph()
    with g2.as_default():
        other = opcore.Variable(np.zeros((3, 2), np.float32), name="elsewhere")
    with opcore.Session(g2) as sess:
        Saver({"weights": other}).restore(sess, prefix)
        np.testing.assert_array_equal(sess.run(other), np.full((3, 2), 3.0))
        with pytest.raises(opcore.CheckpointError, match="no value for variable 'elsewhere'"):
            Saver().restore(sess, prefix)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_to_keep": -1}, "max_to_keep must be >= 0"),
        ({"max_to_keep": 2.5}, "max_to_keep must be an int"),
        ({"write_version": 3}, "write_version must be 2"),
        ({"keep_checkpoint_every_n_hours": 0}, "keep_checkpoint_every_n_hours must be > 0"),
        ({"keep_checkpoint_every_n_hours": "soon"}, "keep_checkpoint_every_n_hours must be > 0"),
        ({"var_list": [opcore.Variable(1.0)]}, "saves the variables of a graph"),
        ({"var_list": {"": None}}, "var_list keys are the names"),
        ({"var_list": "w"}, "must be a list or dict"),
    ],
)
def test_bad_saver_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(opcore.CheckpointError, match=message):
        Saver(**kwargs)


def test_two_variables_under_one_name_are_refused() -> None:
    _g, _, _, w = _graph()
    with pytest.raises(opcore.CheckpointError, match="two variables are saved under the name 'dense/W'"):
        Saver([w, w])


# ----------------------------------------------------------------------------- restore errors


def test_restore_errors_say_what_to_pass(tmp_path: Path) -> None:
    g, *_ = _graph()
    with opcore.Session(g) as sess:
        _init(sess, g)
        prefix = Saver().save(sess, str(tmp_path / "model.ckpt"), global_step=5)
        with pytest.raises(opcore.CheckpointError, match="save_path is None"):
            Saver().restore(sess, latest_checkpoint(str(tmp_path / "nowhere")))
        with pytest.raises(opcore.CheckpointError, match=r"it is a folder; its latest checkpoint is .*model\.ckpt-5"):
            Saver().restore(sess, str(tmp_path))
        with pytest.raises(opcore.CheckpointError, match=r"pass the prefix .*model\.ckpt-5', without '\.index'"):
            Saver().restore(sess, prefix + INDEX)
        with pytest.raises(opcore.CheckpointError, match=r"the latest checkpoint in .* is .*model\.ckpt-5"):
            Saver().restore(sess, str(tmp_path / "model.ckpt"))
        with pytest.raises(opcore.CheckpointError, match="is a folder; give a file prefix inside it"):
            Saver().save(sess, str(tmp_path))
        with pytest.raises(opcore.CheckpointError, match="would overwrite the folder's state file 'checkpoint'"):
            Saver(write_version=1).save(sess, str(tmp_path / "checkpoint"))
        assert Saver().save(sess, str(tmp_path / "checkpoint")).endswith("checkpoint")  # .index, .data, .meta


def test_shape_mismatch_is_found_in_the_index_before_reading_data(tmp_path: Path) -> None:
    g, *_ = _graph()
    with opcore.Session(g) as sess:
        _init(sess, g)
        prefix = Saver().save(sess, str(tmp_path / "m"))
    Path(prefix + DATA).unlink()  # not needed to find the mismatch
    g2 = opcore.Graph()
    with g2.as_default():
        opcore.Variable(np.zeros((4, 2), np.float32), name="dense/W")
    with opcore.Session(g2) as sess, pytest.raises(opcore.CheckpointError, match=r"holds float32 \[3, 2\] .* \[4, 2\]"):
        Saver().restore(sess, prefix)


def test_failed_restore_loads_no_variable(tmp_path: Path) -> None:
    g, _, _, w = _graph(4.0)
    with opcore.Session(g) as sess:
        _init(sess, g)
        prefix = Saver([w]).save(sess, str(tmp_path / "m"))
        sess.load_variable(w, np.zeros((3, 2), np.float32))
        with pytest.raises(opcore.CheckpointError, match="no value for variable 'dense/b'"):
            Saver().restore(sess, prefix)
        np.testing.assert_array_equal(sess.run(w), np.zeros((3, 2)))


# ----------------------------------------------------------------------------- integrity


def _saved(tmp_path: Path, w0: float = 1.0, name: str = "m") -> tuple[opcore.Graph, str]:
    g, *_ = _graph(w0)
    with opcore.Session(g) as sess:
        _init(sess, g)
        prefix = Saver().save(sess, str(tmp_path / name))
    return g, prefix


def test_every_flipped_byte_of_the_index_is_detected(tmp_path: Path) -> None:
    g, prefix = _saved(tmp_path)
    path = Path(prefix + INDEX)
    raw = path.read_bytes()
    with opcore.Session(g) as sess:
        for i in range(len(raw)):
            damaged = bytearray(raw)
            damaged[i] ^= 0x01
            path.write_bytes(bytes(damaged))
            with pytest.raises(opcore.CheckpointError):
                Saver().restore(sess, prefix)


def test_every_flipped_data_byte_is_detected(tmp_path: Path) -> None:
    g, prefix = _saved(tmp_path)
    path = Path(prefix + DATA)
    raw = path.read_bytes()
    start = 8 + int.from_bytes(raw[:8], "little")
    assert len(raw) - start == 32  # W and b
    with opcore.Session(g) as sess:
        for i in range(start, len(raw)):
            damaged = bytearray(raw)
            damaged[i] ^= 0x10
            path.write_bytes(bytes(damaged))
            with pytest.raises(opcore.CheckpointError, match="fails its sha256 digest"):
                Saver().restore(sess, prefix)


def test_dtype_changed_in_the_data_header_is_detected(tmp_path: Path) -> None:
    g, prefix = _saved(tmp_path)
    path = Path(prefix + DATA)
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b'"F32"', b'"I32"', 1))
    with opcore.Session(g) as sess, pytest.raises(opcore.CheckpointError, match="fails its sha256 digest"):
        Saver().restore(sess, prefix)


def test_data_file_of_another_save_is_detected(tmp_path: Path) -> None:
    g, prefix = _saved(tmp_path, 1.0, "a")
    _, other = _saved(tmp_path, 2.0, "b")
    Path(prefix + DATA).write_bytes(Path(other + DATA).read_bytes())
    with opcore.Session(g) as sess, pytest.raises(opcore.CheckpointError, match="'dense/W' fails its sha256 digest"):
        Saver().restore(sess, prefix)


@pytest.mark.parametrize("change", ["extra tensor", "missing tensor", "no marker"])
def test_data_file_that_does_not_match_its_index_is_detected(tmp_path: Path, change: str) -> None:
    g, prefix = _saved(tmp_path)
    with safe_open(prefix + DATA, framework="numpy") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        meta = dict(f.metadata())
    if change == "extra tensor":
        tensors["surprise"] = np.zeros(2, np.float32)
    elif change == "missing tensor":
        del tensors["dense/b"]
    else:
        meta = {}
    save_file(tensors, prefix + DATA, metadata=meta)
    message = "is not the data file" if change == "no marker" else "does not match its index"
    with opcore.Session(g) as sess, pytest.raises(opcore.CheckpointError, match=message):
        Saver().restore(sess, prefix)


def _edit_index(prefix: str, edit: Any) -> None:
    path = Path(prefix + INDEX)
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(format="other"), "not an opcore checkpoint index"),
        (lambda d: d.update(version=2), "has version 2"),
        (lambda d: d.update(data_files=2), r"'data_files'.*must be an integer in \[1, 1\]"),
        (lambda d: d.update(extra=1), "unknown field"),
        (lambda d: d.update(tensors=[]), "'tensors' must be an object"),
        (lambda d: d["tensors"]["dense/W"].update(dtype="float31"), "'dtype'"),
        (lambda d: d["tensors"]["dense/W"].update(shape=[3, -2]), r"dimension 1 of 'shape' must be an integer in \[0"),
        (lambda d: d["tensors"]["dense/W"].update(shape=[1] * 65), "rank 65; at most 64"),
        (lambda d: d["tensors"]["dense/W"].update(sha256="ab"), "64 lowercase hex digits"),
        (lambda d: d["tensors"]["dense/W"].pop("sha256"), "lacks field"),
    ],
)
def test_malformed_index_raises_checkpoint_error_naming_the_problem(tmp_path: Path, edit: Any, message: str) -> None:
    g, prefix = _saved(tmp_path)
    _edit_index(prefix, edit)
    with opcore.Session(g) as sess, pytest.raises(opcore.CheckpointError, match=message):
        Saver().restore(sess, prefix)


def test_deeply_nested_index_is_refused_before_parsing(tmp_path: Path) -> None:
    g, prefix = _saved(tmp_path)
    Path(prefix + INDEX).write_text("[" * 100_000 + "]" * 100_000)
    with opcore.Session(g) as sess, pytest.raises(opcore.CheckpointError, match="nests 100000 levels deep"):
        Saver().restore(sess, prefix)


# ----------------------------------------------------------------------------- the state file


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model_checkpoint_path: 'm'", "not valid JSON"),
        ('{"format": "x"}', "not an opcore checkpoint state"),
        ('{"format": "opcore.checkpoint.state", "version": 1}', "lacks field"),
        (
            '{"format": "opcore.checkpoint.state", "version": 1, "model_checkpoint_path": "../m", '
            '"all_model_checkpoint_paths": []}',
            "no folder part",
        ),
        (
            '{"format": "opcore.checkpoint.state", "version": 1, "model_checkpoint_path": "m", '
            '"all_model_checkpoint_paths": ["m"], "all_model_checkpoint_timestamps": [1, 2]}',
            "lists 1 checkpoints but 2 timestamps",
        ),
        (
            '{"format": "opcore.checkpoint.state", "version": 1, "model_checkpoint_path": "m", '
            '"all_model_checkpoint_paths": [], "last_preserved_timestamp": -1}',
            "non-negative",
        ),
    ],
)
def test_damaged_state_file_is_an_error_not_a_fresh_start(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "checkpoint").write_text(text)
    with pytest.raises(opcore.CheckpointError, match=message):
        latest_checkpoint(str(tmp_path))


def test_state_without_files_and_update_checkpoint_state(tmp_path: Path) -> None:
    assert latest_checkpoint(str(tmp_path)) is None and get_checkpoint_state(str(tmp_path)) is None
    update_checkpoint_state(str(tmp_path), str(tmp_path / "m-2"), [str(tmp_path / "m-1")])
    state = get_checkpoint_state(str(tmp_path))
    assert state is not None
    assert state.all_model_checkpoint_paths == [str(tmp_path / "m-1"), str(tmp_path / "m-2")]
    assert latest_checkpoint(str(tmp_path)) is None  # named, but never saved
    with pytest.raises(opcore.CheckpointError, match="is not in the folder"):
        update_checkpoint_state(str(tmp_path), "/elsewhere/m-3")


def test_single_file_checkpoints_still_load_and_are_listed(tmp_path: Path) -> None:
    g, x, y, _ = _graph(5.0)
    path = str(tmp_path / "old.ckpt")
    with opcore.Session(g) as sess:
        _init(sess, g)
        before = sess.run(y, {x: np.ones((1, 3), np.float32)})
        assert Saver(write_version=1).save(sess, path) == path
    assert (tmp_path / "old.ckpt").is_file() and latest_checkpoint(str(tmp_path)) == path
    assert list_variables(path) == [("dense/W", [3, 2]), ("dense/b", [2])]
    np.testing.assert_array_equal(load_variable(str(tmp_path), "dense/W"), np.full((3, 2), 5.0))
    g2 = opcore.Graph()
    with g2.as_default():
        saver = import_meta_graph(path + ".meta")  # the name TensorFlow programs use
    with opcore.Session(g2) as sess:
        saver.restore(sess, path)
        np.testing.assert_array_equal(
            sess.run(g2.get_tensor_by_name(y.name), {g2.get_tensor_by_name("x:0"): np.ones((1, 3), np.float32)}), before
        )
    with pytest.raises(opcore.CheckpointError, match="has no variable 'nope'"):
        load_variable(path, "nope")


# ----------------------------------------------------------------------------- concurrency


def test_concurrent_saves_of_different_values_and_restores_never_mix(tmp_path: Path) -> None:
    prefix = str(tmp_path / "shared.ckpt")
    writers = []
    for value in (1.0, 2.0):
        g, *_ = _graph(value)
        sess = opcore.Session(g)
        _init(sess, g)
        writers.append(sess)
    g_read, *_ = _graph(0.0)
    reader = opcore.Session(g_read)
    _init(reader, g_read)
    Saver().save(writers[0], prefix)
    errors: list[BaseException] = []
    seen: set[float] = set()
    start = threading.Barrier(3)

    def write(sess: opcore.Session) -> None:
        try:
            start.wait()
            for _ in range(10):
                Saver().save(sess, prefix)
        except BaseException as exc:  # reported below
            errors.append(exc)

    def read() -> None:
        try:
            start.wait()
            for _ in range(30):
                Saver().restore(reader, prefix)
                w = reader.variable_value(g_read.variables[0])
                assert len(set(w.ravel().tolist())) == 1
                seen.add(float(w[0, 0]))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s,)) for s in writers] + [threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for sess in (*writers, reader):
        sess.close()
    assert errors == []  # without the folder lock a restore meets one save's index with another's data
    assert seen <= {1.0, 2.0} and seen
    assert _files(tmp_path) == ["checkpoint", f"shared.ckpt{DATA}", f"shared.ckpt{INDEX}", f"shared.ckpt{META}"]


# ----------------------------------------------------------------------------- docs


@pytest.mark.parametrize("module", [checkpoint_state, bundle, checkpoint_module], ids=lambda m: m.__name__)
def test_docstring_examples(module: Any) -> None:
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0
