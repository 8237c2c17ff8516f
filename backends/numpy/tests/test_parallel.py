"""Row-parallel kernels: the split covers every row once, and results do not depend on it."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import numpy as np
import pytest

import opcore
from opcore_numpy.kernels import _parallel


def _record(monkeypatch: Any, name: str) -> list[list[tuple[int, int]]]:
    """The ranges of every call of ``_parallel.<name>`` from now on (which still runs)."""
    calls: list[list[tuple[int, int]]] = []
    real = getattr(_parallel, name)

    def recording(fn: Any, ranges: list[tuple[int, int]]) -> Any:
        calls.append(ranges)
        return real(fn, ranges)

    monkeypatch.setattr(_parallel, name, recording)
    return calls


@pytest.mark.parametrize("rows, elements", [(1, 10**9), (7, 10**9), (1000, 10), (1000, 10**9), (3, 0)])
def test_row_ranges_cover_every_row_once(rows: int, elements: int, monkeypatch: Any) -> None:
    monkeypatch.setattr(_parallel, "threads", lambda: 4)
    ranges = _parallel.row_ranges(rows, elements)
    assert ranges[0][0] == 0 and ranges[-1][1] == rows
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert all(lo < hi for lo, hi in ranges) or rows == 0
    expected = max(1, min(4, elements // _parallel.MIN_PER_THREAD, rows))
    assert len(ranges) == expected
    sizes = [hi - lo for lo, hi in ranges]
    assert sizes[0] >= max(sizes) and max(sizes[1:], default=0) - min(sizes[1:], default=0) <= 1
    if rows == 1000 and elements == 10**9:  # the caller's head start: a quarter of the least share
        head = (_parallel.MIN_PER_THREAD // 4) * 3 // 4 * rows // elements
        assert sizes[0] == -(-rows // 4) + head


def test_run_keeps_the_order_and_uses_other_threads(monkeypatch: Any) -> None:
    monkeypatch.setattr(_parallel, "threads", lambda: 3)
    monkeypatch.setattr(_parallel, "_workers", [])
    names: list[str] = []

    def block(lo: int, hi: int) -> tuple[int, int]:
        names.append(threading.current_thread().name)
        return lo, hi

    ranges = [(0, 2), (2, 5), (5, 9)]
    assert _parallel.run(block, ranges) == ranges
    assert threading.current_thread().name in names and any(n.startswith("opcore-numpy") for n in names)


def test_run_raises_what_a_block_raises(monkeypatch: Any) -> None:
    monkeypatch.setattr(_parallel, "threads", lambda: 2)

    def block(lo: int, hi: int) -> int:
        if lo:
            raise ValueError(f"block {lo}")
        return lo

    with pytest.raises(ValueError, match="block 3"):
        _parallel.run(block, [(0, 3), (3, 6)])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_split_softmax_and_sum_equal_one_thread(dtype: str, monkeypatch: Any) -> None:
    x = np.random.default_rng(0).normal(0, 5, size=(600, 1000)).astype(dtype)
    t = opcore.constant(x)
    monkeypatch.setattr(_parallel, "threads", lambda: 1)
    soft_one, sum_one = opcore.softmax(t).numpy(), opcore.reduce_sum(t).numpy()
    monkeypatch.setattr(_parallel, "threads", lambda: 3)
    monkeypatch.setattr(_parallel, "MIN_PER_THREAD", 1000)
    assert len(_parallel.row_ranges(600, x.size)) == 3
    np.testing.assert_array_equal(opcore.softmax(t).numpy(), soft_one)  # rows are independent
    np.testing.assert_allclose(opcore.reduce_sum(t).numpy(), sum_one, rtol=1e-5)
    e = np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(soft_one, e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(sum_one, x.astype(np.float64).sum(), rtol=1e-5)


def test_split_adam_update_equals_one_thread(monkeypatch: Any) -> None:  # a graph's ApplyAdam
    from opcore_numpy.kernels import train

    blocks: list[int] = []
    real = train._adam_in_place

    def counting(var: np.ndarray, *rest: Any) -> None:
        blocks.append(var.size)
        real(var, *rest)

    monkeypatch.setattr(train, "_adam_in_place", counting)
    monkeypatch.setattr(_parallel, "MIN_PER_THREAD", 1000)
    start = np.linspace(-1, 1, 6000, dtype=np.float32).reshape(60, 100)

    def steps(threads: int) -> np.ndarray:
        monkeypatch.setattr(_parallel, "threads", lambda: threads)
        g = opcore.Graph()
        with g.as_default():
            w = opcore.Variable(start)
            loss = opcore.reduce_sum(opcore.square(w - 0.3) * w)
            train_op = opcore.train.AdamOptimizer(0.01).minimize(loss)
            init = opcore.global_variables_initializer()
        sess = opcore.Session(g)
        sess.run(init)
        for _ in range(3):
            sess.run(train_op)
        return np.asarray(sess.run(w))

    one = steps(1)
    assert blocks == [6000] * 3  # a graph's update op runs the same passes, as one block
    blocks.clear()
    three = steps(3)
    split = [hi - lo for lo, hi in _parallel.row_ranges(6000, 6000)]  # the update splits elements
    assert len(split) == 3 and sum(split) == 6000
    assert sorted(blocks) == sorted(split * 3)  # blocks start in any order across threads
    np.testing.assert_array_equal(three, one)  # elementwise: the split changes nothing
    assert np.abs(one - start).max() > 0.01


def test_split_eager_adam_writes_in_place_like_one_thread(monkeypatch: Any) -> None:
    monkeypatch.setattr(_parallel, "MIN_PER_THREAD", 1000)
    start = np.linspace(-1, 1, 6000, dtype=np.float32).reshape(60, 100)

    def steps(threads: int) -> np.ndarray:
        monkeypatch.setattr(_parallel, "threads", lambda: threads)
        w = opcore.Variable(start)
        opt = opcore.train.AdamOptimizer(0.01)
        for _ in range(3):
            with opcore.GradientTape() as tape:
                loss = opcore.reduce_sum(opcore.square(w - 0.3) * w)
            opt.apply_gradients([(tape.gradient(loss, w), w)])
        return w.numpy()

    np.testing.assert_array_equal(steps(3), steps(1))


def test_run_from_inside_a_block_and_from_other_threads_runs_every_range(monkeypatch: Any) -> None:
    """A run that finds the workers busy (a nested call, or another thread's) runs its ranges
    on its own thread, so nothing waits on itself and every range runs once."""
    monkeypatch.setattr(_parallel, "threads", lambda: 2)

    def inner(lo: int, hi: int) -> list[tuple[int, int]]:
        return _parallel.run(lambda a, b: (a, b), [(lo, lo + 1), (lo + 1, hi)])

    assert _parallel.run(inner, [(0, 3), (3, 6)]) == [[(0, 1), (1, 3)], [(3, 4), (4, 6)]]
    results: list[list[int]] = []

    def caller(k: int) -> None:
        for _ in range(50):
            results.append(_parallel.run(lambda lo, hi: hi - lo + k, [(0, 1), (1, 3)]))

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(tuple, results)) == sorted([(1 + k, 2 + k) for k in range(3) for _ in range(50)])


def test_run_with_blas_holds_blas_to_one_thread_and_restores_it(monkeypatch: Any) -> None:
    from threadpoolctl import threadpool_info

    monkeypatch.setattr(_parallel, "threads", lambda: 2)
    blas = _parallel._blas_controllers()
    assert blas, "NumPy's BLAS is not visible to threadpoolctl"
    before = [c.num_threads for c in blas]
    seen: list[list[int]] = []

    def block(lo: int, hi: int) -> int:
        seen.append([i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"])
        if lo == 5:
            raise ValueError("block 5")
        return hi - lo

    assert _parallel.run_with_blas(block, [(0, 2), (2, 5)]) == [2, 3]
    assert seen and all(n == [1] * len(blas) for n in seen)
    assert [c.num_threads for c in blas] == before
    with pytest.raises(ValueError, match="block 5"):
        _parallel.run_with_blas(block, [(0, 5), (5, 9)])
    assert [c.num_threads for c in blas] == before  # restored after an error too
    seen.clear()
    assert _parallel.run_with_blas(block, [(0, 4)]) == [4]  # one range: on this thread, BLAS held all the same
    assert seen == [[1] * len(blas)]
    assert [c.num_threads for c in blas] == before


def test_run_with_blas_runs_serially_while_another_thread_limits_blas(monkeypatch: Any) -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    monkeypatch.setattr(_parallel, "threads", lambda: 2)
    blas = _parallel._blas_controllers()
    if not any(c.internal_api == "openblas" and c.threading_layer != "openmp" for c in blas):
        pytest.skip("needs a process-wide OpenBLAS thread pool, which only one thread may set")
    limited, done = threading.Event(), threading.Event()

    def user() -> None:  # a user's thread holds threadpoolctl's control of BLAS meanwhile
        with threadpool_limits(limits=2, user_api="blas"):
            limited.set()
            done.wait(5)

    t = threading.Thread(target=user)
    t.start()
    try:
        assert limited.wait(5)
        seen: list[tuple[str, list[int]]] = []

        def block(lo: int, hi: int) -> int:
            counts = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
            seen.append((threading.current_thread().name, counts))
            return hi - lo

        assert _parallel.run_with_blas(block, [(0, 2), (2, 5)]) == [2, 3]
        me = threading.current_thread().name
        assert seen == [(me, [2] * len(blas)), (me, [2] * len(blas))]  # serial, the user's limit kept
    finally:
        done.set()
        t.join()
    calls: list[int] = []
    assert _parallel.run_with_blas(lambda lo, hi: calls.append(lo) or hi, [(0, 2), (2, 5)]) == [2, 5]
    assert sorted(calls) == [0, 2]  # control is free again once the user's block has ended


@pytest.mark.parametrize("shape", [(300, 40, 200), (90, 50, 400), (1, 7, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_split_into_blocks_equals_one_product(shape: tuple[int, int, int], dtype: Any, monkeypatch: Any) -> None:
    m, k, n = shape
    rng = np.random.default_rng(3)
    a = rng.normal(size=(m, k)).astype(dtype)
    b = rng.normal(size=(n, k)).astype(dtype).T  # a transposed operand, as MatMul's transpose_b gives
    want = a @ b
    calls = _record(monkeypatch, "run_with_blas")
    monkeypatch.setattr(_parallel, "threads", lambda: 3)
    monkeypatch.setattr(_parallel, "MIN_SPLIT_MACS", 1)
    monkeypatch.setattr(_parallel, "GEMM_ONE_THREAD", 0)
    monkeypatch.setattr(_parallel, "_last_held", -float("inf"))  # away from held work
    got = _parallel.matmul(a, b)
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)
    assert got.dtype == want.dtype and got.shape == want.shape
    if max(m, n) >= 3:
        long = m if m >= n else n
        assert calls == [[(0, long // 3), (long // 3, 2 * long // 3), (2 * long // 3, long)]]
    monkeypatch.setattr(_parallel, "MIN_SPLIT_MACS", m * k * n + 1)  # below the size: BLAS keeps it
    monkeypatch.setattr(_parallel, "_last_held", -float("inf"))
    calls.clear()
    np.testing.assert_allclose(_parallel.matmul(a, b), want, rtol=1e-5, atol=1e-5)
    assert calls == []


@pytest.mark.parametrize("data_format", ["NHWC", "NCHW"])
def test_convolutions_split_over_images_equal_one_thread(data_format: str, monkeypatch: Any) -> None:
    from opcore_numpy.kernels import image

    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, 9, 8, 3) if data_format == "NHWC" else (7, 3, 9, 8)).astype(np.float32)
    w = rng.normal(size=(3, 2, 3, 4)).astype(np.float32)
    xt, wt = opcore.constant(x), opcore.constant(w)
    kw: dict[str, Any] = {"strides": [1, 1, 1, 1], "padding": "SAME", "data_format": data_format}

    def run() -> list[np.ndarray]:
        with opcore.GradientTape() as tape:
            tape.watch(xt)
            tape.watch(wt)
            y = opcore.conv2d(xt, wt, **kw)
            loss = opcore.reduce_sum(y * y)
        dx, dw = tape.gradient(loss, [xt, wt])
        return [y.numpy(), dx.numpy(), dw.numpy()]

    calls = _record(monkeypatch, "run_with_blas")
    one = run()
    assert calls and all(len(r) == 1 for r in calls)  # small: the whole batch on the calling thread
    calls.clear()
    monkeypatch.setattr(_parallel, "threads", lambda: 3)
    monkeypatch.setattr(image, "_MIN_MACS_PER_THREAD", 1)
    split = run()
    assert len(calls) == 3 and all(r == [(0, 2), (2, 4), (4, 7)] for r in calls)  # forward, both gradients
    for got, want in zip(split, one, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_convolutions_from_many_threads_at_once_agree_and_leave_blas_as_it_was(monkeypatch: Any) -> None:
    from opcore_numpy.kernels import image

    blas = _parallel._blas_controllers()
    before = [c.num_threads for c in blas]
    monkeypatch.setattr(_parallel, "threads", lambda: 2)
    monkeypatch.setattr(image, "_MIN_MACS_PER_THREAD", 1)  # every call splits, or runs held on its thread
    monkeypatch.setattr(_parallel, "MIN_SPLIT_MACS", 1)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 10, 10, 3)).astype(np.float32)
    w = rng.normal(size=(3, 3, 3, 5)).astype(np.float32)
    m = rng.normal(size=(40, 30)).astype(np.float32)
    want_conv = opcore.conv2d(opcore.constant(x), opcore.constant(w), [1, 1, 1, 1], "SAME").numpy()
    want_mm = m @ m.T
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker() -> None:
        try:
            start.wait(5)
            for _ in range(30):
                got = opcore.conv2d(opcore.constant(x), opcore.constant(w), [1, 1, 1, 1], "SAME").numpy()
                np.testing.assert_allclose(got, want_conv, rtol=1e-5, atol=1e-5)
                got_mm = opcore.matmul(opcore.constant(m), opcore.constant(m), transpose_b=True).numpy()
                np.testing.assert_allclose(got_mm, want_mm, rtol=1e-5, atol=1e-5)
        except BaseException as e:  # handed to the test's thread
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert [c.num_threads for c in blas] == before


def test_blas_calls_near_held_work_hold_blas_too(monkeypatch: Any) -> None:
    from opcore_numpy.kernels import reduce

    monkeypatch.setattr(_parallel, "threads", lambda: 2)
    calls = _record(monkeypatch, "run_with_blas")
    rng = np.random.default_rng(4)
    mid = rng.normal(size=(64, 256)).astype(np.float32), rng.normal(size=(256, 128)).astype(np.float32)
    big = rng.normal(size=(256, 256)).astype(np.float32), rng.normal(size=(256, 128)).astype(np.float32)
    column = rng.normal(size=(300, 256)).astype(np.float32)  # a sum large enough for BLAS's gemv

    monkeypatch.setattr(_parallel, "_last_held", -float("inf"))  # away from held work: BLAS's own threads
    assert not _parallel.near_held()
    np.testing.assert_allclose(_parallel.matmul(*mid), mid[0] @ mid[1], rtol=1e-5, atol=1e-4)
    got = opcore.reduce_sum(opcore.constant(column), axis=1).numpy()
    np.testing.assert_allclose(got, column.sum(axis=1), rtol=1e-4, atol=1e-4)
    assert calls == []

    _parallel.held(np.dot, column, np.ones(256, np.float32))  # held work: the window opens
    assert _parallel.near_held()
    calls.clear()
    np.testing.assert_allclose(_parallel.matmul(*mid), mid[0] @ mid[1], rtol=1e-5, atol=1e-4)
    assert calls == [[(0, 1)]]  # 2^21 multiply-adds: held, on this thread
    calls.clear()
    np.testing.assert_allclose(_parallel.matmul(*big), big[0] @ big[1], rtol=1e-5, atol=1e-4)
    assert calls == [[(0, 128), (128, 256)]]  # 2^23: split near held work (2^25 away from it)
    calls.clear()
    got = opcore.reduce_sum(opcore.constant(column), axis=1).numpy()
    np.testing.assert_allclose(got, column.sum(axis=1), rtol=1e-4, atol=1e-4)
    assert calls == [[(0, 1)]]  # the sum's matrix-vector product, held
    calls.clear()
    whole = rng.normal(size=(64, 4096)).astype(np.float32)
    np.testing.assert_allclose(float(reduce.large_sum(whole, (0, 1), False)), float(whole.sum()), rtol=1e-4)
    assert calls == [[(0, 1)]]
    monkeypatch.setattr(_parallel, "_last_held", _parallel._monotonic() - _parallel.NEAR_HELD_S - 0.01)
    assert not _parallel.near_held()  # the window closes


def test_large_elementwise_ops_split_into_blocks_agree_with_numpy(monkeypatch: Any) -> None:
    import warnings

    monkeypatch.setattr(_parallel, "threads", lambda: 2)
    ranges = _record(monkeypatch, "run")
    rng = np.random.default_rng(6)
    x = rng.normal(size=(16, 32, 32, 64)).astype(np.float32)  # 2^20 elements: split in two
    y = rng.normal(size=x.shape).astype(np.float32)
    bias = rng.normal(size=64).astype(np.float32)
    big = np.full(x.shape, 100.0, np.float32)  # exp overflows: no warning, from any thread
    xt, yt, bt = opcore.constant(x), opcore.constant(y), opcore.constant(bias)
    cases: list[tuple[Any, Any]] = [
        (lambda: xt + yt, x + y),
        (lambda: xt * 2.0, x * 2.0),
        (lambda: opcore.maximum(xt, yt), np.maximum(x, y)),
        (lambda: xt > yt, x > y),
        (lambda: opcore.relu(xt), np.maximum(x, 0)),
        (lambda: opcore.where(xt > 0, yt, opcore.zeros_like(yt)), np.where(x > 0, y, 0)),
        (lambda: opcore.where(xt > 0, yt, xt), np.where(x > 0, y, x)),
        (lambda: opcore.bias_add(xt, bt), x + bias),
        (lambda: opcore.bias_add(opcore.constant(x.transpose(0, 3, 1, 2).copy()), bt, data_format="NCHW"),
         x.transpose(0, 3, 1, 2) + bias[:, None, None]),
        (lambda: opcore.exp(opcore.constant(big)), np.full(x.shape, np.inf, np.float32)),
    ]  # fmt: skip
    for run, want in cases:
        ranges.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = run().numpy()
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
        assert ranges and all(len(r) == 2 for r in ranges), ranges  # it was split
    small = opcore.constant(x[:1, :4])
    ranges.clear()
    np.testing.assert_array_equal(opcore.relu(small).numpy(), np.maximum(x[:1, :4], 0))
    assert ranges == []


def test_a_blas_controller_that_fails_turns_holding_off_and_kernels_still_run(monkeypatch: Any) -> None:
    class Broken:
        def get_num_threads(self) -> int:
            return 2

        def set_num_threads(self, n: int) -> None:
            raise OSError("the BLAS library went away")

    monkeypatch.setattr(_parallel, "_blas", [Broken()])
    monkeypatch.setattr(_parallel, "threads", lambda: 2)
    seen: list[str] = []

    def block(lo: int, hi: int) -> int:
        seen.append(threading.current_thread().name)
        return hi - lo

    assert _parallel.run_with_blas(block, [(0, 2), (2, 5)]) == [2, 3]
    assert seen == [threading.current_thread().name] * 2  # one after another, on this thread
    assert _parallel._blas == []  # turned off for the process
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4, 6, 6, 3)).astype(np.float32)
    w = rng.normal(size=(3, 3, 3, 2)).astype(np.float32)
    got = opcore.conv2d(opcore.constant(x), opcore.constant(w), [1, 1, 1, 1], "VALID").numpy()
    want = sum(np.einsum("nhwc,co->nhwo", x[:, i : i + 4, j : j + 4], w[i, j]) for i in range(3) for j in range(3))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("value, cap", [("1", 1), ("3,2", 3), (" 2 ", 2), ("0", None), ("", None), ("many", None)])
def test_omp_num_threads_caps_the_backends_threads(value: str, cap: int | None, monkeypatch: Any) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert _parallel._thread_cap() == cap
    monkeypatch.setattr(_parallel, "_CAP", _parallel._thread_cap())
    monkeypatch.setattr(_parallel.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert _parallel.threads() == (2 if cap is None else min(2, cap))
    if cap == 1:  # one thread: a large product is not split
        a = np.ones((512, 512), np.float32)
        monkeypatch.setattr(_parallel, "MIN_SPLIT_MACS", 1)
        monkeypatch.setattr(_parallel, "_last_held", -float("inf"))
        calls = _record(monkeypatch, "run_with_blas")
        np.testing.assert_array_equal(_parallel.matmul(a, a), a @ a)
        assert calls == []
