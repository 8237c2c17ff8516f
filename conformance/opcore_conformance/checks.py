"""The individual checks run for one (op, backend, dtype binding)."""

from __future__ import annotations

import math
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import opcore
from opcore.registry import OpDef
from opcore.shapes import Shape
from opcore_conformance.spec import BadValues, Case, Invalid, OpSpec, make_array

#: (rtol, atol) for comparing a dtype's results with the float64 reference.
TOLERANCES: dict[str, tuple[float, float]] = {
    "float16": (5e-3, 5e-3),
    "float32": (2e-5, 1e-6),
    "float64": (1e-10, 1e-12),
}
GRAD_TOL = (2e-4, 2e-6)
GRAD_MAX_ELEMENTS = 48


class CheckFailure(AssertionError):
    """A conformance check failed; carries the numbers and a reproduction snippet."""

    def __init__(
        self,
        message: str,
        *,
        check: str,
        max_abs: float = math.nan,
        max_rel: float = math.nan,
        tolerance: str = "",
        shapes: str = "",
        repro: str = "",
        traceback: str = "",
    ) -> None:
        super().__init__(message)
        self.check = check
        self.max_abs = max_abs
        self.max_rel = max_rel
        self.tolerance = tolerance
        self.shapes = shapes
        self.repro = repro
        self.traceback = traceback

    @classmethod
    def crashed(cls, message: str, exc: BaseException, *, check: str, shapes: str, repro: str) -> CheckFailure:
        """A failure for code that raised ``exc``, keeping the last frames of its traceback."""
        frames = "".join(traceback.format_exception(exc)[-6:])
        return cls(message, check=check, shapes=shapes, repro=repro, traceback=frames)


class MissingKernel(CheckFailure):
    """The op, or an op it is built from, has no kernel on the backend (KernelNotFoundError)."""


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


def prepare(op: OpDef, spec: OpSpec, case: Case, binding: Mapping[str, str], rng: np.random.Generator) -> Prepared:
    attrs = dict(case.attrs)
    if spec.make_inputs is not None:
        host = spec.make_inputs(rng, case, binding)
    else:
        dts = input_dtypes(op, binding, {**{k: a.default for k, a in op.attrs.items() if a.has_default}, **attrs})
        host = []
        for i, (shape, dt) in enumerate(zip(case.shapes, dts)):
            domains = case.domains if case.domains is not None else spec.domains
            domain = domains[i] if i < len(domains) else "real"
            if isinstance(shape, list):
                host.append([make_array(rng, tuple(s), dt, domain) for s in shape])
            else:
                host.append(make_array(rng, tuple(shape), dt, domain))
    if case.values:
        dts = input_dtypes(op, binding, {**{k: a.default for k, a in op.attrs.items() if a.has_default}, **attrs})
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


def call(op: OpDef, host: Sequence[Any], attrs: Mapping[str, Any], backend: str) -> tuple[list[Any], list[Any]]:
    """Run ``op`` on ``backend``; return (input tensors, flat output tensors)."""
    tensors = [
        [opcore.constant(v, backend=backend) for v in x] if isinstance(x, list) else opcore.constant(x, backend=backend)
        for x in host
    ]
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


def compare(actual: np.ndarray, expected: np.ndarray, dtype: str, scale: float) -> tuple[bool, float, float, str]:
    """Compare with dtype-aware tolerances; NaN matches NaN and infinities must match exactly."""
    a = np.asarray(actual)
    e = np.asarray(expected)
    if a.shape != e.shape:
        return False, math.inf, math.inf, "shape"
    if a.dtype.kind not in "fc" or dtype not in TOLERANCES:
        same = np.array_equal(a, e.astype(a.dtype) if e.dtype != a.dtype else e)
        diff = 0.0 if same else float(np.max(np.abs(a.astype(np.float64) - e.astype(np.float64)))) if a.size else 0.0
        return bool(same), diff, diff, "exact"
    rtol, atol = TOLERANCES[dtype]
    rtol, atol = rtol * scale, atol * scale
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    if dtype == "float16":
        # A float16 result is at best the float64 value rounded to float16.
        e64 = e64.astype(np.float16).astype(np.float64)
    both_nan = np.isnan(a64) & np.isnan(e64)
    inf = np.isinf(e64) | np.isinf(a64)
    inf_ok = ~inf | (a64 == e64)
    finite = ~both_nan & ~inf
    with np.errstate(all="ignore"):
        err = np.where(finite, np.abs(a64 - e64), 0.0)
        rel = np.where(finite & (e64 != 0), err / np.abs(e64), 0.0)
    ok = bool(
        np.all(inf_ok)
        and np.all(both_nan | inf | (err <= atol + rtol * np.abs(e64)))
        and not np.any(np.isnan(a64) & ~np.isnan(e64))
    )
    return ok, float(err.max(initial=0.0)), float(rel.max(initial=0.0)), f"rtol={rtol:g}, atol={atol:g}"


def worst_element(actual: np.ndarray, expected: np.ndarray) -> str:
    """Where two same-shaped arrays differ most: ``"at index (1, 2): expected 0.5, got 0.49"``."""
    a = np.asarray(actual).astype(np.float64)
    e = np.asarray(expected).astype(np.float64)
    if a.shape != e.shape or a.size == 0:
        return ""
    with np.errstate(all="ignore"):
        err = np.abs(a - e)
    # A NaN or an infinity where the other side has a finite value is the worst kind of difference.
    err = np.where(np.isnan(a) != np.isnan(e), np.inf, err)
    err = np.where(np.isnan(err), 0.0, err)
    idx = np.unravel_index(int(np.argmax(err)), a.shape)
    where = tuple(int(i) for i in idx)
    # Integers (an index, a count) read as integers.
    want, got = (np.asarray(v)[where].item() if np.asarray(v).dtype.kind in "iub" else w[where].item()
                 for v, w in ((expected, e), (actual, a)))  # fmt: skip
    return f"at index {where}: expected {want!r}, got {got!r}"


def check_forward(
    op: OpDef, spec: OpSpec, prepared: Prepared, binding: Mapping[str, str], backend: str, *, graph: bool = False
) -> None:
    """Forward values vs the reference, output shapes/dtypes vs the shape function, no input mutation."""
    before = [_to64(x) for x in prepared.host]
    snap = repro_snippet(op, prepared, backend)
    shp = shapes_text(prepared)
    try:
        tensors, outs = call(op, prepared.host, prepared.attrs, backend)
    except opcore.KernelContractError as exc:
        raise CheckFailure(str(exc), check="contract", shapes=shp, repro=snap) from None
    except opcore.KernelNotFoundError as exc:
        # The caller decides whether this is a gap the backend owns up to or a broken claim.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "KernelNotFoundError"
        raise MissingKernel(first, check="missing-kernel", shapes=shp, repro=snap) from None
    except Exception as exc:  # the kernel crashed: a failure, with the snippet that shows it
        raise CheckFailure.crashed(f"{type(exc).__name__}: {exc}", exc, check="crash", shapes=shp, repro=snap) from None
    # inputs must not be mutated (on the device or on the host)
    for i, (t, b) in enumerate(zip(tensors, before)):
        items = t if isinstance(t, list) else [t]
        bs = b if isinstance(b, list) else [b]
        for ti, bi in zip(items, bs):
            if not np.array_equal(_to64(ti.numpy()), bi, equal_nan=True):
                raise CheckFailure(f"input {i} was mutated by the kernel", check="mutation", shapes=shp, repro=snap)
    # shapes and dtypes as inferred by the shape function
    bound = op.bind_attrs(prepared.attrs)
    in_shapes: dict[str, Any] = {}
    for a, x in zip(op.inputs, prepared.host):
        in_shapes[a.name] = [Shape(np.shape(v)) for v in x] if isinstance(x, list) else Shape(np.shape(x))
    binding_d = {k: opcore.as_dtype(v) for k, v in binding.items()}
    exp_shapes, exp_dtypes = op.infer(in_shapes, binding_d, bound)
    for k, (o, s, d) in enumerate(zip(outs, exp_shapes, exp_dtypes)):
        if not shape_agrees(o.shape, s) or o.dtype is not d:
            raise CheckFailure(
                f"output {k} has shape {o.shape} dtype {o.dtype}, the shape function says {s} {d}"
                + (" (? marks a value-dependent dimension)" if s.value_dependent else ""),
                check="shape",
                shapes=shp,
                repro=snap,
            )
    if graph:
        dynamic = any(s.value_dependent for s in exp_shapes)
        check_graph(op, spec, prepared, outs, backend, snap, shp, unknown_dims=dynamic)
    if spec.random:
        _check_random(op, spec, prepared, outs, backend, snap, shp)
        return
    ref = _flatten_outputs(spec.reference(*[_to64(x) for x in prepared.host], **bound))
    positions = spec.compare_outputs if spec.compare_outputs is not None else range(len(outs))
    for k in positions:
        o, r = outs[k], np.asarray(ref[k])
        actual = o.numpy()
        ok, max_abs, max_rel, tol = compare(actual, r, o.dtype.name, spec.tolerance)
        if not ok and tol == "shape":
            raise CheckFailure(
                f"output {k} has shape {Shape(actual.shape)}, the reference's has {Shape(r.shape)}",
                check="forward",
                shapes=shp,
                repro=snap,
            )
        if not ok:
            worst = worst_element(actual, r)
            case = f"case {prepared.case.label!r}: " if prepared.case.label else ""
            raise CheckFailure(
                f"{case}output {k} differs from the reference: max abs error {max_abs:.3g}, "
                f"max rel error {max_rel:.3g} ({tol})" + (f"; worst element {worst}" if worst else ""),
                check="forward",
                max_abs=max_abs,
                max_rel=max_rel,
                tolerance=tol,
                shapes=shp,
                repro=snap,
            )


def shape_agrees(actual: Shape, inferred: Shape) -> bool:
    """Whether an eager result's shape is what the shape function inferred (any size where it is value-dependent)."""
    if inferred.value_dependent:
        return actual.rank == inferred.rank and actual.is_compatible_with(inferred)
    return actual == inferred


def check_graph(
    op: OpDef,
    spec: OpSpec,
    prepared: Prepared,
    eager: Sequence[Any],
    backend: str,
    snap: str,
    shp: str,
    unknown_dims: bool = False,
) -> None:
    """The same call through a placeholder graph and a session agrees with eager execution.

    With ``unknown_dims`` (an op with value-dependent output dimensions) it runs
    twice more: with placeholders whose dimensions are all unknown, and with an
    Identity after each output, so that the session plans an op whose input
    shapes are only known at run time.
    """
    _graph_run(op, spec, prepared, eager, backend, snap, shp, unknown_dims=False, downstream=False)
    if unknown_dims:
        _graph_run(op, spec, prepared, eager, backend, snap, shp, unknown_dims=True, downstream=False)
        if all(_has_identity(backend, e.dtype) for e in eager):
            _graph_run(op, spec, prepared, eager, backend, snap, shp, unknown_dims=True, downstream=True)


def _has_identity(backend: str, dtype: Any) -> bool:
    return opcore.get_registry().kernel("Identity", backend, (dtype,)) is not None


def _graph_run(
    op: OpDef,
    spec: OpSpec,
    prepared: Prepared,
    eager: Sequence[Any],
    backend: str,
    snap: str,
    shp: str,
    *,
    unknown_dims: bool,
    downstream: bool,
) -> None:
    how = " (placeholders of unknown dimensions)" if unknown_dims else ""
    how = " (placeholders of unknown dimensions, an Identity after each output)" if downstream else how
    g = opcore.Graph()
    with g.as_default():
        placeholders: list[Any] = []
        feed: dict[Any, Any] = {}
        for i, x in enumerate(prepared.host):
            items = x if isinstance(x, list) else [x]
            phs = [
                g.placeholder(np.asarray(a).dtype.name, [None] * np.ndim(a) if unknown_dims else np.shape(a),
                              name=f"x{i}_{j}")
                for j, a in enumerate(items)
            ]  # fmt: skip
            feed.update(zip(phs, items))
            placeholders.append(phs if isinstance(x, list) else phs[0])
        try:
            fetches = _flatten_outputs(op(*placeholders, **prepared.attrs))
            if downstream:
                fetches = [opcore.identity(f) for f in fetches]
        except Exception as exc:
            raise CheckFailure(
                f"building the graph{how} failed where eager execution worked: {type(exc).__name__}: {exc}",
                check="graph",
                shapes=shp,
                repro=snap,
            ) from None
    for k, (e, f) in enumerate(zip(eager, fetches)):
        if not f.shape.is_compatible_with(e.shape):
            raise CheckFailure(
                f"output {k} of the graph{how} has the static shape {f.shape}, which does not admit the eager "
                f"result's shape {e.shape}",
                check="graph",
                shapes=shp,
                repro=snap,
            )
    try:
        with opcore.Session(graph=g, backend=backend) as sess:
            got = sess.run(fetches, feed_dict=feed)
    except Exception as exc:
        raise CheckFailure.crashed(
            f"running the graph{how} in a session failed where eager execution worked: {type(exc).__name__}: {exc}",
            exc,
            check="graph",
            shapes=shp,
            repro=snap,
        ) from None
    for k, (e, v) in enumerate(zip(eager, got)):
        actual, expected = np.asarray(v), e.numpy()
        if actual.shape != expected.shape or actual.dtype != expected.dtype:
            raise CheckFailure(
                f"output {k} of the session{how} is {actual.shape} {actual.dtype}, eager gave {expected.shape} "
                f"{expected.dtype}",
                check="graph",
                shapes=shp,
                repro=snap,
            )
        if spec.random:
            continue  # the values of a random op depend on its stream, not only on its inputs
        ok, max_abs, max_rel, tol = compare(actual, expected, e.dtype.name, spec.tolerance)
        if not ok:
            raise CheckFailure(
                f"output {k} of the session{how} differs from eager execution: max abs error {max_abs:.3g} ({tol}); "
                f"worst element {worst_element(actual, expected)} (eager value as expected)",
                check="graph",
                max_abs=max_abs,
                max_rel=max_rel,
                tolerance=tol,
                shapes=shp,
                repro=snap,
            )


def _check_random(
    op: OpDef, spec: OpSpec, prepared: Prepared, outs: list[Any], backend: str, snap: str, shp: str
) -> None:
    _, again = call(op, prepared.host, prepared.attrs, backend)
    for a, b in zip(outs, again):
        if not np.array_equal(a.numpy(), b.numpy()):
            raise CheckFailure(
                "the same seeds gave different values (not reproducible)", check="random", shapes=shp, repro=snap
            )
    try:
        spec.reference(outs[0].numpy(), **op.bind_attrs(prepared.attrs))
    except AssertionError as exc:
        raise CheckFailure(f"sample statistics are off: {exc}", check="random", shapes=shp, repro=snap) from None


def _grad_positions(op: OpDef, spec: OpSpec, prepared: Prepared) -> list[int]:
    """Floating inputs to differentiate (the spec may narrow them down)."""
    out = []
    for i, x in enumerate(prepared.host):
        first = x[0] if isinstance(x, list) and x else x
        if isinstance(first, np.ndarray) and first.dtype.kind == "f":
            out.append(i)
    if spec.grad_inputs is not None:
        out = [i for i in out if i in spec.grad_inputs]
    return out


def check_gradient(op: OpDef, spec: OpSpec, prepared: Prepared, backend: str, reference_backend: str | None) -> None:
    """Gradients by the tape vs central finite differences of the reference, in float64."""
    positions = _grad_positions(op, spec, prepared)
    if not positions:
        return
    host = [_to64(x) for x in prepared.host]
    bound = op.bind_attrs(prepared.attrs)
    rng = np.random.default_rng(1)
    ref_out = _flatten_outputs(spec.reference(*host, **bound))
    float_outs = [k for k, r in enumerate(ref_out) if np.asarray(r).dtype.kind == "f"]
    weights = {k: rng.uniform(0.5, 1.5, np.shape(ref_out[k])) for k in float_outs}

    def loss(inputs: list[Any]) -> float:
        outs = _flatten_outputs(spec.reference(*inputs, **bound))
        return float(sum(np.sum(weights[k] * outs[k]) for k in float_outs))

    analytic = _tape_gradients(op, host, bound, positions, weights, backend)
    shp = shapes_text(prepared)
    rtol, atol = GRAD_TOL[0] * spec.grad_tolerance, GRAD_TOL[1] * spec.grad_tolerance
    tol_text = f"rtol={rtol:g}, atol={atol:g}"
    snap = grad_repro_snippet(op, prepared, backend, positions, weights, tol_text)
    for pos, grads in zip(positions, analytic):
        items = host[pos] if isinstance(host[pos], list) else [host[pos]]
        for j, (x, g) in enumerate(zip(items, grads)):
            numeric = np.zeros_like(x)
            flat = x.reshape(-1)
            for idx in range(flat.size):
                orig = flat[idx]
                eps = 1e-6 * max(1.0, abs(orig))
                flat[idx] = orig + eps
                up = loss(host)
                flat[idx] = orig - eps
                down = loss(host)
                flat[idx] = orig
                numeric.reshape(-1)[idx] = (up - down) / (2 * eps)
            got = np.zeros_like(x) if g is None else g
            err = np.abs(got - numeric)
            if not np.all(err <= atol + rtol * np.abs(numeric)) or (g is None and np.any(numeric != 0)):
                max_abs = float(err.max(initial=0.0))
                worst = worst_element(got, numeric)
                raise CheckFailure(
                    f"gradient of input {pos}{f'[{j}]' if isinstance(host[pos], list) else ''} differs from central "
                    f"finite differences: max abs error {max_abs:.3g} (gradient tolerance {tol_text})"
                    + (" (the tape returned None)" if g is None else "")
                    + (f"; worst element {worst} (finite differences as expected)" if worst else ""),
                    check="gradient",
                    max_abs=max_abs,
                    tolerance=tol_text,
                    shapes=shp,
                    repro=snap,
                )
    if reference_backend is not None and reference_backend != backend:
        theirs = _tape_gradients(op, host, bound, positions, weights, reference_backend)
        for pos, mine, ref in zip(positions, analytic, theirs):
            for a, b in zip(mine, ref):
                if (a is None) != (b is None) or (a is not None and not np.allclose(a, b, rtol=1e-8, atol=1e-10)):
                    raise CheckFailure(
                        f"gradient of input {pos} differs from the {reference_backend} backend's",
                        check="gradient",
                        shapes=shp,
                        repro=snap,
                    )


def grad_repro_snippet(
    op: OpDef,
    prepared: Prepared,
    backend: str,
    positions: Sequence[int],
    weights: Mapping[int, np.ndarray],
    tolerance: str,
) -> str:
    """A program that replays the gradient the check computed: the tape, the seeds and the tolerance."""
    lines = [
        f"# gradient check: the tape's gradients vs central finite differences in float64 ({tolerance})",
        "import numpy as np",
        "import opcore",
        "",
    ]
    args = []
    for i, x in enumerate(prepared.host):
        items = x if isinstance(x, list) else [x]
        names = []
        for j, a in enumerate(items):
            n = f"x{i}_{j}" if isinstance(x, list) else f"x{i}"
            lines.append(_array_line(n, np.asarray(a).astype(np.float64) if a.dtype.kind == "f" else a))
            names.append(n)
        args.append(f"[{', '.join(names)}]" if isinstance(x, list) else names[0])
    lines.append(f"inputs = [{', '.join(args)}]")
    lines.append(
        f"inputs = [[opcore.constant(v, backend={backend!r}) for v in x] if isinstance(x, list) "
        f"else opcore.constant(x, backend={backend!r}) for x in inputs]"
    )
    for k, w in weights.items():
        lines.append(f"w{k} = opcore.constant(np.array({np.asarray(w).tolist()!r}), backend={backend!r})")
    attrs = "".join(f", {k}={_py(v)}" for k, v in prepared.attrs.items())
    lines += [
        "with opcore.GradientTape() as tape:",
        f"    for p in {list(positions)!r}:",
        "        tape.watch(inputs[p])",
        f"    out = opcore.get_op({op.name!r})(*inputs{attrs})",
        "outs = [o for item in (out if isinstance(out, (tuple, list)) else [out])",
        "        for o in (item if isinstance(item, list) else [item])]",
        f"grads = tape.gradient([{', '.join(f'outs[{k}]' for k in weights)}],",
        f"                      [inputs[p] if isinstance(inputs[p], list) else [inputs[p]] for p in {list(positions)!r}],",
        f"                      output_gradients=[{', '.join(f'w{k}' for k in weights)}])",
        "print(grads)",
    ]
    return "\n".join(lines)


def _tape_gradients(
    op: OpDef,
    host: list[Any],
    attrs: Mapping[str, Any],
    positions: list[int],
    weights: Mapping[int, np.ndarray],
    backend: str,
) -> list[list[Any]]:
    tensors = [
        [opcore.constant(v, backend=backend) for v in x] if isinstance(x, list) else opcore.constant(x, backend=backend)
        for x in host
    ]
    with opcore.GradientTape() as tape:
        for p in positions:
            tape.watch(tensors[p])
        outs = _flatten_outputs(op(*tensors, **attrs))
    targets = [outs[k] for k in weights]
    seeds = [opcore.constant(weights[k], backend=backend) for k in weights]
    sources = [tensors[p] if isinstance(tensors[p], list) else [tensors[p]] for p in positions]
    grads = tape.gradient(targets, sources, output_gradients=seeds)
    return [[None if g is None else g.numpy() for g in group] for group in grads]


def check_invalid(op: OpDef, inv: Invalid, binding: Mapping[str, str], backend: str, rng: np.random.Generator) -> None:
    """An invalid call raises the frontend's typed error, naming the op."""
    dts = inv.dtypes or input_dtypes(
        op, binding, {**{k: a.default for k, a in op.attrs.items() if a.has_default}, **inv.attrs}
    )
    host = []
    for shape, dt in zip(inv.shapes, dts):
        if isinstance(shape, list):
            host.append([make_array(rng, tuple(s), dt) for s in shape])
        else:
            host.append(make_array(rng, tuple(shape), dt))
    expected = getattr(opcore.errors, inv.error)
    try:
        call(op, host, inv.attrs, backend)
    except expected as exc:
        if op.name not in str(exc):
            raise CheckFailure(
                f"{inv.error} was raised but its message does not name the op: {exc}", check="invalid"
            ) from None
        return
    except Exception as exc:
        raise CheckFailure(
            f"invalid call {inv.label or inv.shapes} raised {type(exc).__name__}: {exc}; expected {inv.error} from the frontend",
            check="invalid",
        ) from None
    raise CheckFailure(f"invalid call {inv.label or inv.shapes} {inv.attrs} did not raise {inv.error}", check="invalid")


def bad_values_inputs(op: OpDef, bad: BadValues, binding: Mapping[str, str], rng: np.random.Generator) -> list[Any]:
    """The host inputs of a :class:`BadValues` call, in the tested dtypes."""
    dts = input_dtypes(op, binding, {**{k: a.default for k, a in op.attrs.items() if a.has_default}, **bad.attrs})
    host: list[Any] = []
    for i, (shape, dt) in enumerate(zip(bad.shapes, dts)):
        if i in bad.values:
            host.append(np.asarray(bad.values[i]).astype(dt))
        elif isinstance(shape, list):
            host.append([make_array(rng, tuple(s), dt) for s in shape])
        else:
            host.append(make_array(rng, tuple(shape), dt))
    return host


def check_bad_values(
    op: OpDef, bad: BadValues, binding: Mapping[str, str], backend: str, rng: np.random.Generator
) -> None:
    """Invalid input values raise the same typed error, naming the op, the position and the value, on every backend.

    Eagerly, and from a session run (where a device backend may read its error
    flags at the end of the run): a result instead of the error, another error
    type, or a message without the position and value fails with check ``bad-values``.
    """
    prepared = Prepared(
        Case(list(bad.shapes), dict(bad.attrs), bad.label), bad_values_inputs(op, bad, binding, rng), dict(bad.attrs)
    )
    snap = repro_snippet(op, prepared, backend)
    shp = shapes_text(prepared)
    expected = getattr(opcore.errors, bad.error)
    what = f"{op.name} with {bad.label or 'invalid values'} ({_values_text(bad, prepared.host)})"
    rule = f"every backend must raise {bad.error} naming the op, the position and the value (see the op's doc)"

    def judge(run: Any, where: str) -> None:
        try:
            got = run()
        except expected as exc:
            missing = [m for m in (op.name, *bad.mentions) if m not in str(exc)]
            if missing:
                raise CheckFailure(
                    f"{what} {where}: {bad.error} was raised but its message lacks {missing}: {exc}",
                    check="bad-values",
                    shapes=shp,
                    repro=snap,
                ) from None
            return
        except Exception as exc:
            raise CheckFailure.crashed(
                f"{what} {where}: raised {type(exc).__name__}: {exc}; {rule}",
                exc,
                check="bad-values",
                shapes=shp,
                repro=snap,
            ) from None
        raise CheckFailure(
            f"{what} {where}: returned {_short(got)} instead of raising {bad.error}; {rule}",
            check="bad-values",
            shapes=shp,
            repro=snap,
        )

    def eager() -> Any:
        _, outs = call(op, prepared.host, prepared.attrs, backend)
        return [o.numpy() for o in outs]

    def session() -> Any:
        g = opcore.Graph()
        with g.as_default():
            feed: dict[Any, Any] = {}
            placeholders: list[Any] = []
            for i, x in enumerate(prepared.host):
                items = x if isinstance(x, list) else [x]
                phs = [g.placeholder(a.dtype.name, np.shape(a), name=f"x{i}_{j}") for j, a in enumerate(items)]
                feed.update(zip(phs, items))
                placeholders.append(phs if isinstance(x, list) else phs[0])
            fetches = _flatten_outputs(op(*placeholders, **prepared.attrs))
        with opcore.Session(graph=g, backend=backend) as sess:
            return sess.run(fetches, feed_dict=feed)

    judge(eager, "in eager execution")
    judge(session, "in a session")


def _values_text(bad: BadValues, host: Sequence[Any]) -> str:
    parts = [f"input {i} = {np.asarray(host[i]).tolist()!r}" for i in sorted(bad.values)]
    return ", ".join(parts + ([f"attrs {bad.attrs}"] if bad.attrs else []))


def _short(results: Sequence[Any]) -> str:
    text = ", ".join(np.array2string(np.asarray(r), threshold=8, precision=4) for r in results)
    return text if len(text) <= 200 else text[:197] + "..."


def check_unclaimed(op: OpDef, spec: OpSpec, binding: Mapping[str, str], backend: str) -> None:
    """A dtype the backend does not claim raises KernelNotFoundError (no silent fallback)."""
    rng = np.random.default_rng(0)
    case = spec.examples[0] if spec.examples else None
    if case is None:
        return
    prepared = prepare(op, spec, case, binding, rng)
    try:
        call(op, prepared.host, prepared.attrs, backend)
    except opcore.KernelNotFoundError:
        return
    raise CheckFailure(f"{op.name} ran on {backend} for {dict(binding)} without a registered kernel", check="fallback")
