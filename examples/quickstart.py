"""Learn to add, eagerly: fit y = x W + b to 10,000 pairs with x1 + x2 = y.

The classic first TensorFlow course program, written with opcore's eager
tensors, variables and GradientTape. W should approach [1, 1] and b 0.

    python examples/quickstart.py [--backend numpy] [--epochs 20]
"""

from __future__ import annotations

import argparse

import numpy as np

import opcore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    x = rng.uniform(0.0, 10.0, size=(10_000, 2)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    x_train, y_train, x_test, y_test = x[:8000], y[:8000], x[8000:], y[8000:]

    with opcore.use_backend(args.backend):
        opcore.set_seed(args.seed)
        w = opcore.Variable(opcore.random_normal([2, 1], stddev=0.1), name="W")
        b = opcore.Variable(opcore.zeros([1]), name="b")
        for epoch in range(1, args.epochs + 1):
            order = rng.permutation(len(x_train))
            for start in range(0, len(order), args.batch_size):
                idx = order[start : start + args.batch_size]
                xb, yb = opcore.constant(x_train[idx]), opcore.constant(y_train[idx])
                with opcore.GradientTape() as tape:
                    loss = opcore.reduce_mean(opcore.square(xb @ w + b - yb))
                grad_w, grad_b = tape.gradient(loss, [w, b])
                w.assign_sub(args.learning_rate * grad_w)
                b.assign_sub(args.learning_rate * grad_b)
            if epoch == 1 or epoch % 5 == 0 or epoch == args.epochs:
                print(f"epoch {epoch:3d}  train loss {float(loss):.6f}")
        pred = opcore.constant(x_test) @ w + b
        test_mse = float(opcore.reduce_mean(opcore.square(pred - opcore.constant(y_test))))

    print(f"learned W = {[round(float(v), 4) for v in w.numpy().ravel()]}  (target [1.0, 1.0])")
    print(f"learned b = {float(b.numpy()[0]):.4f}  (target 0.0)")
    print(f"result: test_mse={test_mse:.6g}")


if __name__ == "__main__":
    main()
