"""Shared fixtures: a second, in-test backend to check cross-backend rules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import opcore
from opcore.backend import Backend
from opcore.hookspecs import hookimpl
from opcore.registry import KernelContext, Registry


class Boxed:
    """The toy backend's native array: a NumPy array in a box, so it is not an ndarray."""

    def __init__(self, a: np.ndarray) -> None:
        self.a = a
        self.shape = a.shape
        self.dtype = a.dtype


class ToyBackend(Backend):
    name = "toy"
    array_type = "Boxed"

    def from_numpy(self, array: np.ndarray) -> Boxed:
        return Boxed(np.array(array))

    def to_numpy(self, array: Any) -> np.ndarray:
        return np.array(array.a)

    def is_native(self, value: Any) -> bool:
        return isinstance(value, Boxed)

    def capabilities(self) -> dict[str, bool]:
        return {"float64": False, "float16": False}


def _toy_add(ctx: KernelContext, x: Boxed, y: Boxed) -> Boxed:
    return Boxed(x.a + y.a)


def _toy_bad_mul(ctx: KernelContext, x: Boxed, y: Boxed) -> Boxed:
    return Boxed((x.a * y.a).reshape(-1)[:1])  # wrong shape on purpose


class ToyPlugin:
    @hookimpl
    def opcore_register_backends(self, registry: Registry) -> None:
        registry.register_backend(ToyBackend())

    @hookimpl
    def opcore_register_kernels(self, registry: Registry) -> None:
        registry.register_kernel("Add", "toy", _toy_add, "float32")
        registry.register_kernel("Mul", "toy", _toy_bad_mul, "float32")


@pytest.fixture(scope="session")
def toy() -> Iterator[str]:
    """A second backend ("toy") with an Add kernel and a deliberately wrong Mul kernel."""
    if "toy" not in opcore.get_registry().backends:
        rec = opcore.register_plugin(ToyPlugin(), name="toy-backend")
        assert rec.status == "loaded", rec.error
    yield "toy"
