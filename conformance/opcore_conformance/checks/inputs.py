"""One case made concrete: host inputs in the tested dtypes, the call on a backend and its reproduction snippet."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import opcore
from opcore.registry import OpDef
from opcore_conformance.spec import Case, OpSpec, make_array


@dataclass
class Prepared:
    """One case made concrete: host inputs in the tested dtypes and the attrs."""

    case: Case
    host: list[Any]  # np arrays (or lists of them) in the tested dtypes
    attrs: dict[str, Any]
    dtypes: list[Any] = field(default_factory=list)


def input_dtypes(op: OpDef, binding: Mapping[str, str], attrs: Mapping[str, Any]) -> list[str]:
    out = []
    for a in op.inputs:
        if a.type in binding:
            out.append(binding[a.type])
        elif a.type in attrs:
            out.append(opcore.as_dtype(attrs[a.type]).name)
        else:
            out.append(opcore.as_dtype(a.type).name)
    return out


def with_defaults(op: OpDef, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """``attrs`` over the op's attribute defaults: what decides the input dtypes of a call."""
    return {**{k: a.default for k, a in op.attrs.items() if a.has_default}, **attrs}


def prepare(op: OpDef, spec: OpSpec, case: Case, binding: Mapping[str, str], rng: np.random.Generator) -> Prepared:
    attrs = dict(case.attrs)
    if spec.make_inputs is not None:
        host = spec.make_inputs(rng, case, binding)
    else:
        dts = input_dtypes(op, binding, with_defaults(op, attrs))
        host = []
        for i, (shape, dt) in enumerate(zip(case.shapes, dts)):
            domains = case.domains if case.domains is not None else spec.domains
            domain = domains[i] if i < len(domains) else "real"
            if isinstance(shape, list):
                host.append([make_array(rng, tuple(s), dt, domain) for s in shape])
            else:
                host.append(make_array(rng, tuple(shape), dt, domain))
    if case.values:
        dts = input_dtypes(op, binding, with_defaults(op, attrs))
        for i, v in case.values.items():
            with np.errstate(invalid="ignore"):  # NaN given to an integer dtype: whatever the cast makes of it
                host[i] = np.asarray(v).astype(dts[i])
    return Prepared(case, host, attrs)


def _to64(x: Any) -> Any:
    if isinstance(x, list):
        return [_to64(v) for v in x]
    a = np.asarray(x)
    return a.astype(np.float64) if a.dtype.kind == "f" else a.copy()


def _as_tuple(v: Any) -> tuple[Any, ...]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,)


def _flatten_outputs(v: Any) -> list[Any]:
    out: list[Any] = []
    for item in _as_tuple(v):
        if isinstance(item, list):
            out.extend(item)
        else:
            out.append(item)
    return out


def constants(host: Sequence[Any], backend: str) -> list[Any]:
    """Host inputs as constants on ``backend`` (a list input as a list of constants)."""
    return [
        [opcore.constant(v, backend=backend) for v in x] if isinstance(x, list) else opcore.constant(x, backend=backend)
        for x in host
    ]


def placeholders(g: Any, host: Sequence[Any], *, unknown_dims: bool = False) -> tuple[list[Any], dict[Any, Any]]:
    """Placeholders in ``g`` for host inputs (of unknown dimensions if asked), and the feed that gives them values."""
    phs_all: list[Any] = []
    feed: dict[Any, Any] = {}
    for i, x in enumerate(host):
        items = x if isinstance(x, list) else [x]
        phs = [
            g.placeholder(np.asarray(a).dtype.name, [None] * np.ndim(a) if unknown_dims else np.shape(a),
                          name=f"x{i}_{j}")
            for j, a in enumerate(items)
        ]  # fmt: skip
        feed.update(zip(phs, items))
        phs_all.append(phs if isinstance(x, list) else phs[0])
    return phs_all, feed


def call(op: OpDef, host: Sequence[Any], attrs: Mapping[str, Any], backend: str) -> tuple[list[Any], list[Any]]:
    """Run ``op`` on ``backend``; return (input tensors, flat output tensors)."""
    tensors = constants(host, backend)
    out = op(*tensors, **attrs)
    return tensors, _flatten_outputs(out)


def repro_snippet(op: OpDef, prepared: Prepared, backend: str) -> str:
    lines = ["import numpy as np", "import opcore", ""]
    names = []
    for i, x in enumerate(prepared.host):
        items = x if isinstance(x, list) else [x]
        parts = []
        for j, a in enumerate(items):
            n = f"x{i}_{j}" if isinstance(x, list) else f"x{i}"
            lines.append(_array_line(n, a))
            parts.append(f"opcore.constant({n}, backend={backend!r})")
        names.append(f"[{', '.join(parts)}]" if isinstance(x, list) else parts[0])
    attrs = ", ".join(f"{k}={_py(v)}" for k, v in prepared.attrs.items())
    args = ", ".join(names + ([attrs] if attrs else []))
    lines.append(f"out = opcore.get_op({op.name!r})({args})")
    lines.append("print(out)")
    return "\n".join(lines)


def _array_line(name: str, a: np.ndarray) -> str:
    if a.size <= 64:
        return f"{name} = np.array({np.asarray(a).tolist()!r}, dtype={a.dtype.name!r})"
    return f"{name} = np.random.default_rng(0).uniform(-2, 2, {a.shape!r}).astype({a.dtype.name!r})"


def _py(v: Any) -> str:
    if isinstance(v, opcore.DType):
        return f"opcore.{v.name if v.name != 'bool' else 'bool_'}"
    return repr(v)


def shapes_text(prepared: Prepared) -> str:
    parts = []
    for x in prepared.host:
        if isinstance(x, list):
            parts.append("[" + ", ".join(str(tuple(a.shape)) for a in x) + "]")
        else:
            parts.append(str(tuple(np.shape(x))))
    return ", ".join(parts) + (f"; attrs {prepared.attrs}" if prepared.attrs else "")
