"""Kernel time per op: opcore on each backend vs PyTorch CPU, in one run.

    python benchmarks/kernels.py [--backends numpy opencl] [--ops 'Conv*' 'MaxPool*'] [--rounds 5] [--pause-ms 200]

One eager call per row, on inputs already on the backend, so what is timed is the
kernel (dispatch adds microseconds to rows of milliseconds). The shapes are those of
the CNN in ``benchmarks/training.py`` (its second convolution, batch 64) and of an
embedding lookup (params (10000, 64), 50,000 indices). PyTorch runs the same
computation in its own default layout (NCHW) and its training path: the gradient rows
call the ATen backward kernels that autograd calls (``convolution_backward``,
``max_pool2d_with_indices_backward`` given the forward's indices,
``avg_pool2d_backward``, ``embedding_dense_backward``). PyTorch's max-pool gradient
reads the indices its training forward saved, while MaxPoolGrad finds the maxima again,
so a "fwd+grad" row times what a training step pays for the pair on each side
(``max_pool2d_with_indices`` and its backward). OpenCL rows wait for the queue to finish.

Runners are interleaved round by round (each round times every runner once, with
enough calls to last about --min-ms), and a row shows the best round: on a shared
machine that is the figure least disturbed by other work. Prints ms per call per
backend, the ratio to torch and, for the other backends, to NumPy. Rows that are BLAS
products (convolutions, MatMul) also show the bare ``np.matmul`` of the same sizes into
a preallocated output ("GEMM": what the NumPy kernel cannot go below on this BLAS) and
the NumPy row's ratio to it. The key figures are the worst NumPy/torch ratio
(target <= 2) and each other backend's worst ratio to NumPy.
A runner whose first call takes longer than --slow-s is timed by that call alone. Each
round starts after --pause-ms of idle time: the worker threads of the runner before it
(OpenMP in PyTorch, TBB in Intel's OpenCL runtime) spin for a while after their work and
would otherwise take the cores from the next runner. Rounds last --min-ms or more
because a core that was idle takes tens of milliseconds to reach full speed again.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import opcore
from opcore.ops import image, indexing

#: conv: the CNN's second convolution; pools: its pooled activation shape.
BATCH, SIDE, CIN, COUT = 64, 26, 32, 64
POOL = (64, 24, 24, 64)
EMBED, DIM, LOOKUPS = 10000, 64, 50000
SOFTMAX = (1024, 1000)
REDUCE = (4096, 1024)
MATMUL = 1024
ONES = [1, 1, 1, 1]


def inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)

    def f32(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape, dtype=np.float32)

    n, h, w, c = POOL
    return {
        "x": f32(BATCH, SIDE, SIDE, CIN),
        "w": f32(3, 3, CIN, COUT),
        "dy": f32(BATCH, SIDE - 2, SIDE - 2, COUT),
        "px": f32(*POOL),
        "pdy_max": f32(n, h // 2, w // 2, c),
        "pdy_avg": f32(*POOL),
        "logits": f32(*SOFTMAX),
        "params": f32(EMBED, DIM),
        "idx": rng.integers(0, EMBED, LOOKUPS).astype(np.int64),
        "gdy": f32(LOOKUPS, DIM),
        "big": f32(*REDUCE),
        "a": f32(MATMUL, MATMUL),
        "b": f32(MATMUL, MATMUL),
    }


Case = tuple[str, str, Callable[[dict[str, Any]], Any]]

#: (row, shapes, the call given the inputs as backend tensors), in the table's order.
OPCORE: list[Case] = [
    ("Conv2D", "x(64,26,26,32) w(3,3,32,64)", lambda t: opcore.conv2d(t["x"], t["w"], 1, "VALID")),
    (
        "Conv2D input grad",
        "dy(64,24,24,64)",
        lambda t: image.conv2d_backprop_input(t["x"], t["w"], t["dy"], strides=ONES, padding="VALID"),
    ),
    (
        "Conv2D filter grad",
        "dy(64,24,24,64)",
        lambda t: image.conv2d_backprop_filter(t["x"], t["w"], t["dy"], strides=ONES, padding="VALID"),
    ),
    ("MaxPool 2x2/2", "x(64,24,24,64)", lambda t: opcore.max_pool(t["px"], 2, 2, "VALID")),
    (
        "MaxPool 2x2/2 grad",
        "x(64,24,24,64)",
        lambda t: image.max_pool_grad(
            t["px"], t["py_max"], t["pdy_max"], ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID"
        ),
    ),
    (
        "MaxPool 2x2/2 fwd+grad",
        "x(64,24,24,64)",
        lambda t: image.max_pool_grad(
            t["px"],
            opcore.max_pool(t["px"], 2, 2, "VALID"),
            t["pdy_max"],
            ksize=[1, 2, 2, 1],
            strides=[1, 2, 2, 1],
            padding="VALID",
        ),
    ),
    ("AvgPool 3x3/1 SAME", "x(64,24,24,64)", lambda t: opcore.avg_pool(t["px"], 3, 1, "SAME")),
    (
        "AvgPool 3x3/1 SAME grad",
        "x(64,24,24,64)",
        lambda t: image.avg_pool_grad(t["px"], t["pdy_avg"], ksize=[1, 3, 3, 1], strides=ONES, padding="SAME"),
    ),
    ("Softmax", "(1024,1000)", lambda t: opcore.softmax(t["logits"])),
    ("ArgMax", "(1024,1000) axis 1", lambda t: opcore.argmax(t["logits"], axis=1)),
    ("Gather", "(10000,64)[50000]", lambda t: opcore.gather(t["params"], t["idx"])),
    ("GatherGrad", "(50000,64) -> (10000,64)", lambda t: indexing.gather_grad(t["gdy"], t["idx"], t["params"])),
    ("Sum all", "(4096,1024)", lambda t: opcore.reduce_sum(t["big"])),
    ("Sum axis 0", "(4096,1024)", lambda t: opcore.reduce_sum(t["big"], axis=0)),
    ("MatMul", "(1024,1024)^2", lambda t: opcore.matmul(t["a"], t["b"])),
]


def gemm_bounds(arrays: dict[str, np.ndarray]) -> dict[str, Callable[[], Any]]:
    """The bare BLAS products (``np.matmul`` into a preallocated output) that the rows' NumPy
    kernels perform, of the same sizes: what those rows cannot go below on this BLAS."""
    rng = np.random.default_rng(1)
    rows, taps = BATCH * (SIDE - 2) ** 2, 9 * CIN
    cols = rng.standard_normal((rows, taps), dtype=np.float32)
    wmat = arrays["w"].reshape(taps, COUT)
    dy = arrays["dy"].reshape(rows, COUT)
    out_fwd, out_in, out_w = (
        np.empty((rows, COUT), np.float32),
        np.empty((rows, taps), np.float32),
        np.empty((taps, COUT), np.float32),
    )
    out_mm = np.empty((MATMUL, MATMUL), np.float32)
    return {
        "Conv2D": lambda: np.matmul(cols, wmat, out=out_fwd),
        "Conv2D input grad": lambda: np.matmul(dy, wmat.T, out=out_in),
        "Conv2D filter grad": lambda: np.matmul(cols.T, dy, out=out_w),
        "MatMul": lambda: np.matmul(arrays["a"], arrays["b"], out=out_mm),
    }


def torch_cases(arrays: dict[str, np.ndarray]) -> dict[str, Callable[[], Any]]:
    try:
        import torch
    except ImportError:
        return {}
    aten = torch.ops.aten
    nchw = {k: torch.from_numpy(np.ascontiguousarray(arrays[k].transpose(0, 3, 1, 2))) for k in ("x", "dy", "px")}
    nchw["pdy_max"] = torch.from_numpy(np.ascontiguousarray(arrays["pdy_max"].transpose(0, 3, 1, 2)))
    nchw["pdy_avg"] = torch.from_numpy(np.ascontiguousarray(arrays["pdy_avg"].transpose(0, 3, 1, 2)))
    w = torch.from_numpy(np.ascontiguousarray(arrays["w"].transpose(3, 2, 0, 1)))  # OIHW
    t = {k: torch.from_numpy(v) for k, v in arrays.items()}
    x, dy, px = nchw["x"], nchw["dy"], nchw["px"]
    _, pool_idx = aten.max_pool2d_with_indices(px, [2, 2], [2, 2])
    conv_args = ([0], [1, 1], [0, 0], [1, 1], False, [0, 0], 1)
    f = torch.nn.functional
    return {
        "Conv2D": lambda: f.conv2d(x, w),
        "Conv2D input grad": lambda: aten.convolution_backward(dy, x, w, *conv_args, [True, False, False]),
        "Conv2D filter grad": lambda: aten.convolution_backward(dy, x, w, *conv_args, [False, True, False]),
        "MaxPool 2x2/2": lambda: f.max_pool2d(px, 2, 2),
        "MaxPool 2x2/2 grad": lambda: aten.max_pool2d_with_indices_backward(
            nchw["pdy_max"], px, [2, 2], [2, 2], [0, 0], [1, 1], False, pool_idx
        ),
        "MaxPool 2x2/2 fwd+grad": lambda: aten.max_pool2d_with_indices_backward(
            nchw["pdy_max"],
            px,
            [2, 2],
            [2, 2],
            [0, 0],
            [1, 1],
            False,
            aten.max_pool2d_with_indices(px, [2, 2], [2, 2])[1],
        ),
        "AvgPool 3x3/1 SAME": lambda: f.avg_pool2d(px, 3, 1, 1, count_include_pad=False),
        "AvgPool 3x3/1 SAME grad": lambda: aten.avg_pool2d_backward(
            nchw["pdy_avg"], px, [3, 3], [1, 1], [1, 1], False, False, None
        ),
        "Softmax": lambda: torch.softmax(t["logits"], -1),
        "ArgMax": lambda: torch.argmax(t["logits"], 1),
        "Gather": lambda: torch.index_select(t["params"], 0, t["idx"]),
        "GatherGrad": lambda: aten.embedding_dense_backward(t["gdy"], t["idx"], EMBED, -1, False),
        "Sum all": lambda: torch.sum(t["big"]),
        "Sum axis 0": lambda: torch.sum(t["big"], 0),
        "MatMul": lambda: t["a"] @ t["b"],
    }


def opcore_runner(backend: str, fn: Callable[[dict[str, Any]], Any], tensors: dict[str, Any]) -> Callable[[], Any]:
    runtime = getattr(opcore.get_backend(backend), "runtime", None)
    queue = getattr(runtime, "queue", None)
    if queue is None:
        return lambda: fn(tensors)

    def call() -> None:
        fn(tensors)
        queue.finish()

    return call


class Timer:
    """Interleaved rounds of one row's runners; keeps each runner's best round (seconds per call)."""

    def __init__(self, min_ms: float, slow_s: float, pause_ms: float) -> None:
        self.min_s, self.slow_s, self.pause_s = min_ms / 1e3, slow_s, pause_ms / 1e3

    def calibrate(self, fn: Callable[[], Any]) -> tuple[int, float]:
        """Calls per round for ``fn`` (its first call also warms caches and builds kernels)."""
        t = time.perf_counter()
        fn()
        first = time.perf_counter() - t
        if first > self.slow_s:
            return 0, first
        t = time.perf_counter()
        fn()
        once = max(time.perf_counter() - t, 1e-6)
        return max(1, int(self.min_s / once)), once

    def run(self, runners: dict[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
        plan = {k: self.calibrate(fn) for k, fn in runners.items()}
        best = {k: (once if number == 0 else float("inf")) for k, (number, once) in plan.items()}
        for _ in range(rounds):
            for k, fn in runners.items():
                number = plan[k][0]
                if number == 0:
                    continue
                time.sleep(self.pause_s)  # the last runner's worker threads stop spinning
                fn()  # and this runner's wake up, with its data back in cache
                t = time.perf_counter()
                for _ in range(number):
                    fn()
                best[k] = min(best[k], (time.perf_counter() - t) / number)
        return best


def blas_description() -> str:
    """The BLAS NumPy multiplies with and the kernels it picked: the GEMM bound of the
    convolution rows depends on them (OpenBLAS's AVX2 kernels run a GEMM at about half
    the speed of its AVX-512 ones, and ``OPENBLAS_CORETYPE`` overrides its choice)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl is not installed)"
    libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not libs:
        return "none found"
    parts = []
    for lib in libs:
        arch = f", {lib['architecture']} kernels" if lib.get("architecture") else ""
        parts.append(f"{lib['internal_api']} {lib.get('version') or ''}{arch}, {lib['num_threads']} threads")
    forced = os.environ.get("OPENBLAS_CORETYPE")
    note = f" (OPENBLAS_CORETYPE={forced} set in the environment)" if forced else ""
    return "; ".join(parts) + note


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", nargs="*", default=None, help="default: every available backend")
    p.add_argument("--ops", nargs="*", default=None, help="glob patterns of row names, e.g. 'Conv*' 'MatMul'")
    p.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds per row (best is kept)")
    p.add_argument("--min-ms", type=float, default=100.0, help="least time of one runner's round")
    p.add_argument("--slow-s", type=float, default=2.0, help="a first call slower than this is the figure")
    p.add_argument("--pause-ms", type=float, default=200.0, help="idle time before each round (see below)")
    p.add_argument("--no-torch", action="store_true", help="time opcore only")
    args = p.parse_args()
    backends = args.backends or [b.name for b in opcore.available_backends() if b.available]
    cases = [c for c in OPCORE if args.ops is None or any(fnmatch.fnmatch(c[0], pat) for pat in args.ops)]
    arrays = inputs()
    arrays["py_max"] = np.asarray(opcore.max_pool(opcore.constant(arrays["px"]), 2, 2, "VALID").numpy())
    torch_fns = {} if args.no_torch else torch_cases(arrays)
    tensors = {}
    for b in backends:
        try:
            tensors[b] = {k: opcore.constant(v, backend=b) for k, v in arrays.items()}
        except opcore.OpcoreError as exc:
            print(f"skipping backend {b!r}: {str(exc).splitlines()[0]}")
    timer = Timer(args.min_ms, args.slow_s, args.pause_ms)
    threads = os.cpu_count()
    print(f"{len(cases)} ops, backends {list(tensors)}, torch {'yes' if torch_fns else 'no'}; {threads} CPUs; "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"NumPy's BLAS: {blas_description()}")
    bounds = gemm_bounds(arrays)
    header = f"{'op':<24} {'shapes':<28} {'torch ms':>9} {'GEMM ms':>8} {'numpy/GEMM':>10}"
    for b in tensors:
        header += f" {b + ' ms':>12} {b + '/torch':>12}" + (f" {b + '/numpy':>12}" if b != "numpy" else "")
    print(header)
    worst: dict[str, tuple[float, str]] = {}
    worst_np: dict[str, tuple[float, str]] = {}
    skipped: dict[str, str] = {}
    started = time.perf_counter()
    for label, shapes, fn in cases:
        runners: dict[str, Callable[[], Any]] = {}
        for b, ts in tensors.items():
            runner = opcore_runner(b, fn, ts)
            try:
                runner()
            except opcore.KernelNotFoundError as exc:  # a partial backend lacks this op
                skipped.setdefault(b, str(exc).splitlines()[0])
                continue
            runners[b] = runner
        if label in torch_fns:
            runners["torch"] = torch_fns[label]
        if label in bounds:
            runners["gemm"] = bounds[label]
        best = timer.run(runners, args.rounds)
        t_torch = best.get("torch")
        line = f"{label:<24} {shapes:<28} {t_torch * 1e3 if t_torch else float('nan'):>9.2f}"
        if "gemm" in best:
            line += f" {best['gemm'] * 1e3:>8.2f} {best['numpy'] / best['gemm'] if 'numpy' in best else float('nan'):>10.2f}"
        else:
            line += f" {'':>8} {'':>10}"
        for b in tensors:
            if b not in best:
                line += f" {'n/a':>12} {'':>12}" + (f" {'':>12}" if b != "numpy" else "")
                continue
            ratio = best[b] / t_torch if t_torch else float("nan")
            line += f" {best[b] * 1e3:>12.2f} {ratio:>12.2f}"
            if t_torch and ratio > worst.get(b, (0.0, ""))[0]:
                worst[b] = (ratio, label)
            if b != "numpy":
                to_np = best[b] / best["numpy"] if "numpy" in best else float("nan")
                line += f" {to_np:>12.2f}"
                if to_np > worst_np.get(b, (0.0, ""))[0]:
                    worst_np[b] = (to_np, label)
        print(line, flush=True)
    print(f"total {time.perf_counter() - started:.0f} s; load average {os.getloadavg()[0]:.2f}")
    for b, reason in skipped.items():
        print(f"n/a: backend {b!r} lacks kernels, e.g. {reason}")
    for b, (ratio, label) in worst.items():
        target = " (target <= 2)" if b == "numpy" else ""
        print(f"key ratio {b}: worst op/torch = {ratio:.2f} ({label}){target}")
    for b, (ratio, label) in worst_np.items():
        print(f"key ratio {b}: worst op/numpy = {ratio:.2f} ({label}) (target <= 2 on PoCL)")


if __name__ == "__main__":
    main()
