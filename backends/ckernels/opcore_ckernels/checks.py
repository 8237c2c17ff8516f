"""Device kernels that report instead of guessing: error flags for invalid indices and labels.

A kernel cannot raise. One that reads indices or class labels checks each value
against its valid range and, for a bad one, writes the value's flat position
into a one-element int32 *flag* with ``atomic_min``, so the flag ends up holding
the first bad position (C order) whatever the order the work-items ran in. It
then carries on without reading out of bounds (a bad gather index reads
nothing). The host reads the flag back:

- at once, for an eager call: the call raises;
- inside :func:`deferred` (sessions run their plans in it, through
  ``Backend.deferred_checks``), when the scope ends or its flush function is
  called: one small read per checked kernel, after the device has run
  everything queued, instead of one wait per kernel.

A flag still holding :data:`NO_ERROR` costs a 4-byte read. On the error path
the host downloads the checked values and raises the same
:class:`~opcore.errors.InvalidIndexError`, with the same message, as the NumPy
backend. Flags come from a pool per runtime: a flag that read clean goes back
to the pool, one that fired is dropped.

:func:`disabled` builds and runs the kernels without their checks, to measure
what the checks cost (``benchmarks/index_checks.py``); nothing else turns them off.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from opcore.errors import InvalidIndexError
from opcore_ckernels.source import ctype

__all__ = ["NO_ERROR", "REPORT", "RangeCheck", "deferred", "disabled", "enabled"]

#: What a flag holds while no bad value was seen (positions are clamped below it).
NO_ERROR = 2**31 - 1

#: ``REPORT(err, pos)`` records the flat position ``pos`` of a bad value in the flag ``err``.
REPORT = "#define REPORT(err, pos) atomic_min((err), (pos) < 0x7ffffffeL ? (int)(pos) : 0x7ffffffe)\n"

_RANGE = """
__kernel void check_range(__global const I* values, __global int* err, const long size, const long n) {
  const long j = get_global_id(0); if (j >= n) return;
  const long k = (long)values[j];
  if (k < 0 || k >= size) REPORT(err, j);
}
"""

_OFF: contextvars.ContextVar[bool] = contextvars.ContextVar("opcore_ckernels_checks_off", default=False)
_PENDING: contextvars.ContextVar[list[RangeCheck] | None] = contextvars.ContextVar(
    "opcore_ckernels_pending_checks", default=None
)
_POOLS: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def enabled() -> bool:
    """Whether kernels check the values they index with (always, outside :func:`disabled`)."""
    return not _OFF.get()


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Run kernels without their value checks (for measuring the checks' cost only).

    Invalid indices then read zeros and invalid labels give NaN rows, silently.
    """
    token = _OFF.set(True)
    try:
        yield
    finally:
        _OFF.reset(token)


@contextlib.contextmanager
def deferred() -> Iterator[Callable[[], None]]:
    """Collect the checks of the kernels launched in the block and read their flags at its end.

    Yields a function that reads the flags collected so far at once. The first
    error, in launch order, is raised (at the latest) when the block exits; an
    exception raised in the block becomes its context.
    """
    pending: list[RangeCheck] = []
    token = _PENDING.set(pending)

    def flush() -> None:
        checks = pending[:]
        pending.clear()
        _verify(checks)

    try:
        yield flush
    finally:
        _PENDING.reset(token)
        flush()


def _take_flag(rt: Any) -> Any:
    with _LOCK:
        pool = _POOLS.setdefault(rt, [])
        if pool:
            return pool.pop()
    return rt.to_device(np.full(1, NO_ERROR, np.int32))


def _give_back(rt: Any, flag: Any) -> None:
    with _LOCK:
        _POOLS.setdefault(rt, []).append(flag)


def _dummy_flag(rt: Any) -> Any:
    """A flag for kernels built without checks (never written)."""
    return rt.cached(("check-flag-unused",), lambda: np.full(1, NO_ERROR, np.int32))


class RangeCheck:
    """The check that every element of ``values`` (a device array) lies in ``[0, size)``.

    ``op``, ``name`` and ``meaning`` make the error message, exactly as the NumPy
    backend words it: ``"{op}: {name}[pos] = v is out of range: it must be in
    [0, size), {meaning}"``. Pass :attr:`flag` to the kernel that checks (its
    source built with ``CHECK`` = :attr:`on`), or call :meth:`scan` to check with
    a kernel of its own; then call :meth:`done`.
    """

    def __init__(self, ctx: Any, values: Any, size: int, op: str, name: str, meaning: str) -> None:
        self.rt = ctx.backend.runtime
        self.values = values
        self.size = int(size)
        self.op, self.name, self.meaning = op, name, meaning
        #: Whether the check runs: checks are on and there is something to check.
        self.on = enabled() and int(values.size) > 0
        self._flag = _take_flag(self.rt) if self.on else None

    @property
    def flag(self) -> Any:
        """The flag's buffer, as a kernel argument (an unused one when the check is off)."""
        return (self._flag if self._flag is not None else _dummy_flag(self.rt)).data

    def scan(self) -> None:
        """Check the values with a kernel of their own (when no kernel that reads them runs)."""
        if self.on:
            rt, i = self.rt, ctype(self.values.dtype)
            kernel = rt.kernel(("check_range", i), lambda: f"#define I {i}\n{REPORT}{_RANGE}", "check_range")
            n = int(self.values.size)
            rt.launch(kernel, (n,), [self.values.data, self.flag, np.int64(self.size), np.int64(n)])
        self.done()

    def done(self) -> None:
        """The kernel is launched: read the flag now (eager), or when the deferred scope says."""
        if not self.on:
            return
        pending = _PENDING.get()
        if pending is None:
            _verify([self])
        else:
            pending.append(self)

    def error(self, position: int) -> InvalidIndexError:
        """The error for a flag that holds ``position``: the same as the NumPy backend's."""
        host = np.asarray(self.rt.get(self.values))
        flat = host.reshape(-1)
        bad = (flat < 0) | (flat >= self.size)
        if not 0 <= position < flat.size or not bad[position]:
            # A clamped position (2**31 - 2 or more elements), or values changed since: find it here.
            position = int(np.argmax(bad)) if bad.any() else min(max(position, 0), flat.size - 1)
        where = np.unravel_index(position, host.shape)
        return InvalidIndexError.out_of_range(self.op, self.name, where, int(flat[position]), self.size, self.meaning)


def _verify(checks: list[RangeCheck]) -> None:
    """Read every flag; give clean ones back; raise the first error."""
    error: InvalidIndexError | None = None
    for c in checks:
        assert c._flag is not None
        position = int(np.asarray(c.rt.get(c._flag)).reshape(-1)[0])
        if position == NO_ERROR:
            _give_back(c.rt, c._flag)
        elif error is None:
            error = c.error(position)
        c._flag = None
    if error is not None:
        raise error
