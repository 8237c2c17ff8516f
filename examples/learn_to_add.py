"""Learn to add (TensorFlow course, lesson 1): fit y = x1 + x2 with a linear model in a graph.

10,000 random pairs, an 80/20 train/test split, mini-batch gradient descent
in a Session; prints the learned W (close to [1, 1]) and b (close to 0).

    python examples/learn_to_add.py [--backend numpy] [--epochs 30]
"""

from __future__ import annotations

import numpy as np
from course import batches, parse_args

import opcore


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], epochs=30, batch_size=(int, 100, "mini-batch size"),
                      learning_rate=(float, 0.005, "gradient descent step"))  # fmt: skip
    rng = np.random.default_rng(args.seed)
    x_all = rng.uniform(0, 10, size=(10_000, 2)).astype(np.float32)
    y_all = x_all.sum(axis=1, keepdims=True)
    x_train, y_train, x_test, y_test = x_all[:8000], y_all[:8000], x_all[8000:], y_all[8000:]

    graph = opcore.Graph()
    with graph.as_default():
        x = opcore.placeholder(opcore.float32, [None, 2], name="x")
        y = opcore.placeholder(opcore.float32, [None, 1], name="y")
        w = opcore.Variable(opcore.random_normal([2, 1], stddev=0.1, seed=args.seed), name="W")
        b = opcore.Variable(opcore.zeros([1]), name="b")
        prediction = opcore.matmul(x, w) + b
        cost = opcore.reduce_mean(opcore.square(prediction - y))
        train = opcore.train.GradientDescentOptimizer(args.learning_rate).minimize(cost)
        init = opcore.global_variables_initializer()

    steps = 0
    with opcore.Session(graph, backend=args.backend) as sess:
        sess.run(init)
        for epoch in range(1, args.epochs + 1):
            for idx in batches(len(x_train), args.batch_size, rng):
                _, c = sess.run([train, cost], {x: x_train[idx], y: y_train[idx]})
                steps += 1
                if args.max_steps and steps >= args.max_steps:
                    break
            if epoch % 10 == 0 or epoch == args.epochs:
                print(f"epoch {epoch:3d}  cost {c:.6f}")
            if args.max_steps and steps >= args.max_steps:
                break
        test_mse = sess.run(cost, {x: x_test, y: y_test})
        w_val, b_val = sess.run([w, b])
    print(f"W = {[round(float(v), 4) for v in w_val.ravel()]}, b = {float(b_val[0]):.4f}")
    print(f"result: test_mse={test_mse:.6g}")


if __name__ == "__main__":
    main()
