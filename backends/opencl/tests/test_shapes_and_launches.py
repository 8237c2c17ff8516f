"""Kernel builds and launches of training steps: a new batch size builds nothing, shape-only ops launch nothing."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import opcore

BACKEND = "opencl"

pytestmark = pytest.mark.skipif(not opcore.get_backend(BACKEND).availability()[0], reason="no OpenCL device")


def _runtime() -> object:
    return opcore.get_backend(BACKEND).runtime


def _benchmark() -> Any:
    """benchmarks/opencl.py as a module (its MLP step and its GEMM build probe)."""
    path = Path(__file__).resolve().parents[3] / "benchmarks" / "opencl.py"
    spec = importlib.util.spec_from_file_location("opencl_benchmark", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def _mlp_step(batch: int) -> Callable[[], None]:
    """The benchmarks' MLP (784-256-128-10 sigmoid, Adam) training step on OpenCL, ``batch`` rows."""
    step: Callable[[], None] = _benchmark().mlp_step(BACKEND, batch)
    return step


def test_a_new_batch_size_builds_no_kernel() -> None:
    rt = _runtime()
    # The weight gradients' products have the batch as their depth K, and the tiled GEMM has a kernel
    # for each of its three K tile depths (gemm._k_depth): batches 128, 96 and 64 take one each.
    for first in (128, 96, 64):
        step = _mlp_step(first)
        step()
        step()
    counters = rt.counters  # type: ignore[attr-defined]
    built, compiled = counters["sources"], counters["builds"]
    assert built > 0
    # (Not batch 1: there the (batch, 1) loss gradient has one element, and the elementwise kernels read
    # one-element inputs as scalars, a kernel of their own.)
    for batch in (100, 37, 2, 90, 50, 17, 120):
        s = _mlp_step(batch)
        s()
        s()
    # Sizes are kernel arguments: every kernel of the step was built for batch 128 already.
    assert counters["sources"] == built
    assert counters["builds"] == compiled


def test_eager_ops_with_a_new_leading_dimension_build_no_kernel() -> None:
    rt = _runtime()
    rng = np.random.default_rng(0)

    def ops(rows: int) -> None:
        x = opcore.constant(rng.standard_normal((rows, 300)).astype(np.float32), backend=BACKEND)
        idx = opcore.constant(rng.integers(0, 300, rows * 3).astype(np.int32), backend=BACKEND)
        table = opcore.constant(rng.standard_normal((300, 16)).astype(np.float32), backend=BACKEND)
        labels = opcore.constant(rng.integers(0, 300, rows).astype(np.int32), backend=BACKEND)
        opcore.softmax(x).numpy()
        opcore.log_softmax(x).numpy()
        opcore.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=x)[0].numpy()
        opcore.argmax(x, axis=1).numpy()
        opcore.reduce_sum(x, axis=0).numpy()
        opcore.reduce_max(x, axis=1).numpy()
        opcore.reduce_mean(x).numpy()
        rows_of = opcore.gather(table, idx)
        opcore.gather_grad(rows_of, idx, table).numpy()

    # Tall columns (reduce_sum over 2000 rows) are summed in chunks whose partial sums take a kernel of
    # their own: one more source per reduction kind and dtype, built once; then no size builds anything.
    # (Not one row: a sum over a length-1 axis and a GatherGrad of at most 8 indices have kernels of
    # their own.)
    ops(50)
    ops(2000)
    counters = rt.counters  # type: ignore[attr-defined]
    built = counters["sources"]
    for rows in (7, 3000, 120, 3):
        ops(rows)
    assert counters["sources"] == built


def test_gather_grad_builds_once_and_launches_three_kernels_per_radix_pass() -> None:
    # The radix sort of the indices (passes of count, scan and scatter: two for up to 2^16 rows), the
    # segment starts and the segment sums: sizes, digit widths and pass counts are arguments.
    from opcore_ckernels.kernels._compact import radix_passes

    rt = _runtime()
    rng = np.random.default_rng(1)
    counters = rt.counters  # type: ignore[attr-defined]

    def grad(nidx: int, rows: int) -> None:
        idx = opcore.constant(rng.integers(0, rows, nidx).astype(np.int32), backend=BACKEND)
        dy = opcore.constant(rng.standard_normal((nidx, 8)).astype(np.float32), backend=BACKEND)
        table = opcore.constant(np.zeros((rows, 8), np.float32), backend=BACKEND)
        before = counters["launches"]
        out = opcore.gather_grad(dy, idx, table)
        launched = counters["launches"] - before
        assert launched == 3 * radix_passes(rows)[0] + 2, (nidx, rows, launched)
        out.numpy()

    grad(100, 50)
    built = counters["sources"]
    for nidx, rows in ((9, 3), (5000, 1000), (50000, 10000), (777, 70000), (12345, 2)):  # 1, 2, 2, 3, 1 passes
        grad(nidx, rows)
    assert counters["sources"] == built


def test_an_mlp_step_launches_at_most_38_kernels() -> None:
    # 43 before SumToLike stopped copying its input when there is nothing to sum.
    rt = _runtime()
    step = _mlp_step(32)
    step()
    counters = rt.counters  # type: ignore[attr-defined]
    before = counters["launches"]
    step()
    assert counters["launches"] - before <= 38


def test_sum_to_like_without_summing_launches_nothing_and_an_update_keeps_it() -> None:
    from opcore.ops import _broadcast as B

    rt = _runtime()
    x = opcore.constant(np.arange(6, dtype=np.float32).reshape(1, 2, 3), backend=BACKEND)
    like = opcore.constant(np.zeros((2, 3), np.float32), backend=BACKEND)
    counters = rt.counters  # type: ignore[attr-defined]
    before = counters["launches"]
    y = B.sum_to_like(x, like)
    assert counters["launches"] == before
    assert y.shape == (2, 3) and y.numpy().tolist() == [[0, 1, 2], [3, 4, 5]]
    # y shares x's buffer: an optimizer update of a variable holding it must not write into it.
    v = opcore.Variable(np.zeros((2, 3), np.float32), backend=BACKEND)
    v.assign(y)
    opcore.train.GradientDescentOptimizer(1.0).apply_gradients([(opcore.ones_like(y), v)])
    assert v.numpy().tolist() == [[-1, 0, 1], [2, 3, 4]]
    assert y.numpy().tolist() == [[0, 1, 2], [3, 4, 5]]
    assert x.numpy().tolist() == [[[0, 1, 2], [3, 4, 5]]]


def test_an_upload_snapshots_the_host_array_without_waiting_for_the_queue() -> None:
    rt = _runtime()
    host = np.arange(1 << 20, dtype=np.float32)
    busy = opcore.constant(np.ones((512, 512), np.float32), backend=BACKEND)
    opcore.matmul(busy, busy)  # kernels queued before the upload
    dev = rt.to_device(host)  # type: ignore[attr-defined]
    host[:] = -1  # the caller reuses its array at once
    assert np.array_equal(rt.get(dev), np.arange(1 << 20, dtype=np.float32))  # type: ignore[attr-defined]
    empty = rt.to_device(np.zeros((0, 3), np.int8))  # type: ignore[attr-defined]
    assert empty.shape == (0, 3) and rt.get(empty).shape == (0, 3)  # type: ignore[attr-defined]
    scalar = rt.to_device(np.array(2.5))  # type: ignore[attr-defined]
    assert rt.get(scalar).shape == () and float(rt.get(scalar)) == 2.5  # type: ignore[attr-defined]


@pytest.mark.filterwarnings("ignore::pyopencl.CompilerWarning")  # the probe builds with plain pyopencl
def test_the_benchmarks_build_probe_launches_the_tiled_gemm_with_its_arguments() -> None:
    # benchmarks/opencl.py launches the tiled GEMM source by hand to time its build; its arguments
    # must follow the kernel's signature (it checks the product it computes).
    times = _benchmark().build_times()
    assert set(times) == {"cold", "disk", "warm", "launch"} and all(v > 0 for v in times.values())


_AXPB = """
__kernel void axpb(__global float* out, __global const float* x, float a, long b, uchar c, long n) {
  long i = get_global_id(0);
  if (i < n) out[i] = a * x[i] + (float)b + (float)c;
}
"""


def test_a_kernels_scalar_arguments_are_marked_at_its_first_launch_and_each_launch_passes_its_own() -> None:
    import pyopencl as cl

    rt: Any = _runtime()
    kernel = rt.kernel(("test-axpb",), lambda: _AXPB, "axpb")
    x = rt.to_device(np.arange(6, dtype=np.float32))
    outs = []
    # bool and uint8 share the C type uchar, so one kernel serves both: a later launch's uint8 must
    # not be converted to the first launch's bool.
    for a, b, c in ((np.float32(2), 1, np.bool_(True)), (np.float32(-0.5), -7, np.uint8(200)),
                    (np.float32(3), 1 << 40, np.bool_(False))):  # fmt: skip
        out = rt.empty((6,), np.float32)
        rt.launch(kernel, (6,), [out.data, x.data, a, np.int64(b), c, np.int64(6)])
        outs.append((out, a, b, c))
    assert kernel._opcore_typed is True  # marked once, then reused
    for out, a, b, c in outs:
        want = a * np.arange(6, dtype=np.float32) + np.float32(b) + np.float32(c)
        np.testing.assert_array_equal(rt.get(out), want)
    # A scalar of the wrong size is still an error, as on an unmarked kernel.
    with pytest.raises(cl.LogicError, match="INVALID_ARG_SIZE"):
        rt.launch(kernel, (6,), [out.data, x.data, np.float64(1), np.int64(0), np.uint8(0), np.int64(6)])
    # A launch over no work-items is skipped.
    before = rt.counters["launches"]
    rt.launch(kernel, (0,), [out.data, x.data, np.float32(1), np.int64(0), np.uint8(0), np.int64(0)])
    assert rt.counters["launches"] == before


def test_uploads_held_until_done_are_bounded_and_dropped_once_complete() -> None:
    from opcore_opencl import runtime as runtime_module

    rt: Any = _runtime()
    busy = opcore.constant(np.ones((256, 256), np.float32), backend=BACKEND)
    hosts = [np.full((64, 64), k, np.float32) for k in range(3 * runtime_module._PENDING_UPLOADS)]
    devs = []
    for h in hosts:
        opcore.matmul(busy, busy)  # work queued ahead of each copy
        devs.append(rt.to_device(h))
        h[:] = -1  # the snapshot, not the caller's array, is copied
        assert len(rt._uploads) <= runtime_module._PENDING_UPLOADS
    del devs[::2]  # freeing an array whose copy may still be queued
    rt.queue.finish()
    rt.to_device(np.zeros(3, np.float32))  # the next upload drops the completed ones
    assert len(rt._uploads) <= 1
    assert rt._pending_bytes == sum(n for _, n in rt._uploads)
    for k, d in zip(range(1, len(hosts), 2), devs):
        assert np.array_equal(rt.get(d), np.full((64, 64), k, np.float32))
