"""Entry point of the NumPy backend (``[project.entry-points.opcore] numpy``).

It only registers: the backend object and the kernel tables, one per op family.
"""

from __future__ import annotations

from opcore.hookspecs import hookimpl
from opcore.registry import Registry
from opcore_numpy.backend import NumpyBackend
from opcore_numpy.kernels import TABLES

BACKEND = NumpyBackend()


@hookimpl
def opcore_register_backends(registry: Registry) -> None:
    registry.register_backend(BACKEND)


@hookimpl
def opcore_register_kernels(registry: Registry) -> None:
    for table in TABLES:
        for op, fn, dtypes in table:
            registry.register_kernel(op, BACKEND.name, fn, dtypes)
