"""CUDA backend benchmarks (needs an NVIDIA GPU; prints why and exits 0 without one).

In one run:
  GEMM   float32 and float16 TFLOP/s through opcore.matmul vs cupy.matmul (cuBLAS), n = 1024, 2048, 4096
  steps  MNIST MLP (784-256-128-10 sigmoid, batch 128, Adam) and CNN (conv32-conv64-pool-dense128, batch 64, Adam)
         training-step time, opcore Session on "cuda" vs PyTorch CUDA (when torch with CUDA is installed)
Targets: GEMM within 5% of cuBLAS; MLP and CNN steps <= 1.2x PyTorch.

    python benchmarks/cuda.py
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np

import opcore


def _sync() -> None:
    import cupy

    cupy.cuda.Device().synchronize()


def best_ms(fn: Callable[[], object], repeat: int = 10) -> float:
    fn()
    _sync()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        _sync()
        best = min(best, time.perf_counter() - t)
    return best * 1e3


def main() -> int:
    info = {b.name: b for b in opcore.available_backends()}.get("cuda")
    if info is None or not info.available:
        print(f"no CUDA benchmark: {info.reason if info else 'opcore-cuda is not installed'}")
        return 0
    import cupy

    print(f"device: {info.devices[0]}")
    print(f"{'GEMM':<18} {'opcore TFLOP/s':>15} {'cupy TFLOP/s':>13} {'ratio':>7}")
    for dtype in ("float32", "float16"):
        for n in (1024, 2048, 4096):
            a = cupy.random.standard_normal((n, n), dtype=np.float32).astype(dtype)
            ta = opcore.from_dlpack(a, backend="cuda")
            flop = 2 * n**3
            t_op = best_ms(lambda ta=ta: opcore.matmul(ta, ta))
            t_cp = best_ms(lambda a=a: cupy.matmul(a, a))
            print(f"{dtype} n={n:<10} {flop / t_op / 1e9:>15.1f} {flop / t_cp / 1e9:>13.1f} {t_cp / t_op:>7.2f}")

    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from training import opcore_step

    try:
        import torch

        has_torch = torch.cuda.is_available()
    except ImportError:
        has_torch = False
    print(f"{'step':<6} {'opcore cuda ms':>15} {'torch cuda ms':>14} {'ratio':>7}")
    for model, batch in (("mlp", 128), ("cnn", 64)):
        t_op = best_ms(opcore_step(model, "cuda", batch), repeat=20)
        t_torch = float("nan")
        if has_torch:
            t_torch = best_ms(_torch_step(model, batch), repeat=20)
        print(f"{model:<6} {t_op:>15.2f} {t_torch:>14.2f} {t_op / t_torch:>7.2f}")
    return 0


def _torch_step(model: str, batch: int) -> Callable[[], None]:
    import torch

    nn = torch.nn
    dev = torch.device("cuda")
    if model == "mlp":
        net = nn.Sequential(nn.Linear(784, 256), nn.Sigmoid(), nn.Linear(256, 128), nn.Sigmoid(), nn.Linear(128, 10))
        xb = torch.rand(batch, 784, device=dev)
    else:
        net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Flatten(), nn.Linear(12 * 12 * 64, 128), nn.ReLU(), nn.Linear(128, 10))  # fmt: skip
        xb = torch.rand(batch, 1, 28, 28, device=dev)
    net = net.to(dev)
    yb = torch.randint(0, 10, (batch,), device=dev)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad()
        loss_fn(net(xb), yb).backward()
        opt.step()

    return step


if __name__ == "__main__":
    sys.exit(main())
