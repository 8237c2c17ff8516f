"""The kernel table: one numexpr expression per op.

Only float32 and float64 are claimed; numexpr keeps float32 in float32, and
the result is cast anyway so a kernel always returns the inferred dtype.
``SumToLike`` and ``BroadcastLike`` (which the gradients of the binary ops
need) and ``OnesLike``/``ZerosLike`` (the seeds of a gradient tape) are plain
NumPy: numexpr only does elementwise work well.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from opcore.registry import KernelContext

Kernel = Callable[..., np.ndarray]
DTYPES = "float32, float64"

#: op -> numexpr expression over the inputs x (and y).
UNARY = {
    "Neg": "-x",
    "Square": "x * x",
    "Sqrt": "sqrt(x)",
    "Exp": "exp(x)",
    "Log": "log(x)",
    "Log1p": "log1p(x)",
    "Sin": "sin(x)",
    "Cos": "cos(x)",
    "Tanh": "tanh(x)",
    "Sigmoid": "1 / (1 + exp(-x))",
    # log(1 + e^x) without overflow for large x
    "Softplus": "where(x > 0, x + log1p(exp(-x)), log1p(exp(x)))",
}
BINARY = {
    "Add": "x + y",
    "Sub": "x - y",
    "Mul": "x * y",
    "RealDiv": "x / y",
}


@functools.cache
def _evaluate() -> Callable[..., Any]:
    import numexpr

    fn: Callable[..., Any] = numexpr.evaluate
    return fn


def _run(expr: str, ctx: KernelContext, **arrays: np.ndarray) -> np.ndarray:
    out = np.asarray(_evaluate()(expr, local_dict=arrays))
    return np.ascontiguousarray(out.astype(ctx.out_dtypes[0].np, copy=False)).reshape(ctx.out_shapes[0])


def _unary(expr: str) -> Kernel:
    def kernel(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
        return _run(expr, ctx, x=x)

    return kernel


def _binary(expr: str) -> Kernel:
    def kernel(ctx: KernelContext, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return _run(expr, ctx, x=x, y=y)

    return kernel


def sum_to_like(ctx: KernelContext, x: np.ndarray, like: np.ndarray) -> np.ndarray:
    shape = ctx.out_shapes[0]
    lead = x.ndim - len(shape)
    out = x.sum(axis=tuple(range(lead))) if lead > 0 else x
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and out.shape[i] != 1)
    if axes:
        out = out.sum(axis=axes, keepdims=True)
    return np.asarray(out, dtype=x.dtype).reshape(shape)


def broadcast_like(ctx: KernelContext, x: np.ndarray, like: np.ndarray) -> np.ndarray:
    return np.array(np.broadcast_to(x, ctx.out_shapes[0]))


def _fill(value: float) -> Kernel:
    def kernel(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
        return np.full(ctx.out_shapes[0], value, dtype=ctx.out_dtypes[0].np)

    return kernel


def table() -> list[tuple[str, Kernel, Any]]:
    """Every (op, kernel, dtypes) this backend registers."""
    rows: list[tuple[str, Kernel, Any]] = [(op, _unary(e), DTYPES) for op, e in UNARY.items()]
    rows += [(op, _binary(e), DTYPES) for op, e in BINARY.items()]
    rows.append(("SumToLike", sum_to_like, {"T": DTYPES, "U": DTYPES}))
    rows.append(("BroadcastLike", broadcast_like, {"T": DTYPES, "U": DTYPES}))
    rows += [("OnesLike", _fill(1.0), DTYPES), ("ZerosLike", _fill(0.0), DTYPES)]
    return rows
