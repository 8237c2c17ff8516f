"""opcore.distributed on a one-rank MPI world: results and fusion buffers, the optimizer wrapper and the Keras
callbacks, the settings, timeouts and the abort hook, and how CUDA tensors travel (on a stand-in CuPy and NCCL).

The API without MPI and the ops in a world of one: tests/test_distributed.py. Several ranks:
tests/test_distributed_mpi.py.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import io
import sys
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import pytest

import opcore
import opcore.distributed as hvd
from opcore.distributed import _cuda, _mpi, _world
from opcore.distributed._fusion import plan_chunks
from opcore.keras.callbacks import Callback
from tests.test_distributed import _tiny_model

HAS_MPI = importlib.util.find_spec("mpi4py") is not None


# --------------------------------------------------------------------------- a one-rank MPI world


class _CountingComm:
    """Forwards to an mpi4py communicator, counting the collectives started."""

    def __init__(self, comm: Any) -> None:
        self._comm = comm
        self.started: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._comm, name)
        if name.startswith("I") and callable(attr):

            def counted(*args: Any, **kwargs: Any) -> Any:
                self.started.append(name)
                return attr(*args, **kwargs)

            return counted
        return attr


@pytest.fixture
def world() -> Iterator[Any]:
    if not HAS_MPI:
        pytest.skip("needs the opcore[mpi] extra (mpi4py)")
    saved = _world.Config(**vars(_world.config))
    hvd.init()
    current = _world.current_world()
    real = current.comm
    current.comm = _CountingComm(real)
    try:
        yield current
    finally:
        current.comm = real
        hvd.shutdown()
        for k, v in vars(saved).items():
            setattr(_world.config, k, v)


def test_one_rank_world(world: Any) -> None:
    assert (hvd.rank(), hvd.size(), hvd.local_rank(), hvd.local_size(), hvd.cross_size()) == (0, 1, 0, 1, 1)
    hvd.init()  # again: fine
    x = opcore.constant(np.arange(6, dtype=np.float16).reshape(3, 2))
    assert np.array_equal(hvd.allreduce(x).numpy(), x.numpy())
    assert np.array_equal(hvd.allgather(x).numpy(), x.numpy())
    assert np.array_equal(hvd.broadcast(x, 0).numpy(), x.numpy())
    with pytest.raises(hvd.DistributedError, match="root_rank 1 is not a rank"):
        hvd.broadcast(x, 1)
    with pytest.raises(hvd.DistributedError, match="op must be one of"):
        hvd.allreduce(x, op="mean")
    y = opcore.constant([1.0, 2.0])
    assert hvd.allreduce(y, average=False, prescale_factor=4.0, postscale_factor=0.25).numpy().tolist() == [1.0, 2.0]
    assert hvd.grouped_allreduce([y], op=hvd.Sum, postscale_factor=3.0)[0].numpy().tolist() == [3.0, 6.0]
    with pytest.raises(hvd.DistributedError, match="not both"):
        hvd.allreduce(y, op=hvd.Sum, average=True)
    assert hvd.shard(np.arange(5)).tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(hvd.DistributedError, match="one data set"):
        hvd.shard(opcore.datasets.Datasets(*[opcore.datasets.DataSet(np.ones((2, 1)), np.ones(2))] * 3))


def test_result_buffers_are_reused_only_when_nothing_holds_them(world: Any) -> None:
    a = hvd.allreduce(opcore.constant(np.ones(1000, np.float32)), op=hvd.Sum)
    b = hvd.allreduce(opcore.constant(np.full(1000, 2.0, np.float32)), op=hvd.Sum)
    c = hvd.allreduce(opcore.constant(np.full(1000, 3.0, np.float32)), op=hvd.Sum)
    assert (a.numpy()[0], b.numpy()[0], c.numpy()[0]) == (1.0, 2.0, 3.0)  # each kept its own buffer
    pool = world._pool[(np.dtype(np.float32).str, 1000)]
    assert len(pool) == 2 and a._value.base is pool[0] and b._value.base is pool[1]
    assert all(c._value.base is not p for p in pool)  # a third buffer, not kept
    del a
    d = hvd.allreduce(opcore.constant(np.full(1000, 4.0, np.float32)), op=hvd.Sum)
    assert d._value.base is pool[0] and (b.numpy()[0], d.numpy()[0]) == (2.0, 4.0)


def test_fusion_makes_few_collectives(world: Any) -> None:
    tensors = [opcore.constant(np.full((i + 1, 4), float(i), np.float32)) for i in range(10)]
    nbytes = [(i + 1) * 16 for i in range(10)]
    for threshold in (1 << 20, 0, 100):
        hvd.init(fusion_threshold=threshold)
        world.comm.started.clear()
        out = hvd.grouped_allreduce(tensors, op=hvd.Sum)
        assert all(np.array_equal(o.numpy(), t.numpy()) for o, t in zip(out, tensors))
        assert world.comm.started == ["Iallreduce"] * len(plan_chunks(nbytes, threshold))
    assert len(plan_chunks(nbytes, 100)) == 8  # [16+32+48], then one each


def test_fused_buffers_take_strided_and_half_tensors_in_one_copy_each(world: Any) -> None:
    strided = np.arange(24, dtype=np.float32).reshape(4, 6).T  # not contiguous
    half = [np.arange(6, dtype=np.float16).reshape(2, 3)[:, ::-1], np.full(5, 1.5, np.float16)]
    world.comm.started.clear()
    out = world.allreduce([strided, strided[::2]], "sum", "test")
    assert [o.shape for o in out] == [(6, 4), (3, 4)] and out[0].flags.c_contiguous
    assert np.array_equal(out[0], strided) and np.array_equal(out[1], strided[::2])
    assert out[0].base is out[1].base  # views of one fused buffer
    halves = world.allreduce(half, "average", "test")
    assert all(h.dtype == np.float16 and np.array_equal(h, x) for h, x in zip(halves, half))
    assert halves[0].base is halves[1].base  # back to half in one buffer, not one copy per tensor
    assert world.comm.started == ["Iallreduce", "Iallreduce"]
    sent = world.broadcast([strided, strided[::2]], 0, "test")
    assert np.array_equal(sent[0], strided) and np.array_equal(sent[1], strided[::2]) and sent[0].dtype == np.float32
    sent = world.broadcast([half[0], half[1]], 0, "test")
    assert np.array_equal(sent[0], half[0]) and np.array_equal(sent[1], half[1])


def test_distributed_optimizer_reduces_each_gradient_once(world: Any) -> None:
    w = opcore.Variable(np.ones((3, 2), np.float32))
    b = opcore.Variable(np.zeros(2, np.float32))
    opt = hvd.DistributedOptimizer(opcore.train.AdamOptimizer(0.1))
    world.comm.started.clear()
    opt.minimize(lambda: opcore.reduce_sum(opcore.matmul(opcore.ones([1, 3]), w) + b), var_list=[w, b])
    assert world.comm.started == ["Iallreduce"]  # both gradients in one fused call, not again in apply
    with opcore.GradientTape() as tape:
        loss = opcore.reduce_sum(w * w)
    world.comm.started.clear()
    opt.apply_gradients([(tape.gradient(loss, w), w)])
    assert world.comm.started == ["Iallreduce"]  # a plain gradient is reduced by apply_gradients
    assert opt.get_slot_names() == ["m", "v"] and opt.get_slot(w, "m") is not None
    assert opt.variables() == opt.optimizer.variables() and opt.iterations == 2
    assert opt.get_config() == opt.optimizer.get_config() and opt.learning_rate == 0.1
    with pytest.raises(hvd.DistributedError, match="already a DistributedOptimizer"):
        hvd.DistributedOptimizer(opt)
    with pytest.raises(hvd.DistributedError, match="wraps an opcore optimizer"):
        hvd.DistributedOptimizer(object())
    assert isinstance(hvd.DistributedOptimizer("sgd").optimizer, opcore.train.SGD)


_OPTIMIZERS = {
    "GradientDescent": lambda: opcore.train.GradientDescentOptimizer(0.1),
    "Momentum": lambda: opcore.train.MomentumOptimizer(0.1, momentum=0.9, use_nesterov=True),
    "Adagrad": lambda: opcore.train.AdagradOptimizer(0.1),
    "Adadelta": lambda: opcore.train.AdadeltaOptimizer(1.0),
    "RMSProp": lambda: opcore.train.RMSPropOptimizer(0.01, momentum=0.5),
    "Adam": lambda: opcore.train.AdamOptimizer(0.01),
    "SGD": lambda: opcore.train.SGD(0.1, momentum=0.5),
    "Adagrad (Keras)": lambda: opcore.train.Adagrad(0.1),
    "Adadelta (Keras)": lambda: opcore.train.Adadelta(1.0),
    "RMSprop (Keras)": lambda: opcore.train.RMSprop(0.01),
    "Adam (Keras)": lambda: opcore.train.Adam(0.01),
}


@pytest.mark.parametrize("name", list(_OPTIMIZERS))
def test_every_optimizer_wrapped_trains_like_itself_on_one_rank(world: Any, name: str) -> None:
    """On a world of one, the average is the gradient: the wrapper must change nothing, eagerly or in a graph."""
    start = np.random.default_rng(0).normal(size=(3, 2)).astype(np.float32)
    x = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
    results = []
    for wrap in (False, True):
        w = opcore.Variable(start)
        opt = _OPTIMIZERS[name]()
        opt = hvd.DistributedOptimizer(opt) if wrap else opt
        for _ in range(3):
            opt.minimize(lambda w=w: opcore.reduce_mean(opcore.square(opcore.matmul(opcore.constant(x), w))), [w])
        graph = opcore.Graph()
        with graph.as_default():
            gw = opcore.Variable(start)
            gopt = _OPTIMIZERS[name]()
            gopt = hvd.DistributedOptimizer(gopt) if wrap else gopt
            step = gopt.minimize(opcore.reduce_mean(opcore.square(opcore.matmul(opcore.constant(x), gw))))
            init = opcore.global_variables_initializer()
        with opcore.Session(graph) as sess:
            sess.run(init)
            for _ in range(3):
                sess.run(step)
            results.append((w.numpy(), sess.run(gw)))
    (eager, graph_w), (eager_d, graph_d) = results
    assert not np.array_equal(eager, start)
    assert np.array_equal(eager, eager_d) and np.array_equal(graph_w, graph_d)


def test_distributed_optimizer_in_a_graph_fuses_and_compresses(world: Any) -> None:
    graph = opcore.Graph()
    with graph.as_default():
        x = opcore.placeholder(opcore.float32, [None, 3])
        w = opcore.Variable(np.ones((3, 2), np.float32))
        b = opcore.Variable(np.zeros(2, np.float32))
        loss = opcore.reduce_mean(opcore.square(opcore.matmul(x, w) + b))
        opt = hvd.DistributedOptimizer(opcore.train.GradientDescentOptimizer(0.1), compression=hvd.Compression.fp16)
        train = opt.minimize(loss)
        init = opcore.global_variables_initializer()
        sync = hvd.broadcast_global_variables(0)
    reduces = [n for n in graph.nodes if n.op is not None and n.op.name.startswith("distributed.")]
    assert [n.op.name for n in reduces] == ["distributed.GroupedAllreduce", "distributed.GroupedBroadcast"]
    reduces = reduces[:1]
    assert len(reduces) == 1 and reduces[0].binding["T"] == opcore.float16 and reduces[0].attrs["num"] == 2
    with opcore.Session(graph) as sess:
        sess.run(init)
        sess.run(sync)
        sess.run(train, {x: np.ones((4, 3), np.float32)})
        got = sess.run(w)
    # d loss / d w = 2 * (x @ w + b) * x / 2 (mean over 2 outputs) = 3 per entry; fp16 carries 3.0 exactly
    assert np.allclose(got, 1.0 - 0.1 * 3.0)
    with pytest.raises(hvd.DistributedError, match="builds a graph node"):
        hvd.broadcast_global_variables(0)


def test_keras_fit_with_the_callbacks_on_one_rank_matches_plain_fit(world: Any) -> None:
    x = np.random.default_rng(0).normal(size=(12, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    results = []
    for distributed in (False, True):
        opcore.set_seed(5)
        model = _tiny_model()
        opt: Any = opcore.train.Adam(0.05)
        callbacks: list[Callback] = []
        if distributed:
            opt = hvd.DistributedOptimizer(opt)
            callbacks = [hvd.callbacks.BroadcastGlobalVariablesCallback(0), hvd.callbacks.MetricAverageCallback()]
        model.compile(opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=callbacks)
        results.append(([v.numpy() for v in model.variables], history.history))
    (w0, h0), (w1, h1) = results
    assert all(np.array_equal(a, b) for a, b in zip(w0, w1)) and h0 == h1


def test_settings_are_checked(world: Any) -> None:
    with pytest.raises(hvd.DistributedError, match="timeout"):
        hvd.init(timeout=0)
    with pytest.raises(hvd.DistributedError, match="fusion_threshold"):
        hvd.init(fusion_threshold=-1)
    with pytest.raises(hvd.DistributedError, match=r"config\.cuda"):
        _world.Config(cuda="gpu").validate()
    with pytest.raises(hvd.DistributedError, match="another communicator"):
        hvd.init(comm=object())


# --------------------------------------------------------------------------- timeouts and the abort hook


class _NeverDone:
    def Test(self) -> bool:
        return False


def test_a_collective_that_never_completes_times_out(world: Any) -> None:
    hvd.init(timeout=0.2)
    with pytest.raises(hvd.CollectiveTimeoutError, match=r"rank 0 of 1: allreduce x did not complete within 0\.2 s"):
        world.wait([_NeverDone()], "allreduce x")
    assert issubclass(hvd.CollectiveTimeoutError, TimeoutError)


class _DoneAfter:
    """A request that completes ``seconds`` after it is made, counting the polls."""

    def __init__(self, seconds: float) -> None:
        self.start = time.monotonic()
        self.at = self.start + seconds
        self.polls: list[float] = []

    def Test(self) -> bool:
        now = time.monotonic()
        self.polls.append(now - self.start)
        return now >= self.at


def _arrived() -> Any:
    """A consistency check that every rank has passed (as on a world of several ranks)."""
    mine = (1, 2, 3)
    return _mpi._Check(_DoneAfter(0.0), np.asarray([mine], dtype=np.int64), mine, lambda: "")


def test_a_wait_yields_the_core_between_rounds_of_polls_and_rests_once_it_is_long(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    yields: list[int] = []
    pauses: list[float] = []
    monkeypatch.setattr(_mpi, "_yield_core", lambda: yields.append(1))
    monkeypatch.setattr(_mpi, "_pause", lambda s: (pauses.append(s), time.sleep(s)))
    # Data move: one yield per round of 64 polls, no sleep within the first second.
    moving = _DoneAfter(0.03)
    world.wait([moving], "allreduce x", _arrived(), nbytes=1 << 20)
    rounds = len(moving.polls) // _mpi._POLLS_PER_YIELD
    assert not pauses and rounds - 1 <= len(yields) <= rounds
    # Waiting for the peers to arrive (a barrier): after 0.1 s, sleep between polls.
    slow = _DoneAfter(0.4)
    world.wait([slow], "barrier", arrival=True)
    assert pauses and max(pauses) <= _mpi._LONGEST_PAUSE_S
    resting = [t for t in slow.polls if t > 0.15]  # 0.25 s of polls every 2 ms at most, not a spin
    assert 0 < len(resting) <= 0.25 / _mpi._LONGEST_PAUSE_S + 20, len(resting)
    # A transfer as long as 4 GB could take is not mistaken for a lost peer: no sleeping after 1 s.
    pauses.clear()
    world.wait([_DoneAfter(1.1)], "allreduce x", _arrived(), nbytes=4 << 30)
    assert not pauses
    world.wait([_DoneAfter(1.1)], "allreduce x", _arrived(), nbytes=1 << 20)
    assert pauses


class _FakeWorld(_world.World):
    rank, size = 1, 2

    def __init__(self) -> None:
        self.aborted: list[int] = []

    def abort(self, code: int = 1) -> None:
        self.aborted.append(code)


def test_an_uncaught_exception_aborts_every_rank_naming_the_failed_one(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    monkeypatch.setattr(sys, "excepthook", lambda t, e, tb: seen.append(f"{t.__name__}: {e}"))
    fake = _FakeWorld()
    _world.install_abort_hook(fake)
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    try:
        sys.excepthook(ValueError, ValueError("boom"), None)
    finally:
        _world.remove_abort_hook()
    assert seen == ["ValueError: boom"] and fake.aborted == [1]
    assert "rank 1 of 2 failed (ValueError: boom); ending the job on every rank" in stderr.getvalue()
    assert not isinstance(sys.excepthook, _world._AbortHook)


# --------------------------------------------------------------------------- how CUDA tensors travel


class _TwoRanks(_world.World):
    size = 2

    def __init__(self, others: int) -> None:
        self.devices: dict[str, Any] = {}
        self.others = others

    def exchange(self, values: Any, what: str) -> np.ndarray:
        return np.asarray([list(values), [self.others]], dtype=np.int64)


class _Cuda:
    name = "cuda"


def test_the_ranks_agree_on_how_cuda_tensors_travel(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _cuda.local_capability(_TwoRanks(others=0), "host") == 0
    monkeypatch.setattr(_cuda, "local_capability", lambda world, setting: 2)
    world = _TwoRanks(others=0)  # one rank has neither NCCL nor a CUDA-aware MPI: stage through the host
    assert _cuda.device_collectives(world, _Cuda()) is None
    assert world.devices == {"cuda": None}
    monkeypatch.setattr(_world.config, "cuda", "nccl")
    with pytest.raises(hvd.DistributedError, match="not every rank can"):
        _cuda.device_collectives(_TwoRanks(others=1), _Cuda())
    assert _cuda.device_collectives(_world.LocalWorld(), _Cuda()) is None


# --------------------------------------------------------------------------- the CUDA paths, on a stand-in CuPy


class _DevArray(np.ndarray):
    """A host array posing as a CuPy array: ``.data.ptr`` is its address."""

    @property
    def data(self) -> Any:  # type: ignore[override]
        return SimpleNamespace(ptr=self.ctypes.data)


def _dev(a: Any) -> _DevArray:
    return np.asarray(a).view(_DevArray)


def _fake_cupy() -> Any:
    stream = SimpleNamespace(done=True, ptr=0, synchronize=lambda: None)
    return SimpleNamespace(
        empty=lambda shape, dtype: _dev(np.empty(shape, dtype)),
        concatenate=lambda parts: _dev(np.concatenate([np.asarray(p) for p in parts])),
        ascontiguousarray=lambda a: _dev(np.ascontiguousarray(a)),
        array=lambda a, order="C": _dev(np.array(a, order=order)),
        divide=np.divide,
        uint8=np.uint8,
        cuda=SimpleNamespace(get_current_stream=lambda: stream),
    )


class _FakeNccl:
    """NCCL's calls for a world of one: every collective copies its send buffer to its receive buffer."""

    NCCL_INT8, NCCL_UINT8, NCCL_INT32, NCCL_INT64, NCCL_FLOAT16, NCCL_FLOAT32, NCCL_FLOAT64 = range(7)
    NCCL_SUM, NCCL_PROD, NCCL_MAX, NCCL_MIN = range(4)
    _ITEMSIZE = (1, 1, 4, 8, 2, 4, 8)
    calls: ClassVar[list[str]] = []

    @staticmethod
    def get_unique_id() -> tuple[int, ...]:
        return tuple(range(128))

    @staticmethod
    def groupStart() -> None:
        _FakeNccl.calls.append("groupStart")

    @staticmethod
    def groupEnd() -> None:
        _FakeNccl.calls.append("groupEnd")

    class NcclCommunicator:
        def __init__(self, size: int, uid: tuple[int, ...], rank: int) -> None:
            assert (size, rank, uid[:3]) == (1, 0, (0, 1, 2))

        def allReduce(self, src: int, dst: int, count: int, dtype: int, op: int, stream: int) -> None:
            _FakeNccl.calls.append("allReduce")
            ctypes.memmove(dst, src, count * _FakeNccl._ITEMSIZE[dtype])

        def allGather(self, src: int, dst: int, count: int, dtype: int, stream: int) -> None:
            _FakeNccl.calls.append("allGather")
            ctypes.memmove(dst, src, count * _FakeNccl._ITEMSIZE[dtype])

        def broadcast(self, src: int, dst: int, count: int, dtype: int, root: int, stream: int) -> None:
            _FakeNccl.calls.append("broadcast")
            if src != dst:
                ctypes.memmove(dst, src, count * _FakeNccl._ITEMSIZE[dtype])

        def destroy(self) -> None:
            _FakeNccl.calls.append("destroy")


def test_nccl_path_fuses_scales_and_hands_back_what_it_cannot_carry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_world.config, "fusion_threshold", 64)
    _FakeNccl.calls = []
    nccl = _cuda.NcclCollectives(_world.LocalWorld(), _fake_cupy(), _FakeNccl, contextlib.nullcontext())
    arrays = [_dev(np.full((i + 1, 3), float(i), np.float32)) for i in range(4)] + [_dev(np.zeros((0, 2), np.float32))]
    out = nccl.allreduce(arrays, "average", "test")
    assert out is not None
    for a, o in zip(arrays, out):
        assert o.shape == a.shape and o.dtype == a.dtype and np.array_equal(o, a)
    # 12+24+36+48 bytes with a 64-byte threshold: [0, 1], [2], [3]; the empty tensor travels not at all.
    assert _FakeNccl.calls == ["groupStart", "allReduce", "allReduce", "allReduce", "groupEnd"]
    assert nccl.allreduce([_dev(np.ones(3, np.int16))], "sum", "test") is None  # NCCL has no int16
    rows = _dev(np.arange(6, dtype=np.float16).reshape(3, 2))
    assert np.array_equal(nccl.allgather(rows, None, "test"), rows)
    assert nccl.allgather(rows, [3, 4], "test") is None  # unequal parts go through the host
    sent = nccl.broadcast([_dev(np.arange(4, dtype=np.int64)), _dev(np.ones((2, 2), np.int64))], 0, "test")
    assert sent is not None and np.array_equal(sent[0], np.arange(4)) and np.array_equal(sent[1], np.ones((2, 2)))
    nccl.close()
    assert _FakeNccl.calls[-1] == "destroy" and nccl.allreduce(arrays, "sum", "test") is None


def test_cuda_aware_mpi_path_runs_the_world_collectives_on_device_arrays(world: Any) -> None:
    path = _cuda.CudaAwareMPI(world, _fake_cupy(), contextlib.nullcontext())
    a = _dev(np.arange(6, dtype=np.float16).reshape(2, 3))
    (summed,) = path.allreduce([a], "sum", "test")
    assert isinstance(summed, _DevArray) and summed.dtype == np.float16 and np.array_equal(summed, a)
    assert np.array_equal(path.allgather(a, None, "test"), a)
    assert np.array_equal(path.broadcast([a], 0, "test")[0], a)
