"""The conformance runner's verdicts on a backend with gaps and a wrong kernel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from opcore_conformance import run


def test_toy_backend_gets_every_kind_of_verdict(toy: str) -> None:
    report = run(toy, ops="Add,Mul,Sub", max_examples=2)
    by = {(r.op, r.column): r for r in report.results}
    assert by[("Add", "float32")].verdict == "passed"
    # A deliberately wrong kernel: a failure with the numbers and a reproduction snippet.
    bad = by[("Mul", "float32")]
    assert bad.verdict == "failed", bad
    assert "opcore.get_op('Mul')" in bad.repro and "backend='toy'" in bad.repro
    assert by[("Sub", "float32")].verdict == "not-claimed"
    assert report.failed == [bad] and not report.ok
    # The toy device has no float64: reported as unsupported, with the reason, never as a pass.
    f64 = by[("Add", "float64")]
    assert f64.verdict == "unsupported" and "float64" in f64.message
    table = report.table()
    assert "FAILED Mul" in table and "reproduce with:" in table


def test_failure_snippet_reproduces_the_error(toy: str) -> None:
    bad = next(r for r in run(toy, ops="Mul", dtypes=["float32"], max_examples=1).results if r.verdict == "failed")
    code = "import tests.conftest as c, opcore; opcore.register_plugin(c.ToyPlugin(), name='toy-backend')\n" + bad.repro
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert out.returncode != 0 and "KernelContractError" in out.stderr


def test_pytest_pyargs_entry_point_runs_items() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--pyargs",
            "opcore_conformance",
            "--backend",
            "numpy",
            "--opcore-ops",
            "myorg.*,Relu",
            "--opcore-examples",
            "2",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout[-2000:]
    assert "11 passed" in out.stdout, out.stdout[-500:]
