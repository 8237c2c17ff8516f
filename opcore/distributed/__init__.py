"""Data-parallel training across processes and machines, on MPI (Horovod's API).

Every process (a *rank*) runs the same program on its own part of the data;
the gradients are averaged over the ranks at each step, so every rank applies
the same update and the model stays the same everywhere. MPI (through mpi4py)
starts the processes and moves the data, on one machine or a cluster::

    import opcore
    import opcore.distributed as hvd

    hvd.init()                                           # once, on every rank
    data = hvd.shard(mnist.train)                        # this rank's examples
    opt = hvd.DistributedOptimizer(opcore.train.AdamOptimizer(0.001))
    train = opt.minimize(loss)                           # averages the gradients
    sync = hvd.broadcast_global_variables(0)             # rank 0's initial weights
    with opcore.Session() as sess:
        sess.run(opcore.global_variables_initializer())
        sess.run(sync)
        ...
        if hvd.rank() == 0:
            saver.save(sess, "model.ckpt")               # one rank writes files

launched with ``mpiexec -n 4 python train.py``. The collectives
(:func:`allreduce`, :func:`allgather`, :func:`broadcast`) take tensors of every
backend, eagerly or in a graph; CUDA tensors travel by NCCL or a CUDA-aware
MPI where every rank has one (:data:`config` ``.cuda``), other device tensors
through host memory. Many tensors travel in few fused collectives.

After :func:`init` on a world of several ranks, an exception that nobody
catches on one rank ends every rank, with a message naming the rank that
failed; a collective that waits longer than ``config.timeout`` for the others
raises :class:`CollectiveTimeoutError`. mpi4py and an MPI come with the
``opcore[mpi]`` extra; without them ``import opcore`` works and :func:`init`
raises :class:`MPIUnavailableError` naming the extra.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from opcore.distributed import _kernels, _world, callbacks
from opcore.distributed._collectives import (
    Average,
    Max,
    Min,
    Product,
    Sum,
    allgather,
    allreduce,
    barrier,
    broadcast,
    broadcast_global_variables,
    broadcast_variables,
    grouped_allreduce,
    grouped_broadcast,
)
from opcore.distributed._data import shard
from opcore.distributed._errors import CollectiveTimeoutError, DistributedError, MPIUnavailableError
from opcore.distributed._mpi import MPIWorld
from opcore.distributed._optimizer import Compression, DistributedGradientTape, DistributedOptimizer
from opcore.distributed._world import Config, config

__all__ = [
    "Average",
    "CollectiveTimeoutError",
    "Compression",
    "Config",
    "DistributedError",
    "DistributedGradientTape",
    "DistributedOptimizer",
    "MPIUnavailableError",
    "Max",
    "Min",
    "Product",
    "Sum",
    "allgather",
    "allreduce",
    "barrier",
    "broadcast",
    "broadcast_global_variables",
    "broadcast_variables",
    "callbacks",
    "config",
    "cross_rank",
    "cross_size",
    "grouped_allreduce",
    "grouped_broadcast",
    "init",
    "is_initialized",
    "local_rank",
    "local_size",
    "mpi_available",
    "rank",
    "shard",
    "shutdown",
    "size",
]

_kernels.register_kernels()


def init(
    comm: Any = None,
    *,
    timeout: float | None = None,
    fusion_threshold: int | None = None,
    check_consistency: bool | None = None,
    abort_on_error: bool = True,
) -> None:
    """Join the world of ranks: call once at the start of the program, on every rank.

    ``comm`` is the mpi4py communicator to train on (default ``MPI.COMM_WORLD``).
    The keywords set the fields of :data:`config` (seconds a collective waits,
    the fusion buffer's size in bytes, the consistency check). With
    ``abort_on_error`` (the default) and more than one rank, an uncaught
    exception on any rank ends every rank (``MPI_Abort``) with a message naming
    the failed rank, instead of leaving the others waiting. Calling ``init``
    again only updates the settings.

    Raises :class:`MPIUnavailableError` when mpi4py or an MPI is missing
    (``pip install 'opcore[mpi]'``).
    """
    changes = {
        k: v
        for k, v in (
            ("timeout", timeout),
            ("fusion_threshold", fusion_threshold),
            ("check_consistency", check_consistency),
        )
        if v is not None
    }
    if changes:
        trial = _world.Config(**{**vars(config), **changes})
        trial.validate()
        for k, v in changes.items():
            setattr(config, k, v)
    with _world._lock:
        current = _world.current_world()
        if _world.is_initialized():
            if comm is not None and comm is not getattr(current, "parent", None):
                raise DistributedError(
                    "opcore.distributed is already initialized on another communicator; call shutdown() first"
                )
        else:
            mpi = _world.import_mpi()
            if comm is None:
                comm = mpi.COMM_WORLD
            if not isinstance(comm, mpi.Intracomm):
                raise DistributedError(f"init(comm=...) takes an mpi4py intracommunicator, got {type(comm).__name__}")
            current = MPIWorld(mpi, comm)
            _world.set_world(current)
        if abort_on_error and current.size > 1:
            _world.install_abort_hook(current)
        else:
            _world.remove_abort_hook()


def shutdown() -> None:
    """Leave the world (the collectives then need :func:`init` again); MPI itself ends with the process."""
    with _world._lock:
        current = _world.current_world()
        if isinstance(current, MPIWorld):
            current.free()
        _world.remove_abort_hook()
        _world.set_world(None)


def is_initialized() -> bool:
    """Whether :func:`init` was called (and :func:`shutdown` not since)."""
    return _world.is_initialized()


def mpi_available() -> bool:
    """Whether mpi4py is installed (the ``opcore[mpi]`` extra), checked without loading MPI."""
    try:
        return importlib.util.find_spec("mpi4py") is not None
    except (ImportError, ValueError):  # blocked, or a stand-in module without a spec
        return False


def rank() -> int:
    """This process's rank in the world, from 0 to ``size() - 1``."""
    return _world.initialized_world("opcore.distributed.rank()").rank


def size() -> int:
    """How many ranks the world has."""
    return _world.initialized_world("opcore.distributed.size()").size


def local_rank() -> int:
    """This process's rank among the ranks on its machine (pick a GPU with it)."""
    return _world.initialized_world("opcore.distributed.local_rank()").local_rank


def local_size() -> int:
    """How many ranks run on this machine."""
    return _world.initialized_world("opcore.distributed.local_size()").local_size


def cross_rank() -> int:
    """This machine's index among the machines (the rank among ranks with the same local rank)."""
    return _world.initialized_world("opcore.distributed.cross_rank()").cross_rank


def cross_size() -> int:
    """How many machines have a rank with this process's local rank (usually: how many machines)."""
    return _world.initialized_world("opcore.distributed.cross_size()").cross_size
