"""Training-step time and memory: opcore (Session) on each backend vs PyTorch CPU eager, in one run.

Models (synthetic MNIST-shaped data, so no download is needed):
  MLP    784-256-128-10 (sigmoid), batch 128, Adam 1e-3, graph mode (Session)
  CNN    conv3x3x32-relu, conv3x3x64-relu, maxpool2, dense128-relu, dense10; batch 64, Adam 1e-3
  cnn-l2 the CNN with an L2 penalty, 1e-4 times the sum of every weight's squares, in its loss
         (sums and products of mid size between the convolutions, as models with weight decay have)
  eager  the MLP eagerly: GradientTape, plain SGD with ``assign_sub``; torch autograd with ``sub_``

    python benchmarks/training.py [--steps 50] [--memory-steps 1000]

Prints ms per step, the opcore/torch ratio (targets: MLP <= 1.0, CNN <= 1.5, eager MLP <= 1.2),
peak resident memory, and the resident-memory growth over --memory-steps MLP steps. For each
model, torch and the backends take turns round by round, and each row is its best round.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable

import numpy as np
from kernels import blas_description

import opcore


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def opcore_step(model: str, backend: str, batch: int) -> Callable[[], None]:
    g = opcore.Graph()
    opcore.set_seed(0)
    with g.as_default():
        x = opcore.placeholder(opcore.float32, [None, 784])
        y = opcore.placeholder(opcore.float32, [None, 10])
        if model == "mlp":
            h = opcore.layers.dense(x, 256, activation="sigmoid")
            h = opcore.layers.dense(h, 128, activation="sigmoid")
            logits = opcore.layers.dense(h, 10)
        else:  # cnn, cnn-l2
            h = opcore.reshape(x, [-1, 28, 28, 1])
            h = opcore.layers.conv2d(h, 32, 3, activation="relu")
            h = opcore.layers.conv2d(h, 64, 3, activation="relu")
            h = opcore.layers.max_pooling2d(h, 2, 2)
            h = opcore.layers.flatten(h)
            h = opcore.layers.dense(h, 128, activation="relu")
            logits = opcore.layers.dense(h, 10)
        loss = opcore.reduce_mean(opcore.softmax_cross_entropy_with_logits(labels=y, logits=logits))
        if model == "cnn-l2":
            loss = loss + 1e-4 * sum(opcore.reduce_sum(v * v) for v in opcore.trainable_variables())
        train = opcore.train.AdamOptimizer(1e-3).minimize(loss)
        init = opcore.global_variables_initializer()
    sess = opcore.Session(g, backend=backend)
    sess.run(init)
    rng = np.random.default_rng(0)
    xb = rng.random((batch, 784), dtype=np.float32)
    yb = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]
    feed = {x: xb, y: yb}
    return lambda: sess.run(train, feed)


def opcore_eager_mlp_step(backend: str, batch: int, lr: float = 0.1) -> Callable[[], None]:
    """One eager SGD step of the 784-256-128-10 sigmoid MLP: GradientTape, then ``assign_sub``."""
    opcore.set_seed(0)
    rng = np.random.default_rng(0)
    sizes = [(784, 256), (256, 128), (128, 10)]
    params = []
    for n_in, n_out in sizes:
        params.append(opcore.Variable(rng.normal(0, 0.05, (n_in, n_out)).astype(np.float32), backend=backend))
        params.append(opcore.Variable(np.zeros(n_out, np.float32), backend=backend))
    x = opcore.constant(rng.random((batch, 784), dtype=np.float32), backend=backend)
    y = opcore.constant(np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)], backend=backend)

    def step() -> None:
        w1, b1, w2, b2, w3, b3 = params
        with opcore.GradientTape() as tape:
            h = opcore.sigmoid(x @ w1 + b1)
            h = opcore.sigmoid(h @ w2 + b2)
            logits = h @ w3 + b3
            loss = opcore.reduce_mean(opcore.softmax_cross_entropy_with_logits(labels=y, logits=logits))
        grads = tape.gradient(loss, params)
        for v, g in zip(params, grads):
            v.assign_sub(lr * g)

    return step


def torch_eager_mlp_step(batch: int, lr: float = 0.1) -> Callable[[], None] | None:
    """The same eager SGD step in PyTorch: autograd, then an in-place update under ``no_grad``."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    sizes = [(784, 256), (256, 128), (128, 10)]
    params = []
    for n_in, n_out in sizes:
        params.append((torch.randn(n_in, n_out) * 0.05).requires_grad_())
        params.append(torch.zeros(n_out, requires_grad=True))
    x = torch.rand(batch, 784)
    y = torch.randint(0, 10, (batch,))

    def step() -> None:
        w1, b1, w2, b2, w3, b3 = params
        h = torch.sigmoid(x @ w1 + b1)
        h = torch.sigmoid(h @ w2 + b2)
        loss = torch.nn.functional.cross_entropy(h @ w3 + b3, y)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(lr * g)

    return step


def torch_step(model: str, batch: int) -> Callable[[], None] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    nn = torch.nn
    if model == "mlp":
        net = nn.Sequential(nn.Linear(784, 256), nn.Sigmoid(), nn.Linear(256, 128), nn.Sigmoid(), nn.Linear(128, 10))
        xb = torch.rand(batch, 784)
    else:
        net = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(12 * 12 * 64, 128), nn.ReLU(), nn.Linear(128, 10),
        )  # fmt: skip
        xb = torch.rand(batch, 1, 28, 28)
    yb = torch.randint(0, 10, (batch,))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad()
        loss = loss_fn(net(xb), yb)
        if model == "cnn-l2":
            loss = loss + 1e-4 * sum((p * p).sum() for p in net.parameters())
        loss.backward()
        opt.step()

    return step


def time_ms(step: Callable[[], None], steps: int) -> float:
    """Best of 5 rounds of ``steps`` steps, as :func:`interleaved_ms` takes them: ms per step."""
    return interleaved_ms([step], steps)[0]


def interleaved_ms(runners: list[Callable[[], None]], steps: int, rounds: int = 5, pause_s: float = 0.2) -> list[float]:
    """Best ms per step of each runner over ``rounds`` rounds of ``steps`` steps (after 10
    warm-up steps each, by which the process's heap has grown to the model), the runners
    taking turns within each round: on a machine whose speed drifts (a shared virtual
    machine's cores), every runner then meets the same states, and the ratios hold. Each
    round starts after ``pause_s`` of idle time, so that the worker threads of the runner
    before it (OpenBLAS's, OpenMP's, an OpenCL runtime's) have stopped spinning, then
    runs untimed steps for 30 ms, since a core that was idle takes tens of milliseconds
    to reach full speed again."""
    for run in runners:
        for _ in range(10):
            run()
    best = [float("inf")] * len(runners)
    for _ in range(rounds):
        for i, run in enumerate(runners):
            time.sleep(pause_s)
            t = time.perf_counter()
            while time.perf_counter() - t < 0.03:
                run()
            t = time.perf_counter()
            for _ in range(steps):
                run()
            best[i] = min(best[i], (time.perf_counter() - t) / steps)
    return [b * 1e3 for b in best]


def _runners(
    model: str, reference: Callable[[], None] | None, build: Callable[[str], Callable[[], None]], backends: list[str]
) -> list[tuple[str, Callable[[], None]]]:
    """(name, step) of torch (when installed) and of each backend that can run ``model``."""
    runners = [("torch", reference)] if reference is not None else []
    for b in backends:
        try:
            step = build(b)
            step()  # an eager step finds a missing kernel only when it runs
            runners.append((b, step))
        except opcore.KernelNotFoundError as exc:  # a partial backend cannot run this model
            print(f"{model}: skipping backend {b!r}: {str(exc).splitlines()[0]}")
    return runners


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--memory-steps", type=int, default=1000)
    p.add_argument("--backends", nargs="*", default=None, help="default: every available backend")
    args = p.parse_args()
    backends = args.backends or [b.name for b in opcore.available_backends() if b.available]
    print(f"NumPy's BLAS: {blas_description()}")
    rows = []
    cnn_steps = max(args.steps // 5, 3)
    cases: list[tuple[str, int, Callable[[], None] | None, Callable[[str], Callable[[], None]], str, str]] = [
        (m, n, torch_step(m, b), lambda k, m=m, b=b: opcore_step(m, k, b), "torch (cpu eager)", "session")
        for m, b, n in (("mlp", 128, args.steps), ("cnn", 64, cnn_steps), ("cnn-l2", 64, cnn_steps))
    ]
    cases.append(
        ("eager", args.steps, torch_eager_mlp_step(128), lambda k: opcore_eager_mlp_step(k, 128),
         "torch (cpu eager, SGD)", "GradientTape")
    )  # fmt: skip
    for model, steps, reference, build, torch_name, mode in cases:
        runners = _runners(model, reference, build, backends)
        times = interleaved_ms([run for _, run in runners], steps)
        t_torch = times[0] if reference is not None else None
        for (name, _), t in zip(runners, times, strict=True):
            if name == "torch":
                rows.append((model, torch_name, t, None))
            else:
                rows.append((model, f"opcore {name} ({mode})", t, t / t_torch if t_torch else None))
    print(f"{'model':<7} {'runner':<26} {'ms/step':>9} {'opcore/torch':>13}")
    for model, runner, t, ratio in rows:
        print(f"{model:<7} {runner:<26} {t:>9.2f} {ratio if ratio is not None else float('nan'):>13.2f}")

    step = opcore_step("mlp", "numpy", 128)
    for _ in range(50):
        step()
    start = rss_mb()
    for _ in range(args.memory_steps):
        step()
    end = rss_mb()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"memory: MLP on numpy, resident {start:.1f} MB after 50 steps, {end:.1f} MB after "
          f"{args.memory_steps} more (growth {end - start:+.1f} MB); peak resident {peak:.1f} MB")  # fmt: skip
    targets = {"mlp": 1.0, "cnn": 1.5, "cnn-l2": 1.5, "eager": 1.2}
    for model, target in targets.items():
        ratios = [r for m, _, _, r in rows if m == model and r is not None]
        if ratios:
            print(f"key ratio {model}: opcore/torch = {min(ratios):.2f} (target <= {target})")


if __name__ == "__main__":
    main()
