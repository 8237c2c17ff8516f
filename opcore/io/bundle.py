"""The variables of a checkpoint in TensorFlow 1's layout: an ``.index`` file and one data file.

For a checkpoint prefix such as ``ckpts/model.ckpt-1000``:

- ``model.ckpt-1000.data-00000-of-00001``: a plain safetensors file, one tensor
  per saved variable, keyed by the variable's name in the checkpoint
  (``"dense/kernel"``), readable by any safetensors tool;
- ``model.ckpt-1000.index``: JSON, the table of contents that a restore trusts::

      {"format": "opcore.checkpoint.index", "version": 1, "data_files": 1,
       "tensors": {"dense/kernel": {"dtype": "float32", "shape": [784, 10],
                                    "sha256": "..."}, ...}}

  where ``sha256`` covers the tensor's dtype, shape and bytes
  (:func:`tensor_digest`).

A restore reads the index first, checks every requested variable's dtype and
shape against it before reading any data, then reads the data file and checks
that it holds exactly the tensors the index lists, each with its digest: a
changed bit, a swapped file or a half-written save is an error, never
different weights. Both files are written by :func:`write_bundle` through
:func:`opcore.io.atomic.atomic_write_group`, the index last.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from opcore import dtypes as _dt
from opcore.errors import CheckpointError, DTypeError
from opcore.io._json import expect, expect_int, expect_keys, expect_str, parse_json
from opcore.io.checkpoint_state import DATA_SUFFIX, INDEX_SUFFIX

__all__ = ["FORMAT", "VERSION", "index_entries", "read_bundle", "tensor_digest", "write_bundle_files"]

FORMAT = "opcore.checkpoint.index"
VERSION = 1
#: Marks the data file in its safetensors metadata.
_DATA_MARK_KEY = "opcore.checkpoint.data"
#: Largest index read; a model with a hundred thousand variables needs about 20 MB.
MAX_INDEX_BYTES = 256 * 2**20
MAX_RANK = 64
_HEX64 = re.compile(r"[0-9a-f]{64}")


def tensor_digest(arr: np.ndarray) -> str:
    """sha256 of a tensor's dtype, shape and bytes: a changed bit, dtype or shape changes it."""
    h = hashlib.sha256(f"{arr.dtype.name}{list(arr.shape)}".encode())
    h.update(np.ascontiguousarray(arr).data)
    return h.hexdigest()


def write_bundle_files(tensors: Mapping[str, np.ndarray], data_tmp: str, index_tmp: str) -> None:
    """Write ``tensors`` to the temporary data and index files of one checkpoint."""
    from safetensors.numpy import save_file

    arrays = {name: np.ascontiguousarray(arr) for name, arr in tensors.items()}
    entries = {
        name: {"dtype": arr.dtype.name, "shape": list(arr.shape), "sha256": tensor_digest(arr)}
        for name, arr in arrays.items()
    }
    save_file(arrays, data_tmp, metadata={_DATA_MARK_KEY: str(VERSION)})
    with open(index_tmp, "w", encoding="utf-8") as f:
        json.dump({"format": FORMAT, "version": VERSION, "data_files": 1, "tensors": entries}, f, separators=(",", ":"))


def index_entries(prefix: str) -> dict[str, tuple[_dt.DType, tuple[int, ...], str]]:
    """The checked table of contents of the checkpoint at ``prefix``: name -> (dtype, shape, sha256)."""
    path = prefix + INDEX_SUFFIX
    what = f"checkpoint index {path!r}"
    try:
        size = os.path.getsize(path)
        if size > MAX_INDEX_BYTES:
            raise CheckpointError(f"{what} is {size} bytes; at most {MAX_INDEX_BYTES} are read")
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"cannot read {what}: {exc}") from None
    doc = expect(parse_json(text, what), dict, what)
    if doc.get("format") != FORMAT:
        raise CheckpointError(f"{what} is not an opcore checkpoint index (format {doc.get('format')!r})")
    if doc.get("version") != VERSION:
        raise CheckpointError(f"{what} has version {doc.get('version')!r}; this opcore reads version {VERSION}")
    expect_keys(doc, {"format", "version", "data_files", "tensors"}, set(), what)
    expect_int(doc["data_files"], f"{what}: 'data_files' (this opcore writes and reads one data file)", 1, 1)
    tensors = expect(doc["tensors"], dict, f"{what}: 'tensors'")
    out: dict[str, tuple[_dt.DType, tuple[int, ...], str]] = {}
    for name, entry in tensors.items():
        where = f"{what}: tensor {name[:100]!r}"
        expect_str(name, where, 4096)
        expect(entry, dict, where)
        expect_keys(entry, {"dtype", "shape", "sha256"}, set(), where)
        try:
            dtype = _dt.as_dtype(expect_str(entry["dtype"], f"{where}: 'dtype'", 64))
        except DTypeError as exc:
            raise CheckpointError(f"{where}: 'dtype': {exc}") from None
        dims = expect(entry["shape"], list, f"{where}: 'shape'")
        if len(dims) > MAX_RANK:
            raise CheckpointError(f"{where}: 'shape' has rank {len(dims)}; at most {MAX_RANK} is allowed")
        shape = tuple(expect_int(d, f"{where}: dimension {i} of 'shape'") for i, d in enumerate(dims))
        digest = expect_str(entry["sha256"], f"{where}: 'sha256'", 64)
        if not _HEX64.fullmatch(digest):
            raise CheckpointError(f"{where}: 'sha256' must be 64 lowercase hex digits, found {digest!r}")
        out[name] = (dtype, shape, digest)
    return out


def read_bundle(prefix: str, wanted: Mapping[str, tuple[_dt.DType, tuple[int, ...]]]) -> dict[str, np.ndarray]:
    """The tensors ``wanted`` (name -> expected dtype and shape) of the checkpoint at ``prefix``, all checked.

    Every name must be in the index with the expected dtype and shape (checked
    before any data is read); the data file must hold exactly the index's
    tensors, each matching its digest. Any difference raises
    :class:`~opcore.errors.CheckpointError` naming it.
    """
    from safetensors import SafetensorError, safe_open

    entries = index_entries(prefix)
    for name, (dtype, shape) in wanted.items():
        if name not in entries:
            raise CheckpointError(f"checkpoint {prefix!r} has no value for variable {name!r}")
        got_dtype, got_shape, _ = entries[name]
        if got_dtype is not dtype or got_shape != shape:
            raise CheckpointError(
                f"checkpoint {prefix!r} holds {got_dtype} {list(got_shape)} for variable {name!r}, "
                f"which is {dtype} {list(shape)}"
            )
    data_path = prefix + DATA_SUFFIX
    if not os.path.isfile(data_path):
        raise CheckpointError(f"checkpoint {prefix!r} is incomplete: its data file {data_path!r} is missing")
    out: dict[str, np.ndarray] = {}
    try:
        with safe_open(data_path, framework="numpy") as f:
            meta: dict[str, Any] = dict(f.metadata() or {})
            keys = set(f.keys())
            if meta.get(_DATA_MARK_KEY) != str(VERSION):
                raise CheckpointError(
                    f"{data_path!r} is not the data file of an opcore checkpoint (marker {meta.get(_DATA_MARK_KEY)!r})"
                )
            if keys != set(entries):
                raise CheckpointError(
                    f"checkpoint {prefix!r} is corrupted: its data file does not match its index (tensors only in "
                    f"the data file: {sorted(keys - set(entries))[:5]}, only in the index: "
                    f"{sorted(set(entries) - keys)[:5]})"
                )
            for name in wanted:
                arr = f.get_tensor(name)
                dtype, shape, digest = entries[name]
                if arr.dtype != dtype.np or tuple(arr.shape) != shape or tensor_digest(arr) != digest:
                    raise CheckpointError(
                        f"checkpoint {prefix!r} is corrupted: tensor {name!r} fails its sha256 digest"
                    )
                out[name] = arr
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint data file {data_path!r} is corrupted or truncated: {exc}") from None
    return out
