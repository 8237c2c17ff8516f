"""The NumPy backend object."""

from __future__ import annotations

from typing import Any

import numpy as np

from opcore.backend import Backend


class NumpyBackend(Backend):
    """Runs kernels on ``numpy.ndarray`` in host memory."""

    name = "numpy"
    array_type = "numpy.ndarray"
    native_type = np.ndarray

    def devices(self) -> list[str]:
        return ["cpu:0"]

    def capabilities(self) -> dict[str, bool]:
        return {"float64": True, "float16": True}

    def from_numpy(self, array: np.ndarray) -> np.ndarray:
        return np.asarray(array)

    def to_numpy(self, array: Any) -> np.ndarray:
        return np.asarray(array)

    def is_native(self, value: Any) -> bool:
        return isinstance(value, np.ndarray)
