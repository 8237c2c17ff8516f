"""NumPy's ufunc buffer held to a run: results unchanged, the setting restored."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from opcore_numpy.kernels._buffer import runs_of


def test_runs_of_sets_and_restores_the_buffer() -> None:
    default = np.getbufsize()
    with runs_of(1000):
        assert np.getbufsize() == 992  # a multiple of 16
    assert np.getbufsize() == default
    with pytest.raises(ValueError, match="inside"), runs_of(1536):
        assert np.getbufsize() == 1536
        raise ValueError("inside")
    assert np.getbufsize() == default
    for short_or_long in (15, 0, default, 10 * default):
        with runs_of(short_or_long):
            assert np.getbufsize() == default


def test_runs_of_leaves_other_threads_alone() -> None:
    default = np.getbufsize()
    seen: list[int] = []
    with runs_of(512):
        t = threading.Thread(target=lambda: seen.append(np.getbufsize()))
        t.start()
        t.join()
    assert seen == [default]


def test_broadcast_results_do_not_depend_on_the_buffer() -> None:
    rng = np.random.default_rng(0)
    e = rng.random((300, 1000), dtype=np.float32)
    r = rng.random((300, 1), dtype=np.float32)
    r[5] = np.inf
    e[7, 3] = np.nan
    want = e * r
    with runs_of(e.shape[1]):
        got = e * r
    np.testing.assert_array_equal(got.view(np.int32), want.view(np.int32))
