"""Entry point of the OpenCL backend (``[project.entry-points.opcore] opencl``).

Loading only registers the backend object and its kernel tables; pyopencl is
imported when the backend is first used.
"""

from __future__ import annotations

from opcore.hookspecs import hookimpl
from opcore.registry import Registry
from opcore_opencl.backend import OpenCLBackend

BACKEND = OpenCLBackend()


@hookimpl
def opcore_register_backends(registry: Registry) -> None:
    registry.register_backend(BACKEND)


@hookimpl
def opcore_register_kernels(registry: Registry) -> None:
    from opcore_ckernels.kernels import TABLES

    for table in TABLES:
        for op, fn, dtypes in table:
            registry.register_kernel(op, BACKEND.name, fn, dtypes)
