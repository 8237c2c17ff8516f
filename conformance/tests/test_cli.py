"""``opcore conformance`` end to end: JSON against the documented schema, HTML, Markdown, xfail, --diff."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from opcore_conformance import SCHEMA_VERSION, load_schema
from opcore_conformance.cli import main

#: The console script beside this interpreter (installed with opcore).
OPCORE = str(Path(sys.executable).with_name("opcore"))


def opcore_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPCORE, *args], capture_output=True, text=True)


def valid(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    jsonschema.validate(data, load_schema())
    assert data["schema"] == SCHEMA_VERSION
    return data


def test_the_schema_is_a_valid_json_schema_that_rejects_bad_reports() -> None:
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"schema": 2, "backend": "numpy", "results": []}, schema)


def test_numpy_subset_json_html_markdown(tmp_path: Path) -> None:
    j, h, m = tmp_path / "r.json", tmp_path / "r.html", tmp_path / "r.md"
    out = opcore_cli(
        "conformance", "--backend", "numpy", "--ops", "Add,Softmax,Dropout", "--dtypes", "float32", "float64",
        "--examples", "2", "--json", str(j), "--html", str(h), "--markdown", str(m),
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    data = valid(j)
    assert data["backend"] == "numpy" and data["provider"] == "opcore-numpy" and data["ok"] is True
    assert {r["op"] for r in data["results"]} == {"Add", "Softmax", "Dropout"}
    assert {r["column"] for r in data["results"]} == {"float32", "float64"}
    verdicts = {(r["op"], r["column"]): r["verdict"] for r in data["results"]}
    assert verdicts[("Add", "float32")] == "passed"
    assert verdicts[("Dropout", "float32")] == "passing-but-unclaimed"  # a composite: no kernel of its own
    assert data["options"] == {"ops": "Add,Softmax,Dropout", "dtypes": ["float32", "float64"], "examples": 2,
                               "xfail_file": None}  # fmt: skip
    assert "opcore conformance: numpy" in h.read_text() and "PASSED" in h.read_text()
    assert m.read_text().startswith("## opcore conformance: `numpy` — ✅ passed")
    assert "backend numpy: 4 passed, 0 failed, 2 passing-but-unclaimed" in out.stdout


def test_numexpr_example_backend_shows_its_gaps(tmp_path: Path) -> None:
    j = tmp_path / "numexpr.json"
    out = opcore_cli("conformance", "--backend", "numexpr", "--quiet", "--examples", "2", "--json", str(j))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    data = valid(j)
    assert data["provider"] == "opcore-numexpr" and data["claims_source"] == "kernels"
    by = {(r["op"], r["column"]): r for r in data["results"]}
    for op in ("Add", "Sub", "Mul", "RealDiv", "Exp", "Log", "Sin", "Tanh", "Sigmoid", "Softplus"):
        for dt in ("float32", "float64"):
            assert by[(op, dt)]["verdict"] == "passed", by[(op, dt)]
    # what it lacks is reported as a gap: not claimed, and KernelNotFoundError rather than a fallback
    for key in [
        ("Add", "int32"),
        ("Add", "float16"),
        ("MatMul", "float32"),
        ("Conv2D", "float32"),
        ("Relu", "float64"),
    ]:
        assert by[key]["verdict"] == "not-claimed" and not by[key]["claimed"], by[key]
    assert by[("Dropout", "float32")]["verdict"] == "not-claimed"
    assert data["counts"]["not-claimed"] > 10 * data["counts"]["passed"] > 0
    assert "backend numexpr:" in out.stdout and "not-claimed" in out.stdout


def test_wrong_kernel_fails_the_run_and_the_html_shows_the_snippet(
    faulty: str, faulty_xfail: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    h, j, xf = tmp_path / "faulty.html", tmp_path / "faulty.json", tmp_path / "xfail.txt"
    xf.write_text(faulty_xfail)
    argv = ["--backend", faulty, "--ops", "Exp,Tanh,Add", "--examples", "1", "--quiet", "--xfail-file", str(xf)]
    code = main([*argv, "--html", str(h), "--json", str(j)])
    assert code == 1
    page = h.read_text()
    assert "Reproduce with:" in page
    assert "x0 = np.array(" in page and "opcore.get_op(&#x27;Exp&#x27;)" in page
    data = valid(j)
    assert data["ok"] is False and data["counts"]["failed"] == 2 and data["counts"]["xfail"] == 2
    assert data["claims_source"] == "manifest" and data["options"]["xfail_file"] == str(xf)
    assert "2 failed" in capsys.readouterr().out


def test_an_xfail_that_passes_fails_the_run(faulty: str, tmp_path: Path) -> None:
    xf = tmp_path / "xfail.txt"
    xf.write_text("Add float32 believed broken\nNoSuchOp float32 stale entry\n")
    j = tmp_path / "r.json"
    assert main(["--backend", faulty, "--ops", "Add", "--dtypes", "float32", "--examples", "1", "--quiet",
                 "--xfail-file", str(xf), "--json", str(j)]) == 1  # fmt: skip
    data = valid(j)
    assert [r["verdict"] for r in data["results"]] == ["xpass"]
    assert data["notes"] == ["xfail line 2 (NoSuchOp float32) matches nothing in this run"]


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    xf = tmp_path / "xfail.txt"
    xf.write_text("# comment\nAdd float32\n")
    out = opcore_cli("conformance", "--backend", "numpy", "--xfail-file", str(xf))
    assert out.returncode == 2 and f"{xf}:2: an xfail line needs an op, a dtype and a reason" in out.stderr
    out = opcore_cli("conformance", "--backend", "nosuch")
    assert out.returncode == 2 and "no backend named 'nosuch'" in out.stderr
    out = opcore_cli("conformance")
    assert out.returncode == 2 and "--backend NAME is required" in out.stderr


def test_diff_exits_nonzero_on_regressions(tmp_path: Path) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    assert main(["--backend", "numpy", "--ops", "Relu,Exp", "--dtypes", "float32", "--examples", "1",
                 "--quiet", "--json", str(old)]) == 0  # fmt: skip
    data = json.loads(old.read_text())
    data["results"][0]["verdict"] = "failed"
    new.write_text(json.dumps(data))
    out = opcore_cli("conformance", "--diff", str(old), str(new))
    assert out.returncode == 1 and "regressed: 1" in out.stdout and "Exp[T=float32]: passed -> failed" in out.stdout
    out = opcore_cli("conformance", "--diff", str(new), str(old))
    assert out.returncode == 0 and "regressed: 0" in out.stdout and "improved: 1" in out.stdout
    out = opcore_cli("conformance", "--diff", str(old), str(tmp_path / "missing.json"))
    assert out.returncode == 2 and "cannot read the reports" in out.stderr


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    tty = _Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    assert main(["--backend", "numpy", "--ops", "Relu", "--dtypes", "float32", "--examples", "1"]) == 0
    assert "conformance numpy" in tty.getvalue() and "item" in tty.getvalue()
    quiet = _Tty()
    monkeypatch.setattr(sys, "stderr", quiet)
    assert main(["--backend", "numpy", "--ops", "Relu", "--dtypes", "float32", "--examples", "1", "--quiet"]) == 0
    assert quiet.getvalue() == ""


def test_progress_lines_for_logs(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--backend", "numpy", "--ops", "Relu,Exp", "--dtypes", "float32", "float64", "--examples", "1", "--quiet"]
    assert main([*argv, "--progress-every", "0.000001"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4  # one per item with so short a period, the last one at 100%
    assert lines[0].startswith("conformance numpy: 1/4 items (25%) in ")
    assert lines[-1].startswith("conformance numpy: 4/4 items (100%)") and "0 failing; last: Relu float64" in lines[-1]
    assert main([*argv, "--progress-every", "3600"]) == 0
    assert len(capsys.readouterr().err.splitlines()) == 1  # only the closing line
    assert main([*argv, "--progress-every", "-1"]) == 2
