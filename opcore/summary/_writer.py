"""Event-file writers: TensorFlow 1's ``FileWriter`` and TensorFlow 2's ``create_file_writer``.

Both append ``Event`` records to one ``events.out.tfevents.<time>.<host>.<pid>.<n>``
file in their log directory, framed by tensorboardX's ``RecordWriter`` (length,
masked CRC-32C, payload, CRC; the checksums in native code), at once and under a lock:
a record costs microseconds, so no writer thread is needed. The file is flushed (to the
operating system, where TensorBoard reads it) every ``flush_secs``, on ``flush()`` and
on leaving ``as_default()``; ``close()`` also syncs it to disk, as does dropping an
unclosed writer or the process exiting with one open.

The default writer, the default step and the recording condition of the eager API
belong to the thread that set them, as TensorFlow 2's do.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np

from opcore.errors import SummaryError
from opcore.summary import _tb

__all__ = [
    "FileWriter",
    "FileWriterCache",
    "SummaryWriter",
    "create_file_writer",
    "create_noop_writer",
    "flush",
    "get_step",
    "record_if",
    "set_step",
    "should_record_summaries",
]


def _int_step(step: Any, what: str = "step") -> int:
    """A step as an int: Python or NumPy ints, one-element arrays, eager tensors and variables."""
    numpy = getattr(step, "numpy", None)
    value = numpy() if callable(numpy) else step
    arr = np.asarray(value)
    if arr.size != 1 or arr.dtype.kind not in "iu":
        if arr.size == 1 and arr.dtype.kind == "f" and float(arr.reshape(())).is_integer():
            return int(arr.reshape(()))
        raise SummaryError(f"the {what} must be an integer, got {step!r}")
    return int(arr.reshape(()))


class _EventFile:
    """One log directory's event file: the shared core of both writer kinds."""

    def __init__(self, logdir: Any, max_queue: int, flush_secs: float, filename_suffix: str | None) -> None:
        try:
            path = os.fspath(logdir)
        except TypeError:
            raise SummaryError(f"logdir must be a path (str or os.PathLike), got {type(logdir).__name__}") from None
        if not isinstance(path, str) or not path:
            raise SummaryError(f"logdir must be a non-empty path, got {logdir!r}")
        if isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 1:
            raise SummaryError(f"max_queue must be a positive int, got {max_queue!r}")
        self._logdir = path
        self._max_queue = max_queue  # (accepted for TensorFlow's signature: records are written at once)
        self._flush_secs = float(flush_secs)
        self._suffix = filename_suffix or ""
        self._lock = threading.Lock()
        self._seen_tags: set[str] = set()
        self._records: Any = None
        self._path: str | None = None
        self._next_flush = 0.0
        self._closed = True
        self._open()

    def _open(self) -> None:
        if os.path.exists(self._logdir) and not os.path.isdir(self._logdir):
            raise SummaryError(f"logdir {self._logdir!r} exists and is not a directory")
        record_writer = _tb.record_writer()
        event_pb2 = _tb.proto("event_pb2")
        try:
            os.makedirs(self._logdir, exist_ok=True)
        except OSError as exc:
            raise SummaryError(f"cannot make logdir {self._logdir!r}: {exc}") from None
        # Unique per process and writer, so two writers of one directory never share a file.
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{next(_uid)}"
        path = os.path.join(self._logdir, name + self._suffix)
        self._records = record_writer(path)
        self._path = path
        self._closed = False
        self._next_flush = 0.0
        # A writer dropped without close(), or still open when the process exits, is flushed and closed then.
        self._finalizer = weakref.finalize(self, _close_records, self._records)
        self._write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))

    def get_logdir(self) -> str:
        """The directory this writer writes its event file into."""
        return self._logdir

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def path(self) -> str | None:
        """The event file being written (the last one, once closed)."""
        return self._path

    def _write(self, event: Any) -> None:
        data = event.SerializeToString()
        with self._lock:
            if self._closed:
                raise SummaryError(f"this summary writer ({self._logdir!r}) is closed; reopen() it or make a new one")
            self._records.write(data)
            now = time.monotonic()
            if now >= self._next_flush:  # (at once for a file's first event)
                self._records.flush()
                self._next_flush = now + self._flush_secs

    def _summary_event(self, summary: Any, step: int | None) -> Any:
        # Like TensorFlow 1: a tag's plugin metadata is written with its first value only.
        values = summary.value
        if any(v.HasField("metadata") for v in values):
            with self._lock:
                fresh = [v.tag not in self._seen_tags for v in values]
                self._seen_tags.update(v.tag for v in values)
            if not all(fresh):
                copy = type(summary)()
                copy.CopyFrom(summary)
                for v, new in zip(copy.value, fresh):
                    if not new:
                        v.ClearField("metadata")
                summary = copy
        event = _tb.proto("event_pb2").Event(wall_time=time.time(), summary=summary)
        if step is not None:
            event.step = step
        return event

    def flush(self) -> None:
        """Write every event so far to disk now."""
        with self._lock:
            if not self._closed:
                self._records.flush()
                self._next_flush = time.monotonic() + self._flush_secs

    def close(self) -> None:
        """Flush and close the event file; writing afterwards raises (TensorFlow 1's ``reopen()`` opens a new
        file)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._finalizer.detach()
            self._records.sync()
            self._records.close()

    def reopen(self) -> None:
        """After :meth:`close`, continue in a new event file of the same directory."""
        if self._closed:
            self._open()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<opcore.summary.{type(self).__name__} {self._logdir!r} ({state})>"


_uid = itertools.count()


def _close_records(records: Any) -> None:
    with contextlib.suppress(Exception):
        records.sync()
        records.close()


class FileWriter(_EventFile):
    """TensorFlow 1's ``tf.summary.FileWriter``: write summaries, graphs and events of a session's run.

    >>> import opcore, tempfile
    >>> g = opcore.Graph()
    >>> with g.as_default():
    ...     x = opcore.placeholder(opcore.float32, [], name="x")
    ...     s = opcore.summary.scalar("x", x)
    >>> writer = opcore.summary.FileWriter(tempfile.mkdtemp(), g)  # doctest: +SKIP
    >>> with opcore.Session(g) as sess:  # doctest: +SKIP
    ...     writer.add_summary(sess.run(s, {x: 1.5}), global_step=0)
    >>> writer.close()  # doctest: +SKIP

    ``graph`` (an opcore :class:`~opcore.Graph`, or a ``GraphDef``) is written at
    once, as ``add_graph`` does; ``session`` is accepted for TensorFlow 1
    compatibility and adds the session's graph when no graph is given.
    """

    def __init__(
        self,
        logdir: Any,
        graph: Any = None,
        max_queue: int = 10,
        flush_secs: float = 120,
        graph_def: Any = None,
        filename_suffix: str | None = None,
        session: Any = None,
    ) -> None:
        super().__init__(logdir, max_queue, flush_secs, filename_suffix)
        if graph is None and session is not None:
            graph = getattr(session, "graph", None)
        if graph is not None or graph_def is not None:
            self.add_graph(graph, graph_def=graph_def)

    def __enter__(self) -> FileWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_summary(self, summary: Any, global_step: Any = None) -> None:
        """Write a summary at ``global_step``: the ``bytes`` that ``Session.run`` returns for a summary tensor,
        or a ``Summary`` message."""
        summary_pb2 = _tb.proto("summary_pb2")
        if isinstance(summary, (bytes, bytearray, np.bytes_)):
            try:
                summary = summary_pb2.Summary.FromString(bytes(summary))
            except Exception as exc:
                raise SummaryError(f"add_summary: the bytes are not a serialized Summary: {exc}") from None
        elif not isinstance(summary, summary_pb2.Summary):
            raise SummaryError(
                f"add_summary takes the bytes of a summary tensor (sess.run(merged)) or a Summary message, "
                f"got {type(summary).__name__}"
            )
        step = None if global_step is None else _int_step(global_step, "global_step")
        self._write(self._summary_event(summary, step))

    def add_graph(self, graph: Any = None, global_step: Any = None, graph_def: Any = None) -> None:
        """Write a graph for TensorBoard's graph view: an opcore :class:`~opcore.Graph` (exported with
        :func:`opcore.summary.to_graph_def`) or a ``GraphDef`` message."""
        from opcore.summary._graph_def import as_graph_def

        gd = as_graph_def(graph if graph is not None else graph_def)
        event = _tb.proto("event_pb2").Event(wall_time=time.time(), graph_def=gd.SerializeToString())
        if global_step is not None:
            event.step = _int_step(global_step, "global_step")
        self._write(event)

    def add_event(self, event: Any) -> None:
        """Write an ``Event`` message as it is."""
        if not isinstance(event, _tb.proto("event_pb2").Event):
            raise SummaryError(f"add_event takes an Event message, got {type(event).__name__}")
        self._write(event)

    def add_session_log(self, session_log: Any, global_step: Any = None) -> None:
        """Write a ``SessionLog`` (``START`` tells TensorBoard to drop the events after a restart's step)."""
        event = _tb.proto("event_pb2").Event(wall_time=time.time(), session_log=session_log)
        if global_step is not None:
            event.step = _int_step(global_step, "global_step")
        self._write(event)

    def add_run_metadata(self, run_metadata: Any, tag: str, global_step: Any = None) -> None:
        """Write a ``RunMetadata`` message (or its bytes) under ``tag``."""
        data = run_metadata if isinstance(run_metadata, bytes) else run_metadata.SerializeToString()
        event_pb2 = _tb.proto("event_pb2")
        event = event_pb2.Event(
            wall_time=time.time(), tagged_run_metadata=event_pb2.TaggedRunMetadata(tag=tag, run_metadata=data)
        )
        if global_step is not None:
            event.step = _int_step(global_step, "global_step")
        self._write(event)


class FileWriterCache:
    """One :class:`FileWriter` per log directory (TensorFlow 1's ``tf.summary.FileWriterCache``)."""

    _cache: ClassVar[dict[str, FileWriter]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def get(cls, logdir: Any) -> FileWriter:
        key = os.fspath(logdir)
        with cls._lock:
            w = cls._cache.get(key)
            if w is None or w.closed:
                w = cls._cache[key] = FileWriter(key)
            return w

    @classmethod
    def clear(cls) -> None:
        with cls._lock:
            for w in cls._cache.values():
                w.close()
            cls._cache.clear()


# --------------------------------------------------------------------------- the eager (TensorFlow 2) API


class _ThreadState(threading.local):
    def __init__(self) -> None:
        self.writers: list[SummaryWriter] = []
        self.base_writer: SummaryWriter | None = None
        self.step: Any = None
        self.record: list[Any] = []


_state = _ThreadState()


class SummaryWriter(_EventFile):
    """TensorFlow 2's summary writer: ``with writer.as_default(): opcore.summary.scalar("loss", v, step=i)``.

    Made by :func:`create_file_writer`. Eager summary calls write to the innermost
    writer made default by ``as_default`` (or ``set_as_default``) in this thread.
    """

    def __init__(self, logdir: Any, max_queue: int, flush_secs: float, filename_suffix: str | None) -> None:
        super().__init__(logdir, max_queue, flush_secs, filename_suffix)

    @contextlib.contextmanager
    def as_default(self, step: Any = None) -> Iterator[SummaryWriter]:
        """Make this the default writer inside the block (and ``step`` the default step, when given)."""
        old_step = _state.step
        _state.writers.append(self)
        if step is not None:
            _state.step = step
        try:
            yield self
        finally:
            _state.writers.pop()
            if step is not None:
                _state.step = old_step
            self.flush()

    def set_as_default(self, step: Any = None) -> None:
        """Make this the default writer of this thread from now on (below any ``as_default`` blocks)."""
        _state.base_writer = self
        if step is not None:
            _state.step = step

    def init(self) -> None:
        """Nothing to do: the event file is made with the writer (kept for TensorFlow 2 compatibility)."""

    def write_summary(self, summary: Any, step: Any) -> None:
        """Write a ``Summary`` message at ``step`` (an int, or an eager tensor/variable holding one)."""
        self._write(self._summary_event(summary, _int_step(step)))

    def write_graph(self, graph: Any, step: Any = None) -> None:
        """Write an opcore :class:`~opcore.Graph` or a ``GraphDef`` for TensorBoard's graph view."""
        from opcore.summary._graph_def import as_graph_def

        event = _tb.proto("event_pb2").Event(wall_time=time.time(), graph_def=as_graph_def(graph).SerializeToString())
        if step is not None:
            event.step = _int_step(step)
        self._write(event)


class _NoopWriter(SummaryWriter):
    """A writer that writes nothing (``create_noop_writer``)."""

    def __init__(self) -> None:
        self._logdir = ""
        self._closed = False
        self._records = None
        self._path = None
        self._lock = threading.Lock()
        self._seen_tags = set()

    def _write(self, event: Any) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def reopen(self) -> None:
        pass


def create_file_writer(
    logdir: Any,
    max_queue: int | None = None,
    flush_millis: float | None = None,
    filename_suffix: str | None = None,
    name: str | None = None,
) -> SummaryWriter:
    """A :class:`SummaryWriter` for ``logdir`` (made if missing), as TensorFlow 2's
    ``tf.summary.create_file_writer``: at most ``max_queue`` events (default 10) wait in memory, flushed at
    least every ``flush_millis`` ms (default 120000). ``name`` is accepted and unused."""
    flush_secs = 120.0 if flush_millis is None else float(flush_millis) / 1000.0
    return SummaryWriter(logdir, 10 if max_queue is None else max_queue, flush_secs, filename_suffix)


def create_noop_writer() -> SummaryWriter:
    """A writer that drops everything (to turn summaries off without changing the code that writes them)."""
    return _NoopWriter()


def default_writer() -> SummaryWriter | None:
    """This thread's default writer: the innermost ``as_default`` block's, else ``set_as_default``'s."""
    return _state.writers[-1] if _state.writers else _state.base_writer


def set_step(step: Any) -> None:
    """The default step of eager summaries in this thread (an int, or a variable read at each write)."""
    _state.step = step


def get_step() -> Any:
    """This thread's default step (None when unset)."""
    return _state.step


@contextlib.contextmanager
def record_if(condition: bool | Callable[[], bool]) -> Iterator[None]:
    """Write eager summaries inside the block only when ``condition`` (a bool, or a callable asked at each
    write) holds: ``with record_if(lambda: step % 100 == 0):``."""
    _state.record.append(condition)
    try:
        yield
    finally:
        _state.record.pop()


def should_record_summaries() -> bool:
    """Whether an eager summary written now would be recorded (a default writer exists and every enclosing
    ``record_if`` condition holds)."""
    if default_writer() is None:
        return False
    return all(cond() if callable(cond) else cond for cond in _state.record)


def flush(writer: SummaryWriter | None = None, name: str | None = None) -> None:
    """Flush ``writer`` (default: this thread's default writer)."""
    w = writer if writer is not None else default_writer()
    if w is not None:
        w.flush()
