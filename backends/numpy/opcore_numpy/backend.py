"""The NumPy backend object."""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

from opcore.backend import Backend


class NumpyBackend(Backend):
    """Runs kernels on ``numpy.ndarray`` in host memory."""

    name = "numpy"
    on_host = True
    array_type = "numpy.ndarray"
    native_type = np.ndarray

    def devices(self) -> list[str]:
        return ["cpu:0"]

    def capabilities(self) -> dict[str, bool]:
        return {"float64": True, "float16": True}

    def max_allocation(self) -> int | None:
        # The machine's physical memory: a larger array could only be swapped or overcommitted.
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (AttributeError, ValueError, OSError):  # no sysconf (Windows)
            return None

    def from_numpy(self, array: np.ndarray) -> np.ndarray:
        return np.asarray(array)

    def to_numpy(self, array: Any) -> np.ndarray:
        return np.asarray(array)

    def may_overwrite(self, array: Any) -> bool:
        # References: the one tensor holding it, this call's argument and getrefcount's own.
        # Any view (its .base), other tensor or user reference adds one. A view itself is
        # written only when its base array has no other holder (views of views share the base).
        if type(array) is not np.ndarray or not array.flags.writeable or sys.getrefcount(array) > 3:
            return False
        base = array.base
        # (Its holders: the view, the local name and getrefcount's argument.)
        return base is None or (type(base) is np.ndarray and sys.getrefcount(base) <= 3)

    def is_native(self, value: Any) -> bool:
        return isinstance(value, np.ndarray)
