"""The OpenCL backend object: device choice, availability, host/device moves.

pyopencl is imported only when the backend is probed or used, never when the
plugin is loaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from opcore.backend import Backend
from opcore.errors import BackendUnavailableError


class OpenCLBackend(Backend):
    """Runs kernels on an OpenCL device through PyOpenCL.

    The device is chosen by ``OpenCLBackend(device=...)`` or the
    ``OPCORE_OPENCL_DEVICE`` environment variable: an index into the list of
    all devices (``opcore backends`` shows it) or a substring of the device or
    platform name. Default: the first device that can build a kernel (drivers
    installed into the environment by pip, such as Intel's CPU runtime, are found too).
    """

    name = "opencl"
    array_type = "pyopencl.array.Array"

    def __init__(self, device: int | str | None = None) -> None:
        self._device_spec = device
        self._runtime: Any = None
        self._probe: tuple[bool, str] | None = None
        self.native_type = None

    # -- availability -----------------------------------------------------------------

    def _all_devices(self) -> list[Any]:
        _register_pip_drivers()
        import pyopencl as cl

        return [d for p in cl.get_platforms() for d in p.get_devices()]

    def availability(self) -> tuple[bool, str]:
        if self._probe is None:
            self._probe = self._check()
        return self._probe

    def _check(self) -> tuple[bool, str]:
        try:
            import pyopencl as cl
        except ImportError as exc:
            return False, f"pyopencl is not installed ({exc}); pip install 'opcore-opencl[pocl]'"
        try:
            devices = self._all_devices()
        except cl.Error as exc:
            return False, f"no OpenCL platform could be loaded (ICD loader: {exc}); install a driver or pocl"
        if not devices:
            return False, "OpenCL platforms were found but they have no devices"
        try:
            self._pick(devices)
        except BackendUnavailableError as exc:
            return False, str(exc)
        return True, ""

    def _pick(self, devices: list[Any]) -> Any:
        spec = self._device_spec if self._device_spec is not None else os.environ.get("OPCORE_OPENCL_DEVICE")
        if spec is None or spec == "":
            # The first device whose compiler works: an installed driver can exist and still be
            # unable to build for this processor (PoCL's LLVM does not know every new CPU).
            failures = []
            for d in devices:
                error = _build_error(d)
                if error is None:
                    return d
                failures.append(f"{d.name.strip()} ({d.platform.name.strip()}): {error}")
            raise BackendUnavailableError(
                "no OpenCL device can build a kernel here: "
                + "; ".join(failures)
                + ". Install another driver, e.g. pip install 'opcore-opencl[intel]' (Intel's CPU runtime)"
            )
        if isinstance(spec, int) or str(spec).isdigit():
            i = int(spec)
            if not 0 <= i < len(devices):
                raise BackendUnavailableError(
                    f"OpenCL device index {i} is out of range; there are {len(devices)} device(s)"
                )
            return devices[i]
        for d in devices:
            if str(spec).lower() in f"{d.platform.name} {d.name}".lower():
                return d
        names = ", ".join(f"{i}: {d.name}" for i, d in enumerate(devices))
        raise BackendUnavailableError(f"no OpenCL device matches {spec!r}; devices: {names}")

    # -- lifecycle ----------------------------------------------------------------------

    def load(self) -> None:
        if self._runtime is None:
            import pyopencl.array as cla

            from opcore_opencl.runtime import Runtime

            self._runtime = Runtime(self._pick(self._all_devices()))
            self.native_type = cla.Array

    @property
    def runtime(self) -> Any:
        self.load()
        return self._runtime

    def devices(self) -> list[str]:
        return [f"opencl:{i} {d.name.strip()} ({d.platform.name.strip()})" for i, d in enumerate(self._all_devices())]

    def capabilities(self) -> dict[str, bool]:
        d = self._pick(self._all_devices())
        ext = d.extensions.split()
        return {"float64": "cl_khr_fp64" in ext or bool(d.double_fp_config), "float16": "cl_khr_fp16" in ext}

    def max_allocation(self) -> int | None:
        return int(self.runtime.device.max_mem_alloc_size)

    def is_out_of_memory(self, exc: BaseException) -> bool:
        import pyopencl as cl

        if isinstance(exc, cl.Error):
            code = getattr(exc, "code", None)
            return code in (
                cl.status_code.MEM_OBJECT_ALLOCATION_FAILURE,
                cl.status_code.OUT_OF_RESOURCES,
                cl.status_code.OUT_OF_HOST_MEMORY,
                cl.status_code.INVALID_BUFFER_SIZE,
            )
        return isinstance(exc, MemoryError)

    # -- data ---------------------------------------------------------------------------

    def from_numpy(self, array: np.ndarray) -> Any:
        return self.runtime.to_device(array)

    def to_numpy(self, array: Any) -> np.ndarray:
        return self.runtime.get(array)

    def is_native(self, value: Any) -> bool:
        import pyopencl.array as cla

        return isinstance(value, cla.Array)

    def may_overwrite(self, array: Any) -> bool:
        # References to the array: the one tensor holding it, this call's argument and
        # getrefcount's own. Views (reshapes, slices) are other Arrays on the same buffer,
        # so the buffer must have no holder but this array. The queue is in order, so a
        # kernel still reading the old values runs before the update writes.
        if sys.getrefcount(array) > 3 or array.offset:
            return False
        return sys.getrefcount(array.base_data) <= 2

    def shape_of(self, array: Any) -> tuple[int, ...]:
        return tuple(array.shape)

    def dtype_of(self, array: Any) -> np.dtype[Any]:
        return np.dtype(array.dtype)

    def deferred_checks(self) -> contextlib.AbstractContextManager[Callable[[], None]]:
        """Kernels' error flags (invalid indices) are read when the scope ends: see ``opcore_ckernels.checks``."""
        from opcore_ckernels.checks import deferred

        return deferred()


_BUILDS: dict[Any, str | None] = {}


def _build_error(device: Any) -> str | None:
    """None when ``device`` builds and runs a trivial kernel, else the first line of the reason."""
    key = (device.platform.name, device.name, device.int_ptr)
    if key not in _BUILDS:
        import pyopencl as cl

        try:
            ctx = cl.Context([device])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", cl.CompilerWarning)
                cl.Program(ctx, "__kernel void probe(__global float* x) { x[0] = 1.0f; }").build()
            _BUILDS[key] = None
        except cl.Error as exc:
            lines = [line.strip() for line in str(exc).splitlines() if "error" in line.lower()]
            _BUILDS[key] = (lines[0] if lines else str(exc).strip().splitlines()[0])[:200]
    return _BUILDS[key]


def _register_pip_drivers() -> None:
    """Make OpenCL drivers installed by pip into this environment visible to the ICD loader.

    Intel's CPU runtime (``intel-opencl-rt``) installs ``libintelocl.so`` under the
    environment's ``lib/``, but its ``.icd`` file names a path that does not exist.
    Unless the user set ``OCL_ICD_VENDORS`` already, point it at a folder holding an
    ``.icd`` file for that library plus the system's own, so system drivers stay
    visible. Runs before the loader's first platform query; does nothing otherwise.
    """
    if "OCL_ICD_VENDORS" in os.environ:
        return
    lib = os.path.join(sys.prefix, "lib", "libintelocl.so")
    if not os.path.exists(lib):
        return
    tag = hashlib.sha256(sys.prefix.encode()).hexdigest()[:12]
    folder = os.path.join(tempfile.gettempdir(), f"opcore-icd-{os.getuid()}-{tag}")
    os.makedirs(folder, exist_ok=True)
    entries = {"intel-cpu.icd": lib + "\n"}
    system = "/etc/OpenCL/vendors"
    if os.path.isdir(system):
        for name in os.listdir(system):
            if name.endswith(".icd") and name not in entries:
                with open(os.path.join(system, name)) as f:
                    entries[name] = f.read()
    for name, text in entries.items():
        path = os.path.join(folder, name)
        if not os.path.exists(path) or _read(path) != text:
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, path)
    os.environ["OCL_ICD_VENDORS"] = folder


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()
