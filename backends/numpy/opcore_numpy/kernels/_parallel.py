"""The NumPy kernels' own threads: row-parallel loops, and the split of large BLAS work.

NumPy's ufunc loops release the GIL, so a kernel can split a large array into blocks of
rows and run them on a few threads, as PyTorch's intra-op parallelism does (Softmax is
bound by ``exp``). Small arrays stay on the calling thread: waking a sleeping thread and
being woken by it costs tens of microseconds. Each block's result depends only on its
rows, so results do not depend on the thread timing.

Large GEMMs and convolutions are split the same way, with BLAS held to one thread while
their blocks run (:func:`run_with_blas`): BLAS's own threads, which spin between calls,
would otherwise take the cores from the blocks.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

__all__ = ["held", "matmul", "near_held", "row_ranges", "run", "run_with_blas", "ufunc_into"]

R = TypeVar("R")

#: Elements a thread must get at the least before work is split.
MIN_PER_THREAD = 1 << 18

#: Elements of an elementwise result from which it is computed in blocks of rows
#: (:func:`ufunc_into`): two threads' worth.
LARGE_ELEMENTWISE = 2 * MIN_PER_THREAD

_lock = threading.Lock()  # guards the worker list
_busy = threading.Lock()  # held while a run uses the workers
_workers: list[_Worker] = []


def _thread_cap() -> int | None:
    """``OMP_NUM_THREADS`` (its first number) when set to a positive number, else None: the
    limit a user sets for every library's threads (BLAS's, PyTorch's), as data-parallel
    ranks sharing a machine do."""
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    try:
        n = int(value)
    except ValueError:
        return None
    return n if n >= 1 else None


_CAP = _thread_cap()


def threads() -> int:
    """The threads this backend splits work over: the cores this process may run on, at
    most ``OMP_NUM_THREADS`` when that is set."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return n if _CAP is None else min(n, _CAP)


def even_ranges(n: int, parts: int) -> list[tuple[int, int]]:
    """``range(n)`` cut into ``parts`` contiguous ranges whose lengths differ by one at most."""
    return list(itertools.pairwise(n * k // parts for k in range(parts + 1)))


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


def ufunc_into(fn: Callable[..., Any], out: Any, *xs: Any) -> Any:
    """``fn(*xs, out=out)`` (an elementwise NumPy function that writes into ``out``)
    over blocks of ``out``'s leading axis, one per thread (:func:`row_ranges`): an operand
    that spans that axis is sliced with it, any other (a bias, a 0-d constant) broadcasts
    whole into every block. NumPy's elementwise loops run below memory speed on one core
    (``np.maximum`` of 2.4M float32: 0.67 ms on one thread, 0.38 ms on two)."""
    rows, nd = out.shape[0], out.ndim

    def block(lo: int, hi: int) -> None:
        fn(*[x[lo:hi] if x.ndim == nd and x.shape[0] == rows else x for x in xs], out=out[lo:hi])

    run(block, row_ranges(rows, out.size))
    return out


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
        return _run_held(fn, ranges)
    finally:
        _busy.release()


def run_with_blas(fn: Callable[[int, int], R], ranges: list[tuple[int, int]]) -> list[R]:
    """:func:`run` for blocks that call BLAS, with BLAS held to one thread while the blocks
    run, so that each of this module's threads multiplies its own part on its own core.

    OpenBLAS's threads wait spinning for about 0.1 s after each multithreaded call: a
    kernel that builds a convolution's columns on one thread, then hands them to a GEMM
    on two BLAS threads, keeps a core spinning while it copies, and blocks split over
    this module's threads while BLAS's threads spin share the cores with them. So every
    large BLAS call of this backend (GEMMs of at least ``MIN_SPLIT_MACS`` multiply-adds,
    convolutions by images) goes through here, as oneDNN and PyTorch split a
    convolution over its images: each thread builds its columns and multiplies them
    while they are in its cache. BLAS's thread count is process-wide (threadpoolctl sets
    it), so BLAS calls from other threads meanwhile run on one thread too, and it is
    restored as soon as the blocks are done. A single range runs on the calling thread,
    with BLAS held to one thread all the same. The ranges run one after another on the
    calling thread, BLAS keeping its threads, when threadpoolctl is missing, finds no
    BLAS it can set, or another thread holds threadpoolctl's control of BLAS (inside its
    ``threadpool_limits``), and when the workers are busy with another call."""
    global _last_held
    blas = _blas_controllers()
    if not blas or not _busy.acquire(blocking=False):
        return [fn(lo, hi) for lo, hi in ranges]
    try:
        saved = _hold(blas)
        if saved is None:
            return [fn(lo, hi) for lo, hi in ranges]
        try:
            if len(ranges) == 1:
                return [fn(*ranges[0])]
            return _run_held(fn, ranges)
        finally:
            _last_held = _monotonic()
            _restore(blas, saved)
    finally:
        _busy.release()


#: Multiply-adds each core must get at the least before a GEMM is split. Waking this module's
#: threads and being woken by them costs some 50 us on 2 cores, where BLAS's own spinning
#: threads take a few: below this size (about 0.7 ms of one core's GEMM) BLAS keeps the
#: GEMM. Measured: (128, 784) @ (784, 256) took 215 us on BLAS's 2 threads and 261 us
#: split; (64, 10816) @ (10816, 128) 790 and 814 us; 1024^3 8.2 and 7.9 ms.
MIN_SPLIT_MACS = 1 << 25

#: Seconds after held BLAS work (a convolution, a split product) during which every other
#: BLAS call of this backend holds BLAS to one thread too. OpenBLAS's threads spin for
#: about 0.1 s after each call that woke them, so one mid-size product or sum between two
#: convolutions would have them take the cores from the next convolution's blocks.
NEAR_HELD_S = 0.25

#: ``MIN_SPLIT_MACS`` near held work (a smaller GEMM runs on the calling thread with BLAS
#: held): about the hand-off's time on one core.
MIN_SPLIT_MACS_NEAR = 1 << 22

#: Multiply-adds below which BLAS runs a GEMM on one thread by itself (OpenBLAS: 2^18;
#: a matrix-vector product: 9216 elements), so holding it would only cost the hold.
GEMM_ONE_THREAD = 1 << 18

_monotonic = time.monotonic
_last_held = -float("inf")


def near_held() -> bool:
    """Whether this backend held BLAS to one thread in the last ``NEAR_HELD_S`` seconds."""
    return _monotonic() - _last_held < NEAR_HELD_S


def held(fn: Callable[..., R], *args: Any) -> R:
    """``fn(*args)`` (one BLAS call) with BLAS held to one thread, on the calling thread."""
    return run_with_blas(lambda _lo, _hi: fn(*args), [(0, 1)])[0]


def matmul(a: Any, b: Any) -> Any:
    """``a @ b`` for 2-D arrays. A product that gives each of two or more cores at least
    ``MIN_SPLIT_MACS`` multiply-adds (``MIN_SPLIT_MACS_NEAR`` near held work, see
    ``NEAR_HELD_S``) is split into one block of rows (or of columns, when the result is
    wider than it is tall) per core, each multiplied on one BLAS thread
    (:func:`run_with_blas`). A smaller one near held work runs with BLAS held on the
    calling thread, and one away from it on BLAS's own threads, whose spin makes
    back-to-back mid-size products fast."""
    m, k = a.shape
    n = b.shape[1]
    macs = m * n * k
    if macs < GEMM_ONE_THREAD:
        return a @ b
    near = near_held()
    if (not near and macs < 2 * MIN_SPLIT_MACS) or a.dtype != b.dtype or a.dtype.kind != "f":
        return a @ b
    parts = min(threads(), max(m, n), macs // (MIN_SPLIT_MACS_NEAR if near else MIN_SPLIT_MACS))
    if parts < 2:
        return held(np.matmul, a, b) if near else a @ b
    out = np.empty((m, n), dtype=a.dtype)
    rows = m >= n

    def block(lo: int, hi: int) -> None:
        if rows:
            np.matmul(a[lo:hi], b, out=out[lo:hi])
        else:
            np.matmul(a, b[:, lo:hi], out=out[:, lo:hi])

    run_with_blas(block, even_ranges(m if rows else n, parts))
    return out


_blas: list[Any] | None = None


def _hold(blas: list[Any]) -> list[int] | None:
    """Hold every BLAS to one thread (``_busy`` held): the counts to restore, or None when
    it cannot be held, BLAS then left as it was. A controller that fails turns holding off
    for the process: its kernels then run their blocks one after another."""
    try:
        saved = [c.get_num_threads() for c in blas]
        for c in blas:
            c.set_num_threads(1)
        if all(c.get_num_threads() == 1 for c in blas):
            return saved
        _restore(blas, saved)  # another thread controls BLAS (inside threadpool_limits)
        return None
    except Exception:
        _give_up()
        return None


def _restore(blas: list[Any], saved: list[int]) -> None:
    """Set each BLAS back to its count, and let the next caller, from any thread, set it."""
    try:
        for c, n in zip(blas, saved, strict=True):
            c.set_num_threads(n)
        for c in blas:
            release = getattr(c, "clear_controlling_thread", None)
            if release is not None:
                release()
    except Exception:
        _give_up()


def _give_up() -> None:
    global _blas
    _blas = []


def _blas_controllers() -> list[Any]:
    """threadpoolctl's controllers of the BLAS libraries loaded (found once), or none."""
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController

            _blas = list(ThreadpoolController().select(user_api="blas").lib_controllers)
        except Exception:  # threadpoolctl missing or unable to inspect this process
            _blas = []
    return _blas


def _run_held(fn: Callable[[int, int], R], ranges: list[tuple[int, int]]) -> list[R]:
    """:func:`run` once the workers are this call's (``_busy`` held)."""
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
