"""Checks of calls that must fail: invalid shapes and dtypes, invalid values, and dtypes a backend does not claim."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

import opcore
from opcore.registry import OpDef
from opcore_conformance.checks.compare import CheckFailure
from opcore_conformance.checks.inputs import (
    Prepared,
    _flatten_outputs,
    call,
    input_dtypes,
    placeholders,
    prepare,
    repro_snippet,
    shapes_text,
    with_defaults,
)
from opcore_conformance.spec import BadValues, Case, Invalid, OpSpec, make_array


def check_invalid(op: OpDef, inv: Invalid, binding: Mapping[str, str], backend: str, rng: np.random.Generator) -> None:
    """An invalid call raises the frontend's typed error, naming the op."""
    dts = inv.dtypes or input_dtypes(op, binding, with_defaults(op, inv.attrs))
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
    dts = input_dtypes(op, binding, with_defaults(op, bad.attrs))
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
            phs, feed = placeholders(g, prepared.host)
            fetches = _flatten_outputs(op(*phs, **prepared.attrs))
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
