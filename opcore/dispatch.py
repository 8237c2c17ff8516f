"""The single path from an op call to a kernel.

``call_op`` binds attributes, converts inputs, promotes dtypes (kernels never
see mixed dtypes), runs the op's shape function, finds the kernel for
(op, backend, dtypes), calls it, checks that it returned what was inferred,
and records the call on any active gradient tape.

Symbolic (graph) inputs are handed to their graph instead: the same checks run
at graph-build time and the kernel later, in a session.

Repeated eager calls with the same op, backend, dtypes, shapes and attributes
take a cached plan, so the per-call overhead is a dict lookup, the kernel and
the wrapping of its result.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from opcore import _context
from opcore import dtypes as _dt
from opcore.backend import Backend, current_backend, current_fallback_policy, get_backend, stats
from opcore.dtypes import DType
from opcore.errors import (
    BackendMismatchError,
    DTypeError,
    KernelContractError,
    KernelNotFoundError,
    OpDefinitionError,
)
from opcore.plugins import ensure_loaded
from opcore.registry import KernelContext, OpDef, get_registry
from opcore.shapes import Shape
from opcore.tensor import Tensor, Variable

__all__ = [
    "FallbackWarning",
    "Recorder",
    "bind_type_vars",
    "call_op",
    "clear_cache",
    "group_outputs",
    "resolve_kernel",
    "update_variables",
]

_registry = get_registry()


class FallbackWarning(UserWarning):
    """An op ran on NumPy because its backend has no kernel (fallback policy ``warn``)."""


class Recorder(Protocol):
    """What dispatch tells a gradient tape (see :mod:`opcore.autodiff`)."""

    def record(self, op: OpDef, inputs: Sequence[Any], outputs: Sequence[Tensor], attrs: dict[str, Any]) -> None: ...

    def watch_variable(self, var: Variable) -> None: ...


class Builder(Protocol):
    """What dispatch needs of a graph to add a node (see :mod:`opcore.graph`)."""

    def add_op(self, op: OpDef, inputs: Sequence[Any], attrs: dict[str, Any], name: str | None) -> Any: ...


# The lists live in opcore._context; bound here for speed on the hot path.
active_tapes: list[Recorder] = _context.active_tapes
graph_stack: list[Builder] = _context.graph_stack
_MAX_PLANS = 1024


class _NEVER:
    """A type no kernel returns: plans without a native type skip the inline check."""


# --------------------------------------------------------------------------- plans
#
# A plan is what one call signature decided once: the kernel, its KernelContext
# (bound attributes, inferred output shapes and dtypes), how to turn each input
# into a native array, and what the result must look like. Its fields, as a
# tuple for speed on the hot path:
#
#   0 fn        the kernel
#   1 ctx       its KernelContext
#   2 backend   the backend
#   3 out_specs ((shape, dtype), ...) inferred
#   4 single    one (non-variadic) output?
#   5 bound     the bound attributes (what tapes record)
#   6 native    the native array type for the inline result check (_NEVER: ask the backend)
#   7 shape     the single output's shape (inline check)
#   8 dtype     the single output's DType
#   9 npdtype   its NumPy dtype (inline check)
#  10 spec      the single output's spec token
#  11 kinds     None when every input is a Tensor used as it is, else one of _TENSOR,
#               _VARIABLE, _SCALAR, _ARRAY per input
#  12 wants     the DType each input is converted to
#
# Plans live in ``op._plans``, keyed by the call signature (see _call_key); the
# registry clears them on every change, and each op keeps at most _MAX_PLANS.

_TENSOR, _VARIABLE, _SCALAR, _ARRAY = range(4)
_WEAK_TYPES = (float, int, bool)
_SCALARS: dict[Any, Any] = {}
_MAX_SCALARS = 4096


def _freeze(value: Any) -> Any:
    """A hashable, type-exact stand-in for an attribute value (``1``, ``1.0`` and ``True`` differ)."""
    t = type(value)
    if t is str or value is None:
        return value
    if t is list or t is tuple:
        return (t, *[_freeze(v) for v in value])
    hash(value)  # raises TypeError for values that cannot key a plan
    return (t, value)


def _call_key(inputs: Sequence[Any], attrs: dict[str, Any], positional: Sequence[Any]) -> Any:
    """The plan key of an eager call, or None when the call cannot use a plan.

    Tensors contribute their spec token (backend, dtype, shape); Variables their
    value's; Python scalars their type (the weak-typing rules depend on the type,
    never the value); NumPy arrays their dtype and shape; attributes their frozen
    values (``positional``: attributes given by position). A call without any tensor
    also depends on the current backend.
    """
    parts: list[Any] = []
    on_tensor = False
    for x in inputs:
        t = type(x)
        if t is Tensor:
            parts.append(x._spec)
            on_tensor = True
        elif t is float or t is int or t is bool:
            parts.append(t)
        elif isinstance(x, Variable):
            parts.append((_VARIABLE, x._value._spec))
            on_tensor = True
        elif t is np.ndarray:
            parts.append((x.dtype, x.shape))
        else:
            return None
    try:
        if attrs:
            parts.append(tuple([(k, _freeze(v)) for k, v in attrs.items()]))
        if positional:
            parts.append(("*", *[_freeze(v) for v in positional]))
    except TypeError:
        return None
    if not on_tensor:
        parts.append(current_backend())
    return tuple(parts)


def clear_cache() -> None:
    """Forget the cached dispatch plans (the registry does this on every change)."""
    for op in _registry.ops.values():
        op._plans.clear()
    _SCALARS.clear()


_registry.on_change = clear_cache


# --------------------------------------------------------------------------- entry point


def call_op(op: OpDef, inputs: Sequence[Any], attrs: dict[str, Any], name: str | None = None) -> Any:
    """Run ``op`` on ``inputs`` (eagerly, or as a graph node for symbolic inputs)."""
    if graph_stack:
        return _call_slow(op, inputs, attrs, name, None)
    # Fast paths: one or two eager tensors on one backend, no attributes. The key is
    # the spec tokens themselves (a mixed-backend pair never finds a plan).
    n = len(inputs)
    if not attrs:
        if n == 2:
            x, y = inputs
            if type(x) is Tensor and type(y) is Tensor:
                plan = op._plans.get((x._spec, y._spec))
                if plan is not None:
                    fn, ctx, backend, _, _, bound, native, shape, dtype, npdtype, spec = plan[:11]
                    r = fn(ctx, x._value, y._value)
                    # The common case inline: one output of the native type, as inferred.
                    if type(r) is native and r.shape == shape and r.dtype is npdtype:
                        out = Tensor(r, backend, dtype, shape, spec)
                        if active_tapes:
                            _record(op, inputs, (out,), bound)
                        return out
                    return _finish(op, plan, inputs, r)
        elif n == 1:
            x = inputs[0]
            if type(x) is Tensor:
                plan = op._plans.get(x._spec)
                if plan is not None:
                    fn, ctx, backend, _, _, bound, native, shape, dtype, npdtype, spec = plan[:11]
                    r = fn(ctx, x._value)
                    if type(r) is native and r.shape == shape and r.dtype is npdtype:
                        out = Tensor(r, backend, dtype, shape, spec)
                        if active_tapes:
                            _record(op, inputs, (out,), bound)
                        return out
                    return _finish(op, plan, inputs, r)
    n_in = len(op.inputs)
    if n == n_in:
        key = _call_key(inputs, attrs, ())
        if key is not None and len(key) == 1 and not attrs:  # a lone tensor: the fast path's key
            key = key[0]
    elif n > n_in:  # attributes given by position: reduce_sum(x, 1), reshape(x, [-1])
        key = _call_key(inputs[:n_in], attrs, inputs[n_in:])
    else:
        key = None
    if key is not None:
        plan = op._plans.get(key)
        if plan is not None:
            return _run(op, plan, inputs[:n_in] if n > n_in else inputs)
    return _call_slow(op, inputs, attrs, name, key)


def call_with_key(op: OpDef, key: Any, x: Tensor, make_attrs: Any) -> Any:
    """Run the one-input ``op`` on tensor ``x`` with attributes that ``make_attrs()`` builds,
    caching the plan under ``key`` (which must determine the attributes, with ``x._spec``).

    For callers that know a cheaper key than the attributes themselves: indexing
    keys its StridedSlice plan on the index expression, not on seven attribute lists.
    """
    if not graph_stack and type(x) is Tensor:
        plan = op._plans.get(key)
        if plan is not None:
            return _run(op, plan, (x,))
        return _call_slow(op, (x,), make_attrs(), None, key)
    return call_op(op, (x,), make_attrs())


def update_variables(
    op: OpDef, variables: Sequence[Variable], inputs: Sequence[Any], attrs: dict[str, Any] | None = None
) -> list[Variable]:
    """Run the update ``op`` eagerly and assign its first outputs to ``variables`` (in order).

    When the op declares ``aliases`` and no other tensor or view reads the
    variables' buffers, the kernel gets ``ctx.inplace`` and may write the new
    values straight into those buffers (no allocation per step); otherwise the
    update is functional. Either way each variable ends up holding its new value,
    and tensors read from it before the update keep their old values.
    """
    attrs = attrs or {}
    inplace = bool(op.aliases) and not graph_stack and all(_may_overwrite(v) for v in variables)
    outs: Any
    if inplace:
        key = _call_key(inputs, attrs, ())
        if key is not None:
            key = (*key, "inplace")
            plan = op._plans.get(key)
            outs = _run(op, plan, inputs) if plan is not None else _call_slow(op, inputs, attrs, None, key, True)
        else:
            outs = _call_slow(op, inputs, attrs, None, None, True)
    else:
        outs = call_op(op, inputs, attrs)
    results = outs if isinstance(outs, (tuple, list)) else (outs,)
    for var, value in zip(variables, results):
        var.assign(value)
    return list(variables)


def _may_overwrite(var: Variable) -> bool:
    t = var._value
    # References to the tensor: the variable's, this local and getrefcount's argument.
    return sys.getrefcount(t) <= 3 and t._backend.may_overwrite(t._value)


def _scalar_native(op: OpDef, name: str, x: Any, want: DType, backend: Backend) -> Any:
    """The backend's native array for a Python scalar, made once per (backend, dtype, type, value)."""
    if x != x or (x == 0 and type(x) is float):  # NaN never equals itself; -0.0 equals 0.0
        return _to_tensor(op, name, x, want, backend)._value
    k = (backend, want, type(x), x)
    v = _SCALARS.get(k)
    if v is None:
        v = _to_tensor(op, name, x, want, backend)._value
        if len(_SCALARS) >= _MAX_SCALARS:
            _SCALARS.clear()
        _SCALARS[k] = v
    return v


def _run(op: OpDef, plan: tuple[Any, ...], inputs: Sequence[Any]) -> Any:
    """Run a plan whose inputs may be Variables, Python scalars or NumPy arrays."""
    kinds, wants = plan[11], plan[12]
    if kinds is None:
        return _finish(op, plan, inputs, plan[0](plan[1], *[x._value for x in inputs]))
    backend = plan[2]
    natives = []
    for x, kind, want, arg in zip(inputs, kinds, wants, op.inputs):
        if kind == _TENSOR:
            natives.append(x._value)
        elif kind == _VARIABLE:
            if active_tapes:
                for tape in active_tapes:
                    tape.watch_variable(x)
            natives.append(x._value._value)
        elif kind == _SCALAR:
            natives.append(_scalar_native(op, arg.name, x, want, backend))
        else:
            natives.append(_to_tensor(op, arg.name, x, want, backend)._value)
    r = plan[0](plan[1], *natives)
    if active_tapes:  # what the tape sees: the tensors the kernel ran on
        seen = []
        for x, kind, want, v in zip(inputs, kinds, wants, natives):
            if kind == _TENSOR:
                seen.append(x)
            elif kind == _VARIABLE:
                seen.append(x._value)
            else:
                seen.append(Tensor(v, backend, want, backend.shape_of(v)))
        return _finish(op, plan, seen, r)
    return _finish(op, plan, inputs, r)


def _finish(op: OpDef, plan: tuple[Any, ...], inputs: Sequence[Any], result: Any) -> Any:
    """Check a planned kernel's result against the plan, wrap it, record it on tapes."""
    backend, out_specs, single, bound, native, shape, dtype, npdtype, spec = plan[2:11]
    if single:
        if type(result) is native and result.shape == shape and result.dtype == npdtype:
            out = Tensor(result, backend, dtype, shape, spec)
        else:
            out = _wrap(op, backend, (result,), out_specs)[0]
        if active_tapes:
            _record(op, inputs, (out,), bound)
        return out
    outs = _wrap(op, backend, tuple(result), out_specs)
    if active_tapes:
        _record(op, inputs, outs, bound)
    return group_outputs(op, bound, outs)


# --------------------------------------------------------------------------- the full path


def _call_slow(
    op: OpDef, inputs: Sequence[Any], attrs: dict[str, Any], name: str | None, key: Any, inplace: bool = False
) -> Any:
    ensure_loaded()
    inputs, attrs = _bind_positional(op, inputs, attrs)
    bound = op.bind_attrs(attrs)
    flat = [x for item in inputs for x in (item if isinstance(item, (list, tuple)) else (item,))]

    symbolic = [x for x in flat if getattr(x, "_opcore_symbolic", False)]
    if symbolic or graph_stack:
        builder: Builder = symbolic[0].graph if symbolic else graph_stack[-1]
        return builder.add_op(op, inputs, bound, name)

    if op.composite is not None:
        converted, binding, backend = _convert_inputs(op, inputs, bound)
        _infer(op, converted, binding, bound)  # reject bad input before running the parts
        return op.composite(*converted, **bound)

    converted, binding, backend = _convert_inputs(op, inputs, bound)
    out_shapes, out_dtypes = _infer(op, converted, binding, bound)
    for s in out_shapes:
        if not s.is_fully_defined:
            raise OpDefinitionError(f"{op.name}: shape function left an output shape undefined in eager mode: {s}")
    shapes = tuple(s.as_tuple() for s in out_shapes)
    types = op.type_key(binding)
    kd = _registry.kernel(op.name, backend.name, types)
    ctx = KernelContext(op.name, bound, shapes, tuple(out_dtypes), binding, backend, inplace)
    out_specs = tuple(zip(shapes, out_dtypes))
    if kd is not None:
        for d in out_dtypes:
            ok, reason = backend.supports(d)
            if not ok:
                raise DTypeError(f"{op.name}: cannot produce {d} on backend {backend.name!r}: {reason}")
    fn = kd.fn if kd is not None else resolve_kernel(op, backend, binding)
    natives = [[t._value for t in item] if isinstance(item, list) else item._value for item in converted]
    result = fn(ctx, *natives)
    results = (result,) if len(out_specs) == 1 and not isinstance(result, (tuple, list)) else tuple(result)
    outs = _wrap(op, backend, results, out_specs)
    if kd is not None and key is not None:  # a fallback is never cached: the policy may change
        _store_plan(op, key, inputs, converted, binding, (fn, ctx, backend, out_specs, bound, outs))
    if active_tapes:
        _record(op, converted, outs, bound)
    return group_outputs(op, bound, outs)


def _store_plan(
    op: OpDef, key: Any, inputs: Sequence[Any], converted: Sequence[Any], binding: dict[str, DType], made: Any
) -> None:
    """Keep what this call decided as the plan for its key, when every input converts the same way each time."""
    fn, ctx, backend, out_specs, bound, outs = made
    kinds: list[int] = []
    wants: list[DType] = []
    for x, c in zip(inputs, converted):
        if type(c) is not Tensor:
            return  # a variadic input: no plan
        if x is c:
            kinds.append(_TENSOR)
        elif isinstance(x, Variable) and x._value is c:
            kinds.append(_VARIABLE)
        elif type(x) in _WEAK_TYPES:
            kinds.append(_SCALAR)
        elif type(x) is np.ndarray:
            kinds.append(_ARRAY)
        else:
            return  # a cast tensor (the tape must see the Cast) or Python data: no plan
        wants.append(c._dtype)
    if len(op._plans) >= _MAX_PLANS:
        op._plans.clear()
    single = len(out_specs) == 1 and not op.outputs[0].variadic
    first = outs[0]._value if outs else None
    # The inline result check compares the native type, the shape tuple and the NumPy
    # dtype; a backend whose arrays carry other dtype objects is asked instead.
    inline = single and backend.native_type is not None and isinstance(getattr(first, "dtype", None), np.dtype)
    shape, dtype = out_specs[0] if single else (None, None)
    op._plans[key] = (
        fn, ctx, backend, out_specs, single, bound,
        backend.native_type if inline else _NEVER, shape, dtype,
        dtype.np if inline and dtype is not None else None,
        outs[0]._spec if single else None,
        None if all(k == _TENSOR for k in kinds) else tuple(kinds), tuple(wants),
    )  # fmt: skip


def _bind_positional(op: OpDef, inputs: Sequence[Any], attrs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
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


def _convert_inputs(
    op: OpDef, inputs: Sequence[Any], attrs: dict[str, Any]
) -> tuple[list[Any], dict[str, DType], Backend]:
    """Find the backend, bind the type variables, and turn every input into a Tensor of its bound dtype."""
    # 1. Unwrap variables (watching them on active tapes) and find the backend.
    unwrapped: list[Any] = []
    backend: Backend | None = None
    first_name = ""
    for arg, item in zip(op.inputs, inputs):
        items = item if arg.variadic else [item]
        if arg.variadic and not isinstance(item, (list, tuple)):
            raise OpDefinitionError(f"{op.name}: input {arg.name!r} is variadic and takes a list of tensors")
        vals = []
        for x in items:
            if isinstance(x, Variable):
                for tape in active_tapes:
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
            converted.append([_to_tensor(op, arg.name, x, want, backend) for x in item])
        else:
            converted.append(_to_tensor(op, arg.name, item, want, backend))
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


def _to_tensor(op: OpDef, name: str, x: Any, want: DType, backend: Backend) -> Tensor:
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


def _infer(
    op: OpDef, converted: Sequence[Any], binding: dict[str, DType], attrs: dict[str, Any]
) -> tuple[list[Shape], list[DType]]:
    shapes: dict[str, Shape | list[Shape]] = {}
    for arg, item in zip(op.inputs, converted):
        shapes[arg.name] = [Shape(t._shape) for t in item] if arg.variadic else Shape(item._shape)
    return op.infer(shapes, binding, attrs)


def check_results(op: OpDef, backend: Backend, results: Sequence[Any], out_specs: Sequence[tuple[Any, DType]]) -> None:
    """Raise KernelContractError unless ``results`` are native arrays of exactly ``out_specs``.

    The one contract check, for eager plans and session plans alike: the inline
    comparison where the backend's arrays carry NumPy dtypes, the backend's own
    ``shape_of``/``dtype_of`` otherwise.
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
        if not backend.is_native(r) or backend.shape_of(r) != shape or backend.dtype_of(r) != dtype.np:
            _contract_error(op, backend, results, out_specs)


def _wrap(op: OpDef, backend: Backend, results: Sequence[Any], out_specs: Sequence[tuple[Any, DType]]) -> list[Tensor]:
    if len(results) != len(out_specs):
        raise KernelContractError(
            f"{op.name} kernel on backend {backend.name!r} returned {len(results)} outputs, expected {len(out_specs)}"
        )
    outs = []
    for r, (shape, dtype) in zip(results, out_specs):
        if not backend.is_native(r) or backend.shape_of(r) != shape or backend.dtype_of(r) != dtype.np:
            _contract_error(op, backend, results, out_specs)
        outs.append(Tensor(r, backend, dtype, shape))
    return outs


def _contract_error(
    op: OpDef, backend: Backend, results: Sequence[Any], out_specs: Sequence[tuple[Any, DType]]
) -> None:
    got = []
    for r in results:
        if backend.is_native(r):
            got.append(f"{backend.shape_of(r)} {backend.dtype_of(r)}")
        else:
            got.append(f"a {type(r).__name__} (not a {backend.array_type})")
    expected = [f"{s} {d}" for s, d in out_specs]
    raise KernelContractError(
        f"{op.name} kernel on backend {backend.name!r} broke its contract: it returned "
        f"[{', '.join(got)}] but the shape function inferred [{', '.join(expected)}]. "
        "This is a bug in the backend's kernel; run `opcore conformance` for the backend."
    )


def group_outputs(op: OpDef, attrs: dict[str, Any], outs: Sequence[Any]) -> Any:
    """Shape a flat list of outputs like the op's return value: one tensor, a list, or a tuple."""
    if len(op.outputs) == 1:
        return outs if op.outputs[0].variadic else outs[0]
    grouped: list[Any] = []
    i = 0
    for a in op.outputs:
        if a.count:
            n = attrs[a.count]
            grouped.append(outs[i : i + n])
            i += n
        else:
            grouped.append(outs[i])
            i += 1
    return tuple(grouped)


def _record(op: OpDef, inputs: Sequence[Any], outs: Sequence[Tensor], attrs: dict[str, Any]) -> None:
    for tape in list(active_tapes):
        tape.record(op, inputs, outs, attrs)


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
        result = host_fn(host_ctx, *[[to_host(v) for v in x] if isinstance(x, list) else to_host(x) for x in natives])
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
