"""An opcore graph as a TensorFlow ``GraphDef``, the message TensorBoard's graph view draws.

Each node becomes a ``NodeDef`` named as in the graph (so name scopes become the
view's boxes), typed by its op (``MatMul``, ``Placeholder``, ``VariableV2``,
``Assign``, ``NoOp``, ``ScalarSummary`` ...), with its inputs (``name``, ``name:1``,
``^name`` for control inputs) and these attributes:

- the op's attributes, and its type variables as types (``T: DT_FLOAT``);
- ``_output_shapes``: the inferred shape of every output (the view labels edges with them);
- ``dtype`` / ``shape`` on placeholders, constants and variables, and ``value`` on constants
  (only up to :data:`MAX_CONST_BYTES` of content: larger constants keep their dtype and shape);
- ``provider``: the distribution that defined the op (``opcore`` for the built-in ops and the
  frontend's own nodes, a plugin's distribution otherwise), and ``op_version``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from opcore.dtypes import DType
from opcore.errors import SummaryError
from opcore.graph import Graph, Node, SymbolicTensor
from opcore.shapes import Shape
from opcore.summary import _tb

__all__ = ["MAX_CONST_BYTES", "as_graph_def", "to_graph_def"]

#: Constants with more bytes than this are exported without their content (a drawing needs none).
MAX_CONST_BYTES = 1 << 16

_DT_NAMES = {
    "bool": "DT_BOOL",
    "int8": "DT_INT8",
    "int16": "DT_INT16",
    "int32": "DT_INT32",
    "int64": "DT_INT64",
    "uint8": "DT_UINT8",
    "float16": "DT_HALF",
    "float32": "DT_FLOAT",
    "float64": "DT_DOUBLE",
    "string": "DT_STRING",
}
_NODE_TYPES = {"placeholder": "Placeholder", "const": "Const", "variable": "VariableV2", "assign": "Assign",
               "group": "NoOp"}  # fmt: skip


def _dtype_enum(d: DType) -> int:
    return int(getattr(_tb.proto("types_pb2"), _DT_NAMES[d.name]))


def _shape_proto(shape: Shape) -> Any:
    pb = _tb.proto("tensor_shape_pb2")
    if shape.dims is None:
        return pb.TensorShapeProto(unknown_rank=True)
    return pb.TensorShapeProto(dim=[pb.TensorShapeProto.Dim(size=-1 if d is None else int(d)) for d in shape.dims])


def _tensor_proto(value: np.ndarray, d: DType) -> Any:
    tensor_pb2 = _tb.proto("tensor_pb2")
    t = tensor_pb2.TensorProto(dtype=_dtype_enum(d), tensor_shape=_shape_proto(Shape(value.shape)))
    if value.nbytes <= MAX_CONST_BYTES:
        t.tensor_content = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<")).tobytes()
    return t


def _attr(value: Any) -> Any:
    """An ``AttrValue`` for an op attribute (None when the value has no AttrValue form)."""
    pb = _tb.proto("attr_value_pb2")
    if isinstance(value, DType):
        return pb.AttrValue(type=_dtype_enum(value))
    if isinstance(value, (bool, np.bool_)):
        return pb.AttrValue(b=bool(value))
    if isinstance(value, (int, np.integer)):
        return pb.AttrValue(i=int(value))
    if isinstance(value, (float, np.floating)):
        return pb.AttrValue(f=float(value))
    if isinstance(value, str):
        return pb.AttrValue(s=value.encode("utf-8"))
    if isinstance(value, bytes):
        return pb.AttrValue(s=value)
    if isinstance(value, Shape):
        return pb.AttrValue(shape=_shape_proto(value))
    if isinstance(value, (list, tuple)):
        items = list(value)
        lv = pb.AttrValue.ListValue()
        if all(isinstance(x, DType) for x in items):
            lv.type.extend(_dtype_enum(x) for x in items)
        elif all(isinstance(x, (bool, np.bool_)) for x in items):
            lv.b.extend(bool(x) for x in items)
        elif all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in items):
            lv.i.extend(int(x) for x in items)
        elif all(isinstance(x, (int, float, np.integer, np.floating)) for x in items):
            lv.f.extend(float(x) for x in items)
        elif all(isinstance(x, str) for x in items):
            lv.s.extend(x.encode("utf-8") for x in items)
        else:
            return pb.AttrValue(s=repr(value).encode("utf-8"))
        return pb.AttrValue(list=lv)
    if value is None:
        return None
    return pb.AttrValue(s=repr(value).encode("utf-8"))


def _input_name(t: SymbolicTensor) -> str:
    return t.node.name if t.index == 0 else f"{t.node.name}:{t.index}"


def _node_def(node: Node) -> Any:
    node_def_pb2 = _tb.proto("node_def_pb2")
    attr_pb = _tb.proto("attr_value_pb2")
    op_type = node.type if node.kind in ("op", "host") else _NODE_TYPES[node.kind]
    nd = node_def_pb2.NodeDef(name=node.name, op=op_type)
    if node.kind == "assign":
        assert node.variable is not None
        nd.input.append(node.variable.node.name)
    nd.input.extend(_input_name(t) for t in node.flat_inputs())
    nd.input.extend(f"^{c.name}" for c in node.control_inputs)
    attrs: dict[str, Any] = {}
    if node.kind == "op":
        assert node.op is not None
        for k, v in node.binding.items():
            attrs[k] = _attr(v)
        for k, v in node.attrs.items():
            attrs[k] = _attr(v)
        provider, version = node.op.provider, node.op.version
    else:
        for k, v in node.attrs.items():
            attrs[k] = _attr(v)
        provider, version = "opcore", 1
    if node.kind in ("placeholder", "variable"):
        out = node.outputs[0]
        attrs["dtype"] = _attr(out.dtype)
        attrs["shape"] = _attr(out.shape)
        if node.kind == "variable":
            assert node.variable is not None
            attrs["trainable"] = _attr(node.variable.trainable)
    elif node.kind == "const":
        out = node.outputs[0]
        attrs["dtype"] = _attr(out.dtype)
        attrs["value"] = attr_pb.AttrValue(tensor=_tensor_proto(np.asarray(node.value), out.dtype))
    elif node.kind == "assign" or node.kind == "host":
        attrs["T"] = _attr(node.outputs[0].dtype)
    if node.outputs:
        shapes = attr_pb.AttrValue.ListValue(shape=[_shape_proto(t.shape) for t in node.outputs])
        attrs["_output_shapes"] = attr_pb.AttrValue(list=shapes)
    key = "provider" if "provider" not in attrs else "_opcore_provider"
    attrs[key] = _attr(provider)
    attrs.setdefault("op_version", _attr(version))
    for k, v in attrs.items():
        if v is not None:
            nd.attr[k].CopyFrom(v)
    return nd


def to_graph_def(graph: Graph) -> Any:
    """``graph`` as a ``GraphDef`` message (TensorBoard's ``tensorboard.compat.proto.graph_pb2``).

    >>> import opcore
    >>> g = opcore.Graph()
    >>> with g.as_default(), opcore.name_scope("layer"):
    ...     x = opcore.placeholder(opcore.float32, [None, 3], name="x")
    ...     y = opcore.reduce_sum(x, axis=1)
    >>> gd = opcore.summary.to_graph_def(g)  # doctest: +SKIP
    >>> [(n.name, n.op) for n in gd.node]  # doctest: +SKIP
    [('layer/x', 'Placeholder'), ('layer/Sum/axis', 'Const'), ('layer/Sum', 'Sum')]
    """
    if not isinstance(graph, Graph):
        raise SummaryError(f"to_graph_def takes an opcore Graph, got {type(graph).__name__}")
    gd = _tb.proto("graph_pb2").GraphDef()
    gd.node.extend(_node_def(node) for node in graph.nodes)
    gd.versions.producer = 1
    return gd


def as_graph_def(graph: Any) -> Any:
    """A ``GraphDef`` for an opcore Graph, a ``GraphDef`` message, or its serialized bytes."""
    graph_pb2 = _tb.proto("graph_pb2")
    if isinstance(graph, Graph):
        return to_graph_def(graph)
    if isinstance(graph, graph_pb2.GraphDef):
        return graph
    if isinstance(graph, (bytes, bytearray)):
        try:
            return graph_pb2.GraphDef.FromString(bytes(graph))
        except Exception as exc:
            raise SummaryError(f"the bytes are not a serialized GraphDef: {exc}") from None
    inner = getattr(graph, "graph", None)  # a Session
    if isinstance(inner, Graph):
        return to_graph_def(inner)
    raise SummaryError(f"cannot write a graph from a {type(graph).__name__}: give an opcore Graph or a GraphDef")
