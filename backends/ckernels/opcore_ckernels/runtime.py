"""The runtime interface the kernel library needs from a backend.

A backend's runtime (PyOpenCL's in opcore-opencl, CuPy's in opcore-cuda)
provides these; kernel modules use nothing else of the device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np


class KernelRuntime(Protocol):
    """What kernels call on ``ctx.backend.runtime``."""

    #: ``"opencl"`` or ``"cuda"``: the dialect rendering the runtime builds. Every kernel
    #: guards its global id against the problem size, because CUDA rounds grids up.
    target: str

    def kernel(self, source: str, name: str) -> Any:
        """The built kernel ``name`` of dialect ``source`` (cached per source)."""

    def launch(self, kernel: Any, global_size: Sequence[int], args: Sequence[Any],
               local_size: Sequence[int] | None = None) -> None:  # fmt: skip
        """Run ``kernel`` over ``global_size`` work-items (OpenCL's NDRange; a CUDA grid of blocks).

        Array arguments are passed as ``array.data``; scalars as NumPy scalars.
        """

    def empty(self, shape: Sequence[int], dtype: Any) -> Any:
        """An uninitialised device array."""

    def to_device(self, host: np.ndarray) -> Any:
        """A device copy of a host array."""

    def get(self, array: Any) -> np.ndarray:
        """A host copy of a device array."""

    def cached(self, key: Any, build: Callable[[], np.ndarray]) -> Any:
        """A device copy of ``build()``, made once per ``key`` (index maps, constants)."""

    def copy(self, array: Any, shape: Sequence[int]) -> Any:
        """A new device array with ``array``'s elements (C order) and ``shape`` (same size)."""

    @property
    def max_work_group_size(self) -> int:
        """The largest work-group (CUDA block) the device runs."""
