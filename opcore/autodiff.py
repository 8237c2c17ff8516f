"""Reverse-mode automatic differentiation for eager tensors.

A :class:`GradientTape` records every op call whose inputs it tracks (watched
tensors, trainable variables read inside it, and what was computed from them).
``tape.gradient`` walks the record backwards, calling each op's registered
gradient function. Gradient functions are written with ops, so the backward
pass is itself recorded by any outer tape: nest tapes for higher derivatives.

>>> import opcore
>>> x = opcore.constant(3.0)
>>> with opcore.GradientTape() as outer:
...     outer.watch(x)
...     with opcore.GradientTape() as inner:
...         inner.watch(x)
...         y = x * x * x
...     dy = inner.gradient(y, x)
>>> float(dy), float(outer.gradient(dy, x))
(27.0, 18.0)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from opcore import _context, dispatch
from opcore.errors import GradientError
from opcore.registry import GradContext, OpDef
from opcore.tensor import Tensor, Variable

__all__ = ["GradientTape", "backprop", "gradients"]


class _Entry:
    """One op call to differentiate: a tape's record or a graph node."""

    __slots__ = ("attrs", "inputs", "label", "op", "outputs")

    def __init__(
        self, op: OpDef, inputs: Sequence[Any], outputs: Sequence[Any], attrs: Mapping[str, Any], label: str = ""
    ) -> None:
        self.op = op
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self.attrs = attrs
        self.label = label


def _flat(inputs: Sequence[Any]) -> list[Tensor]:
    return [x for item in inputs for x in (item if isinstance(item, list) else (item,))]


def backprop(entries: Iterable[_Entry], grads: dict[int, Any], wanted: Callable[[Any], bool]) -> None:
    """The one backward walk, for tapes and graphs alike.

    ``entries`` are the recorded (or graph) op calls, last first; ``grads`` maps
    ``id(tensor)`` to its gradient so far and receives the results; ``wanted(x)``
    says whether input ``x`` needs a gradient (tracked by the tape, or on a path
    from a source in the graph). A missing output gradient reaches the gradient
    function as ``None``, never as materialised zeros, and ``ctx.needs`` tells it
    which inputs' gradients to compute.
    """
    from opcore.ops.math import add

    for entry in entries:
        dys = [grads.get(id(o)) for o in entry.outputs]
        if all(d is None for d in dys):
            continue
        op = entry.op
        if not op.differentiable:
            continue
        needs = tuple(any(wanted(xi) for xi in x) if isinstance(x, list) else wanted(x) for x in entry.inputs)
        if not any(needs):
            continue
        if op.gradient is None:
            if op.composite is not None:
                continue  # its parts were recorded and carry the gradient
            raise GradientError(
                f"op {op.name!r}{entry.label} (from {op.provider}) is differentiable but has no registered "
                "gradient. Give its OpDef a gradient=fn, or declare it differentiable=False if no gradient exists."
            )
        ctx = GradContext(op, entry.inputs, entry.outputs, entry.attrs, needs)
        grouped = dispatch.group_outputs(op, entry.attrs, dys)  # like the op's return value
        dxs = op.gradient(ctx, *([grouped] if len(op.outputs) == 1 else grouped))
        if len(dxs) != len(entry.inputs):
            raise GradientError(
                f"the gradient of {op.name!r} returned {len(dxs)} values for {len(entry.inputs)} inputs"
            )
        for x, dx in zip(entry.inputs, dxs):
            pairs = zip(x, dx or [None] * len(x)) if isinstance(x, list) else ((x, dx),)
            for xi, dxi in pairs:
                if dxi is None or not wanted(xi):
                    continue
                prev = grads.get(id(xi))
                grads[id(xi)] = dxi if prev is None else add(prev, dxi)


class GradientTape:
    """Records eager op calls for differentiation (TensorFlow's ``tf.GradientTape``).

    ``persistent=True`` allows several ``gradient`` calls; by default the
    tape is spent after the first. ``watch_accessed_variables`` makes
    trainable variables read inside the tape watched automatically.
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True) -> None:
        self.persistent = persistent
        self.watch_accessed_variables = watch_accessed_variables
        self._entries: list[_Entry] = []
        self._tracked: dict[int, Tensor] = {}
        self._variables: dict[int, Variable] = {}
        self._recording = False
        self._used = False

    # -- recording -----------------------------------------------------------------

    def __enter__(self) -> GradientTape:
        if self._recording:
            raise GradientError("this GradientTape is already recording; nest a new tape instead")
        self._recording = True
        _context.start_tape(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._recording:
            _context.stop_tape(self)
            self._recording = False

    def watch(self, tensor: Any) -> None:
        """Track ``tensor`` (or a variable, or a list of them)."""
        items = tensor if isinstance(tensor, (list, tuple)) else [tensor]
        for t in items:
            if isinstance(t, Variable):
                self._variables[id(t)] = t
                t = t.value()
            if not isinstance(t, Tensor):
                raise GradientError(f"GradientTape.watch takes tensors or variables, got {type(t).__name__}")
            self._tracked[id(t)] = t

    def watch_variable(self, var: Variable) -> None:
        if self.watch_accessed_variables and var.trainable and self._recording:
            self._variables[id(var)] = var
            t = var.value()
            self._tracked[id(t)] = t

    def watched_variables(self) -> list[Variable]:
        return list(self._variables.values())

    def record(self, op: OpDef, inputs: Sequence[Any], outputs: Sequence[Tensor], attrs: dict[str, Any]) -> None:
        if not any(id(x) in self._tracked for x in _flat(inputs)):
            return
        if op.differentiable or op.composite is not None:
            for o in outputs:
                self._tracked[id(o)] = o
        self._entries.append(_Entry(op, inputs, outputs, attrs))

    @property
    def recording(self) -> bool:
        return self._recording

    def stop_recording(self) -> _Paused:
        """``with tape.stop_recording():`` runs ops without recording them."""
        return _Paused(self)

    def reset(self) -> None:
        self._entries.clear()
        self._tracked.clear()
        self._variables.clear()

    # -- differentiation ---------------------------------------------------------

    def gradient(
        self,
        target: Any,
        sources: Any,
        output_gradients: Any = None,
        unconnected_gradients: str = "none",
    ) -> Any:
        """d(sum of ``target``)/d``sources``; ``sources`` may be a tensor, a variable or a (nested) list.

        Returns the same structure; an unconnected source gives None
        (or zeros with ``unconnected_gradients="zero"``).
        """
        from opcore.ops.array import ones_like, zeros_like
        from opcore.ops.math import add

        if self._used and not self.persistent:
            raise GradientError(
                "a non-persistent GradientTape can compute gradients once; use GradientTape(persistent=True)"
            )
        if unconnected_gradients not in ("none", "zero"):
            raise GradientError(f"unconnected_gradients must be 'none' or 'zero', got {unconnected_gradients!r}")
        self._used = True
        was_recording = self._recording
        self._stop()  # the backward pass is recorded by outer tapes only
        try:
            targets = target if isinstance(target, (list, tuple)) else [target]
            targets = [t.value() if isinstance(t, Variable) else t for t in targets]
            if output_gradients is None:
                seeds = [ones_like(t) for t in targets]
            else:
                seeds = list(output_gradients) if isinstance(output_gradients, (list, tuple)) else [output_gradients]
            grads: dict[int, Any] = {}
            for t, g in zip(targets, seeds):
                grads[id(t)] = g if id(t) not in grads else add(grads[id(t)], g)
            tracked = self._tracked
            backprop(reversed(self._entries), grads, lambda x: id(x) in tracked and x.dtype.is_floating)
            return self._collect(sources, grads, unconnected_gradients, zeros_like)
        finally:
            if was_recording and self.persistent:
                self._recording = True
                _context.start_tape(self)
            if not self.persistent:
                self._entries.clear()

    def _collect(self, sources: Any, grads: dict[int, Any], unconnected: str, zeros_like: Any) -> Any:
        if isinstance(sources, (list, tuple)):
            return type(sources)(self._collect(s, grads, unconnected, zeros_like) for s in sources)
        if isinstance(sources, dict):
            return {k: self._collect(v, grads, unconnected, zeros_like) for k, v in sources.items()}
        src = sources.value() if isinstance(sources, Variable) else sources
        if not isinstance(src, Tensor):
            raise GradientError(f"gradient sources must be tensors or variables, got {type(sources).__name__}")
        g = grads.get(id(src))
        if g is None and unconnected == "zero":
            return zeros_like(src)
        return g


class _Paused:
    def __init__(self, tape: GradientTape) -> None:
        self.tape = tape
        self.was = False

    def __enter__(self) -> None:
        self.was = self.tape.recording
        self.tape._stop()

    def __exit__(self, *exc: object) -> None:
        if self.was:
            self.tape._recording = True
            _context.start_tape(self.tape)


def gradients(ys: Any, xs: Any, grad_ys: Any = None) -> list[Any]:
    """Graph-mode autodiff: symbolic d(sum of ``ys``)/d``xs`` (TensorFlow's ``tf.gradients``).

    Builds the gradient subgraph from the ops' registered gradients; the result
    is a list with one tensor (or None, if unconnected) per entry of ``xs``.
    Gradients are themselves ops, so ``gradients`` of a gradient works.
    """
    from opcore.graph import GraphVariable, SymbolicTensor
    from opcore.ops.array import ones_like
    from opcore.ops.math import add

    y_list = list(ys) if isinstance(ys, (list, tuple)) else [ys]
    x_list = list(xs) if isinstance(xs, (list, tuple)) else [xs]
    y_list = [y.value() if isinstance(y, GraphVariable) else y for y in y_list]
    x_list = [x.value() if isinstance(x, GraphVariable) else x for x in x_list]
    for t in y_list + x_list:
        if not isinstance(t, SymbolicTensor):
            raise GradientError(
                f"opcore.gradients works on graph tensors, got {type(t).__name__}; "
                "for eager tensors use opcore.GradientTape"
            )
    graph = y_list[0].graph
    if any(t.graph is not graph for t in y_list + x_list):
        raise GradientError("opcore.gradients: ys and xs must belong to the same graph")

    # Nodes on a path from some x to some y.
    x_nodes = {x.node.id for x in x_list}
    reaches_x: dict[int, bool] = {}
    for node in graph.nodes:  # ids are a topological order
        reaches_x[node.id] = node.id in x_nodes or any(reaches_x.get(i.node.id, False) for i in node.flat_inputs())
    grads: dict[int, Any] = {}
    with graph.as_default(), graph.name_scope("gradients"):
        seeds = list(grad_ys) if isinstance(grad_ys, (list, tuple)) else [grad_ys] * len(y_list)
        for y, g in zip(y_list, seeds):
            g = ones_like(y) if g is None else g
            grads[id(y)] = g if id(y) not in grads else add(grads[id(y)], g)
        last = max(y.node.id for y in y_list)
        entries = (
            _Entry(node.op, node.inputs, node.outputs, node.attrs, f" (node {node.name!r})")
            for node in reversed(graph.nodes[: last + 1])
            if node.kind == "op" and node.op is not None and reaches_x.get(node.id)
        )
        backprop(entries, grads, lambda x: x.dtype.is_floating and reaches_x.get(x.node.id, False))
    return [grads.get(id(x)) for x in x_list]
