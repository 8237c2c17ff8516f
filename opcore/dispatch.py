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
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from opcore import _context
from opcore._convert import bind_positional, bind_type_vars, convert_inputs, to_tensor
from opcore._kernels import (
    FallbackWarning,
    check_allocation,
    check_dtypes,
    check_results,
    kernel_failed,
    resolve_kernel,
)
from opcore._plans import (
    _ARRAY,
    _LIST,
    _LIST_FAST,
    _SCALAR,
    _TENSOR,
    _VARIABLE,
    _attr_key,
    _call_key,
    _list_key,
)
from opcore.backend import Backend
from opcore.dtypes import DType
from opcore.errors import (
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
    "check_results",
    "clear_cache",
    "group_outputs",
    "resolve_kernel",
    "update_variables",
]

_registry = get_registry()


class Recorder(Protocol):
    """What dispatch tells a gradient tape (see :mod:`opcore.autodiff`)."""

    def record(self, op: OpDef, inputs: Sequence[Any], outputs: Sequence[Tensor], attrs: dict[str, Any]) -> None: ...

    def watch_variable(self, var: Variable) -> None: ...


class Builder(Protocol):
    """What dispatch needs of a graph to add a node (see :mod:`opcore.graph`)."""

    def add_op(self, op: OpDef, inputs: Sequence[Any], attrs: dict[str, Any], name: str | None) -> Any: ...


# This thread's graphs and tapes (opcore._context), bound here for speed on the hot path.
_state = _context.state
_MAX_PLANS = 1024
_new = object.__new__  # results are made without Tensor.__init__ on the hot path: the slots set directly


class _NEVER:
    """A type no kernel returns: plans without a native type skip the inline check."""


_WEAK_TYPES = (float, int, bool)
_SCALARS: dict[Any, Any] = {}
_MAX_SCALARS = 4096


def clear_cache() -> None:
    """Forget the cached dispatch plans (the registry does this on every change)."""
    for op in _registry.ops.values():
        op._plans.clear()
    _SCALARS.clear()


_registry.on_change = clear_cache


# --------------------------------------------------------------------------- entry point


def call_op(op: OpDef, inputs: Sequence[Any], attrs: dict[str, Any], name: str | None = None) -> Any:
    """Run ``op`` on ``inputs`` (eagerly, or as a graph node for symbolic inputs)."""
    if _context.active:  # some thread builds a graph or records: is it this one?
        if _state.graphs or _context.eager_disabled:
            return _call_slow(op, inputs, attrs, name, None)
        recording = bool(_state.tapes)
    else:
        recording = False
    # Fast paths: one or two eager tensors, or one tensor with attributes. The key of a
    # tensor pair is the spec tokens themselves (a mixed-backend pair never finds a plan);
    # one tensor with attributes takes the short keys of _attr_key, built inline here.
    n = len(inputs)
    if n and type(x := inputs[0]) is Tensor:
        key: Any = None
        if not attrs:
            if n == 1:
                plan = op._plans.get(x._spec)
                if plan is not None:
                    return _run_one(op, plan, x._value, inputs, recording)
            elif n == 2:
                y = inputs[1]
                if type(y) is Tensor:
                    plan = op._plans.get((x._spec, y._spec))
                    if plan is not None:
                        fn, ctx, backend, _, _, bound, native, shape, dtype, npdtype, spec = plan[:11]
                        try:
                            r = fn(ctx, x._value, y._value)
                        except Exception as exc:
                            kernel_failed(exc, ctx)
                            raise
                        # The common case inline: one output of the native type, as inferred.
                        if type(r) is native and r.shape == shape and r.dtype is npdtype:
                            out = _new(Tensor)
                            out._value, out._backend, out._dtype, out._shape, out._spec = r, backend, dtype, shape, spec
                            if recording:
                                _record(op, inputs, (out,), bound)
                            return out
                        return _finish(op, plan, inputs, r)
                elif op._one_input:  # an attribute by position: reduce_sum(m, 1), reshape(m, [-1])
                    t = type(y)
                    if t is int:
                        key = (x._spec, y)
                    elif t is list or t is tuple:
                        for e in y:
                            if type(e) is not int:
                                break
                        else:
                            key = (x._spec, tuple(y))
                    if key is None:
                        key = _attr_key(x._spec, attrs, inputs[1:])
            elif op._one_input:
                key = _attr_key(x._spec, attrs, inputs[1:])
        elif op._one_input:
            if n == 1 and len(attrs) == 1:  # by keyword: reduce_sum(m, axis=1), allreduce(t, reduction="sum")
                for k, v in attrs.items():
                    t = type(v)
                    if t is int or t is str:
                        key = (x._spec, k, v)
                    elif t is list or t is tuple:
                        for e in v:
                            if type(e) is not int:
                                break
                        else:
                            key = (x._spec, k, tuple(v))
            if key is None:
                key = _attr_key(x._spec, attrs, inputs[1:])
        if key is not None:
            plan = op._plans.get(key)
            if plan is None:
                return _call_slow(op, inputs, attrs, name, key)
            return _run_one(op, plan, x._value, (x,), recording)
    elif n and type(x) is list and op._list_input:  # concat([a, b], 0), stack([a, b], axis=1)
        # The keys of _plans._list_key, its two common forms built inline (a call less on the hot path).
        key = None
        if attrs or n > 2 or (n == 2 and type(inputs[1]) is not int):
            key = _list_key(x, attrs, inputs[1:])
            values = [e._value for e in x] if key is not None else []
        else:
            parts = [_LIST_FAST] if n == 1 else [_LIST_FAST, inputs[1]]
            values = []
            for e in x:
                if type(e) is not Tensor:
                    break
                parts.append(e._spec)
                values.append(e._value)
            else:
                if values:
                    key = tuple(parts)
        if key is not None:
            plan = op._plans.get(key)
            if plan is None:
                return _call_slow(op, inputs, attrs, name, key)
            # The list is copied for the tape only: a user may change it after the call.
            return _run_one(op, plan, values, (list(x) if recording else x,), recording)
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


def _run_one(op: OpDef, plan: tuple[Any, ...], native: Any, inputs: Sequence[Any], recording: bool) -> Any:
    """Run a plan for one input (a tensor's native array, or a list of them), the common result inline."""
    ctx = plan[1]
    try:
        r = plan[0](ctx, native)
    except Exception as exc:
        kernel_failed(exc, ctx)
        raise
    if type(r) is plan[6] and r.shape == (shape := plan[7]) and r.dtype is plan[9]:
        out = _new(Tensor)
        out._value, out._backend, out._dtype, out._shape, out._spec = r, plan[2], plan[8], shape, plan[10]
        if recording:
            _record(op, inputs, (out,), plan[5])
        return out
    return _finish(op, plan, inputs, r)


def call_with_key(op: OpDef, key: Any, x: Tensor, make_attrs: Any) -> Any:
    """Run the one-input ``op`` on tensor ``x`` with attributes that ``make_attrs()`` builds,
    caching the plan under ``key`` (which must determine the attributes, with ``x._spec``).

    For callers that know a cheaper key than the attributes themselves: indexing
    keys its StridedSlice plan on the index expression, not on seven attribute lists.
    """
    if type(x) is Tensor and (not _context.active or _context.executing_eagerly()):
        plan = op._plans.get(key)
        if plan is not None:
            return _run_one(op, plan, x._value, (x,), _context.active > 0 and bool(_state.tapes))
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
    inplace = bool(op.aliases) and _context.executing_eagerly() and all(_may_overwrite(v) for v in variables)
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
        return to_tensor(op, name, x, want, backend)._value
    k = (backend, want, type(x), x)
    v = _SCALARS.get(k)
    if v is None:
        v = to_tensor(op, name, x, want, backend)._value
        if len(_SCALARS) >= _MAX_SCALARS:
            _SCALARS.clear()
        _SCALARS[k] = v
    return v


def _run(op: OpDef, plan: tuple[Any, ...], inputs: Sequence[Any]) -> Any:
    """Run a plan whose inputs may be Variables, Python scalars or NumPy arrays."""
    kinds, wants = plan[11], plan[12]
    if kinds is None:
        return _finish(op, plan, inputs, _launch(plan[0], plan[1], [x._value for x in inputs]))
    backend = plan[2]
    natives = []
    for x, kind, want, arg in zip(inputs, kinds, wants, op.inputs):
        if kind == _TENSOR:
            natives.append(x._value)
        elif kind == _VARIABLE:
            for tape in _state.tapes:
                tape.watch_variable(x)
            natives.append(x._value._value)
        elif kind == _LIST:
            natives.append([t._value for t in x])
        elif kind == _SCALAR:
            natives.append(_scalar_native(op, arg.name, x, want, backend))
        else:
            natives.append(to_tensor(op, arg.name, x, want, backend)._value)
    r = _launch(plan[0], plan[1], natives)
    if _context.active and _state.tapes:  # what the tape sees: the tensors the kernel ran on
        seen = []
        for x, kind, want, v in zip(inputs, kinds, wants, natives):
            if kind == _TENSOR:
                seen.append(x)
            elif kind == _VARIABLE:
                seen.append(x._value)
            elif kind == _LIST:
                seen.append(list(x))
            else:
                seen.append(Tensor(v, backend, want, backend.shape_of(v)))
        return _finish(op, plan, seen, r)
    return _finish(op, plan, inputs, r)


def _launch(fn: Any, ctx: KernelContext, natives: Sequence[Any]) -> Any:
    try:
        return fn(ctx, *natives)
    except Exception as exc:
        kernel_failed(exc, ctx)
        raise


def _finish(op: OpDef, plan: tuple[Any, ...], inputs: Sequence[Any], result: Any) -> Any:
    """Check a planned kernel's result against the plan, wrap it, record it on tapes."""
    backend, out_specs, single, bound, native, shape, dtype, npdtype, spec = plan[2:11]
    if single:
        if type(result) is native and result.shape == shape and result.dtype == npdtype:
            out = Tensor(result, backend, dtype, shape, spec)
        else:
            out = _wrap(op, backend, (result,), out_specs)[0]
        if _context.active and _state.tapes:
            _record(op, inputs, (out,), bound)
        return out
    outs = _wrap(op, backend, tuple(result), out_specs)
    if _context.active and _state.tapes:
        _record(op, inputs, outs, bound)
    return group_outputs(op, bound, outs)


# --------------------------------------------------------------------------- the full path


def _call_slow(
    op: OpDef, inputs: Sequence[Any], attrs: dict[str, Any], name: str | None, key: Any, inplace: bool = False
) -> Any:
    ensure_loaded()
    inputs, attrs = bind_positional(op, inputs, attrs)
    bound = op.bind_attrs(attrs)
    flat = [x for item in inputs for x in (item if isinstance(item, (list, tuple)) else (item,))]

    symbolic = [x for x in flat if getattr(x, "_opcore_symbolic", False)]
    builder: Builder | None = symbolic[0].graph if symbolic else _context.building_graph()
    if builder is not None:
        return builder.add_op(op, inputs, bound, name)

    if op.composite is not None:
        converted, binding, backend = convert_inputs(op, inputs, bound)
        _infer(op, converted, binding, bound)  # reject bad input before running the parts
        return op.composite(*converted, **bound)

    converted, binding, backend = convert_inputs(op, inputs, bound)
    out_shapes, out_dtypes = _infer(op, converted, binding, bound)
    shapes = tuple(_eager_shape(op, s) for s in out_shapes)
    types = op.type_key(binding)
    kd = _registry.kernel(op.name, backend.name, types)
    ctx = KernelContext(op.name, bound, shapes, tuple(out_dtypes), binding, backend, inplace)
    out_specs = tuple(zip(shapes, out_dtypes))
    if kd is not None:
        check_dtypes(op, backend, binding, out_dtypes)
    check_allocation(op, backend, shapes, out_dtypes)
    fn = kd.fn if kd is not None else resolve_kernel(op, backend, binding)
    natives = [[t._value for t in item] if isinstance(item, list) else item._value for item in converted]
    result = _launch(fn, ctx, natives)
    results = (result,) if len(out_specs) == 1 and not isinstance(result, (tuple, list)) else tuple(result)
    outs = _wrap(op, backend, results, out_specs)
    if kd is not None and key is not None:  # a fallback is never cached: the policy may change
        _store_plan(op, key, inputs, converted, binding, (fn, ctx, backend, out_specs, bound, outs))
    if _state.tapes:
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
        if type(c) is list:  # a variadic input: planned when its tensors are used as they are
            if type(x) not in (list, tuple) or len(x) != len(c) or any(a is not b for a, b in zip(x, c)):
                return
            kinds.append(_LIST)
            wants.append(c[0]._dtype)
            continue
        if type(c) is not Tensor:
            return
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
    fixed = shape is None or None not in shape
    if not fixed:  # the kernel decides a dim (VALUE_DEPENDENT): every result goes through check_results
        inline = False
    op._plans[key] = (
        fn, ctx, backend, out_specs, single, bound,
        backend.native_type if inline else _NEVER, shape, dtype,
        dtype.np if inline and dtype is not None else None,
        outs[0]._spec if single and fixed else None,
        None if all(k == _TENSOR for k in kinds) else tuple(kinds), tuple(wants),
    )  # fmt: skip


def _infer(
    op: OpDef, converted: Sequence[Any], binding: dict[str, DType], attrs: dict[str, Any]
) -> tuple[list[Shape], list[DType]]:
    shapes: dict[str, Shape | list[Shape]] = {}
    for arg, item in zip(op.inputs, converted):
        shapes[arg.name] = [Shape(t._shape) for t in item] if arg.variadic else Shape(item._shape)
    return op.infer(shapes, binding, attrs)


def _eager_shape(op: OpDef, s: Shape) -> tuple[int | None, ...]:
    """An inferred output shape for a kernel: every dim known, but for the value-dependent ones (None)."""
    dims = s.dims
    if dims is None or any(d is None and i not in s.value_dependent for i, d in enumerate(dims)):
        raise OpDefinitionError(
            f"{op.name}: shape function left an output shape undefined in eager mode: {s} (a dimension that "
            "the kernel decides from the input values is marked opcore.shapes.VALUE_DEPENDENT)"
        )
    return dims


def _wrap(op: OpDef, backend: Backend, results: Sequence[Any], out_specs: Sequence[tuple[Any, DType]]) -> list[Tensor]:
    check_results(op, backend, results, out_specs)
    # A value-dependent dim (None in the plan) takes the size the kernel chose.
    return [
        Tensor(r, backend, dtype, backend.shape_of(r) if None in shape else shape)
        for r, (shape, dtype) in zip(results, out_specs)
    ]


def group_outputs(op: OpDef, attrs: Mapping[str, Any], outs: Sequence[Any]) -> Any:
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
    for tape in list(_state.tapes):
        tape.record(op, inputs, outs, attrs)
