"""Linear regression on a bundled real data set (scikit-learn's diabetes), Adam, in a graph.

python examples/housing_regression.py [--backend numpy] [--epochs 100]
"""

from __future__ import annotations

import numpy as np
from course import batches, parse_args

import opcore


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], epochs=100, batch_size=(int, 32, "mini-batch size"),
                      learning_rate=(float, 0.01, "Adam step"))  # fmt: skip
    (x_train, y_train), (x_test, y_test) = opcore.datasets.diabetes.load_data(seed=args.seed)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    y_mean, y_std = float(y_train.mean()), float(y_train.std())
    y_train = y_train.reshape(-1, 1).astype(np.float32)
    y_test = y_test.reshape(-1, 1).astype(np.float32)
    rng = np.random.default_rng(args.seed)
    opcore.set_seed(args.seed)

    graph = opcore.Graph()
    with graph.as_default():
        x = opcore.placeholder(opcore.float32, [None, x_train.shape[1]], name="x")
        y = opcore.placeholder(opcore.float32, [None, 1], name="y")
        prediction = opcore.layers.dense((x - mean) / std, 1, name="linear") * y_std + y_mean
        mse = opcore.reduce_mean(opcore.square(prediction - y))
        train = opcore.train.AdamOptimizer(args.learning_rate).minimize(mse / (y_std * y_std))
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
            if epoch % 25 == 0:
                print(f"epoch {epoch:4d}  train mse {sess.run(mse, {x: x_train, y: y_train}):.1f}")
            if args.max_steps and steps >= args.max_steps:
                break
        test_mse = sess.run(mse, {x: x_test, y: y_test})
    baseline = float(np.mean((y_test - y_train.mean()) ** 2))
    print(f"predicting the mean gives test mse {baseline:.1f}")
    print(f"result: test_mse={test_mse:.1f}")


if __name__ == "__main__":
    main()
