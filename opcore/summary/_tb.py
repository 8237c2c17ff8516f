"""The TensorBoard libraries, imported on first use: TensorBoard's protocol buffers and tensorboardX's records.

opcore writes TensorBoard's own messages (``Summary``, ``Event``, ``GraphDef``) with
the classes generated from TensorBoard's ``.proto`` files (the ``tensorboard``
package), and frames them into event-file records (length, masked CRC-32C of the
length, payload, masked CRC-32C of the payload) with tensorboardX's ``RecordWriter``,
which computes the checksums with the native ``crc32c`` package: microseconds a
record, where TensorBoard's own writer spends about 0.15 ms per KiB in pure Python.
All three are the optional extra ``opcore[tensorboard]``; ``import opcore`` never
needs them.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

from opcore.errors import MissingDependencyError

__all__ = ["available", "proto", "record_writer"]

_INSTALL = "pip install 'opcore[tensorboard]'"


@functools.cache
def _import(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"TensorBoard summaries and event files need the packages 'tensorboard' and 'tensorboardX', and "
            f"{module} cannot be imported ({exc}); install opcore's extra: {_INSTALL}"
        ) from exc
    except Exception as exc:  # e.g. a protobuf runtime older than the generated code needs
        raise MissingDependencyError(
            f"the TensorBoard libraries are installed but {module} cannot be loaded: {type(exc).__name__}: {exc}; "
            f"reinstall the extra with matching versions: {_INSTALL}"
        ) from exc


def proto(name: str) -> Any:
    """TensorBoard's generated module ``tensorboard.compat.proto.<name>`` (``summary_pb2``, ``event_pb2`` ...)."""
    return _import(f"tensorboard.compat.proto.{name}")


@functools.cache
def record_writer() -> Any:
    """tensorboardX's ``RecordWriter`` with a cheap ``flush()``: ``RecordWriter(path)``, ``write(bytes)``,
    ``flush()`` (to the operating system), ``sync()`` (to the disk, as tensorboardX's own flush does),
    ``close()``."""
    base = _import("tensorboardX.record_writer").RecordWriter

    class Records(base):  # type: ignore[misc, valid-type]
        def flush(self) -> None:
            # tensorboardX's flush also fsyncs: milliseconds, too slow for every as_default() block.
            self._writer.flush()

        def sync(self) -> None:
            base.flush(self)

    return Records


def native_crc() -> bool:
    """Whether record checksums are computed by the native ``crc32c`` package (else in pure Python)."""
    return _import("tensorboardX.crc32c")._crc32c_native is not None


def available() -> bool:
    """Whether the TensorBoard libraries can be used (without raising)."""
    try:
        proto("summary_pb2")
        record_writer()
    except MissingDependencyError:
        return False
    return True
