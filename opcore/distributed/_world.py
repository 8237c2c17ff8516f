"""The world: the processes that train together, and the collectives on arrays that the kernels call.

A :class:`World` knows its rank and size and runs allreduce, allgather and
broadcast on host arrays (NumPy), or on device arrays (CuPy) when the MPI can
read device memory. Two kinds exist:

- :class:`LocalWorld`, a world of one process. It is what the collective ops
  see in a process where :func:`opcore.distributed.init` was not called (the
  conformance suite runs them so), and every collective is a copy.
- :class:`~opcore.distributed._mpi.MPIWorld`, a communicator of mpi4py
  (:mod:`._mpi`: how its collectives wait with a deadline, fuse tensors and
  check that the ranks agree).

This module also holds the settings (:data:`config`), the process's world and
the hook that ends every rank when one fails.
"""

from __future__ import annotations

import os
import sys
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType, TracebackType
from typing import Any

import numpy as np

from opcore.distributed._errors import DistributedError, MPIUnavailableError

__all__ = [
    "REDUCTIONS",
    "Config",
    "LocalWorld",
    "World",
    "config",
    "current_world",
    "import_mpi",
    "initialized_world",
    "set_world",
]

#: The reductions an allreduce knows.
REDUCTIONS = ("sum", "average", "min", "max", "product")

_DEFAULT_TIMEOUT = 300.0
_DEFAULT_FUSION = 64 * 1024 * 1024
_CUDA_PATHS = ("auto", "nccl", "mpi", "host")


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        return float(raw) if raw.strip() else default
    except ValueError:
        raise DistributedError(f"environment variable {name}={raw!r} is not a number of seconds") from None


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw.strip() else default
    except ValueError:
        raise DistributedError(f"environment variable {name}={raw!r} is not a whole number of bytes") from None


@dataclass
class Config:
    """How the collectives behave; one object, :data:`opcore.distributed.config`.

    Set the fields directly or through :func:`opcore.distributed.init`'s keywords;
    the environment variables in brackets give the defaults.

    - ``timeout``: seconds a rank waits for the others in one collective before it
      raises :class:`~opcore.distributed.CollectiveTimeoutError`
      [``OPCORE_DISTRIBUTED_TIMEOUT``, 300].
    - ``fusion_threshold``: the largest fused buffer, in bytes; tensors are packed
      into buffers up to this size, one collective per buffer (0: every tensor
      alone) [``OPCORE_FUSION_THRESHOLD``, 64 MiB].
    - ``check_consistency``: with each collective, check that every rank gives
      the same dtypes and shapes (one tiny allgather in flight beside the data) [on].
    - ``cuda``: how CUDA tensors travel: ``"auto"`` (NCCL through CuPy when every
      rank has it, else a CUDA-aware MPI when every rank's MPI reads device
      memory, else through host memory), ``"nccl"``, ``"mpi"`` or ``"host"``
      [``OPCORE_DISTRIBUTED_CUDA``, auto].
    """

    timeout: float = _DEFAULT_TIMEOUT
    fusion_threshold: int = _DEFAULT_FUSION
    check_consistency: bool = True
    cuda: str = "auto"

    @classmethod
    def from_environment(cls) -> Config:
        out = cls(
            timeout=_env_float("OPCORE_DISTRIBUTED_TIMEOUT", _DEFAULT_TIMEOUT),
            fusion_threshold=_env_int("OPCORE_FUSION_THRESHOLD", _DEFAULT_FUSION),
            cuda=os.environ.get("OPCORE_DISTRIBUTED_CUDA", "").strip() or "auto",
        )
        out.validate()
        return out

    def validate(self) -> None:
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)) or not self.timeout > 0:
            raise DistributedError(f"config.timeout must be a positive number of seconds, got {self.timeout!r}")
        if (
            isinstance(self.fusion_threshold, bool)
            or not isinstance(self.fusion_threshold, int)
            or self.fusion_threshold < 0
        ):
            raise DistributedError(
                f"config.fusion_threshold must be a whole number of bytes >= 0, got {self.fusion_threshold!r}"
            )
        if self.cuda not in _CUDA_PATHS:
            raise DistributedError(f"config.cuda must be one of {', '.join(_CUDA_PATHS)}, got {self.cuda!r}")


#: The process's collective settings.
config = Config.from_environment()


def _signature(kind: str, param: Any, dtype: Any, shapes: Sequence[tuple[int, ...]]) -> int:
    """A number that every rank computes alike for the same collective call (no salted ``hash``)."""
    text = repr((kind, param, np.dtype(dtype).str, [tuple(int(d) for d in s) for s in shapes]))
    return zlib.crc32(text.encode())


def _describe(dtype: Any, shapes: Sequence[tuple[int, ...]]) -> str:
    listed = ", ".join(str(tuple(s)) for s in shapes[:6]) + (", ..." if len(shapes) > 6 else "")
    return f"{len(shapes)} {np.dtype(dtype).name} tensor(s) of shapes {listed}"


class World:
    """A world of ``size`` processes, this one being ``rank``; see the module docstring."""

    rank = 0
    size = 1
    local_rank = 0
    local_size = 1
    cross_rank = 0
    cross_size = 1

    def allreduce(self, arrays: Sequence[Any], reduction: str, what: Any, xp: ModuleType = np) -> list[Any]:
        """Reduce each array over the ranks (every rank gets the result)."""
        raise NotImplementedError

    def allreduce_one(self, x: Any, reduction: str, what: Any) -> Any:
        """One host array reduced over the ranks."""
        return self.allreduce([x], reduction, what)[0]

    def allgather(self, array: Any, counts: Sequence[int] | None, what: Any, xp: ModuleType = np) -> Any:
        """Every rank's ``array`` joined along the first axis, in rank order.

        ``counts`` (each rank's first dimension) when known; else the ranks
        exchange them and must all have the same.
        """
        raise NotImplementedError

    def broadcast(self, arrays: Sequence[Any], root: int, what: Any, xp: ModuleType = np) -> list[Any]:
        """Rank ``root``'s arrays, on every rank."""
        raise NotImplementedError

    def exchange(self, values: Sequence[int], what: Any) -> np.ndarray:
        """Every rank's few integers: an int64 array of shape ``(size, len(values))``."""
        raise NotImplementedError

    def barrier(self, what: str = "barrier") -> None:
        """Wait until every rank gets here."""

    def agree(self, what: str, kind: str, param: Any, dtype: Any, shapes: Sequence[tuple[int, ...]]) -> None:
        """Raise DistributedError on every rank unless every rank calls the same collective on the same tensors."""

    def abort(self, code: int = 1) -> None:
        """End every rank's process now."""
        os._exit(code)

    def check_root(self, root: int, what: str) -> None:
        if isinstance(root, bool) or not isinstance(root, (int, np.integer)) or not 0 <= root < self.size:
            raise DistributedError(f"{what}: root_rank {root!r} is not a rank of this world of {self.size} process(es)")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} rank {self.rank} of {self.size}>"


class LocalWorld(World):
    """A world of one process: every collective returns copies of its inputs."""

    def allreduce(self, arrays: Sequence[Any], reduction: str, what: str, xp: ModuleType = np) -> list[Any]:
        return [a.copy() for a in arrays]

    def allgather(self, array: Any, counts: Sequence[int] | None, what: str, xp: ModuleType = np) -> Any:
        if counts is not None and (len(counts) != 1 or counts[0] != array.shape[0]):
            raise DistributedError(
                f"{what}: counts {list(counts)} do not describe a world of one process whose tensor has "
                f"{array.shape[0]} rows"
            )
        return array.copy()

    def broadcast(self, arrays: Sequence[Any], root: int, what: str, xp: ModuleType = np) -> list[Any]:
        self.check_root(root, what)
        return [a.copy() for a in arrays]

    def exchange(self, values: Sequence[int], what: str) -> np.ndarray:
        return np.asarray([list(values)], dtype=np.int64)


What = str | Callable[[], str]


def _text(what: What) -> str:
    return what if isinstance(what, str) else what()


# --------------------------------------------------------------------------- the process's world

_lock = threading.RLock()
_local = LocalWorld()
_world: World = _local
_initialized = False


def current_world() -> World:
    """The world the collective kernels run on: the initialized one, else a world of one."""
    return _world


def initialized_world(what: str) -> World:
    """The initialized world, or a DistributedError saying to call init() first."""
    if not _initialized:
        raise DistributedError(
            f"{what} needs opcore.distributed.init() first (call it once at the start of the program, on every "
            "rank; launch the ranks with mpiexec -n N python program.py)"
        )
    return _world


def set_world(world: World | None) -> None:
    """Make ``world`` the process's world (None: back to no world, uninitialized)."""
    global _world, _initialized
    with _lock:
        _world = _local if world is None else world
        _initialized = world is not None


def is_initialized() -> bool:
    return _initialized


def import_mpi() -> ModuleType:
    """``mpi4py.MPI``, or MPIUnavailableError naming the extra to install."""
    try:
        from mpi4py import MPI
    except (ImportError, RuntimeError, OSError) as exc:
        raise MPIUnavailableError(
            "opcore.distributed needs mpi4py and an MPI library, which the 'mpi' extra installs: "
            "pip install 'opcore[mpi]' (mpi4py and the mpich wheel, which brings mpiexec). On a cluster, "
            "use the cluster's MPI instead: see the distributed training guide. "
            f"(importing mpi4py.MPI failed: {type(exc).__name__}: {exc})"
        ) from exc
    return MPI


# --------------------------------------------------------------------------- ending the job on a failure


class _AbortHook:
    """``sys.excepthook`` while a world of several ranks is initialized: an uncaught exception on
    one rank prints its traceback and the failing rank, then ends every rank (``MPI_Abort``), so
    the others do not wait for it forever."""

    def __init__(self, world: World, previous: Callable[..., Any]) -> None:
        self.world = world
        self.previous = previous

    def __call__(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        try:
            self.previous(exc_type, exc, tb)
        finally:
            w = self.world
            detail = f"{exc_type.__name__}: {exc}" if str(exc) else exc_type.__name__
            sys.stderr.write(
                f"opcore.distributed: rank {w.rank} of {w.size} failed ({detail}); ending the job on every "
                "rank (MPI_Abort)\n"
            )
            sys.stderr.flush()
            w.abort(1)


def install_abort_hook(world: World) -> None:
    if not isinstance(sys.excepthook, _AbortHook):
        sys.excepthook = _AbortHook(world, sys.excepthook)
    else:
        sys.excepthook.world = world


def remove_abort_hook() -> None:
    hook = sys.excepthook
    if isinstance(hook, _AbortHook):
        sys.excepthook = hook.previous
