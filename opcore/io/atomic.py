"""Atomic file writes: a crash mid-write leaves the previous file intact.

Every write goes to its own temporary file beside the target, named
``.NAME.tmp-PID-THREAD-RANDOM``, so that saves to one path from several
threads or processes never share a temporary file; the last complete write
wins. A temporary file left behind by a process that was killed mid-write is
removed by the next save or load of the same target.

A checkpoint of several files is written with :func:`atomic_write_group`: every
file is written and fsynced under its temporary name first, and only then are
all renamed into place, one after the other, so that a crash while the data is
being written leaves every previous file intact. :func:`directory_lock`
serialises the saves (and separates them from the loads) of one folder across
threads and processes, so that the files of one checkpoint always come from
the same save.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import secrets
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["atomic_write", "atomic_write_group", "directory_lock", "remove_stale_temporaries"]


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.tmp-"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name != "posix":  # no cheap, safe liveness probe: keep the file
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[str]:
    """Remove temporary files of ``path`` whose writing process no longer runs; return their names.

    Temporary files of live processes (including this one) are kept: they may
    be saves in progress.
    """
    target = Path(path)
    prefix = _temp_prefix(target)
    removed: list[str] = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        pid_text = entry.name[len(prefix) :].split("-", 1)[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed.append(entry.name)
    return removed


def _create_temporary(target: Path) -> Path:
    prefix = f"{_temp_prefix(target)}{os.getpid()}-{threading.get_ident()}-"
    for _ in range(100):
        tmp = target.with_name(prefix + secrets.token_hex(6))
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(target))


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a fresh temporary path beside ``path``; on success fsync it and rename it over ``path``.

    Concurrent writers to one path each get their own temporary file; on an
    exception the temporary file is removed and ``path`` is left as it was.

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> with atomic_write(os.path.join(d, "f.txt")) as tmp:
    ...     _ = open(tmp, "w").write("hello")
    >>> open(os.path.join(d, "f.txt")).read()
    'hello'
    """
    with atomic_write_group([path]) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_write_group(paths: Sequence[str | os.PathLike[str]]) -> Iterator[tuple[str, ...]]:
    """Yield one fresh temporary path per target; on success fsync them all, then rename each over its target.

    The renames happen in the order of ``paths`` and only after every file has
    been written and fsynced: put last the file that marks the group complete.
    On an exception every temporary file is removed and the targets are left as
    they were.
    """
    targets = [Path(p) for p in paths]
    temporaries: list[Path] = []
    try:
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(target)
            temporaries.append(_create_temporary(target))
        yield tuple(str(t) for t in temporaries)
        for tmp in temporaries:
            with open(tmp, "rb+") as f:
                f.flush()
                os.fsync(f.fileno())
        for tmp, target in zip(temporaries, targets):
            os.replace(tmp, target)
        for folder in {t.parent for t in targets}:
            _fsync_directory(folder)
    finally:
        for tmp in temporaries:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def _fsync_directory(folder: Path) -> None:
    """Make renames in ``folder`` durable where the OS allows opening a folder."""
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()
_held = threading.local()


@contextlib.contextmanager
def directory_lock(folder: str | os.PathLike[str], shared: bool = False) -> Iterator[None]:
    """Hold a lock on ``folder`` (created if missing): exclusive for writers, ``shared`` for readers.

    On POSIX this is ``flock`` on the folder itself, so it holds across threads
    and processes and leaves no lock file behind; where ``flock`` is missing or
    refused (some network file systems) writers of this process are still
    serialised by an in-process lock. A thread that holds the lock already
    (a load inside a save) goes on without taking it again.
    """
    path = Path(folder)
    if not shared:
        path.mkdir(parents=True, exist_ok=True)
    key = str(path.resolve())
    held: dict[str, int] = _held.__dict__.setdefault("folders", {})
    if held.get(key):
        held[key] += 1
        try:
            yield
        finally:
            held[key] -= 1
        return
    with _process_locks_guard:
        local = _process_locks.setdefault(key, threading.Lock())
    with contextlib.ExitStack() as stack:
        if not shared:
            stack.enter_context(local)
        stack.enter_context(_flock(path, shared))
        held[key] = 1
        try:
            yield
        finally:
            held[key] = 0


@contextlib.contextmanager
def _flock(path: Path, shared: bool) -> Iterator[None]:
    fcntl: Any = None
    with contextlib.suppress(ImportError):  # not POSIX: the in-process lock is all there is
        fcntl = importlib.import_module("fcntl")
    fd = -1
    if fcntl is not None:
        with contextlib.suppress(OSError):  # a reader of a folder that does not exist: nothing to lock
            fd = os.open(path, os.O_RDONLY)
    locked = False
    try:
        if fd >= 0:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
                locked = True
            except OSError:  # refused (some network file systems): go on unlocked
                pass
        yield
    finally:
        if locked:
            fcntl.flock(fd, fcntl.LOCK_UN)
        if fd >= 0:
            os.close(fd)
