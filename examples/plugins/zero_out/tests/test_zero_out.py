"""The ZeroOut plugin end to end: found by entry point, runs, differentiates, passes conformance."""

from __future__ import annotations

import numpy as np
import pytest

import opcore
from opcore_conformance import run


def test_registered_through_its_entry_point() -> None:
    op = opcore.get_op("myorg.ZeroOut")
    assert op.provider == "opcore-zero-out"
    assert [p.name for p in opcore.list_plugins() if p.status == "loaded"].count("zero_out") == 1


def test_zero_out_keeps_first_element() -> None:
    out = opcore.get_op("myorg.ZeroOut")(opcore.constant([[5, 2], [3, 4]]))
    assert out.numpy().tolist() == [[5, 0], [0, 0]]
    assert out.dtype is opcore.int32


def test_gradient_is_zero_out_of_upstream() -> None:
    x = opcore.constant([1.0, 2.0, 3.0])
    with opcore.GradientTape() as tape:
        tape.watch(x)
        y = opcore.get_op("myorg.ZeroOut")(x) * opcore.constant([4.0, 5.0, 6.0])
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [4.0, 0.0, 0.0])


def test_rejects_bool_naming_the_op() -> None:
    with pytest.raises(opcore.DTypeError, match=r"myorg\.ZeroOut"):
        opcore.get_op("myorg.ZeroOut")(opcore.constant([True, False]))


def test_passes_the_conformance_suite() -> None:
    report = run("numpy", ops="myorg.*")
    verdicts = {tuple(r.binding.values()): r.verdict for r in report.results}
    assert verdicts == {(d,): "passed" for d in ("int32", "int64", "float32", "float64")}, report.table()
