"""Reading a checkpoint without a graph: ``list_variables`` and ``load_variable`` (``tf.train``'s names).

Both take a checkpoint prefix (``"ckpts/model.ckpt-1000"``), a folder (its
latest checkpoint) or a single-file checkpoint, and check what they read as a
restore does.
"""

from __future__ import annotations

import os

import numpy as np

from opcore.errors import CheckpointError
from opcore.io.atomic import directory_lock
from opcore.io.bundle import index_entries, read_bundle
from opcore.io.checkpoint import _missing, _read
from opcore.io.checkpoint_state import INDEX_SUFFIX, latest_checkpoint

__all__ = ["list_variables", "load_variable"]

_VAR_PREFIX = "variable:"


def _prefix(ckpt_dir_or_file: str | os.PathLike[str]) -> str:
    path = os.fspath(ckpt_dir_or_file)
    if os.path.isdir(path):
        latest = latest_checkpoint(path)
        if latest is None:
            raise CheckpointError(f"the folder {path!r} holds no checkpoint (no 'checkpoint' state file naming one)")
        return latest
    return path


def list_variables(ckpt_dir_or_file: str | os.PathLike[str]) -> list[tuple[str, list[int]]]:
    """The ``(name, shape)`` of every variable in a checkpoint, sorted by name."""
    prefix = _prefix(ckpt_dir_or_file)
    if os.path.isfile(prefix + INDEX_SUFFIX):
        return sorted((name, list(shape)) for name, (_, shape, _) in index_entries(prefix).items())
    if not os.path.isfile(prefix):
        raise CheckpointError(_missing(prefix))
    _, tensors = _read(prefix)
    return sorted(
        (key[len(_VAR_PREFIX) :], list(arr.shape)) for key, arr in tensors.items() if key.startswith(_VAR_PREFIX)
    )


def load_variable(ckpt_dir_or_file: str | os.PathLike[str], name: str) -> np.ndarray:
    """The value of the variable ``name`` saved in a checkpoint (checked against its digest)."""
    prefix = _prefix(ckpt_dir_or_file)
    if os.path.isfile(prefix + INDEX_SUFFIX):
        with directory_lock(os.path.dirname(prefix) or ".", shared=True):
            entries = index_entries(prefix)
            if name not in entries:
                raise CheckpointError(f"checkpoint {prefix!r} has no variable {name!r}; it has {sorted(entries)[:20]}")
            dtype, shape, _ = entries[name]
            return read_bundle(prefix, {name: (dtype, shape)})[name]
    if not os.path.isfile(prefix):
        raise CheckpointError(_missing(prefix))
    _, tensors = _read(prefix)
    key = _VAR_PREFIX + name
    if key not in tensors:
        names = sorted(k[len(_VAR_PREFIX) :] for k in tensors if k.startswith(_VAR_PREFIX))
        raise CheckpointError(f"checkpoint {prefix!r} has no variable {name!r}; it has {names[:20]}")
    return tensors[key]
