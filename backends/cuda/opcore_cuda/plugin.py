"""Entry point of the CUDA backend (``[project.entry-points.opcore] cuda``).

Loading only registers: the backend object and the shared kernel tables.
CuPy is imported when the backend is first probed or used.
"""

from __future__ import annotations

from opcore.hookspecs import hookimpl
from opcore.registry import Registry
from opcore_cuda.backend import CudaBackend

BACKEND = CudaBackend()


@hookimpl
def opcore_register_backends(registry: Registry) -> None:
    registry.register_backend(BACKEND)


@hookimpl
def opcore_register_kernels(registry: Registry) -> None:
    from opcore_ckernels.kernels import TABLES

    for table in TABLES:
        for op, fn, dtypes in table:
            registry.register_kernel(op, BACKEND.name, fn, dtypes)
