"""Forward checks: values against the reference, shapes and dtypes against the shape function, eager vs graph."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

import opcore
from opcore.registry import OpDef
from opcore.shapes import Shape
from opcore_conformance.checks.compare import CheckFailure, MissingKernel, compare, worst_element
from opcore_conformance.checks.inputs import (
    Prepared,
    _flatten_outputs,
    _to64,
    call,
    placeholders,
    repro_snippet,
    shapes_text,
)
from opcore_conformance.spec import OpSpec


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
        phs, feed = placeholders(g, prepared.host, unknown_dims=unknown_dims)
        try:
            fetches = _flatten_outputs(op(*phs, **prepared.attrs))
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
