"""The numexpr backend plugin end to end: found by entry point, computes, has honest gaps."""

from __future__ import annotations

import numpy as np
import pytest

import opcore
from opcore_conformance import run


def test_registered_through_its_entry_point() -> None:
    info = {b.name: b for b in opcore.available_backends()}["numexpr"]
    assert info.available and info.provider == "opcore-numexpr"
    assert [p.distribution for p in opcore.list_plugins() if p.name == "numexpr"] == ["opcore-numexpr"]


@pytest.mark.parametrize("dtype", [opcore.float32, opcore.float64])
def test_elementwise_ops_match_numpy(dtype: opcore.DType) -> None:
    x = np.linspace(0.1, 2.0, 12).reshape(3, 4)
    y = np.linspace(-1.0, 1.0, 4)
    a = opcore.constant(x, dtype=dtype, backend="numexpr")
    b = opcore.constant(y, dtype=dtype, backend="numexpr")
    out = opcore.sigmoid(a) * opcore.exp(b) - opcore.log(a) / (b + 3.0)
    assert out.backend == "numexpr" and out.dtype is dtype and out.shape == (3, 4)
    expected = 1 / (1 + np.exp(-x)) * np.exp(y) - np.log(x) / (y + 3.0)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5 if dtype is opcore.float32 else 1e-12)


def test_gradients_run_on_the_backend() -> None:
    x = opcore.constant([[0.5, 1.0, 2.0]], dtype=opcore.float64, backend="numexpr")
    b = opcore.constant([1.0], dtype=opcore.float64, backend="numexpr")
    with opcore.GradientTape() as tape:
        tape.watch([x, b])
        y = opcore.tanh(x) * opcore.sin(x) + b
    gx, gb = tape.gradient(y, [x, b])
    xs = np.array([[0.5, 1.0, 2.0]])
    np.testing.assert_allclose(gx.numpy(), (1 - np.tanh(xs) ** 2) * np.sin(xs) + np.tanh(xs) * np.cos(xs))
    np.testing.assert_allclose(gb.numpy(), [3.0])


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda t: opcore.matmul(t, t), "MatMul"),
        (lambda t: opcore.relu(t), "Relu"),
        (lambda t: opcore.cast(t, opcore.int32) + opcore.cast(t, opcore.int32), "Cast"),
    ],
)
def test_missing_ops_raise_kernel_not_found_not_a_fallback(call: object, needle: str) -> None:
    t = opcore.constant(np.ones((2, 2)), dtype=opcore.float32, backend="numexpr")
    opcore.stats.reset()
    with pytest.raises(opcore.KernelNotFoundError, match=f"{needle}.*numexpr"):
        call(t)  # type: ignore[operator]
    assert not opcore.stats.fallbacks


def test_conformance_passes_what_it_claims_and_shows_the_rest_as_gaps() -> None:
    report = run("numexpr", ops="Add,Exp,Relu,MatMul", max_examples=2)
    verdicts = {(r.op, r.column): r.verdict for r in report.results}
    assert verdicts[("Add", "float32")] == verdicts[("Exp", "float64")] == "passed"
    assert (
        verdicts[("Add", "int64")] == verdicts[("Relu", "float32")] == verdicts[("MatMul", "float64")] == "not-claimed"
    )
    assert report.ok
