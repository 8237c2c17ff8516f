"""Plan and run the conformance suite for one backend, and build its report."""

from __future__ import annotations

import fnmatch
import json
import os
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import opcore
from opcore.plugins import conformance_specs, ensure_loaded, list_plugins
from opcore.registry import OpDef, get_registry
from opcore_conformance import checks
from opcore_conformance.claims import backend_claims
from opcore_conformance.spec import OpSpec
from opcore_conformance.xfail import XfailEntry

__all__ = [
    "FAILING",
    "SCHEMA_VERSION",
    "VERDICTS",
    "Item",
    "Report",
    "Result",
    "all_specs",
    "plan",
    "run",
    "run_item",
    "run_plan",
    "xfail_notes",
]

DTYPE_ORDER = [d.name for d in opcore.dtypes.ALL]
REFERENCE_BACKEND = "numpy"
#: How many Hypothesis-drawn cases each (op, dtype) gets, besides the fixed examples.
DEFAULT_EXAMPLES = 8
#: The version of the JSON report's layout (see SCHEMA.md); bumped when a field changes meaning.
SCHEMA_VERSION = 2

#: Every verdict, in the order reports list them. See SCHEMA.md for their meaning.
VERDICTS = (
    "passed",
    "failed",
    "claimed-but-failing",
    "xpass",
    "no-spec",
    "xfail",
    "passing-but-unclaimed",
    "unsupported",
    "not-claimed",
)
#: Verdicts that make a run fail (exit status 1).
FAILING = frozenset({"failed", "claimed-but-failing", "xpass", "no-spec"})
#: One-character marks of the text table.
MARKS = {
    "passed": "P",
    "failed": "F",
    "claimed-but-failing": "C",
    "xpass": "X",
    "no-spec": "?",
    "xfail": "x",
    "passing-but-unclaimed": "+",
    "unsupported": "U",
    "not-claimed": ".",
}


@dataclass
class Item:
    """One (op, backend, dtype binding) to check."""

    op: str
    backend: str
    binding: dict[str, str]
    #: Whether the backend claims it (its manifest, else its registered kernels).
    claimed: bool
    spec: OpSpec | None = field(default=None, repr=False)
    #: Whether the backend registers a kernel for it.
    kernel: bool = False
    #: The reason of the xfail entry that matches it, if any.
    xfail: str | None = None

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
    """The verdict on one item, with the numbers behind a failure."""

    op: str
    backend: str
    binding: dict[str, str]
    #: One of :data:`VERDICTS`.
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
    claimed: bool = True
    kernel: bool = True
    xfail_reason: str = ""
    traceback: str = ""


@dataclass
class Report:
    """The results of one run against one backend, and what they were run on."""

    backend: str
    results: list[Result]
    seconds: float
    opcore_version: str = opcore.__version__
    schema: int = SCHEMA_VERSION
    #: The distribution that provides the backend, and its version.
    provider: str = ""
    provider_version: str = ""
    devices: list[str] = field(default_factory=list)
    capabilities: dict[str, bool] = field(default_factory=dict)
    #: "kernels" or "manifest": where the claims came from.
    claims_source: str = "kernels"
    #: The options of the run (ops, dtypes, examples, xfail file).
    options: dict[str, Any] = field(default_factory=dict)
    #: Warnings about the run: manifest entries or xfail entries that matched nothing.
    notes: list[str] = field(default_factory=list)
    created: str = ""

    @property
    def failed(self) -> list[Result]:
        """The results that make the run fail (see :data:`FAILING`)."""
        return [r for r in self.results if r.verdict in FAILING]

    @property
    def ok(self) -> bool:
        return not self.failed

    def counts(self) -> dict[str, int]:
        """How many results have each verdict (every verdict present, zeros included)."""
        out = dict.fromkeys(VERDICTS, 0)
        for r in self.results:
            out[r.verdict] = out.get(r.verdict, 0) + 1
        return out

    def to_json(self) -> dict[str, Any]:
        """The report as the JSON document described in SCHEMA.md."""
        return {
            "schema": self.schema,
            "backend": self.backend,
            "provider": self.provider,
            "provider_version": self.provider_version,
            "devices": list(self.devices),
            "capabilities": dict(self.capabilities),
            "claims_source": self.claims_source,
            "opcore_version": self.opcore_version,
            "conformance_version": _conformance_version(),
            "created": self.created,
            "options": dict(self.options),
            "seconds": round(self.seconds, 2),
            "ok": self.ok,
            "counts": self.counts(),
            "notes": list(self.notes),
            "results": [
                {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in asdict(r).items()}
                for r in self.results
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Report:
        """Rebuild a report from :meth:`to_json` output (schema 1 or 2)."""
        names = {f.name for f in fields(Result)}
        results = [Result(**{k: v for k, v in r.items() if k in names}) for r in data["results"]]
        return cls(
            backend=data["backend"],
            results=results,
            seconds=float(data.get("seconds", 0.0)),
            opcore_version=data.get("opcore_version", ""),
            schema=int(data.get("schema", 1)),
            provider=data.get("provider", ""),
            provider_version=data.get("provider_version", ""),
            devices=list(data.get("devices", [])),
            capabilities=dict(data.get("capabilities", {})),
            claims_source=data.get("claims_source", "kernels"),
            options=dict(data.get("options", {})),
            notes=list(data.get("notes", [])),
            created=data.get("created", ""),
        )

    @classmethod
    def read_json(cls, path: str) -> Report:
        with open(path, encoding="utf-8") as f:
            return cls.from_json(json.load(f))

    def write_json(self, path: str) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_json(), f, indent=1)

    def grid(self) -> tuple[list[str], dict[str, dict[str, list[Result]]]]:
        """The op x dtype matrix: its columns, and op -> column -> results (several for multi-dtype ops)."""
        cells: dict[str, dict[str, list[Result]]] = {}
        for r in self.results:
            cells.setdefault(r.op, {}).setdefault(r.column, []).append(r)
        cols = [c for c in [*DTYPE_ORDER, "-"] if any(c in row for row in cells.values())]
        return cols, {op: cells[op] for op in sorted(cells)}

    def table(self) -> str:
        """An op x dtype matrix of one-letter marks (see the legend it prints), then the failures."""
        cols, cells = self.grid()
        width = max([len(o) for o in cells] + [2])
        head = f"{'op':<{width}}  " + " ".join(f"{c[:7]:>7}" for c in cols)
        lines = [head, "-" * len(head)]
        for op, row in cells.items():
            out = [f"{MARKS[worst(row[c])] if c in row else '':>7}" for c in cols]
            lines.append(f"{op:<{width}}  " + " ".join(out))
        counts = self.counts()
        lines.append("")
        lines.append(
            f"backend {self.backend}: "
            + ", ".join(f"{n} {k}" for k, n in counts.items() if n or k in ("passed", "failed"))
            + f" in {self.seconds:.1f}s"
        )
        lines.append("legend: " + ", ".join(f"{m} {v}" for v, m in MARKS.items()))
        lines.extend(f"note: {n}" for n in self.notes)
        seen_no_spec: set[str] = set()
        for r in self.failed:
            if r.verdict == "no-spec":
                if r.op not in seen_no_spec:
                    seen_no_spec.add(r.op)
                    lines.append("")
                    lines.append(f"NO SPEC {r.op}: {r.message}")
                continue
            lines.append("")
            lines.append(f"{r.verdict.upper()} {r.op} {r.binding} [{r.check}]: {r.message}")
            if r.shapes:
                lines.append(f"  inputs: {r.shapes}")
            if r.repro:
                lines.append("  reproduce with:")
                lines.extend("    " + line for line in r.repro.splitlines())
        return "\n".join(lines)


def worst(results: Sequence[Result]) -> str:
    """The verdict a table cell shows for several results: the first of :data:`VERDICTS` among them."""
    present = {r.verdict for r in results}
    return next(v for v in VERDICTS if v in present)


def _conformance_version() -> str:
    from opcore_conformance import __version__

    return __version__


def all_specs() -> dict[str, OpSpec]:
    """Built-in specs plus every plugin's (a plugin's spec wins for its own op)."""
    from opcore_conformance.specs import BUILTIN_SPECS

    ensure_loaded()
    out = {s.op: s for s in BUILTIN_SPECS}
    for s in conformance_specs():
        out[s.op] = s
    return out


def plan(
    backend: str,
    ops: str | None = None,
    dtypes: Sequence[str] | None = None,
    xfail: Sequence[XfailEntry] = (),
) -> list[Item]:
    """Every (op, dtype binding) to check on ``backend``, claimed or not.

    ``ops`` is a comma-separated list of fnmatch patterns of op names;
    ``dtypes`` keeps the bindings whose table column is one of them; ``xfail``
    entries mark the items they match as expected to fail.
    """
    ensure_loaded()
    reg = get_registry()
    reg.get_backend(backend)  # unknown backend: a clear error now
    specs = all_specs()
    claims = backend_claims(reg, backend)
    patterns = [p.strip() for p in ops.split(",")] if ops else None
    items: list[Item] = []
    for name in sorted(reg.ops):
        if patterns and not any(fnmatch.fnmatchcase(name, p) for p in patterns):
            continue
        op = reg.ops[name]
        for binding in op.dtype_combinations():
            names = {k: v.name for k, v in binding.items()}
            column = column_of(op, names)
            if dtypes and column not in dtypes:
                continue
            kernel = reg.kernel(name, backend, op.type_key(binding)) is not None
            claimed = claims.covers(reg, op, names, column)
            entry = next((e for e in xfail if e.matches(name, column)), None)
            items.append(
                Item(name, backend, names, claimed, specs.get(name), kernel, None if entry is None else entry.reason)
            )
    return items


def _unsupported_reason(op: OpDef, item: Item) -> str:
    """Dispatch's own rule (every dtype the kernel reads or writes), for the item's type
    variables and the outputs whose dtype they do not decide."""
    fixed = [opcore.as_dtype(a.type) for a in op.outputs if a.type not in item.binding and a.type not in op.attrs]
    dtypes = [opcore.as_dtype(d) for d in item.binding.values()]
    return opcore.get_backend(item.backend).unsupported([*dtypes, *fixed])


def run_item(item: Item, max_examples: int = DEFAULT_EXAMPLES) -> Result:
    """Run every check for one item and return its verdict (see SCHEMA.md for the verdicts)."""
    reg = get_registry()
    op = reg.ops[item.op]
    start = time.perf_counter()
    res = Result(item.op, item.backend, item.binding, "passed", column_of(op, item.binding))
    res.claimed, res.kernel = item.claimed, item.kernel
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
        if not item.claimed and not item.kernel and op.composite is None:
            # Nothing to run it with: it must raise KernelNotFoundError, not fall back.
            checks.check_unclaimed(op, spec, item.binding, item.backend)
            res.verdict = "not-claimed"
            return res
        try:
            _run_cases(op, spec, item, max_examples, res)
            rng = np.random.default_rng(7)
            for inv in spec.invalid:
                checks.check_invalid(op, inv, item.binding, item.backend, rng)
            for bad in spec.bad_values:
                checks.check_bad_values(op, bad, item.binding, item.backend, rng)
        except (checks.MissingKernel, opcore.KernelNotFoundError) as exc:
            if item.claimed:
                raise
            # A composite (or a manifest-omitted op) that needs kernels this backend lacks.
            res.verdict, res.message = "not-claimed", _first_line(exc)
            return res
        res.verdict = "passed" if item.claimed else "passing-but-unclaimed"
    except checks.CheckFailure as f:
        res.verdict, res.message, res.check = "failed", str(f), f.check
        res.max_abs_error = None if np.isnan(f.max_abs) else f.max_abs
        res.max_rel_error = None if np.isnan(f.max_rel) else f.max_rel
        res.tolerance, res.shapes, res.repro = f.tolerance, f.shapes, f.repro
        res.traceback = f.traceback
    except opcore.KernelNotFoundError as exc:
        res.verdict, res.check, res.message = "failed", "missing-kernel", _first_line(exc)
        res.traceback = "".join(traceback.format_exception(exc)[-6:])
    except Exception as exc:  # an unexpected crash in the backend is a failure with its traceback
        res.verdict, res.check = "failed", "crash"
        res.message = f"{type(exc).__name__}: {exc}"
        res.traceback = "".join(traceback.format_exception(exc)[-6:])
        res.repro = res.traceback  # kept for readers of schema 1 reports
    finally:
        res.seconds = round(time.perf_counter() - start, 4)
        _settle(res, item)
    return res


def _settle(res: Result, item: Item) -> None:
    """Name a failure by what was claimed, then apply the item's xfail entry."""
    if res.verdict == "failed" and item.claimed and not item.kernel:
        res.verdict = "claimed-but-failing"
    if item.xfail is None:
        return
    res.xfail_reason = item.xfail
    if res.verdict in FAILING:
        res.verdict = "xfail"
    elif res.verdict in ("passed", "passing-but-unclaimed"):
        res.verdict, res.check = "xpass", "xfail"
        res.message = f"listed as an expected failure ({item.xfail}) but it passed: remove it from the xfail file"


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _run_cases(op: OpDef, spec: OpSpec, item: Item, max_examples: int, res: Result) -> None:
    """Run the fixed and drawn cases; ``res.cases`` counts every case run, a failing one included.

    The first case also runs through a placeholder graph and a session, and must
    agree with eager execution.
    """
    rng = np.random.default_rng(0)
    is_f64 = all(v == "float64" or not v.startswith("float") for v in item.binding.values()) and any(
        v == "float64" for v in item.binding.values()
    )
    do_grad = op.differentiable and not spec.random and is_f64
    ref_backend = REFERENCE_BACKEND if REFERENCE_BACKEND in get_registry().backends else None
    res.cases = 0
    backend = opcore.get_backend(item.backend)
    type_attrs = [k for k, a in op.attrs.items() if a.type == "type"]

    def one(case: Any) -> None:
        # A case whose dtype attribute (Cast's DstT) names a dtype the device cannot hold
        # tests the device, not the kernel: skip it (the item's own dtypes were checked).
        for k in type_attrs:
            if k in case.attrs and not backend.supports(opcore.as_dtype(case.attrs[k]))[0]:
                return
        prepared = checks.prepare(op, spec, case, item.binding, rng)
        res.cases += 1
        checks.check_forward(op, spec, prepared, item.binding, item.backend, graph=res.cases == 1)
        if do_grad and case.grad and _small(prepared.host):
            checks.check_gradient(op, spec, prepared, item.backend, ref_backend)

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
    xfail: Sequence[XfailEntry] = (),
) -> Report:
    """Run the suite for ``backend`` and return the report.

    >>> report = run("numpy", ops="Relu", dtypes=["float32"], max_examples=1)
    >>> report.ok, report.counts()["passed"]
    (True, 1)
    """
    items = plan(backend, ops, dtypes, xfail)
    report = run_plan(backend, items, max_examples, progress)
    report.options = {"ops": ops, "dtypes": list(dtypes) if dtypes else None, "examples": max_examples}
    report.notes.extend(xfail_notes(xfail, items))
    return report


def xfail_notes(xfail: Sequence[XfailEntry], items: Sequence[Item]) -> list[str]:
    """A note for every xfail entry that matches none of ``items`` (a typo, or a stale entry)."""
    return [
        f"xfail line {e.line} ({e.op} {e.dtype}) matches nothing in this run"
        for e in xfail
        if not any(e.matches(i.op, i.column) for i in items)
    ]


def run_plan(
    backend: str,
    items: Sequence[Item],
    max_examples: int = DEFAULT_EXAMPLES,
    progress: Callable[[Item, Result], None] | None = None,
) -> Report:
    """Run planned items (from :func:`plan`) and build the report, with the backend's details."""
    start = time.perf_counter()
    results = []
    for item in items:
        r = run_item(item, max_examples)
        results.append(r)
        if progress is not None:
            progress(item, r)
    report = Report(backend, results, time.perf_counter() - start)
    report.created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    reg = get_registry()
    b = reg.get_backend(backend)
    report.provider = b.provider
    report.provider_version = next((p.version for p in list_plugins() if p.distribution == b.provider), "")
    try:
        report.devices, report.capabilities = list(b.devices()), dict(b.capabilities())
    except Exception as exc:  # a backend's own probe failing is noted, never fatal here
        report.notes.append(f"could not list the devices of {backend!r}: {type(exc).__name__}: {exc}")
    claims = backend_claims(reg, backend)
    report.claims_source = claims.source
    report.notes.extend(claims.notes)
    return report
