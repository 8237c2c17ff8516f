"""The TensorFlow 1 course programs in examples/tf1/ run as written through opcore.compat.v1.

Each program is a TensorFlow 1 listing with only its import lines changed; the test runs
it in a subprocess (in an empty working directory, with the MNIST files reachable through
$OPCORE_DATA_DIR only) and checks what it prints: exact lines where the program is
deterministic, and accuracy or loss thresholds where it trains.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = ROOT / "examples" / "tf1"
NEEDS_MNIST = {
    "logistic_regression",
    "mnist_softmax",
    "multilayer_perceptron",
    "mnist_deep",
    "autoencoder",
    "layers_cnn",
    "tensorboard_basic",
}


def _mnist_dir() -> str | None:
    for candidate in (os.environ.get("OPCORE_DATA_DIR"), str(ROOT.parent / "shared" / "data")):
        if candidate and (Path(candidate) / "mnist" / "t10k-images-idx3-ubyte.gz").exists():
            return candidate
    return None


def run(name: str, tmp_path: Path) -> list[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.pop("OPCORE_BACKEND", None)
    if name in NEEDS_MNIST:
        data = _mnist_dir()
        if data is None:
            pytest.skip("the MNIST files are not available (set OPCORE_DATA_DIR to a folder with mnist/)")
        env["OPCORE_DATA_DIR"] = data
        # The programs name folders such as MNIST_data/ or /tmp/data/: without the files there,
        # read_data_sets must find them through $OPCORE_DATA_DIR and never download.
        env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    out = subprocess.run(
        [sys.executable, str(PROGRAMS / f"{name}.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return out.stdout.splitlines()


def _number(line: str, label: str) -> float:
    m = re.search(re.escape(label) + r"\s*([-+0-9.e]+)", line)
    assert m, f"no {label!r} in {line!r}"
    return float(m.group(1))


def test_every_program_is_covered() -> None:
    tested = {
        name[len("test_") :]
        for name in globals()
        if name.startswith("test_") and name != "test_every_program_is_covered"
    }
    assert {p.stem for p in PROGRAMS.glob("*.py")} <= tested


def test_getting_started(tmp_path: Path) -> None:
    lines = run("getting_started", tmp_path)
    assert "sess.run(node3): 7.0" in lines
    # NumPy scalars, as TensorFlow 1 returns them (NumPy 2 writes their repr as np.float32(3.0))
    assert lines[1] in ("[3.0, 4.0]", "[np.float32(3.0), np.float32(4.0)]")
    assert lines[4:7] == ["7.5", "[3. 7.]", "22.5"]
    assert lines[8:10] == ["23.66", "0.0"]
    last = lines[-1]
    # TensorFlow 1 prints W: [-0.9999969] b: [0.9999908] loss: 5.69997e-11
    w, b, loss = _number(last, "W: ["), _number(last, "b: ["), _number(last, "loss:")
    assert abs(w + 1) < 1e-4 and abs(b - 1) < 1e-4 and loss < 1e-8, last


def test_basic_operations(tmp_path: Path) -> None:
    assert run("basic_operations", tmp_path) == [
        "a=2, b=3",
        "Addition with constants: 5",
        "Multiplication with constants: 6",
        "Addition with variables: 5",
        "Multiplication with variables: 6",
        "[[12.]]",
    ]


def test_linear_regression(tmp_path: Path) -> None:
    lines = run("linear_regression", tmp_path)
    costs = [_number(line, "cost=") for line in lines if line.startswith("Epoch:")]
    assert len(costs) == 20 and costs == sorted(costs, reverse=True), costs
    assert "Optimization Finished!" in lines
    # The program starts from numpy.random.randn() (unseeded, as written): where it ends after
    # 1000 epochs depends on that start (least squares: 0.0770; a start at b = -3 ends near 0.15).
    # So the oracle is plain per-sample SGD in float32, continued from the state printed at epoch
    # 50 to epoch 1000, which must reach the W and b the program prints last.
    epochs = [line for line in lines if line.startswith("Epoch:")]
    w, b = np.float32(_number(epochs[0], "W=")), np.float32(_number(epochs[0], "b="))
    xs = np.asarray(
        [3.3, 4.4, 5.5, 6.71, 6.93, 4.168, 9.779, 6.182, 7.59, 2.167, 7.042, 10.791, 5.313, 7.997, 5.654, 9.27, 3.1],
        np.float32,
    )
    ys = np.asarray(
        [1.7, 2.76, 2.09, 3.19, 1.694, 1.573, 3.366, 2.596, 2.53, 1.221, 2.827, 3.465, 1.65, 2.904, 2.42, 2.94, 1.3],
        np.float32,
    )
    lr, n = np.float32(0.01), np.float32(len(xs))
    for _ in range(950):
        for x, y in zip(xs, ys):
            d = (w * x + b - y) / n
            w, b = w - lr * d * x, b - lr * d
    assert _number(epochs[-1], "W=") == pytest.approx(float(w), rel=1e-3, abs=1e-4)
    assert _number(epochs[-1], "b=") == pytest.approx(float(b), rel=1e-3, abs=1e-3)
    training = _number(next(line for line in lines if line.startswith("Training cost=")), "Training cost=")
    assert training == pytest.approx(float(np.sum((w * xs + b - ys) ** 2) / (2 * n)), rel=1e-3)
    assert training < 0.25  # a start within four standard deviations of zero ends below this
    assert _number(next(line for line in lines if line.startswith("Testing cost=")), "Testing cost=") < 0.3


def test_logistic_regression(tmp_path: Path) -> None:
    lines = run("logistic_regression", tmp_path)
    assert _number(lines[0], "cost=") < 1.5  # TensorFlow 1 prints about 1.18 after the first epoch
    assert _number(lines[-1], "Accuracy:") > 0.8


def test_mnist_softmax(tmp_path: Path) -> None:
    assert float(run("mnist_softmax", tmp_path)[-1]) > 0.85


def test_multilayer_perceptron(tmp_path: Path) -> None:
    assert _number(run("multilayer_perceptron", tmp_path)[-1], "Accuracy:") > 0.75


def test_mnist_deep(tmp_path: Path) -> None:
    lines = run("mnist_deep", tmp_path)
    assert [line.split(",")[0] for line in lines[:2]] == ["step 0", "step 30"]
    assert _number(lines[-1], "test accuracy") > 0.5


def test_autoencoder(tmp_path: Path) -> None:
    lines = run("autoencoder", tmp_path)
    losses = [_number(line, "Minibatch Loss:") for line in lines if line.startswith("Step")]
    assert len(losses) == 5 and losses[-1] < 0.8 * losses[0], losses
    assert _number(lines[-1], "test digits:") < 0.35


def test_layers_cnn(tmp_path: Path) -> None:
    lines = run("layers_cnn", tmp_path)
    # Built twice under variable_scope("ConvNet"), the second time with reuse=True: one set of
    # variables, named as TensorFlow 1 names them.
    assert lines[:9] == [
        "Trainable variables: 8",
        "  ConvNet/conv2d/kernel [5, 5, 1, 32]",
        "  ConvNet/conv2d/bias [32]",
        "  ConvNet/conv2d_1/kernel [3, 3, 32, 64]",
        "  ConvNet/conv2d_1/bias [64]",
        "  ConvNet/dense/kernel [1600, 1024]",
        "  ConvNet/dense/bias [1024]",
        "  ConvNet/dense_1/kernel [1024, 10]",
        "  ConvNet/dense_1/bias [10]",
    ]
    assert "Optimization Finished! global step: 40" in lines
    assert _number(lines[-1], "Testing Accuracy:") > 0.7


def test_save_restore(tmp_path: Path) -> None:
    assert run("save_restore", tmp_path) == [
        "Model saved in path: ./model.ckpt",
        "Model restored.",
        "v1 : [1. 1. 1.]",
        "v2 : [-1. -1. -1. -1. -1.]",
    ]


def test_variable_scopes(tmp_path: Path) -> None:
    assert run("variable_scopes", tmp_path) == [
        "hidden/ hidden/alpha:0 hidden/weights hidden/biases",
        "variables: ['hidden/weights', 'hidden/biases', 'model/conv1/weights', 'model/conv1/biases', "
        "'model/conv2/weights', 'model/conv2/biases']",
        "outputs: model/conv2/Relu:0 model_1/conv2/Relu:0",
        "ValueError: Variable model/conv1/weights already exists, disallowed. Did you mean to set reuse=True or "
        "reuse=tf.AUTO_REUSE in VarScope?",
        "AUTO_REUSE shares: True foo/v",
        "same weights, same outputs: True (2, 16, 16, 8)",
    ]


@pytest.mark.skipif(
    importlib.util.find_spec("opcore.summary") is None, reason="this opcore has no opcore.summary (TensorBoard)"
)
def test_tensorboard_basic(tmp_path: Path) -> None:
    lines = run("tensorboard_basic", tmp_path)
    assert lines[0] == "names: Model/Softmax:0 Loss/Mean:0 Accuracy/Mean:0"
    assert _number(next(line for line in lines if line.startswith("Accuracy:")), "Accuracy:") > 0.8
    assert list((tmp_path / "logs" / "example").glob("events.out.tfevents.*"))
