"""Kernel lookup, the NumPy fallback and the result contract: what dispatch and sessions share.

``resolve_kernel`` finds the kernel for (op, backend, dtypes), or wraps the
NumPy kernel when the user's fallback policy allows it (counting every
fallback and transfer), or raises ``KernelNotFoundError`` listing what exists.
``check_results`` is the one check that a kernel returned native arrays of
exactly the inferred shapes and dtypes. ``kernel_failed`` notes on an
exception from plugin code which op, backend and plugin raised it; callers
call it from their ``except`` clause, so a kernel that does not raise pays
nothing for it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from opcore.backend import Backend, current_fallback_policy, get_backend, stats
from opcore.dtypes import DType
from opcore.errors import DTypeError, KernelContractError, KernelNotFoundError, OpcoreError, ResourceExhaustedError
from opcore.registry import KernelContext, OpDef, add_note, get_registry

__all__ = [
    "FallbackWarning",
    "check_allocation",
    "check_dtypes",
    "check_results",
    "fits",
    "kernel_failed",
    "resolve_kernel",
]

_registry = get_registry()


class FallbackWarning(UserWarning):
    """An op ran on NumPy because its backend has no kernel (fallback policy ``warn``)."""


def _nbytes(shape: Sequence[int | None], dtype: DType) -> int:
    """The bytes of an array (a value-dependent dimension, None, counts as 0: not known yet)."""
    n = dtype.np.itemsize
    for d in shape:
        n *= d or 0
    return n


def _size(n: int) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


_limits: dict[int, int | None] = {}


def check_allocation(
    op: OpDef, backend: Backend, shapes: Sequence[Sequence[int | None]], dtypes: Sequence[DType]
) -> None:
    """Raise ResourceExhaustedError when one output of ``op`` is larger than ``backend`` can hold."""
    key = id(backend)
    if key not in _limits:
        _limits[key] = backend.max_allocation()
    limit = _limits[key]
    if limit is None:
        return
    for i, (shape, dtype) in enumerate(zip(shapes, dtypes)):
        n = _nbytes(shape, dtype)
        if n > limit:
            raise ResourceExhaustedError(
                f"{op.name}: output {i} of shape {tuple(shape)} {dtype.name} needs {_size(n)}, more than the "
                f"{_size(limit)} that one array can have on backend {backend.name!r}"
            )


def kernel_failed(exc: Exception, ctx: KernelContext) -> None:
    """Note on ``exc`` (raised by the kernel ``ctx`` was made for) the op, backend and provider.

    opcore's own errors already say all that and get no note; nor does an
    exception that a nested kernel call already noted. An out-of-memory error
    (as the backend recognises it) becomes ResourceExhaustedError naming the op
    and the sizes of its outputs, with the original as its cause.
    """
    if not isinstance(exc, OpcoreError) and ctx.backend.is_out_of_memory(exc):
        total = sum(_nbytes(s, d) for s, d in zip(ctx.out_shapes, ctx.out_dtypes))
        outs = ", ".join(f"{tuple(s)} {d.name}" for s, d in zip(ctx.out_shapes, ctx.out_dtypes))
        raise ResourceExhaustedError(
            f"{ctx.op}: out of memory on backend {ctx.backend.name!r} (outputs {outs}: {_size(total)}): {exc}"
        ) from exc
    if isinstance(exc, OpcoreError) or any(n.startswith("raised by the kernel") for n in getattr(exc, "__notes__", ())):
        return
    op = _registry.ops.get(ctx.op)
    kd = _registry.kernel(ctx.op, ctx.backend.name, op.type_key(ctx.types)) if op is not None else None
    provider = kd.provider if kd is not None else "?"
    add_note(exc, f"raised by the kernel of op {ctx.op!r} on backend {ctx.backend.name!r} (from {provider!r})")


def check_results(op: OpDef, backend: Backend, results: Sequence[Any], out_specs: Sequence[tuple[Any, DType]]) -> None:
    """Raise KernelContractError unless ``results`` are native arrays of exactly ``out_specs``.

    The one contract check, for eager plans and session plans alike: the inline
    comparison where the backend's arrays carry NumPy dtypes, the backend's own
    ``shape_of``/``dtype_of`` otherwise. A ``None`` in an inferred shape is a
    value-dependent dimension (see :data:`~opcore.shapes.VALUE_DEPENDENT`): any size
    is right there, every other dimension must be as inferred.
    """
    if len(results) != len(out_specs):
        raise KernelContractError(
            f"{op.name} kernel on backend {backend.name!r} returned {len(results)} outputs, expected {len(out_specs)}"
        )
    native = backend.native_type
    for r, (shape, dtype) in zip(results, out_specs):
        same_type = native is not None and type(r) is native  # (kept apart: no narrowing of r)
        if same_type and r.shape == shape and r.dtype == dtype.np:
            continue
        if not backend.is_native(r) or backend.dtype_of(r) != dtype.np:
            _contract_error(op, backend, results, out_specs)
        actual = backend.shape_of(r)
        if actual != shape and not (None in shape and fits(actual, shape)):
            _contract_error(op, backend, results, out_specs)


def fits(actual: Sequence[int], inferred: Sequence[int | None]) -> bool:
    """Whether the concrete shape ``actual`` agrees with ``inferred`` (``None`` matches any size)."""
    return len(actual) == len(inferred) and all(d is None or d == a for a, d in zip(actual, inferred))


def _contract_error(
    op: OpDef, backend: Backend, results: Sequence[Any], out_specs: Sequence[tuple[Any, DType]]
) -> None:
    got = []
    for r in results:
        if backend.is_native(r):
            got.append(f"{backend.shape_of(r)} {backend.dtype_of(r)}")
        else:
            got.append(f"a {type(r).__name__} (not a {backend.array_type})")
    expected = [f"{_shape_text(s)} {d}" for s, d in out_specs]
    raise KernelContractError(
        f"{op.name} kernel on backend {backend.name!r} broke its contract: it returned "
        f"[{', '.join(got)}] but the shape function inferred [{', '.join(expected)}]. "
        "This is a bug in the backend's kernel; run `opcore conformance` for the backend."
    )


def check_dtypes(op: OpDef, backend: Backend, binding: dict[str, DType], out_dtypes: Iterable[DType]) -> None:
    """Raise DTypeError when ``backend`` cannot run ``op`` with these input and output dtypes."""
    reason = backend.unsupported((*binding.values(), *out_dtypes))
    if reason:
        what = ", ".join(f"{k}={v.name}" for k, v in binding.items())
        outs = ", ".join(d.name for d in out_dtypes)
        raise DTypeError(f"{op.name} ({what} -> {outs}) cannot run on backend {backend.name!r}: {reason}")


def _shape_text(shape: Sequence[int | None]) -> str:
    """``(2, 3)``; a value-dependent dimension shows as ``?``."""
    inner = ", ".join("?" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def resolve_kernel(op: OpDef, backend: Backend, binding: dict[str, DType]) -> Any:
    """The kernel to run ``op`` on ``backend``: its own, a NumPy fallback, or KernelNotFoundError.

    The fallback (policy ``warn`` or ``allow``) warns under ``warn`` and counts every
    fallback and host/device transfer, for eager calls and session plans alike.
    """
    types = op.type_key(binding)
    kd = _registry.kernel(op.name, backend.name, types)
    if kd is not None:
        return kd.fn
    numpy_kd = _registry.kernel(op.name, "numpy", types) if backend.name != "numpy" else None
    if current_fallback_policy() == "error" or numpy_kd is None:
        _raise_not_found(op, backend, binding, numpy_kd is not None)
    assert numpy_kd is not None
    host_fn = numpy_kd.fn
    host = get_backend("numpy")

    def fallback(ctx: KernelContext, *natives: Any) -> Any:
        if current_fallback_policy() == "warn":
            warnings.warn(
                f"{op.name} has no kernel on backend {backend.name!r} for "
                f"{', '.join(d.name for d in types)}; running it on NumPy and copying back",
                FallbackWarning,
                stacklevel=5,
            )
        stats.fallbacks[f"{op.name}@{backend.name}"] += 1

        def to_host(v: Any) -> np.ndarray:
            return backend.download(v)

        def to_device(r: Any) -> Any:
            return backend.upload(np.array(r, order="C"))

        host_ctx = KernelContext(ctx.op, ctx.attrs, ctx.out_shapes, ctx.out_dtypes, ctx.types, host)
        args = [[to_host(v) for v in x] if isinstance(x, list) else to_host(x) for x in natives]
        try:
            result = host_fn(host_ctx, *args)
        except Exception as exc:
            kernel_failed(exc, host_ctx)
            raise
        if isinstance(result, (tuple, list)):
            return [to_device(r) for r in result]
        return to_device(result)

    return fallback


def _raise_not_found(op: OpDef, backend: Backend, binding: dict[str, DType], numpy_has_it: bool) -> None:
    existing = _registry.kernels_for(op.name)
    listing = "\n".join(f"  {k.describe(op)} (from {k.provider})" for k in existing) or "  (none)"
    what = ", ".join(f"{k}={v.name}" for k, v in binding.items()) or "no type variables"
    hint = (
        "Use another backend, cast to a supported dtype, or opt into running it on NumPy with "
        "opcore.fallback_policy('warn')."
        if numpy_has_it
        else "No NumPy kernel exists either, so no fallback is possible."
    )
    raise KernelNotFoundError(
        f"no kernel for op {op.name!r} on backend {backend.name!r} with {what}.\n"
        f"Registered kernels for {op.name}:\n{listing}\n{hint}"
    )
