"""Data-parallel training on MPI: allreduce throughput (opcore vs plain mpi4py) and MNIST MLP examples/s on 1 and N ranks.

    python benchmarks/distributed.py [--ranks 2] [--repeat 15] [--steps 20] [--data-dir DIR]

Needs the opcore[mpi] extra. The program launches itself under ``mpiexec``:

1. allreduce (sum) of one float32 buffer of 4 KB to 64 MB on ``--ranks`` ranks:
   ``opcore.distributed.allreduce`` on an eager NumPy-backend tensor against
   ``comm.Allreduce`` of mpi4py on a buffer of the same size, timed call by
   call, the two alternating (so that both meet the same load from other
   processes), medians of 20 to 400 calls. Key ratio: mpi4py time / opcore
   time for 1 MB and larger (target >= 0.9).
2. fusion: 100 tensors of one gradient set, as one fused opcore call against
   100 mpi4py calls (medians of alternating calls too).
3. the MNIST MLP of examples/mnist_mlp.py (784-256-128-10, Adam, graph mode,
   batch 100 per rank): examples per second on 1 process and on ``--ranks``
   ranks with DistributedOptimizer, the best of ``--repeat`` rounds (real MNIST when found, else random data of
   the same shape: the speed does not depend on the values).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

SIZES = [4 << 10, 64 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20]
ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- workers (run under mpiexec)


def _alternating(fns: dict[str, Any], samples: int) -> dict[str, float]:
    """The median time of one call of each function, timed call by call, the order alternating every round,
    so that every function meets the same load from other processes."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    items = list(fns.items())
    for i in range(samples):
        for name, fn in items if i % 2 else items[::-1]:
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def worker_allreduce() -> dict[str, Any]:
    from mpi4py import MPI

    import opcore
    import opcore.distributed as hvd

    hvd.init()
    comm = MPI.COMM_WORLD
    rows = []
    for nbytes in SIZES:
        n = nbytes // 4
        host = np.random.default_rng(hvd.rank()).standard_normal(n).astype(np.float32)
        out = np.empty_like(host)
        tensor = opcore.constant(host)
        samples = max(20, min(400, (256 << 20) // nbytes))

        def plain(host: np.ndarray = host, out: np.ndarray = out) -> None:
            comm.Allreduce(host, out, op=MPI.SUM)

        def ours(tensor: Any = tensor) -> None:
            hvd.allreduce(tensor, op=hvd.Sum)

        check = hvd.allreduce(tensor, op=hvd.Sum).numpy()
        plain()
        assert np.array_equal(check, out), "opcore and mpi4py disagree"
        medians = _alternating({"mpi4py": plain, "opcore": ours}, samples)
        rows.append({"bytes": nbytes, **medians, "samples": samples})

    # Fusion: one MNIST-MLP-sized gradient set cut into 100 tensors.
    pieces = [np.random.default_rng(i).standard_normal(2352).astype(np.float32) for i in range(100)]
    tensors = [opcore.constant(p) for p in pieces]
    outs = [np.empty_like(p) for p in pieces]

    def per_tensor() -> None:
        for p, o in zip(pieces, outs):
            comm.Allreduce(p, o, op=MPI.SUM)

    def fused() -> None:
        hvd.grouped_allreduce(tensors, op=hvd.Sum)

    fusion = {"tensors": len(pieces), "bytes": sum(p.nbytes for p in pieces)}
    fusion.update(_alternating({"mpi4py": per_tensor, "opcore": fused}, 100))
    return {"rank": hvd.rank(), "ranks": hvd.size(), "rows": rows, "fusion": fusion}


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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--repeat", type=int, default=15, help="timed MLP rounds (the best counts)")
    p.add_argument("--steps", type=int, default=20, help="MLP steps per timed round (the best of --repeat rounds)")
    p.add_argument("--data-dir", default=None, help="folder with the MNIST .gz files (else the usual places)")
    p.add_argument("--worker", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.worker is not None:
        kind = args.worker[0]
        if kind == "allreduce":
            result = worker_allreduce()
        else:
            result = worker_mlp(args.steps, args.repeat, args.data_dir, distributed=kind == "mlp-distributed")
        if result["rank"] == 0:
            print("RESULT " + json.dumps(result), flush=True)
        return

    extra = ["--repeat", str(args.repeat), "--steps", str(args.steps)]
    if args.data_dir:
        extra += ["--data-dir", args.data_dir]
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.ranks} ranks on one machine with {cores} cores (load average {load:.1f} at the start); "
          "one BLAS thread per rank unless said otherwise\n")  # fmt: skip

    res = _launch(args.ranks, ["allreduce", *extra], threads=1)
    print(f"allreduce (sum) of one float32 buffer on {res['ranks']} ranks, median of alternating single calls")
    print(f"{'size':>8} {'mpi4py ms':>10} {'opcore ms':>10} {'mpi4py GB/s':>12} {'opcore GB/s':>12} {'ratio':>7}")
    key = []
    for row in res["rows"]:
        ratio = row["mpi4py"] / row["opcore"]
        if row["bytes"] >= 1 << 20:
            key.append(ratio)
        print(
            f"{_fmt_bytes(row['bytes']):>8} {row['mpi4py'] * 1e3:>10.3f} {row['opcore'] * 1e3:>10.3f} "
            f"{row['bytes'] / row['mpi4py'] / 1e9:>12.2f} {row['bytes'] / row['opcore'] / 1e9:>12.2f} {ratio:>7.2f}"
        )
    fusion = res["fusion"]
    print(
        f"\nfusion: {fusion['tensors']} tensors, {fusion['bytes'] / 1e6:.2f} MB in all: one fused opcore call "
        f"{fusion['opcore'] * 1e3:.3f} ms, {fusion['tensors']} mpi4py calls {fusion['mpi4py'] * 1e3:.3f} ms "
        f"({fusion['mpi4py'] / fusion['opcore']:.1f}x)"
    )

    one_default = _launch(1, ["mlp", *extra], threads=None)
    one = _launch(1, ["mlp", *extra], threads=1)
    one_wrapped = _launch(1, ["mlp-distributed", *extra], threads=1)
    many = _launch(args.ranks, ["mlp-distributed", *extra], threads=1)
    print(f"\nMNIST MLP 784-256-128-10, Adam, graph mode, batch 100 per rank ({many['source']}), "
          f"best of {args.repeat} rounds of {args.steps} steps")  # fmt: skip
    print(f"{'run':<44} {'examples/s':>11} {'ms/step':>8}")
    for label, r in (
        (f"1 process, BLAS threads by default ({cores} cores)", one_default),
        ("1 process, 1 BLAS thread", one),
        ("1 rank x 1 BLAS thread, DistributedOptimizer", one_wrapped),
        (f"{many['ranks']} ranks x 1 BLAS thread, DistributedOptimizer", many),
    ):
        print(f"{label:<44} {r['examples_per_s']:>11.0f} {r['step_ms']:>8.2f}")
    print(
        f"scaling: {many['examples_per_s'] / one['examples_per_s']:.2f}x the 1-thread process on {many['ranks']} ranks "
        f"(efficiency {many['examples_per_s'] / one['examples_per_s'] / many['ranks']:.0%}), "
        f"{many['examples_per_s'] / one_default['examples_per_s']:.2f}x the default process"
    )
    print(f"key ratio: mpi4py/opcore allreduce time, >= 1 MB: min {min(key):.2f}, median {statistics.median(key):.2f} "
          "(target >= 0.9)")  # fmt: skip


if __name__ == "__main__":
    main()
