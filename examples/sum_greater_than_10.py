"""Is x1 + x2 > 10? A two-layer network with a softmax output, trained in a graph.

python examples/sum_greater_than_10.py [--backend numpy] [--epochs 40]
"""

from __future__ import annotations

import numpy as np
from course import batches, parse_args

import opcore


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], epochs=40, batch_size=(int, 100, "mini-batch size"),
                      hidden=(int, 16, "hidden units"), learning_rate=(float, 0.01, "Adam step"))  # fmt: skip
    rng = np.random.default_rng(args.seed)
    x_all = rng.uniform(0, 10, size=(10_000, 2)).astype(np.float32)
    labels = (x_all.sum(axis=1) > 10).astype(np.int64)
    y_all = np.eye(2, dtype=np.float32)[labels]
    x_train, y_train, x_test, y_test = x_all[:8000], y_all[:8000], x_all[8000:], y_all[8000:]
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)

    graph = opcore.Graph()
    with graph.as_default():
        x = opcore.placeholder(opcore.float32, [None, 2], name="x")
        y = opcore.placeholder(opcore.float32, [None, 2], name="y")
        h = opcore.relu(opcore.layers.dense((x - mean) / std, args.hidden, name="hidden"))
        logits = opcore.layers.dense(h, 2, name="logits")
        cost = opcore.reduce_mean(opcore.softmax_cross_entropy_with_logits(labels=y, logits=logits))
        train = opcore.train.AdamOptimizer(args.learning_rate).minimize(cost)
        correct = opcore.equal(opcore.argmax(logits, 1), opcore.argmax(y, 1))
        accuracy = opcore.reduce_mean(opcore.cast(correct, opcore.float32))
        init = opcore.global_variables_initializer()

    steps = 0
    with opcore.Session(graph, backend=args.backend) as sess:
        sess.run(init)
        for epoch in range(1, args.epochs + 1):
            for idx in batches(len(x_train), args.batch_size, rng):
                sess.run(train, {x: x_train[idx], y: y_train[idx]})
                steps += 1
                if args.max_steps and steps >= args.max_steps:
                    break
            if epoch % 10 == 0 or epoch == args.epochs:
                print(f"epoch {epoch:3d}  test accuracy {sess.run(accuracy, {x: x_test, y: y_test}):.4f}")
            if args.max_steps and steps >= args.max_steps:
                break
        acc = sess.run(accuracy, {x: x_test, y: y_test})
    print(f"result: test_accuracy={acc:.4f}")


if __name__ == "__main__":
    main()
