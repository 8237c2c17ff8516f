"""Sessions: run the part of a graph that a fetch needs, on one backend.

A session compiles an execution plan once per (fetches, fed tensors, fed
shapes): the needed nodes in topological order, each op's kernel and
KernelContext (output shapes inferred by the same shape functions as eager
execution), and integer slots for the values. Running a plan is one loop over
kernels; values stay on the backend between ops and only feeds and fetches
cross to the host. Variables live in the session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from opcore._kernels import check_results, kernel_failed, resolve_kernel
from opcore.backend import Backend, current_backend, get_backend
from opcore.errors import DTypeError, GraphError, KernelContractError, ShapeError
from opcore.graph import Graph, GraphVariable, Node, SymbolicTensor, get_default_graph
from opcore.registry import KernelContext
from opcore.shapes import Shape
from opcore.tensor import Tensor

__all__ = ["Session"]

_OP, _CONST, _READ, _ASSIGN, _NOOP, _HOST = range(6)
#: Compiled plans kept per session (one per fetches, feeds and feed shapes), least recently used dropped first.
_MAX_PLANS = 64


class _Plan:
    __slots__ = ("feed_slots", "fetch_host", "fetch_slots", "n_slots", "steps")

    def __init__(self) -> None:
        self.steps: list[tuple[Any, ...]] = []
        self.n_slots = 0
        self.feed_slots: list[int] = []
        self.fetch_slots: list[int | None] = []
        self.fetch_host: list[bool] = []  # fetches that are host values (summaries), returned as they are


class Session:
    """Runs graphs: ``with opcore.Session() as sess: sess.run(fetches, feed_dict)``.

    ``graph`` defaults to the default graph; ``backend`` follows the usual
    selection (argument, ``with opcore.backend(...)``, default, ``OPCORE_BACKEND``).
    """

    def __init__(self, graph: Graph | None = None, backend: str | None = None) -> None:
        self.graph = graph if graph is not None else get_default_graph()
        self.backend: Backend = get_backend(backend) if backend is not None else current_backend()
        self._values: dict[GraphVariable, Any] = {}
        self._consts: dict[int, Any] = {}
        self._plans: dict[Any, _Plan] = {}
        self._runs = 0
        self._closed = False

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._values.clear()
        self._consts.clear()
        self._plans.clear()
        self._closed = True

    # -- variables (used by checkpoints) ---------------------------------------------------

    def variable_value(self, var: GraphVariable) -> np.ndarray:
        if var not in self._values:
            raise _uninitialized(var)
        return np.array(self.backend.download(self._values[var]))

    def load_variable(self, var: GraphVariable, value: np.ndarray) -> None:
        value = np.asarray(value)
        if tuple(value.shape) != var.shape.as_tuple() or value.dtype != var.dtype.np:
            raise ShapeError(
                f"cannot load a {value.dtype} array of shape {value.shape} into variable {var.name!r} "
                f"({var.dtype}, shape {var.shape})"
            )
        self._values[var] = self.backend.upload(np.array(value, order="C"))

    # -- running -------------------------------------------------------------------------

    def run(self, fetches: Any, feed_dict: dict[Any, Any] | None = None) -> Any:
        """Evaluate ``fetches`` (a tensor, variable, update, node, or a nested list/tuple/dict of them).

        Returns the same structure with NumPy arrays (None for nodes without a value).
        """
        if self._closed:
            raise GraphError("this session is closed")
        targets: list[SymbolicTensor | Node] = []
        rebuild = self._flatten(fetches, targets)
        feeds = self._check_feeds(feed_dict or {})
        key = (tuple(map(id, targets)), tuple((id(t), v.shape) for t, v in feeds))
        plan = self._plans.pop(key, None)
        if plan is None:
            plan = self._compile(targets, feeds)
            while len(self._plans) >= _MAX_PLANS:  # the least recently used plan goes first
                del self._plans[next(iter(self._plans))]
        self._plans[key] = plan  # (re)inserted last: dicts keep insertion order
        self._runs += 1
        values = self._execute(plan, [v for _, v in feeds])
        return rebuild(iter(values))

    def _flatten(self, fetches: Any, out: list[SymbolicTensor | Node]) -> Callable[[Any], Any]:
        if isinstance(fetches, (list, tuple)):
            parts = [self._flatten(f, out) for f in fetches]
            kind = type(fetches)
            if kind is tuple or kind is list:
                return lambda it: kind(p(it) for p in parts)
            return lambda it: kind(*[p(it) for p in parts])  # namedtuple
        if isinstance(fetches, dict):
            keys = list(fetches)
            parts = [self._flatten(fetches[k], out) for k in keys]
            return lambda it: {k: p(it) for k, p in zip(keys, parts)}
        t = fetches.value() if isinstance(fetches, GraphVariable) else fetches
        if isinstance(t, (SymbolicTensor, Node)):
            graph = t.graph
            if graph is not self.graph:
                raise GraphError(
                    f"cannot fetch {getattr(t, 'name', t)!r}: it belongs to another graph than this session's"
                )
            out.append(t)
            return lambda it: next(it)
        if isinstance(t, Tensor):
            raise GraphError("fetches must be graph tensors; an eager tensor already has its value (t.numpy())")
        raise GraphError(f"cannot fetch a {type(fetches).__name__}: fetch graph tensors, variables or nodes")

    def _check_feeds(self, feed_dict: dict[Any, Any]) -> list[tuple[SymbolicTensor, np.ndarray]]:
        out = []
        for key, value in feed_dict.items():
            t = key.value() if isinstance(key, GraphVariable) else key
            if not isinstance(t, SymbolicTensor):
                raise GraphError(f"feed_dict keys must be graph tensors (placeholders), got {type(key).__name__}")
            if t.graph is not self.graph:
                raise GraphError(f"cannot feed {t.name!r}: it belongs to another graph than this session's")
            if isinstance(value, Tensor):
                value = value.numpy()
            arr = np.asarray(value)
            want = t.dtype.np
            weak = not isinstance(value, (np.ndarray, np.generic))
            if arr.dtype != want and not (weak or np.can_cast(arr.dtype, want, "same_kind")):
                raise DTypeError(
                    f"cannot feed {arr.dtype} data to {t.name!r}, which expects {t.dtype}; "
                    f"convert it first, e.g. value.astype({t.dtype.name!r})"
                )
            if not t.shape.is_compatible_with(arr.shape):
                raise ShapeError(
                    f"cannot feed a value of shape {Shape(arr.shape)} to {t.name!r}, which has shape {t.shape}"
                )
            out.append((t, np.asarray(arr, dtype=want, order="C")))
        return out

    # -- compiling -----------------------------------------------------------------------

    def _compile(self, targets: list[SymbolicTensor | Node], feeds: list[tuple[SymbolicTensor, np.ndarray]]) -> _Plan:
        plan = _Plan()
        slots: dict[int, int] = {}  # id(SymbolicTensor) -> slot
        shapes: dict[int, tuple[int, ...]] = {}

        def slot(t: SymbolicTensor) -> int:
            s = slots.get(id(t))
            if s is None:
                s = slots[id(t)] = plan.n_slots
                plan.n_slots += 1
            return s

        fed = {id(t): v for t, v in feeds}
        for t, v in feeds:
            plan.feed_slots.append(slot(t))
            shapes[id(t)] = tuple(v.shape)

        needed: dict[int, Node] = {}
        stack: list[tuple[Node, str]] = [((t.node if isinstance(t, SymbolicTensor) else t), _label(t)) for t in targets]
        while stack:
            node, why = stack.pop()
            if node.id in needed:
                continue
            if node.outputs and all(id(o) in fed for o in node.outputs):
                continue
            if node.kind == "placeholder":
                out = node.outputs[0]
                raise GraphError(
                    f"missing a feed for placeholder {out.name!r} ({out.dtype}, shape {out.shape}), "
                    f"needed to compute {why}; pass it in feed_dict"
                )
            needed[node.id] = node
            for inp in node.flat_inputs():
                stack.append((inp.node, why))
            for ctrl in node.control_inputs:
                stack.append((ctrl, why))

        for node in sorted(needed.values(), key=lambda n: n.id):
            kind = node.kind
            if kind == "const":
                out = node.outputs[0]
                shapes[id(out)] = tuple(node.value.shape)
                plan.steps.append((_CONST, node.id, node.value, slot(out)))
            elif kind == "variable":
                out = node.outputs[0]
                shapes[id(out)] = out.shape.as_tuple()
                plan.steps.append((_READ, node.variable, slot(out)))
            elif kind == "assign":
                src = node.inputs[0]
                shapes[id(node.outputs[0])] = shapes[id(src)]
                plan.steps.append((_ASSIGN, node.variable, slot(src), slot(node.outputs[0])))
            elif kind == "group":
                plan.steps.append((_NOOP,))
            elif kind == "host":
                shapes[id(node.outputs[0])] = ()
                ins = [(slot(t), t.node.kind == "host") for t in node.inputs]
                plan.steps.append((_HOST, node.value, ins, slot(node.outputs[0])))
            else:
                plan.steps.append(self._compile_op(node, shapes, slot))
        plan.fetch_slots = [slot(t) if isinstance(t, SymbolicTensor) else None for t in targets]
        plan.fetch_host = [isinstance(t, SymbolicTensor) and t.node.kind == "host" for t in targets]
        return plan

    def _compile_op(
        self, node: Node, shapes: dict[int, tuple[int, ...]], slot: Callable[[SymbolicTensor], int]
    ) -> tuple[Any, ...]:
        op = node.op
        assert op is not None
        in_shapes: dict[str, Any] = {}
        in_slots: list[Any] = []
        for arg, item in zip(op.inputs, node.inputs):
            if isinstance(item, list):
                in_shapes[arg.name] = [Shape(shapes[id(t)]) for t in item]
                in_slots.append([slot(t) for t in item])
            else:
                in_shapes[arg.name] = Shape(shapes[id(item)])
                in_slots.append(slot(item))
        out_shapes, out_dtypes = op.infer(in_shapes, node.binding, node.attrs)
        concrete: list[tuple[int, ...]] = []
        for inferred in out_shapes:
            if not inferred.is_fully_defined:
                raise ShapeError(f"{op.name} ({node.name!r}): output shape {inferred} is not known at run time")
            concrete.append(inferred.as_tuple())
        for t, c in zip(node.outputs, concrete):
            shapes[id(t)] = c
        fn = resolve_kernel(op, self.backend, node.binding)
        ctx = KernelContext(op.name, node.attrs, tuple(concrete), tuple(out_dtypes), node.binding, self.backend)
        varies = op.stateful and "seed2" in node.attrs
        out_slots = [slot(t) for t in node.outputs]
        return (_OP, fn, ctx, in_slots, out_slots, [(s, d) for s, d in zip(concrete, out_dtypes)], node, varies)

    # -- executing -----------------------------------------------------------------------

    def _execute(self, plan: _Plan, feed_values: list[np.ndarray]) -> list[Any]:
        backend = self.backend
        vals: list[Any] = [None] * plan.n_slots
        v: Any
        for s, v in zip(plan.feed_slots, feed_values):
            vals[s] = backend.upload(v)
        native = backend.native_type
        for step in plan.steps:
            kind = step[0]
            if kind == _OP:
                _, fn, ctx, in_slots, out_slots, specs, node, varies = step
                if varies:
                    ctx = _reseeded(ctx, self._runs)
                args = [vals[i] if type(i) is int else [vals[j] for j in i] for i in in_slots]
                try:
                    result = fn(ctx, *args)
                except Exception as exc:
                    kernel_failed(exc, ctx)
                    raise
                if len(out_slots) == 1 and not isinstance(result, (tuple, list)):
                    (shape, dtype), s = specs[0], out_slots[0]
                    same_type = type(result) is native  # (kept apart: no narrowing of result)
                    if not same_type or result.shape != shape or result.dtype != dtype.np:
                        _checked(node, backend, (result,), specs)
                    vals[s] = result
                    continue
                results = result if isinstance(result, (tuple, list)) else (result,)
                _checked(node, backend, results, specs)
                for r, s in zip(results, out_slots):
                    vals[s] = r
            elif kind == _CONST:
                _, key, value, s = step
                v = self._consts.get(key)
                if v is None:
                    v = self._consts[key] = backend.upload(value)
                vals[s] = v
            elif kind == _READ:
                _, var, s = step
                v = self._values.get(var)
                if v is None:
                    raise _uninitialized(var)
                vals[s] = v
            elif kind == _ASSIGN:
                _, var, src, s = step
                self._values[var] = vals[src]
                vals[s] = vals[src]
            elif kind == _HOST:
                _, fn, ins, s = step
                vals[s] = fn(*[vals[i] if host else backend.download(vals[i]) for i, host in ins])
        out: list[Any] = []
        for fs, host in zip(plan.fetch_slots, plan.fetch_host):
            if fs is None:
                out.append(None)
            elif host:
                out.append(vals[fs])
            else:
                out.append(np.array(backend.download(vals[fs]), copy=True))
        return out


def _reseeded(ctx: KernelContext, run: int) -> KernelContext:
    # A stateful (random) op draws new values on every run, reproducibly: fold the run
    # count into its second seed.
    attrs = dict(ctx.attrs)
    attrs["seed2"] = (int(attrs["seed2"]) + 0x9E3779B1 * run) % (2**31 - 1)
    return KernelContext(ctx.op, attrs, ctx.out_shapes, ctx.out_dtypes, ctx.types, ctx.backend)


def _label(t: SymbolicTensor | Node) -> str:
    return repr(t.name)


def _uninitialized(var: GraphVariable) -> GraphError:
    return GraphError(
        f"variable {var.name!r} is not initialized in this session; run "
        "sess.run(opcore.global_variables_initializer()) (or its .initializer) first, or restore a checkpoint"
    )


def _checked(node: Node, backend: Backend, results: Any, specs: Any) -> None:
    assert node.op is not None
    try:
        check_results(node.op, backend, results, specs)
    except KernelContractError as exc:
        raise KernelContractError(f"node {node.name!r}: {exc}") from None
