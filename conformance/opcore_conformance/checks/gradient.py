"""Gradient checks: the tape's gradients vs central finite differences of the reference, and vs another backend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

import opcore
from opcore.registry import OpDef
from opcore_conformance.checks.compare import CheckFailure, worst_element
from opcore_conformance.checks.inputs import Prepared, _array_line, _flatten_outputs, _py, _to64, constants, shapes_text
from opcore_conformance.spec import OpSpec

GRAD_TOL = (2e-4, 2e-6)
GRAD_MAX_ELEMENTS = 48


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
    tensors = constants(host, backend)
    with opcore.GradientTape() as tape:
        for p in positions:
            tape.watch(tensors[p])
        outs = _flatten_outputs(op(*tensors, **attrs))
    targets = [outs[k] for k in weights]
    seeds = [opcore.constant(weights[k], backend=backend) for k in weights]
    sources = [tensors[p] if isinstance(tensors[p], list) else [tensors[p]] for p in positions]
    grads = tape.gradient(targets, sources, output_gradients=seeds)
    return [[None if g is None else g.numpy() for g in group] for group in grads]
