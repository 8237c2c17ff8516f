"""Value-dependent outputs on the OpenCL backend: compaction and sorting on the device, one count read back."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import opcore
from opcore_ckernels.kernels import _compact

BACKEND = "opencl"


def _dev(x: Any) -> Any:
    return opcore.constant(x, backend=BACKEND)


def _host(x: Any) -> Any:
    return opcore.constant(x, backend="numpy")


def _reads() -> int:
    return int(opcore.get_backend(BACKEND).runtime.counters["device_to_host"])


def _same(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def test_runs_cover_large_inputs_in_several_elements_each() -> None:
    chunk, chunks = _compact.layout(5 * _compact.MAX_CHUNKS + 3)
    assert chunk == 6 and chunks <= _compact.MAX_CHUNKS and chunk * chunks >= 5 * _compact.MAX_CHUNKS + 3
    assert _compact.layout(10) == (1, 10)


@pytest.mark.parametrize("n", [1, 37, 1000, 5 * _compact.MAX_CHUNKS + 3])
def test_where_and_boolean_mask_match_numpy_across_run_sizes(n: int) -> None:
    rng = np.random.default_rng(n)
    cond = rng.random((n, 2)) < 0.3
    data = rng.standard_normal((n, 2, 3)).astype(np.float32)
    assert _same(opcore.where(_dev(cond)).numpy(), np.argwhere(cond))
    got = opcore.boolean_mask(_dev(data), _dev(cond)).numpy()
    assert _same(got, data[cond])
    got = opcore.boolean_mask(_dev(data), _dev(cond[:, 0])).numpy()
    assert _same(got, data[cond[:, 0]])


@pytest.mark.parametrize("dtype", ["float16", "float32", "int8", "int64", "uint8", "bool"])
def test_unique_and_setdiff1d_match_the_numpy_backend(dtype: str) -> None:
    rng = np.random.default_rng(len(dtype))
    for n in (1, 2, 3, 100, 3000):
        pool = np.array([0, 1, 5, -3, 7, 100], np.float64)
        x = pool[rng.integers(0, len(pool), n)].astype(dtype)
        if dtype.startswith("float"):
            x[rng.random(n) < 0.1] = np.nan
            x[rng.random(n) < 0.1] = -0.0
        y, idx = opcore.unique(_dev(x), out_idx="int64")
        want_y, want_idx = opcore.unique(_host(x), out_idx="int64")
        assert _same(y.numpy(), want_y.numpy()) and _same(idx.numpy(), want_idx.numpy())
        other = x[rng.integers(0, n, 3)]
        out, pos = opcore.setdiff1d(_dev(x), _dev(other))
        want_out, want_pos = opcore.setdiff1d(_host(x), _host(other))
        assert _same(out.numpy(), want_out.numpy()) and _same(pos.numpy(), want_pos.numpy())


def test_unique_of_many_distinct_values_sorts_on_the_device() -> None:
    rng = np.random.default_rng(7)
    x = rng.permutation(20000).astype(np.int32) % 9000  # 9000 values, most of them twice, shuffled
    y, idx = opcore.unique(_dev(x))
    first = np.sort(np.unique(x, return_index=True)[1])
    assert np.array_equal(y.numpy(), x[first])
    assert np.array_equal(y.numpy()[idx.numpy()], x)


def test_each_value_dependent_op_reads_back_one_count_and_its_gradient_none() -> None:
    x = _dev(np.array([3.0, -1.0, 2.0, 3.0, -5.0], np.float32))
    mask = _dev(np.array([True, False, True, True, False]))
    calls = [
        lambda: opcore.where(mask),
        lambda: opcore.boolean_mask(x, mask),
        lambda: opcore.unique(x),
        lambda: opcore.setdiff1d(x, _dev(np.array([3.0], np.float32))),
    ]
    for call in calls:
        call()  # build the kernels first
        before = _reads()
        call()
        assert _reads() - before == 1
    dy = _dev(np.ones(3, np.float32))
    opcore.boolean_mask_grad(dy, mask, x)
    before = _reads()
    dx = opcore.boolean_mask_grad(dy, mask, x)
    assert _reads() == before  # its count is dy's length: nothing to read
    assert dx.numpy().tolist() == [1.0, 0.0, 1.0, 1.0, 0.0]


def test_a_session_on_the_device_runs_ops_after_a_value_dependent_one() -> None:
    g = opcore.Graph()
    with g.as_default():
        x = opcore.placeholder(opcore.float32, [None, 2])
        kept = opcore.boolean_mask(x, opcore.reduce_sum(x, axis=1) > 0)
        (dx,) = opcore.gradients(opcore.reduce_sum(kept * kept), [x])
        y, idx = opcore.unique(opcore.reshape(kept, [-1]))
    rng = np.random.default_rng(8)
    with opcore.Session(graph=g, backend=BACKEND) as sess:
        for n in (4, 9):
            v = np.round(rng.standard_normal((n, 2)), 1).astype(np.float32)
            rows = v.sum(axis=1) > 0
            got_kept, got_dx, got_y, got_idx = sess.run([kept, dx, y, idx], {x: v})
            assert _same(got_kept, v[rows])
            assert np.allclose(got_dx, np.where(rows[:, None], 2 * v, 0))
            flat = v[rows].reshape(-1)
            assert np.array_equal(got_y[got_idx], flat)
            assert np.array_equal(got_y, flat[np.sort(np.unique(flat, return_index=True)[1])])


@pytest.mark.parametrize("inner", [0, 1, 16, 17, 40])
def test_boolean_mask_and_its_gradient_copy_short_and_long_rows(inner: int) -> None:
    rng = np.random.default_rng(inner)
    t = rng.standard_normal((3, 9, inner)).astype(np.float32)
    mask = rng.random(9) < 0.5
    got = opcore.boolean_mask(_dev(t), mask, axis=1).numpy()
    assert _same(got, t[:, mask])
    dy = rng.standard_normal(got.shape).astype(np.float32)
    want = np.zeros_like(t)
    want[:, mask] = dy
    assert _same(opcore.boolean_mask_grad(_dev(dy), mask, _dev(t), axis=1).numpy(), want)
