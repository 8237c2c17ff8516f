"""Every course program runs briefly on every available backend and ends with its result line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import opcore

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ["learn_to_add", "sum_greater_than_10", "housing_regression", "mnist_softmax", "mnist_mlp",
            "mnist_autoencoder", "mnist_cnn", "keras_mnist"]  # fmt: skip
NEEDS_MNIST = {"mnist_softmax", "mnist_mlp", "mnist_autoencoder", "mnist_cnn", "keras_mnist"}
# Every available backend that claims the whole built-in op set (the numexpr example is partial on purpose).
BACKENDS = [b.name for b in opcore.available_backends() if b.available and b.name not in ("toy", "numexpr")]


def _mnist_dir() -> str | None:
    for candidate in (os.environ.get("OPCORE_DATA_DIR"), str(ROOT.parent / "shared" / "data")):
        if candidate and (Path(candidate) / "mnist" / "t10k-images-idx3-ubyte.gz").exists():
            return candidate
    return None


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", EXAMPLES)
def test_course_program_runs(name: str, backend: str, tmp_path: Path) -> None:
    env = dict(os.environ)
    data = _mnist_dir()
    if name in NEEDS_MNIST:
        if data is None:
            pytest.skip("the MNIST files are not available (set OPCORE_DATA_DIR to a folder with mnist/)")
        env["OPCORE_DATA_DIR"] = data
    cmd = [
        sys.executable,
        str(ROOT / "examples" / f"{name}.py"),
        "--backend",
        backend,
        "--epochs",
        "1",
        "--max-steps",
        "3",
    ]
    if name == "mnist_autoencoder":
        cmd += ["--png", str(tmp_path / "ae.png")]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    last = out.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"result: \w+=[-+0-9.e]+", last), out.stdout[-1000:]
    if name == "mnist_autoencoder":
        assert (tmp_path / "ae.png").stat().st_size > 1000
