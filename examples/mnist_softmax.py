"""MNIST softmax regression (TensorFlow course): 784 -> 10, gradient descent, learning rate 0.5.

The course reports 89.73% test accuracy; this run reaches about 92%.

    python examples/mnist_softmax.py [--backend numpy] [--epochs 2] [--data-dir DIR] [--logdir logs]
"""

from __future__ import annotations

from course import parse_args

import opcore


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], epochs=2, batch_size=(int, 100, "mini-batch size"),
                      learning_rate=(float, 0.5, "gradient descent step"),
                      data_dir=(str, None, "folder with the four MNIST .gz files"))  # fmt: skip
    mnist = opcore.datasets.mnist.read_data_sets(args.data_dir, one_hot=True, seed=args.seed)

    graph = opcore.Graph()
    with graph.as_default():
        x = opcore.placeholder(opcore.float32, [None, 784], name="x")
        y = opcore.placeholder(opcore.float32, [None, 10], name="y")
        w = opcore.Variable(opcore.zeros([784, 10]), name="W")
        b = opcore.Variable(opcore.zeros([10]), name="b")
        logits = opcore.matmul(x, w) + b
        cost = opcore.reduce_mean(opcore.softmax_cross_entropy_with_logits(labels=y, logits=logits))
        train = opcore.train.GradientDescentOptimizer(args.learning_rate).minimize(cost)
        correct = opcore.equal(opcore.argmax(logits, 1), opcore.argmax(y, 1))
        accuracy = opcore.reduce_mean(opcore.cast(correct, opcore.float32))
        init = opcore.global_variables_initializer()
        if args.logdir:  # TensorBoard: the cost and accuracy as curves, the weights as histograms
            opcore.summary.scalar("cost", cost)
            opcore.summary.scalar("accuracy", accuracy)
            opcore.summary.histogram("weights", w)
            summaries = opcore.summary.merge_all()
    writer = opcore.summary.FileWriter(args.logdir, graph) if args.logdir else None

    steps_per_epoch = mnist.train.num_examples // args.batch_size
    total = args.epochs * steps_per_epoch if not args.max_steps else args.max_steps
    with opcore.Session(graph, backend=args.backend) as sess:
        sess.run(init)
        for step in range(1, total + 1):
            xb, yb = mnist.train.next_batch(args.batch_size)
            _, c = sess.run([train, cost], {x: xb, y: yb})
            if writer and step % args.log_every == 0:
                writer.add_summary(sess.run(summaries, {x: xb, y: yb}), step)
            if step % steps_per_epoch == 0:
                print(f"epoch {step // steps_per_epoch}  cost {c:.4f}")
        acc = sess.run(accuracy, {x: mnist.test.images, y: mnist.test.labels})
    if writer:
        writer.close()
    print(f"result: test_accuracy={acc:.4f}")


if __name__ == "__main__":
    main()
