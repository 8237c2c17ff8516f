"""The small data sets shipped inside the package (``opcore/datasets/data/``), read and checked.

Each array is a gzipped ``.npy`` file, read without pickle and checked against
its sha256 (recorded here) before use, so that a damaged installation is an
error naming the file rather than different data. The files are written by
``scripts/bundle_datasets.py``; where they come from and their licences are
in ``opcore/datasets/data/README.md``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from importlib import resources

import numpy as np

from opcore.datasets._errors import DatasetError

__all__ = ["load_array"]

#: sha256 of each bundled file, as printed by scripts/bundle_datasets.py.
SHA256 = {
    "digits_images.npy.gz": "976eee58137a7f7f6481f548331d82fc65291b2ed226b0f65e73575594c93252",
    "digits_labels.npy.gz": "902a292ebd306357ba0486141506062b57a469e56d9e5ff9532195c0f276f360",
    "diabetes_data.npy.gz": "724a8a515f07b8aab64e295e43e461aefa762d34c2239307d1d833cf3313c4a6",
    "diabetes_target.npy.gz": "002798cfdd0980848e47aaf3cc014f3ec79719d2cc88d2f2842c213b6a1b7438",
}

_cache: dict[str, np.ndarray] = {}


def load_array(name: str) -> np.ndarray:
    """The bundled array ``name`` (read-only; parsed once per process)."""
    cached = _cache.get(name)
    if cached is not None:
        return cached
    resource = resources.files("opcore.datasets").joinpath("data", name)
    where = f"opcore's bundled data file {name}"
    try:
        data = resource.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{where} cannot be read ({exc}); reinstall opcore") from None
    if hashlib.sha256(data).hexdigest() != SHA256[name]:
        raise DatasetError(f"{where} is damaged (its sha256 differs from the recorded one); reinstall opcore")
    try:
        arr: np.ndarray = np.load(io.BytesIO(gzip.decompress(data)), allow_pickle=False)
    except (OSError, EOFError, ValueError, zlib.error) as exc:  # pragma: no cover - the digest matched
        raise DatasetError(f"{where} cannot be parsed ({exc}); reinstall opcore") from None
    arr.flags.writeable = False
    _cache[name] = arr
    return arr
