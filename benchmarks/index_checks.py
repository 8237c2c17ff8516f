"""What checking gather's indices costs: GatherV2 with and without the check, on NumPy and OpenCL.

    python benchmarks/index_checks.py [--calls 40] [--rounds 15]

Every backend raises InvalidIndexError for an index outside ``[0, dim)``. On
NumPy the kernel scans the indices (min and max) before ``np.take``; on a device
the gather kernel writes the first bad position into an error flag that the host
reads back (``opcore_ckernels.checks``). Measured per call, float32 params,
axis 0: the median of --rounds batches of --calls calls, the variants taking
turns within each round so that a machine whose load changes slows them alike:

- ``numpy``: ``opcore.gather`` on NumPy, checked, and with the scan replaced by
  a no-op (the same kernel otherwise).
- ``opencl, latency``: one call waited for: a checked call (it reads its flag
  before returning, so it waits for the device) vs the kernel built without the
  check (under ``checks.disabled()``) followed by ``queue.finish()``.
- ``opencl, throughput``: a batch of --calls calls, then ``queue.finish()``: checked eager
  calls (a wait per call), checked calls whose flags are read once the loop is
  done (``checks.deferred()``, what a session run does) and unchecked calls
  (no wait at all until the end).
- ``opencl, session``: ``sess.run`` of ``reduce_sum(gather(params, indices))``
  with indices fed each run, checked (the flag read at the end of the run) vs
  unchecked.

Also printed: the time of reading one clean flag on an idle queue, the fixed
price an eager check adds where waiting for the device costs nothing more.
Key ratio: OpenCL latency, checked / unchecked, at the embedding-lookup size (first row).
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import opcore
from opcore_ckernels import checks
from opcore_numpy.kernels import array as numpy_array

#: (rows of params, row width, number of indices): an embedding lookup, a big batch, a wide gather.
CONFIGS = [(50_000, 128, 256), (50_000, 128, 8192), (1_000_000, 4, 65_536)]


def timed(fn: Callable[[], Any], calls: int) -> float:
    t = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t) / calls


Variant = tuple[Callable[[], Any], Callable[[], contextlib.AbstractContextManager[Any]]]


def paired(variants: dict[str, Variant], calls: int, rounds: int) -> dict[str, float]:
    """Seconds per call of each variant: the median of ``rounds`` rounds of ``calls`` calls.

    The variants take turns within every round (in a rotating order), so a machine
    whose load changes during the run slows them alike.
    """
    names = list(variants)
    samples: dict[str, list[float]] = {k: [] for k in names}
    for fn, context in variants.values():  # warm-up: kernels built, pools filled
        with context():
            fn()
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn, context = variants[name]
            with context():
                samples[name].append(timed(fn, calls))
    return {k: float(np.median(v)) for k, v in samples.items()}


@contextlib.contextmanager
def numpy_unchecked() -> Iterator[None]:
    original = numpy_array.check_range
    numpy_array.check_range = lambda *args, **kwargs: None
    try:
        yield
    finally:
        numpy_array.check_range = original


def measure(rows: int, width: int, n: int, calls: int, rounds: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    params_h = rng.standard_normal((rows, width)).astype(np.float32)
    idx_h = rng.integers(0, rows, size=n).astype(np.int32)
    plain = contextlib.nullcontext
    out: dict[str, float] = {}

    p_np, i_np = opcore.constant(params_h), opcore.constant(idx_h)

    def gather_np() -> Any:
        return opcore.gather(p_np, i_np)

    timings = paired({"checked": (gather_np, plain), "unchecked": (gather_np, numpy_unchecked)}, calls, rounds)
    out.update({f"numpy {k}": v for k, v in timings.items()})

    rt = opcore.get_backend("opencl").runtime
    p_cl, i_cl = opcore.constant(params_h, backend="opencl"), opcore.constant(idx_h, backend="opencl")
    got = opcore.gather(p_cl, i_cl).numpy()
    assert np.array_equal(got, params_h[idx_h]), "the timed gather is not the right one"

    def gather_cl() -> Any:
        return opcore.gather(p_cl, i_cl)

    def waited() -> None:
        opcore.gather(p_cl, i_cl)
        rt.queue.finish()

    def loop() -> None:
        for _ in range(calls):
            opcore.gather(p_cl, i_cl)
        rt.queue.finish()

    timings = paired({"checked": (gather_cl, plain), "unchecked": (waited, checks.disabled)}, calls, rounds)
    out.update({f"latency {k}": v for k, v in timings.items()})
    timings = paired(
        {"checked": (loop, plain), "deferred": (loop, checks.deferred), "unchecked": (loop, checks.disabled)},
        1,
        rounds,
    )
    out.update({f"throughput {k}": v / calls for k, v in timings.items()})

    g = opcore.Graph()
    with g.as_default():
        ids = g.placeholder("int32", (n,), name="ids")
        total = opcore.reduce_sum(opcore.gather(opcore.constant(params_h), ids))
    with opcore.Session(graph=g, backend="opencl") as sess:
        feed = {ids: idx_h}
        assert np.isclose(sess.run(total, feed), params_h[idx_h].sum(dtype=np.float64), rtol=1e-3)

        def run() -> Any:
            return sess.run(total, feed)

        timings = paired({"checked": (run, plain), "unchecked": (run, checks.disabled)}, max(calls // 4, 1), rounds)
        out.update({f"session {k}": v for k, v in timings.items()})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=40, help="calls per timed batch")
    p.add_argument("--rounds", type=int, default=15, help="timed batches per variant (the median is shown)")
    args = p.parse_args()
    print(f"OpenCL device: {opcore.get_backend('opencl').runtime.device.name.strip()}")
    print("gather, float32 params, axis 0; microseconds per call (ratio: checked / unchecked)\n")
    head = (
        f"{'params':>14} {'indices':>7} | {'numpy':>6} {'unchk':>6} {'ratio':>5} | {'latency':>7} {'unchk':>7} "
        f"{'ratio':>5} | {'thruput':>7} {'defer':>7} {'unchk':>7} | {'session':>7} {'unchk':>7} {'ratio':>5}"
    )
    print(f"{'':>23}| {'NumPy':^18} | {'OpenCL, one call waited for':^21} | {'OpenCL, --calls calls':^23} | "
          f"{'OpenCL session run':^21}")  # fmt: skip
    print(head)
    print("-" * len(head))
    key = None
    for rows, width, n in CONFIGS:
        m = {k: v * 1e6 for k, v in measure(rows, width, n, args.calls, args.rounds).items()}
        r_np = m["numpy checked"] / m["numpy unchecked"]
        r_cl = m["latency checked"] / m["latency unchecked"]
        r_s = m["session checked"] / m["session unchecked"]
        key = r_cl if key is None else key
        print(
            f"{f'({rows}, {width})':>14} {n:>7} | {m['numpy checked']:>6.1f} {m['numpy unchecked']:>6.1f} "
            f"{r_np:>5.2f} | {m['latency checked']:>7.1f} {m['latency unchecked']:>7.1f} {r_cl:>5.2f} | "
            f"{m['throughput checked']:>7.1f} {m['throughput deferred']:>7.1f} {m['throughput unchecked']:>7.1f} | "
            f"{m['session checked']:>7.1f} {m['session unchecked']:>7.1f} {r_s:>5.2f}"
        )
    rt = opcore.get_backend("opencl").runtime
    flag = rt.to_device(np.full(1, checks.NO_ERROR, np.int32))
    read = paired({"read": (lambda: rt.get(flag), contextlib.nullcontext)}, args.calls, args.rounds)["read"] * 1e6
    print(f"\nreading one clean flag on an idle queue (the fixed price of an eager check): {read:.1f} us")
    print(f"key ratio: OpenCL gather latency with the check / without, embedding lookup: {key:.2f}x")


if __name__ == "__main__":
    main()
