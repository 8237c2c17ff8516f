"""Built-in ops: array family."""

from __future__ import annotations

__all__: list[str] = []
