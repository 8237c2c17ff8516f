"""MNIST multilayer perceptron (TensorFlow course): 784-256-128-10 with sigmoid hidden layers, Adam.

The course reports 92.90% test accuracy.

    python examples/mnist_mlp.py [--backend numpy] [--epochs 5] [--data-dir DIR] [--logdir logs]
    mpiexec -n 2 python examples/mnist_mlp.py --distributed    # data-parallel: each rank trains on half the data
"""

from __future__ import annotations

from course import parse_args

import opcore


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], epochs=5, batch_size=(int, 100, "mini-batch size"),
                      learning_rate=(float, 0.001, "Adam step"),
                      data_dir=(str, None, "folder with the four MNIST .gz files"),
                      distributed=(bool, False, "data-parallel on every rank of mpiexec (needs opcore[mpi])"))  # fmt: skip
    mnist = opcore.datasets.mnist.read_data_sets(args.data_dir, one_hot=True, seed=args.seed)
    opcore.set_seed(args.seed)
    hvd = opcore.distributed
    if args.distributed:
        hvd.init()
    chief = not args.distributed or hvd.rank() == 0  # only rank 0 prints (and would write files)
    train_set = hvd.shard(mnist.train) if args.distributed else mnist.train
    if args.distributed and chief:
        print(f"data-parallel on {hvd.size()} ranks, {train_set.num_examples} training examples each")

    graph = opcore.Graph()
    with graph.as_default():
        x = opcore.placeholder(opcore.float32, [None, 784], name="x")
        y = opcore.placeholder(opcore.float32, [None, 10], name="y")
        h1 = opcore.layers.dense(x, 256, activation="sigmoid", name="hidden1")
        h2 = opcore.layers.dense(h1, 128, activation="sigmoid", name="hidden2")
        logits = opcore.layers.dense(h2, 10, name="logits")
        cost = opcore.reduce_mean(opcore.softmax_cross_entropy_with_logits(labels=y, logits=logits))
        optimizer = opcore.train.AdamOptimizer(args.learning_rate)
        if args.distributed:
            optimizer = hvd.DistributedOptimizer(optimizer)  # averages the gradients over the ranks
        train = optimizer.minimize(cost)
        correct = opcore.equal(opcore.argmax(logits, 1), opcore.argmax(y, 1))
        accuracy = opcore.reduce_mean(opcore.cast(correct, opcore.float32))
        init = opcore.global_variables_initializer()
        sync = hvd.broadcast_global_variables(0) if args.distributed else None
        if args.logdir:  # TensorBoard: the cost and accuracy as curves, every weight as a histogram
            opcore.summary.scalar("cost", cost)
            opcore.summary.scalar("accuracy", accuracy)
            for v in opcore.trainable_variables():
                opcore.summary.histogram(f"{v.name}/histogram", v)
            summaries = opcore.summary.merge_all()
    # Only rank 0 writes logs (every rank when not distributed).
    writer = opcore.summary.FileWriter(args.logdir, graph) if args.logdir and chief else None

    steps_per_epoch = train_set.num_examples // args.batch_size
    total = args.epochs * steps_per_epoch if not args.max_steps else args.max_steps
    with opcore.Session(graph, backend=args.backend) as sess:
        sess.run(init)
        if sync is not None:
            sess.run(sync)  # every rank starts from rank 0's weights
        for step in range(1, total + 1):
            xb, yb = train_set.next_batch(args.batch_size)
            _, c = sess.run([train, cost], {x: xb, y: yb})
            if writer and step % args.log_every == 0:
                writer.add_summary(sess.run(summaries, {x: xb, y: yb}), step)
            if step % steps_per_epoch == 0 and chief:
                val = sess.run(accuracy, {x: mnist.validation.images, y: mnist.validation.labels})
                print(f"epoch {step // steps_per_epoch}  cost {c:.4f}  validation accuracy {val:.4f}")
        if chief:
            acc = sess.run(accuracy, {x: mnist.test.images, y: mnist.test.labels})
            print(f"result: test_accuracy={acc:.4f}")
    if writer:
        writer.close()


if __name__ == "__main__":
    main()
