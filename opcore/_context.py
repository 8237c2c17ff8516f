"""Execution context shared by the execution layers: graphs being built, tapes recording.

It sits low in the layering so that tensors, variables, dispatch, graphs and
autodiff can all consult it without importing each other.
"""

from __future__ import annotations

from typing import Any

#: Graphs being built (``with graph.as_default():``), innermost last.
graph_stack: list[Any] = []
#: Active recorders (gradient tapes), innermost last.
active_tapes: list[Any] = []


def building_graph() -> Any:
    """The graph being built, or None when executing eagerly."""
    return graph_stack[-1] if graph_stack else None


def executing_eagerly() -> bool:
    """True unless a graph is being built (``with graph.as_default():`` or after
    ``opcore.disable_eager_execution()``)."""
    return not graph_stack
