"""Graphs (TensorFlow 1 style): placeholders, constants, variables and op nodes.

Inside ``with graph.as_default():`` every op call adds a node instead of
running: dispatch hands symbolic inputs to :meth:`Graph.add_op`, which binds
dtypes and runs the op's shape function exactly as eager execution does, so
bad input fails at build time with the op's own error. A
:class:`~opcore.session.Session` later runs the nodes a fetch needs.

>>> import opcore
>>> g = opcore.Graph()
>>> with g.as_default():
...     x = opcore.placeholder(opcore.float32, [None, 2], name="x")
...     y = opcore.reduce_sum(x * 2.0, axis=1)
>>> y.shape, y.name
(Shape([None]), 'Sum:0')

This module holds the :class:`Graph` (building context, name scopes, unique
names, the node builders, lookups) and the functions acting on this thread's
default graph. The graph's elements (:class:`Node`, :class:`SymbolicTensor`,
:class:`GraphVariable`) are defined in ``opcore._graph_nodes``, its collections
in ``opcore._graph_collections`` and its control dependencies in
``opcore._graph_control``; all of them are imported from here.
"""

from __future__ import annotations

import contextlib
import difflib
import itertools
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from opcore import _context
from opcore import dtypes as _dt
from opcore._convert import pack_tensors
from opcore._graph_collections import GraphCollections, GraphKeys
from opcore._graph_control import ControlDependencies
from opcore._graph_nodes import GraphVariable, Node, SymbolicTensor
from opcore.dispatch import bind_type_vars, group_outputs
from opcore.dtypes import DType
from opcore.errors import DTypeError, GraphError, ShapeError
from opcore.registry import OpDef
from opcore.shapes import Shape, ShapeLike, as_shape
from opcore.tensor import Tensor, Variable

__all__ = [
    "Graph",
    "GraphKeys",
    "GraphVariable",
    "Node",
    "SymbolicTensor",
    "disable_eager_execution",
    "enable_eager_execution",
    "get_default_graph",
    "global_variables",
    "global_variables_initializer",
    "add_to_collection",
    "add_to_collections",
    "get_collection",
    "get_collection_ref",
    "group",
    "name_scope",
    "placeholder",
    "reset_default_graph",
    "trainable_variables",
]


class Graph(GraphCollections, ControlDependencies):
    """A dataflow graph: nodes added in order (so node ids are a topological order).

    With ``capture_variables=True`` the graph traces eager code: an eager
    :class:`~opcore.Variable` used while building becomes a graph variable of the
    same name, dtype, shape and current value (once per variable), as when a Keras
    model is drawn for TensorBoard. Otherwise using one is an error.
    """

    def __init__(self, *, capture_variables: bool = False) -> None:
        self.nodes: list[Node] = []
        self._names: set[str] = set()
        self._counts: dict[str, itertools.count[int]] = {}
        self.variables: list[GraphVariable] = []
        self.version = 1
        self._collections: dict[str, list[Any]] = {}
        # Eager variables met while building, by id, when the graph traces eager code (see _capture).
        self._captures: dict[int, tuple[Variable, GraphVariable]] | None = {} if capture_variables else None
        # Threads may build one graph together: names are taken under a lock, and
        # each thread has its own name scopes (as in TensorFlow 1).
        self._lock = threading.RLock()
        self._local = threading.local()

    @property
    def _scopes(self) -> list[str]:
        return _context.local_list(self._local, "scopes")

    # -- building context ------------------------------------------------------------

    @contextlib.contextmanager
    def as_default(self) -> Iterator[Graph]:
        """Build into this graph inside the block."""
        _context.enter_graph(self)
        try:
            yield self
        finally:
            _context.exit_graph(self)

    @contextlib.contextmanager
    def name_scope(self, name: str | None) -> Iterator[str]:
        """Prefix the names of nodes made in the block with ``name/`` (made unique, e.g. ``layer_1``).

        As in TensorFlow, a name ending in ``/`` re-enters that exact scope (``"layer/"``),
        and ``""`` or None goes back to the root scope.
        """
        if not name:
            scope = ""
        elif name.endswith("/"):
            scope = name.rstrip("/")
        else:
            scope = self.unique_name(name, mark=True)
        self._scopes.append(scope)
        try:
            yield scope + "/" if scope else ""
        finally:
            self._scopes.pop()

    @contextlib.contextmanager
    def _root_scope(self) -> Iterator[None]:
        """Names made inside the block (by this thread) are absolute: no name scope prefixes them."""
        local = self._local
        scopes = self._scopes
        local.scopes = []
        try:
            yield
        finally:
            local.scopes = scopes

    def unique_name(self, base: str, mark: bool = True) -> str:
        base = base.strip("/").replace(":", "_") or "node"
        scopes = self._scopes
        full = f"{scopes[-1]}/{base}" if scopes and scopes[-1] else base
        with self._lock:
            name = full
            while name in self._names:
                name = f"{full}_{next(self._counts.setdefault(full, itertools.count(1)))}"
            if mark:
                self._names.add(name)
        return name

    def _new_node(self, kind: str, name: str, op: OpDef | None = None) -> Node:
        with self._lock:
            node = Node(self, kind, self.unique_name(name), op)
            self.nodes.append(node)
        self._add_control_inputs(node)
        return node

    # -- inputs ------------------------------------------------------------------------

    def _tensor(self, value: Any, want: DType | None = None, what: str = "value") -> SymbolicTensor:
        """A tensor of this graph for ``value`` (a graph tensor, variable, eager tensor or data)."""
        if self._captures is not None and isinstance(value, Variable):
            value = self._capture(value)
        if isinstance(value, GraphVariable):
            value = value.value()
        if isinstance(value, SymbolicTensor):
            if value.graph is not self:
                raise GraphError(
                    f"{what}: tensor {value.name!r} belongs to another graph; tensors of two graphs never mix. "
                    "Build everything inside one `with graph.as_default():` block"
                )
            if want is not None and value.dtype is not want:
                if _dt.promote(value.dtype, want) is not want:
                    raise DTypeError(f"{what}: tensor {value.name!r} has dtype {value.dtype}, expected {want}")
                from opcore.ops.math import cast

                with self.as_default():
                    return cast(value, want)  # type: ignore[no-any-return]
            return value
        if isinstance(value, Variable):
            raise GraphError(
                f"{what}: eager variable {value.name!r} used while building a graph; create variables "
                "inside the graph (opcore.Variable in `with graph.as_default():`)"
            )
        if isinstance(value, Tensor):
            return self.constant(value.numpy(), want or value.dtype)
        return self.constant(value, want)

    def _capture(self, var: Variable) -> GraphVariable:
        """The graph variable standing for eager variable ``var`` in a traced graph: same name, shape, dtype,
        trainability and current value, made once per variable, outside any name scope."""
        assert self._captures is not None
        found = self._captures.get(id(var))
        if found is None:
            with self._root_scope():
                gv = self.variable(var.numpy(), trainable=var.trainable, name=var.name, dtype=var.dtype)
            found = self._captures[id(var)] = (var, gv)
        return found[1]

    def constant(self, value: Any, dtype: Any = None, name: str | None = None) -> SymbolicTensor:
        from opcore.tensor import _infer_dtype

        d = _dt.as_dtype(dtype) if dtype is not None else _infer_dtype(value)
        try:
            host = np.array(value, dtype=d.np)
        except (TypeError, ValueError) as exc:
            raise DTypeError(f"cannot convert {type(value).__name__} value to a {d} constant: {exc}") from None
        node = self._new_node("const", name or "Const")
        node.value = host
        out = SymbolicTensor(node, 0, d, Shape(host.shape))
        node.outputs.append(out)
        return out

    def placeholder(self, dtype: Any, shape: ShapeLike = None, name: str | None = None) -> SymbolicTensor:
        node = self._new_node("placeholder", name or "Placeholder")
        out = SymbolicTensor(node, 0, _dt.as_dtype(dtype), as_shape(shape))
        node.outputs.append(out)
        return out

    def variable(
        self, initial_value: Any, trainable: bool = True, name: str | None = None, dtype: Any = None
    ) -> GraphVariable:
        want = _dt.as_dtype(dtype) if dtype is not None else None
        full = self.unique_name(name or "Variable", mark=False)  # the name scope applies once
        with self.as_default(), self.name_scope(full + "/initial/"):
            if callable(initial_value):  # an initializer's ops belong to the variable
                initial_value = initial_value()
            init = self._tensor(initial_value, want, what=f"initial value of variable {full!r}")
        if not init.shape.is_fully_defined:
            raise ShapeError(f"variable {full!r}: the initial value's shape {init.shape} must be known")
        with self.name_scope(""):
            var = GraphVariable(self, init, trainable, full)
        self.variables.append(var)
        return var

    def _assign(self, var: GraphVariable, value: Any, name: str) -> SymbolicTensor:
        with self.as_default():
            t = self._tensor(value, var.dtype, what=f"assignment to variable {var.name!r}")
        if not t.shape.is_compatible_with(var.shape):
            raise ShapeError(f"cannot assign a value of shape {t.shape} to variable {var.name!r} of shape {var.shape}")
        node = self._new_node("assign", name)
        node.variable = var
        node.inputs = [t]
        out = SymbolicTensor(node, 0, var.dtype, var.shape)
        node.outputs.append(out)
        return out

    def group(self, inputs: Sequence[Any], name: str = "group") -> Node:
        node = self._new_node("group", name)
        for x in inputs:
            if isinstance(x, GraphVariable):
                x = x.initializer
            if isinstance(x, SymbolicTensor):
                node.control_inputs.append(x.node)
            elif isinstance(x, Node):
                node.control_inputs.append(x)
            elif x is not None:
                raise GraphError(f"group() takes graph tensors and nodes, got {type(x).__name__}")
        return node

    def host_call(
        self,
        fn: Any,
        inputs: Sequence[Any],
        type_name: str,
        name: str,
        attrs: dict[str, Any] | None = None,
        dtype: DType = _dt.string,
        shape: ShapeLike = (),
    ) -> SymbolicTensor:
        """A node that a session runs on the host: ``fn`` gets the NumPy values of ``inputs`` (host values as
        they are, for inputs that are host nodes themselves) and returns the node's value, which fetches
        return unchanged. Summaries are such nodes: their value is a serialized ``Summary`` (``bytes``).
        ``type_name`` and ``attrs`` are what exported graphs show."""
        with self.as_default():
            converted = [self._tensor(x, what=f"{type_name} input") for x in inputs]
        node = self._new_node("host", name)
        node.type_name = type_name
        node.value = fn
        node.inputs = converted
        node.attrs = dict(attrs or {})
        out = SymbolicTensor(node, 0, dtype, as_shape(shape))
        node.outputs.append(out)
        return out

    # -- ops -----------------------------------------------------------------------------

    def add_op(self, op: OpDef, inputs: Sequence[Any], attrs: dict[str, Any], name: str | None) -> Any:
        """Add ``op`` applied to ``inputs``; called by dispatch for symbolic inputs or in graph mode."""
        unwrapped: list[Any] = []
        for arg, item in zip(op.inputs, inputs):
            if arg.variadic:
                if not isinstance(item, (list, tuple)):
                    raise DTypeError(f"{op.name}: input {arg.name!r} is variadic and takes a list of tensors")
                unwrapped.append([x.value() if isinstance(x, GraphVariable) else x for x in item])
            else:
                if isinstance(item, (list, tuple)):
                    with self.as_default():
                        item = pack_tensors(item)  # [t1, t2] means stack([t1, t2]), as in TensorFlow
                unwrapped.append(item.value() if isinstance(item, GraphVariable) else item)
        binding = bind_type_vars(op, unwrapped, attrs)
        converted: list[Any] = []
        with self.as_default():
            for arg, item in zip(op.inputs, unwrapped):
                want = binding.get(arg.type)
                if want is None:
                    want = _dt.as_dtype(attrs[arg.type]) if arg.type in op.attrs else _dt.as_dtype(arg.type)
                what = f"{op.name} input {arg.name!r}"
                if arg.variadic:
                    converted.append([self._tensor(x, want, what) for x in item])
                else:
                    converted.append(self._tensor(item, want, what))
            shapes = {a.name: [t.shape for t in c] if a.variadic else c.shape for a, c in zip(op.inputs, converted)}
            out_shapes, out_dtypes = op.infer(shapes, binding, attrs)
            if op.composite is not None:
                with self.name_scope(name or op.name):
                    return op.composite(*converted, **attrs)
        node = self._new_node("op", name or op.name, op)
        node.inputs = converted
        node.attrs = attrs
        node.binding = binding
        node.outputs = [SymbolicTensor(node, i, d, s) for i, (s, d) in enumerate(zip(out_shapes, out_dtypes))]
        return group_outputs(op, attrs, node.outputs)

    def get_tensor_by_name(self, name: str) -> SymbolicTensor:
        """The tensor named ``name``: output ``i`` of node ``n`` is ``"n:i"`` (TensorFlow's names)."""
        node_name, colon, index = name.rpartition(":")
        if not colon or not index.isdigit():
            hint = f"; did you mean {name + ':0'!r}?" if self._node(name) is not None else ""
            raise GraphError(
                f"{name!r} is not a tensor name: tensor names have the form '<node name>:<output index>'{hint}"
            )
        node = self._node(node_name)
        if node is None:
            raise GraphError(f"no tensor named {name!r} in this graph{self._similar(node_name)}")
        if int(index) >= len(node.outputs):
            raise GraphError(f"no tensor named {name!r}: node {node_name!r} has {len(node.outputs)} output(s)")
        return node.outputs[int(index)]

    def get_operation_by_name(self, name: str) -> Node:
        """The node named ``name`` (TensorFlow's operation)."""
        node = self._node(name)
        if node is None:
            if ":" in name and self._node(name.rpartition(":")[0]) is not None:
                raise GraphError(f"{name!r} names a tensor, not a node; the node is {name.rpartition(':')[0]!r}")
            raise GraphError(f"no node named {name!r} in this graph{self._similar(name)}")
        return node

    def get_operations(self) -> list[Node]:
        """Every node, in the order they were added."""
        return list(self.nodes)

    def _node(self, name: str) -> Node | None:
        for node in self.nodes:
            if node.name == name:
                return node
        return None

    def _similar(self, name: str) -> str:
        close = difflib.get_close_matches(name, [n.name for n in self.nodes], n=3)
        return f"; similar names: {', '.join(map(repr, close))}" if close else ""

    def __repr__(self) -> str:
        return f"<opcore.Graph with {len(self.nodes)} nodes, {len(self.variables)} variables>"


# --------------------------------------------------------------------------- module-level API

_context.new_graph = Graph


def get_default_graph() -> Graph:
    """The graph this thread is building, else this thread's default graph.

    As in TensorFlow 1, the default graph belongs to the thread: a new thread
    starts with a fresh one (build into a shared graph with ``with g.as_default():``).
    """
    g = _context.building_graph()
    return g if g is not None else _context.default_graph()  # type: ignore[no-any-return]


def reset_default_graph() -> None:
    """Start a fresh default graph for this thread (TF1's ``tf.reset_default_graph``)."""
    if _context.state.graphs:
        raise GraphError("reset_default_graph() inside `with graph.as_default():`; leave the block first")
    _context.state.default_graph = Graph()


def disable_eager_execution() -> None:
    """Build into the default graph from now on, in every thread (TF1 programs); undo with
    :func:`enable_eager_execution`."""
    _context.set_eager_disabled(True)


def enable_eager_execution() -> None:
    """Execute eagerly again outside ``with graph.as_default():`` blocks."""
    _context.set_eager_disabled(False)


def _building(what: str) -> Graph:
    g = _context.building_graph()
    if g is None:
        raise GraphError(
            f"{what} needs graph mode: build inside `with opcore.Graph().as_default():` "
            "or call opcore.disable_eager_execution() first"
        )
    return g  # type: ignore[no-any-return]


def placeholder(dtype: Any, shape: ShapeLike = None, name: str | None = None) -> SymbolicTensor:
    """A graph input fed at run time: ``x = opcore.placeholder(opcore.float32, [None, 784])``."""
    return _building("placeholder()").placeholder(dtype, shape, name)


def group(*inputs: Any, name: str = "group") -> Node | None:
    """One node that runs all ``inputs`` (graph mode); nothing to do eagerly."""
    if _context.executing_eagerly():
        return None
    flat = [x for item in inputs for x in (item if isinstance(item, (list, tuple)) else (item,))]
    return _building("group()").group(flat, name)


def add_to_collection(name: str, value: Any) -> None:
    """Add ``value`` to collection ``name`` of the default graph."""
    get_default_graph().add_to_collection(name, value)


def add_to_collections(names: Any, value: Any) -> None:
    """Add ``value`` to each of the default graph's collections ``names``."""
    get_default_graph().add_to_collections(names, value)


def get_collection(name: str, scope: str | None = None) -> list[Any]:
    """A copy of the default graph's collection ``name`` (filtered by regex ``scope``)."""
    return get_default_graph().get_collection(name, scope)


def get_collection_ref(name: str) -> list[Any]:
    """The default graph's collection ``name`` itself."""
    return get_default_graph().get_collection_ref(name)


def global_variables() -> list[GraphVariable]:
    return list(get_default_graph().variables)


def trainable_variables() -> list[GraphVariable]:
    return get_default_graph().trainable_variables()


def global_variables_initializer() -> Node:
    """The node that initialises every variable of the default graph."""
    g = get_default_graph()
    return g.group([v.initializer for v in g.variables], name="init")


@contextlib.contextmanager
def name_scope(name: str) -> Iterator[str]:
    """Prefix node names in the block (no effect when executing eagerly)."""
    g = _context.building_graph()
    if g is None:
        yield name
        return
    with g.name_scope(name) as scope:
        yield scope
