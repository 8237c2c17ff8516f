"""OpenCL backend benchmark: GEMM throughput, kernel build times and an MLP training step, in one run.

    python benchmarks/opencl.py [--sizes 256 1024 2048] [--repeats 5] [--steps 20]

1. float32 GEMM GFLOP/s at each size through ``opcore.matmul`` on the OpenCL
   device vs ``numpy.matmul`` (BLAS) on the host CPU; best of --repeats, the
   OpenCL timing includes ``queue.finish()``. Key ratio: OpenCL / NumPy
   (target >= 25% when the OpenCL device is PoCL on the same CPU).
2. Kernel build time: cold (a source never built before, so no cache of
   any layer helps), rebuilt from the disk caches (same source, new program
   object) and warm (the runtime's in-process program cache).
3. MNIST MLP training step (784-256-128-10 sigmoid, batch 128, Adam 1e-3,
   synthetic data) through an opcore Session on "opencl" vs "numpy", with the
   kernel launches, builds and transfers per step from ``runtime.counters``,
   and the kernel builds of a step at other batch sizes (target: none).
4. Row and index kernels, eager, OpenCL vs the NumPy backend on the same inputs
   (median of --repeats interleaved calls, the OpenCL time includes
   ``queue.finish()``): Softmax and ArgMax on (4096, 1000), Gather and
   GatherGrad of (10000, 64) params with 50,000 indices, a 16M-element sum.
   Key ratio: the worst OpenCL / NumPy (target <= 2 on a CPU device);
   GatherGrad's time (target < 0.2 s).
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

import opcore


def best_of(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up: builds kernels, fills pools
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def gemm_rows(sizes: list[int], repeats: int) -> list[tuple[int, float, float]]:
    rt = opcore.get_backend("opencl").runtime
    rng = np.random.default_rng(0)
    rows = []
    for n in sizes:
        a_h = rng.random((n, n), dtype=np.float32)
        b_h = rng.random((n, n), dtype=np.float32)
        a = opcore.constant(a_h, backend="opencl")
        b = opcore.constant(b_h, backend="opencl")

        def run_cl(a: Any = a, b: Any = b) -> None:
            opcore.matmul(a, b)
            rt.queue.finish()

        t_cl = best_of(run_cl, repeats)
        t_np = best_of(lambda a_h=a_h, b_h=b_h: np.matmul(a_h, b_h), repeats)
        # A sanity check that the timed product is the right one.
        got = opcore.matmul(a, b).numpy()
        np.testing.assert_allclose(got, a_h @ b_h, rtol=1e-3, atol=1e-3 * n)
        flops = 2.0 * n**3
        rows.append((n, flops / t_cl / 1e9, flops / t_np / 1e9))
    return rows


def build_times() -> dict[str, float]:
    """Cold and warm cost of the tiled GEMM kernel, built and run once on a 64 x 64 product.

    PoCL compiles a kernel for its work-group size at the first launch, so
    "cold" times the program build plus the first launch; "warm" the same call
    with the kernel cached. "launch" is the cost of one trivial launch (a buffer and two scalars).
    """
    import pyopencl as cl

    from opcore_ckernels import gemm
    from opcore_ckernels.dialect import render

    rt = opcore.get_backend("opencl").runtime
    n = 64
    a, b, c = (rt.to_device(np.ones((n, n), np.float32)) for _ in range(3))
    offs = rt.cached(("bench-offs",), lambda: np.zeros(3, np.int64))  # one product: A, B and C at 0
    args = [c.data, a.data, b.data, offs.data, np.int32(n), np.int32(n), np.int32(n)]
    local = (gemm.TILE_WN, gemm.TILE_WM, 1)
    glob = (
        -(-n // (gemm.TILE_NV * 16 * gemm.TILE_WN)) * gemm.TILE_WN,
        -(-n // (gemm.TILE_RM * gemm.TILE_WM)) * gemm.TILE_WM,
        1,
    )
    # A unique comment makes a source that no cache (runtime, pyopencl, PoCL) has seen.
    src = gemm._tiled_source("float", False, False) + f"\n// benchmark {uuid.uuid4().hex}\n"

    def call() -> None:
        rt.launch(rt.kernel(("bench-gemm", src), lambda: src, "mm_tiled"), glob, args, local_size=local)
        rt.queue.finish()

    t = time.perf_counter()
    call()
    cold = time.perf_counter() - t
    warm = min(_timed(call) for _ in range(20))
    t = time.perf_counter()
    prog = cl.Program(rt.context, render(src, "opencl")).build()
    prog.mm_tiled(rt.queue, glob, local, *args)
    rt.queue.finish()
    disk = time.perf_counter() - t
    np.testing.assert_allclose(c.get(), np.full((n, n), n, np.float32))
    # Shaped like the library's kernels: buffers, then sizes passed by value.
    noop = rt.kernel(
        "bench-noop", lambda: "__kernel void noop(__global float* x, const long n, const int m) { }\n", "noop"
    )
    rt.launch(noop, (1,), [c.data, np.int64(1), np.int32(1)])
    rt.queue.finish()
    t = time.perf_counter()
    for _ in range(1000):
        rt.launch(noop, (1,), [c.data, np.int64(1), np.int32(1)])
    rt.queue.finish()
    launch = (time.perf_counter() - t) / 1000
    return {"cold": cold, "disk": disk, "warm": warm, "launch": launch}


def _timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def mlp_step(backend: str, batch: int = 128) -> Callable[[], None]:
    g = opcore.Graph()
    opcore.set_seed(0)
    with g.as_default():
        x = opcore.placeholder(opcore.float32, [None, 784])
        y = opcore.placeholder(opcore.float32, [None, 10])
        h = opcore.layers.dense(x, 256, activation="sigmoid")
        h = opcore.layers.dense(h, 128, activation="sigmoid")
        logits = opcore.layers.dense(h, 10)
        loss = opcore.reduce_mean(opcore.softmax_cross_entropy_with_logits(labels=y, logits=logits))
        train = opcore.train.AdamOptimizer(1e-3).minimize(loss)
        init = opcore.global_variables_initializer()
    sess = opcore.Session(g, backend=backend)
    sess.run(init)
    rng = np.random.default_rng(0)
    feed = {x: rng.random((batch, 784), dtype=np.float32), y: np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]}
    rt = opcore.get_backend("opencl").runtime if backend == "opencl" else None

    def step() -> None:
        sess.run(train, feed)
        if rt is not None:
            rt.queue.finish()

    return step


def op_rows(repeats: int) -> list[tuple[str, float, float]]:
    """(op, OpenCL ms, NumPy ms): medians of ``repeats`` interleaved eager calls on the same inputs."""
    rt = opcore.get_backend("opencl").runtime
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4096, 1000)).astype(np.float32)
    params = rng.standard_normal((10000, 64)).astype(np.float32)
    idx = rng.integers(0, 10000, 50000).astype(np.int32)
    dy = rng.standard_normal((50000, 64)).astype(np.float32)
    big = rng.standard_normal(1 << 24).astype(np.float32)
    cases: list[tuple[str, Callable[..., Any], list[np.ndarray]]] = [
        ("Softmax (4096, 1000)", opcore.softmax, [x]),
        ("ArgMax axis 1 (4096, 1000)", lambda t: opcore.argmax(t, axis=1), [x]),
        ("Gather (10000, 64) x 50000", opcore.gather, [params, idx]),
        ("GatherGrad (10000, 64) x 50000", opcore.gather_grad, [dy, idx, params]),
        ("Sum of 16M floats", opcore.reduce_sum, [big]),
    ]
    rows = []
    for name, fn, host in cases:
        inputs = {b: [opcore.constant(h, backend=b) for h in host] for b in ("numpy", "opencl")}
        times: dict[str, list[float]] = {b: [] for b in inputs}
        for k in range(repeats + 1):  # the first round warms up: builds, pools
            for b, args in inputs.items():
                t = time.perf_counter()
                fn(*args)
                if b == "opencl":
                    rt.queue.finish()
                if k:
                    times[b].append(time.perf_counter() - t)
        rows.append((name, float(np.median(times["opencl"])) * 1e3, float(np.median(times["numpy"])) * 1e3))
    return rows


def builds_for_batches(batches: list[int]) -> int:
    """Kernel sources built by MLP training steps at ``batches`` after a step at batch 128."""
    rt = opcore.get_backend("opencl").runtime
    mlp_step("opencl", 128)()
    before = rt.counters["sources"]
    for batch in batches:
        mlp_step("opencl", batch)()
    return int(rt.counters["sources"] - before)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="*", default=[256, 1024, 2048])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    args = p.parse_args()
    ok, why = opcore.get_backend("opencl").availability()
    if not ok:
        raise SystemExit(f"the opencl backend is unavailable: {why}")
    rt = opcore.get_backend("opencl").runtime
    print(f"device: {rt.device.name.strip()} ({rt.device.platform.name.strip()}, {rt.device.max_compute_units} units)")

    print("\nfloat32 GEMM (n x n @ n x n), best of", args.repeats)
    print(f"{'n':>6} {'opencl GFLOP/s':>15} {'numpy GFLOP/s':>14} {'opencl/numpy':>13}")
    for n, g_cl, g_np in gemm_rows(args.sizes, args.repeats):
        print(f"{n:>6} {g_cl:>15.1f} {g_np:>14.1f} {g_cl / g_np:>12.0%}")

    bt = build_times()
    print("\nkernel build + first run (tiled GEMM source, 64 x 64 product)")
    print(f"  cold (new source):              {bt['cold'] * 1e3:8.1f} ms")
    print(f"  same source, new program:       {bt['disk'] * 1e3:8.1f} ms  (pyopencl/PoCL disk caches)")
    print(f"  warm (runtime program cache):   {bt['warm'] * 1e3:8.3f} ms")
    print(f"  one empty kernel launch:        {bt['launch'] * 1e6:8.1f} us")

    print(f"\nMNIST MLP training step (784-256-128-10 sigmoid, batch 128, Adam), best of 3 x {args.steps} steps")
    times = {}
    for backend in ("numpy", "opencl"):
        step = mlp_step(backend)
        for _ in range(3):
            step()
        before = rt.counters.copy()
        t_best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(args.steps):
                step()
            t_best = min(t_best, (time.perf_counter() - t) / args.steps)
        times[backend] = t_best * 1e3
        if backend == "opencl":
            per = {k: (rt.counters[k] - before.get(k, 0)) / (3 * args.steps) for k in rt.counters}
    print(f"{'backend':>8} {'ms/step':>9}")
    for backend, ms in times.items():
        print(f"{backend:>8} {ms:>9.2f}")
    print(f"key ratio opencl/numpy step time: {times['opencl'] / times['numpy']:.2f}x")
    print("opencl per step: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(per.items())))
    launches = max(per.get("launches", 1), 1)
    print(
        f"  step time / launches = {times['opencl'] * 1e3 / launches:.0f} us; launch overhead alone "
        f"~{launches * bt['launch'] * 1e3:.2f} ms of the {times['opencl']:.2f} ms step"
    )
    batches = [64, 100, 37]
    print(f"kernel sources built by steps at batch sizes {batches} after batch 128: {builds_for_batches(batches)}")

    print(f"\nops, eager, median of {max(args.repeats, 7)} interleaved calls (opencl includes queue.finish())")
    print(f"{'op':<32} {'opencl ms':>10} {'numpy ms':>10} {'opencl/numpy':>13}")
    rows = op_rows(max(args.repeats, 7))
    for name, t_cl, t_np in rows:
        print(f"{name:<32} {t_cl:>10.2f} {t_np:>10.2f} {t_cl / t_np:>12.2f}x")
    print(f"key ratio worst op opencl/numpy: {max(t_cl / t_np for _, t_cl, t_np in rows):.2f}x (target <= 2)")
    grad = next(t_cl for name, t_cl, _ in rows if name.startswith("GatherGrad"))
    print(f"GatherGrad (10000, 64) x 50000 on opencl: {grad / 1e3:.3f} s (target < 0.2 s)")


if __name__ == "__main__":
    main()
