"""A graph as versioned JSON (and its constants as arrays): export, and an import that checks
every field before building anything.

``export_graph`` gives the JSON object and the constants; ``import_graph`` checks
the structure (types, ranges, references only to earlier nodes, so no cycles;
every op installed at its recorded version) and then builds all nodes or none.
Checkpoints (:mod:`opcore.io.checkpoint`) store both inside their files.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from opcore import dtypes as _dt
from opcore.dtypes import DType
from opcore.errors import CheckpointError, DTypeError, OpcoreError
from opcore.graph import Graph, GraphVariable, Node, SymbolicTensor, get_default_graph
from opcore.io._json import expect, expect_bool, expect_int, expect_keys, expect_str
from opcore.plugins import ensure_loaded
from opcore.registry import get_registry, install_hint

__all__ = ["FORMAT", "FORMAT_VERSION", "export_graph", "import_graph"]

FORMAT = "opcore.graph"
FORMAT_VERSION = 1
_CONST_PREFIX = "const:"


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
        if node.kind == "host":
            continue  # Python run on the host (summaries): code, which a graph file never holds
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
        controls = [c.name for c in node.control_inputs if c.kind != "host"]
        if controls:
            entry["control_inputs"] = controls
        nodes.append(entry)
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "nodes": nodes}
    return meta, consts


_NODE_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    # kind: (required fields, optional fields)
    "op": ({"name", "kind", "op", "op_version", "provider", "attrs", "inputs"}, {"control_inputs"}),
    "placeholder": ({"name", "kind", "dtype", "shape"}, {"control_inputs"}),
    "const": ({"name", "kind"}, {"control_inputs"}),
    "variable": ({"name", "kind", "variable", "trainable", "initial_value"}, {"control_inputs"}),
    "assign": ({"name", "kind", "variable", "inputs"}, {"control_inputs"}),
    "group": ({"name", "kind"}, {"control_inputs"}),
}
#: Most outputs one node of a loaded graph may declare, and the highest rank of a placeholder.
MAX_OUTPUTS = 4096
MAX_RANK = 64


def _check_ref(ref: Any, what: str, earlier: dict[str, int]) -> None:
    """A tensor reference ``[node name, output index]`` to a node defined before this one."""
    expect(ref, list, what)
    if len(ref) != 2:
        raise CheckpointError(f"{what} must be [node name, output index], found {ref!r}")
    name = expect_str(ref[0], f"{what}: the node name")
    expect_int(ref[1], f"{what}: the output index", 0, MAX_OUTPUTS - 1)
    if name not in earlier:
        raise CheckpointError(f"{what} refers to node {name!r}, which is not defined before it (missing, or a cycle)")


def _check_graph(meta: Any, consts: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Check the whole structure of a graph's JSON before anything is built; return its node entries.

    Every field's type and range is checked; references must point to nodes
    defined earlier (so a graph with a cycle is refused); every op must be
    installed at the recorded version.
    """
    expect(meta, dict, "the graph")
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"not an opcore graph (format {meta.get('format')!r}, expected {FORMAT!r})")
    if meta.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"graph format version {meta.get('version')!r} is not supported (this opcore reads version "
            f"{FORMAT_VERSION})"
        )
    expect_keys(meta, {"format", "version", "nodes"}, set(), "the graph")
    nodes: list[dict[str, Any]] = expect(meta["nodes"], list, "the graph's 'nodes'")
    reg = get_registry()
    earlier: dict[str, int] = {}
    variables: set[str] = set()
    for position, entry in enumerate(nodes):
        where = f"node #{position}"
        expect(entry, dict, where)
        name = expect_str(entry.get("name"), f"{where}: 'name'")
        where = f"node #{position} ({name!r})"
        if not name or ":" in name or name != name.strip("/"):
            raise CheckpointError(f"{where}: a node name must be non-empty, without ':' and without a leading or "
                                  "trailing '/'")  # fmt: skip
        if name in earlier:
            raise CheckpointError(f"{where}: the name is used by node #{earlier[name]} too")
        kind = entry.get("kind")
        if not isinstance(kind, str) or kind not in _NODE_FIELDS:
            raise CheckpointError(f"{where}: unknown node kind {kind!r}; known: {', '.join(_NODE_FIELDS)}")
        expect_keys(entry, *_NODE_FIELDS[kind], where)
        for i, ctrl in enumerate(expect(entry.get("control_inputs", []), list, f"{where}: 'control_inputs'")):
            ctrl = expect_str(ctrl, f"{where}: control input #{i}")
            if ctrl not in earlier:
                raise CheckpointError(
                    f"{where} depends on node {ctrl!r}, which is not defined before it (missing, or a cycle)"
                )
        if kind == "op":
            op_name = expect_str(entry["op"], f"{where}: 'op'")
            version = expect_int(entry["op_version"], f"{where}: 'op_version'", 1, 2**31)
            provider = expect_str(entry["provider"], f"{where}: 'provider'")
            expect(entry["attrs"], dict, f"{where}: 'attrs'")
            op = reg.ops.get(op_name)
            if op is None:
                raise CheckpointError(
                    f"the graph needs op {op_name!r} (node {name!r}), provided by distribution "
                    f"{provider!r}, which is not installed here: {install_hint(provider)}"
                )
            if op.version != version:
                raise CheckpointError(
                    f"the graph was saved with version {version} of op {op.name!r}; "
                    f"the installed {op.provider} provides version {op.version}"
                )
            inputs = expect(entry["inputs"], list, f"{where}: 'inputs'")
            if len(inputs) != len(op.inputs):
                raise CheckpointError(
                    f"{where}: op {op.name} takes {len(op.inputs)} input(s), the file gives {len(inputs)}"
                )
            for arg, item in zip(op.inputs, inputs):
                what = f"{where}: input {arg.name!r}"
                if arg.variadic:
                    for j, ref in enumerate(expect(item, list, what)):
                        _check_ref(ref, f"{what} #{j}", earlier)
                else:
                    _check_ref(item, what, earlier)
        elif kind == "placeholder":
            _check_dtype(entry["dtype"], f"{where}: 'dtype'")
            shape = entry["shape"]
            if shape is not None:
                expect(shape, list, f"{where}: 'shape'")
                if len(shape) > MAX_RANK:
                    raise CheckpointError(f"{where}: 'shape' has rank {len(shape)}; at most {MAX_RANK} is allowed")
                for i, dim in enumerate(shape):
                    if dim is not None:
                        expect_int(dim, f"{where}: dimension {i} of 'shape'")
        elif kind == "const":
            key = _CONST_PREFIX + name
            if key not in consts:
                raise CheckpointError(f"constant {name!r} is missing from the checkpoint")
            _check_dtype(consts[key].dtype, f"{where}: the constant's dtype")
        elif kind == "variable":
            var_name = expect_str(entry["variable"], f"{where}: 'variable'")
            if var_name in variables:
                raise CheckpointError(f"{where}: variable {var_name!r} is defined twice")
            variables.add(var_name)
            expect_bool(entry["trainable"], f"{where}: 'trainable'")
            _check_ref(entry["initial_value"], f"{where}: 'initial_value'", earlier)
        elif kind == "assign":
            var_name = expect_str(entry["variable"], f"{where}: 'variable'")
            if var_name not in variables:
                raise CheckpointError(f"assignment {name!r} to unknown variable {var_name!r}")
            inputs = expect(entry["inputs"], list, f"{where}: 'inputs'")
            if len(inputs) != 1:
                raise CheckpointError(f"{where}: an assignment takes exactly one input, the file gives {len(inputs)}")
            _check_ref(inputs[0], f"{where}: input", earlier)
        earlier[name] = position
    return nodes


def _check_dtype(value: Any, what: str) -> DType:
    try:
        return _dt.as_dtype(value if isinstance(value, np.dtype) else expect_str(value, what, 64))
    except DTypeError as exc:
        raise CheckpointError(f"{what}: {exc}") from None


@contextlib.contextmanager
def _all_or_nothing(g: Graph) -> Iterator[None]:
    """On any exception, take ``g`` back to its state on entry (nodes, names, variables)."""
    n_nodes, n_vars = len(g.nodes), len(g.variables)
    names, counters = set(g._names), set(g._counts)
    try:
        yield
    except BaseException:
        del g.nodes[n_nodes:]
        del g.variables[n_vars:]
        g._names.intersection_update(names)
        for key in set(g._counts) - counters:
            del g._counts[key]
        raise


def import_graph(meta: dict[str, Any], consts: dict[str, np.ndarray], graph: Graph | None = None) -> Graph:
    """Rebuild a graph from :func:`export_graph`'s output (into ``graph`` or the default graph).

    All or nothing: the whole structure is checked before the first node is
    added, and if building still fails, ``graph`` is left exactly as it was.
    Any problem raises :class:`~opcore.errors.CheckpointError` naming it.
    """
    ensure_loaded()
    entries = _check_graph(meta, consts)
    g = graph if graph is not None else get_default_graph()
    taken = [e["name"] for e in entries if e["name"] in g._names]
    if taken:
        raise CheckpointError(
            f"the graph cannot be imported: node name(s) {', '.join(map(repr, taken[:5]))} already exist in the "
            "target graph; import into a fresh opcore.Graph()"
        )
    with _all_or_nothing(g):
        _build(g, entries, consts)
    return g


def _build(g: Graph, entries: list[dict[str, Any]], consts: dict[str, np.ndarray]) -> None:
    reg = get_registry()
    by_name: dict[str, Node] = {}
    variables: dict[str, GraphVariable] = {}

    def tensor(ref: list[Any], what: str) -> SymbolicTensor:
        node, index = by_name[ref[0]], int(ref[1])
        if index >= len(node.outputs):
            raise CheckpointError(f"{what} refers to output {index} of node {ref[0]!r}, which has {len(node.outputs)}")
        return node.outputs[index]

    for entry in entries:
        kind, name = entry["kind"], entry["name"]
        where = f"node {name!r}"
        node: Node
        if kind == "op":
            op = reg.ops[entry["op"]]
            inputs = [
                [tensor(r, where) for r in item] if arg.variadic else tensor(item, where)
                for arg, item in zip(op.inputs, entry["inputs"])
            ]
            node = _rebuild_op(g, op, name, inputs, entry["attrs"])
        elif kind == "placeholder":
            node = g.placeholder(entry["dtype"], entry["shape"], name).node
        elif kind == "const":
            value = consts[_CONST_PREFIX + name]
            node = g.constant(value, _dt.as_dtype(value.dtype), name).node
        elif kind == "variable":
            init = tensor(entry["initial_value"], where)
            if not init.shape.is_fully_defined:
                raise CheckpointError(f"{where}: the initial value's shape {init.shape} must be known")
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
            var = variables[entry["variable"]]
            try:
                out = g._assign(var, tensor(entry["inputs"][0], where), name)
            except OpcoreError as exc:
                raise CheckpointError(f"{where}: {exc}") from None
            node = out.node
            if not hasattr(var, "initializer"):
                var.initializer = out
        else:
            node = g.group([], name)
        if node.name != name:
            raise CheckpointError(f"node name {name!r} clashes with an existing node of the graph")
        node.control_inputs.extend(by_name[c] for c in entry.get("control_inputs", []))
        by_name[name] = node
    for var in variables.values():
        if not hasattr(var, "initializer"):
            raise CheckpointError(f"variable {var.name!r} has no initializer (assign node) in the graph")


def _rebuild_op(g: Graph, op: Any, name: str, inputs: list[Any], attrs: dict[str, Any]) -> Node:
    from opcore.dispatch import bind_type_vars

    where = f"node {name!r} (op {op.name})"
    try:
        bound = op.bind_attrs(attrs)
        n_outputs = op.num_outputs(bound)
        if not 0 <= n_outputs <= MAX_OUTPUTS:
            raise CheckpointError(f"{where} declares {n_outputs} outputs; at most {MAX_OUTPUTS} are allowed")
        binding = bind_type_vars(op, inputs, bound)
        shapes = {a.name: [t.shape for t in i] if a.variadic else i.shape for a, i in zip(op.inputs, inputs)}
        out_shapes, out_dtypes = op.infer(shapes, binding, bound)
    except CheckpointError:
        raise
    except Exception as exc:  # the op's own checks and shape function, given the file's attributes
        raise CheckpointError(f"{where} cannot be rebuilt from the file: {type(exc).__name__}: {exc}") from exc
    node = g._new_node("op", name, op)
    node.inputs, node.attrs, node.binding = inputs, bound, binding
    node.outputs = [SymbolicTensor(node, i, d, s) for i, (s, d) in enumerate(zip(out_shapes, out_dtypes))]
    return node
