"""The runtime interface the kernel library needs from a backend, and the shared kernel cache.

A backend's runtime (PyOpenCL's in opcore-opencl, CuPy's in opcore-cuda)
provides these; kernel modules use nothing else of the device.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Protocol

import numpy as np


class KernelRuntime(Protocol):
    """What kernels call on ``ctx.backend.runtime``."""

    #: ``"opencl"`` or ``"cuda"``: the dialect rendering the runtime builds. Every kernel
    #: guards its global id against the problem size, because CUDA rounds grids up.
    target: str

    #: Whether the device is a CPU: work-groups then run as loops over their work-items on one
    #: core, so row kernels use small work-groups (a GPU wants large ones to hide latency).
    cpu: bool

    def kernel(self, key: Hashable, build: Callable[[], str], name: str) -> Any:
        """The built kernel ``name`` of the dialect source ``build()`` returns.

        ``key`` is the kernel's signature (what the source depends on: kind,
        dtypes, rank, flags); the source is built, hashed and compiled only the
        first time a key is seen, so a warm call does none of it.
        """

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


class KernelCache:
    """Kernels by signature, then by source: what a runtime's ``kernel`` is built on.

    ``get(key, build, name)`` returns the cached kernel of ``key`` without
    calling ``build``; on a miss it builds the source (``counters["sources"]``),
    and compiles it through ``compile(source)`` unless an identical source was
    already compiled under another key (``counters["builds"]``). ``compile``
    returns ``{kernel name: kernel}`` for every kernel of the program.
    """

    def __init__(self, compile: Callable[[str], dict[str, Any]], counters: Counter[str]) -> None:
        self._compile = compile
        self._counters = counters
        self._by_key: dict[tuple[Hashable, str], Any] = {}
        self._programs: dict[str, dict[str, Any]] = {}
        #: Every kernel source built so far (the NVRTC check and tests read them).
        self.sources: list[str] = []

    def get(self, key: Hashable, build: Callable[[], str], name: str) -> Any:
        k = self._by_key.get((key, name))
        if k is not None:
            return k
        source = build()
        self._counters["sources"] += 1
        program = self._programs.get(source)
        if program is None:
            program = self._programs[source] = self._compile(source)
            self.sources.append(source)
            self._counters["builds"] += 1
        k = self._by_key[(key, name)] = program[name]
        return k
