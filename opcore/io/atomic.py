"""Atomic file writes: a crash mid-write leaves the previous file intact.

Every write goes to its own temporary file beside the target, named
``.NAME.tmp-PID-THREAD-RANDOM``, so that saves to one path from several
threads or processes never share a temporary file; the last complete write
wins. A temporary file left behind by a process that was killed mid-write is
removed by the next save or load of the same target.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_write", "remove_stale_temporaries"]


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
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    tmp = _create_temporary(target)
    try:
        yield str(tmp)
        with open(tmp, "rb+") as f:
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        with contextlib.suppress(OSError):  # make the rename itself durable where the OS allows
            dir_fd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
