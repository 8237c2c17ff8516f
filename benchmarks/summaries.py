"""What writing TensorBoard summaries costs a training loop, at one summary every 100 steps (target: < 5%).

Workloads (synthetic MNIST-shaped data, so no download is needed), each timed without and with summaries:
  softmax  the course's softmax regression 784-10, batch 100, SGD (session): the cheapest step, so the
           largest relative cost; summaries: cost and accuracy scalars, a histogram of each variable
  mlp      784-256-128-10 sigmoid, batch 100, Adam (session); summaries: two scalars and a histogram of
           every weight, as examples/mnist_mlp.py --logdir writes them
           Both session workloads fetch the merged summary two ways: "joint", with the training step in one
           run (TensorFlow 1's tutorial: sess.run([merged, train])), and "own run", a run of its own after
           the step (as the course programs in examples/ do)
  eager    the MLP eagerly (GradientTape, SGD); summaries: opcore.summary.scalar of the loss and a
           histogram of the first kernel with a default writer
  keras    the MLP with Keras fit; TensorBoard(update_freq=100, histogram_freq=1) against no callback

Timing alternates blocks of --every steps, one plain, one logged (its summary written and the writer
flushed, so the event file's record writing is charged to the block that caused it), --rounds times,
swapping which goes first each round; the median block of each counts. Interleaving this finely cancels
the drift of a shared machine's load. Keras runs whole fits of --rounds x --every steps instead, a few
times each. Prints CPU and wall-clock ms per step (CPU: the process's, all its threads), the overheads,
and the largest wall-clock overhead as the key ratio.

    python benchmarks/summaries.py [--every 100] [--rounds 40]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable

import numpy as np

import opcore
from opcore import keras

Loop = Callable[[int], None]


def data(batch: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.random((batch, 784), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]
    return x, y


def session_loops(model: str, logdir: str, every: int) -> tuple[Loop, Loop, Loop, Callable[[], None]]:
    opcore.set_seed(0)
    g = opcore.Graph()
    with g.as_default():
        x = opcore.placeholder(opcore.float32, [None, 784], name="x")
        y = opcore.placeholder(opcore.float32, [None, 10], name="y")
        if model == "softmax":
            w = opcore.Variable(opcore.zeros([784, 10]), name="W")
            b = opcore.Variable(opcore.zeros([10]), name="b")
            logits = opcore.matmul(x, w) + b
            optimizer = opcore.train.GradientDescentOptimizer(0.5)
        else:
            h = opcore.layers.dense(x, 256, activation="sigmoid", name="hidden1")
            h = opcore.layers.dense(h, 128, activation="sigmoid", name="hidden2")
            logits = opcore.layers.dense(h, 10, name="logits")
            optimizer = opcore.train.AdamOptimizer(1e-3)
        cost = opcore.reduce_mean(opcore.softmax_cross_entropy_with_logits(labels=y, logits=logits))
        train = optimizer.minimize(cost)
        correct = opcore.equal(opcore.argmax(logits, 1), opcore.argmax(y, 1))
        accuracy = opcore.reduce_mean(opcore.cast(correct, opcore.float32))
        opcore.summary.scalar("cost", cost)
        opcore.summary.scalar("accuracy", accuracy)
        for v in opcore.trainable_variables():
            opcore.summary.histogram(v.name.replace("/", "_"), v)
        merged = opcore.summary.merge_all()
        init = opcore.global_variables_initializer()
    sess = opcore.Session(g)
    sess.run(init)
    xb, yb = data(100)
    feed = {x: xb, y: yb}
    writer = opcore.summary.FileWriter(logdir, g)

    def plain(steps: int) -> None:
        for _ in range(steps):
            sess.run(train, feed)

    def joint(steps: int) -> None:
        for step in range(1, steps + 1):
            if step % every == 0:
                summary, _ = sess.run([merged, train], feed)
                writer.add_summary(summary, step)
            else:
                sess.run(train, feed)
        writer.flush()

    def own_run(steps: int) -> None:
        for step in range(1, steps + 1):
            sess.run(train, feed)
            if step % every == 0:
                writer.add_summary(sess.run(merged, feed), step)
        writer.flush()

    def close() -> None:
        writer.close()
        sess.close()

    return plain, joint, own_run, close


def eager_loops(logdir: str, every: int) -> tuple[Loop, Loop, Callable[[], None]]:
    rng = np.random.default_rng(0)
    params = []
    for n_in, n_out in ((784, 256), (256, 128), (128, 10)):
        params.append(opcore.Variable(rng.normal(0, 0.05, (n_in, n_out)).astype(np.float32), name="kernel"))
        params.append(opcore.Variable(np.zeros(n_out, np.float32), name="bias"))
    xb, yb = data(100)
    x, y = opcore.constant(xb), opcore.constant(yb)
    writer = opcore.summary.create_file_writer(logdir)

    def step() -> opcore.Tensor:
        w1, b1, w2, b2, w3, b3 = params
        with opcore.GradientTape() as tape:
            h = opcore.sigmoid(x @ w1 + b1)
            h = opcore.sigmoid(h @ w2 + b2)
            loss = opcore.reduce_mean(opcore.softmax_cross_entropy_with_logits(labels=y, logits=h @ w3 + b3))
        for v, g in zip(params, tape.gradient(loss, params)):
            v.assign_sub(0.1 * g)
        return loss

    def plain(steps: int) -> None:
        for _ in range(steps):
            step()

    def logged(steps: int) -> None:
        with writer.as_default():
            for i in range(1, steps + 1):
                loss = step()
                if i % every == 0:
                    opcore.summary.scalar("loss", loss, step=i)
                    opcore.summary.histogram("kernel", params[0], step=i)

    return plain, logged, writer.close


def keras_loops(logdir: str, every: int) -> tuple[Loop, Loop, Callable[[], None]]:
    opcore.set_seed(0)
    model = keras.Sequential(
        [
            keras.layers.Input((784,)),
            keras.layers.Dense(256, activation="sigmoid"),
            keras.layers.Dense(128, activation="sigmoid"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)

    def fit(steps: int, callbacks: list[keras.callbacks.Callback]) -> None:
        n = steps * 100
        x = rng.random((n, 784), dtype=np.float32)
        y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
        model.fit(x, y, epochs=1, batch_size=100, verbose=0, shuffle=False, callbacks=callbacks)

    def plain(steps: int) -> None:
        fit(steps, [])

    def logged(steps: int) -> None:
        fit(steps, [keras.callbacks.TensorBoard(logdir, histogram_freq=1, update_freq=every)])

    return plain, logged, lambda: None


def measure(plain: Loop, logged: Loop, steps: int, rounds: int) -> tuple[float, float, float, float]:
    """Median CPU ms/step of plain and logged blocks of ``steps`` steps, then median wall-clock ms/step."""
    plain(steps)  # warm up: plans, caches, the first event file
    logged(steps)
    cpu: dict[Loop, list[float]] = {plain: [], logged: []}
    wall: dict[Loop, list[float]] = {plain: [], logged: []}
    for r in range(rounds):
        for loop in (plain, logged) if r % 2 == 0 else (logged, plain):
            c, w = time.process_time(), time.perf_counter()
            loop(steps)
            cpu[loop].append(time.process_time() - c)
            wall[loop].append(time.perf_counter() - w)
    ms = 1e3 / steps
    med = statistics.median
    return med(cpu[plain]) * ms, med(cpu[logged]) * ms, med(wall[plain]) * ms, med(wall[logged]) * ms


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--every", type=int, default=100, help="steps between summaries (default 100)")
    p.add_argument("--rounds", type=int, default=40, help="blocks of each variant (default 40)")
    p.add_argument("--only", nargs="*", default=None, help="workloads to run (default: all)")
    args = p.parse_args()
    root = tempfile.mkdtemp(prefix="opcore-summary-bench-")
    rows = []
    try:
        for name in args.only or ["softmax", "mlp", "eager", "keras"]:
            logdir = os.path.join(root, name)
            variants: list[tuple[str, Loop]]
            if name in ("softmax", "mlp"):
                plain, joint, own_run, close = session_loops(name, logdir, args.every)
                variants = [(f"{name} joint", joint), (f"{name} own run", own_run)]
            elif name == "eager":
                plain, logged, close = eager_loops(logdir, args.every)
                variants = [(name, logged)]
            else:
                plain, logged, close = keras_loops(logdir, args.every)
                variants = [(name, logged)]
            try:
                for label, logged in variants:
                    if name == "keras":  # whole fits: a callback's set-up belongs to its fit
                        timed = measure(plain, logged, args.every * args.rounds, 4)
                    else:
                        timed = measure(plain, logged, args.every, args.rounds)
                    c_plain, c_logged, w_plain, w_logged = timed
                    rows.append((label, w_plain, w_logged, c_logged / c_plain - 1.0, w_logged / w_plain - 1.0))
            finally:
                close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"one summary every {args.every} steps; medians of {args.rounds} interleaved blocks of each variant")
    print(f"{'workload':<16} {'ms/step plain':>14} {'logged':>8} {'wall-clock overhead':>20} {'CPU overhead':>13}")
    for name, t_plain, t_logged, cpu_over, wall_over in rows:
        print(f"{name:<16} {t_plain:>14.3f} {t_logged:>8.3f} {wall_over:>20.1%} {cpu_over:>13.1%}")
    worst = max(rows, key=lambda r: r[4])
    print(f"key ratio: largest wall-clock overhead {worst[4]:.1%} ({worst[0]}); target < 5%")


if __name__ == "__main__":
    main()
