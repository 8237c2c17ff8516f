"""Ops with value-dependent output sizes: where(cond), boolean_mask (and its gradient), unique, setdiff1d.

    python benchmarks/selection.py [--sizes 10000 1000000] [--repeats 5] [--backends numpy opencl]

For each size n and backend, the best of --repeats eager calls (after a warm-up
that builds the kernels), on float32 data with about 40% of the elements kept
and about n/4 distinct values; a device timing ends when the device has
finished (a device op reads back one count, the output's size, before it can
allocate the output). Prints a table of milliseconds and, per op, the key
ratio: the device backend's time over NumPy's at the largest size.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import opcore


def finish(backend: str) -> None:
    """Wait until the backend's device is idle."""
    runtime = getattr(opcore.get_backend(backend), "runtime", None)
    queue = getattr(runtime, "queue", None)
    if queue is not None:  # OpenCL
        queue.finish()
    elif backend == "cuda":
        import cupy

        cupy.cuda.runtime.deviceSynchronize()


def best_of(fn: Callable[[], Any], backend: str, repeats: int) -> float:
    fn()
    finish(backend)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        finish(backend)
        best = min(best, time.perf_counter() - t)
    return best


def calls(n: int, backend: str) -> dict[str, Callable[[], Any]]:
    rng = np.random.default_rng(0)
    values = rng.integers(0, max(n // 4, 1), n).astype(np.float32)
    x = opcore.constant(values, backend=backend)
    rows = opcore.constant(rng.standard_normal((n // 8, 8)).astype(np.float32), backend=backend)
    mask = opcore.constant(rng.random(n // 8) < 0.4, backend=backend)
    cond = x > n // 4 * 0.6
    kept = opcore.boolean_mask(rows, mask)
    others = opcore.constant(values[: max(n // 100, 1)], backend=backend)
    return {
        "where(cond)": lambda: opcore.where(cond),
        "boolean_mask": lambda: opcore.boolean_mask(rows, mask),
        "boolean_mask_grad": lambda: opcore.boolean_mask_grad(kept, mask, rows),
        "unique": lambda: opcore.unique(x),
        "setdiff1d": lambda: opcore.setdiff1d(x, others),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--backends", nargs="+", default=None, help="default: numpy and every available device backend")
    args = p.parse_args()
    available = [i.name for i in opcore.available_backends() if i.available and i.name in ("numpy", "opencl", "cuda")]
    backends = args.backends or available
    for b in backends:
        if b != "numpy":
            print(f"{b}: {opcore.get_backend(b).devices()}")
    times: dict[tuple[str, int, str], float] = {}
    for n in args.sizes:
        for b in backends:
            for name, fn in calls(n, b).items():
                times[(name, n, b)] = best_of(fn, b, args.repeats)
    ops = list(calls(args.sizes[0], "numpy"))
    head = f"{'op':<18} {'n':>9} " + " ".join(f"{b + ' ms':>12}" for b in backends)
    print(head)
    print("-" * len(head))
    for name in ops:
        for n in args.sizes:
            print(f"{name:<18} {n:>9} " + " ".join(f"{times[(name, n, b)] * 1e3:>12.3f}" for b in backends))
    largest = max(args.sizes)
    for b in backends:
        if b == "numpy" or "numpy" not in backends:
            continue
        for name in ops:
            ratio = times[(name, largest, b)] / times[(name, largest, "numpy")]
            print(f"key ratio {name} {b}/numpy at n={largest}: {ratio:.2f}")


if __name__ == "__main__":
    main()
