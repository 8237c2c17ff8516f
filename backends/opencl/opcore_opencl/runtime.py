"""The OpenCL runtime of the backend: context, queue, memory pool, program cache, counters.

Kernel sources are generated once per kernel signature and built once per
distinct source (PoCL additionally caches the binaries on disk); a warm call
looks its kernel up by signature only. Buffers come from a memory pool, so an
op does not allocate from the driver each time.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import warnings
from collections import Counter, deque
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
import pyopencl as cl
import pyopencl.array as cla
from pyopencl.tools import ImmediateAllocator, MemoryPool

from opcore_ckernels.dialect import render
from opcore_ckernels.runtime import KernelCache

#: Bounds on the uploads whose events the runtime holds (see :meth:`Runtime.to_device`).
_PENDING_UPLOADS = 8
_PENDING_BYTES = 64 << 20


class Runtime:
    """One device's context and queue, with a program cache, a buffer pool and counters.

    Implements :class:`opcore_ckernels.runtime.KernelRuntime` for the shared kernel library.
    """

    target = "opencl"

    def __init__(self, device: Any) -> None:
        self.device = device
        self.cpu = bool(device.type & cl.device_type.CPU)
        self.context = cl.Context([device])
        self.queue = cl.CommandQueue(self.context)
        self.pool = MemoryPool(ImmediateAllocator(self.queue))
        self._buffers: dict[Any, cla.Array] = {}
        #: Uploads not yet seen complete, with their snapshots' sizes (see :meth:`to_device`).
        self._uploads: deque[tuple[cl.Event, int]] = deque()
        self._pending_bytes = 0
        self._uploads_lock = threading.Lock()
        self._launch_lock = threading.Lock()
        self._max_work_group_size = int(device.max_work_group_size)
        #: ``sources`` (kernel sources built), ``builds`` (programs compiled), ``launches``,
        #: ``host_to_device``, ``device_to_host``.
        self.counters: Counter[str] = Counter()
        self._cache = KernelCache(self._build, self.counters)
        #: Every kernel source built so far (the CUDA backend's NVRTC check reads them).
        self.sources = self._cache.sources
        self.build_seconds = 0.0

    # -- programs ----------------------------------------------------------------------

    def kernel(self, key: Hashable, build: Callable[[], str], name: str) -> cl.Kernel:
        """The kernel ``name`` of the source ``build()`` returns, built once per signature ``key``."""
        return self._cache.get(key, build, name)

    def _build(self, source: str) -> dict[str, cl.Kernel]:
        t = time.perf_counter()
        with warnings.catch_warnings():
            # Some drivers (Intel's) always print a build log; a failed build still raises.
            warnings.simplefilter("ignore", cl.CompilerWarning)
            program = cl.Program(self.context, render(source, "opencl")).build()
        self.build_seconds += time.perf_counter() - t
        return {k.function_name: k for k in program.all_kernels()}

    def launch(self, kernel: cl.Kernel, global_size: Sequence[int], args: Sequence[Any],
               local_size: Sequence[int] | None = None) -> None:  # fmt: skip
        """Enqueue ``kernel``; a launch over zero work-items is skipped.

        The first launch of a kernel tells pyopencl which arguments are scalars (the NumPy scalars
        passed: a kernel's parameters do not change between launches): pyopencl's untyped path
        finds that out for every argument of every launch, which cost 5-10 us per scalar, more
        than the enqueue itself. Scalars are still passed as their own bytes, as before: one
        kernel may serve dtypes of one C type (bool and uint8 are both ``uchar``).
        """
        if 0 in global_size:
            return
        # A kernel object holds its arguments between being set and enqueued (in two steps for a
        # kernel with scalars): sessions in other threads launch the same kernels.
        with self._launch_lock:
            if getattr(kernel, "_opcore_typed", False) is False:
                _declare_scalars(kernel, args)
            kernel(self.queue, tuple(global_size), None if local_size is None else tuple(local_size), *args)
            self.counters["launches"] += 1

    # -- memory ------------------------------------------------------------------------

    def empty(self, shape: Sequence[int], dtype: Any) -> cla.Array:
        return self._alloc(shape, dtype)

    def _alloc(self, shape: Sequence[int], dtype: Any) -> cla.Array:
        # pyopencl's fast constructor: the checked one validates the shape with NumPy reductions,
        # which cost more than the allocation (about 20 us, dozens of times per training step).
        dt = np.dtype(dtype)
        shape = tuple(int(d) for d in shape)
        size, strides = _layout(shape, dt.itemsize)
        return cla.Array(None, shape, dt, allocator=self.pool, strides=strides, _fast=True, _size=size,
                         _context=self.context, _queue=self.queue)  # fmt: skip

    def to_device(self, host: np.ndarray) -> cla.Array:
        """A device copy of ``host``, uploaded without waiting for the kernels queued before it.

        The upload copies from a private snapshot of ``host`` (the caller may change its array at
        once), which the copy's event keeps alive until the copy has run. A blocking upload would
        wait for the whole queue first: the next training step could not be dispatched while the
        device still runs the previous one. The runtime holds the event too, until the copy is
        seen done (a later upload checks): pyopencl's event waits for its copy when it is freed,
        and freeing the array (a fed batch at the end of its step) would otherwise wait there.
        At most ``_PENDING_UPLOADS`` copies (``_PENDING_BYTES`` of snapshots) are held; beyond
        that an upload waits for the oldest, so the host runs only a few steps ahead.
        """
        self.counters["host_to_device"] += 1
        snapshot = np.array(host, order="C", copy=True)
        out = self._alloc(snapshot.shape, snapshot.dtype)
        if out.size:
            event = cl.enqueue_copy(self.queue, out.base_data, snapshot, is_blocking=False)
            out.add_event(event)
            self._hold_upload(event, snapshot.nbytes)
        return out

    def _hold_upload(self, event: cl.Event, nbytes: int) -> None:
        complete = cl.command_execution_status.COMPLETE
        with self._uploads_lock:  # (sessions may run in several threads)
            pending = self._uploads
            pending.append((event, nbytes))
            self._pending_bytes += nbytes
            while pending:
                oldest, size = pending[0]
                done = oldest.command_execution_status <= complete  # (negative: the copy failed)
                if not done and len(pending) <= _PENDING_UPLOADS and self._pending_bytes <= _PENDING_BYTES:
                    break  # (the in-order queue completes the copies in order)
                pending.popleft()
                self._pending_bytes -= size
                if not done:
                    with contextlib.suppress(cl.Error):  # a failed copy shows when its array is read
                        oldest.wait()

    def get(self, array: cla.Array) -> np.ndarray:
        self.counters["device_to_host"] += 1
        return np.asarray(array.get())

    def cached(self, key: Any, build: Callable[[], np.ndarray]) -> cla.Array:
        """A device copy of ``build()``, made once per ``key`` (index maps, strides, constants)."""
        buf = self._buffers.get(key)
        if buf is None:
            host = _contiguous(np.asarray(build()))
            buf = (
                cla.to_device(self.queue, host, allocator=self.pool)
                if host.size
                else self.empty(host.shape, host.dtype)
            )
            if len(self._buffers) > 4096:
                self._buffers.clear()
            self._buffers[key] = buf
        return buf

    def copy(self, array: cla.Array, shape: Sequence[int]) -> cla.Array:
        out = self.empty(tuple(shape), array.dtype)
        if out.size:
            cl.enqueue_copy(self.queue, out.data, array.data, byte_count=int(out.nbytes))
        return out

    @property
    def max_work_group_size(self) -> int:
        return self._max_work_group_size

    @staticmethod
    def data(array: cla.Array) -> Any:
        """The buffer to pass to a kernel (a 1-byte dummy for zero-size arrays is never needed: launches skip)."""
        return array.base_data if array.offset == 0 else array.data


def _declare_scalars(kernel: cl.Kernel, args: Sequence[Any]) -> None:
    """Mark the NumPy scalars among ``args`` as ``kernel``'s by-value arguments (buffers and others stay untyped).

    A void dtype of the scalar's size: pyopencl then passes each launch's scalar as its bytes
    (what the untyped path does), without converting it to the first launch's dtype.
    """
    kernel.set_scalar_arg_dtypes([np.dtype((np.void, a.itemsize)) if isinstance(a, np.generic) else None for a in args])
    kernel._opcore_typed = True  # type: ignore[attr-defined]  # (pyopencl kernels take attributes)


@functools.lru_cache(maxsize=4096)
def _layout(shape: tuple[int, ...], itemsize: int) -> tuple[int, tuple[int, ...]]:
    """(size, C-order byte strides) of an array of ``shape``; raises for a negative dimension."""
    if any(d < 0 for d in shape):
        raise ValueError(f"negative dimensions are not allowed: {shape}")
    strides, acc = [0] * len(shape), itemsize
    for k in range(len(shape) - 1, -1, -1):
        strides[k] = acc
        acc *= max(1, shape[k])
    return int(np.prod(shape, dtype=np.int64)), tuple(strides)


def _contiguous(a: np.ndarray) -> np.ndarray:
    # np.ascontiguousarray would turn a 0-d array into a 1-d one.
    return a if a.flags.c_contiguous else a.copy(order="C")
