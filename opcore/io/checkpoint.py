"""Checkpoints: a graph's variables in safetensors, the graph itself as versioned JSON.

:class:`Saver` writes TensorFlow 1's layout by default: for the prefix
``model.ckpt-1000``, the variables in ``model.ckpt-1000.data-00000-of-00001``
(safetensors) with their table of contents in ``model.ckpt-1000.index`` (JSON
with each tensor's dtype, shape and sha256; see :mod:`opcore.io.bundle`), the
graph in ``model.ckpt-1000.meta``, and the folder's ``checkpoint`` state file
(:mod:`opcore.io.checkpoint_state`).

The ``.meta`` file, and the single-file format of earlier opcore versions
(``Saver(write_version=1)``), are one safetensors file: tensors (variables
keyed ``variable:NAME``, graph constants keyed ``const:NAME``), the graph as
JSON in the safetensors metadata, and a sha256 digest of every tensor (over
its dtype, shape and bytes) and of the graph JSON, so that a damaged file is
an error rather than different weights.

Files are written atomically, so a crash during a save leaves the previous
checkpoint intact. Loading never executes code: it parses JSON (with bounded
nesting), checks every field of the graph before building any node, and reads
raw tensors; every op a graph names must be installed (the error names the
op and the distribution that provided it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from opcore.errors import CheckpointError
from opcore.graph import Graph, GraphVariable, SymbolicTensor, get_default_graph
from opcore.io._json import expect, parse_json
from opcore.io.atomic import atomic_write, atomic_write_group, directory_lock, remove_stale_temporaries
from opcore.io.bundle import read_bundle, tensor_digest, write_bundle_files
from opcore.io.checkpoint_state import (
    DATA_SUFFIX,
    INDEX_SUFFIX,
    META_SUFFIX,
    STATE_FILENAME,
    latest_checkpoint,
    update_checkpoint_state,
)
from opcore.io.graph_json import export_graph, import_graph
from opcore.shapes import Shape

__all__ = ["Saver", "export_graph", "export_meta_graph", "import_graph", "import_meta_graph", "tensor_digest"]

#: Written in the metadata key ``opcore.checkpoint``; files marked "1" predate digests and still load.
CHECKPOINT_VERSION = "2"
_MARK_KEY = "opcore.checkpoint"
_GRAPH_KEY = "opcore.graph"
_DIGEST_KEY = "opcore.sha256"
_VAR_PREFIX = "variable:"


# --------------------------------------------------------------------------- files


def _read(path: str) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """The metadata and tensors of an opcore checkpoint, after checking its digests."""
    from safetensors import SafetensorError, safe_open

    if not os.path.isfile(path):
        raise CheckpointError(f"no checkpoint at {path!r}" + (" (it is a folder)" if os.path.isdir(path) else ""))
    remove_stale_temporaries(path)
    try:
        with safe_open(path, framework="numpy") as f:
            metadata = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {path!r} is corrupted or truncated: {exc}") from None
    mark = metadata.get(_MARK_KEY)
    if mark not in ("1", CHECKPOINT_VERSION):
        raise CheckpointError(
            f"{path!r} is not an opcore checkpoint this version reads (marker {mark!r}; reads '1' and "
            f"{CHECKPOINT_VERSION!r})"
        )
    if mark == "1" and _DIGEST_KEY not in metadata:
        return metadata, tensors  # written before checkpoints carried digests
    _verify_digests(path, metadata, tensors)
    return metadata, tensors


def _verify_digests(path: str, metadata: dict[str, str], tensors: dict[str, np.ndarray]) -> None:
    if _DIGEST_KEY not in metadata:
        raise CheckpointError(f"checkpoint {path!r} is corrupted: its sha256 digests are missing")
    digests = parse_json(metadata[_DIGEST_KEY], f"the digests of checkpoint {path!r}")
    expect(digests, dict, f"the digests of checkpoint {path!r}")
    covered = set(tensors) | ({_GRAPH_KEY} if _GRAPH_KEY in metadata else set())
    if set(digests) != covered:
        raise CheckpointError(
            f"checkpoint {path!r} is corrupted: its digest list does not match its contents "
            f"(missing {sorted(covered - set(digests))[:5]}, unexpected {sorted(set(digests) - covered)[:5]})"
        )
    graph_text = metadata.get(_GRAPH_KEY)
    if graph_text is not None and digests[_GRAPH_KEY] != hashlib.sha256(graph_text.encode()).hexdigest():
        raise CheckpointError(f"checkpoint {path!r} is corrupted: the graph fails its sha256 digest")
    for key, arr in tensors.items():
        if digests[key] != tensor_digest(arr):
            raise CheckpointError(f"checkpoint {path!r} is corrupted: tensor {key!r} fails its sha256 digest")


def _meta_from(path: str, metadata: dict[str, str]) -> Any:
    raw = metadata.get(_GRAPH_KEY)
    if raw is None:
        raise CheckpointError(f"checkpoint {path!r} holds no graph (it was saved with write_meta_graph=False)")
    return parse_json(raw, f"the graph in checkpoint {path!r}")


def _write_single_file(path: str, tensors: dict[str, np.ndarray], graph: Graph | None) -> None:
    """Write the single-file format to ``path``: ``tensors``, and ``graph`` with its constants when given."""
    from safetensors.numpy import save_file

    tensors = dict(tensors)
    metadata = {_MARK_KEY: CHECKPOINT_VERSION}
    if graph is not None:
        meta, consts = export_graph(graph)
        tensors.update(consts)
        metadata[_GRAPH_KEY] = json.dumps(meta, separators=(",", ":"))
    digests = {k: tensor_digest(a) for k, a in tensors.items()}
    if _GRAPH_KEY in metadata:
        digests[_GRAPH_KEY] = hashlib.sha256(metadata[_GRAPH_KEY].encode()).hexdigest()
    metadata[_DIGEST_KEY] = json.dumps(digests, separators=(",", ":"))
    save_file(tensors, path, metadata=metadata)


def export_meta_graph(filename: str | os.PathLike[str], graph: Graph | None = None) -> dict[str, Any]:
    """Write ``graph`` (default: the default graph) to ``filename``, as a checkpoint's ``.meta`` file.

    The file is a safetensors file: the graph as versioned JSON in its
    metadata, the graph's constants as tensors, a sha256 digest of each.
    Returns the graph's JSON (as :func:`export_graph`). Read it back with
    :func:`import_meta_graph`.
    """
    g = graph if graph is not None else get_default_graph()
    path = os.fspath(filename)
    try:
        with atomic_write(path) as tmp:
            _write_single_file(tmp, {}, g)
    except OSError as exc:
        raise CheckpointError(f"cannot write meta graph {path!r}: {exc}") from None
    return export_graph(g)[0]


def _checkpoint_name(v: GraphVariable) -> str:
    return v.name


class Saver:
    """Saves and restores a graph's variables (TensorFlow 1's ``tf.train.Saver``), in TensorFlow 1's file layout.

    ``saver.save(sess, "ckpts/model.ckpt", global_step=1000)`` writes

    - ``ckpts/model.ckpt-1000.data-00000-of-00001``: the variables, a safetensors file;
    - ``ckpts/model.ckpt-1000.index``: JSON listing each variable's dtype, shape and sha256;
    - ``ckpts/model.ckpt-1000.meta``: the graph (JSON, with its constants, in a safetensors file);
    - ``ckpts/checkpoint``: the state file naming the recent checkpoints
      (:func:`opcore.io.checkpoint_state.latest_checkpoint` reads it),

    and returns the prefix ``"ckpts/model.ckpt-1000"`` for ``saver.restore(sess, prefix)``;
    ``import_meta_graph(prefix + ".meta")`` rebuilds the graph without the
    model's Python code. Only the ``max_to_keep`` most recent checkpoints of
    this saver are kept (default 5; ``None`` or 0 keeps every file), plus one
    every ``keep_checkpoint_every_n_hours``.

    ``var_list``: the variables to save, a list (saved under their names) or
    a dict ``{name in the checkpoint: variable}``; default: every variable of
    the session's graph at the time of the save. ``write_version=1`` writes
    opcore's earlier single-file format instead (one safetensors file at the
    prefix, graph included); both formats are read.

    Every file is written atomically (the index last, after the data is
    fsynced), saves and restores in one folder are serialised across threads
    and processes, and a restore loads nothing unless every variable checks
    out against the index and its digest: a damaged or mismatched file raises
    :class:`~opcore.errors.CheckpointError` instead of restoring altered values.
    """

    def __init__(
        self,
        var_list: Sequence[GraphVariable] | Mapping[str, GraphVariable] | None = None,
        *,
        max_to_keep: int | None = 5,
        keep_checkpoint_every_n_hours: float = 10000.0,
        name: str | None = None,
        pad_step_number: bool = False,
        write_version: int = 2,
        graph: Graph | None = None,
    ) -> None:
        self._var_map = _var_map(var_list)
        if max_to_keep is not None and (isinstance(max_to_keep, bool) or not isinstance(max_to_keep, int)):
            raise CheckpointError(f"Saver: max_to_keep must be an int or None, got {max_to_keep!r}")
        if max_to_keep is not None and max_to_keep < 0:
            raise CheckpointError(f"Saver: max_to_keep must be >= 0 (0 or None keeps every file), got {max_to_keep}")
        try:
            hours = float(keep_checkpoint_every_n_hours)
        except (TypeError, ValueError):
            hours = float("nan")
        if not hours > 0:
            raise CheckpointError(
                f"Saver: keep_checkpoint_every_n_hours must be > 0, got {keep_checkpoint_every_n_hours!r}"
            )
        if write_version not in (1, 2):
            raise CheckpointError(
                f"Saver: write_version must be 2 (TensorFlow 1's layout: .index, .data, .meta and a "
                f"'checkpoint' state file) or 1 (opcore's single file), got {write_version!r}"
            )
        self.max_to_keep = max_to_keep or 0
        self.keep_checkpoint_every_n_hours = hours
        self.name = name
        self.pad_step_number = bool(pad_step_number)
        self.write_version = write_version
        self._graph = graph
        now = time.time()
        self._next_checkpoint_time = now + hours * 3600
        self._last_preserved_timestamp = now
        self._last_checkpoints: list[tuple[str, float]] = []

    # -- which variables ------------------------------------------------------------------

    def _vars(self, sess: Any) -> dict[str, GraphVariable]:
        if self._var_map is not None:
            return self._var_map
        variables = list((self._graph or sess.graph).variables)
        named = {_checkpoint_name(v): v for v in variables}
        if len(named) != len(variables):  # pragma: no cover - graphs give variables unique names
            raise CheckpointError("Saver: two variables of the graph share a name; pass var_list as a dict")
        return named

    # -- the recent checkpoints -----------------------------------------------------------

    @property
    def last_checkpoints(self) -> list[str]:
        """The prefixes of the checkpoints this saver keeps, oldest first."""
        return [p for p, _ in self._last_checkpoints]

    def set_last_checkpoints_with_time(self, last_checkpoints_with_time: Sequence[tuple[str, float]]) -> None:
        """Replace the list of kept checkpoints by ``[(prefix, timestamp), ...]``, oldest first."""
        self._last_checkpoints = [(os.fspath(p), float(t)) for p, t in last_checkpoints_with_time]

    def recover_last_checkpoints(self, checkpoint_paths: Sequence[str]) -> None:
        """Take over checkpoints written earlier (say, by a previous run) so that ``max_to_keep`` counts them.

        Those whose files are gone are skipped; timestamps come from the files.
        """
        found = []
        for p in checkpoint_paths:
            for path in (p + INDEX_SUFFIX, p):
                if os.path.isfile(path):
                    found.append((os.fspath(p), os.path.getmtime(path)))
                    break
        self.set_last_checkpoints_with_time(found)

    def _record(self, prefix: str) -> list[tuple[str, float]]:
        """Add ``prefix`` to the kept list; return the checkpoints now beyond ``max_to_keep``."""
        if not self.max_to_keep:
            return []
        self._last_checkpoints = [(p, t) for p, t in self._last_checkpoints if p != prefix]
        self._last_checkpoints.append((prefix, time.time()))
        dropped = []
        while len(self._last_checkpoints) > self.max_to_keep:
            dropped.append(self._last_checkpoints.pop(0))
        return dropped

    def _to_delete(self, dropped: list[tuple[str, float]]) -> list[str]:
        """The dropped checkpoints to remove: all but one every ``keep_checkpoint_every_n_hours``."""
        doomed = []
        for prefix, stamp in dropped:
            if stamp > self._next_checkpoint_time:
                self._next_checkpoint_time += self.keep_checkpoint_every_n_hours * 3600
                self._last_preserved_timestamp = stamp
            else:
                doomed.append(prefix)
        return doomed

    def _delete(self, prefixes: list[str], meta_graph_suffix: str) -> None:
        for prefix in prefixes:
            for path in _files_of(prefix, meta_graph_suffix, self.write_version):
                try:
                    os.remove(path)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    warnings.warn(f"Saver: could not remove old checkpoint file {path!r}: {exc}", stacklevel=3)

    # -- save and restore -----------------------------------------------------------------

    def _step_text(self, sess: Any, global_step: Any) -> str:
        value = global_step
        if isinstance(value, (SymbolicTensor, GraphVariable)):
            value = sess.run(value)
        elif hasattr(value, "numpy"):
            value = value.numpy()
        arr = np.asarray(value)
        if arr.shape != () or arr.dtype.kind not in "iu" or isinstance(global_step, bool):
            raise CheckpointError(
                f"Saver.save: global_step must be an integer (a Python int, or an integer scalar tensor or variable "
                f"such as opcore.train.get_or_create_global_step()), got {global_step!r}"
            )
        step = int(arr)
        return f"{step:08d}" if self.pad_step_number else str(step)

    def save(
        self,
        sess: Any,
        save_path: str | os.PathLike[str],
        global_step: Any = None,
        latest_filename: str | None = None,
        meta_graph_suffix: str = "meta",
        write_meta_graph: bool = True,
        write_state: bool = True,
    ) -> str:
        """Save the variables under the prefix ``save_path`` (``save_path-STEP`` with a ``global_step``).

        Writes the ``.data-00000-of-00001``, ``.index`` and (unless
        ``write_meta_graph=False``) ``.meta`` files, then (unless
        ``write_state=False``) the folder's state file ``checkpoint`` (or
        ``latest_filename``), then removes the files of checkpoints beyond
        ``max_to_keep``. Returns the prefix, for ``restore``.
        """
        path = os.fspath(save_path)
        if not path or os.path.isdir(path):
            example = os.path.join(path or ".", "model.ckpt")
            raise CheckpointError(
                f"Saver.save: save_path {path!r} is a folder; give a file prefix inside it, such as {example!r}"
            )
        if not meta_graph_suffix or "/" in meta_graph_suffix or os.sep in meta_graph_suffix:
            raise CheckpointError(f"Saver.save: meta_graph_suffix must be a plain suffix, got {meta_graph_suffix!r}")
        prefix = path if global_step is None else f"{path}-{self._step_text(sess, global_step)}"
        state_name = STATE_FILENAME if latest_filename is None else latest_filename
        if write_state and self.write_version == 1 and os.path.basename(prefix) == state_name:
            raise CheckpointError(
                f"Saver.save: the checkpoint {prefix!r} would overwrite the folder's state file {state_name!r}; "
                "choose another name"
            )
        values = {name: np.asarray(sess.variable_value(v), order="C") for name, v in self._vars(sess).items()}
        graph = (self._graph or sess.graph) if write_meta_graph else None
        folder = os.path.dirname(prefix) or "."
        try:
            with directory_lock(folder):
                if self.write_version == 1:
                    with atomic_write(prefix) as tmp:
                        _write_single_file(tmp, {_VAR_PREFIX + k: a for k, a in values.items()}, graph)
                else:
                    meta_path = f"{prefix}.{meta_graph_suffix}"
                    targets = [prefix + DATA_SUFFIX, *([meta_path] if graph is not None else []), prefix + INDEX_SUFFIX]
                    with atomic_write_group(targets) as tmps:
                        write_bundle_files(values, tmps[0], tmps[-1])
                        if graph is not None:
                            _write_single_file(tmps[1], {}, graph)
                if write_state:
                    doomed = self._to_delete(self._record(prefix))
                    kept = self._last_checkpoints or [(prefix, time.time())]
                    update_checkpoint_state(
                        folder,
                        prefix,
                        [p for p, _ in kept],
                        latest_filename,
                        [t for _, t in kept],
                        self._last_preserved_timestamp,
                    )
                    self._delete(doomed, meta_graph_suffix)
        except OSError as exc:
            raise CheckpointError(f"cannot write checkpoint {prefix!r}: {exc}") from None
        return prefix

    def restore(self, sess: Any, save_path: str | os.PathLike[str] | None) -> None:
        """Load every variable from the checkpoint at the prefix ``save_path``; all of them or none.

        ``save_path`` is what ``save`` returned, or ``latest_checkpoint(folder)``;
        a single-file checkpoint (``write_version=1``, or written by earlier opcore versions) is read too.
        """
        if save_path is None:
            raise CheckpointError(
                "Saver.restore: save_path is None; is there a checkpoint? (latest_checkpoint(folder) gives None "
                "when the folder holds none)"
            )
        prefix = os.fspath(save_path)
        variables = self._vars(sess)
        with directory_lock(os.path.dirname(prefix) or ".", shared=True):
            if os.path.isfile(prefix + INDEX_SUFFIX):
                remove_stale_temporaries(prefix + INDEX_SUFFIX)
                remove_stale_temporaries(prefix + DATA_SUFFIX)
                wanted = {name: (v.dtype, v.shape.as_tuple()) for name, v in variables.items()}
                arrays = read_bundle(prefix, wanted)
                values = [(v, arrays[name]) for name, v in variables.items()]
            else:
                values = self._single_file_values(prefix, variables)
        for v, value in values:
            sess.load_variable(v, value)

    def _single_file_values(self, path: str, variables: dict[str, GraphVariable]) -> list[tuple[GraphVariable, Any]]:
        if not os.path.isfile(path) or _names_a_file_of_a_checkpoint(path):
            raise CheckpointError(_missing(path))
        _, tensors = _read(path)
        values = []
        for name, v in variables.items():
            key = _VAR_PREFIX + name
            if key not in tensors:
                raise CheckpointError(f"checkpoint {path!r} has no value for variable {name!r}")
            value = tensors[key]
            if tuple(value.shape) != tuple(v.shape.dims or ()) or value.dtype != v.dtype.np:
                raise CheckpointError(
                    f"checkpoint {path!r} holds {value.dtype} {Shape(value.shape)} for variable {name!r}, "
                    f"which is {v.dtype} {v.shape}"
                )
            values.append((v, value))
        return values

    def export_meta_graph(self, filename: str | os.PathLike[str], graph: Graph | None = None) -> dict[str, Any]:
        """Write the graph to ``filename`` (see the module function :func:`export_meta_graph`)."""
        return export_meta_graph(filename, graph if graph is not None else self._graph)


def _var_map(var_list: Any) -> dict[str, GraphVariable] | None:
    if var_list is None:
        return None
    if isinstance(var_list, Mapping):
        items = list(var_list.items())
        for key, _ in items:
            if not isinstance(key, str) or not key:
                raise CheckpointError(f"Saver: var_list keys are the names in the checkpoint (strings), got {key!r}")
    else:
        if isinstance(var_list, (str, bytes)) or not isinstance(var_list, Iterable):
            raise CheckpointError(f"Saver: var_list must be a list or dict of graph variables, got {var_list!r}")
        items = [(_checkpoint_name(v) if isinstance(v, GraphVariable) else "?", v) for v in var_list]
    named: dict[str, GraphVariable] = {}
    for key, v in items:
        if not isinstance(v, GraphVariable):
            raise CheckpointError(
                f"Saver: var_list holds {type(v).__name__} {v!r}; a Saver saves the variables of a graph "
                "(opcore.Variable created inside graph.as_default())"
            )
        if key in named:
            raise CheckpointError(f"Saver: two variables are saved under the name {key!r}")
        named[key] = v
    return named


def _files_of(prefix: str, meta_graph_suffix: str, write_version: int) -> list[str]:
    if write_version == 1:
        return [prefix]
    return [prefix + INDEX_SUFFIX, prefix + DATA_SUFFIX, f"{prefix}.{meta_graph_suffix}"]


def _missing(prefix: str) -> str:
    """The message for a restore from a prefix where no checkpoint is, with what the folder does hold."""
    if os.path.isdir(prefix):
        latest = latest_checkpoint(prefix) if os.path.isfile(os.path.join(prefix, STATE_FILENAME)) else None
        hint = f"; its latest checkpoint is {latest!r}" if latest else ""
        return (
            f"no checkpoint at {prefix!r}: it is a folder{hint}. Restore from a checkpoint prefix, such as "
            "opcore.train.latest_checkpoint(folder)"
        )
    message = (
        f"no checkpoint at {prefix!r}: neither {prefix + INDEX_SUFFIX!r} (TensorFlow 1's layout) nor a "
        "single-file checkpoint exists"
    )
    for suffix in (INDEX_SUFFIX, DATA_SUFFIX, META_SUFFIX):
        if prefix.endswith(suffix) and os.path.isfile(prefix[: -len(suffix)] + INDEX_SUFFIX):
            return f"{message}; pass the prefix {prefix[: -len(suffix)]!r}, without {suffix!r}"
    folder = os.path.dirname(prefix) or "."
    if os.path.isfile(os.path.join(folder, STATE_FILENAME)):
        with contextlib.suppress(CheckpointError):
            latest = latest_checkpoint(folder)
            if latest:
                message += f"; the latest checkpoint in {folder!r} is {latest!r}"
    return message


def _names_a_file_of_a_checkpoint(path: str) -> bool:
    """Whether ``path`` is one file (``.index``, ``.data-...``, ``.meta``) of a checkpoint in TensorFlow's layout."""
    return any(
        path.endswith(suffix) and os.path.isfile(path[: -len(suffix)] + INDEX_SUFFIX)
        for suffix in (INDEX_SUFFIX, DATA_SUFFIX, META_SUFFIX)
    )


def _meta_file(path: str) -> str:
    """The file holding the graph for ``path``: a ``.meta`` file, or a single-file checkpoint."""
    for suffix in (INDEX_SUFFIX, DATA_SUFFIX):
        if path.endswith(suffix) and os.path.isfile(path[: -len(suffix)] + META_SUFFIX):
            return path[: -len(suffix)] + META_SUFFIX
    if os.path.isfile(path):
        return path
    if path.endswith(META_SUFFIX) and os.path.isfile(path[: -len(META_SUFFIX)]):
        return path[: -len(META_SUFFIX)]  # a single-file checkpoint named without .meta
    if os.path.isfile(path + META_SUFFIX):
        return path + META_SUFFIX
    raise CheckpointError(_missing(path[: -len(META_SUFFIX)] if path.endswith(META_SUFFIX) else path))


def import_meta_graph(
    meta_graph_or_file: str | os.PathLike[str], clear_devices: bool = False, graph: Graph | None = None
) -> Saver:
    """Rebuild a saved graph (into ``graph`` or the default graph) and return a Saver for its variables.

    ``meta_graph_or_file``: a checkpoint's ``.meta`` file, its prefix, or a
    single-file checkpoint. ``clear_devices`` is accepted for TensorFlow 1
    programs; the files record no device placement. All or nothing: if the
    file is damaged or the graph cannot be rebuilt,
    :class:`~opcore.errors.CheckpointError` says why and the target graph is
    left unchanged.
    """
    path = _meta_file(os.fspath(meta_graph_or_file))
    metadata, tensors = _read(path)
    meta = _meta_from(path, metadata)
    try:
        g = import_graph(meta, tensors, graph)
    except CheckpointError as exc:
        raise CheckpointError(f"the graph in checkpoint {path!r} cannot be rebuilt: {exc}") from None
    return Saver(graph=g)
