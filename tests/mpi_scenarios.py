"""Programs that tests/test_distributed_mpi.py runs under ``mpiexec -n 2``: one scenario per command line.

    mpiexec -n 2 python tests/mpi_scenarios.py training      # 2 ranks x half batch == 1 process x whole batch
    mpiexec -n 2 python tests/mpi_scenarios.py collectives   # every dtype, op, fusion, graph and device staging
    mpiexec -n 2 python tests/mpi_scenarios.py raise         # rank 1 raises mid-training: the job ends
    mpiexec -n 2 python tests/mpi_scenarios.py timeout       # rank 1 skips a collective: rank 0 times out

Each rank prints ``PASS <check>`` for every check it passed; a failed check raises, which ends the job. At the
end, rank 0 prints every rank's passed checks in one line, ``PASSED <json>`` (the ranks' own lines reach
mpiexec's output separately, and a rank's last lines can be lost when it exits first).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import opcore
import opcore.distributed as hvd
from opcore.distributed import _world

STEPS = 20
GLOBAL_BATCH = 16
FEATURES, HIDDEN, CLASSES = 6, 8, 3


_PASSED: list[str] = []


def _line(text: str) -> None:
    """``text`` and its newline in one write (two ranks' output meets in mpiexec's)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _say(check: str) -> None:
    _PASSED.append(check)
    _line(f"PASS rank {hvd.rank()} {check}")


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1234)
    x = rng.normal(size=(STEPS * GLOBAL_BATCH, FEATURES)).astype(np.float32)
    y = (x[:, 0] + 2 * x[:, 1] > 0).astype(np.int32) + (x[:, 2] > 1).astype(np.int32)
    return x, y


def _halves(array: np.ndarray) -> np.ndarray:
    """This rank's half of every global batch, the halves of one batch in rank order."""
    half = GLOBAL_BATCH // hvd.size()
    rows = [
        np.arange(k * GLOBAL_BATCH + hvd.rank() * half, k * GLOBAL_BATCH + (hvd.rank() + 1) * half)
        for k in range(STEPS)
    ]
    return array[np.concatenate(rows)]


def _same_on_every_rank(values: list[np.ndarray], what: str) -> None:
    """Every rank holds exactly the same arrays (gathered and compared on every rank)."""
    for v in values:
        gathered = hvd.allgather(opcore.constant(v.reshape(1, -1))).numpy()
        for r in range(1, hvd.size()):
            assert np.array_equal(gathered[0], gathered[r]), f"{what}: rank 0 and rank {r} differ"


def _close(got: list[np.ndarray], want: list[np.ndarray], what: str) -> None:
    for g, w in zip(got, want, strict=True):
        err = float(np.max(np.abs(g - w)))
        assert np.allclose(g, w, rtol=1e-5, atol=1e-6), f"{what}: max abs difference {err:.3g}"
    moved = max(float(np.max(np.abs(g))) for g in got)
    assert moved > 0, f"{what}: nothing was trained"


def _initial(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.normal(0, 0.5, (FEATURES, HIDDEN)).astype(np.float32),
        np.zeros(HIDDEN, np.float32) + 0.1 * seed,
        rng.normal(0, 0.5, (HIDDEN, CLASSES)).astype(np.float32),
        np.zeros(CLASSES, np.float32),
    ]


def _loss(params: list[object], x: object, y: object) -> object:
    w1, b1, w2, b2 = params
    hidden = opcore.tanh(opcore.matmul(x, w1) + b1)
    logits = opcore.matmul(hidden, w2) + b2
    return opcore.reduce_mean(opcore.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))


# --------------------------------------------------------------------------- training


def graph_mode(x: np.ndarray, y: np.ndarray) -> None:
    def build(
        initial: list[np.ndarray], distributed: bool
    ) -> tuple[opcore.Graph, list[object], object, object, object]:
        graph = opcore.Graph()
        with graph.as_default():
            xs = opcore.placeholder(opcore.float32, [None, FEATURES])
            ys = opcore.placeholder(opcore.int32, [None])
            params = [opcore.Variable(v) for v in initial]
            opt = opcore.train.AdamOptimizer(0.01)
            if distributed:
                opt = hvd.DistributedOptimizer(opt)
            train = opt.minimize(_loss(params, xs, ys))
            init = opcore.global_variables_initializer()
            sync = hvd.broadcast_global_variables(0) if distributed else None
        return graph, params, (xs, ys), train, (init, sync)

    graph, params, (xs, ys), train, (init, sync) = build(_initial(seed=hvd.rank() + 1), distributed=True)
    mine_x, mine_y = _halves(x), _halves(y)
    half = GLOBAL_BATCH // hvd.size()
    with opcore.Session(graph) as sess:
        sess.run(init)
        sess.run(sync)
        start = sess.run(params)
        _same_on_every_rank(start, "graph variables after broadcast_global_variables(0)")
        _say("graph broadcast")
        for k in range(STEPS):
            sess.run(train, {xs: mine_x[k * half : (k + 1) * half], ys: mine_y[k * half : (k + 1) * half]})
        got = sess.run(params)
    _same_on_every_rank(got, "graph weights after training")

    graph, params, (xs, ys), train, (init, _) = build(start, distributed=False)
    with opcore.Session(graph) as sess:
        sess.run(init)
        for k in range(STEPS):
            rows = slice(k * GLOBAL_BATCH, (k + 1) * GLOBAL_BATCH)
            sess.run(train, {xs: x[rows], ys: y[rows]})
        want = sess.run(params)
    _close(got, want, "graph mode: 2 ranks x half batch vs 1 process x whole batch")
    _say("graph equivalence")


def eager_mode(x: np.ndarray, y: np.ndarray) -> None:
    params = [opcore.Variable(v) for v in _initial(seed=hvd.rank() + 1)]
    hvd.broadcast_variables(params, root_rank=0)
    start = [p.numpy() for p in params]
    _same_on_every_rank(start, "eager variables after broadcast_variables")
    _say("eager broadcast")
    opt = hvd.DistributedOptimizer(opcore.train.MomentumOptimizer(0.1, momentum=0.9))
    mine_x, mine_y = _halves(x), _halves(y)
    half = GLOBAL_BATCH // hvd.size()
    for k in range(STEPS):
        xb, yb = opcore.constant(mine_x[k * half : (k + 1) * half]), opcore.constant(mine_y[k * half : (k + 1) * half])
        with opcore.GradientTape() as tape:
            loss = _loss(params, xb, yb)
        grads = tape.gradient(loss, params)
        opt.apply_gradients(zip(grads, params))
    got = [p.numpy() for p in params]
    _same_on_every_rank(got, "eager weights after training")

    ref = [opcore.Variable(v) for v in start]
    plain = opcore.train.MomentumOptimizer(0.1, momentum=0.9)
    for k in range(STEPS):
        rows = slice(k * GLOBAL_BATCH, (k + 1) * GLOBAL_BATCH)
        plain.minimize(lambda rows=rows: _loss(ref, opcore.constant(x[rows]), opcore.constant(y[rows])), var_list=ref)
    _close(got, [p.numpy() for p in ref], "eager mode: 2 ranks x half batch vs 1 process x whole batch")
    _say("eager equivalence")

    # The same with a plain optimizer and DistributedGradientTape.
    params = [opcore.Variable(v) for v in start]
    plain = opcore.train.MomentumOptimizer(0.1, momentum=0.9)
    for k in range(STEPS):
        xb, yb = opcore.constant(mine_x[k * half : (k + 1) * half]), opcore.constant(mine_y[k * half : (k + 1) * half])
        with opcore.GradientTape() as tape:
            loss = _loss(params, xb, yb)
        grads = hvd.DistributedGradientTape(tape).gradient(loss, params)
        plain.apply_gradients(zip(grads, params))
    _close([p.numpy() for p in params], [p.numpy() for p in ref], "eager mode with DistributedGradientTape")
    _say("eager tape equivalence")


def keras_fit(x: np.ndarray, y: np.ndarray) -> None:
    keras = opcore.keras

    def model(seed: int) -> keras.Model:
        opcore.set_seed(seed)
        return keras.Sequential(
            [
                keras.layers.Input((FEATURES,)),
                keras.layers.Dense(HIDDEN, activation="tanh"),
                keras.layers.Dense(CLASSES, activation="softmax"),
            ]
        )

    dist = model(seed=100 + hvd.rank())
    dist.compile(hvd.DistributedOptimizer(opcore.train.Adam(0.01)), loss="sparse_categorical_crossentropy",
                 metrics=["accuracy"])  # fmt: skip
    callbacks = [hvd.callbacks.BroadcastGlobalVariablesCallback(0), hvd.callbacks.MetricAverageCallback()]
    history = dist.fit(_halves(x), _halves(y), batch_size=GLOBAL_BATCH // hvd.size(), epochs=1, shuffle=False,
                       verbose=0, callbacks=callbacks)  # fmt: skip
    got = [v.numpy() for v in dist.variables]
    _same_on_every_rank(got, "Keras weights after fit")
    losses = np.asarray([history.history["loss"][0], history.history["accuracy"][0]])
    _same_on_every_rank([losses], "Keras epoch logs after MetricAverageCallback")

    ref = model(seed=100)  # rank 0's initial weights
    ref.compile(opcore.train.Adam(0.01), loss="sparse_categorical_crossentropy")
    ref.fit(x, y, batch_size=GLOBAL_BATCH, epochs=1, shuffle=False, verbose=0)
    _close(got, [v.numpy() for v in ref.variables], "Keras fit: 2 ranks x half batch vs 1 process x whole batch")
    _say("keras equivalence")


def training() -> None:
    x, y = _data()
    graph_mode(x, y)
    eager_mode(x, y)
    keras_fit(x, y)


# --------------------------------------------------------------------------- collectives


def _expected(values: list[np.ndarray], op: str) -> np.ndarray:
    out = values[0]
    for v in values[1:]:
        out = {"sum": np.add, "min": np.minimum, "max": np.maximum, "product": np.multiply}[op](out, v).astype(v.dtype)
    return out


def collectives() -> None:
    r, n = hvd.rank(), hvd.size()
    base = np.arange(12).reshape(3, 4)

    def local(dtype: str, rank: int) -> np.ndarray:
        return (base % 5 + rank + 1).astype(dtype)

    for dtype in ("int8", "int16", "int32", "int64", "uint8", "float16", "float32", "float64"):
        everyone = [local(dtype, k) for k in range(n)]
        x = opcore.constant(local(dtype, r))
        for op in ("sum", "min", "max", "product"):
            got = hvd.allreduce(x, op=op).numpy()
            assert got.dtype == np.dtype(dtype) and np.array_equal(got, _expected(everyone, op)), (dtype, op, got)
        if dtype.startswith("float"):
            got = hvd.allreduce(x).numpy()
            want = (sum(e.astype(np.float64) for e in everyone) / n).astype(dtype)
            assert got.dtype == np.dtype(dtype) and np.array_equal(got, want), (dtype, got, want)
        else:
            try:
                hvd.allreduce(x)
            except opcore.DTypeError as exc:
                assert "average" in str(exc)
            else:
                raise AssertionError(f"average of {dtype} must raise DTypeError")
    scaled = hvd.allreduce(opcore.constant([float(r + 1)]), average=False, prescale_factor=2.0, postscale_factor=0.5)
    assert scaled.numpy().tolist() == [float(sum(range(1, n + 1)))], scaled
    _say("allreduce every dtype and op")

    # Many tensors of mixed dtypes, fused into a few buffers (a tiny threshold forces several).
    for threshold in (0, 40, 64 * 1024 * 1024):
        hvd.init(fusion_threshold=threshold)
        tensors = [np.full((k + 1, 3), r + k, np.float32) for k in range(7)] + [np.full(5, r, np.int64)]
        tensors += [np.zeros((0, 3), np.float32), np.full((2, 2), r, np.float16)]
        got = hvd.grouped_allreduce([opcore.constant(t) for t in tensors], op=hvd.Sum)
        for t, g in zip(tensors, got):
            want = sum(np.asarray(t) - r + k for k in range(n)) if t.size else t
            assert g.numpy().dtype == t.dtype and np.array_equal(g.numpy(), np.asarray(want, t.dtype)), (
                threshold,
                t,
                g,
            )
    # Strided and half tensors packed straight into the fusion buffers, on the world itself.
    world = _world.current_world()
    strided = (np.arange(24, dtype=np.float32).reshape(4, 6) + r).T
    everyone = [(np.arange(24, dtype=np.float32).reshape(4, 6) + k).T for k in range(n)]
    got = world.allreduce([strided, strided[::2]], "sum", "strided")
    assert np.array_equal(got[0], sum(everyone)) and np.array_equal(got[1], sum(everyone)[::2]), got
    half = np.full((2, 3), r + 1, np.float16)[:, ::-1]
    got = world.allreduce([half, half[:1]], "average", "half")
    want = np.float16(sum(range(1, n + 1)) / n)
    assert got[0].dtype == np.float16 and (got[0] == want).all() and (got[1] == want).all(), got
    got = world.broadcast([strided, strided[::2]], n - 1, "strided")
    assert np.array_equal(got[0], everyone[-1]) and np.array_equal(got[1], everyone[-1][::2]), got
    _say("fused grouped_allreduce")

    for dtype in ("bool", "int8", "float16", "float64"):
        mine = (np.arange(2 * (r + 1) * 3).reshape(2 * (r + 1), 3) + 10 * r).astype(dtype)
        got = hvd.allgather(opcore.constant(mine)).numpy()
        want = np.concatenate(
            [(np.arange(2 * (k + 1) * 3).reshape(2 * (k + 1), 3) + 10 * k).astype(dtype) for k in range(n)]
        )
        assert got.dtype == want.dtype and np.array_equal(got, want), (dtype, got)
        got = hvd.broadcast(opcore.constant(mine[:2]), root_rank=n - 1).numpy()
        want = (np.arange(6).reshape(2, 3) + 10 * (n - 1)).astype(dtype)
        assert np.array_equal(got, want), (dtype, got)
    _say("allgather and broadcast")

    # Gradients through the collectives.
    x = opcore.constant(np.full(3, float(r + 1), np.float32))
    with opcore.GradientTape(persistent=True) as tape:
        tape.watch(x)
        total = opcore.reduce_sum(hvd.allreduce(x * x, op=hvd.Sum))
        gathered = opcore.reduce_sum(hvd.allgather(x) * float(r + 1))
    assert np.allclose(tape.gradient(total, x).numpy(), n * 2 * (r + 1)), "allreduce gradient"
    assert np.allclose(tape.gradient(gathered, x).numpy(), sum(k + 1 for k in range(n))), "allgather gradient"
    _say("gradients")

    # In a graph, through a session.
    graph = opcore.Graph()
    with graph.as_default():
        ph = opcore.placeholder(opcore.float32, [None, 2])
        summed = hvd.allreduce(ph, op=hvd.Sum)
        gathered = hvd.allgather(ph)
        root = hvd.broadcast(ph, root_rank=0)
    with opcore.Session(graph) as sess:
        feed = np.full((2, 2), r, np.float32)
        s, g, b = sess.run([summed, gathered, root], {ph: feed})
    assert np.array_equal(s, np.full((2, 2), sum(range(n)), np.float32))
    assert np.array_equal(g, np.concatenate([np.full((2, 2), k, np.float32) for k in range(n)]))
    assert np.array_equal(b, np.zeros((2, 2), np.float32))
    _say("graph collectives")

    # Ranks that disagree get an error naming every rank's tensors, not corrupt data: first with
    # buffers of one length (the data complete, then the ranks swap descriptions), then of two.
    try:
        hvd.allreduce(opcore.constant(np.zeros((2, 3) if r == 0 else (3, 2), np.float32)))
    except hvd.DistributedError as exc:
        assert "rank 0: allreduce(average) of 1 float32 tensor(s) of shapes (2, 3)" in str(exc), str(exc)
        assert "rank 1: allreduce(average) of 1 float32 tensor(s) of shapes (3, 2)" in str(exc), str(exc)
    else:
        raise AssertionError("mismatched shapes of one length must raise")
    # From 4 MB on, the data move by MPI's blocking Allreduce once the check has completed: alone,
    # fused, and when the ranks disagree (no data collective then starts at all).
    big = np.arange(5 << 18, dtype=np.float32) * (r + 1)  # 5 MB
    real_comm, started = world.comm, []

    class Counting:
        def __getattr__(self, name: str) -> Any:
            if name in ("Allreduce", "Iallreduce"):
                started.append(name)
            return getattr(real_comm, name)

    world.comm = Counting()
    try:
        got = hvd.allreduce(opcore.constant(big), op=hvd.Sum).numpy()
        hvd.allreduce(opcore.constant(big[:1000]), op=hvd.Sum)
    finally:
        world.comm = real_comm
    assert started == ["Allreduce", "Iallreduce"], started
    assert np.array_equal(got, np.arange(5 << 18, dtype=np.float32) * sum(k + 1 for k in range(n))), "5 MB"
    parts = [opcore.constant(big[: 3 << 18]), opcore.constant(big[: 2 << 18].reshape(512, -1))]
    fused = hvd.grouped_allreduce(parts, op=hvd.Max)
    assert np.array_equal(fused[0].numpy(), np.arange(3 << 18, dtype=np.float32) * n), "fused 5 MB"
    assert fused[1].shape == (512, 1024)
    try:
        hvd.allreduce(opcore.constant(np.zeros((5 + r) << 18, np.float32)))
    except hvd.DistributedError as exc:
        assert "this rank" in str(exc) and f"({(5 + r) << 18} values; this rank)" in str(exc), str(exc)
    else:
        raise AssertionError("mismatched 5 MB and 6 MB allreduces must raise")
    # Checks then still work, again and again (the check's persistent request starts anew each time).
    for k in range(3):
        got = hvd.allreduce(opcore.constant(np.full(k + 1, float(r), np.float32)), op=hvd.Sum).numpy()
        assert np.array_equal(got, np.full(k + 1, float(sum(range(n))), np.float32)), got
    try:
        hvd.allreduce(opcore.constant(np.zeros(r + 1, np.float32)))
    except hvd.DistributedError as exc:
        assert "rank 0: " in str(exc) and "rank 1: " in str(exc) and "this rank" in str(exc), str(exc)
    else:
        raise AssertionError("mismatched shapes must raise")
    _say("mismatch")

    # A device backend stages through host memory.
    if "opencl" in [b.name for b in opcore.available_backends() if b.available]:
        with opcore.use_backend("opencl"):
            x = opcore.constant(np.full((2, 3), r + 1, np.float32))
            got = hvd.allreduce(x, op=hvd.Sum)
            assert got.backend == "opencl" and np.array_equal(got.numpy(), np.full((2, 3), 3.0)), got
            got = hvd.broadcast(x, root_rank=1)
            assert got.backend == "opencl" and np.array_equal(got.numpy(), np.full((2, 3), 2.0)), got
        _say("opencl staging")


# --------------------------------------------------------------------------- failures


def rank_raises() -> None:
    """Rank 1 raises at step 5 of an eager training loop; rank 0 is left waiting in the next allreduce."""
    w = opcore.Variable(np.ones(4, np.float32))
    opt = hvd.DistributedOptimizer(opcore.train.GradientDescentOptimizer(0.1))
    for step in range(1000):
        if hvd.rank() == 1 and step == 5:
            raise ValueError("rank 1 failed on purpose at step 5")
        opt.minimize(lambda: opcore.reduce_sum(w * w), var_list=[w])
        time.sleep(0.01)


def rank_skips() -> None:
    """Rank 1 leaves without taking part in a collective; rank 0 gives up after the timeout."""
    hvd.init(timeout=2.0)
    if hvd.rank() == 1:
        time.sleep(30)  # alive, but never joins: only the timeout can end rank 0's wait
        return
    hvd.allreduce(opcore.constant([1.0]))


SCENARIOS: dict[str, Callable[[], None]] = {
    "training": training,
    "collectives": collectives,
    "raise": rank_raises,
    "timeout": rank_skips,
}


if __name__ == "__main__":
    hvd.init(timeout=60.0)
    SCENARIOS[sys.argv[1]]()
    hvd.barrier()
    from mpi4py import MPI

    everyone = MPI.COMM_WORLD.gather(_PASSED, root=0)
    if hvd.rank() == 0:
        _line("PASSED " + json.dumps({str(r): checks for r, checks in enumerate(everyone)}))
    _line(f"DONE rank {hvd.rank()}")
