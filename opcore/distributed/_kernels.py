"""The kernels of the collective ops, for every built-in backend.

A collective moves data between processes; it computes nothing a backend
would do differently, so one kernel per op serves every backend:

- host arrays (the NumPy backend) go to the world's collectives as they are;
- CUDA arrays go to NCCL or a CUDA-aware MPI when every rank has one
  (:mod:`._cuda`), else through host memory;
- any other device (OpenCL) stages through host memory with the backend's own
  ``download``/``upload``, which count the transfers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from opcore.distributed._cuda import device_collectives
from opcore.distributed._errors import DistributedError
from opcore.distributed._world import World, current_world
from opcore.registry import KernelContext, get_registry

__all__ = ["BACKENDS", "register_kernels"]

#: The backends whose collective kernels opcore registers.
BACKENDS = ("numpy", "opencl", "cuda")


def _device(world: World, backend: Any) -> Any:
    return device_collectives(world, backend) if backend.name == "cuda" else None


def _staged(backend: Any, arrays: Sequence[Any], run: Callable[[list[np.ndarray]], list[np.ndarray]]) -> list[Any]:
    host = [backend.download(a) for a in arrays]
    return [backend.upload(r if r.flags.c_contiguous else np.array(r, order="C")) for r in run(host)]


def _describe(kind: str, ctx: KernelContext, n: int) -> str:
    shapes = ", ".join(str(s) for s in ctx.out_shapes[:4]) + (", ..." if len(ctx.out_shapes) > 4 else "")
    return f"{kind} of {n} {ctx.out_dtypes[0].name} tensor(s) [{shapes}]"


def _collective(ctx: KernelContext, tensors: list[Any], kind: str, run: Callable[..., Any]) -> list[Any]:
    """Run ``run(world_or_device, arrays, what)`` where the arrays live: on the host directly, on a
    device through its own collectives when every rank has them, else staged through host memory."""
    world = current_world()
    backend = ctx.backend
    what = _describe(kind, ctx, len(tensors))
    if backend.on_host:
        return list(run(world, tensors, what))
    dev = _device(world, backend)
    if dev is not None:
        out = run(dev, tensors, what)
        if out is not None:
            return list(out)
    return _staged(backend, tensors, lambda host: list(run(world, host, what)))


def grouped_allreduce_kernel(ctx: KernelContext, tensors: list[Any]) -> list[Any]:
    reduction = ctx.attrs["reduction"]
    return _collective(ctx, tensors, "allreduce", lambda w, arrays, what: w.allreduce(arrays, reduction, what))


def allreduce_kernel(ctx: KernelContext, x: Any) -> Any:
    if ctx.backend.on_host:  # the common case, without the lists
        return current_world().allreduce_one(x, ctx.attrs["reduction"], ctx)
    return grouped_allreduce_kernel(ctx, [x])[0]


def grouped_broadcast_kernel(ctx: KernelContext, tensors: list[Any]) -> list[Any]:
    root = ctx.attrs["root_rank"]
    return _collective(ctx, tensors, "broadcast", lambda w, arrays, what: w.broadcast(arrays, root, what))


def broadcast_kernel(ctx: KernelContext, x: Any) -> Any:
    return grouped_broadcast_kernel(ctx, [x])[0]


def allgather_kernel(ctx: KernelContext, tensor: Any) -> Any:
    world = current_world()
    size, counts = ctx.attrs["size"], ctx.attrs["counts"]
    if size != world.size:
        raise DistributedError(
            f"{ctx.op}: this allgather was built for a world of {size} process(es) but runs in a world of "
            f"{world.size}; build it after opcore.distributed.init(), in the world that runs it"
        )
    backend = ctx.backend
    what = _describe("allgather", ctx, 1)
    out: Any = None
    if backend.on_host:
        out = world.allgather(tensor, counts, what)
    else:
        dev = _device(world, backend)
        if dev is not None:
            out = dev.allgather(tensor, counts, what)
        if out is None:
            out = _staged(backend, [tensor], lambda host: [world.allgather(host[0], counts, what)])[0]
    expected = ctx.out_shapes[0]
    got = tuple(backend.shape_of(out))
    if got != expected:
        raise DistributedError(
            f"{ctx.op}: the ranks gave tensors of different first dimensions (together {got[0]} rows, not the "
            f"{expected[0]} = {size} x {expected[0] // max(size, 1)} this graph was built for); an allgather in a "
            "graph needs the same first dimension on every rank (eagerly, opcore.distributed.allgather takes "
            "different ones)"
        )
    return out


_KERNELS = {
    "distributed.Allreduce": allreduce_kernel,
    "distributed.GroupedAllreduce": grouped_allreduce_kernel,
    "distributed.Allgather": allgather_kernel,
    "distributed.Broadcast": broadcast_kernel,
    "distributed.GroupedBroadcast": grouped_broadcast_kernel,
}


def register_kernels() -> None:
    """Register the collective kernels for every built-in backend (once; the ops must be defined)."""
    registry = get_registry()
    for op, fn in _KERNELS.items():
        for backend in BACKENDS:
            if not any(k.fn is fn for k in registry.kernels_for(op, backend)):
                registry.register_kernel(op, backend, fn)
