"""Files under concurrency and damage: concurrent saves, stale temporaries, malformed and corrupted files."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

import opcore
from opcore import keras
from opcore.io import Saver, export_graph, import_graph, import_meta_graph
from opcore.io.atomic import atomic_write


def _graph() -> tuple[opcore.Graph, Any, Any]:
    g = opcore.Graph()
    with g.as_default():
        x = opcore.placeholder(opcore.float32, [None, 3], name="x")
        w = opcore.Variable(np.arange(6, dtype=np.float32).reshape(3, 2), name="w")
        b = opcore.Variable(np.array([0.5, -0.5], np.float32), name="b")
        y = opcore.matmul(x, w) + b
    return g, x, y


def _saved_checkpoint(path: Path, version: int = 1) -> opcore.Graph:
    """A checkpoint at ``path``: by default opcore's single file, whose bytes these tests edit directly."""
    g, _, _ = _graph()
    with opcore.Session(g) as sess:
        sess.run(g.group([v.initializer for v in g.variables]))
        Saver(write_version=version).save(sess, str(path))
    return g


# ----------------------------------------------------------------------------- concurrent saves


_LAYOUT = {
    1: ["checkpoint", "shared.ckpt"],
    2: ["checkpoint", "shared.ckpt.data-00000-of-00001", "shared.ckpt.index", "shared.ckpt.meta"],
}


@pytest.mark.parametrize("version", [2, 1], ids=["tensorflow-layout", "single-file"])
def test_eight_threads_saving_to_one_path_all_succeed(tmp_path: Path, version: int) -> None:
    g, _, y = _graph()
    path = tmp_path / "shared.ckpt"
    errors: list[BaseException] = []
    start = threading.Barrier(8)
    with opcore.Session(g) as sess:
        sess.run(g.group([v.initializer for v in g.variables]))

        def worker() -> None:
            try:
                start.wait()
                for _ in range(5):
                    Saver(write_version=version).save(sess, str(path))
            except BaseException as exc:  # collected and reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert sorted(p.name for p in tmp_path.iterdir()) == _LAYOUT[version]  # no temporary file left
    g2 = opcore.Graph()
    with g2.as_default():
        saver = import_meta_graph(str(path))
    with opcore.Session(g2) as sess:
        saver.restore(sess, str(path))
        out = sess.run(g2.get_tensor_by_name(y.name), {g2.get_tensor_by_name("x:0"): np.ones((1, 3), np.float32)})
    np.testing.assert_array_equal(out, [[6.5, 8.5]])


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


@pytest.mark.skipif(os.name != "posix", reason="stale temporaries are recognised by process id only on POSIX")
@pytest.mark.parametrize("then", ["save", "restore", "load_model", "save-v2", "restore-v2", "import-v2"])
def test_temporary_file_of_a_killed_save_is_removed_by_the_next_save_or_load(tmp_path: Path, then: str) -> None:
    path = tmp_path / "m.ckpt"
    version = 2 if then.endswith("-v2") else 1
    if then == "load_model":
        model = keras.Sequential([keras.layers.Input(shape=(2,)), keras.layers.Dense(1)])
        model.save(str(path))
    else:
        _saved_checkpoint(path, version)
    if version == 1:
        names = ["m.ckpt"]
    elif then == "import-v2":
        names = ["m.ckpt.meta"]
    else:
        names = ["m.ckpt.index", "m.ckpt.data-00000-of-00001"]
    dead = _dead_pid()
    stale = [tmp_path / f".{name}.tmp-{dead}-1-abcdef" for name in names]
    for file in stale:
        file.write_bytes(b"\0" * 1000)
    live = tmp_path / f".{names[0]}.tmp-{os.getpid()}-1-abcdef"  # a save of this process in progress
    live.write_bytes(b"\0" * 10)
    other = tmp_path / ".other.ckpt.tmp-1-1-abcdef"  # another checkpoint's file: not ours to touch
    other.write_bytes(b"")
    if then.startswith("save"):
        _saved_checkpoint(path, version)
    elif then == "restore":
        g = opcore.Graph()
        with g.as_default():
            import_meta_graph(str(path))
    elif then == "restore-v2":
        g = _saved_checkpoint(tmp_path / "unrelated.ckpt", 2)
        with opcore.Session(g) as sess:
            Saver().restore(sess, str(path))
    elif then == "import-v2":
        with opcore.Graph().as_default():
            import_meta_graph(str(path))
    else:
        keras.models.load_model(str(path))
    assert not any(file.exists() for file in stale)
    assert live.exists() and other.exists()


def test_failed_write_leaves_no_temporary_and_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_write(target) as tmp:
        Path(tmp).write_bytes(b"new, half")
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]
    assert target.read_bytes() == b"old"


# ----------------------------------------------------------------------------- graph JSON


def _exported() -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    g, _, _ = _graph()
    return export_graph(g)


def _node(meta: dict[str, Any], name: str) -> dict[str, Any]:
    return next(n for n in meta["nodes"] if n["name"] == name)


def _mutations() -> list[tuple[str, Callable[[dict[str, Any]], Any], str]]:
    def ref_to_later(m: dict[str, Any]) -> None:
        _node(m, "MatMul")["inputs"][0] = ["Add", 0]

    def self_ref(m: dict[str, Any]) -> None:
        _node(m, "MatMul")["inputs"][0] = ["MatMul", 0]

    def negative_index(m: dict[str, Any]) -> None:
        _node(m, "MatMul")["inputs"][0] = ["x", -1]

    def bad_ref_type(m: dict[str, Any]) -> None:
        _node(m, "MatMul")["inputs"][0] = {"x": 0}

    def unknown_op(m: dict[str, Any]) -> None:
        _node(m, "MatMul")["op"] = "NoSuchOp"

    def bad_kind(m: dict[str, Any]) -> None:
        _node(m, "x")["kind"] = 7

    def name_not_str(m: dict[str, Any]) -> None:
        _node(m, "x")["name"] = ["x"]

    def duplicate(m: dict[str, Any]) -> None:
        m["nodes"].append(dict(_node(m, "x")))

    def shape_type(m: dict[str, Any]) -> None:
        _node(m, "x")["shape"] = [None, "3"]

    def nodes_not_list(m: dict[str, Any]) -> None:
        m["nodes"] = {"x": 1}

    def control_cycle(m: dict[str, Any]) -> None:
        _node(m, "x")["control_inputs"] = ["Add"]

    def trainable_str(m: dict[str, Any]) -> None:
        _node(m, "w")["trainable"] = "yes"

    def attrs_list(m: dict[str, Any]) -> None:
        _node(m, "MatMul")["attrs"] = [1]

    def extra_field(m: dict[str, Any]) -> None:
        _node(m, "x")["surprise"] = 1

    def too_many_inputs(m: dict[str, Any]) -> None:
        _node(m, "MatMul")["inputs"].append(["x", 0])

    def not_a_dict(m: dict[str, Any]) -> list[int]:
        return [1, 2]

    return [
        ("reference to a later node", ref_to_later, "not defined before it"),
        ("reference to itself", self_ref, "not defined before it"),
        ("negative output index", negative_index, r"output index must be an integer in \[0"),
        ("reference of the wrong type", bad_ref_type, "must be a list, found"),
        ("unknown op", unknown_op, "needs op 'NoSuchOp'"),
        ("unknown node kind", bad_kind, "unknown node kind 7"),
        ("name not a string", name_not_str, "'name' must be a string"),
        ("duplicate name", duplicate, "used by node #"),
        ("shape with a string", shape_type, "dimension 1 of 'shape' must be an integer"),
        ("nodes not a list", nodes_not_list, "'nodes' must be a list"),
        ("control dependency cycle", control_cycle, "depends on node 'Add'"),
        ("trainable not a bool", trainable_str, "'trainable' must be true or false"),
        ("attrs not an object", attrs_list, "'attrs' must be an object"),
        ("unknown field", extra_field, "unknown field.*'surprise'"),
        ("input count", too_many_inputs, "takes 2 input"),
        ("top level not an object", not_a_dict, "the graph must be an object"),
    ]


@pytest.mark.parametrize(("label", "mutate", "message"), _mutations(), ids=[m[0] for m in _mutations()])
def test_malformed_graph_json_raises_checkpoint_error_naming_the_problem(
    label: str, mutate: Callable[[dict[str, Any]], Any], message: str
) -> None:
    meta, consts = _exported()
    replaced = mutate(meta)
    g = opcore.Graph()
    with pytest.raises(opcore.CheckpointError, match=message):
        import_graph(replaced if replaced is not None else meta, consts, g)
    assert g.nodes == [] and g.variables == []


@pytest.mark.parametrize(
    ("provider", "hint"),
    [
        ("opcore-zero-out", "pip install opcore-zero-out"),
        ("x; rm -rf ~", "install the package that provides it ('x; rm -rf ~' is not a valid distribution name)"),
        ("--index-url=http://evil.example/simple", "is not a valid distribution name"),
    ],
)
def test_missing_op_names_a_pip_command_only_for_a_valid_distribution(provider: str, hint: str) -> None:
    meta, consts = _exported()
    node = _node(meta, "MatMul")
    node["op"], node["provider"] = "NoSuchOp", provider
    with pytest.raises(opcore.CheckpointError) as err:
        import_graph(meta, consts, opcore.Graph())
    assert hint in str(err.value)
    if "pip install" not in hint:
        assert "pip install" not in str(err.value)


def _rewrite_graph_json(path: Path, text: str) -> None:
    """Replace the graph JSON of a checkpoint, with digests recomputed (a well-formed file with a bad graph)."""
    from opcore.io.checkpoint import tensor_digest

    with safe_open(str(path), framework="numpy") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    meta["opcore.graph"] = text
    digests = {k: tensor_digest(a) for k, a in tensors.items()}
    digests["opcore.graph"] = hashlib.sha256(text.encode()).hexdigest()
    meta["opcore.sha256"] = json.dumps(digests)
    save_file(tensors, str(path), metadata=meta)


def test_deeply_nested_graph_json_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "deep.ckpt"
    _saved_checkpoint(path)
    _rewrite_graph_json(path, "[" * 100_000 + "]" * 100_000)
    with pytest.raises(opcore.CheckpointError, match="nests 100000 levels deep; at most 64"):
        import_meta_graph(str(path), graph=opcore.Graph())


def test_huge_integer_in_graph_json_is_a_checkpoint_error(tmp_path: Path) -> None:
    path = tmp_path / "big.ckpt"
    _saved_checkpoint(path)
    with safe_open(str(path), framework="numpy") as f:
        text = f.metadata()["opcore.graph"]
    _rewrite_graph_json(path, text.replace('"shape":[null,3]', '"shape":[null,' + "9" * 5000 + "]"))
    with pytest.raises(opcore.CheckpointError, match="not valid JSON"):
        import_meta_graph(str(path), graph=opcore.Graph())


# ----------------------------------------------------------------------------- integrity


def _header_length(raw: bytes) -> int:
    return 8 + int.from_bytes(raw[:8], "little")


def test_every_flipped_data_byte_of_a_checkpoint_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    g = _saved_checkpoint(path)
    raw = path.read_bytes()
    start = _header_length(raw)
    assert len(raw) - start >= 32  # w and b (and the graph's constants)
    for i in range(start, len(raw)):
        damaged = bytearray(raw)
        damaged[i] ^= 0x10
        path.write_bytes(bytes(damaged))
        with opcore.Session(g) as sess, pytest.raises(opcore.CheckpointError, match="fails its sha256 digest"):
            Saver().restore(sess, str(path))


def test_dtype_changed_in_the_header_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    _saved_checkpoint(path)
    raw = path.read_bytes()
    assert raw.count(b'"F32"') >= 2
    path.write_bytes(raw.replace(b'"F32"', b'"I32"', 1))  # same byte count: the data reads as other values
    with pytest.raises(opcore.CheckpointError, match="fails its sha256 digest"):
        import_meta_graph(str(path), graph=opcore.Graph())


def test_graph_attribute_changed_in_the_file_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    _saved_checkpoint(path)
    raw = path.read_bytes()
    old, new = b'\\"transpose_b\\":false', b'\\"transpose_b\\":true '  # escaped: JSON inside JSON
    assert old in raw
    path.write_bytes(raw.replace(old, new, 1))
    with pytest.raises(opcore.CheckpointError, match="the graph fails its sha256 digest"):
        import_meta_graph(str(path), graph=opcore.Graph())


def test_failed_restore_loads_no_variable(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    g, _, _ = _graph()
    with opcore.Session(g) as sess:
        sess.run(g.group([v.initializer for v in g.variables]))
        Saver(var_list=[g.variables[0]]).save(sess, str(path))  # holds w only
        w = sess.variable_value(g.variables[0]).copy()
        sess.load_variable(g.variables[0], np.zeros((3, 2), np.float32))
        with pytest.raises(opcore.CheckpointError, match="no value for variable 'b'"):
            Saver().restore(sess, str(path))  # w is in the file, b is not: neither is loaded
        np.testing.assert_array_equal(sess.variable_value(g.variables[0]), np.zeros((3, 2)))
        Saver(var_list=[g.variables[0]]).restore(sess, str(path))
        np.testing.assert_array_equal(sess.variable_value(g.variables[0]), w)


# ----------------------------------------------------------------------------- all-or-nothing import


def test_failed_import_meta_graph_leaves_the_graph_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    _saved_checkpoint(path)
    with safe_open(str(path), framework="numpy") as f:
        meta = json.loads(f.metadata()["opcore.graph"])
    # an attribute that only the op itself rejects, on the last op node: found while building
    add = [n for n in meta["nodes"] if n["kind"] == "op"][-1]
    add["attrs"] = {"no_such_attr": 1}
    _rewrite_graph_json(path, json.dumps(meta))

    g = opcore.Graph()
    with g.as_default():
        opcore.placeholder(opcore.float32, [2], name="mine")
        with pytest.raises(opcore.CheckpointError, match="unknown attribute"):
            import_meta_graph(str(path))
        assert [n.name for n in g.nodes] == ["mine"] and g.variables == []
        _saved_checkpoint(path)  # a good file, imported into the same graph
        saver = import_meta_graph(str(path))
    assert len(g.variables) == 2
    with opcore.Session(g) as sess:
        saver.restore(sess, str(path))
        out = sess.run(g.get_tensor_by_name("Add:0"), {g.get_tensor_by_name("x:0"): np.ones((1, 3), np.float32)})
    np.testing.assert_array_equal(out, [[6.5, 8.5]])


def test_import_into_a_graph_with_the_same_names_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    g = _saved_checkpoint(path)
    before = [n.name for n in g.nodes]
    with pytest.raises(opcore.CheckpointError, match="already exist in the target graph"):
        import_meta_graph(str(path), graph=g)
    assert [n.name for n in g.nodes] == before


# ----------------------------------------------------------------------------- Keras files


def _saved_model(path: Path) -> None:
    model = keras.Sequential([keras.layers.Input(shape=(4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    model.save(str(path))


def _rewrite_architecture(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    with safe_open(str(path), framework="numpy") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    arch = json.loads(meta["opcore.keras.model"])
    edit(arch)
    meta["opcore.keras.model"] = json.dumps(arch)
    digests = json.loads(meta["opcore.keras.sha256"])
    digests["opcore.keras.model"] = hashlib.sha256(meta["opcore.keras.model"].encode()).hexdigest()
    meta["opcore.keras.sha256"] = json.dumps(digests)
    save_file(tensors, str(path), metadata=meta)


def test_changed_keras_architecture_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    model = keras.Sequential([keras.layers.Input(shape=(4,)), keras.layers.Dense(3, activation="relu")])
    model.save(str(path))
    raw = path.read_bytes()
    assert raw.count(b"relu") == 1
    path.write_bytes(raw.replace(b"relu", b"selu"))  # one bit: a different model, same weights
    with pytest.raises(opcore.CheckpointError, match="the architecture fails its sha256 checksum"):
        keras.models.load_model(str(path))


def test_load_model_checks_weights_against_the_file_before_allocating(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    _saved_model(path)

    def huge(arch: dict[str, Any]) -> None:
        arch["config"]["layers"][0]["config"]["units"] = 5_000_000  # an 80 MB kernel from a 2 KB file

    _rewrite_architecture(path, huge)
    assert path.stat().st_size < 4096
    tracemalloc.start()
    try:
        with pytest.raises(opcore.CheckpointError, match=r"declares weight .* of shape \[4, 5000000\].*refusing"):
            keras.models.load_model(str(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20


def _functional_path(tmp_path: Path) -> Path:
    inputs = keras.layers.Input(shape=(4,))
    outputs = keras.layers.Dense(2)(keras.layers.Dense(3)(inputs))
    path = tmp_path / "f.safetensors"
    keras.Model(inputs, outputs).save(str(path))
    return path


def _arch_mutations() -> list[tuple[str, Callable[[dict[str, Any]], None], str]]:
    def node_arg_negative(a: dict[str, Any]) -> None:
        a["config"]["nodes"][0]["args"] = [-1]

    def node_arg_forward(a: dict[str, Any]) -> None:
        a["config"]["nodes"][0]["args"] = [2]  # the tensor that this very node makes: a cycle

    def node_layer_range(a: dict[str, Any]) -> None:
        a["config"]["nodes"][1]["layer"] = 9

    def output_range(a: dict[str, Any]) -> None:
        a["config"]["outputs"] = [7]

    def layers_not_list(a: dict[str, Any]) -> None:
        a["config"]["layers"] = "Dense"

    def layer_config_list(a: dict[str, Any]) -> None:
        a["config"]["layers"][0]["config"] = [1]

    def input_shape_str(a: dict[str, Any]) -> None:
        a["config"]["inputs"][0]["shape"] = [None, "4"]

    def input_dtype(a: dict[str, Any]) -> None:
        a["config"]["inputs"][0]["dtype"] = "float31"

    def as_list_int(a: dict[str, Any]) -> None:
        a["config"]["nodes"][0]["as_list"] = 0

    def class_name(a: dict[str, Any]) -> None:
        a["class_name"] = "Dense"

    def units_str(a: dict[str, Any]) -> None:
        a["config"]["layers"][0]["config"]["units"] = "three"

    def deep(a: dict[str, Any]) -> None:
        inner: dict[str, Any] = {}
        a["config"]["layers"][0]["config"]["extra"] = inner
        for _ in range(200):
            inner["x"] = {}
            inner = inner["x"]

    return [
        ("negative tensor index", node_arg_negative, r"argument #0 .* must be an integer in \[0, 0\], found -1"),
        ("tensor made later", node_arg_forward, r"argument #0 .* must be an integer in \[0, 0\], found 2"),
        ("layer out of range", node_layer_range, r"'layer' must be an integer in \[0, 1\], found 9"),
        ("output out of range", output_range, r"output #0 must be an integer in \[0, 2\], found 7"),
        ("layers not a list", layers_not_list, "'layers' must be a list"),
        ("layer config not an object", layer_config_list, "'config' must be an object"),
        ("input shape string", input_shape_str, "dimension 1 of 'shape' must be an integer"),
        ("input dtype", input_dtype, "'dtype'.*float31"),
        ("as_list not a bool", as_list_int, "'as_list' must be true or false"),
        ("model class", class_name, "must be 'Sequential' or 'Model'"),
        ("bad layer argument", units_str, "cannot rebuild the architecture"),
        ("deep nesting", deep, "levels deep; at most 64"),
    ]


@pytest.mark.parametrize(("label", "edit", "message"), _arch_mutations(), ids=[m[0] for m in _arch_mutations()])
def test_malformed_keras_architecture_raises_checkpoint_error(
    tmp_path: Path, label: str, edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    path = _functional_path(tmp_path)
    _rewrite_architecture(path, edit)
    with pytest.raises(opcore.CheckpointError, match=message):
        keras.models.load_model(str(path))
