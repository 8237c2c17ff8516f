"""Built-in ops: reduce family."""

from __future__ import annotations

__all__: list[str] = []
