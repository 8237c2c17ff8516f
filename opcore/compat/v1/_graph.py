"""How the namespace builds graphs without a global switch.

TensorFlow 1 always builds a graph; opcore executes eagerly unless a graph is being
built. Rather than turning eager execution off for the whole process (which would
change every other user of opcore), each function of the namespace runs inside its
thread's default graph for the length of the call: ``tf.constant(3.0)`` is a node
of ``tf.get_default_graph()``, while ``opcore.constant(3.0)`` elsewhere in the same
program stays eager. Operators on graph tensors (``a + b``) build into the tensors'
graph by themselves.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast

import opcore
from opcore import dtypes as _dt
from opcore.graph import Graph, Node, get_default_graph

__all__ = [
    "building",
    "builds",
    "graph_of",
    "tf_dtype",
    "control_dependencies",
    "gradients",
    "group",
    "name_scope",
    "no_op",
]

F = TypeVar("F", bound=Callable[..., Any])


_TF_NAMES = {"float": _dt.float32, "double": _dt.float64, "half": _dt.float16}


def tf_dtype(dtype: Any) -> _dt.DType:
    """A dtype as TensorFlow 1 reads it: ``"float"`` is float32 and ``"double"`` float64 (not NumPy's meaning)."""
    if isinstance(dtype, str) and dtype in _TF_NAMES:
        return _TF_NAMES[dtype]
    if dtype is float:
        return _dt.float32
    return _dt.as_dtype(dtype)


@contextlib.contextmanager
def building(graph: Graph | None = None) -> Iterator[Graph]:
    """Build into ``graph`` (default: this thread's default graph) inside the block."""
    g = graph if graph is not None else get_default_graph()
    with g.as_default():
        yield g


def builds(fn: F) -> F:
    """``fn`` as the namespace's function: the same signature and documentation, run
    inside this thread's default graph."""

    @functools.wraps(fn, updated=())
    def in_default_graph(*args: Any, **kwargs: Any) -> Any:
        with graph_of(args, kwargs).as_default():
            return fn(*args, **kwargs)

    return cast(F, in_default_graph)


def graph_of(args: Sequence[Any], kwargs: dict[str, Any] | None = None) -> Graph:
    """The graph of the first graph tensor among the arguments (a list's items included),
    else the default graph: as TensorFlow 1, an op goes where its inputs are."""
    for value in (*args, *(kwargs or {}).values()):
        for item in value if isinstance(value, (list, tuple)) else (value,):
            graph = getattr(item, "graph", None)
            if isinstance(graph, Graph) and getattr(item, "_opcore_symbolic", False):
                return graph
    return get_default_graph()


@contextlib.contextmanager
def name_scope(name: str | None, default_name: str | None = None, values: Sequence[Any] | None = None) -> Iterator[str]:
    """Prefix the names of the ops made in the block: ``with tf.name_scope("layer1"):`` gives ``layer1/MatMul``.

    Yields the scope (``"layer1/"``); a name ending in ``/`` re-enters that scope, ``""`` the root.
    """
    g = graph_of(values or ())
    with g.as_default(), g.name_scope(name if name is not None else default_name) as scope:
        yield scope


@contextlib.contextmanager
def control_dependencies(control_inputs: Sequence[Any] | None) -> Iterator[None]:
    """Ops made in the block run after ``control_inputs``: ``with tf.control_dependencies([update]):``."""
    with building() as g, g.control_dependencies(control_inputs):
        yield


def gradients(
    ys: Any,
    xs: Any,
    grad_ys: Any = None,
    name: str = "gradients",
    colocate_gradients_with_ops: bool = False,
    gate_gradients: bool = False,
    aggregation_method: Any = None,
    stop_gradients: Any = None,
) -> list[Any]:
    """Symbolic gradients of the sum of ``ys`` with respect to each of ``xs`` (None where unconnected)."""
    if stop_gradients is not None:
        raise opcore.OpDefinitionError(
            "tf.gradients: stop_gradients is not provided; use tf.stop_gradient in the graph"
        )
    with building():
        return opcore.gradients(ys, xs, grad_ys)


def group(*inputs: Any, name: str | None = None) -> Node:
    """One node that runs all ``inputs`` (tensors, variables' assignments, nodes)."""
    with building():
        node = opcore.group(*inputs, name=name or "group_deps")
    assert node is not None  # in a graph, group always makes a node
    return node


def no_op(name: str | None = None) -> Node:
    """A node that does nothing (a target for control dependencies)."""
    return group(name=name or "NoOp")
