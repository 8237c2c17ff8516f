"""Error flags of the device kernels (opcore_ckernels.checks): when they are read, and what they cost in reads."""

from __future__ import annotations

import numpy as np
import pytest

import opcore
from opcore_ckernels import checks

BACKEND = "opencl"
pytestmark = pytest.mark.skipif(not opcore.get_backend(BACKEND).availability()[0], reason="no OpenCL device")


def _dev(x: object) -> opcore.Tensor:
    return opcore.constant(np.asarray(x), backend=BACKEND)


def _rt() -> object:
    return opcore.get_backend(BACKEND).runtime


PARAMS = np.arange(10, dtype=np.float32)


def test_an_eager_call_reads_its_flag_and_raises_at_once() -> None:
    rt = _rt()
    p, good, bad = _dev(PARAMS), _dev([1, 2]), _dev([1, 12])
    before = rt.counters["device_to_host"]  # type: ignore[attr-defined]
    opcore.gather(p, good)
    assert rt.counters["device_to_host"] == before + 1  # type: ignore[attr-defined]  # one 4-byte flag read
    with pytest.raises(opcore.InvalidIndexError, match=r"indices\[1\] = 12 "):
        opcore.gather(p, bad)


def test_deferred_checks_raise_when_the_scope_ends_in_launch_order() -> None:
    p = _dev(PARAMS)
    with pytest.raises(opcore.InvalidIndexError, match=r"indices\[0\] = -3 "), checks.deferred():
        opcore.gather(p, _dev([0, 1]))
        opcore.gather(p, _dev([-3]))  # no error yet: the flag is read at the end
        opcore.gather(p, _dev([0, 40]))
        reached = True
    assert reached


def test_flush_reads_the_pending_flags_at_once() -> None:
    p = _dev(PARAMS)
    with checks.deferred() as flush:
        opcore.gather(p, _dev([2]))
        flush()  # clean: nothing raised
        opcore.gather(p, _dev([10]))
        with pytest.raises(opcore.InvalidIndexError, match=r"indices\[0\] = 10 "):
            flush()


def test_an_error_inside_the_scope_becomes_the_index_errors_context() -> None:
    p = _dev(PARAMS)
    with pytest.raises(opcore.InvalidIndexError) as e, checks.deferred():
        opcore.gather(p, _dev([11]))
        raise RuntimeError("a later failure")
    assert isinstance(e.value.__context__, RuntimeError)


def test_clean_flags_are_reused_and_fired_ones_dropped() -> None:
    rt = _rt()
    p = _dev(PARAMS)
    opcore.gather(p, _dev([1]))
    pool = checks._POOLS[rt]
    size = len(pool)
    for _ in range(5):
        opcore.gather(p, _dev([1]))
    assert len(checks._POOLS[rt]) == size  # taken and given back
    with pytest.raises(opcore.InvalidIndexError):
        opcore.gather(p, _dev([99]))
    assert len(checks._POOLS[rt]) == size - 1  # the flag that fired is not given back
    assert opcore.gather(p, _dev([9])).numpy().tolist() == [9.0]


def test_a_session_reads_its_flags_once_per_run() -> None:
    rt = _rt()
    g = opcore.Graph()
    with g.as_default():
        ids = g.placeholder("int32", [None], name="ids")
        p = opcore.constant(PARAMS)
        total = opcore.reduce_sum(opcore.gather(p, ids)) + opcore.reduce_sum(opcore.gather(p, ids + 1))
    with opcore.Session(graph=g, backend=BACKEND) as sess:
        feed = {ids: np.array([1, 2], np.int32)}
        assert sess.run(total, feed) == 8.0
        before = rt.counters["device_to_host"]  # type: ignore[attr-defined]
        assert sess.run(total, feed) == 8.0
        # two flags read at the end of the run, and the fetched value
        assert rt.counters["device_to_host"] == before + 3  # type: ignore[attr-defined]
        with pytest.raises(opcore.InvalidIndexError, match=r"indices\[1\] = 10 "):
            sess.run(total, {ids: np.array([1, 9], np.int32)})  # ids + 1 reads 10: the second gather fails


def test_checks_can_be_disabled_to_measure_them() -> None:
    with checks.disabled():
        assert not checks.enabled()
        out = opcore.gather(_dev(PARAMS), _dev([3, 10])).numpy()
    assert checks.enabled()
    assert out.tolist() == [3.0, 0.0]  # what the kernel does without its check: zeros, no out-of-bounds read
