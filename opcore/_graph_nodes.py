"""The elements of a graph: :class:`Node` (an op or another step a session runs),
:class:`SymbolicTensor` (a node's output: a dtype and a partial shape, a value only
in a session) and :class:`GraphVariable` (a variable whose value lives in each
session that initialises it).

They are made by :class:`~opcore.graph.Graph`'s builders and imported from
:mod:`opcore.graph`; their ``eval``, ``run`` and ``load`` use the session passed
to them, else this thread's default session.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from opcore import _context
from opcore.dtypes import DType
from opcore.errors import GraphError, ShapeError
from opcore.registry import OpDef
from opcore.shapes import Shape, ShapeLike, as_shape
from opcore.tensor import TensorOps

if TYPE_CHECKING:
    from opcore.graph import Graph

__all__ = ["GraphVariable", "Node", "SymbolicTensor"]


class Node:
    """One node of a graph. ``kind`` is one of ``op``, ``placeholder``, ``const``,
    ``variable`` (a read of a variable), ``assign``, ``group`` or ``host`` (Python that
    a session runs on the host, on NumPy values: summaries)."""

    __slots__ = ("attrs", "binding", "control_inputs", "graph", "id", "inputs", "kind", "name", "op", "outputs",
                 "type_name", "value", "variable")  # fmt: skip

    def __init__(self, graph: Graph, kind: str, name: str, op: OpDef | None = None) -> None:
        self.graph = graph
        self.id = len(graph.nodes)
        self.kind = kind
        self.name = name
        self.op = op
        self.inputs: list[Any] = []  # SymbolicTensor, or a list of them for a variadic input
        self.attrs: dict[str, Any] = {}
        self.binding: dict[str, DType] = {}
        self.outputs: list[SymbolicTensor] = []
        self.control_inputs: list[Node] = []
        self.value: Any = None  # a const's NumPy value; a host node's function
        self.variable: GraphVariable | None = None
        self.type_name: str | None = None  # a host node's type ("ScalarSummary")

    @property
    def type(self) -> str:
        if self.type_name is not None:
            return self.type_name
        return self.op.name if self.op is not None else self.kind.capitalize()

    def flat_inputs(self) -> list[SymbolicTensor]:
        return [t for item in self.inputs for t in (item if isinstance(item, list) else (item,))]

    def run(self, feed_dict: dict[Any, Any] | None = None, session: Any = None) -> None:
        """Run this node in ``session``, else in this thread's default session (TF1's ``op.run()``)."""
        _session_for(self.graph, session, f"node {self.name!r}.run()").run(self, feed_dict)

    def __repr__(self) -> str:
        return f"<Node {self.name!r} type={self.type}>"


def _session_for(graph: Graph, session: Any, what: str) -> Any:
    if session is None:
        session = _context.default_session()
        if session is None:
            raise GraphError(
                f"{what} needs a session: pass session=sess, or run it inside `with opcore.Session() as sess:` "
                "(or `with sess.as_default():`), which makes that session the default"
            )
    if session.graph is not graph:
        raise GraphError(f"{what}: the session runs another graph than the one this belongs to")
    return session


class SymbolicTensor(TensorOps):
    """An output of a graph node: a dtype and a partial shape, a value only in a session."""

    __slots__ = ("_shape", "dtype", "index", "node")
    _opcore_symbolic = True

    def __init__(self, node: Node, index: int, dtype: DType, shape: Shape) -> None:
        self.node = node
        self.index = index
        self.dtype = dtype
        self._shape = shape

    @property
    def graph(self) -> Graph:
        return self.node.graph

    @property
    def op(self) -> Node:
        return self.node

    @property
    def shape(self) -> Shape:
        return self._shape

    def get_shape(self) -> Shape:
        return self._shape

    def set_shape(self, shape: ShapeLike) -> None:
        """Refine the static shape with what the caller knows (TensorFlow's ``set_shape``);
        a shape that contradicts the known one is a ShapeError."""
        try:
            self._shape = self._shape.merge_with(as_shape(shape))
        except ShapeError:
            raise ShapeError(f"set_shape: {self.name!r} has shape {self._shape}, incompatible with {shape}") from None

    @property
    def name(self) -> str:
        return f"{self.node.name}:{self.index}"

    def eval(self, feed_dict: dict[Any, Any] | None = None, session: Any = None) -> np.ndarray:
        """The value in ``session``, else in this thread's default session (``with opcore.Session():``)."""
        value: np.ndarray = _session_for(self.graph, session, f"{self.name!r}.eval()").run(self, feed_dict)
        return value

    def __bool__(self) -> bool:
        raise GraphError(
            f"the truth value of graph tensor {self.name!r} is unknown until it runs in a session; "
            "use opcore.where / comparisons as ops instead of Python 'if'"
        )

    def __iter__(self) -> Iterator[Any]:
        raise GraphError(f"graph tensor {self.name!r} is not iterable; index it or use opcore.split/unstack")

    def __repr__(self) -> str:
        return f"<opcore.SymbolicTensor {self.name!r} shape={self._shape} dtype={self.dtype.name}>"


class GraphVariable(TensorOps):
    """A variable of a graph: its value lives in each session that initialises it."""

    __slots__ = ("_read", "graph", "initial_value", "initializer", "name", "node", "trainable")
    _opcore_symbolic = True

    def __init__(self, graph: Graph, initial_value: SymbolicTensor, trainable: bool, name: str) -> None:
        self.graph = graph
        self.name = name
        self.trainable = trainable
        self.initial_value = initial_value
        with graph._root_scope():  # ``name`` already holds the scope it was made in
            node = graph._new_node("variable", name)
            node.variable = self
            self._read = SymbolicTensor(node, 0, initial_value.dtype, initial_value.shape)
            node.outputs.append(self._read)
            self.node = node
            self.initializer: SymbolicTensor = graph._assign(self, initial_value, f"{name}/Assign")

    @property
    def dtype(self) -> DType:
        return self._read.dtype

    @property
    def shape(self) -> Shape:
        return self._read.shape

    def get_shape(self) -> Shape:
        return self._read.shape

    @property
    def op(self) -> Node:
        """The variable's node (TensorFlow's ``var.op``; ``var.op.name`` is its name)."""
        return self.node

    def value(self) -> SymbolicTensor:
        return self._read

    def read_value(self) -> SymbolicTensor:
        return self._read

    def initialized_value(self) -> SymbolicTensor:
        """The initial value: what the variable holds right after its initializer runs."""
        return self.initial_value

    def load(self, value: Any, session: Any = None) -> None:
        """Store ``value`` in the variable in ``session`` (default: this thread's default session)."""
        _session_for(self.graph, session, f"variable {self.name!r}.load()").load_variable(
            self, np.asarray(value, dtype=self.dtype.np)
        )

    def assign(self, value: Any, name: str | None = None) -> SymbolicTensor:
        """A tensor whose evaluation stores ``value`` in the variable (and yields it)."""
        return self.graph._assign(self, value, name or f"{self.name}/Assign")

    def assign_add(self, delta: Any, name: str | None = None) -> SymbolicTensor:
        with self.graph.as_default():
            return self.assign(self._read + delta, name or f"{self.name}/AssignAdd")

    def assign_sub(self, delta: Any, name: str | None = None) -> SymbolicTensor:
        with self.graph.as_default():
            return self.assign(self._read - delta, name or f"{self.name}/AssignSub")

    def eval(self, session: Any = None) -> np.ndarray:
        return self._read.eval(session=session)

    def __repr__(self) -> str:
        return f"<opcore.GraphVariable {self.name!r} shape={self.shape} dtype={self.dtype.name}>"
