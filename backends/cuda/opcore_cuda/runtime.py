"""The CUDA runtime: the shared kernel library's interface on CuPy.

Kernels are the dialect sources of opcore-ckernels rendered as CUDA C,
compiled by NVRTC with :data:`opcore_cuda.toolkit.NVRTC_OPTIONS` for the
device's architecture (the same options the compile-only check uses, without
CuPy's ``-ftz=true``) and loaded as binaries by CuPy; sources are built once
per kernel signature. Matrix products go to cuBLAS through ``cupy.matmul``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import cupy
import numpy as np

from opcore_ckernels.runtime import KernelCache
from opcore_cuda import toolkit

#: Threads per block for kernels launched without an explicit work-group size.
BLOCK = 256


def _as_arg(value: Any) -> Any:
    # The kernel library passes ``array.data`` as in OpenCL; CuPy kernels take arrays.
    if isinstance(value, cupy.cuda.MemoryPointer):
        return cupy.ndarray((value.mem.size,), dtype=np.uint8, memptr=value)
    return value


class _Functions(dict[str, Any]):
    """A loaded module's kernels by name, fetched from the module on first use."""

    def __init__(self, module: Any) -> None:
        super().__init__()
        self._module = module

    def __missing__(self, name: str) -> Any:
        fn = self[name] = self._module.get_function(name)
        return fn


class CudaRuntime:
    """Implements :class:`opcore_ckernels.runtime.KernelRuntime` on one CUDA device."""

    target = "cuda"
    cpu = False

    def __init__(self, device: int) -> None:
        self.device = cupy.cuda.Device(device)
        self.arch = toolkit.device_arch(int(self.device.compute_capability))
        self._buffers: dict[Any, Any] = {}
        #: ``sources``, ``builds``, ``launches``, ``host_to_device``, ``device_to_host``.
        self.counters: Counter[str] = Counter()
        self._cache = KernelCache(self._build, self.counters)
        self.sources = self._cache.sources
        self._modules: list[Any] = []  # loaded modules stay alive as long as their kernels

    def kernel(self, key: Hashable, build: Callable[[], str], name: str) -> Any:
        """The kernel ``name`` of the source ``build()`` returns, built once per signature ``key``."""
        return self._cache.get(key, build, name)

    def _build(self, source: str) -> dict[str, Any]:
        compiled = toolkit.compile_cuda(source, self.arch)
        with self.device:
            module = cupy.cuda.function.Module()
            module.load(compiled.image)
        self._modules.append(module)
        return _Functions(module)

    def launch(self, kernel: Any, global_size: Sequence[int], args: Sequence[Any],
               local_size: Sequence[int] | None = None) -> None:  # fmt: skip
        size = tuple(int(g) for g in global_size) + (1,) * (3 - len(global_size))
        if 0 in size:
            return
        if local_size is None:
            block = (min(BLOCK, size[0]), 1, 1)
        else:
            block = tuple(int(x) for x in local_size) + (1,) * (3 - len(local_size))
        grid = tuple(-(-g // b) for g, b in zip(size, block))
        with self.device:
            kernel(grid, block, tuple(_as_arg(a) for a in args))
        self.counters["launches"] += 1

    def empty(self, shape: Sequence[int], dtype: Any) -> Any:
        with self.device:
            return cupy.empty(tuple(shape), dtype=np.dtype(dtype))

    def to_device(self, host: np.ndarray) -> Any:
        self.counters["host_to_device"] += 1
        with self.device:
            return cupy.array(host, order="C")

    def get(self, array: Any) -> np.ndarray:
        self.counters["device_to_host"] += 1
        return cupy.asnumpy(array)

    def cached(self, key: Any, build: Callable[[], np.ndarray]) -> Any:
        buf = self._buffers.get(key)
        if buf is None:
            if len(self._buffers) > 4096:
                self._buffers.clear()
            with self.device:
                buf = self._buffers[key] = cupy.array(np.asarray(build()), order="C")
        return buf

    def copy(self, array: Any, shape: Sequence[int]) -> Any:
        with self.device:
            return cupy.array(array.reshape(tuple(shape)), order="C", copy=True)

    @property
    def max_work_group_size(self) -> int:
        return 1024

    def matmul(self, a: Any, b: Any, transpose_a: bool, transpose_b: bool, out_shape: tuple[int, ...],
               dtype: np.dtype[Any]) -> Any:  # fmt: skip
        """cuBLAS, through CuPy (the kernel library's GEMM defers to this)."""
        with self.device:
            x = cupy.swapaxes(a, -1, -2) if transpose_a else a
            y = cupy.swapaxes(b, -1, -2) if transpose_b else b
            out = cupy.matmul(x, y)
            return cupy.ascontiguousarray(cupy.broadcast_to(out, out_shape)).astype(dtype, copy=False)
