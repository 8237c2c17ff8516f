"""Checkpoints: round trip, atomic writes under a kill, corruption, missing ops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import opcore
from opcore.io import Saver, import_meta_graph


def _model(seed: int = 0) -> tuple[opcore.Graph, object, object, object]:
    g = opcore.Graph()
    with g.as_default():
        x = opcore.placeholder(opcore.float32, [None, 3], name="x")
        w = opcore.Variable(opcore.random_normal([3, 2], seed=seed), name="dense/W")
        b = opcore.Variable(opcore.constant([0.5, -0.5]), name="dense/b")
        y = opcore.softmax(x @ w + b)
    return g, x, y, w


def test_save_restore_and_import_meta_graph(tmp_path: Path) -> None:
    g, x, y, _ = _model()
    data = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    path = str(tmp_path / "model.ckpt")
    with opcore.Session(g) as sess:
        sess.run(g.group([v.initializer for v in g.variables]))
        before = sess.run(y, {x: data})
        assert Saver().save(sess, path) == path

    # the same graph, fresh session: restore
    with opcore.Session(g) as sess:
        Saver().restore(sess, path)
        np.testing.assert_array_equal(sess.run(y, {x: data}), before)

    # a new graph rebuilt from the file: no Python code of the model needed
    g2 = opcore.Graph()
    with g2.as_default():
        saver = import_meta_graph(path + ".meta")
    x2 = g2.get_tensor_by_name("x:0")
    y2 = g2.get_tensor_by_name(y.name)  # type: ignore[attr-defined]
    with opcore.Session(g2) as sess:
        saver.restore(sess, path)
        np.testing.assert_array_equal(sess.run(y2, {x2: data}), before)


def test_corrupted_and_truncated_files_raise_checkpoint_error(tmp_path: Path) -> None:
    g = _model()[0]
    path = tmp_path / "m.ckpt"
    with opcore.Session(g) as sess:
        sess.run(g.group([v.initializer for v in g.variables]))
        Saver(write_version=1).save(sess, str(path))  # the single-file format
        raw = path.read_bytes()
        path.write_bytes(raw[: len(raw) // 2])
        with pytest.raises(opcore.CheckpointError, match="corrupted or truncated"):
            Saver().restore(sess, str(path))
        path.write_bytes(b"\x00" * 64)
        with pytest.raises(opcore.CheckpointError, match=r"m\.ckpt"):
            Saver().restore(sess, str(path))
        with pytest.raises(opcore.CheckpointError, match="no checkpoint"):
            Saver().restore(sess, str(tmp_path / "missing.ckpt"))
    with pytest.raises(opcore.CheckpointError):
        import_meta_graph(str(path), graph=opcore.Graph())


@pytest.mark.parametrize("damaged", [".data-00000-of-00001", ".index", ".meta"])
def test_corrupted_and_truncated_files_of_the_tensorflow_layout_raise_checkpoint_error(
    tmp_path: Path, damaged: str
) -> None:
    g = _model()[0]
    prefix = str(tmp_path / "m.ckpt")
    file = Path(prefix + damaged)
    with opcore.Session(g) as sess:
        sess.run(g.group([v.initializer for v in g.variables]))
        Saver().save(sess, prefix)
        raw = file.read_bytes()
        for bad in (raw[: len(raw) // 2], b"\x00" * 64, b""):
            file.write_bytes(bad)
            with pytest.raises(opcore.CheckpointError, match=r"m\.ckpt"):
                if damaged == ".meta":
                    import_meta_graph(prefix, graph=opcore.Graph())
                else:
                    Saver().restore(sess, prefix)
        file.unlink()
        with pytest.raises(opcore.CheckpointError, match=r"no checkpoint|missing"):
            if damaged == ".meta":
                import_meta_graph(prefix, graph=opcore.Graph())
            else:
                Saver().restore(sess, prefix)


_SAVER_SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np, opcore
    from opcore.io import Saver
    path, big, version = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    g = opcore.Graph()
    with g.as_default():
        x = opcore.placeholder(opcore.float32, [None, 4], name="x")
        w = opcore.Variable(np.full((4, 1), 2.0, np.float32), name="w")
        pad = opcore.Variable(np.zeros((big,), np.float32), name="pad")
        y = x @ w
        bump = opcore.assign_add(w, np.ones((4, 1), np.float32))
    with opcore.Session(g) as sess:
        sess.run(g.group([v.initializer for v in g.variables]))
        if big == 0:
            Saver(write_version=version).save(sess, path)
        else:
            sess.run(bump)
            print("saving", flush=True)
            while True:  # keep saving until killed
                Saver(write_version=version).save(sess, path)
    """
)


@pytest.mark.parametrize("version", [2, 1], ids=["tensorflow-layout", "single-file"])
def test_kill_during_second_save_leaves_first_checkpoint_intact(tmp_path: Path, version: int) -> None:
    path = str(tmp_path / "model.ckpt")
    script = tmp_path / "saver.py"
    script.write_text(_SAVER_SCRIPT)
    first = subprocess.run(
        [sys.executable, str(script), path, "0", str(version)], capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stderr
    original = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("model.ckpt")}
    assert len(original) == (3 if version == 2 else 1)

    # the second save writes a big variable; kill it while a temporary file exists
    proc = subprocess.Popen(
        [sys.executable, str(script), path + ".second", str(40_000_000), str(version)], stdout=subprocess.DEVNULL
    )
    target = path + ".second"
    deadline = time.time() + 60
    killed_mid_write = False
    while time.time() < deadline:
        if any(p.name.startswith(".model.ckpt.second") and ".tmp-" in p.name for p in tmp_path.iterdir()):
            os.kill(proc.pid, signal.SIGKILL)
            killed_mid_write = True
            break
        time.sleep(0.001)
    proc.wait(timeout=30)
    assert killed_mid_write
    # the interrupted checkpoint never appears half-written: it is absent, or a complete earlier save
    if os.path.exists(target + ".index") or os.path.exists(target):
        g = opcore.Graph()
        with g.as_default():
            saver = import_meta_graph(target)
        with opcore.Session(g) as sess:
            saver.restore(sess, target)
    # the state file names one of the two complete checkpoints
    if version == 2:
        assert opcore.train.latest_checkpoint(str(tmp_path)) in (path, target)
    # ... and the first one is untouched and loads, giving the same outputs
    assert {name: (tmp_path / name).read_bytes() for name in original} == original
    g = opcore.Graph()
    with g.as_default():
        saver = import_meta_graph(path)
    with opcore.Session(g) as sess:
        saver.restore(sess, path)
        out = sess.run(g.get_tensor_by_name("MatMul:0"), {g.get_tensor_by_name("x:0"): np.ones((1, 4), np.float32)})
    assert out.tolist() == [[8.0]]


def test_graph_needing_an_uninstalled_op_names_op_and_distribution(tmp_path: Path) -> None:
    path = str(tmp_path / "zero.ckpt")
    g = opcore.Graph()
    with g.as_default():
        x = opcore.placeholder(opcore.int32, [3], name="x")
        opcore.get_op("myorg.ZeroOut")(x)
    with opcore.Session(g) as sess:
        Saver().save(sess, path)
    code = f"import opcore; from opcore.io import import_meta_graph; opcore.load_plugin('numpy'); import_meta_graph({path!r})"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OPCORE_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    assert out.returncode != 0
    assert "CheckpointError" in out.stderr and "'myorg.ZeroOut'" in out.stderr and "opcore-zero-out" in out.stderr
