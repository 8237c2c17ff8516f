"""A kernel table: ``{op name: (kernel, dtypes)}`` for one op family."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

KernelFn = Callable[..., Any]


class KernelTable:
    """Collects a family's kernels; the plugin registers all tables at once.

    >>> T = KernelTable()
    >>> @T.kernel("Add", dtypes="float32, float64")
    ... def add(ctx, x, y):
    ...     return x + y
    """

    def __init__(self) -> None:
        self.entries: dict[str, tuple[KernelFn, Any]] = {}

    def kernel(self, op: str, dtypes: Any = None) -> Callable[[KernelFn], KernelFn]:
        """Decorator: ``fn`` is the kernel of ``op`` for ``dtypes`` (None: every dtype the op allows)."""

        def deco(fn: KernelFn) -> KernelFn:
            self.add(op, fn, dtypes)
            return fn

        return deco

    def add(self, op: str, fn: KernelFn, dtypes: Any = None) -> None:
        if op in self.entries:
            raise ValueError(f"kernel table already has an entry for {op!r}")
        self.entries[op] = (fn, dtypes)

    def __iter__(self) -> Iterator[tuple[str, KernelFn, Any]]:
        for op, (fn, dtypes) in self.entries.items():
            yield op, fn, dtypes
