"""Elementwise launch plans: what a call signature launches is worked out once, and nothing else is shared."""

from __future__ import annotations

import numpy as np
import pytest

import opcore
from opcore.ops import math as M
from opcore_ckernels.kernels import _elementwise

BACKEND = "opencl"

pytestmark = pytest.mark.skipif(not opcore.get_backend(BACKEND).availability()[0], reason="no OpenCL device")


def _dev(x: object, dtype: object = None) -> opcore.Tensor:
    return opcore.constant(np.asarray(x, dtype=dtype), backend=BACKEND)


def _counters() -> dict[str, int]:
    counters = opcore.get_backend(BACKEND).runtime.counters
    return {k: counters[k] for k in ("sources", "builds", "launches")}


def test_a_warm_call_reuses_its_plan_launches_once_and_computes_its_own_values() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((2, 9, 5)).astype(np.float32)
    M.add(_dev(x), _dev(y)).numpy()
    plans = len(_elementwise._PLANS)
    before = _counters()
    for _ in range(3):
        a, b = rng.standard_normal((2, 9, 5)).astype(np.float32)
        np.testing.assert_array_equal(M.add(_dev(a), _dev(b)).numpy(), a + b)
    after = _counters()
    assert len(_elementwise._PLANS) == plans  # the same signature: no new plan
    assert after["sources"] == before["sources"] and after["builds"] == before["builds"]
    assert after["launches"] - before["launches"] == 3


# Pairs of calls whose signatures differ in one thing each (broadcast pattern, input dtype of the same
# C type, output dtype, rank): each must launch what it launched without the other warm before it.
PAIRS = [
    (lambda: M.add(_dev(np.arange(3.0).reshape(3, 1)), _dev(np.arange(4.0))),
     lambda: M.add(_dev(np.arange(4.0)), _dev(np.arange(3.0).reshape(3, 1))),
     np.arange(3.0).reshape(3, 1) + np.arange(4.0), np.arange(4.0) + np.arange(3.0).reshape(3, 1)),
    (lambda: M.cast(_dev([True, False, True]), "float32"),
     lambda: M.cast(_dev([2, 0, 255], np.uint8), "float32"),
     np.array([1.0, 0.0, 1.0], np.float32), np.array([2.0, 0.0, 255.0], np.float32)),
    (lambda: M.cast(_dev([7, -2, 3], np.int32), "float32"),
     lambda: M.cast(_dev([7, -2, 2**40], np.int64), "float32"),
     np.array([7.0, -2.0, 3.0], np.float32), np.array([7.0, -2.0, 2.0**40], np.float32)),
    (lambda: M.cast(_dev([7, -2, 3], np.int32), "int64"),
     lambda: M.cast(_dev([7, -2, 3], np.int32), "float64"),
     np.array([7, -2, 3], np.int64), np.array([7.0, -2.0, 3.0])),
    (lambda: M.cast(_dev([-1.5, 0.5, 300.0], np.float32), "uint8"),
     lambda: M.cast(_dev([-1.5, 0.5, 300.0], np.float32), "int32"),
     np.array([0, 0, 255], np.uint8), np.array([-1, 0, 300], np.int32)),
    (lambda: M.equal(_dev([1.0, 2.0], np.float32), _dev([1.0, 3.0], np.float32)),
     lambda: M.add(_dev([1.0, 2.0], np.float32), _dev([1.0, 3.0], np.float32)),
     np.array([True, False]), np.array([2.0, 5.0], np.float32)),
    (lambda: M.multiply(_dev(np.full((2, 3), 2, np.int32)), _dev(np.int32(3))),
     lambda: M.multiply(_dev(np.full((6,), 2, np.int32)), _dev(np.int32(3))),
     np.full((2, 3), 6, np.int32), np.full((6,), 6, np.int32)),
]  # fmt: skip


@pytest.mark.parametrize("pair", range(len(PAIRS)))
def test_calls_that_differ_in_one_part_of_their_signature_each_get_their_own_result(pair: int) -> None:
    first, second, want_first, want_second = PAIRS[pair]
    for _ in range(2):  # the second round runs both warm
        got = [first().numpy(), second().numpy()]
        for g, want in zip(got, (want_first, want_second)):
            assert g.dtype == want.dtype and g.shape == want.shape
            np.testing.assert_array_equal(g, want)


def test_an_empty_output_launches_nothing_and_keeps_its_dtype_warm() -> None:
    x = _dev(np.zeros((0, 3), np.float32))
    b = _dev(np.ones((3,), np.float32))
    before = _counters()["launches"]
    for _ in range(2):
        out = M.less(x, b).numpy()
        assert out.shape == (0, 3) and out.dtype == np.bool_
    assert _counters()["launches"] == before


def test_the_plan_table_is_bounded_and_a_dropped_plan_is_worked_out_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_elementwise, "MAX_PLANS", 4)
    monkeypatch.setattr(_elementwise, "_PLANS", {})
    M.add(_dev([1.0], np.float32), _dev([1.0], np.float32)).numpy()  # (the kernel of every call below)
    assert len(_elementwise._PLANS) == 1
    before = _counters()
    for n in range(1, 11):  # ten signatures (a shape each), three times over
        x = np.arange(n, dtype=np.float32)
        for _ in range(3):
            np.testing.assert_array_equal(M.add(_dev(x), _dev(x)).numpy(), x + x)
        assert len(_elementwise._PLANS) <= 4
    x = np.arange(1, dtype=np.float32)
    np.testing.assert_array_equal(M.add(_dev(x), _dev(x)).numpy(), x + x)  # its plan was dropped
    after = _counters()
    assert after["launches"] - before["launches"] == 31
    # Plans are host-side only: shapes of one rank and pattern still share their kernel, found by its key.
    assert after["sources"] == before["sources"] and after["builds"] == before["builds"]
