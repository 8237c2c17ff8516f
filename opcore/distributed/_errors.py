"""The errors of :mod:`opcore.distributed`."""

from __future__ import annotations

from opcore.errors import OpcoreError

__all__ = ["CollectiveTimeoutError", "DistributedError", "MPIUnavailableError"]


class DistributedError(OpcoreError, RuntimeError):
    """Misuse of the distributed API (not initialized, a root rank outside the world) or a failed collective."""


class MPIUnavailableError(DistributedError, ImportError):
    """mpi4py or an MPI library is missing: install the ``opcore[mpi]`` extra."""


class CollectiveTimeoutError(DistributedError, TimeoutError):
    """A collective did not complete in time: another rank failed, exited, or called other collectives."""
