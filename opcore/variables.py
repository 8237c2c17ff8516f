"""Variable updates that work the same eagerly and in graphs.

Optimizers and layers use these so that one piece of code serves both modes:
an eager :class:`~opcore.Variable` is updated at once and returned; a graph
variable returns the symbolic update, which a session runs.
"""

from __future__ import annotations

from typing import Any

from opcore.errors import GraphError
from opcore.graph import GraphVariable
from opcore.tensor import Variable

__all__ = ["assign", "assign_add", "assign_sub"]


def _check(var: Any, what: str) -> None:
    if not isinstance(var, (Variable, GraphVariable)):
        raise GraphError(f"{what}() needs an opcore.Variable, got {type(var).__name__}")


def assign(var: Any, value: Any) -> Any:
    """Set ``var`` to ``value`` (eager: now, returning the variable; graph: the update tensor)."""
    _check(var, "assign")
    return var.assign(value)


def assign_add(var: Any, delta: Any) -> Any:
    """``var += delta`` (eager: now; graph: the update tensor)."""
    _check(var, "assign_add")
    return var.assign_add(delta)


def assign_sub(var: Any, delta: Any) -> Any:
    """``var -= delta`` (eager: now; graph: the update tensor)."""
    _check(var, "assign_sub")
    return var.assign_sub(delta)
