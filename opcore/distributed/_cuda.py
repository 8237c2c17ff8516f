"""Collectives on CUDA tensors (CuPy arrays), without a trip through host memory where the machine allows.

Three ways, chosen once per world by :func:`device_collectives` and the same on
every rank (the ranks agree on the best way that all of them have):

1. **NCCL through CuPy** (``cupy.cuda.nccl``): the ranks open an NCCL
   communicator (rank 0 makes its unique id, MPI carries it to the others) and
   reduce, gather and broadcast on the current CUDA stream. Each rank must use
   its own GPU (pin it with ``OPCORE_CUDA_DEVICE=<local rank>``).
2. **A CUDA-aware MPI**: mpi4py takes CuPy arrays directly (through
   ``__cuda_array_interface__``); an MPI says it can by listing ``cuda`` in the
   communicator's ``mpi_memory_alloc_kinds`` info (MPI 4.1), or the user says
   so with ``config.cuda = "mpi"``.
3. Otherwise the kernels stage through host memory, like any device backend.

A dtype a way cannot carry (NCCL has no int16) and an allgather of unequal row
counts go through host memory too.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import time
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from opcore.distributed import _world
from opcore.distributed._errors import CollectiveTimeoutError, DistributedError
from opcore.distributed._fusion import plan_chunks

__all__ = ["CudaAwareMPI", "NcclCollectives", "device_collectives", "local_capability"]

# The ways, ranked: the ranks take the smallest that each of them has.
_HOST, _MPI, _NCCL = 0, 1, 2
_NAMES = {_HOST: "host", _MPI: "mpi", _NCCL: "nccl"}


def _cupy() -> ModuleType | None:
    try:
        return importlib.import_module("cupy")
    except Exception:  # not installed, or no usable CUDA driver
        return None


def _nccl(cupy: ModuleType | None) -> ModuleType | None:
    if cupy is None:
        return None
    try:
        nccl = importlib.import_module("cupy.cuda.nccl")
    except Exception:  # CuPy built without NCCL
        return None
    if not getattr(nccl, "available", True):
        return None
    return nccl


def mpi_reads_device_memory(world: _world.World) -> bool:
    """Whether the world's MPI says (MPI 4.1 ``mpi_memory_alloc_kinds``) it can read CUDA memory."""
    comm = getattr(world, "comm", None)
    if comm is None:
        return False
    try:
        info = comm.Get_info()
        kinds = info.Get("mpi_memory_alloc_kinds") or ""
        info.Free()
    except Exception:  # an MPI older than 4.1 has no such key
        return False
    return any(k.strip().startswith("cuda") for k in str(kinds).split(","))


def local_capability(world: _world.World, setting: str) -> int:
    """The best way this rank has to move CUDA tensors (``_NCCL``, ``_MPI`` or ``_HOST``)."""
    if setting == "host":
        return _HOST
    cupy = _cupy()
    if setting == "mpi":
        return _MPI if cupy is not None else _HOST
    if setting == "nccl":
        return _NCCL if _nccl(cupy) is not None else _HOST
    if _nccl(cupy) is not None:
        return _NCCL
    if cupy is not None and mpi_reads_device_memory(world):
        return _MPI
    return _HOST


def device_collectives(world: _world.World, backend: Any) -> Any:
    """The collectives for ``backend``'s CUDA arrays on ``world``, or None to stage through the host.

    Chosen on the first call (a collective step: every rank makes it at the same
    collective call) and kept with the world.
    """
    devices = getattr(world, "devices", None)
    if devices is None or world.size == 1:
        return None
    if backend.name in devices:
        return devices[backend.name]
    setting = _world.config.cuda
    mine = local_capability(world, setting)
    agreed = int(world.exchange([mine], "choosing how CUDA tensors travel")[:, 0].min())
    if setting in ("nccl", "mpi") and agreed != {"nccl": _NCCL, "mpi": _MPI}[setting]:
        raise DistributedError(
            f"config.cuda = {setting!r}, but not every rank can: the best way all ranks have is "
            f"{_NAMES[agreed]!r} (NCCL needs CuPy built with NCCL; 'mpi' needs CuPy and an MPI that reads "
            "CUDA memory)"
        )
    cupy = _cupy()
    device = _device_of(backend)
    chosen: Any = None
    if agreed == _NCCL and cupy is not None:
        with device:
            chosen = NcclCollectives(world, cupy, _nccl(cupy), device)
    elif agreed == _MPI and cupy is not None:
        chosen = CudaAwareMPI(world, cupy, device)
    devices[backend.name] = chosen
    return chosen


def _device_of(backend: Any) -> Any:
    """The backend's CUDA device as a context manager (its arrays and kernels live there)."""
    runtime = getattr(backend, "runtime", None)
    device = getattr(runtime, "device", None)
    return device if device is not None else contextlib.nullcontext()


class CudaAwareMPI:
    """The world's MPI collectives, given CuPy arrays (the MPI reads device memory)."""

    name = "mpi"

    def __init__(self, world: _world.World, cupy: ModuleType, device: Any) -> None:
        self.world = world
        self.cupy = cupy
        self.device = device

    def _ready(self, arrays: Sequence[Any]) -> list[Any]:
        # MPI reads the memory as soon as it is called: finish the kernels writing it first.
        out = [a if a.flags.c_contiguous else self.cupy.array(a, order="C") for a in arrays]
        self.cupy.cuda.get_current_stream().synchronize()
        return out

    def allreduce(self, arrays: Sequence[Any], reduction: str, what: str) -> list[Any] | None:
        with self.device:
            return self.world.allreduce(self._ready(arrays), reduction, what, xp=self.cupy)

    def allgather(self, array: Any, counts: Sequence[int] | None, what: str) -> Any:
        with self.device:
            return self.world.allgather(self._ready([array])[0], counts, what, xp=self.cupy)

    def broadcast(self, arrays: Sequence[Any], root: int, what: str) -> list[Any] | None:
        with self.device:
            return self.world.broadcast(self._ready(arrays), root, what, xp=self.cupy)


class NcclCollectives:
    """NCCL collectives on the current CUDA stream, through ``cupy.cuda.nccl``."""

    name = "nccl"

    def __init__(self, world: _world.World, cupy: ModuleType, nccl: Any, device: Any) -> None:
        self.world = world
        self.cupy = cupy
        self.nccl = nccl
        self.device = device  # the communicator belongs to the device current when it is made
        uid = np.zeros(128, dtype=np.int64)
        if world.rank == 0:
            uid[:] = np.asarray(nccl.get_unique_id(), dtype=np.int64)
        uid = world.broadcast([uid], 0, "sharing the NCCL unique id")[0]
        self.comm = nccl.NcclCommunicator(world.size, tuple(int(v) for v in uid), world.rank)
        self._types = {
            np.dtype(np.int8): nccl.NCCL_INT8,
            np.dtype(np.uint8): nccl.NCCL_UINT8,
            np.dtype(np.int32): nccl.NCCL_INT32,
            np.dtype(np.int64): nccl.NCCL_INT64,
            np.dtype(np.float16): nccl.NCCL_FLOAT16,
            np.dtype(np.float32): nccl.NCCL_FLOAT32,
            np.dtype(np.float64): nccl.NCCL_FLOAT64,
        }
        self._ops = {
            "sum": nccl.NCCL_SUM,
            "average": nccl.NCCL_SUM,
            "min": nccl.NCCL_MIN,
            "max": nccl.NCCL_MAX,
            "product": nccl.NCCL_PROD,
        }

    def close(self) -> None:
        comm, self.comm = self.comm, None
        if comm is not None:
            comm.destroy()

    def _group(self) -> tuple[Any, Any]:
        start = getattr(self.nccl, "groupStart", None)
        end = getattr(self.nccl, "groupEnd", None)
        return start, end

    def _wait(self, stream: Any, what: str) -> None:
        timeout = _world.config.timeout
        deadline = time.monotonic() + timeout
        while not stream.done:
            if time.monotonic() > deadline:
                comm, self.comm = self.comm, None
                if comm is not None:
                    comm.abort()
                raise CollectiveTimeoutError(
                    f"rank {self.world.rank} of {self.world.size}: {what} (NCCL) did not complete within "
                    f"{timeout:g} s; another rank has probably failed or exited, or the ranks do not run the "
                    "same collectives in the same order"
                )

    def allreduce(self, arrays: Sequence[Any], reduction: str, what: str) -> list[Any] | None:
        with self.device:
            return self._allreduce(arrays, reduction, what)

    def _allreduce(self, arrays: Sequence[Any], reduction: str, what: str) -> list[Any] | None:
        cupy = self.cupy
        dtype = np.dtype(arrays[0].dtype)
        code = self._types.get(dtype)
        if code is None or self.comm is None:
            return None
        shapes = [tuple(a.shape) for a in arrays]
        self.world.agree(what, "allreduce", reduction, dtype, shapes)
        sizes = [math.prod(s) for s in shapes]
        results: list[Any] = [cupy.empty(s, dtype=dtype) if n == 0 else None for s, n in zip(shapes, sizes)]
        stream = cupy.cuda.get_current_stream()
        pending: list[tuple[Any, list[int]]] = []
        sources: list[Any] = []  # kept alive until the stream has read them
        start, end = self._group()
        if start is not None:
            start()
        try:
            for chunk in plan_chunks([n * dtype.itemsize for n in sizes], _world.config.fusion_threshold):
                if len(chunk) == 1:
                    src = cupy.ascontiguousarray(arrays[chunk[0]]).reshape(-1)
                    buf = cupy.empty(sizes[chunk[0]], dtype=dtype)
                else:
                    src = buf = cupy.concatenate([arrays[i].reshape(-1) for i in chunk])
                sources.append(src)
                pending.append((buf, chunk))
                assert self.comm is not None
                self.comm.allReduce(src.data.ptr, buf.data.ptr, buf.size, code, self._ops[reduction], stream.ptr)
        finally:
            if end is not None:
                end()
        self._wait(stream, what)
        for buf, chunk in pending:
            if reduction == "average":
                cupy.divide(buf, self.world.size, out=buf)
            offset = 0
            for i in chunk:
                results[i] = buf[offset : offset + sizes[i]].reshape(shapes[i])
                offset += sizes[i]
        return results

    def allgather(self, array: Any, counts: Sequence[int] | None, what: str) -> Any:
        with self.device:
            return self._allgather(array, counts, what)

    def _allgather(self, array: Any, counts: Sequence[int] | None, what: str) -> Any:
        cupy = self.cupy
        if self.comm is None:
            return None
        dtype = np.dtype(array.dtype)
        rows, trailing = int(array.shape[0]), tuple(int(d) for d in array.shape[1:])
        if counts is None:
            meta = self.world.exchange([rows, _world._signature("allgather", None, dtype, [trailing])], what)
            if len(set(meta[:, 1].tolist())) > 1:
                return None  # the host path reports every rank's shapes
            counts = [int(c) for c in meta[:, 0]]
        if len(set(counts)) > 1:
            return None  # NCCL gathers equal parts; unequal ones go through the host
        row_bytes = math.prod(trailing) * dtype.itemsize
        send = cupy.ascontiguousarray(array).reshape(-1).view(cupy.uint8)
        recv = cupy.empty(rows * row_bytes * self.world.size, dtype=cupy.uint8)
        stream = cupy.cuda.get_current_stream()
        if send.size:
            self.comm.allGather(send.data.ptr, recv.data.ptr, send.size, self.nccl.NCCL_UINT8, stream.ptr)
            self._wait(stream, what)
        return recv.view(dtype).reshape((rows * self.world.size, *trailing))

    def broadcast(self, arrays: Sequence[Any], root: int, what: str) -> list[Any] | None:
        with self.device:
            return self._broadcast(arrays, root, what)

    def _broadcast(self, arrays: Sequence[Any], root: int, what: str) -> list[Any] | None:
        cupy = self.cupy
        if self.comm is None:
            return None
        self.world.check_root(root, what)
        dtype = np.dtype(arrays[0].dtype)
        shapes = [tuple(a.shape) for a in arrays]
        self.world.agree(what, "broadcast", int(root), dtype, shapes)
        nbytes = [math.prod(s) * dtype.itemsize for s in shapes]
        results: list[Any] = [cupy.empty(s, dtype=dtype) if n == 0 else None for s, n in zip(shapes, nbytes)]
        stream = cupy.cuda.get_current_stream()
        pending: list[tuple[Any, list[int]]] = []
        start, end = self._group()
        if start is not None:
            start()
        try:
            for chunk in plan_chunks(nbytes, _world.config.fusion_threshold):
                if self.world.rank == root:
                    parts = [cupy.ascontiguousarray(arrays[i]).reshape(-1).view(cupy.uint8) for i in chunk]
                    buf = cupy.concatenate(parts)
                else:
                    buf = cupy.empty(sum(nbytes[i] for i in chunk), dtype=cupy.uint8)
                pending.append((buf, chunk))
                self.comm.broadcast(buf.data.ptr, buf.data.ptr, buf.size, self.nccl.NCCL_UINT8, int(root), stream.ptr)
        finally:
            if end is not None:
                end()
        self._wait(stream, what)
        for buf, chunk in pending:
            offset = 0
            for i in chunk:
                results[i] = buf[offset : offset + nbytes[i]].view(dtype).reshape(shapes[i])
                offset += nbytes[i]
        return results
