"""Fixtures: the in-test "toy" backend, and a "faulty" backend with a claims manifest.

The faulty backend holds NumPy arrays and gets every verdict on purpose: a kernel
that is slightly off (Exp), one that crashes (Sqrt), one that is wrong but listed
in the xfail file (Tanh), one listed there although it is right (Neg), a claim no
kernel backs (Relu), and a kernel its manifest leaves out (Add for float64).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import opcore
from opcore.backend import Backend
from opcore.hookspecs import hookimpl
from opcore.registry import KernelContext, Registry
from tests.conftest import toy

__all__ = ["faulty", "faulty_xfail", "toy"]

#: The xfail file that goes with the faulty backend.
FAULTY_XFAIL = """\
# expected failures of the faulty backend
Tanh  float*   tanh is off by a few percent <on purpose> & tracked
Neg   float32  listed although the kernel is right: an XPASS
"""


class FaultyBackend(Backend):
    name = "faulty"
    array_type = "numpy.ndarray"
    native_type = np.ndarray
    #: The manifest: what this backend stands behind (Relu has no kernel; Add float64 is left out).
    claims = (
        ("Add", "float32"),
        ("Relu", "float32"),
        ("Sub", ["float32", "float64"]),
        *((op, ["float32", "float64"]) for op in ("Mul", "Neg", "Exp", "Sqrt", "Tanh")),
        ("SumToLike", {"T": "float64", "U": "float64"}),
        ("BroadcastLike", {"T": "float64", "U": "float64"}),
    )

    def from_numpy(self, array: np.ndarray) -> np.ndarray:
        return np.array(array)

    def to_numpy(self, array: Any) -> np.ndarray:
        return np.array(array)

    def is_native(self, value: Any) -> bool:
        return isinstance(value, np.ndarray)

    def capabilities(self) -> dict[str, bool]:
        return {"float64": True, "float16": False}


def _out(ctx: KernelContext, value: Any) -> np.ndarray:
    return np.asarray(value).astype(ctx.out_dtypes[0].np).reshape(ctx.out_shapes[0])


def _sqrt_crashes(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    raise RuntimeError("the faulty device lost its <sqrt> unit")


def _sum_to_like(ctx: KernelContext, x: np.ndarray, like: np.ndarray) -> np.ndarray:
    shape = ctx.out_shapes[0]
    lead = x.ndim - len(shape)
    out = x.sum(axis=tuple(range(lead))) if lead > 0 else x
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and out.shape[i] != 1)
    return _out(ctx, out.sum(axis=axes, keepdims=True) if axes else out)


FLOATS = "float32, float64"
KERNELS = [
    ("Add", lambda ctx, x, y: _out(ctx, x + y), FLOATS),
    ("Sub", lambda ctx, x, y: _out(ctx, x - y), FLOATS),
    ("Mul", lambda ctx, x, y: _out(ctx, x * y), FLOATS),
    ("Neg", lambda ctx, x: _out(ctx, -x), FLOATS),
    ("Exp", lambda ctx, x: _out(ctx, np.exp(x) * 1.001), FLOATS),  # 0.1% off: fails the tolerance
    ("Sqrt", _sqrt_crashes, FLOATS),
    ("Tanh", lambda ctx, x: _out(ctx, np.tanh(x) * 1.03), FLOATS),
    ("SumToLike", _sum_to_like, {"T": FLOATS, "U": FLOATS}),
    (
        "BroadcastLike",
        lambda ctx, x, like: _out(ctx, np.broadcast_to(x, ctx.out_shapes[0])),
        {"T": FLOATS, "U": FLOATS},
    ),
]


class FaultyPlugin:
    @hookimpl
    def opcore_register_backends(self, registry: Registry) -> None:
        registry.register_backend(FaultyBackend())

    @hookimpl
    def opcore_register_kernels(self, registry: Registry) -> None:
        for op, fn, dtypes in KERNELS:
            registry.register_kernel(op, "faulty", fn, dtypes)


@pytest.fixture(scope="session")
def faulty() -> Iterator[str]:
    """The "faulty" backend (see the module docstring), registered once per session."""
    if "faulty" not in opcore.get_registry().backends:
        rec = opcore.register_plugin(FaultyPlugin(), name="faulty-backend")
        assert rec.status == "loaded", rec.error
    yield "faulty"


@pytest.fixture(scope="session")
def faulty_xfail() -> str:
    """The xfail file that goes with the faulty backend."""
    return FAULTY_XFAIL
