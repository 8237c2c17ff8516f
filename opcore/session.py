"""Sessions: run the part of a graph that a fetch needs, on one backend.

A session compiles an execution plan once per (fetches, fed tensors, fed
shapes): the needed nodes in topological order, each op's kernel and
KernelContext (output shapes inferred by the same shape functions as eager
execution), and integer slots for the values. Running a plan is one loop over
kernels; values stay on the backend between ops and only feeds and fetches
cross to the host. Variables live in the session.

An update op (``ApplyAdam``, ... : an op declaring ``aliases``) whose outputs
are assigned straight back to the variables it read writes into their buffers
(``ctx.inplace``), as TensorFlow's kernels do, when at run time nothing else
holds those buffers (no other variable, view, fetch or running step): a
training step then allocates nothing for its variables and slots. Such an
update writes only while its run is the session's one run in flight, holding
the session's lock, so another run (or a checkpoint reading the variables)
never sees a buffer half written; with runs in flight in other threads the
update is functional.

An op whose output size depends on values (``where(cond)``, ``boolean_mask``,
``unique``: a dimension marked :data:`~opcore.shapes.VALUE_DEPENDENT`) makes the
shapes after it known only when the plan runs. The ops downstream of it are
planned late: their shapes are inferred from the values that reach them, once
per combination of input shapes (a small cache per step).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from opcore import _context
from opcore._kernels import check_allocation, check_dtypes, check_results, kernel_failed, resolve_kernel
from opcore.backend import Backend, current_backend, get_backend
from opcore.errors import DTypeError, GraphError, KernelContractError, ShapeError
from opcore.graph import Graph, GraphVariable, Node, SymbolicTensor, get_default_graph
from opcore.registry import KernelContext, get_registry
from opcore.shapes import Shape
from opcore.tensor import Tensor

__all__ = ["Session", "get_default_session"]

_OP, _CONST, _READ, _ASSIGN, _NOOP, _LATE, _HOST = range(7)

#: How opcore differs from TensorFlow 1 here, said where a TF1 program trips over it.
_EAGER_HINT = (
    "opcore executes eagerly unless a graph is being built (TensorFlow 1 always builds one): build inside "
    "`with graph.as_default():`, call opcore.disable_eager_execution() at the start of the program, or run "
    "TensorFlow 1 programs through `import opcore.compat.v1 as tf`, whose functions build into the default graph"
)
_EAGER_FETCH = (
    "cannot fetch an eager tensor from a session: it was computed at once and already has its value "
    "(t.numpy()); sessions run graph tensors. " + _EAGER_HINT
)
#: Compiled plans kept per session (one per fetches, feeds and feed shapes), least recently used dropped first.
_MAX_PLANS = 64
#: Kernel contexts kept per late-planned step (one per combination of input shapes seen at run time).
_MAX_LATE_CONTEXTS = 64


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
        # Runs of this session in flight; an in-place update writes only while its run is
        # the one in flight, holding the lock, so no other run starts or reads meanwhile.
        self._running = 0
        self._lock = threading.Lock()

    def __enter__(self) -> Session:
        # As in TensorFlow 1, the session of a ``with`` block is this thread's default
        # session: ``t.eval()`` and ``node.run()`` use it.
        _context.state.sessions.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        sessions = _context.state.sessions
        if sessions and sessions[-1] is self:
            sessions.pop()
        self.close()

    @contextlib.contextmanager
    def as_default(self) -> Iterator[Session]:
        """Make this session this thread's default inside the block, without closing it after."""
        sessions = _context.state.sessions
        sessions.append(self)
        try:
            yield self
        finally:
            if sessions and sessions[-1] is self:
                sessions.pop()

    def close(self) -> None:
        self._values.clear()
        self._consts.clear()
        self._plans.clear()
        self._closed = True

    # -- variables (used by checkpoints) ---------------------------------------------------

    def variable_value(self, var: GraphVariable) -> np.ndarray:
        if var not in self._values:
            raise _uninitialized(var)
        with self._lock:  # never half-way through an in-place update
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
        if isinstance(t, str):
            t = self._by_name(t, "fetch")
        if isinstance(t, (SymbolicTensor, Node)):
            graph = t.graph
            if graph is not self.graph:
                raise GraphError(
                    f"cannot fetch {getattr(t, 'name', t)!r}: it belongs to another graph than this session's"
                )
            out.append(t)
            return lambda it: next(it)
        if isinstance(t, Tensor):
            raise GraphError(_EAGER_FETCH)
        raise GraphError(
            f"cannot fetch a {type(fetches).__name__}: fetch graph tensors, variables, nodes or their names ('x:0')"
        )

    def _by_name(self, name: str, what: str) -> SymbolicTensor | Node:
        """A tensor (``"x:0"``) or, for a fetch, a node (``"train"``) of this session's graph, by name."""
        _, colon, index = name.rpartition(":")
        if colon and index.isdigit():
            return self.graph.get_tensor_by_name(name)
        node = self.graph.get_operation_by_name(name)
        if what == "feed":
            # TensorFlow insists on "x:0"; a node with one output can only mean that output.
            if len(node.outputs) != 1:
                raise GraphError(
                    f"cannot feed {name!r}: node {name!r} has {len(node.outputs)} outputs; name one, e.g. {name + ':0'!r}"
                )
            return node.outputs[0]
        return node

    def _check_feeds(self, feed_dict: dict[Any, Any]) -> list[tuple[SymbolicTensor, np.ndarray]]:
        out = []
        for key, value in feed_dict.items():
            t = key.value() if isinstance(key, GraphVariable) else key
            if isinstance(t, str):
                t = self._by_name(t, "feed")
            if isinstance(t, Tensor):
                raise GraphError(
                    "feed_dict keys must be graph tensors (placeholders); this key is an eager tensor, which "
                    "already has a value and cannot be fed. " + _EAGER_HINT
                )
            if not isinstance(t, SymbolicTensor):
                raise GraphError(
                    f"feed_dict keys must be graph tensors (placeholders) or their names ('x:0'), got {type(key).__name__}"
                )
            if t.graph is not self.graph:
                raise GraphError(f"cannot feed {t.name!r}: it belongs to another graph than this session's")
            if isinstance(value, Tensor):
                value = value.numpy()
            try:
                arr = np.asarray(value)
            except (ValueError, TypeError) as exc:  # ragged nested lists
                raise ShapeError(f"cannot feed {t.name!r}: the value is not a rectangular array ({exc})") from None
            want = t.dtype.np
            weak = not isinstance(value, (np.ndarray, np.generic))
            # Python numbers and lists convert (a weak type); strings, bytes, objects and complex
            # numbers into a real placeholder never do.
            foreign = arr.dtype.kind not in "biufc" or (arr.dtype.kind == "c" and want.kind != "c")
            if arr.dtype != want and (foreign or not (weak or np.can_cast(arr.dtype, want, "same_kind"))):
                raise DTypeError(
                    f"cannot feed {arr.dtype} data to {t.name!r}, which expects {t.dtype}; "
                    f"convert it first, e.g. value.astype({t.dtype.name!r})"
                )
            if weak and arr.dtype.kind in "iu" and want.kind in "iu" and arr.size:
                info = np.iinfo(want)  # type: ignore[type-var]  # (an integer dtype here)
                if arr.min() < info.min or arr.max() > info.max:
                    raise DTypeError(f"cannot feed {t.name!r}: a value is outside the range of {t.dtype}")
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
        # id(SymbolicTensor) -> its shape, or None when a value-dependent op before it decides it at run time
        shapes: dict[int, tuple[int, ...] | None] = {}

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

        def reread(inputs: list[SymbolicTensor]) -> None:
            # A variable is read when the step that uses it runs, as TensorFlow 1's ref
            # variables are: an op ordered after an assignment (by a control dependency)
            # sees the assigned value.
            for t in inputs:
                if t.node.kind == "variable" and id(t) not in fed:
                    plan.steps.append((_READ, t.node.variable, slot(t)))

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
                src, var = node.inputs[0], node.variable
                assert var is not None
                want = var.shape.as_tuple()
                got = shapes[id(src)]
                if got is not None and got != want:
                    raise _assign_mismatch(var, got)
                shapes[id(node.outputs[0])] = want
                reread([src])
                # A value whose shape is only known at run time is checked when it arrives.
                plan.steps.append((_ASSIGN, var, slot(src), slot(node.outputs[0]), want if got is None else None))
            elif kind == "group":
                plan.steps.append((_NOOP,))
            elif kind == "host":
                shapes[id(node.outputs[0])] = ()
                ins = [(slot(t), t.node.kind == "host") for t in node.inputs]
                reread(list(node.inputs))
                plan.steps.append((_HOST, node.value, ins, slot(node.outputs[0])))
            else:
                step = self._compile_op(node, shapes, slot)
                reread(node.flat_inputs())
                plan.steps.append(step)
        plan.fetch_slots = [slot(t) if isinstance(t, SymbolicTensor) else None for t in targets]
        plan.fetch_host = [isinstance(t, SymbolicTensor) and t.node.kind == "host" for t in targets]
        self._plan_updates(plan)
        return plan

    def _compile_op(
        self, node: Node, shapes: dict[int, tuple[int, ...] | None], slot: Callable[[SymbolicTensor], int]
    ) -> tuple[Any, ...]:
        op = node.op
        assert op is not None
        in_shapes: list[Any] = []
        in_slots: list[Any] = []
        for item in node.inputs:
            if isinstance(item, list):
                in_shapes.append([shapes[id(t)] for t in item])
                in_slots.append([slot(t) for t in item])
            else:
                in_shapes.append(shapes[id(item)])
                in_slots.append(slot(item))
        fn = resolve_kernel(op, self.backend, node.binding)
        varies = op.stateful and "seed2" in node.attrs
        out_slots = [slot(t) for t in node.outputs]
        if any(s is None for item in in_shapes for s in (item if isinstance(item, list) else (item,))):
            # An input's shape is decided at run time: plan this op when its inputs arrive.
            for t in node.outputs:
                shapes[id(t)] = None
            late: dict[Any, tuple[KernelContext, list[tuple[Any, Any]]]] = {}
            return (_LATE, fn, late, in_slots, out_slots, None, node, varies, None)
        ctx, specs = self._kernel_context(node, in_shapes)
        for t, (c, _) in zip(node.outputs, specs):
            shapes[id(t)] = None if None in c else c
        return (_OP, fn, ctx, in_slots, out_slots, specs, node, varies, None)

    def _plan_updates(self, plan: _Plan) -> None:
        """Mark the update ops that may write into their variables' buffers (see the module docstring).

        Decided here: every aliased input is a variable read (not fed, not fetched, one
        slot per variable) and the steps right after the op assign each aliased output
        to the variable it aliases, so nothing can see the buffer between the write and
        the assignment. Decided per run (:meth:`_in_place`): nothing else holds the buffers.
        """
        fixed = set(plan.feed_slots) | {s for s in plan.fetch_slots if s is not None}
        steps = plan.steps
        for k, step in enumerate(steps):
            node = step[6] if step[0] == _OP else None
            if node is None or node.op is None or not node.op.aliases:
                continue
            op = node.op
            in_names = [a.name for a in op.inputs]
            out_names = [a.name for a in op.outputs]
            if any(a.variadic for a in op.inputs) or any(a.variadic for a in op.outputs):
                continue
            assigned = set()
            j = k + 1
            while j < len(steps) and steps[j][0] == _ASSIGN:
                assigned.add((steps[j][1], steps[j][2]))  # (variable, source slot)
                j += 1
            pairs: list[tuple[GraphVariable, int]] = []
            for out_name, in_name in op.aliases.items():
                t = node.inputs[in_names.index(in_name)]
                s_in = step[3][in_names.index(in_name)]
                var = t.node.variable if isinstance(t, SymbolicTensor) and t.node.kind == "variable" else None
                if var is None or s_in in fixed or (var, step[4][out_names.index(out_name)]) not in assigned:
                    break
                pairs.append((var, s_in))
            else:
                if len({id(v) for v, _ in pairs}) == len(pairs) == len({s for _, s in pairs}):
                    ctx = step[2]
                    writes = KernelContext(
                        ctx.op, ctx.attrs, ctx.out_shapes, ctx.out_dtypes, ctx.types, ctx.backend, True
                    )
                    steps[k] = (*step[:8], (writes, pairs))

    def _in_place(self, update: tuple[KernelContext, list[tuple[GraphVariable, int]]], vals: list[Any]) -> bool:
        """Whether nothing but the session holds the buffers of the update's variables now."""
        values = self._values
        _, pairs = update
        for var, s in pairs:
            if vals[s] is not values.get(var):
                return False
        for _, s in pairs:  # the step's own reads of them do not count
            vals[s] = None
        try:
            # References to each buffer: the session's, the argument and getrefcount's own
            # (the backend's rule); a view, another variable or slot, a fetched or
            # host-held value adds one.
            return all(self.backend.may_overwrite(values[var]) for var, _ in pairs)
        finally:
            for var, s in pairs:
                vals[s] = values[var]

    def _kernel_context(self, node: Node, in_shapes: list[Any]) -> tuple[KernelContext, list[tuple[Any, Any]]]:
        """The KernelContext and the (shape, dtype) of each output of ``node`` for concrete input shapes."""
        op = node.op
        assert op is not None
        named: dict[str, Any] = {}
        for arg, item in zip(op.inputs, in_shapes):
            named[arg.name] = [Shape(s) for s in item] if isinstance(item, list) else Shape(item)
        out_shapes, out_dtypes = op.infer(named, node.binding, node.attrs)
        concrete: list[tuple[int | None, ...]] = []
        for inferred in out_shapes:
            dims = inferred.dims
            if dims is None or any(d is None and i not in inferred.value_dependent for i, d in enumerate(dims)):
                raise ShapeError(f"{op.name} ({node.name!r}): output shape {inferred} is not known at run time")
            concrete.append(dims)  # None only where the kernel decides (VALUE_DEPENDENT)
        if get_registry().kernel(op.name, self.backend.name, op.type_key(node.binding)) is not None:
            check_dtypes(op, self.backend, node.binding, out_dtypes)
        check_allocation(op, self.backend, concrete, out_dtypes)
        ctx = KernelContext(op.name, node.attrs, tuple(concrete), tuple(out_dtypes), node.binding, self.backend)
        return ctx, list(zip(concrete, out_dtypes))

    def _late_context(
        self, node: Node, cache: dict[Any, Any], args: list[Any]
    ) -> tuple[KernelContext, list[tuple[Any, Any]]]:
        """A late-planned step's context for the shapes of the values that reached it (cached)."""
        shape_of = self.backend.shape_of
        in_shapes = [[shape_of(a) for a in x] if isinstance(x, list) else shape_of(x) for x in args]
        key = tuple(tuple(s) if isinstance(s, list) else s for s in in_shapes)
        made = cache.get(key)
        if made is None:
            if len(cache) >= _MAX_LATE_CONTEXTS:
                cache.clear()
            made = cache[key] = self._kernel_context(node, in_shapes)
        return made

    # -- executing -----------------------------------------------------------------------

    def _execute(self, plan: _Plan, feed_values: list[np.ndarray]) -> list[Any]:
        backend = self.backend
        vals: list[Any] = [None] * plan.n_slots
        # Kernels' value checks (invalid indices on a device) are read when the steps are done,
        # or before a variable takes a value computed after them.
        with self._lock:
            self._running += 1
        try:
            with backend.deferred_checks() as check_pending:
                self._steps(plan, feed_values, vals, check_pending)
        finally:
            with self._lock:
                self._running -= 1
        out: list[Any] = []
        for fs, host in zip(plan.fetch_slots, plan.fetch_host):
            if fs is None:
                out.append(None)
            elif host:
                out.append(vals[fs])
            else:
                out.append(np.array(backend.download(vals[fs]), copy=True))
        return out

    def _steps(
        self, plan: _Plan, feed_values: list[np.ndarray], vals: list[Any], check_pending: Callable[[], None]
    ) -> None:
        backend = self.backend
        v: Any
        for s, v in zip(plan.feed_slots, feed_values):
            vals[s] = backend.upload(v)
        native = backend.native_type
        for step in plan.steps:
            kind = step[0]
            if kind in (_OP, _LATE):
                _, fn, ctx, in_slots, out_slots, specs, node, varies, update = step
                writing = False  # an in-place update holds the lock until its kernel returns
                try:
                    if update is not None:
                        args = result = None  # (the previous step's: they may hold a variable's buffer)
                        self._lock.acquire()
                        writing = True
                        if self._running == 1 and self._in_place(update, vals):
                            check_pending()  # as before an assignment: the variables change here
                            ctx = update[0]
                        else:
                            writing = False
                            self._lock.release()
                    args = [vals[i] if type(i) is int else [vals[j] for j in i] for i in in_slots]
                    if kind == _LATE:
                        ctx, specs = self._late_context(node, ctx, args)
                    if varies:
                        ctx = _reseeded(ctx, self._runs)
                    try:
                        result = fn(ctx, *args)
                    except Exception as exc:
                        kernel_failed(exc, ctx)
                        raise
                finally:
                    if writing:
                        self._lock.release()
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
                _, var, src, s, want = step
                if want is not None and backend.shape_of(vals[src]) != want:
                    raise _assign_mismatch(var, backend.shape_of(vals[src]))
                check_pending()
                self._values[var] = vals[src]
                vals[s] = vals[src]
            elif kind == _HOST:
                _, fn, ins, s = step
                vals[s] = fn(*[vals[i] if host else backend.download(vals[i]) for i, host in ins])


def _assign_mismatch(var: GraphVariable, shape: tuple[int, ...]) -> ShapeError:
    return ShapeError(
        f"cannot assign a value of shape {Shape(shape)} to variable {var.name!r} of shape {var.shape} "
        "(the value's shape became known when the graph ran)"
    )


def get_default_session() -> Session | None:
    """This thread's default session (the innermost ``with Session():`` or ``as_default()``), or None."""
    return _context.default_session()  # type: ignore[no-any-return]


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
