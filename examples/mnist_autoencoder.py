"""MNIST autoencoder (TensorFlow course): 784-256-64-256-784 with sigmoid layers, RMSProp 0.01.

Writes a PNG: the first ten test digits (top row) and their reconstructions (bottom row).

    python examples/mnist_autoencoder.py [--backend numpy] [--epochs 5] [--png autoencoder.png] [--logdir logs]
"""

from __future__ import annotations

import numpy as np
from course import parse_args

import opcore


def save_png(originals: np.ndarray, reconstructions: np.ndarray, path: str) -> None:
    from PIL import Image

    rows = [np.hstack([img.reshape(28, 28) for img in group]) for group in (originals, reconstructions)]
    grid = (np.vstack(rows) * 255).clip(0, 255).astype(np.uint8)
    Image.fromarray(grid, mode="L").resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST).save(path)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], epochs=5, batch_size=(int, 256, "mini-batch size"),
                      learning_rate=(float, 0.01, "RMSProp step"), png=(str, "autoencoder.png", "output image"),
                      data_dir=(str, None, "folder with the four MNIST .gz files"))  # fmt: skip
    mnist = opcore.datasets.mnist.read_data_sets(args.data_dir, one_hot=True, seed=args.seed)
    opcore.set_seed(args.seed)

    graph = opcore.Graph()
    with graph.as_default():
        x = opcore.placeholder(opcore.float32, [None, 784], name="x")
        h = x
        for i, units in enumerate([256, 64, 256, 784]):
            h = opcore.layers.dense(h, units, activation="sigmoid", name=f"layer{i + 1}")
        cost = opcore.reduce_mean(opcore.square(h - x))
        train = opcore.train.RMSPropOptimizer(args.learning_rate).minimize(cost)
        init = opcore.global_variables_initializer()
        if args.logdir:  # TensorBoard: the cost as a curve, three digits and their reconstructions as images
            opcore.summary.scalar("cost", cost)
            opcore.summary.image("input", opcore.reshape(x, [-1, 28, 28, 1]), max_outputs=3)
            opcore.summary.image("reconstruction", opcore.reshape(h, [-1, 28, 28, 1]), max_outputs=3)
            summaries = opcore.summary.merge_all()
    writer = opcore.summary.FileWriter(args.logdir, graph) if args.logdir else None

    steps_per_epoch = mnist.train.num_examples // args.batch_size
    total = args.epochs * steps_per_epoch if not args.max_steps else args.max_steps
    with opcore.Session(graph, backend=args.backend) as sess:
        sess.run(init)
        for step in range(1, total + 1):
            xb, _ = mnist.train.next_batch(args.batch_size)
            _, c = sess.run([train, cost], {x: xb})
            if writer and step % args.log_every == 0:
                writer.add_summary(sess.run(summaries, {x: xb}), step)
            if step % steps_per_epoch == 0:
                print(f"epoch {step // steps_per_epoch}  cost {c:.5f}")
        test_mse, recon = sess.run([cost, h], {x: mnist.test.images})
    if writer:
        writer.close()
    save_png(mnist.test.images[:10], recon[:10], args.png)
    print(f"wrote {args.png}")
    print(f"result: test_mse={test_mse:.5f}")


if __name__ == "__main__":
    main()
