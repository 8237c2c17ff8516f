"""Row-parallel execution for the NumPy kernels that neither BLAS nor memory bandwidth bounds.

NumPy's ufunc loops release the GIL, so a kernel can split a large array into blocks of
rows and run them on a few threads, as PyTorch's intra-op parallelism does (Softmax is
bound by ``exp``). Small arrays stay on the calling thread: waking a sleeping thread and
being woken by it costs tens of microseconds. Each block's result depends only on its
rows, so results do not depend on the thread timing.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["row_ranges", "run"]

R = TypeVar("R")

#: Elements a thread must get at the least before work is split.
MIN_PER_THREAD = 1 << 18

_lock = threading.Lock()  # guards the worker list
_busy = threading.Lock()  # held while a run uses the workers
_workers: list[_Worker] = []


def threads() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def row_ranges(rows: int, elements: int) -> list[tuple[int, int]]:
    """Split ``rows`` rows holding ``elements`` elements in all into one contiguous range per
    thread, each with at least ``MIN_PER_THREAD`` elements (a single range when small).

    The first range, the calling thread's, is larger by about ``MIN_PER_THREAD // 4``
    elements: the caller starts at once, while a worker starts some 20 us later and the
    caller, had it finished first, would sleep until the worker wakes it (as long again).
    The caller finishing last costs neither."""
    n = max(1, min(threads(), elements // MIN_PER_THREAD, rows))
    if n == 1:
        return [(0, rows)]
    head = (MIN_PER_THREAD // 4) * (n - 1) // n  # elements moved to the first range
    first = min(rows - (n - 1), -(-rows // n) + head * rows // max(elements, 1))
    bounds = [0, *(first + (rows - first) * k // (n - 1) for k in range(n))]
    return list(itertools.pairwise(bounds))


class _Worker:
    """A thread that runs one block at a time, handed over through two plain locks: a
    release wakes it and a release tells the caller it is done (a ``ThreadPoolExecutor``
    builds a future and a work item per block and takes its queue's and the future's
    locks: some 15 us before the caller could start its own block, as much again after)."""

    def __init__(self, index: int) -> None:
        self.go = threading.Lock()
        self.go.acquire()
        self.done = threading.Lock()
        self.done.acquire()
        self.task: tuple[Callable[[int, int], Any], int, int] | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        threading.Thread(target=self._loop, name=f"opcore-numpy-{index}", daemon=True).start()

    def _loop(self) -> None:
        while True:
            self.go.acquire()
            assert self.task is not None
            fn, lo, hi = self.task
            self.task = None
            try:
                self.result = fn(lo, hi)
            except BaseException as e:  # handed to the caller, which raises it
                self.error = e
            self.done.release()

    def start(self, fn: Callable[[int, int], Any], lo: int, hi: int) -> None:
        self.task = (fn, lo, hi)
        self.go.release()

    def finish(self) -> Any:
        self.done.acquire()
        error, result = self.error, self.result
        self.error = self.result = None
        if error is not None:
            raise error
        return result


def _take_workers(n: int) -> list[_Worker]:
    with _lock:
        while len(_workers) < n:
            _workers.append(_Worker(len(_workers)))
        return _workers[:n]


def _forget_workers() -> None:  # a forked child has the worker objects but none of their threads
    global _workers, _busy, _lock
    _workers, _busy, _lock = [], threading.Lock(), threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers)


def run(fn: Callable[[int, int], R], ranges: list[tuple[int, int]]) -> list[R]:
    """``[fn(lo, hi) for lo, hi in ranges]``, the first range on the calling thread and the
    others on worker threads. A call made while another is using the workers (from another
    thread, or from inside a block) runs its ranges one after another on its own thread."""
    if len(ranges) == 1 or not _busy.acquire(blocking=False):
        return [fn(lo, hi) for lo, hi in ranges]
    try:
        workers = _take_workers(len(ranges) - 1)
        for w, (lo, hi) in zip(workers, ranges[1:], strict=True):
            w.start(fn, lo, hi)
        first: list[R] = []
        try:
            first.append(fn(*ranges[0]))
        finally:
            rest: list[R] = []
            error: BaseException | None = None
            for w in workers:  # every worker is waited for, even after an error
                try:
                    rest.append(w.finish())
                except BaseException as e:
                    error = error or e
        if error is not None:
            raise error
        return first + rest
    finally:
        _busy.release()
