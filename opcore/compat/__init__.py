"""Compatibility namespaces.

- :mod:`opcore.compat.v1`: TensorFlow 1's names, signatures and semantics. A TensorFlow 1
  program runs with ``import tensorflow as tf`` replaced by ``import opcore.compat.v1 as tf``.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["v1"]


def __getattr__(name: str) -> Any:
    # Imported on first use: ``import opcore`` stays light.
    if name == "v1":
        return importlib.import_module("opcore.compat.v1")
    raise AttributeError(f"module 'opcore.compat' has no attribute {name!r}; it has: v1")
