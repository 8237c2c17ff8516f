"""The CUDA backend object: availability (never raising), devices ``cuda:N``, data movement."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from opcore.backend import Backend
from opcore.errors import BackendUnavailableError


class CudaBackend(Backend):
    """Runs the shared kernel library on an NVIDIA GPU through CuPy (NVRTC, cuBLAS).

    The device is ``CudaBackend(device=N)`` or ``OPCORE_CUDA_DEVICE=N``, default 0.
    Native arrays are ``cupy.ndarray``; DLPack exchange is zero-copy.
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
            return False, f"CuPy is not installed ({exc}); pip install cupy-cuda12x"
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

    def from_numpy(self, array: np.ndarray) -> Any:
        return self.runtime.to_device(array)

    def to_numpy(self, array: Any) -> np.ndarray:
        return self.runtime.get(array)

    def is_native(self, value: Any) -> bool:
        import cupy

        return isinstance(value, cupy.ndarray)

    def from_dlpack(self, value: Any) -> Any:
        import cupy

        with cupy.cuda.Device(self._device_index()):
            return cupy.from_dlpack(value)
