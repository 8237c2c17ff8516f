"""The inputs of an eager op call: attributes given by position, the binding of type
variables (strong dtypes promoted, then weak Python scalars), and the conversion of
every input to a tensor of its bound dtype on the call's backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from opcore import _context
from opcore import dtypes as _dt
from opcore.backend import Backend, current_backend
from opcore.dtypes import DType
from opcore.errors import BackendMismatchError, DTypeError, OpDefinitionError
from opcore.registry import OpDef
from opcore.tensor import Tensor, Variable

__all__ = ["bind_positional", "bind_type_vars", "convert_inputs", "pack_tensors", "to_tensor"]


def bind_positional(op: OpDef, inputs: Sequence[Any], attrs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Extra positional arguments bind to attributes in declaration order (``reduce_sum(x, 1)``)."""
    n = len(op.inputs)
    if len(inputs) < n:
        missing = [a.name for a in op.inputs[len(inputs) :]]
        raise OpDefinitionError(
            f"{op.name}: missing input(s) {', '.join(map(repr, missing))}; signature: {op.signature}"
        )
    if len(inputs) == n:
        return list(inputs), attrs
    extra = inputs[n:]
    names = list(op.attrs)
    if len(extra) > len(names):
        raise OpDefinitionError(
            f"{op.name}: takes {n} input(s) and {len(names)} attribute(s), got {len(inputs)} positional arguments; "
            f"signature: {op.signature}"
        )
    merged = dict(attrs)
    for attr_name, value in zip(names, extra):
        if attr_name in merged:
            raise OpDefinitionError(f"{op.name}: attribute {attr_name!r} given both by position and by keyword")
        merged[attr_name] = value
    return list(inputs[:n]), merged


def _holds_tensor(item: Any) -> bool:
    if isinstance(item, (list, tuple)):
        return any(_holds_tensor(x) for x in item)
    return hasattr(item, "dtype") and hasattr(item, "shape") and not isinstance(item, (np.ndarray, np.generic))


def pack_tensors(item: Any) -> Any:
    """A (nested) list holding tensors as one tensor, stacked with the ``Pack`` op.

    As in TensorFlow, ``reduce_mean([t])`` means ``reduce_mean(stack([t]))``: the
    tensors stay connected (for gradients, and in graphs, where they have no value
    yet). Anything else is returned as it is.
    """
    if not isinstance(item, (list, tuple)) or not _holds_tensor(item):
        return item
    from opcore.ops.array import stack

    return stack([pack_tensors(x) for x in item])


def _is_weak(x: Any) -> bool:
    return isinstance(x, (bool, int, float)) and not isinstance(x, np.generic)


def _weak_kind(x: Any) -> bool | int | float | None:
    """A representative weak scalar for Python data (scalars, nested lists), else None."""
    if _is_weak(x):
        return x  # type: ignore[no-any-return]
    if isinstance(x, (list, tuple)) and not isinstance(x, np.ndarray):
        arr = np.asarray(x)
        if arr.dtype.kind == "f":
            return 0.0
        if arr.dtype.kind in "iu":
            return 0
        if arr.dtype.kind == "b":
            return False
    return None


def convert_inputs(
    op: OpDef, inputs: Sequence[Any], attrs: dict[str, Any]
) -> tuple[list[Any], dict[str, DType], Backend]:
    """Find the backend, bind the type variables, and turn every input into a Tensor of its bound dtype."""
    # 1. Unwrap variables (watching them on active tapes) and find the backend.
    unwrapped: list[Any] = []
    backend: Backend | None = None
    first_name = ""
    for arg, item in zip(op.inputs, inputs):
        if not arg.variadic and isinstance(item, (list, tuple)):
            item = pack_tensors(item)
        items = item if arg.variadic else [item]
        if arg.variadic and not isinstance(item, (list, tuple)):
            raise OpDefinitionError(f"{op.name}: input {arg.name!r} is variadic and takes a list of tensors")
        vals = []
        for x in items:
            if isinstance(x, Variable):
                for tape in _context.state.tapes:
                    tape.watch_variable(x)
                x = x.value()
            if isinstance(x, Tensor):
                if backend is None:
                    backend, first_name = x._backend, arg.name
                elif x._backend is not backend:
                    raise BackendMismatchError(
                        f"{op.name}: input {first_name!r} is on backend {backend.name!r} but input "
                        f"{arg.name!r} is on {x.backend!r}; tensors of two backends never mix. "
                        f"Move one explicitly, e.g. t.to({backend.name!r})"
                    )
            vals.append(x)
        unwrapped.append(vals if arg.variadic else vals[0])
    if backend is None:
        backend = current_backend()

    binding = bind_type_vars(op, unwrapped, attrs)

    # 3. Convert: cast strong inputs to the bound dtype (through the Cast op, so tapes see it).
    converted: list[Any] = []
    for arg, item in zip(op.inputs, unwrapped):
        want = binding.get(arg.type)
        if want is None:
            want = _dt.as_dtype(attrs[arg.type]) if arg.type in op.attrs else _dt.as_dtype(arg.type)
        if arg.variadic:
            converted.append([to_tensor(op, arg.name, x, want, backend) for x in item])
        else:
            converted.append(to_tensor(op, arg.name, item, want, backend))
    return converted, binding, backend


def bind_type_vars(op: OpDef, unwrapped: Sequence[Any], attrs: dict[str, Any]) -> dict[str, DType]:
    """Bind each type variable: promote the strong dtypes of its inputs, then weak Python scalars.

    Inputs may be eager or graph tensors (anything with an opcore ``dtype``), NumPy
    data (strong) or Python data (weak). Raises DTypeError naming the op, the input
    and the allowed set.
    """
    binding: dict[str, DType] = {}
    for tv, allowed in op.type_vars.items():
        if tv in op.attrs:  # bound by a type attribute (e.g. random ops' dtype)
            d = attrs.get(tv)
            if d is None:
                raise OpDefinitionError(f"{op.name}: attribute {tv!r} (a dtype) is required")
            if d not in allowed:
                raise DTypeError(
                    f"{op.name}: {tv}={d} is not allowed; {tv} must be one of {{{', '.join(x.name for x in allowed)}}}"
                )
            binding[tv] = d
            continue
        strong: list[tuple[str, DType]] = []
        weak: list[bool | int | float] = []
        for arg, item in zip(op.inputs, unwrapped):
            if arg.type != tv:
                continue
            for x in item if arg.variadic else [item]:
                d_x = getattr(x, "dtype", None)
                if isinstance(d_x, DType):
                    strong.append((arg.name, d_x))
                elif isinstance(x, (np.ndarray, np.generic)):
                    strong.append((arg.name, _dt.as_dtype(x.dtype)))
                else:
                    w = _weak_kind(x)
                    if w is None:
                        raise DTypeError(
                            f"{op.name}: input {arg.name!r} got a {type(x).__name__}, which is not a tensor, "
                            "array or Python number"
                        )
                    weak.append(w)
        if strong:
            d = strong[0][1]
            for _, other in strong[1:]:
                d = _dt.promote(d, other)
            if weak:
                d = _dt.result_type(d, *weak)
        elif weak:
            d = _dt.result_type(*weak)
            if d not in allowed and not d.is_floating and _dt.default_float in allowed:
                d = _dt.default_float  # sqrt(4) means sqrt(4.0)
        else:
            raise DTypeError(f"{op.name}: cannot bind type variable {tv!r}: no input carries it")
        if d not in allowed:
            who = ", ".join(f"{n!r} ({t})" for n, t in strong) or "Python scalars"
            raise DTypeError(
                f"{op.name} does not accept dtype {d} for {tv} (from input {who}); "
                f"{tv} must be one of {{{', '.join(x.name for x in allowed)}}}. "
                f"Cast first, e.g. opcore.cast(x, {allowed[-1].name!r})"
            )
        binding[tv] = d
    return binding


def to_tensor(op: OpDef, name: str, x: Any, want: DType, backend: Backend) -> Tensor:
    if isinstance(x, Tensor):
        if x._dtype is want:
            return x
        if _dt.promote(x._dtype, want) is not want:
            raise DTypeError(
                f"{op.name}: input {name!r} has dtype {x._dtype}, expected {want}; cast it with opcore.cast"
            )
        from opcore.ops.math import cast

        return cast(x, want)  # type: ignore[no-any-return]
    try:
        host = np.asarray(x, dtype=want.np) if not isinstance(x, np.ndarray) else x.astype(want.np, copy=False)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DTypeError(f"{op.name}: cannot convert input {name!r} ({x!r}) to {want}: {exc}") from None
    if _is_weak(x) and np.isfinite(host).all() and host != x and want.is_integer:
        raise DTypeError(f"{op.name}: Python value {x!r} for input {name!r} does not fit in {want}")
    return Tensor(backend.upload(host), backend, want, tuple(host.shape))
