"""The ``tensorboard`` package, imported on first use: its protocol buffers and its event-file writer.

opcore writes TensorBoard's own messages (``Summary``, ``Event``, ``GraphDef``) with
the classes generated from TensorBoard's ``.proto`` files, and writes event files
(records framed with their length and masked CRC-32C checks) with TensorBoard's own
writer, so that what TensorBoard reads is what TensorBoard wrote. The package is the
optional extra ``opcore[tensorboard]``; ``import opcore`` never needs it.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

from opcore.errors import MissingDependencyError

__all__ = ["available", "event_file_writer", "proto"]

_INSTALL = "pip install 'opcore[tensorboard]'"


@functools.cache
def _import(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"TensorBoard summaries and event files need the 'tensorboard' package, which cannot be imported "
            f"({exc}); install opcore's extra: {_INSTALL}"
        ) from exc
    except Exception as exc:  # e.g. a protobuf runtime older than the generated code needs
        raise MissingDependencyError(
            f"the 'tensorboard' package is installed but {module} cannot be loaded: {type(exc).__name__}: {exc}; "
            f"reinstall the extra with matching versions: {_INSTALL}"
        ) from exc


def proto(name: str) -> Any:
    """TensorBoard's generated module ``tensorboard.compat.proto.<name>`` (``summary_pb2``, ``event_pb2`` ...)."""
    return _import(f"tensorboard.compat.proto.{name}")


def event_file_writer() -> Any:
    """TensorBoard's ``EventFileWriter`` class (asynchronous: a thread writes the records)."""
    return _import("tensorboard.summary.writer.event_file_writer").EventFileWriter


def available() -> bool:
    """Whether the tensorboard package can be used (without raising)."""
    try:
        proto("summary_pb2")
        event_file_writer()
    except MissingDependencyError:
        return False
    return True
