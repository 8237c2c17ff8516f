"""opcore.distributed in one process: the API without MPI, the ops in a world of one, fusion, sharding,
callbacks.

A one-rank MPI world (the optimizer wrapper, timeouts, the abort hook, the CUDA paths):
tests/test_distributed_world.py. Several ranks: tests/test_distributed_mpi.py.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import opcore
import opcore.distributed as hvd
from opcore.distributed._fusion import plan_chunks
from opcore.distributed._ops import allgather_op, allreduce_op, broadcast_op, grouped_allreduce_op, grouped_broadcast_op
from opcore.keras.callbacks import Callback

ROOT = Path(__file__).resolve().parents[1]
HAS_MPI = importlib.util.find_spec("mpi4py") is not None


# --------------------------------------------------------------------------- without the extra


def test_import_opcore_works_without_mpi4py_and_init_names_the_extra() -> None:
    program = textwrap.dedent(
        """
        import sys

        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name == "mpi4py" or name.startswith("mpi4py."):
                    raise ModuleNotFoundError(f"No module named {name!r}")

        sys.meta_path.insert(0, Blocker())
        import opcore
        import opcore.distributed as hvd

        print((opcore.constant([1.0, 2.0]) * 2).numpy().tolist())
        print(hvd.mpi_available())
        try:
            hvd.init()
        except hvd.MPIUnavailableError as exc:
            assert isinstance(exc, ImportError) and isinstance(exc, opcore.OpcoreError)
            print("error:", exc)
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "[2.0, 4.0]" and lines[1] == "False"
    assert "pip install 'opcore[mpi]'" in lines[2] and "mpi4py" in lines[2]


def test_the_functions_need_init_first() -> None:
    assert not hvd.is_initialized()
    calls = [
        hvd.rank,
        hvd.size,
        hvd.local_rank,
        lambda: hvd.allreduce(opcore.constant([1.0])),
        lambda: hvd.allgather(opcore.constant([1.0])),
        lambda: hvd.broadcast(opcore.constant([1.0]), 0),
        lambda: hvd.DistributedOptimizer(opcore.train.GradientDescentOptimizer(0.1)),
        lambda: hvd.shard(np.arange(4)),
        hvd.barrier,
    ]
    for call in calls:
        with pytest.raises(hvd.DistributedError, match=r"needs opcore\.distributed\.init\(\) first"):
            call()


# --------------------------------------------------------------------------- the ops in a world of one


def test_ops_in_a_world_of_one_copy_and_infer_shapes() -> None:
    x = opcore.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
    for reduction in ("sum", "average", "min", "max", "product"):
        assert np.array_equal(allreduce_op(x, reduction=reduction).numpy(), x.numpy())
        (y, z) = grouped_allreduce_op([x, x * 2.0], num=2, reduction=reduction)
        assert np.array_equal(y.numpy(), x.numpy()) and np.array_equal(z.numpy(), x.numpy() * 2)
    assert np.array_equal(allgather_op(x, size=1).numpy(), x.numpy())
    graph = opcore.Graph()
    with graph.as_default():
        ph = opcore.placeholder(opcore.float32, [None, 3])
        assert allgather_op(ph, size=2).shape.dims == (None, 3)
        fixed = opcore.placeholder(opcore.float32, [4, 3])
        assert allgather_op(fixed, size=2).shape.dims == (8, 3)
        assert allgather_op(fixed, size=2, counts=[4, 1]).shape.dims == (5, 3)
        built_for_two = allgather_op(fixed, size=2)
    with opcore.Session(graph) as sess, pytest.raises(hvd.DistributedError, match="world of 2"):
        sess.run(built_for_two, {fixed: np.zeros((4, 3), np.float32)})


def test_ops_reject_bad_calls_in_the_frontend() -> None:
    with pytest.raises(opcore.DTypeError, match="'average' needs floating"):
        allreduce_op(opcore.constant([1, 2]), reduction="average")
    with pytest.raises(opcore.DTypeError, match="'average' needs floating"):
        grouped_allreduce_op([opcore.constant([1, 2])], num=1, reduction="average")
    with pytest.raises(opcore.ShapeError, match="scalar"):
        allgather_op(opcore.constant(1.0), size=1)
    with pytest.raises(opcore.ShapeError, match="one first dimension per rank"):
        allgather_op(opcore.constant([1.0]), size=1, counts=[1, 1])
    with pytest.raises(opcore.ShapeError, match="num=2"):
        grouped_broadcast_op([opcore.constant([1.0])], num=2, root_rank=0)
    with pytest.raises(opcore.OpDefinitionError, match="reduction"):
        allreduce_op(opcore.constant([1.0]), reduction="mean")


def test_gradients_through_the_ops() -> None:
    x = opcore.constant([1.0, 2.0, 3.0])
    with opcore.GradientTape(persistent=True) as tape:
        tape.watch(x)
        s = opcore.reduce_sum(allreduce_op(x * x, reduction="average"))
        gs = opcore.reduce_sum(grouped_allreduce_op([x * x, x * 4.0], num=2, reduction="sum")[1])
        m = opcore.reduce_sum(allreduce_op(x * x, reduction="max"))
        g = opcore.reduce_sum(allgather_op(x * 3.0, size=1))
        b = opcore.reduce_sum(broadcast_op(x * 5.0, root_rank=0))
        gb = opcore.reduce_sum(grouped_broadcast_op([x * 6.0, x], num=2, root_rank=0)[0])
    assert tape.gradient(s, x).numpy().tolist() == [2.0, 4.0, 6.0]
    assert tape.gradient(gs, x).numpy().tolist() == [4.0, 4.0, 4.0]
    assert tape.gradient(g, x).numpy().tolist() == [3.0, 3.0, 3.0]
    assert tape.gradient(b, x).numpy().tolist() == [5.0, 5.0, 5.0]
    assert tape.gradient(gb, x).numpy().tolist() == [6.0, 6.0, 6.0]
    with pytest.raises(opcore.GradientError, match="'max' has no gradient"):
        tape.gradient(m, x)


# --------------------------------------------------------------------------- fusion, sharding


def test_plan_chunks_packs_in_order_up_to_the_threshold() -> None:
    assert plan_chunks([10, 10, 10], 30) == [[0, 1, 2]]
    assert plan_chunks([10, 10, 10], 25) == [[0, 1], [2]]
    assert plan_chunks([10, 10, 10], 0) == [[0], [1], [2]]
    assert plan_chunks([0, 50, 0, 5], 20) == [[1], [3]]
    assert plan_chunks([], 100) == []


def test_shards_partition_the_data_and_have_equal_sizes() -> None:
    n = 23
    shards = [opcore.datasets.shard_indices(n, 4, i) for i in range(4)]
    assert {len(s) for s in shards} == {5}
    together = np.sort(np.concatenate(shards))
    assert together.tolist() == list(range(20))
    whole = [opcore.datasets.shard_indices(n, 4, i, drop_remainder=False) for i in range(4)]
    assert np.sort(np.concatenate(whole)).tolist() == list(range(n))
    ds = opcore.datasets.DataSet(np.arange(20.0).reshape(10, 2), np.arange(10), seed=3)
    part = ds.shard(3, 2)
    assert part.labels.tolist() == [2, 5, 8] and part.images[:, 0].tolist() == [4.0, 10.0, 16.0]
    with pytest.raises(opcore.datasets.DatasetError, match="index"):
        ds.shard(3, 3)
    with pytest.raises(opcore.datasets.DatasetError, match="num_shards"):
        ds.shard(0, 0)
    with pytest.raises(opcore.datasets.DatasetError, match="even one example"):
        opcore.datasets.shard_indices(2, 3, 0)


# --------------------------------------------------------------------------- Keras callbacks


class _Recorder(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []

    def on_train_begin(self, logs: Any = None) -> None:
        self.events.append("train_begin")

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.events.append(f"epoch_begin {epoch}")

    def on_batch_end(self, batch: int, logs: Any = None) -> None:
        self.events.append(f"batch_end {batch} {sorted(logs)}")

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        assert logs is not None
        self.events.append(f"epoch_end {epoch}")
        logs["loss"] = 123.0  # later callbacks and the History see this
        if epoch == 1:
            self.model.stop_training = True

    def on_train_end(self, logs: Any = None) -> None:
        self.events.append("train_end")


def _tiny_model() -> opcore.keras.Model:
    keras = opcore.keras
    model = keras.Sequential([keras.layers.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_fit_calls_callbacks_in_order_and_history_sees_their_changes() -> None:
    model = _tiny_model()
    rec = _Recorder()
    x, y = np.ones((5, 3), np.float32), np.zeros(5, np.int32)
    history = model.fit(x, y, batch_size=2, epochs=4, verbose=0, callbacks=[rec])
    assert rec.model is model and rec.params["steps"] == 3 and rec.params["epochs"] == 4
    per_epoch = [
        "batch_end 0 ['accuracy', 'loss']",
        "batch_end 1 ['accuracy', 'loss']",
        "batch_end 2 ['accuracy', 'loss']",
    ]
    assert rec.events == [
        "train_begin",
        "epoch_begin 0",
        *per_epoch,
        "epoch_end 0",
        "epoch_begin 1",
        *per_epoch,
        "epoch_end 1",
        "train_end",
    ]
    assert history.history["loss"] == [123.0, 123.0] and history.epoch == [0, 1]
    with pytest.raises(opcore.keras.ModelError, match="Callback"):
        model.fit(x, y, verbose=0, callbacks=[object()])


def test_docstring_examples() -> None:
    import doctest

    from opcore.datasets import _dataset
    from opcore.distributed import _fusion

    for module in (_fusion, _dataset):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0 and result.attempted > 0, module.__name__
