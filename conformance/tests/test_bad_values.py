"""Invalid indices, invalid labels and NaN: a backend that answers differently from the ops' rules fails, clearly.

The "guessing" backend below does what the NumPy and OpenCL backends used to do:
a gather that reads zeros for an index out of range, a cross-entropy that raises a
plain ValueError for a bad label, a gather gradient whose error names no position,
and an argmax that picks the first NaN (NumPy's rule, not the op's).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import opcore
from opcore.backend import Backend
from opcore.errors import ShapeError
from opcore.hookspecs import hookimpl
from opcore.registry import KernelContext, Registry
from opcore_conformance import BadValues, run
from opcore_conformance.checks import check_bad_values
from opcore_conformance.runner import Report


class GuessingBackend(Backend):
    name = "guessing"
    array_type = "numpy.ndarray"
    native_type = np.ndarray

    def from_numpy(self, array: np.ndarray) -> np.ndarray:
        return np.array(array)

    def to_numpy(self, array: Any) -> np.ndarray:
        return np.array(array)

    def is_native(self, value: Any) -> bool:
        return isinstance(value, np.ndarray)

    def capabilities(self) -> dict[str, bool]:
        return {"float64": True, "float16": False}


def _gather_zeros(ctx: KernelContext, params: np.ndarray, indices: np.ndarray) -> np.ndarray:
    axis = ctx.attrs["axis"] % params.ndim
    ok = (indices >= 0) & (indices < params.shape[axis])
    out = np.take(params, np.where(ok, indices, 0), axis=axis)
    mask = ok.reshape((1,) * axis + indices.shape + (1,) * (params.ndim - axis - 1))
    return np.where(mask, out, 0).astype(params.dtype).reshape(ctx.out_shapes[0])


def _gather_grad_vague(ctx: KernelContext, dy: np.ndarray, indices: np.ndarray, like: np.ndarray) -> np.ndarray:
    axis = ctx.attrs["axis"] % like.ndim
    if ((indices < 0) | (indices >= like.shape[axis])).any():
        raise ShapeError("GatherGrad: some index is out of range")  # the right type, but which one?
    out = np.zeros(ctx.out_shapes[0], ctx.out_dtypes[0].np)
    moved = np.moveaxis(out, axis, 0)
    src = np.moveaxis(dy.reshape((*dy.shape[:axis], indices.size, *dy.shape[axis + indices.ndim :])), axis, 0)
    np.add.at(moved, indices.reshape(-1), src)
    return out


def _sparse_value_error(ctx: KernelContext, logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    classes = logits.shape[-1]
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"label out of range for {classes} classes")
    shifted = logits - logits.max(axis=-1, keepdims=True)
    ls = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    idx = labels.astype(np.intp)[..., None]
    loss = -np.take_along_axis(ls, idx, axis=-1)[..., 0]
    backprop = np.exp(ls)
    np.put_along_axis(backprop, idx, np.take_along_axis(backprop, idx, axis=-1) - 1, axis=-1)
    return np.asarray(loss, logits.dtype), np.asarray(backprop, logits.dtype)


def _argmax_first_nan(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    out = np.argmax(x, axis=ctx.attrs["axis"] % x.ndim)  # NumPy's rule: the first NaN wins
    return np.asarray(out).astype(ctx.out_dtypes[0].np).reshape(ctx.out_shapes[0])


class GuessingPlugin:
    @hookimpl
    def opcore_register_backends(self, registry: Registry) -> None:
        registry.register_backend(GuessingBackend())

    @hookimpl
    def opcore_register_kernels(self, registry: Registry) -> None:
        index = {"T": "float32", "Tidx": "int32, int64"}
        registry.register_kernel("GatherV2", "guessing", _gather_zeros, index)
        registry.register_kernel("GatherGrad", "guessing", _gather_grad_vague, {**index, "U": "float32"})
        registry.register_kernel("SparseSoftmaxCrossEntropyWithLogits", "guessing", _sparse_value_error, index)
        registry.register_kernel("ArgMax", "guessing", _argmax_first_nan, "float32")


@pytest.fixture(scope="module")
def guessing() -> Iterator[str]:
    if "guessing" not in opcore.get_registry().backends:
        rec = opcore.register_plugin(GuessingPlugin(), name="guessing-backend")
        assert rec.status == "loaded", rec.error
    yield "guessing"


@pytest.fixture(scope="module")
def report(guessing: str) -> Report:
    return run(guessing, ops="GatherV2,GatherGrad,SparseSoftmaxCrossEntropyWithLogits,ArgMax", max_examples=2)


def _results(report: Report, op: str) -> list[Any]:
    return [r for r in report.results if r.op == op and r.kernel]


def test_a_gather_that_reads_zeros_fails_with_what_it_returned(report: Report) -> None:
    results = _results(report, "GatherV2")
    assert results and all(r.verdict == "failed" and r.check == "bad-values" for r in results)
    msg = results[0].message
    assert msg.startswith("GatherV2 with an index past the end (input 1 = [3, 10]) in eager execution: returned [")
    assert "instead of raising InvalidIndexError" in msg and "the position and the value" in msg
    assert "opcore.get_op('GatherV2')" in results[0].repro and "backend='guessing'" in results[0].repro


def test_a_plain_value_error_for_a_bad_label_fails(report: Report) -> None:
    results = _results(report, "SparseSoftmaxCrossEntropyWithLogits")
    assert results and all(r.verdict == "failed" and r.check == "bad-values" for r in results)
    assert "raised ValueError: label out of range for 4 classes; every backend must raise InvalidIndexError" in (
        results[0].message
    )


def test_the_right_error_without_position_and_value_fails(report: Report) -> None:
    results = _results(report, "GatherGrad")
    assert results and all(r.verdict == "failed" and r.check == "bad-values" for r in results)
    assert "raised ShapeError: GatherGrad: some index is out of range" in results[0].message


def test_an_argmax_that_picks_nan_fails_on_the_nan_case(report: Report) -> None:
    (r,) = _results(report, "ArgMax")
    assert r.verdict == "failed" and r.check == "forward"
    assert r.message.startswith("case 'NaN is skipped': output 0 differs from the reference")
    assert "expected 2, got 1" in r.message


def test_the_session_path_is_held_to_the_rule_too() -> None:
    """A backend that raises eagerly but returns a result from a session fails ("in a session")."""

    class EagerOnly(Backend):
        name = "eager-only-checks"
        native_type = np.ndarray

        def from_numpy(self, array: np.ndarray) -> np.ndarray:
            return np.array(array)

        def to_numpy(self, array: Any) -> np.ndarray:
            return np.array(array)

        def is_native(self, value: Any) -> bool:
            return isinstance(value, np.ndarray)

    reg = opcore.get_registry()
    numpy_gather = reg.kernel(
        "GatherV2", "numpy", reg.ops["GatherV2"].type_key({"T": opcore.float32, "Tidx": opcore.int32})
    )
    assert numpy_gather is not None
    in_session: list[bool] = []

    def gather(ctx: KernelContext, params: np.ndarray, indices: np.ndarray) -> np.ndarray:
        if in_session and in_session[-1]:
            return _gather_zeros(ctx, params, indices)
        return np.asarray(numpy_gather.fn(ctx, params, indices))

    class Plugin:
        @hookimpl
        def opcore_register_backends(self, registry: Registry) -> None:
            registry.register_backend(EagerOnly())

        @hookimpl
        def opcore_register_kernels(self, registry: Registry) -> None:
            registry.register_kernel("GatherV2", "eager-only-checks", gather, {"T": "float32", "Tidx": "int32"})

    if "eager-only-checks" not in reg.backends:
        assert opcore.register_plugin(Plugin(), name="eager-only-checks").status == "loaded"
    original = opcore.Session.run

    def run_marked(self: Any, *args: Any, **kwargs: Any) -> Any:
        in_session.append(True)
        try:
            return original(self, *args, **kwargs)
        finally:
            in_session.pop()

    bad = BadValues([(10,), (2,)], {1: [3, 10]}, mentions=["indices[1] = 10"], label="an index past the end")
    op = reg.ops["GatherV2"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(opcore.Session, "run", run_marked)
        with pytest.raises(
            AssertionError, match=r"in a session: returned \[\S+ +0\. *\] instead of raising InvalidIndexError"
        ):
            check_bad_values(op, bad, {"T": "float32", "Tidx": "int32"}, "eager-only-checks", np.random.default_rng(0))


@pytest.mark.parametrize("backend", ["numpy", "opencl"])
def test_numpy_and_opencl_hold_to_the_rules(backend: str) -> None:
    ok, why = opcore.get_backend(backend).availability()
    if not ok:
        pytest.skip(f"backend {backend} cannot run here: {why}")
    ops = "GatherV2,GatherGrad,SparseSoftmaxCrossEntropyWithLogits,ArgMax,ArgMin,Max,Min,Maximum,Minimum"
    rep = run(backend, ops=ops, dtypes=["float32", "int32"], max_examples=1)
    assert rep.ok, rep.table()
    checked = [r for r in rep.results if r.op == "GatherV2" and r.verdict == "passed"]
    assert checked, "no GatherV2 item ran"
