"""The ``checkpoint`` state file: which checkpoints of a folder are the recent ones (TensorFlow 1's layout).

``Saver.save`` writes, beside the checkpoint files, a small JSON file named
``checkpoint`` (or ``latest_filename``)::

    {"format": "opcore.checkpoint.state", "version": 1,
     "model_checkpoint_path": "model.ckpt-2000",
     "all_model_checkpoint_paths": ["model.ckpt-1000", "model.ckpt-2000"],
     "all_model_checkpoint_timestamps": [1700000000.0, 1700000060.0],
     "last_preserved_timestamp": 1699990000.0}

Checkpoints are named by their file name alone, relative to the folder, so a
folder of checkpoints can be moved or copied as a whole.
:func:`latest_checkpoint` and :func:`get_checkpoint_state` read it and give
the paths joined to the folder as it was given (``"ckpts/model.ckpt-2000"``),
ready for ``saver.restore``. A state file that is damaged raises
:class:`~opcore.errors.CheckpointError` rather than being ignored (TensorFlow
ignores it, and training silently starts over).

>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> latest_checkpoint(folder) is None
True
>>> update_checkpoint_state(folder, "model.ckpt-5")
>>> latest_checkpoint(folder) is None  # named, but its files do not exist
True
>>> get_checkpoint_state(folder).model_checkpoint_path.endswith("model.ckpt-5")
True
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from opcore.errors import CheckpointError
from opcore.io._json import expect, expect_keys, expect_str, parse_json
from opcore.io.atomic import atomic_write, directory_lock, remove_stale_temporaries

__all__ = [
    "CheckpointState",
    "STATE_FILENAME",
    "checkpoint_exists",
    "get_checkpoint_state",
    "latest_checkpoint",
    "update_checkpoint_state",
]

#: The state file's default name, as in TensorFlow.
STATE_FILENAME = "checkpoint"
FORMAT = "opcore.checkpoint.state"
VERSION = 1
#: Largest state file read (a list of a few thousand checkpoint names is a few hundred KB).
MAX_STATE_BYTES = 16 * 2**20
#: The files of a checkpoint in TensorFlow 1's layout, after its prefix.
INDEX_SUFFIX = ".index"
DATA_SUFFIX = ".data-00000-of-00001"
META_SUFFIX = ".meta"


@dataclass
class CheckpointState:
    """What a state file says: the latest checkpoint and the recent ones, oldest first (paths joined to the folder)."""

    model_checkpoint_path: str
    all_model_checkpoint_paths: list[str] = field(default_factory=list)
    all_model_checkpoint_timestamps: list[float] = field(default_factory=list)
    last_preserved_timestamp: float = 0.0


def _check_name(value: object, what: str) -> str:
    name = expect_str(value, what, 1024)
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise CheckpointError(
            f"{what} must be a checkpoint's file name in the state file's folder (no folder part), found {name!r}"
        )
    return name


def _check_time(value: object, what: str) -> float:
    number = expect(value, (int, float), what)
    if not math.isfinite(number) or number < 0:
        raise CheckpointError(f"{what} must be a finite, non-negative number of seconds, found {number!r}")
    return float(number)


def _state_path(checkpoint_dir: str | os.PathLike[str], latest_filename: str | None) -> str:
    name = _check_name(STATE_FILENAME if latest_filename is None else latest_filename, "latest_filename")
    return os.path.join(os.fspath(checkpoint_dir), name)


def _name_in(folder: str, path: str | os.PathLike[str], what: str) -> str:
    """The file name of ``path``, which must lie in ``folder`` (or be a bare name)."""
    text = os.fspath(path)
    head, name = os.path.split(text)
    if head and os.path.abspath(head) != os.path.abspath(folder or "."):
        raise CheckpointError(f"{what} {text!r} is not in the folder {folder!r} of the state file")
    return _check_name(name, what)


def update_checkpoint_state(
    save_dir: str | os.PathLike[str],
    model_checkpoint_path: str | os.PathLike[str],
    all_model_checkpoint_paths: Sequence[str | os.PathLike[str]] | None = None,
    latest_filename: str | None = None,
    all_model_checkpoint_timestamps: Sequence[float] | None = None,
    last_preserved_timestamp: float | None = None,
) -> None:
    """Write the state file of ``save_dir`` atomically (TensorFlow's ``tf.train.update_checkpoint_state``).

    Every path must be in ``save_dir`` (or be a bare file name); ``model_checkpoint_path``
    is added at the end of ``all_model_checkpoint_paths`` when missing there.
    """
    folder = os.fspath(save_dir)
    latest = _name_in(folder, model_checkpoint_path, "model_checkpoint_path")
    names = [_name_in(folder, p, "all_model_checkpoint_paths entry") for p in all_model_checkpoint_paths or ()]
    now = time.time()
    stamps = [float(t) for t in all_model_checkpoint_timestamps] if all_model_checkpoint_timestamps is not None else []
    if stamps and len(stamps) != len(names):
        raise CheckpointError(
            f"all_model_checkpoint_timestamps has {len(stamps)} entries for {len(names)} checkpoint paths"
        )
    if not stamps:
        stamps = [now] * len(names)
    if latest not in names:
        names.append(latest)
        stamps.append(now)
    state = {
        "format": FORMAT,
        "version": VERSION,
        "model_checkpoint_path": latest,
        "all_model_checkpoint_paths": names,
        "all_model_checkpoint_timestamps": stamps,
        "last_preserved_timestamp": now if last_preserved_timestamp is None else float(last_preserved_timestamp),
    }
    path = _state_path(folder, latest_filename)
    try:
        with directory_lock(folder or "."), atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            json.dump(state, f, indent=1)
            f.write("\n")
    except OSError as exc:
        raise CheckpointError(f"cannot write the checkpoint state file {path!r}: {exc}") from None


def get_checkpoint_state(
    checkpoint_dir: str | os.PathLike[str], latest_filename: str | None = None
) -> CheckpointState | None:
    """The state file of ``checkpoint_dir``, or None when there is none (``tf.train.get_checkpoint_state``).

    Paths come back joined to ``checkpoint_dir``. A damaged state file raises
    :class:`~opcore.errors.CheckpointError` naming what is wrong.
    """
    folder = os.fspath(checkpoint_dir)
    path = _state_path(folder, latest_filename)
    if not os.path.isfile(path):
        return None
    remove_stale_temporaries(path)
    try:
        if os.path.getsize(path) > MAX_STATE_BYTES:
            raise CheckpointError(f"checkpoint state file {path!r} is larger than {MAX_STATE_BYTES} bytes")
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"cannot read the checkpoint state file {path!r}: {exc}") from None
    what = f"checkpoint state file {path!r}"
    doc = expect(parse_json(text, what), dict, what)
    if doc.get("format") != FORMAT:
        raise CheckpointError(f"{what} is not an opcore checkpoint state (format {doc.get('format')!r})")
    if doc.get("version") != VERSION:
        raise CheckpointError(f"{what} has version {doc.get('version')!r}; this opcore reads version {VERSION}")
    fields = {"format", "version", "model_checkpoint_path", "all_model_checkpoint_paths"}
    expect_keys(doc, fields, {"all_model_checkpoint_timestamps", "last_preserved_timestamp"}, what)
    latest = _check_name(doc["model_checkpoint_path"], f"{what}: 'model_checkpoint_path'")
    entries = expect(doc["all_model_checkpoint_paths"], list, f"{what}: 'all_model_checkpoint_paths'")
    names = [_check_name(n, f"{what}: checkpoint path #{i}") for i, n in enumerate(entries)]
    raw_stamps = expect(
        doc.get("all_model_checkpoint_timestamps", []), list, f"{what}: 'all_model_checkpoint_timestamps'"
    )
    stamps = [_check_time(t, f"{what}: timestamp #{i}") for i, t in enumerate(raw_stamps)]
    if stamps and len(stamps) != len(names):
        raise CheckpointError(f"{what} lists {len(names)} checkpoints but {len(stamps)} timestamps")
    preserved = _check_time(doc.get("last_preserved_timestamp", 0.0), f"{what}: 'last_preserved_timestamp'")
    return CheckpointState(
        model_checkpoint_path=os.path.join(folder, latest),
        all_model_checkpoint_paths=[os.path.join(folder, n) for n in names],
        all_model_checkpoint_timestamps=stamps,
        last_preserved_timestamp=preserved,
    )


def checkpoint_exists(checkpoint_prefix: str | os.PathLike[str]) -> bool:
    """Whether a checkpoint is saved at ``checkpoint_prefix``: its ``.index`` file, or a single-file checkpoint."""
    prefix = os.fspath(checkpoint_prefix)
    return os.path.isfile(prefix + INDEX_SUFFIX) or os.path.isfile(prefix)


def latest_checkpoint(checkpoint_dir: str | os.PathLike[str], latest_filename: str | None = None) -> str | None:
    """The prefix of the newest checkpoint saved in ``checkpoint_dir``, or None (``tf.train.latest_checkpoint``).

    None when the folder has no state file or the checkpoint it names is gone;
    pass the result to ``saver.restore(sess, ...)``.
    """
    state = get_checkpoint_state(checkpoint_dir, latest_filename)
    if state is None or not checkpoint_exists(state.model_checkpoint_path):
        return None
    return state.model_checkpoint_path
