"""Claims and verdicts: the faulty backend (see conftest.py) gets every kind of verdict."""

from __future__ import annotations

import pytest

from opcore.registry import get_registry
from opcore_conformance import FAILING, VERDICTS, parse_xfail, run
from opcore_conformance.claims import backend_claims
from opcore_conformance.runner import Report

OPS = "Add,Sub,Mul,Neg,Exp,Sqrt,Tanh,Relu,Dropout,Abs"


@pytest.fixture(scope="module")
def report(faulty: str, faulty_xfail: str) -> Report:
    return run(faulty, ops=OPS, max_examples=2, xfail=parse_xfail(faulty_xfail, "faulty-xfail.txt"))


def verdict(report: Report, op: str, column: str) -> str:
    (r,) = [r for r in report.results if r.op == op and r.column == column]
    return r.verdict


def test_claims_come_from_the_manifest(faulty: str) -> None:
    claims = backend_claims(get_registry(), faulty)
    assert claims.source == "manifest" and claims.notes == []
    reg = get_registry()
    assert claims.covers(reg, reg.ops["Add"], {"T": "float32"}, "float32")
    assert not claims.covers(reg, reg.ops["Add"], {"T": "float64"}, "float64")  # a kernel the manifest leaves out


def test_each_verdict(report: Report) -> None:
    assert verdict(report, "Add", "float32") == "passed"
    assert verdict(report, "Add", "float64") == "passing-but-unclaimed"
    assert verdict(report, "Exp", "float32") == "failed"
    assert verdict(report, "Sqrt", "float64") == "failed"
    assert verdict(report, "Relu", "float32") == "claimed-but-failing"
    assert verdict(report, "Tanh", "float32") == "xfail"
    assert verdict(report, "Neg", "float32") == "xpass"
    assert verdict(report, "Neg", "float64") == "passed"
    assert verdict(report, "Abs", "float32") == "not-claimed"
    assert verdict(report, "Dropout", "float32") == "not-claimed"  # a composite whose parts have no kernel
    assert verdict(report, "Add", "float16") == "unsupported"
    assert {r.verdict for r in report.results} == set(VERDICTS) - {"no-spec"}


def test_failures_carry_numbers_and_a_snippet(report: Report) -> None:
    (exp,) = [r for r in report.results if r.op == "Exp" and r.column == "float32"]
    assert exp.check == "forward" and exp.max_abs_error and exp.max_rel_error == pytest.approx(1e-3, rel=0.05)
    assert "rtol=" in exp.tolerance and exp.shapes
    assert "opcore.get_op('Exp')" in exp.repro and "backend='faulty'" in exp.repro
    (sqrt,) = [r for r in report.results if r.op == "Sqrt" and r.column == "float32"]
    assert sqrt.check == "crash" and "lost its <sqrt> unit" in sqrt.message
    assert "opcore.get_op('Sqrt')" in sqrt.repro and "RuntimeError" in sqrt.traceback
    (relu,) = [r for r in report.results if r.op == "Relu" and r.column == "float32"]
    assert relu.check == "missing-kernel" and relu.claimed and not relu.kernel


def test_strict_xfail_counts_xpass_as_a_failure(report: Report) -> None:
    failing = {(r.op, r.column, r.verdict) for r in report.failed}
    assert ("Neg", "float32", "xpass") in failing
    assert not any(r.op == "Tanh" for r in report.failed)
    (tanh,) = [r for r in report.results if r.op == "Tanh" and r.column == "float64"]
    assert tanh.xfail_reason == "tanh is off by a few percent <on purpose> & tracked"
    assert not report.ok and {r.verdict for r in report.failed} <= FAILING


def test_unknown_manifest_entry_is_noted(faulty: str, monkeypatch: pytest.MonkeyPatch) -> None:
    b = get_registry().get_backend(faulty)
    monkeypatch.setattr(b, "claims", [("Add", "float32"), ("NoSuchOp", "*")])
    rep = run(faulty, ops="Add", dtypes=["float32"], max_examples=1)
    assert any("NoSuchOp" in n for n in rep.notes)
    assert "note: " in rep.table()


def test_malformed_manifest_is_an_error(faulty: str, monkeypatch: pytest.MonkeyPatch) -> None:
    b = get_registry().get_backend(faulty)
    monkeypatch.setattr(b, "claims", lambda: ["Add"])
    with pytest.raises(TypeError, match=r"faulty.*\(op, dtypes\)"):
        run(faulty, ops="Add", max_examples=1)


def test_json_round_trip(report: Report) -> None:
    again = Report.from_json(report.to_json())
    assert again.to_json() | {"created": ""} == report.to_json() | {"created": ""}
