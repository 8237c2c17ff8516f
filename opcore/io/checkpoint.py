"""Checkpoints: a graph's variables in safetensors, the graph itself as versioned JSON.

One file holds both: the variables (and graph constants) as safetensors
tensors, the graph as JSON in the safetensors metadata. The file is written
atomically, so a crash during a save leaves the previous checkpoint intact.
Loading never executes code: it parses JSON and reads raw tensors, and every
op a graph names must be installed (the error names the op and the
distribution that provided it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from opcore import dtypes as _dt
from opcore.dtypes import DType
from opcore.errors import CheckpointError, OpcoreError
from opcore.graph import Graph, GraphVariable, Node, SymbolicTensor, get_default_graph
from opcore.io.atomic import atomic_write
from opcore.plugins import ensure_loaded
from opcore.registry import get_registry
from opcore.shapes import Shape

__all__ = ["Saver", "export_graph", "import_graph", "import_meta_graph"]

FORMAT = "opcore.graph"
FORMAT_VERSION = 1
_VAR_PREFIX = "variable:"
_CONST_PREFIX = "const:"


# --------------------------------------------------------------------------- graph <-> JSON


def _ref(t: SymbolicTensor) -> list[Any]:
    return [t.node.name, t.index]


def _encode_attr(value: Any) -> Any:
    if isinstance(value, DType):
        return value.name
    if isinstance(value, tuple):
        return [_encode_attr(v) for v in value]
    return value


def export_graph(graph: Graph) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The graph as a JSON-able dict, plus its constants as arrays keyed ``const:NAME``."""
    nodes: list[dict[str, Any]] = []
    consts: dict[str, np.ndarray] = {}
    for node in graph.nodes:
        entry: dict[str, Any] = {"name": node.name, "kind": node.kind}
        if node.kind == "op":
            assert node.op is not None
            entry["op"] = node.op.name
            entry["op_version"] = node.op.version
            entry["provider"] = node.op.provider
            entry["attrs"] = {k: _encode_attr(v) for k, v in node.attrs.items()}
            entry["inputs"] = [[_ref(t) for t in i] if isinstance(i, list) else _ref(i) for i in node.inputs]
        elif node.kind == "placeholder":
            out = node.outputs[0]
            entry["dtype"] = out.dtype.name
            entry["shape"] = None if out.shape.dims is None else list(out.shape.dims)
        elif node.kind == "const":
            consts[_CONST_PREFIX + node.name] = np.asarray(node.value, order="C")
        elif node.kind == "variable":
            assert node.variable is not None
            entry["variable"] = node.variable.name
            entry["trainable"] = node.variable.trainable
            entry["initial_value"] = _ref(node.variable.initial_value)
        elif node.kind == "assign":
            assert node.variable is not None
            entry["variable"] = node.variable.name
            entry["inputs"] = [_ref(node.inputs[0])]
        if node.control_inputs:
            entry["control_inputs"] = [c.name for c in node.control_inputs]
        nodes.append(entry)
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "nodes": nodes}
    return meta, consts


def import_graph(meta: dict[str, Any], consts: dict[str, np.ndarray], graph: Graph | None = None) -> Graph:
    """Rebuild a graph from :func:`export_graph`'s output (into ``graph`` or the default graph)."""
    ensure_loaded()
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"not an opcore graph (format {meta.get('format')!r})")
    if meta.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"graph format version {meta.get('version')} is not supported (this opcore reads version {FORMAT_VERSION})"
        )
    g = graph if graph is not None else get_default_graph()
    reg = get_registry()
    by_name: dict[str, Node] = {}
    variables: dict[str, GraphVariable] = {}

    def tensor(ref: Any) -> SymbolicTensor:
        try:
            name, index = ref
            return by_name[name].outputs[int(index)]
        except (KeyError, IndexError, TypeError, ValueError):
            raise CheckpointError(f"graph refers to a missing tensor {ref!r}") from None

    for entry in meta["nodes"]:
        kind, name = entry["kind"], entry["name"]
        if kind == "op":
            op = reg.ops.get(entry["op"])
            if op is None:
                raise CheckpointError(
                    f"the graph needs op {entry['op']!r} (node {name!r}), provided by distribution "
                    f"{entry.get('provider', '?')!r}, which is not installed here: pip install {entry.get('provider', '?')}"
                )
            if op.version != entry.get("op_version", 1):
                raise CheckpointError(
                    f"the graph was saved with version {entry.get('op_version')} of op {op.name!r}; "
                    f"the installed {op.provider} provides version {op.version}"
                )
            inputs = [[tensor(r) for r in i] if i and isinstance(i[0], list) else tensor(i) for i in entry["inputs"]]
            node = _rebuild_op(g, op, name, inputs, entry.get("attrs", {}))
        elif kind == "placeholder":
            node = g.placeholder(entry["dtype"], entry["shape"], name).node
        elif kind == "const":
            key = _CONST_PREFIX + name
            if key not in consts:
                raise CheckpointError(f"constant {name!r} is missing from the checkpoint")
            node = g.constant(consts[key], _dt.as_dtype(consts[key].dtype), name).node
        elif kind == "variable":
            init = tensor(entry["initial_value"])
            var = GraphVariable.__new__(GraphVariable)
            var.graph, var.name, var.trainable, var.initial_value = g, entry["variable"], entry["trainable"], init
            node = g._new_node("variable", name)
            node.variable = var
            var._read = SymbolicTensor(node, 0, init.dtype, init.shape)
            node.outputs.append(var._read)
            var.node = node
            variables[var.name] = var
            g.variables.append(var)
        elif kind == "assign":
            var = variables.get(entry["variable"])  # type: ignore[assignment]
            if var is None:
                raise CheckpointError(f"assignment {name!r} to unknown variable {entry['variable']!r}")
            out = g._assign(var, tensor(entry["inputs"][0]), name)
            node = out.node
            if not hasattr(var, "initializer"):
                var.initializer = out
        elif kind == "group":
            node = g.group([], name)
        else:
            raise CheckpointError(f"unknown node kind {kind!r} (node {name!r})")
        if node.name != name:
            raise CheckpointError(f"node name {name!r} clashes with an existing node of the graph")
        by_name[name] = node
    for entry in meta["nodes"]:
        for ctrl in entry.get("control_inputs", []):
            if ctrl not in by_name:
                raise CheckpointError(f"node {entry['name']!r} depends on missing node {ctrl!r}")
            by_name[entry["name"]].control_inputs.append(by_name[ctrl])
    return g


def _rebuild_op(g: Graph, op: Any, name: str, inputs: list[Any], attrs: dict[str, Any]) -> Node:
    from opcore.dispatch import bind_type_vars

    bound = op.bind_attrs(attrs)
    binding = bind_type_vars(op, inputs, bound)
    shapes = {a.name: [t.shape for t in i] if a.variadic else i.shape for a, i in zip(op.inputs, inputs)}
    out_shapes, out_dtypes = op.infer(shapes, binding, bound)
    node = g._new_node("op", name, op)
    node.inputs, node.attrs, node.binding = inputs, bound, binding
    node.outputs = [SymbolicTensor(node, i, d, s) for i, (s, d) in enumerate(zip(out_shapes, out_dtypes))]
    return node


# --------------------------------------------------------------------------- files


def _read(path: str) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    if not os.path.exists(path):
        raise CheckpointError(f"no checkpoint at {path!r}")
    try:
        from safetensors import safe_open

        with safe_open(path, framework="numpy") as f:
            metadata = dict(f.metadata() or {})
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint {path!r} is corrupted or truncated: {exc}") from None
    return metadata, tensors


def _meta_from(path: str, metadata: dict[str, str]) -> dict[str, Any]:
    raw = metadata.get("opcore.graph")
    if raw is None:
        raise CheckpointError(f"checkpoint {path!r} holds no graph (it was saved with write_meta_graph=False)")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"the graph in checkpoint {path!r} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"the graph in checkpoint {path!r} is not a JSON object")
    return meta


class Saver:
    """Saves and restores a graph's variables (TensorFlow's ``tf.train.Saver``).

    ``saver.save(sess, "model.ckpt")`` writes one file, ``model.ckpt``;
    ``saver.restore(sess, "model.ckpt")`` loads the variables back;
    ``opcore.train.import_meta_graph("model.ckpt")`` rebuilds the graph first.
    """

    def __init__(self, var_list: Sequence[GraphVariable] | None = None, graph: Graph | None = None) -> None:
        self._var_list = list(var_list) if var_list is not None else None
        self._graph = graph

    def _vars(self, sess: Any) -> list[GraphVariable]:
        if self._var_list is not None:
            return self._var_list
        return list((self._graph or sess.graph).variables)

    def save(self, sess: Any, save_path: str, write_meta_graph: bool = True) -> str:
        from safetensors.numpy import save_file

        tensors: dict[str, np.ndarray] = {}
        for v in self._vars(sess):
            tensors[_VAR_PREFIX + v.name] = np.asarray(sess.variable_value(v), order="C")
        metadata = {"opcore.checkpoint": "1"}
        if write_meta_graph:
            meta, consts = export_graph(sess.graph)
            tensors.update(consts)
            metadata["opcore.graph"] = json.dumps(meta, separators=(",", ":"))
        try:
            with atomic_write(save_path) as tmp:
                save_file(tensors, tmp, metadata=metadata)
        except OSError as exc:
            raise CheckpointError(f"cannot write checkpoint {save_path!r}: {exc}") from None
        return save_path

    def restore(self, sess: Any, save_path: str) -> None:
        metadata, tensors = _read(save_path)
        if metadata.get("opcore.checkpoint") != "1":
            raise CheckpointError(f"{save_path!r} is not an opcore checkpoint")
        for v in self._vars(sess):
            key = _VAR_PREFIX + v.name
            if key not in tensors:
                raise CheckpointError(f"checkpoint {save_path!r} has no value for variable {v.name!r}")
            value = tensors[key]
            if tuple(value.shape) != tuple(v.shape.dims or ()) or value.dtype != v.dtype.np:
                raise CheckpointError(
                    f"checkpoint {save_path!r} holds {value.dtype} {Shape(value.shape)} for variable {v.name!r}, "
                    f"which is {v.dtype} {v.shape}"
                )
            sess.load_variable(v, value)


def import_meta_graph(path: str, graph: Graph | None = None) -> Saver:
    """Rebuild the graph saved in a checkpoint (``path`` or ``path + '.meta'``) and return its Saver."""
    if path.endswith(".meta") and not os.path.exists(path):
        path = path[: -len(".meta")]
    metadata, tensors = _read(path)
    meta = _meta_from(path, metadata)
    try:
        g = import_graph(meta, tensors, graph)
    except CheckpointError:
        raise
    except (OpcoreError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"the graph in checkpoint {path!r} cannot be rebuilt: {exc}") from None
    return Saver(graph=g)
