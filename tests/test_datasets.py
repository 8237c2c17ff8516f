"""opcore.datasets: MNIST files (search, verification, download without a network) and the bundled sets."""

from __future__ import annotations

import fnmatch
import gzip
import os
import subprocess
import sys
import urllib.error
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomllib

import opcore
from opcore.datasets import DataSet, DatasetError, diabetes, digits, mnist

_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Never read or write the real user cache, never reach the network."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))

    def no_network(url: str, timeout: float = 0) -> Any:
        if url.startswith("file:"):
            return _REAL_URLOPEN(url, timeout=timeout)
        raise urllib.error.URLError(f"network disabled in tests ({url})")

    monkeypatch.setattr(mnist, "_urlopen", no_network)


_REAL_URLOPEN = mnist._urlopen


@pytest.fixture
def real_mnist_dir(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder holding the real MNIST files: $OPCORE_DATA_DIR/mnist (CI) or the shared data folder."""
    env = os.environ.get("OPCORE_DATA_DIR")
    if env:
        folder = Path(env) / "mnist"
        assert folder.is_dir(), f"OPCORE_DATA_DIR={env} is set but has no mnist/ folder"
        return folder
    if (_SHARED / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        monkeypatch.setenv("OPCORE_DATA_DIR", str(_SHARED))
        return _SHARED / "mnist"
    pytest.skip("real MNIST not available: set OPCORE_DATA_DIR to a folder holding mnist/ with the four files")


def _idx(magic: int, dims: tuple[int, ...], payload: bytes | None = None) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    return header + (payload if payload is not None else bytes(int(np.prod(dims))))


def _write_fake_set(folder: Path, **overrides: bytes) -> None:
    """Four well-formed IDX files of the right sizes (all zeros: checksums fail) unless overridden."""
    folder.mkdir(parents=True, exist_ok=True)
    for key, spec in mnist.FILES.items():
        raw = overrides.get(key)
        data = raw if raw is not None else gzip.compress(_idx(spec.magic, spec.dims), compresslevel=1)
        (folder / spec.name).write_bytes(data)


# -- real data -------------------------------------------------------------------------


def test_load_data_real_files(real_mnist_dir: Path) -> None:
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert x_train.dtype == np.float32 and x_train.min() >= 0.0 and x_train.max() == 1.0
    assert y_train.dtype == np.int32 and y_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert y_test[:3].tolist() == [7, 2, 1]
    assert np.bincount(y_train).tolist()[:2] == [5923, 6742]


def test_load_data_options(real_mnist_dir: Path) -> None:
    (x_train, y_train), _ = mnist.load_data(real_mnist_dir, one_hot=True, normalize=False, flatten=False)
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8 and x_train.max() == 255
    assert y_train.shape == (60000, 10) and y_train.dtype == np.float32
    assert y_train[0].tolist() == [0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    x_train[0, 0, 0] = 7  # the returned arrays are the caller's to modify
    (again, _), _ = mnist.load_data(real_mnist_dir, normalize=False, flatten=False)
    assert again[0, 0, 0] == 0


def test_read_data_sets(real_mnist_dir: Path) -> None:
    data = mnist.read_data_sets(validation_size=5000)
    assert (data.train.num_examples, data.validation.num_examples, data.test.num_examples) == (55000, 5000, 10000)
    assert data.train.images.shape == (55000, 784) and data.train.labels.shape == (55000, 10)
    xb, yb = data.train.next_batch(100)
    assert xb.shape == (100, 784) and yb.shape == (100, 10)
    again = mnist.read_data_sets(validation_size=5000)
    np.testing.assert_array_equal(again.train.next_batch(100)[0], xb)  # seeded
    other = mnist.read_data_sets(validation_size=5000, seed=1)
    assert not np.array_equal(other.train.next_batch(100)[0], xb)
    labels, _ = mnist.read_data_sets(one_hot=False, validation_size=0).train.next_batch(5, shuffle=False)
    assert labels.dtype == np.float32
    with pytest.raises(DatasetError, match="validation_size"):
        mnist.read_data_sets(validation_size=60000)


def test_truncated_real_file_is_named(real_mnist_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    for spec in mnist.FILES.values():
        data = (real_mnist_dir / spec.name).read_bytes()
        if spec.name == "t10k-images-idx3-ubyte.gz":
            data = data[: len(data) // 2]
        (folder / spec.name).write_bytes(data)
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte\.gz is not a valid gzip file or is truncated"):
        mnist.load_data(folder)


def test_download_from_file_url_into_cache(real_mnist_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPCORE_DATA_DIR")
    mirrors = ["file:///nonexistent-mirror/", real_mnist_dir.as_uri() + "/"]
    (x_train, _), _ = mnist.load_data(mirrors=mirrors)
    assert x_train.shape == (60000, 784)
    cache = mnist.cache_dir()
    assert sorted(p.name for p in cache.iterdir()) == sorted(s.name for s in mnist.FILES.values())
    # A second load finds the cached copies: no mirror is asked.
    mnist.load_data(mirrors=[])


def test_download_into_explicit_data_dir(real_mnist_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OPCORE_DATA_DIR")
    target = tmp_path / "given"
    mnist.load_data(target, mirrors=[real_mnist_dir.as_uri()])
    assert (target / "train-labels-idx1-ubyte.gz").is_file()
    assert not mnist.cache_dir().exists()


# -- verification without real data -------------------------------------------------------


def test_wrong_checksum_names_file(tmp_path: Path) -> None:
    _write_fake_set(tmp_path)
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\.gz is corrupt: the md5") as info:
        mnist.load_data(tmp_path)
    assert isinstance(info.value, opcore.OpcoreError) and isinstance(info.value, ValueError)
    assert "6bbc9ace898e44ae57da46a324031adb" in str(info.value)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not gzip at all", "not a valid gzip file"),
        (gzip.compress(_idx(2049, (60000, 28, 28))), "magic number 2049, expected 2051"),
        (gzip.compress(_idx(2051, (60000, 28, 27))), r"dimensions \(60000, 28, 27\), expected \(60000, 28, 28\)"),
        (gzip.compress(_idx(2051, (60000, 28, 28), b"\0" * 100)), "is truncated: 116 uncompressed bytes"),
        (gzip.compress(b"\0\0\x08"), "shorter than the 16-byte IDX header"),
    ],
)
def test_malformed_files(tmp_path: Path, raw: bytes, message: str) -> None:
    _write_fake_set(tmp_path, train_images=raw)
    with pytest.raises(DatasetError, match=message) as info:
        mnist.load_data(tmp_path)
    assert str(tmp_path / "train-images-idx3-ubyte.gz") in str(info.value)


def test_offline_error_lists_every_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPCORE_DATA_DIR", str(tmp_path / "shared"))
    given = tmp_path / "given"
    with pytest.raises(DatasetError) as info:
        mnist.load_data(given)
    msg = str(info.value)
    for place in (given, tmp_path / "shared" / "mnist", mnist.cache_dir()):
        assert str(place) in msg
    for spec in mnist.FILES.values():
        assert spec.name in msg
    for mirror in mnist.MIRRORS:
        assert mirror + "train-images-idx3-ubyte.gz" in msg
    assert "network disabled" in msg and f"into {given}" in msg
    assert not given.exists()  # nothing half-written


def test_offline_error_without_download(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPCORE_DATA_DIR", raising=False)
    with pytest.raises(DatasetError, match=r"download=False") as info:
        mnist.load_data(download=False)
    assert "$OPCORE_DATA_DIR is not set" in str(info.value)
    assert str(mnist.cache_dir()) in str(info.value)


def test_bad_download_is_rejected_and_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeResponse:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def read(self, n: int = -1) -> bytes:
            return self.data

        def __enter__(self) -> FakeResponse:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    asked: list[str] = []

    def opener(url: str, timeout: float = 0) -> FakeResponse:
        asked.append(url)
        assert timeout > 0
        return FakeResponse(gzip.compress(_idx(2051, (60000, 28, 28))))

    monkeypatch.setattr(mnist, "_urlopen", opener)
    monkeypatch.delenv("OPCORE_DATA_DIR", raising=False)
    with pytest.raises(DatasetError, match="is corrupt: the md5") as info:
        mnist.load_data(tmp_path / "d", mirrors=["https://a.example/mnist", "https://b.example/mnist/"])
    assert asked == [
        "https://a.example/mnist/train-images-idx3-ubyte.gz",
        "https://b.example/mnist/train-images-idx3-ubyte.gz",
    ]
    assert "https://b.example/mnist/train-images-idx3-ubyte.gz" in str(info.value)
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").iterdir())


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPCORE_DATA_DIR", str(tmp_path / "env"))
    dirs = [d for d, _ in mnist.search_dirs(tmp_path / "arg")]
    assert dirs == [tmp_path / "arg", tmp_path / "env" / "mnist", tmp_path / "xdg-cache" / "opcore" / "mnist"]
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert mnist.cache_dir() == Path.home() / ".cache" / "opcore" / "mnist"


# -- DataSet ----------------------------------------------------------------------------


def test_next_batch_epochs() -> None:
    ds = DataSet(np.arange(10).reshape(10, 1), np.arange(10), seed=3)
    seen = np.concatenate([ds.next_batch(4)[1] for _ in range(5)])  # 20 = two full epochs
    assert sorted(seen[:10].tolist()) == list(range(10)) and sorted(seen[10:].tolist()) == list(range(10))
    assert ds.epochs_completed == 2 or ds.epochs_completed == 1
    assert not np.array_equal(seen[:10], np.arange(10))
    plain = DataSet(np.arange(5).reshape(5, 1), np.arange(5))
    assert plain.next_batch(3, shuffle=False)[1].tolist() == [0, 1, 2]
    assert plain.next_batch(3, shuffle=False)[1].tolist() == [3, 4, 0]
    assert plain.epochs_completed == 1
    with pytest.raises(DatasetError, match="batch_size"):
        plain.next_batch(0)
    with pytest.raises(DatasetError, match="larger than the data set"):
        plain.next_batch(6)
    with pytest.raises(DatasetError, match="5 images but 4 labels"):
        DataSet(np.zeros((5, 1)), np.zeros(4))


# -- bundled scikit-learn sets ---------------------------------------------------------------


def test_digits() -> None:
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    assert x_train.shape == (1437, 64) and x_test.shape == (360, 64)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int32
    assert x_train.min() >= 0.0 and x_train.max() <= 1.0
    assert set(np.unique(y_test).tolist()) == set(range(10))
    np.testing.assert_array_equal(digits.load_data()[0][0], x_train)
    assert not np.array_equal(digits.load_data(seed=1)[0][0], x_train)
    (x8, _), _ = digits.load_data(test_split=0.5, normalize=False, flatten=False)
    assert x8.shape == (898, 8, 8) and x8.max() == 16.0


def test_diabetes() -> None:
    (x_train, y_train), (x_test, y_test) = diabetes.load_data(test_split=0.25)
    assert x_train.shape == (331, 10) and y_train.shape == (331,) and x_test.shape == (111, 10)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.float32)}


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, "0.2"])
def test_bad_test_split(bad: Any) -> None:
    with pytest.raises(DatasetError, match="test_split"):
        digits.load_data(test_split=bad)


# -- keras.datasets.mnist ---------------------------------------------------------------------


def test_keras_mnist_load_data_gives_kerass_uint8_arrays(real_mnist_dir: Path) -> None:
    from opcore import keras

    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9] and y_test[:5].tolist() == [7, 2, 1, 0, 4]
    assert x_train.max() == 255 and x_train.min() == 0
    (flat, labels), _ = mnist.load_data(normalize=False)
    np.testing.assert_array_equal(x_train.reshape(60000, -1), flat)
    np.testing.assert_array_equal(y_train, labels)
    x_train[0, 0, 0] = 1  # the caller's own copy, as Keras gives
    # a folder of IDX files, or a Keras mnist.npz
    (x2, _), _ = keras.datasets.mnist.load_data(str(real_mnist_dir))
    assert x2.shape == (60000, 28, 28)


def test_keras_mnist_reads_a_keras_npz_without_pickle(real_mnist_dir: Path, tmp_path: Path) -> None:
    from opcore import keras

    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    good = tmp_path / "mnist.npz"
    np.savez(good, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    (a, b), (c, d) = keras.datasets.mnist.load_data(str(good))
    for got, want in ((a, x_train), (b, y_train), (c, x_test), (d, y_test)):
        np.testing.assert_array_equal(got, want)
    missing = tmp_path / "missing.npz"
    np.savez(missing, x_train=x_train, y_train=y_train)
    with pytest.raises(DatasetError, match=r"lacks \['x_test', 'y_test'\]"):
        keras.datasets.mnist.load_data(str(missing))
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, x_train=x_train.astype(np.float32), y_train=y_train, x_test=x_test, y_test=y_test)
    with pytest.raises(DatasetError, match="'x_train' is float32"):
        keras.datasets.mnist.load_data(str(wrong))
    pickled = tmp_path / "pickled.npz"
    objects = np.empty(2, dtype=object)
    np.savez(pickled, x_train=objects, y_train=y_train, x_test=x_test, y_test=y_test)
    with pytest.raises(DatasetError, match=r"not a readable \.npz file"):
        keras.datasets.mnist.load_data(str(pickled))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match=r"not a readable \.npz file"):
        keras.datasets.mnist.load_data(str(tmp_path / "junk.npz"))
    with pytest.raises(DatasetError, match="neither a folder"):
        keras.datasets.mnist.load_data(str(tmp_path / "nowhere"))


def test_keras_mnist_offline_without_files_lists_where_it_looked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from opcore import keras

    monkeypatch.setenv("OPCORE_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(DatasetError, match=r"(?s)MNIST files not found.*OPCORE_DATA_DIR/mnist.*user cache"):
        keras.datasets.mnist.load_data()


def test_bundled_sets_are_scikit_learns_data() -> None:
    import sklearn.datasets as sk_datasets  # in the dev extra: the test command always has it

    from opcore.datasets._bundled import load_array

    sk_digits, sk_diabetes = sk_datasets.load_digits(), sk_datasets.load_diabetes()
    np.testing.assert_array_equal(load_array("digits_images.npy.gz"), sk_digits.data)
    np.testing.assert_array_equal(load_array("digits_labels.npy.gz"), sk_digits.target)
    np.testing.assert_array_equal(load_array("diabetes_data.npy.gz"), sk_diabetes.data)
    np.testing.assert_array_equal(load_array("diabetes_target.npy.gz"), sk_diabetes.target)
    (x, _), (x_test, _) = digits.load_data(test_split=0.5, normalize=False)
    assert sorted(map(bytes, np.concatenate([x, x_test]).astype(np.uint8))) == sorted(
        map(bytes, sk_digits.data.astype(np.uint8))
    )


def test_bundled_sets_need_neither_scikit_learn_nor_scipy() -> None:
    code = (
        "import sys, opcore\n"
        "from opcore.datasets import diabetes, digits\n"
        "digits.load_data(); diabetes.load_data()\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy'})\n"
        "assert not loaded, loaded\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    core = " ".join(pyproject["project"]["dependencies"]).lower()
    assert "scikit-learn" not in core and "scipy" not in core
    # the files travel with the package
    patterns = pyproject["tool"]["setuptools"]["package-data"]["opcore"]
    data = Path(digits.__file__).parent / "data"
    for file in data.iterdir():
        assert any(fnmatch.fnmatch(f"datasets/data/{file.name}", p) for p in patterns), file.name


def test_a_damaged_bundled_file_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from opcore.datasets import _bundled

    monkeypatch.setattr(_bundled, "_cache", {})
    monkeypatch.setitem(_bundled.SHA256, "digits_labels.npy.gz", "0" * 64)
    with pytest.raises(DatasetError, match=r"digits_labels\.npy\.gz is damaged.*reinstall opcore"):
        digits.load_data()


def test_bundled_sets_hold_the_published_values() -> None:
    """Facts of the two sets as published (checked without scikit-learn)."""
    from opcore.datasets._bundled import load_array

    images, labels = load_array("digits_images.npy.gz"), load_array("digits_labels.npy.gz")
    assert images.shape == (1797, 64) and images.dtype == np.uint8 and images.max() == 16
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert images[0, :16].tolist() == [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0]
    data, target = load_array("diabetes_data.npy.gz"), load_array("diabetes_target.npy.gz")
    assert data.shape == (442, 10) and target.shape == (442,)
    assert target[:5].tolist() == [151.0, 75.0, 141.0, 206.0, 135.0] and target.sum() == 67243.0
    np.testing.assert_allclose(data[0, :4], [0.038076, 0.05068, 0.061696, 0.021872], atol=1e-6)
    np.testing.assert_allclose((data**2).sum(axis=0), np.ones(10), rtol=1e-10)  # each column scaled to norm 1
    np.testing.assert_allclose(data.mean(axis=0), np.zeros(10), atol=1e-12)
    with pytest.raises(ValueError, match="read-only"):
        images[0, 0] = 1
