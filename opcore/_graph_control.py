"""Control dependencies (TensorFlow 1's ``graph.control_dependencies``): nodes made
inside ``with graph.control_dependencies([...]):`` run only after the given ones.

The blocks a thread is inside are that thread's own (kept in the graph's
thread-local state, as name scopes are), so threads building one graph together
do not order each other's nodes. :class:`ControlDependencies` holds the methods
that :class:`~opcore.graph.Graph` inherits.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from opcore import _context
from opcore._graph_nodes import GraphVariable, Node, SymbolicTensor
from opcore.errors import GraphError

__all__ = ["ControlDependencies"]


class ControlDependencies:
    """The ``control_dependencies`` blocks of a graph, and their effect on the nodes made in them."""

    _local: threading.local

    @property
    def _control(self) -> list[list[Node] | None]:
        return _context.local_list(self._local, "control")

    @contextlib.contextmanager
    def control_dependencies(self, control_inputs: Sequence[Any] | None) -> Iterator[None]:
        """Nodes made in the block run only after ``control_inputs`` (tensors, variables or nodes)
        have run; None clears the enclosing blocks' dependencies (TensorFlow's semantics)."""
        deps: list[Node] | None = None
        if control_inputs is not None:
            deps = []
            for x in control_inputs:
                if isinstance(x, GraphVariable):
                    x = x.node
                if isinstance(x, SymbolicTensor):
                    x = x.node
                if not isinstance(x, Node) or x.graph is not self:
                    raise GraphError(
                        f"control_dependencies() takes nodes, tensors and variables of this graph, got {x!r}"
                    )
                deps.append(x)
        control = self._control
        control.append(deps)
        try:
            yield
        finally:
            control.pop()

    def _add_control_inputs(self, node: Node) -> None:
        """Make a new ``node`` depend on the nodes of the blocks this thread is inside."""
        control = self._control
        if control:
            for deps in reversed(control):
                if deps is None:
                    break
                node.control_inputs.extend(deps)
