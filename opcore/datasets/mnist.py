"""MNIST handwritten digits: 60,000 training and 10,000 test images of 28x28 grey pixels.

The loader reads the four standard gzipped IDX files

    train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz
    t10k-images-idx3-ubyte.gz   t10k-labels-idx1-ubyte.gz

looking for each, in order, in

1. the ``data_dir`` argument, when given;
2. ``$OPCORE_DATA_DIR/mnist/``, when the ``OPCORE_DATA_DIR`` environment variable is set;
3. the user cache, ``$XDG_CACHE_HOME/opcore/mnist/`` (``~/.cache/opcore/mnist/`` by default).

A file found nowhere is downloaded from the mirrors in :data:`MIRRORS` into
``data_dir`` when given, otherwise into the user cache (written to a temporary
file, verified, then renamed into place, so an interrupted download never
leaves a half file). Every file is verified before use: its IDX header (magic
number and dimensions), its length, and the md5 of its *uncompressed* bytes
against the published values; a file that fails raises
:class:`~opcore.datasets.DatasetError` naming it and what is wrong. Offline,
the error lists every place searched and where to put the files.

>>> from opcore.datasets import mnist
>>> (x_train, y_train), (x_test, y_test) = mnist.load_data()  # doctest: +SKIP
>>> x_train.shape, x_train.dtype, y_train[:5]  # doctest: +SKIP
((60000, 784), dtype('float32'), array([5, 0, 4, 1, 9], dtype=int32))
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import tempfile
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from opcore.datasets._dataset import DataSet, Datasets
from opcore.datasets._errors import DatasetError

__all__ = ["FILES", "MIRRORS", "DataSet", "Datasets", "cache_dir", "load_data", "read_data_sets", "search_dirs"]

#: Where missing files are downloaded from, tried in order.
MIRRORS: tuple[str, ...] = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)

_DEFAULT_TIMEOUT = 10.0
# The largest file is 9.9 MB compressed; refuse anything wildly larger from a mirror.
_MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024


class _FileSpec(NamedTuple):
    name: str
    magic: int
    dims: tuple[int, ...]
    md5: str


#: The four files, with the IDX magic number, dimensions and md5 of the uncompressed bytes.
FILES: dict[str, _FileSpec] = {
    "train_images": _FileSpec("train-images-idx3-ubyte.gz", 2051, (60000, 28, 28), "6bbc9ace898e44ae57da46a324031adb"),
    "train_labels": _FileSpec("train-labels-idx1-ubyte.gz", 2049, (60000,), "a25bea736e30d166cdddb491f175f624"),
    "test_images": _FileSpec("t10k-images-idx3-ubyte.gz", 2051, (10000, 28, 28), "2646ac647ad5339dbf082846283269ea"),
    "test_labels": _FileSpec("t10k-labels-idx1-ubyte.gz", 2049, (10000,), "27ae3e4e09519cfbb04c329615203637"),
}

_ALL_NAMES = ", ".join(spec.name for spec in FILES.values())

# Replaced in tests to simulate mirrors without a network.
_urlopen: Callable[..., Any] = urllib.request.urlopen

# Verified arrays by (path, size, mtime): loading twice in a process parses once.
_parsed: dict[tuple[str, int, int], np.ndarray] = {}


def cache_dir() -> Path:
    """The user cache for MNIST: ``$XDG_CACHE_HOME/opcore/mnist`` or ``~/.cache/opcore/mnist``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "opcore" / "mnist"


def search_dirs(data_dir: str | os.PathLike[str] | None = None) -> list[tuple[Path, str]]:
    """The folders searched for the MNIST files, in order, each with how it was chosen."""
    dirs: list[tuple[Path, str]] = []
    if data_dir is not None:
        dirs.append((Path(data_dir), "the data_dir argument"))
    env = os.environ.get("OPCORE_DATA_DIR")
    if env:
        dirs.append((Path(env) / "mnist", "$OPCORE_DATA_DIR/mnist"))
    dirs.append((cache_dir(), "the user cache"))
    return dirs


# -- verification -------------------------------------------------------------------


def _parse(raw: bytes, spec: _FileSpec, source: str) -> np.ndarray:
    """Check an uncompressed IDX file against ``spec`` and return its uint8 array."""
    what = "images" if spec.magic == 2051 else "labels"
    ndim = len(spec.dims)
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise DatasetError(
            f"MNIST file {source} is truncated: {len(raw)} bytes, shorter than the {header_len}-byte IDX header; "
            "delete it and download it again"
        )
    magic = int.from_bytes(raw[0:4], "big")
    if magic != spec.magic:
        raise DatasetError(
            f"MNIST file {source} has IDX magic number {magic}, expected {spec.magic} ({what} file "
            f"{spec.name}); is it the right file?"
        )
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if dims != spec.dims:
        raise DatasetError(
            f"MNIST file {source} has IDX dimensions {dims}, expected {spec.dims}; is it the right file?"
        )
    expected_len = header_len + int(np.prod(spec.dims))
    if len(raw) != expected_len:
        state = "truncated" if len(raw) < expected_len else "too long"
        raise DatasetError(
            f"MNIST file {source} is {state}: {len(raw)} uncompressed bytes, the header {dims} requires "
            f"{expected_len}; delete it and download it again"
        )
    digest = hashlib.md5(raw, usedforsecurity=False).hexdigest()
    if digest != spec.md5:
        raise DatasetError(
            f"MNIST file {source} is corrupt: the md5 of its uncompressed bytes is {digest}, expected "
            f"{spec.md5}; delete it and download it again"
        )
    arr = np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(spec.dims)
    return arr


def _decompress(data: bytes, source: str) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(
            f"MNIST file {source} is not a valid gzip file or is truncated ({exc}); delete it and download it again"
        ) from None


def _load_file(path: Path, spec: _FileSpec) -> np.ndarray:
    """The verified contents of ``path``, parsed once per process."""
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        cached = _parsed.get(key)
        if cached is not None:
            return cached
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"MNIST file {path} cannot be read: {exc}") from None
    arr = _parse(_decompress(data, str(path)), spec, str(path))
    arr.flags.writeable = False
    _parsed[key] = arr
    return arr


# -- download -------------------------------------------------------------------------


def _write_atomic(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file, fsync and rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable; not every platform can open a folder
        dfd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _download(
    spec: _FileSpec, target_dir: Path, mirrors: Sequence[str], timeout: float
) -> tuple[Path | None, list[str]]:
    """Fetch ``spec`` from the first mirror that serves a verified copy; returns (path or None, failures)."""
    failures: list[str] = []
    for base in mirrors:
        url = base if base.endswith("/") else base + "/"
        url += spec.name
        try:
            with _urlopen(url, timeout=timeout) as response:
                data = response.read(_MAX_DOWNLOAD_BYTES + 1)
        except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts are OSErrors
            failures.append(f"{url}: {exc}")
            continue
        if len(data) > _MAX_DOWNLOAD_BYTES:
            failures.append(f"{url}: more than {_MAX_DOWNLOAD_BYTES} bytes, not an MNIST file")
            continue
        try:
            _parse(_decompress(data, url), spec, url)
        except DatasetError as exc:
            failures.append(str(exc))
            continue
        target = target_dir / spec.name
        try:
            _write_atomic(target, data)
        except OSError as exc:
            raise DatasetError(
                f"downloaded MNIST file {spec.name} from {url} but cannot write it to {target}: {exc}; "
                "pass a writable data_dir"
            ) from None
        return target, failures
    return None, failures


def _locate(
    data_dir: str | os.PathLike[str] | None, download: bool, mirrors: Sequence[str] | None, timeout: float
) -> dict[str, Path]:
    dirs = search_dirs(data_dir)
    found: dict[str, Path] = {}
    missing: list[str] = []
    for key, spec in FILES.items():
        for folder, _ in dirs:
            if (folder / spec.name).is_file():
                found[key] = folder / spec.name
                break
        else:
            missing.append(key)
    if not missing:
        return found
    target_dir = Path(data_dir) if data_dir is not None else cache_dir()
    failures: list[str] = []
    if download:
        mirror_list = MIRRORS if mirrors is None else tuple(mirrors)
        for key in list(missing):
            path, failed = _download(FILES[key], target_dir, mirror_list, timeout)
            failures += failed
            if path is None:
                break
            found[key] = path
            missing.remove(key)
    if not missing:
        return found
    searched = "\n".join(f"  - {folder} ({how})" for folder, how in dirs)
    if not os.environ.get("OPCORE_DATA_DIR"):
        searched += "\n  - $OPCORE_DATA_DIR/mnist ($OPCORE_DATA_DIR is not set)"
    if not download:
        tried = "download=False: no download was tried"
    elif failures:
        tried = "download failed:\n" + "\n".join(f"  - {f}" for f in failures)
    else:
        tried = "download failed: no mirrors were given"
    names = ", ".join(FILES[k].name for k in missing)
    raise DatasetError(
        f"MNIST files not found: {names}.\nSearched:\n{searched}\n{tried}\n"
        f"To fix this offline, put the four gzipped IDX files ({_ALL_NAMES}) into {target_dir} "
        "(or into $OPCORE_DATA_DIR/mnist/, or pass data_dir=...)."
    )


# -- public loaders -----------------------------------------------------------------------


def _load_arrays(
    data_dir: str | os.PathLike[str] | None, download: bool, mirrors: Sequence[str] | None, timeout: float
) -> dict[str, np.ndarray]:
    paths = _locate(data_dir, download, mirrors, timeout)
    return {key: _load_file(paths[key], FILES[key]) for key in FILES}


def _images(raw: np.ndarray, normalize: bool, flatten: bool) -> np.ndarray:
    out = raw.astype(np.float32) / np.float32(255.0) if normalize else raw.copy()
    return out.reshape(len(out), -1) if flatten else out


def _labels(raw: np.ndarray, one_hot: bool) -> np.ndarray:
    if one_hot:
        out = np.zeros((len(raw), 10), dtype=np.float32)
        out[np.arange(len(raw)), raw] = 1.0
        return out
    return raw.astype(np.int32)


def load_data(
    data_dir: str | os.PathLike[str] | None = None,
    one_hot: bool = False,
    normalize: bool = True,
    flatten: bool = True,
    *,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
    timeout: float = _DEFAULT_TIMEOUT,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """MNIST as ``((x_train, y_train), (x_test, y_test))`` NumPy arrays.

    Images are float32 in [0, 1] (``normalize=False``: the raw uint8 pixels),
    shape ``(n, 784)`` (``flatten=False``: ``(n, 28, 28)``). Labels are int32
    class indices, or float32 one-hot rows of length 10 with ``one_hot=True``.
    See the module docstring for where the files are looked for; ``download``
    turns downloading missing files on or off, ``mirrors`` replaces
    :data:`MIRRORS` and ``timeout`` (seconds) bounds each request.
    """
    a = _load_arrays(data_dir, download, mirrors, timeout)
    return (
        (_images(a["train_images"], normalize, flatten), _labels(a["train_labels"], one_hot)),
        (_images(a["test_images"], normalize, flatten), _labels(a["test_labels"], one_hot)),
    )


def read_data_sets(
    data_dir: str | os.PathLike[str] | None = None,
    one_hot: bool = True,
    validation_size: int = 5000,
    seed: int | None = 0,
    *,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
    timeout: float = _DEFAULT_TIMEOUT,
) -> Datasets:
    """MNIST the TensorFlow 1 way: ``.train``, ``.validation`` and ``.test`` :class:`DataSet` objects.

    Images are flattened float32 in [0, 1]; labels one-hot float32 (int32
    class indices with ``one_hot=False``). The first ``validation_size``
    training examples form the validation set. Each set's ``next_batch``
    shuffles with its own generator seeded from ``seed``.

    >>> from opcore.datasets import mnist
    >>> data = mnist.read_data_sets()  # doctest: +SKIP
    >>> xb, yb = data.train.next_batch(100)  # doctest: +SKIP
    >>> xb.shape, yb.shape  # doctest: +SKIP
    ((100, 784), (100, 10))
    """
    n_train = FILES["train_images"].dims[0]
    if isinstance(validation_size, bool) or not isinstance(validation_size, int) or not 0 <= validation_size < n_train:
        raise DatasetError(f"read_data_sets: validation_size must be an int in [0, {n_train}), got {validation_size!r}")
    (x_train, y_train), (x_test, y_test) = load_data(
        data_dir, one_hot=one_hot, download=download, mirrors=mirrors, timeout=timeout
    )
    seeds = np.random.SeedSequence(seed).spawn(3) if seed is not None else [None, None, None]
    rngs = [None if s is None else int(s.generate_state(1)[0]) for s in seeds]
    v = validation_size
    return Datasets(
        train=DataSet(x_train[v:], y_train[v:], seed=rngs[0]),
        validation=DataSet(x_train[:v], y_train[:v], seed=rngs[1]),
        test=DataSet(x_test, y_test, seed=rngs[2]),
    )
