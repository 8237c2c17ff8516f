"""Row-parallel execution for the NumPy kernels that neither BLAS nor memory bandwidth bounds.

NumPy's ufunc loops release the GIL, so a kernel can split a large array into blocks of
rows and run them on a few threads, as PyTorch's intra-op parallelism does (Softmax is
bound by ``exp``, a whole-array sum by one core's share of the cache bandwidth). Small
arrays stay on the calling thread: a hand-off costs tens of microseconds. Each block's
result depends only on its rows, so results do not depend on the thread timing.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

__all__ = ["row_ranges", "run"]

R = TypeVar("R")

#: Elements a thread must get at the least before work is split.
MIN_PER_THREAD = 1 << 18

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def threads() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def row_ranges(rows: int, elements: int) -> list[tuple[int, int]]:
    """Split ``rows`` rows holding ``elements`` elements in all into one contiguous range per
    thread, each with at least ``MIN_PER_THREAD`` elements (a single range when small)."""
    n = max(1, min(threads(), elements // MIN_PER_THREAD, rows))
    bounds = [rows * k // n for k in range(n + 1)]
    return list(itertools.pairwise(bounds))


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, threads() - 1), thread_name_prefix="opcore-numpy")
        return _pool


def _forget_pool() -> None:  # a forked child has the pool object but none of its threads
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def run(fn: Callable[[int, int], R], ranges: list[tuple[int, int]]) -> list[R]:
    """``[fn(lo, hi) for lo, hi in ranges]``, the first range on the calling thread and the
    others on the pool."""
    if len(ranges) == 1:
        return [fn(*ranges[0])]
    futures: list[Future[R]] = [_executor().submit(fn, lo, hi) for lo, hi in ranges[1:]]
    first = fn(*ranges[0])
    return [first, *(f.result() for f in futures)]
