"""Entry point: registers the op, its NumPy kernel and its conformance spec."""

from __future__ import annotations

from typing import Any

from opcore.hookspecs import hookimpl
from opcore.registry import Registry
from opcore_zero_out.kernels import zero_out_numpy
from opcore_zero_out.ops import ZERO_OUT


@hookimpl
def opcore_register_ops(registry: Registry) -> None:
    registry.register_op(ZERO_OUT)


@hookimpl
def opcore_register_kernels(registry: Registry) -> None:
    if "numpy" in registry.backends:
        registry.register_kernel(ZERO_OUT, "numpy", zero_out_numpy)


@hookimpl
def opcore_conformance_specs() -> list[Any]:
    from opcore_zero_out.spec import SPEC

    return [SPEC]
