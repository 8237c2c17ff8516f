"""The error raised for misuse of Keras-style models."""

from __future__ import annotations

from opcore.errors import OpcoreError

__all__ = ["ModelError"]


class ModelError(OpcoreError, ValueError):
    """A model used wrongly: not compiled, mismatched ``x``/``y``, bad wiring, bad arguments.

    Shape mismatches between data and layers raise :class:`opcore.ShapeError` instead.
    """
