"""Plan and run the conformance suite for one backend, and build its report."""

from __future__ import annotations

import fnmatch
import json
import os
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import opcore
from opcore.plugins import conformance_specs, ensure_loaded
from opcore.registry import OpDef, get_registry
from opcore_conformance import checks
from opcore_conformance.spec import OpSpec

__all__ = ["Item", "Report", "Result", "all_specs", "plan", "run", "run_item"]

DTYPE_ORDER = [d.name for d in opcore.dtypes.ALL]
REFERENCE_BACKEND = "numpy"
#: How many Hypothesis-drawn cases each (op, dtype) gets, besides the fixed examples.
DEFAULT_EXAMPLES = 8


@dataclass
class Item:
    """One (op, backend, dtype binding) to check."""

    op: str
    backend: str
    binding: dict[str, str]
    claimed: bool
    spec: OpSpec | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        return f"{self.op}[{','.join(f'{k}={v}' for k, v in self.binding.items()) or '-'}]"

    @property
    def column(self) -> str:
        """The dtype this item shows under in the op x dtype table."""
        return column_of(get_registry().ops[self.op], self.binding)


def column_of(op: OpDef, binding: dict[str, str]) -> str:
    """The table column of a binding: its first type variable, else the op's first fixed dtype."""
    if binding:
        return next(iter(binding.values()))
    for a in op.inputs + op.outputs:
        if a.type in DTYPE_ORDER:
            return a.type
    return "-"


@dataclass
class Result:
    op: str
    backend: str
    binding: dict[str, str]
    #: passed | failed | unsupported | not-claimed | no-spec
    verdict: str
    #: The op x dtype table column this result shows under.
    column: str = "-"
    message: str = ""
    check: str = ""
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    tolerance: str = ""
    shapes: str = ""
    repro: str = ""
    seconds: float = 0.0
    cases: int = 0


@dataclass
class Report:
    backend: str
    results: list[Result]
    seconds: float
    opcore_version: str = opcore.__version__
    schema: int = 1

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if r.verdict in ("failed", "no-spec")]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.results:
            out[r.verdict] = out.get(r.verdict, 0) + 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "backend": self.backend,
            "opcore_version": self.opcore_version,
            "seconds": round(self.seconds, 2),
            "counts": self.counts(),
            "results": [
                {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in asdict(r).items()}
                for r in self.results
            ],
        }

    def write_json(self, path: str) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_json(), f, indent=1)

    def table(self) -> str:
        """An op x dtype matrix: P passed, F failed, U unsupported, . not claimed, ? no spec."""
        mark = {"passed": "P", "failed": "F", "unsupported": "U", "not-claimed": ".", "no-spec": "?"}
        cells: dict[str, dict[str, set[str]]] = {}
        for r in self.results:
            col = r.column
            cells.setdefault(r.op, {}).setdefault(col, set()).add(mark[r.verdict])
        cols = [c for c in [*DTYPE_ORDER, "-"] if any(c in row for row in cells.values())]
        width = max([len(o) for o in cells] + [2])
        head = f"{'op':<{width}}  " + " ".join(f"{c[:7]:>7}" for c in cols)
        lines = [head, "-" * len(head)]
        for op in sorted(cells):
            row = cells[op]
            out = []
            for c in cols:
                marks = row.get(c, set())
                s = "F" if "F" in marks else "?" if "?" in marks else "P" if "P" in marks else "".join(sorted(marks))
                out.append(f"{s or '':>7}")
            lines.append(f"{op:<{width}}  " + " ".join(out))
        counts = self.counts()
        lines.append("")
        lines.append(
            f"backend {self.backend}: "
            + ", ".join(
                f"{counts.get(k, 0)} {k}" for k in ("passed", "failed", "unsupported", "not-claimed", "no-spec")
            )
            + f" in {self.seconds:.1f}s"
        )
        lines.append(
            "legend: P passed, F failed, U unsupported by the device, . allowed by the op but not claimed, ? no spec"
        )
        seen_no_spec: set[str] = set()
        for r in self.failed:
            if r.verdict == "no-spec":
                if r.op not in seen_no_spec:
                    seen_no_spec.add(r.op)
                    lines.append("")
                    lines.append(f"NO SPEC {r.op}: {r.message}")
                continue
            lines.append("")
            lines.append(f"FAILED {r.op} {r.binding} [{r.check}]: {r.message}")
            if r.shapes:
                lines.append(f"  inputs: {r.shapes}")
            if r.repro:
                lines.append("  reproduce with:")
                lines.extend("    " + line for line in r.repro.splitlines())
        return "\n".join(lines)


def all_specs() -> dict[str, OpSpec]:
    """Built-in specs plus every plugin's (a plugin's spec wins for its own op)."""
    from opcore_conformance.specs import BUILTIN_SPECS

    ensure_loaded()
    out = {s.op: s for s in BUILTIN_SPECS}
    for s in conformance_specs():
        out[s.op] = s
    return out


def plan(backend: str, ops: str | None = None, dtypes: Sequence[str] | None = None) -> list[Item]:
    """Every (op, dtype binding) to check on ``backend``, claimed or not."""
    ensure_loaded()
    reg = get_registry()
    reg.get_backend(backend)  # unknown backend: a clear error now
    specs = all_specs()
    patterns = [p.strip() for p in ops.split(",")] if ops else None
    items: list[Item] = []
    for name in sorted(reg.ops):
        if patterns and not any(fnmatch.fnmatchcase(name, p) for p in patterns):
            continue
        op = reg.ops[name]
        for binding in op.dtype_combinations():
            names = {k: v.name for k, v in binding.items()}
            if dtypes and next(iter(names.values()), None) not in dtypes:
                continue
            if op.composite is not None:
                claimed = True
            else:
                claimed = reg.kernel(name, backend, op.type_key(binding)) is not None
            items.append(Item(name, backend, names, claimed, specs.get(name)))
    return items


def _unsupported_reason(op: OpDef, item: Item) -> str:
    b = opcore.get_backend(item.backend)
    for d in item.binding.values():
        ok, reason = b.supports(opcore.as_dtype(d))
        if not ok:
            return reason
    return ""


def run_item(item: Item, max_examples: int = DEFAULT_EXAMPLES) -> Result:
    """Run every check for one item and return its verdict."""
    reg = get_registry()
    op = reg.ops[item.op]
    start = time.perf_counter()
    res = Result(item.op, item.backend, item.binding, "passed", column_of(op, item.binding))
    spec = item.spec
    try:
        if spec is None:
            res.verdict = "no-spec"
            res.message = (
                f"no conformance spec for {item.op}; an op plugin supplies one through the "
                "opcore_conformance_specs hook"
            )
            return res
        reason = _unsupported_reason(op, item)
        if reason:
            res.verdict, res.message = "unsupported", reason
            return res
        if not item.claimed:
            checks.check_unclaimed(op, spec, item.binding, item.backend)
            res.verdict = "not-claimed"
            return res
        res.cases = _run_cases(op, spec, item, max_examples)
        rng = np.random.default_rng(7)
        for inv in spec.invalid:
            checks.check_invalid(op, inv, item.binding, item.backend, rng)
    except checks.CheckFailure as f:
        res.verdict, res.message, res.check = "failed", str(f), f.check
        res.max_abs_error = None if np.isnan(f.max_abs) else f.max_abs
        res.max_rel_error = None if np.isnan(f.max_rel) else f.max_rel
        res.tolerance, res.shapes, res.repro = f.tolerance, f.shapes, f.repro
    except Exception as exc:  # an unexpected crash in the backend is a failure with its traceback
        res.verdict, res.check = "failed", "crash"
        res.message = f"{type(exc).__name__}: {exc}"
        res.repro = "".join(traceback.format_exception(exc)[-6:])
    finally:
        res.seconds = round(time.perf_counter() - start, 4)
    return res


def _run_cases(op: OpDef, spec: OpSpec, item: Item, max_examples: int) -> int:
    rng = np.random.default_rng(0)
    is_f64 = all(v == "float64" or not v.startswith("float") for v in item.binding.values()) and any(
        v == "float64" for v in item.binding.values()
    )
    do_grad = op.differentiable and not spec.random and is_f64
    ref_backend = REFERENCE_BACKEND if REFERENCE_BACKEND in get_registry().backends else None
    count = 0

    def one(case: Any) -> None:
        nonlocal count
        prepared = checks.prepare(op, spec, case, item.binding, rng)
        checks.check_forward(op, spec, prepared, item.binding, item.backend)
        if do_grad and case.grad and _small(prepared.host):
            checks.check_gradient(op, spec, prepared, item.backend, ref_backend)
        count += 1

    for case in spec.examples:
        one(case)
    if max_examples > 0:
        failure: list[BaseException] = []

        @settings(
            max_examples=max_examples,
            derandomize=True,
            database=None,
            deadline=None,
            phases=(Phase.explicit, Phase.generate),
            suppress_health_check=list(HealthCheck),
        )
        @given(st.data())
        def drawn(data: st.DataObject) -> None:
            case = spec.draw(data.draw, item.binding)
            try:
                one(case)
            except checks.CheckFailure as f:
                failure.append(f)
                raise

        try:
            drawn()
        except checks.CheckFailure:
            raise failure[0] from None
        except Exception as exc:
            if failure:
                raise failure[0] from None
            raise exc
    return count


def _small(host: Iterable[Any]) -> bool:
    total = 0
    for x in host:
        for a in x if isinstance(x, list) else [x]:
            total += int(np.size(a))
    return total <= checks.GRAD_MAX_ELEMENTS


def run(
    backend: str,
    ops: str | None = None,
    dtypes: Sequence[str] | None = None,
    max_examples: int = DEFAULT_EXAMPLES,
    progress: Callable[[Item, Result], None] | None = None,
) -> Report:
    """Run the suite for ``backend`` and return the report."""
    start = time.perf_counter()
    results = []
    for item in plan(backend, ops, dtypes):
        r = run_item(item, max_examples)
        results.append(r)
        if progress is not None:
            progress(item, r)
    return Report(backend, results, time.perf_counter() - start)
