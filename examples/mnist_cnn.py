"""MNIST convolutional network: conv-conv-pool, dense with dropout, Adam 1e-3 (target >= 98.5%).

The layers are objects called twice: with dropout for the training loss, without it
for evaluation, sharing their variables.

    python examples/mnist_cnn.py [--backend numpy] [--epochs 3] [--data-dir DIR] [--logdir logs]
"""

from __future__ import annotations

from course import parse_args

import opcore


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], epochs=3, batch_size=(int, 128, "mini-batch size"),
                      learning_rate=(float, 0.001, "Adam step"),
                      data_dir=(str, None, "folder with the four MNIST .gz files"))  # fmt: skip
    mnist = opcore.datasets.mnist.read_data_sets(args.data_dir, one_hot=True, seed=args.seed)
    opcore.set_seed(args.seed)
    L = opcore.layers
    model = [
        L.Conv2D(32, 3, activation="relu"),
        L.Conv2D(64, 3, activation="relu"),
        L.MaxPooling2D(2),
        L.Dropout(0.25),
        L.Flatten(),
        L.Dense(128, activation="relu"),
        L.Dropout(0.5),
        L.Dense(10),
    ]

    def forward(images: object, training: bool) -> object:
        h = opcore.reshape(images, [-1, 28, 28, 1])
        for layer in model:
            h = layer(h, training=training)
        return h

    graph = opcore.Graph()
    with graph.as_default():
        x = opcore.placeholder(opcore.float32, [None, 784], name="x")
        y = opcore.placeholder(opcore.float32, [None, 10], name="y")
        cost = opcore.reduce_mean(opcore.softmax_cross_entropy_with_logits(labels=y, logits=forward(x, True)))
        train = opcore.train.AdamOptimizer(args.learning_rate).minimize(cost)
        logits = forward(x, False)
        correct = opcore.equal(opcore.argmax(logits, 1), opcore.argmax(y, 1))
        hits = opcore.reduce_sum(opcore.cast(correct, opcore.float32))
        init = opcore.global_variables_initializer()
        if args.logdir:  # TensorBoard: the training cost as a curve, every weight as a histogram
            opcore.summary.scalar("cost", cost)
            for v in opcore.trainable_variables():
                opcore.summary.histogram(f"{v.name}/histogram", v)
            summaries = opcore.summary.merge_all()
    writer = opcore.summary.FileWriter(args.logdir, graph) if args.logdir else None

    def accuracy(sess: opcore.Session, images: object, labels: object) -> float:
        n = len(images)  # type: ignore[arg-type]
        total = sum(sess.run(hits, {x: images[i : i + 1000], y: labels[i : i + 1000]}) for i in range(0, n, 1000))  # type: ignore[index]
        return float(total) / n

    steps_per_epoch = mnist.train.num_examples // args.batch_size
    total = args.epochs * steps_per_epoch if not args.max_steps else args.max_steps
    with opcore.Session(graph, backend=args.backend) as sess:
        sess.run(init)
        for step in range(1, total + 1):
            xb, yb = mnist.train.next_batch(args.batch_size)
            _, c = sess.run([train, cost], {x: xb, y: yb})
            if writer and step % args.log_every == 0:
                writer.add_summary(sess.run(summaries, {x: xb, y: yb}), step)
            if step % 100 == 0:
                print(f"step {step}/{total}  cost {c:.4f}", flush=True)
            if step % steps_per_epoch == 0:
                val = accuracy(sess, mnist.validation.images, mnist.validation.labels)
                print(f"epoch {step // steps_per_epoch}  validation accuracy {val:.4f}", flush=True)
                if writer:  # a value computed outside the graph, written as TensorFlow 1 programs do
                    value = opcore.summary.Summary.Value(tag="validation_accuracy", simple_value=val)
                    writer.add_summary(opcore.summary.Summary(value=[value]), step)
        acc = accuracy(sess, mnist.test.images, mnist.test.labels)
    if writer:
        writer.close()
    print(f"result: test_accuracy={acc:.4f}")


if __name__ == "__main__":
    main()
