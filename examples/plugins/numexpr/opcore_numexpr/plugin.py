"""Entry point (``[project.entry-points.opcore] numexpr``): the backend and its kernel table."""

from __future__ import annotations

from opcore.hookspecs import hookimpl
from opcore.registry import Registry
from opcore_numexpr.backend import NumexprBackend
from opcore_numexpr.kernels import table

BACKEND = NumexprBackend()


@hookimpl
def opcore_register_backends(registry: Registry) -> None:
    registry.register_backend(BACKEND)


@hookimpl
def opcore_register_kernels(registry: Registry) -> None:
    for op, fn, dtypes in table():
        registry.register_kernel(op, BACKEND.name, fn, dtypes)
