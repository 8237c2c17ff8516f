"""The :class:`Optimizer` base class: gradients, slots, hyperparameters, updates.

An optimizer works the same way eagerly and in a graph:

- ``compute_gradients(loss, var_list)`` returns ``[(grad, var), ...]``. Eagerly,
  ``loss`` is a zero-argument callable (TF2 style) run under a
  :class:`~opcore.GradientTape` (or pass the ``tape`` that computed it); in a
  graph it is a symbolic tensor and ``var_list`` defaults to
  :func:`opcore.trainable_variables`.
- ``apply_gradients(grads_and_vars, global_step)`` runs one fused update op
  per variable (``ApplyAdam``, ...) and assigns its outputs back to the
  variable and its slots. Eagerly the variables change at once and it returns
  None; in a graph it returns one node to fetch with ``Session.run``.
- ``minimize`` is both.

Slots (accumulators, moments) are non-trainable variables created the first
time a variable is updated: in a graph, by ``minimize``/``apply_gradients``, so
run ``opcore.global_variables_initializer()`` after building the train op, as
in TensorFlow 1.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from opcore import _context
from opcore import dtypes as _dt
from opcore.autodiff import GradientTape, gradients
from opcore.dtypes import DType
from opcore.errors import DTypeError, InvalidArgumentError
from opcore.graph import Graph, GraphVariable, group, trainable_variables
from opcore.ops import math as _math
from opcore.tensor import Variable
from opcore.train.schedules import LearningRateSchedule, deserialize, serialize
from opcore.variables import assign_add

__all__ = ["Optimizer"]

_VARIABLE_TYPES = (Variable, GraphVariable)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))


def check_hyperparameter(owner: str, name: str, value: Any) -> Any:
    """Accept a number, a scalar tensor or variable, a schedule, or a zero-argument callable."""
    if _is_number(value):
        return float(value)
    if isinstance(value, LearningRateSchedule) or callable(value):
        return value
    dtype = getattr(value, "dtype", None)
    if isinstance(dtype, DType):
        if not dtype.is_floating:
            raise DTypeError(f"{owner}: {name} must be a floating tensor, got dtype {dtype}")
        shape = getattr(value, "shape", None)
        if shape is not None and shape.rank not in (None, 0):
            raise InvalidArgumentError(f"{owner}: {name} must be a scalar, got shape {shape}")
        return value
    raise InvalidArgumentError(
        f"{owner}: {name} must be a number, a scalar tensor, a learning-rate schedule or a "
        f"zero-argument callable, got {type(value).__name__}"
    )


def _graph_of(var: Any) -> Graph | None:
    return var.graph if isinstance(var, GraphVariable) else None


def _new_variable(initial: Any, name: str, like: Any) -> Any:
    """A non-trainable variable beside ``like`` (same graph, or same eager backend)."""
    if isinstance(like, GraphVariable):
        with like.graph.as_default():
            return Variable(initial, trainable=False, name=name)
    return Variable(initial, trainable=False, name=name, backend=like.backend)


class Optimizer:
    """Base class of the optimizers (TensorFlow 1's ``tf.train.Optimizer``).

    Subclasses name their hyperparameters with :meth:`_set_hyper`, create
    slots in :meth:`_create_slots` (with :meth:`_zeros_slot` /
    :meth:`_slot`), and return the assignments of one variable's update from
    :meth:`_apply_dense`; :meth:`_finish` adds updates that run once per step
    (Adam's beta powers).
    """

    def __init__(self, learning_rate: Any, name: str) -> None:
        self._name = name
        self._hyper: dict[str, Any] = {}
        self._set_hyper("learning_rate", learning_rate)
        # id(var) -> (var, {slot name: slot variable}); holding var keeps its id unique.
        self._slots: dict[int, tuple[Any, dict[str, Any]]] = {}
        # Per-graph variables (beta powers, iteration count); eager ones under None.
        self._graph_non_slots: weakref.WeakKeyDictionary[Graph, dict[str, Any]] = weakref.WeakKeyDictionary()
        self._eager_non_slots: dict[str, Any] = {}
        self._eager_iterations = 0

    # ------------------------------------------------------------------ properties

    @property
    def name(self) -> str:
        return self._name

    @property
    def learning_rate(self) -> Any:
        """The learning rate as given (a number, tensor, schedule or callable)."""
        return self._hyper["learning_rate"]

    @property
    def iterations(self) -> Any:
        """How many updates were applied: an int eagerly; in a graph, an int64 variable.

        In a graph the variable is created on first use (by this property or a
        schedule without a global step) and counts the runs of train ops built
        after that.
        """
        graph = _context.building_graph()
        if graph is None:
            return self._eager_iterations
        return self._graph_iterations(graph)

    # ------------------------------------------------------------------ public API

    def compute_gradients(
        self, loss: Any, var_list: Sequence[Any] | None = None, tape: GradientTape | None = None
    ) -> list[tuple[Any, Any]]:
        """The gradients of ``loss`` with respect to ``var_list``, as ``[(grad, var), ...]``.

        Eagerly, ``loss`` is a zero-argument callable returning the loss (it is run
        under a new tape), or a loss tensor computed under ``tape``; ``var_list``
        defaults to the trainable variables the tape saw. In a graph, ``loss`` is a
        symbolic tensor and ``var_list`` defaults to ``opcore.trainable_variables()``.
        A variable the loss does not depend on gets the gradient None.
        """
        vars_given = None if var_list is None else self._check_var_list(var_list)
        if _context.executing_eagerly():
            if tape is None:
                if not callable(loss):
                    raise InvalidArgumentError(
                        f"{self._name}: when executing eagerly, loss must be a zero-argument callable "
                        "returning the loss (e.g. `lambda: opcore.reduce_mean(...)`), or pass the "
                        "GradientTape that computed it as tape="
                    )
                tape = GradientTape()
                with tape:
                    if vars_given:
                        tape.watch(list(vars_given))
                    loss = loss()
            elif callable(loss):
                with tape:
                    loss = loss()
            variables = vars_given if vars_given is not None else tape.watched_variables()
            if not variables:
                raise InvalidArgumentError(
                    f"{self._name}: no variables to optimize (the loss read no trainable variable)"
                )
            grads = tape.gradient(loss, list(variables))
        else:
            if callable(loss) and not hasattr(loss, "dtype"):
                loss = loss()
            variables = vars_given if vars_given is not None else trainable_variables()
            if not variables:
                raise InvalidArgumentError(
                    f"{self._name}: no variables to optimize (the graph has no trainable variables)"
                )
            grads = gradients(loss, list(variables))
        return list(zip(grads, variables))

    def apply_gradients(
        self, grads_and_vars: Iterable[tuple[Any, Any]], global_step: Any = None, name: str | None = None
    ) -> Any:
        """Update each variable from its gradient; pairs whose gradient is None are skipped.

        ``global_step``, if given, is incremented by one. Eagerly the variables
        change at once and None is returned; in a graph the result is one node
        that performs every update when run.
        """
        pairs = list(grads_and_vars)
        for pair in pairs:
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise InvalidArgumentError(
                    f"{self._name}: apply_gradients takes (gradient, variable) pairs, got {pair!r}"
                )
        self._check_var_list([v for _, v in pairs])
        live = [(g, v) for g, v in pairs if g is not None]
        if not live:
            names = ", ".join(repr(v.name) for _, v in pairs) or "none"
            raise InvalidArgumentError(
                f"{self._name}: no gradients provided for any variable ({names}); check that the loss "
                "depends on them through differentiable ops"
            )
        for g, v in live:
            gd = getattr(g, "dtype", None)
            if isinstance(gd, DType) and gd is not v.dtype:
                raise DTypeError(
                    f"{self._name}: the gradient for variable {v.name!r} has dtype {gd}, but the variable "
                    f"is {v.dtype}; cast the gradient first"
                )
        first = live[0][1]
        graph = _graph_of(first)
        for _, v in live:
            self._create_slots(v)
        self._create_non_slots(first)
        step = self._step(global_step, first)
        resolved = {k: self._resolve(v, step) for k, v in self._hyper.items()}
        by_dtype: dict[DType, dict[str, Any]] = {}
        updates: list[Any] = []
        for g, v in live:
            hyper = by_dtype.get(v.dtype)
            if hyper is None:
                hyper = by_dtype[v.dtype] = {k: _as_dtype_of(x, v.dtype) for k, x in resolved.items()}
            updates.extend(self._apply_dense(g, v, hyper))
        updates.extend(self._finish(first, resolved))
        if global_step is not None:
            updates.append(assign_add(global_step, 1))
        if graph is None:
            self._eager_iterations += 1
        elif graph in self._graph_non_slots and "iterations" in self._graph_non_slots[graph]:
            updates.append(assign_add(self._graph_non_slots[graph]["iterations"], 1))
        if graph is None:
            return None
        with graph.as_default():
            return group(*updates, name=name or self._name)

    def minimize(
        self,
        loss: Any,
        var_list: Sequence[Any] | None = None,
        global_step: Any = None,
        tape: GradientTape | None = None,
        name: str | None = None,
    ) -> Any:
        """``compute_gradients`` then ``apply_gradients``: one training step.

        >>> import opcore
        >>> w = opcore.Variable(3.0)
        >>> opt = opcore.train.GradientDescentOptimizer(0.25)
        >>> for _ in range(3):
        ...     opt.minimize(lambda: w * w, var_list=[w])
        >>> float(w.numpy())
        0.375
        """
        grads_and_vars = self.compute_gradients(loss, var_list, tape)
        if all(g is None for g, _ in grads_and_vars):
            names = ", ".join(repr(v.name) for _, v in grads_and_vars)
            raise InvalidArgumentError(
                f"{self._name}: no gradients provided for any variable ({names}); the loss does not depend "
                "on them through differentiable ops"
            )
        return self.apply_gradients(grads_and_vars, global_step=global_step, name=name)

    def get_slot(self, var: Any, name: str) -> Any:
        """The slot variable ``name`` of ``var`` (see :meth:`get_slot_names`), or None if not created yet."""
        entry = self._slots.get(id(var))
        if entry is None or entry[0] is not var:
            return None
        return entry[1].get(name)

    def get_slot_names(self) -> list[str]:
        """The names of the slots this optimizer keeps per variable."""
        return list(self._slot_names())

    def variables(self) -> list[Any]:
        """Every variable this optimizer created (slots, beta powers, ...) in the current mode/graph."""
        graph = None if _context.executing_eagerly() else _context.building_graph()
        out = [s for var, slots in self._slots.values() if _graph_of(var) is graph for s in slots.values()]
        non = self._eager_non_slots if graph is None else self._graph_non_slots.get(graph, {})
        return out + list(non.values())

    def get_config(self) -> dict[str, Any]:
        """The constructor's keyword arguments (schedules as ``{"class_name", "config"}``)."""
        config: dict[str, Any] = {"name": self._name}
        for k, v in self._config().items():
            config[k] = serialize(v) if isinstance(v, LearningRateSchedule) else v
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Optimizer:
        """An optimizer from :meth:`get_config`'s output."""
        kwargs: dict[str, Any] = {
            k: deserialize(v) if isinstance(v, Mapping) and "class_name" in v else v for k, v in config.items()
        }
        return cls(**kwargs)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._config().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ for subclasses

    def _slot_names(self) -> Sequence[str]:
        return ()

    def _config(self) -> dict[str, Any]:
        return dict(self._hyper)

    def _set_hyper(self, name: str, value: Any) -> None:
        self._hyper[name] = check_hyperparameter(type(self).__name__, name, value)

    def _create_slots(self, var: Any) -> None:
        """Create ``var``'s slots (called before every update; create only missing ones)."""

    def _create_non_slots(self, first_var: Any) -> None:
        """Create per-optimizer variables beside ``first_var`` (Adam's beta powers)."""

    def _apply_dense(self, grad: Any, var: Any, hyper: Mapping[str, Any]) -> list[Any]:
        """The assignments updating ``var`` and its slots; ``hyper`` holds values of ``var``'s dtype."""
        raise NotImplementedError

    def _finish(self, first_var: Any, hyper: Mapping[str, Any]) -> list[Any]:
        """Updates that run once per step, after the variables' updates."""
        return []

    def _slot(self, var: Any, slot_name: str, initial: float) -> Any:
        """``var``'s slot ``slot_name``, created filled with ``initial`` if missing."""
        entry = self._slots.get(id(var))
        if entry is None or entry[0] is not var:
            entry = self._slots[id(var)] = (var, {})
        slots = entry[1]
        slot = slots.get(slot_name)
        if slot is None:
            value = np.full(var.shape.as_tuple(), initial, dtype=var.dtype.np)
            slot = slots[slot_name] = _new_variable(value, f"{var.name}/{slot_name}", var)
        return slot

    def _zeros_slot(self, var: Any, slot_name: str) -> Any:
        return self._slot(var, slot_name, 0.0)

    def _non_slot(self, first_var: Any, name: str, initial: Callable[[], Any]) -> Any:
        """A per-optimizer variable (one per graph; one eagerly) created from ``initial()`` if missing."""
        graph = _graph_of(first_var)
        table = self._eager_non_slots if graph is None else self._graph_non_slots.setdefault(graph, {})
        var = table.get(name)
        if var is None:
            var = table[name] = _new_variable(initial(), name, first_var)
        return var

    def _get_non_slot(self, first_var: Any, name: str) -> Any:
        graph = _graph_of(first_var)
        table = self._eager_non_slots if graph is None else self._graph_non_slots.get(graph, {})
        return table[name]

    # ------------------------------------------------------------------ internals

    def _check_var_list(self, var_list: Sequence[Any]) -> list[Any]:
        out = list(var_list)
        for v in out:
            if not isinstance(v, _VARIABLE_TYPES):
                raise InvalidArgumentError(
                    f"{self._name}: can only optimize opcore.Variable objects, got {type(v).__name__}; "
                    "wrap trainable values in opcore.Variable"
                )
        return out

    def _graph_iterations(self, graph: Graph) -> Any:
        """The graph's iteration-count variable, created on first use."""
        table = self._graph_non_slots.setdefault(graph, {})
        var = table.get("iterations")
        if var is None:
            with graph.as_default():
                var = table["iterations"] = Variable(np.asarray(0, dtype=np.int64), trainable=False, name="iterations")
        return var

    def _step(self, global_step: Any, first_var: Any) -> Any:
        """The step schedules are called with: the global step, else the iteration count."""
        if not any(isinstance(v, LearningRateSchedule) for v in self._hyper.values()):
            return None
        if global_step is not None:
            return global_step
        graph = _graph_of(first_var)
        if graph is None:
            return self._eager_iterations
        return self._graph_iterations(graph)

    @staticmethod
    def _resolve(value: Any, step: Any) -> Any:
        if isinstance(value, LearningRateSchedule):
            return value(step)
        if callable(value) and not isinstance(value, _VARIABLE_TYPES):
            return value()
        return value


def _as_dtype_of(value: Any, dtype: DType) -> Any:
    """``value`` usable as a ``dtype`` op input: numbers stay weak, tensors are cast if needed."""
    if _is_number(value):
        return value
    d = getattr(value, "dtype", None)
    if isinstance(d, DType) and d is not dtype:
        return _math.cast(value, dtype)
    if d is None:
        return _math.cast(np.asarray(value, dtype=_dt.float64.np), dtype)
    return value
