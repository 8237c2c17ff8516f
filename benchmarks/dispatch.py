"""Per-call overhead of an eager op: opcore vs NumPy vs PyTorch (CPU), in one run.

    python benchmarks/dispatch.py [--repeat 7] [--number 20000]

Prints microseconds per call and the ratios. The target is opcore/torch <= 1.0
for ``add`` on 1-element float32 tensors. PyTorch is measured when installed
(``pip install torch`` CPU build); otherwise its rows are skipped.
"""

from __future__ import annotations

import argparse
import functools
import timeit
from collections.abc import Callable

import numpy as np

import opcore


def per_call_us(fn: Callable[[], object], number: int, repeat: int) -> float:
    fn()  # warm caches (dispatch plans, allocator)
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--number", type=int, default=20000)
    args = p.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        torch = None

    rows: list[tuple[str, dict[str, float]]] = []
    a1 = np.ones((1,), np.float32)
    m = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)
    cases = [
        ("add, 1 element float32", a1, np.add, opcore.add, "add", args.number),
        ("matmul 256x256 float32", m, np.matmul, opcore.matmul, "matmul", max(args.number // 100, 50)),
    ]
    for label, x, np_fn, op_fn, torch_name, number in cases:
        t = opcore.constant(x)
        row = {
            "numpy": per_call_us(functools.partial(np_fn, x, x), number, args.repeat),
            "opcore": per_call_us(functools.partial(op_fn, t, t), number, args.repeat),
        }
        if torch is not None:
            px = torch.from_numpy(x.copy())
            row["torch"] = per_call_us(functools.partial(getattr(torch, torch_name), px, px), number, args.repeat)
        rows.append((label, row))

    print(f"{'case':<26} {'numpy us':>10} {'opcore us':>10} {'torch us':>10} {'opcore/numpy':>13} {'opcore/torch':>13}")
    for label, row in rows:
        t = row.get("torch")
        print(
            f"{label:<26} {row['numpy']:>10.2f} {row['opcore']:>10.2f} {t if t is not None else float('nan'):>10.2f} "
            f"{row['opcore'] / row['numpy']:>13.2f} {row['opcore'] / t if t else float('nan'):>13.2f}"
        )
    key = rows[0][1]
    if "torch" in key:
        print(f"key ratio (add, 1 element): opcore/torch = {key['opcore'] / key['torch']:.2f} (target <= 1.0)")
    else:
        print("key ratio: torch not installed; opcore/numpy = %.2f" % (key["opcore"] / key["numpy"]))


if __name__ == "__main__":
    main()
