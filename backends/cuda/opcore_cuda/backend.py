"""The CUDA backend object: availability (never raising), devices ``cuda:N``, data movement."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from opcore.backend import Backend
from opcore.errors import BackendMismatchError, BackendUnavailableError

#: DLPack device types: host memory, CUDA device memory, and the CUDA memory a GPU can read directly.
_DLPACK_CPU = 1
_DLPACK_CUDA_DEVICE = 2
_DLPACK_CUDA = (2, 3, 13)  # kDLCUDA, kDLCUDAHost, kDLCUDAManaged


class CudaBackend(Backend):
    """Runs the shared kernel library on an NVIDIA GPU through CuPy (NVRTC, cuBLAS).

    The device is ``CudaBackend(device=N)`` or ``OPCORE_CUDA_DEVICE=N``, default 0.
    Native arrays are ``cupy.ndarray``; DLPack import shares contiguous arrays of this device.
    """

    name = "cuda"
    array_type = "cupy.ndarray"

    def __init__(self, device: int | None = None) -> None:
        self._device_spec = device
        self._runtime: Any = None
        self.native_type = None

    def _device_index(self) -> int:
        spec = self._device_spec if self._device_spec is not None else os.environ.get("OPCORE_CUDA_DEVICE", "0")
        try:
            return int(str(spec).removeprefix("cuda:"))
        except ValueError:
            raise BackendUnavailableError(
                f"OPCORE_CUDA_DEVICE must be a device number like 0 or cuda:0, got {spec!r}"
            ) from None

    def availability(self) -> tuple[bool, str]:
        try:
            import cupy
        except ImportError as exc:
            return False, f"CuPy is not installed ({exc}); pip install 'opcore-cuda[cuda13]' (or [cuda12])"
        if not cupy.cuda.is_available():
            return (
                False,
                "CuPy found no usable CUDA device (cupy.cuda.is_available() is False): no NVIDIA GPU or driver here",
            )
        try:
            index = self._device_index()
        except BackendUnavailableError as exc:
            return False, str(exc)
        count = cupy.cuda.runtime.getDeviceCount()
        if not 0 <= index < count:
            return False, f"CUDA device {index} does not exist; this machine has {count} device(s)"
        from opcore_cuda.toolkit import missing_components

        missing = missing_components()
        if missing:
            return False, "a GPU is present but the CUDA toolkit is incomplete: " + "; ".join(missing)
        return True, ""

    def load(self) -> None:
        if self._runtime is None:
            import cupy

            from opcore_cuda.runtime import CudaRuntime

            self._runtime = CudaRuntime(self._device_index())
            self.native_type = cupy.ndarray

    @property
    def runtime(self) -> Any:
        self.load()
        return self._runtime

    def devices(self) -> list[str]:
        import cupy

        out = []
        for i in range(cupy.cuda.runtime.getDeviceCount()):
            props = cupy.cuda.runtime.getDeviceProperties(i)
            name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
            out.append(f"cuda:{i} {name} (sm_{props['major']}{props['minor']})")
        return out

    def capabilities(self) -> dict[str, bool]:
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(self._device_index())
        return {"float64": True, "float16": (props["major"], props["minor"]) >= (5, 3)}

    def max_allocation(self) -> int | None:
        import cupy

        with cupy.cuda.Device(self._device_index()):
            return int(cupy.cuda.runtime.memGetInfo()[1])

    def is_out_of_memory(self, exc: BaseException) -> bool:
        import cupy

        # CuPy's OutOfMemoryError is a MemoryError; cuBLAS and driver allocation failures are not.
        if isinstance(exc, (MemoryError, cupy.cuda.memory.OutOfMemoryError)):
            return True
        return "CUDA_ERROR_OUT_OF_MEMORY" in str(exc) or "cudaErrorMemoryAllocation" in str(exc)

    def from_numpy(self, array: np.ndarray) -> Any:
        return self.runtime.to_device(array)

    def to_numpy(self, array: Any) -> np.ndarray:
        return self.runtime.get(array)

    def is_native(self, value: Any) -> bool:
        import cupy

        return isinstance(value, cupy.ndarray)

    def may_overwrite(self, array: Any) -> bool:
        # As NumPy: the one tensor holding it, this call's argument and getrefcount's own;
        # a view holds its base, so an array with a view (or that is a view) is never written.
        return sys.getrefcount(array) <= 3 and array.base is None and array.flags.c_contiguous

    def deferred_checks(self) -> contextlib.AbstractContextManager[Callable[[], None]]:
        """Kernels' error flags (invalid indices) are read when the scope ends: see ``opcore_ckernels.checks``."""
        from opcore_ckernels.checks import deferred

        return deferred()

    def from_dlpack(self, value: Any) -> Any:
        """Share a CUDA producer on this device (made contiguous if it is a strided view); copy a host one.

        A producer on another GPU, or on a device that is neither the host nor
        CUDA, raises :class:`~opcore.BackendMismatchError`.
        """
        probe = getattr(value, "__dlpack_device__", None)
        kind, index = (int(v) for v in probe()) if probe is not None else (_DLPACK_CPU, 0)
        if kind == _DLPACK_CPU:
            return self.runtime.to_device(np.from_dlpack(value))
        here = self._device_index()
        if kind not in _DLPACK_CUDA:
            raise BackendMismatchError(
                f"from_dlpack: the array lives on DLPack device type {kind} (id {index}), which is neither the "
                f"host nor CUDA; backend 'cuda' (device cuda:{here}) cannot read it"
            )
        if kind == _DLPACK_CUDA_DEVICE and index != here:
            raise BackendMismatchError(
                f"from_dlpack: the array is on cuda:{index} but backend 'cuda' uses cuda:{here}; copy it there "
                f"first (cupy.asarray under cupy.cuda.Device({here})) or choose the device with OPCORE_CUDA_DEVICE"
            )
        import cupy

        with cupy.cuda.Device(here):
            array = cupy.from_dlpack(value)
            # The kernels index arrays as dense C-order buffers: a transposed, reversed or strided view is copied.
            return array if array.flags.c_contiguous else cupy.ascontiguousarray(array)
