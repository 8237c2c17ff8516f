"""Data-parallel training on MPI: allreduce throughput (opcore vs plain mpi4py) and MNIST MLP examples/s on 1 and N ranks.

    python benchmarks/distributed.py [--ranks 2] [--rounds 80] [--repeat 15] [--steps 20] [--launches 3] [--skip-mlp]

Needs the opcore[mpi] extra. The program launches itself under ``mpiexec``:

1. allreduce (sum) of one float32 buffer of 4 KB to 64 MB on ``--ranks`` ranks:
   ``opcore.distributed.allreduce`` on an eager NumPy-backend tensor against
   ``comm.Allreduce`` of mpi4py on the same memory: the tensor shares the NumPy
   buffer (``opcore.from_dlpack``), and mpi4py writes its result into the buffer
   that opcore's results take (where the output memory lies alone moves a 16 MB
   allreduce by up to 13% on a small VM). Built for a
   shared, noisy machine: each round times a block of opcore calls and a block
   of mpi4py calls back to back (the ranks start each block together, the
   order alternates every round), so both meet the same load; the ratio of a
   pair of rounds (one in each order, so that neither block always finds the
   buffers warm) is mpi4py time / opcore time; the sizes take turns, round by
   round, so a burst of load from other processes spreads over all of them.
   Per size: the median ratio of the ``--rounds`` / 2 pairs. Key figure: the
   smallest median ratio from 1 MB up (target >= 0.9).
2. fused sets, the same way: one MNIST-MLP gradient set (6 tensors, 0.94 MB)
   and 100 tensors of 9 KB as one ``grouped_allreduce`` against one mpi4py call
   per tensor and against one mpi4py call on a buffer of the whole size (the
   least any fusion can cost).
3. the MNIST MLP of examples/mnist_mlp.py (784-256-128-10, Adam, graph mode,
   batch 100 per rank): examples per second on 1 process and on ``--ranks``
   ranks with DistributedOptimizer, the best of ``--repeat`` rounds of
   ``--steps`` steps in each launch; the 1-process and N-rank launches
   alternate ``--launches`` times and the best launch counts (real MNIST when
   found, else random data of the same shape: the speed does not depend on the
   values). The load average is printed before and after each part.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

SIZES = [4 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20]
KEY_FROM = 1 << 20
ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- workers (run under mpiexec)


def _calls_per_block(nbytes: int) -> int:
    """Enough calls that one timed block lasts about a millisecond or more (one call from 4 MB up)."""
    return max(1, min(64, (4 << 20) // max(nbytes, 1)))


class _Pairs:
    """Rounds of two timed blocks, ``opcore`` and ``mpi4py``, back to back in alternating order."""

    def __init__(self, comm: Any, opcore_fn: Callable[[], Any], mpi_fn: Callable[[], Any], calls: int) -> None:
        self.comm, self.calls = comm, calls
        self.fns = {"opcore": opcore_fn, "mpi4py": mpi_fn}
        self.times: dict[str, list[float]] = {"opcore": [], "mpi4py": []}

    def round(self, index: int) -> None:
        order = ("opcore", "mpi4py") if index % 2 else ("mpi4py", "opcore")
        for name in order:
            fn = self.fns[name]
            self.comm.Barrier()  # both ranks start the block together
            start = time.perf_counter()
            for _ in range(self.calls):
                fn()
            self.times[name].append((time.perf_counter() - start) / self.calls)

    def summary(self) -> dict[str, Any]:
        # One ratio per pair of rounds, one round in each order: the block that runs second finds the
        # buffers (the same memory for both) warm in the cache, which a pair cancels.
        m, o = self.times["mpi4py"], self.times["opcore"]
        ratios = [(m[i] + m[i + 1]) / (o[i] + o[i + 1]) for i in range(0, len(m) - 1, 2)] or [m[0] / o[0]]
        return {
            "opcore": statistics.median(self.times["opcore"]),
            "mpi4py": statistics.median(self.times["mpi4py"]),
            "ratio": statistics.median(ratios),
            "ratio_q1": statistics.quantiles(ratios, n=4)[0] if len(ratios) > 1 else ratios[0],
            "ratio_q3": statistics.quantiles(ratios, n=4)[2] if len(ratios) > 1 else ratios[0],
            "rounds": len(m),
            "calls": self.calls,
        }


def worker_allreduce(rounds: int) -> dict[str, Any]:
    from mpi4py import MPI

    import opcore
    import opcore.distributed as hvd

    hvd.init()
    comm = MPI.COMM_WORLD
    rng = np.random.default_rng(hvd.rank())
    cases: dict[str, _Pairs] = {}
    shared_out = 0
    for nbytes in SIZES:
        host = rng.standard_normal(nbytes // 4).astype(np.float32)
        tensor = opcore.from_dlpack(host)  # the same memory: both read the very same buffer
        first = np.from_dlpack(hvd.allreduce(tensor, op=hvd.Sum))  # a view of opcore's pooled buffer
        out = _same_memory(first)
        del first  # opcore's next result goes to the same buffer, which mpi4py writes too
        comm.Allreduce(host, out, op=MPI.SUM)
        want = out.copy()
        again = np.from_dlpack(hvd.allreduce(tensor, op=hvd.Sum))
        if again.ctypes.data == out.ctypes.data:
            shared_out += 1
        else:  # (not expected) opcore's buffer moved: mpi4py gets its own
            out = np.empty_like(host)
        assert np.array_equal(again, want), "opcore and mpi4py disagree"
        del again
        cases[f"size {nbytes}"] = _Pairs(
            comm,
            lambda tensor=tensor: hvd.allreduce(tensor, op=hvd.Sum),
            lambda host=host, out=out: comm.Allreduce(host, out, op=MPI.SUM),
            _calls_per_block(nbytes),
        )

    # Fused sets: the MNIST MLP's gradients, and 100 tensors of 9 KB.
    fused_sets = {
        "MNIST MLP gradients": [(784, 256), (256,), (256, 128), (128,), (128, 10), (10,)],
        "100 tensors of 9 KB": [(2352,)] * 100,
    }
    fusion_info = []
    for label, shapes in fused_sets.items():
        pieces = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        tensors = [opcore.from_dlpack(p) for p in pieces]
        outs = [np.empty_like(p) for p in pieces]
        whole = np.concatenate([p.reshape(-1) for p in pieces])
        whole_out = np.empty_like(whole)
        got = hvd.grouped_allreduce(tensors, op=hvd.Sum)
        for p, o in zip(pieces, outs):
            comm.Allreduce(p, o, op=MPI.SUM)
        assert all(np.array_equal(g.numpy(), o) for g, o in zip(got, outs)), "opcore and mpi4py disagree"

        def fused(tensors: list[Any] = tensors) -> None:
            hvd.grouped_allreduce(tensors, op=hvd.Sum)

        def per_tensor(pieces: list[np.ndarray] = pieces, outs: list[np.ndarray] = outs) -> None:
            for p, o in zip(pieces, outs):
                comm.Allreduce(p, o, op=MPI.SUM)

        calls = _calls_per_block(whole.nbytes)
        cases[f"{label} per tensor"] = _Pairs(comm, fused, per_tensor, calls)
        cases[f"{label} one buffer"] = _Pairs(
            comm, fused, lambda whole=whole, whole_out=whole_out: comm.Allreduce(whole, whole_out, op=MPI.SUM), calls
        )
        fusion_info.append({"label": label, "tensors": len(pieces), "bytes": int(whole.nbytes)})

    for case in cases.values():  # warm-up: plans, buffers, MPI's connections
        case.round(0)
        case.times = {"opcore": [], "mpi4py": []}
    for i in range(rounds):
        for case in cases.values():
            case.round(i)
    results = {name: case.summary() for name, case in cases.items()}
    rows = [{"bytes": nbytes, **results[f"size {nbytes}"]} for nbytes in SIZES]
    fusion = [
        {
            **info,
            "per_tensor": results[f"{info['label']} per tensor"],
            "one_buffer": results[f"{info['label']} one buffer"],
        }
        for info in fusion_info
    ]
    return {"rank": hvd.rank(), "ranks": hvd.size(), "rows": rows, "fusion": fusion, "shared_out": shared_out}


def _same_memory(result: np.ndarray) -> np.ndarray:
    """An array over the memory of ``result`` that holds no reference to it, so that opcore's buffer pool
    (which reuses a result buffer once nothing refers to it) gives the next result the same memory.

    The output memory's placement alone moves a 16 MB allreduce's time by up to 13% on this kind of
    machine (the same MPI call into two buffers of one process), so both write into one buffer.
    """
    raw = (ctypes.c_char * result.nbytes).from_address(result.ctypes.data)
    return np.frombuffer(raw, dtype=result.dtype).reshape(result.shape)


def worker_mlp(steps: int, repeat: int, data_dir: str | None, distributed: bool) -> dict[str, Any]:
    import opcore
    import opcore.distributed as hvd

    rank, size = 0, 1
    if distributed:
        hvd.init()
        rank, size = hvd.rank(), hvd.size()
    batch = 100
    source = "random data"
    try:
        mnist = opcore.datasets.mnist.read_data_sets(data_dir, one_hot=True, download=False)
        train = hvd.shard(mnist.train) if distributed else mnist.train
        source = "MNIST"
    except Exception:
        rng = np.random.default_rng(rank)
        labels = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 5000)]
        train = opcore.datasets.DataSet(rng.random((5000, 784), dtype=np.float32), labels)
    opcore.set_seed(0)
    graph = opcore.Graph()
    with graph.as_default():
        x = opcore.placeholder(opcore.float32, [None, 784])
        y = opcore.placeholder(opcore.float32, [None, 10])
        h1 = opcore.layers.dense(x, 256, activation="sigmoid")
        h2 = opcore.layers.dense(h1, 128, activation="sigmoid")
        logits = opcore.layers.dense(h2, 10)
        cost = opcore.reduce_mean(opcore.softmax_cross_entropy_with_logits(labels=y, logits=logits))
        opt = opcore.train.AdamOptimizer(0.001)
        if distributed:
            opt = hvd.DistributedOptimizer(opt)
        step = opt.minimize(cost)
        init = opcore.global_variables_initializer()
        sync = hvd.broadcast_global_variables(0) if distributed else None
    with opcore.Session(graph) as sess:
        sess.run(init)
        if sync is not None:
            sess.run(sync)
        for _ in range(5):  # warm-up: plans, allocator
            xb, yb = train.next_batch(batch)
            sess.run(step, {x: xb, y: yb})
        best = float("inf")
        for _ in range(repeat):
            if distributed:
                hvd.barrier()
            start = time.perf_counter()
            for _ in range(steps):
                xb, yb = train.next_batch(batch)
                sess.run(step, {x: xb, y: yb})
            if distributed:
                hvd.barrier()
            best = min(best, time.perf_counter() - start)
        elapsed = best
    return {"rank": rank, "ranks": size, "examples_per_s": size * batch * steps / elapsed, "step_ms": elapsed / steps * 1e3,
            "source": source}  # fmt: skip


# --------------------------------------------------------------------------- launcher


def _mpiexec() -> str:
    beside = Path(sys.executable).parent / "mpiexec"
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if found is None:
        sys.exit("mpiexec not found: install the MPI extra, pip install 'opcore[mpi]'")
    return found


def _launch(ranks: int, args: list[str], threads: int | None) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    if threads is None:
        env.pop("OMP_NUM_THREADS", None)
        env.pop("OPENBLAS_NUM_THREADS", None)
    else:
        env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = str(threads)
    cmd = [_mpiexec(), "-n", str(ranks), sys.executable, __file__, "--worker", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if out.returncode != 0:
        sys.exit(f"worker failed ({' '.join(cmd)}):\n{out.stderr[-4000:]}")
    line = next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line[len("RESULT ") :])
    return result


def _fmt_bytes(n: int) -> str:
    return f"{n >> 20} MB" if n >= 1 << 20 else f"{n >> 10} KB"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"


def _ratio(r: dict[str, Any]) -> str:
    return f"{r['ratio']:>6.2f} ({r['ratio_q1']:.2f}-{r['ratio_q3']:.2f})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--rounds", type=int, default=80, help="allreduce rounds per size (the median ratio counts)")
    p.add_argument("--repeat", type=int, default=15, help="timed MLP rounds per launch (the best counts)")
    p.add_argument("--steps", type=int, default=20, help="MLP steps per timed round")
    p.add_argument(
        "--launches", type=int, default=3, help="alternating MLP launches per configuration (the best counts)"
    )
    p.add_argument("--data-dir", default=None, help="folder with the MNIST .gz files (else the usual places)")
    p.add_argument("--skip-mlp", action="store_true", help="measure the allreduce only")
    p.add_argument("--worker", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.worker is not None:
        kind = args.worker[0]
        if kind == "allreduce":
            result = worker_allreduce(args.rounds)
        else:
            result = worker_mlp(args.steps, args.repeat, args.data_dir, distributed=kind == "mlp-distributed")
        if result["rank"] == 0:
            print("RESULT " + json.dumps(result), flush=True)
        return

    extra = ["--rounds", str(args.rounds), "--repeat", str(args.repeat), "--steps", str(args.steps)]
    if args.data_dir:
        extra += ["--data-dir", args.data_dir]
    cores = os.cpu_count() or 1
    print(f"{args.ranks} ranks on one machine with {cores} cores; one BLAS thread per rank unless said otherwise")
    print(f"load average (1, 5, 15 min) at the start: {_load()}\n")

    res = _launch(args.ranks, ["allreduce", *extra], threads=1)
    print(f"allreduce (sum) of one float32 buffer on {res['ranks']} ranks: median time per call over {args.rounds} "
          "rounds; ratio = mpi4py time / opcore time, median over pairs of rounds in both orders (quartiles); "
          f"both write the same output memory in {res['shared_out']} of {len(res['rows'])} sizes")  # fmt: skip
    print(
        f"{'size':>8} {'calls':>6} {'mpi4py ms':>10} {'opcore ms':>10} {'mpi4py GB/s':>12} {'opcore GB/s':>12}  ratio"
    )
    key = []
    for row in res["rows"]:
        if row["bytes"] >= KEY_FROM:
            key.append(row["ratio"])
        print(
            f"{_fmt_bytes(row['bytes']):>8} {row['calls']:>6} {row['mpi4py'] * 1e3:>10.3f} {row['opcore'] * 1e3:>10.3f} "
            f"{row['bytes'] / row['mpi4py'] / 1e9:>12.2f} {row['bytes'] / row['opcore'] / 1e9:>12.2f} {_ratio(row)}"
        )
    print("\nfused sets: one grouped_allreduce against mpi4py, one call per tensor and one call on the whole buffer")
    print(
        f"{'set':<22} {'MB':>5} {'opcore ms':>10} {'per-tensor ms':>14}  ratio              {'one-buffer ms':>14}  ratio"
    )
    for f in res["fusion"]:
        per, one = f["per_tensor"], f["one_buffer"]
        print(
            f"{f['label']:<22} {f['bytes'] / 1e6:>5.2f} {per['opcore'] * 1e3:>10.3f} {per['mpi4py'] * 1e3:>14.3f} "
            f"{_ratio(per)} {one['mpi4py'] * 1e3:>14.3f} {_ratio(one)}"
        )
    print(f"load average after the allreduce: {_load()}")

    if not args.skip_mlp:
        runs: dict[str, list[dict[str, Any]]] = {"one_default": [], "one": [], "one_wrapped": [], "many": []}
        for _ in range(args.launches):  # alternate, so that every configuration meets the same load
            runs["one"].append(_launch(1, ["mlp", *extra], threads=1))
            runs["many"].append(_launch(args.ranks, ["mlp-distributed", *extra], threads=1))
            runs["one_default"].append(_launch(1, ["mlp", *extra], threads=None))
            runs["one_wrapped"].append(_launch(1, ["mlp-distributed", *extra], threads=1))
        best = {k: max(v, key=lambda r: r["examples_per_s"]) for k, v in runs.items()}
        one, many, one_default = best["one"], best["many"], best["one_default"]
        print(f"\nMNIST MLP 784-256-128-10, Adam, graph mode, batch 100 per rank ({many['source']}), best of "
              f"{args.launches} alternating launches of {args.repeat} rounds of {args.steps} steps")  # fmt: skip
        print(f"{'run':<44} {'examples/s':>11} {'ms/step':>8}  every launch (examples/s)")
        for label, k in (
            (f"1 process, BLAS threads by default ({cores} cores)", "one_default"),
            ("1 process, 1 BLAS thread", "one"),
            ("1 rank x 1 BLAS thread, DistributedOptimizer", "one_wrapped"),
            (f"{many['ranks']} ranks x 1 BLAS thread, DistributedOptimizer", "many"),
        ):
            r = best[k]
            every = ", ".join(f"{x['examples_per_s']:.0f}" for x in runs[k])
            print(f"{label:<44} {r['examples_per_s']:>11.0f} {r['step_ms']:>8.2f}  {every}")
        print(
            f"scaling: {many['examples_per_s'] / one['examples_per_s']:.2f}x the 1-thread process on {many['ranks']} "
            f"ranks (efficiency {many['examples_per_s'] / one['examples_per_s'] / many['ranks']:.0%}), "
            f"{many['examples_per_s'] / one_default['examples_per_s']:.2f}x the default process"
        )
        print(f"load average after the MLP: {_load()}")
    print(f"key figure: smallest median ratio mpi4py/opcore allreduce time from 1 MB up: {min(key):.2f} "
          f"(median over those sizes {statistics.median(key):.2f}; target >= 0.9)")  # fmt: skip


if __name__ == "__main__":
    main()
