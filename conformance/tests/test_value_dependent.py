"""The suite on ops whose output size depends on values: sizes come from the reference, the rest from the
shape function, and the graph checks run with unknown dimensions and an op after each output."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import opcore
from opcore import Session
from opcore.registry import OpDef
from opcore.shapes import VALUE_DEPENDENT, Shape, ShapeContext
from opcore_conformance import Case, OpSpec
from opcore_conformance.runner import Item, run_item


def _shape(ctx: ShapeContext) -> Shape:
    return Shape([VALUE_DEPENDENT, 2])


def _pairs(x: np.ndarray) -> np.ndarray:
    """The positive entries of a vector, each with its index: an [n, 2] matrix."""
    keep = [i for i in range(x.shape[0]) if x[i] > 0]
    return np.array([[x[i], i] for i in keep], dtype=x.dtype).reshape(len(keep), 2)


KERNELS = {
    "cvd.Pairs": lambda ctx, x: np.stack([x[x > 0], np.flatnonzero(x > 0).astype(x.dtype)], axis=1),
    "cvd.ShortPairs": lambda ctx, x: np.stack([x[x > 0], np.flatnonzero(x > 0).astype(x.dtype)], axis=1)[1:],
    "cvd.WidePairs": lambda ctx, x: np.zeros((int(np.sum(x > 0)), 3), x.dtype),
}


@pytest.fixture(scope="module", autouse=True)
def ops() -> Iterator[None]:
    """The ops, registered for this module's tests and rolled back after them."""
    registry = opcore.get_registry()
    with registry.plugin_scope("value-dependent-ops") as journal:
        for name, fn in KERNELS.items():
            op = OpDef(
                name,
                inputs=["x: T"],
                outputs=["y: T"],
                type_vars={"T": "float64"},
                shape_fn=_shape,
                differentiable=False,
            )
            registry.register_op(op)
            registry.register_kernel(name, "numpy", fn, "float64")
    yield
    registry.rollback(journal)


def _item(op: str) -> Item:
    spec = OpSpec(op, reference=_pairs, draw=lambda draw, binding: Case([(5,)]), examples=[Case([(6,)]), Case([(0,)])])
    return Item(op, "numpy", {"T": "float64"}, True, spec, True)


def test_a_right_kernel_passes_every_check_including_the_graphs(monkeypatch: pytest.MonkeyPatch) -> None:
    placeholders: list[Any] = []
    real = opcore.Graph.placeholder

    def spy(self: opcore.Graph, dtype: Any, shape: Any = None, name: str | None = None) -> Any:
        placeholders.append(shape)
        return real(self, dtype, shape, name)

    monkeypatch.setattr(opcore.Graph, "placeholder", spy)
    res = run_item(_item("cvd.Pairs"), max_examples=3)
    assert res.verdict == "passed", res.message
    assert (6,) in placeholders and [None] in placeholders  # known, then unknown dimensions


def test_a_kernel_that_miscounts_fails_on_the_size_the_reference_gives() -> None:
    res = run_item(_item("cvd.ShortPairs"), max_examples=0)
    assert res.verdict == "failed" and res.check == "forward"
    assert "has shape" in res.message and "the reference's has" in res.message


def test_a_kernel_that_breaks_a_known_dimension_breaks_the_contract() -> None:
    res = run_item(_item("cvd.WidePairs"), max_examples=0)
    assert res.verdict == "failed" and res.check == "contract"
    assert "(?, 2) float64" in res.message


def test_the_graph_check_catches_a_session_that_loses_the_late_planned_op(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Session.run

    def drop_last_row(self: Session, fetches: Any, feed_dict: Any = None) -> Any:
        out = real(self, fetches, feed_dict)
        graph_has_identity = any(n.op is not None and n.op.name == "Identity" for n in self.graph.nodes)
        return [np.asarray(v)[:-1] if graph_has_identity else v for v in out]

    monkeypatch.setattr(Session, "run", drop_last_row)
    res = run_item(_item("cvd.Pairs"), max_examples=0)
    assert res.verdict == "failed" and res.check == "graph"
    assert "an Identity after each output" in res.message
