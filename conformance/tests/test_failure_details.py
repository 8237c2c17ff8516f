"""What a failure report says: the worst element, a replayable gradient, case counts, graphs, pipes."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import opcore
from opcore import shapes
from opcore.registry import OpDef, Registry
from opcore_conformance import Case, OpSpec, run
from opcore_conformance.runner import Item, run_item


def test_a_numeric_failure_names_the_worst_element(faulty: str) -> None:
    report = run(faulty, ops="Exp", dtypes=["float32"], max_examples=2)
    (exp,) = report.results
    assert exp.verdict == "failed" and exp.check == "forward"
    m = re.search(r"worst element at index \(([\d, ]*)\): expected (\S+), got (\S+)", exp.message)
    assert m is not None, exp.message
    expected, actual = float(m.group(2)), float(m.group(3).rstrip(";"))
    assert actual == pytest.approx(expected * 1.001, rel=1e-4)  # the faulty Exp is 0.1% off
    # The failing item reports how many cases it ran (the failing one included), not 0.
    assert exp.cases >= 1
    assert report.to_json()["results"][0]["cases"] == exp.cases


def _twice_gradient(ctx: Any, dy: Any) -> Sequence[Any]:
    return [dy * 3.0]  # wrong on purpose: d(2x)/dx is 2


class _WrongGradient:
    @opcore.hookimpl
    def opcore_register_ops(self, registry: Registry) -> None:
        registry.register_op(
            OpDef(
                "cgrad.Twice",
                inputs=["x: T"],
                outputs=["y: T"],
                type_vars={"T": "float64"},
                shape_fn=shapes.unchanged("x"),
                gradient=_twice_gradient,
            )
        )

    @opcore.hookimpl
    def opcore_register_kernels(self, registry: Registry) -> None:
        registry.register_kernel("cgrad.Twice", "numpy", lambda ctx, x: x * 2.0, "float64")


TWICE = OpSpec(
    "cgrad.Twice",
    reference=lambda x: 2.0 * x,
    draw=lambda draw, binding: Case([(3,)]),
    examples=[Case([(2, 2)])],
)


def test_a_gradient_failure_replays_the_gradient_and_names_its_tolerance() -> None:
    if "cgrad.Twice" not in opcore.get_registry().ops:
        assert opcore.register_plugin(_WrongGradient(), name="wrong-gradient").status == "loaded"
    res = run_item(Item("cgrad.Twice", "numpy", {"T": "float64"}, True, TWICE, True), max_examples=0)
    assert res.verdict == "failed" and res.check == "gradient"
    assert "gradient tolerance rtol=0.0002, atol=2e-06" in res.message and res.tolerance == "rtol=0.0002, atol=2e-06"
    assert "GradientTape" in res.repro and "output_gradients" in res.repro and "rtol=0.0002" in res.repro
    assert res.cases == 1
    # The snippet is a program: run it, and it computes the tape's (wrong) gradient again.
    ns: dict[str, Any] = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(res.repro, "<repro>", "exec"), ns)
    (x0,), w0 = ns["grads"][0], ns["w0"].numpy()
    assert ns["inputs"][0].shape == (2, 2)
    np.testing.assert_allclose(x0.numpy(), 3.0 * w0)


def test_every_item_also_runs_through_a_graph_and_a_session(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real_run = opcore.Session.run

    def off_by_one(self: opcore.Session, fetches: Any, feed_dict: Any = None) -> Any:
        calls.append(fetches)
        return [np.asarray(v) + 1 for v in real_run(self, fetches, feed_dict)]

    monkeypatch.setattr(opcore.Session, "run", off_by_one)
    report = run("numpy", ops="Relu", dtypes=["float32"], max_examples=2)
    (relu,) = report.results
    assert calls, "the suite never ran a session"
    assert relu.verdict == "failed" and relu.check == "graph"
    assert "differs from eager execution" in relu.message and "worst element" in relu.message


def _drop_stdout_and_run(args: list[str]) -> subprocess.CompletedProcess[bytes]:
    """Run with a stdout pipe whose reader is already gone, as `... | head` leaves it."""
    r, w = os.pipe()
    os.close(r)
    try:
        return subprocess.run(args, stdout=w, stderr=subprocess.PIPE, timeout=300)
    finally:
        os.close(w)


@pytest.mark.parametrize(
    "args",
    [["conformance", "--backend", "numpy", "--ops", "Relu", "--examples", "1"], ["ops"]],
    ids=["conformance", "ops"],
)
def test_a_closed_pipe_ends_quietly(args: list[str], tmp_path: Path) -> None:
    json_path = tmp_path / "r.json"
    extra = ["--json", str(json_path)] if args[0] == "conformance" else []
    out = _drop_stdout_and_run([sys.executable, "-m", "opcore.cli", *args, *extra])
    assert b"BrokenPipeError" not in out.stderr and b"Traceback" not in out.stderr, out.stderr.decode()
    assert out.returncode == 0
    if extra:
        assert json.loads(json_path.read_text())["ok"] is True  # the report is written before printing
