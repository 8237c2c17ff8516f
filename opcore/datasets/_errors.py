"""The error raised for data sets that are missing, corrupt or badly requested."""

from __future__ import annotations

from opcore.errors import OpcoreError

__all__ = ["DatasetError"]


class DatasetError(OpcoreError, ValueError):
    """A data set file that is missing, truncated or corrupt, or a bad loader argument.

    The message names the file (or every place searched) and what to do.
    """
