"""``tf.train``: optimizers, the Saver, the global step and learning-rate decay, on :mod:`opcore.train`.

The optimizers are opcore's, with TensorFlow 1's constructor arguments
(``use_locking`` is accepted) and ``minimize(loss, global_step=None, var_list=None, ...)``
in TensorFlow 1's order; their graph-building methods build into the loss's graph.
Names this module does not define (``latest_checkpoint``, ...) are looked up in
:mod:`opcore.train` when first used.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from typing import Any

import opcore
import opcore.train as _train
from opcore.compat import _moved
from opcore.compat.v1._graph import building
from opcore.graph import GraphVariable, SymbolicTensor, get_default_graph

__all__ = [
    "AdadeltaOptimizer",
    "AdagradOptimizer",
    "AdamOptimizer",
    "GradientDescentOptimizer",
    "MomentumOptimizer",
    "Optimizer",
    "RMSPropOptimizer",
    "Saver",
    "create_global_step",
    "exponential_decay",
    "get_global_step",
    "get_or_create_global_step",
    "global_step",
    "import_meta_graph",
    "inverse_time_decay",
    "piecewise_constant",
]


def _graph_of(loss: Any) -> Any:
    if isinstance(loss, (SymbolicTensor, GraphVariable)):
        return loss.graph
    return get_default_graph()


class _TF1Methods(_train.Optimizer):
    """TensorFlow 1's argument order for the graph-building methods, run inside the loss's graph."""

    def compute_gradients(  # type: ignore[override]
        self,
        loss: Any,
        var_list: Sequence[Any] | None = None,
        gate_gradients: int = 1,
        aggregation_method: Any = None,
        colocate_gradients_with_ops: bool = False,
        grad_loss: Any = None,
    ) -> list[tuple[Any, Any]]:
        """``[(gradient, variable), ...]`` of ``loss`` for ``var_list`` (default: the trainable variables)."""
        if grad_loss is not None:
            raise opcore.OpDefinitionError("compute_gradients: grad_loss is not provided by opcore")
        with building(_graph_of(loss)):
            return super().compute_gradients(loss, var_list)

    def apply_gradients(
        self, grads_and_vars: Iterable[tuple[Any, Any]], global_step: Any = None, name: str | None = None
    ) -> Any:
        """One node that applies the gradients (and adds one to ``global_step``, when given)."""
        pairs = list(grads_and_vars)
        var = next((v for _, v in pairs if isinstance(v, GraphVariable)), None)
        with building(var.graph if var is not None else None):
            return super().apply_gradients(pairs, global_step=global_step, name=name)

    def minimize(  # type: ignore[override]
        self,
        loss: Any,
        global_step: Any = None,
        var_list: Sequence[Any] | None = None,
        gate_gradients: int = 1,
        aggregation_method: Any = None,
        colocate_gradients_with_ops: bool = False,
        name: str | None = None,
        grad_loss: Any = None,
    ) -> Any:
        """The train op: ``compute_gradients`` then ``apply_gradients``; run it with ``sess.run``."""
        if grad_loss is not None:
            raise opcore.OpDefinitionError("minimize: grad_loss is not provided by opcore")
        with building(_graph_of(loss)):
            return super().minimize(loss, var_list=var_list, global_step=global_step, name=name)


class Optimizer(_TF1Methods):
    """Base class for optimizers written against TensorFlow 1's API (see :class:`opcore.train.Optimizer`)."""

    def __init__(self, use_locking: bool, name: str) -> None:
        super().__init__(0.0, name)


class GradientDescentOptimizer(_TF1Methods, _train.GradientDescentOptimizer):
    """``var -= learning_rate * grad``."""

    def __init__(self, learning_rate: Any, use_locking: bool = False, name: str = "GradientDescent") -> None:
        super().__init__(learning_rate, name=name)


class MomentumOptimizer(_TF1Methods, _train.MomentumOptimizer):
    """Momentum (optionally Nesterov)."""

    def __init__(
        self, learning_rate: Any, momentum: Any, use_locking: bool = False, name: str = "Momentum",
        use_nesterov: bool = False,
    ) -> None:  # fmt: skip
        super().__init__(learning_rate, momentum, use_nesterov=use_nesterov, name=name)


class AdagradOptimizer(_TF1Methods, _train.AdagradOptimizer):
    """Adagrad."""

    def __init__(
        self, learning_rate: Any, initial_accumulator_value: float = 0.1, use_locking: bool = False,
        name: str = "Adagrad",
    ) -> None:  # fmt: skip
        super().__init__(learning_rate, initial_accumulator_value, name=name)


class AdadeltaOptimizer(_TF1Methods, _train.AdadeltaOptimizer):
    """Adadelta (TensorFlow 1's defaults: learning rate 0.001, rho 0.95, epsilon 1e-8)."""

    def __init__(
        self, learning_rate: Any = 0.001, rho: Any = 0.95, epsilon: Any = 1e-8, use_locking: bool = False,
        name: str = "Adadelta",
    ) -> None:  # fmt: skip
        super().__init__(learning_rate, rho, epsilon, name=name)


class RMSPropOptimizer(_TF1Methods, _train.RMSPropOptimizer):
    """RMSProp (``centered`` is not provided)."""

    def __init__(
        self, learning_rate: Any, decay: Any = 0.9, momentum: Any = 0.0, epsilon: Any = 1e-10,
        use_locking: bool = False, centered: bool = False, name: str = "RMSProp",
    ) -> None:  # fmt: skip
        if centered:
            raise opcore.OpDefinitionError("RMSPropOptimizer: centered=True is not provided by opcore")
        super().__init__(learning_rate, decay, momentum, epsilon, name=name)


class AdamOptimizer(_TF1Methods, _train.AdamOptimizer):
    """Adam."""

    def __init__(
        self, learning_rate: Any = 0.001, beta1: Any = 0.9, beta2: Any = 0.999, epsilon: Any = 1e-8,
        use_locking: bool = False, name: str = "Adam",
    ) -> None:  # fmt: skip
        super().__init__(learning_rate, beta1, beta2, epsilon, name=name)


# --------------------------------------------------------------------------- Saver


def _accepts(fn: Any, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # pragma: no cover - every Saver method has a signature
        return False


class Saver(_train.Saver):
    """TensorFlow 1's ``tf.train.Saver(var_list=None, ..., max_to_keep=5, ...)`` on opcore's checkpoints.

    ``var_list`` may be a list of variables or a dict of them (its values are saved).
    Options opcore's Saver does not take are accepted and ignored.
    """

    def __init__(
        self,
        var_list: Any = None,
        reshape: bool = False,
        sharded: bool = False,
        max_to_keep: int = 5,
        keep_checkpoint_every_n_hours: float = 10000.0,
        name: str | None = None,
        restore_sequentially: bool = False,
        saver_def: Any = None,
        builder: Any = None,
        defer_build: bool = False,
        allow_empty: bool = False,
        write_version: int = 2,
        pad_step_number: bool = False,
        save_relative_paths: bool = False,
        filename: str | None = None,
    ) -> None:
        if isinstance(var_list, dict):
            var_list = list(var_list.values())
        base = _train.Saver.__init__
        extra: dict[str, Any] = {}
        if _accepts(base, "max_to_keep"):
            extra["max_to_keep"] = max_to_keep
        if _accepts(base, "keep_checkpoint_every_n_hours"):
            extra["keep_checkpoint_every_n_hours"] = keep_checkpoint_every_n_hours
        with building() as g:
            super().__init__(var_list, graph=g, **extra)

    def save(  # type: ignore[override]
        self,
        sess: Any,
        save_path: str,
        global_step: Any = None,
        latest_filename: str | None = None,
        meta_graph_suffix: str = "meta",
        write_meta_graph: bool = True,
        write_state: bool = True,
        strip_default_attrs: bool = False,
        save_debug_info: bool = False,
    ) -> str:
        """Save the variables to ``save_path`` (``save_path-<step>`` with ``global_step``); returns the path."""
        base = _train.Saver.save
        kwargs: dict[str, Any] = {"write_meta_graph": write_meta_graph}
        if global_step is not None:
            if _accepts(base, "global_step"):
                kwargs["global_step"] = global_step
            else:
                step = global_step if isinstance(global_step, int) else int(sess.run(global_step))
                save_path = f"{save_path}-{step}"
        for key, value in (("latest_filename", latest_filename), ("write_state", write_state)):
            if _accepts(base, key) and value is not None:
                kwargs[key] = value
        return super().save(sess, save_path, **kwargs)


def import_meta_graph(meta_graph_or_file: str, clear_devices: bool = False, import_scope: str | None = None) -> Any:
    """Rebuild the graph saved with a checkpoint into the default graph; returns a Saver for it."""
    if import_scope:
        raise opcore.OpDefinitionError("import_meta_graph: import_scope is not provided by opcore")
    with building() as g:
        return _train.import_meta_graph(meta_graph_or_file, graph=g)


# --------------------------------------------------------------------------- global step and decay


def get_global_step(graph: Any = None) -> Any:
    """The global step of ``graph`` (default: the default graph), or None."""
    return _train.get_global_step(graph if graph is not None else get_default_graph())


def get_or_create_global_step(graph: Any = None) -> Any:
    """The global step of ``graph`` (default: the default graph), created if missing."""
    return _train.get_or_create_global_step(graph if graph is not None else get_default_graph())


def create_global_step(graph: Any = None) -> Any:
    """Create the global step; an error if the graph has one already."""
    g = graph if graph is not None else get_default_graph()
    if _train.get_global_step(g) is not None:
        raise ValueError('"global_step" already exists.')
    return _train.get_or_create_global_step(g)


def global_step(sess: Any, global_step_tensor: Any) -> int:
    """The value of the global step in ``sess``, as a Python int."""
    return int(sess.run(global_step_tensor))


def exponential_decay(
    learning_rate: float, global_step: Any, decay_steps: float, decay_rate: float, staircase: bool = False,
    name: str | None = None,
) -> Any:  # fmt: skip
    """``learning_rate * decay_rate ** (global_step / decay_steps)``, a tensor of the default graph."""
    with building():
        return _train.exponential_decay(learning_rate, global_step, decay_steps, decay_rate, staircase)


def inverse_time_decay(
    learning_rate: float, global_step: Any, decay_steps: float, decay_rate: float, staircase: bool = False,
    name: str | None = None,
) -> Any:  # fmt: skip
    """``learning_rate / (1 + decay_rate * global_step / decay_steps)``, a tensor of the default graph."""
    with building():
        return _train.inverse_time_decay(learning_rate, global_step, decay_steps, decay_rate, staircase)


def piecewise_constant(x: Any, boundaries: Sequence[float], values: Sequence[float], name: str | None = None) -> Any:
    """``values[i]`` on the ``i``-th interval of ``x`` (the step), a tensor of the default graph."""
    with building():
        return _train.piecewise_constant(x, boundaries, values)


_NOT_PROVIDED = {
    "Coordinator": "queues and their threads are not provided: feed NumPy batches through feed_dict",
    "start_queue_runners": "queues are not provided: feed NumPy batches through feed_dict",
    "QueueRunner": "queues are not provided: feed NumPy batches through feed_dict",
    "string_input_producer": "input queues are not provided: read files in Python and feed the arrays",
    "shuffle_batch": "input queues are not provided: shuffle and batch in NumPy (DataSet.next_batch does)",
    "batch": "input queues are not provided: batch in NumPy (DataSet.next_batch does)",
    "MonitoredTrainingSession": "not provided: use tf.Session with a Python loop",
    "MonitoredSession": "not provided: use tf.Session with a Python loop",
    "SyncReplicasOptimizer": "not provided: see opcore.distributed for data-parallel training",
    "FtrlOptimizer": "not provided: opcore's optimizers are SGD, Momentum, Adagrad, Adadelta, RMSProp and Adam",
    "ProximalGradientDescentOptimizer": "not provided",
}


def __getattr__(name: str) -> Any:
    # What opcore.train gains later (latest_checkpoint, get_checkpoint_state ...) appears here.
    if not name.startswith("_") and hasattr(_train, name):
        return getattr(_train, name)
    if name in ("latest_checkpoint", "get_checkpoint_state", "checkpoint_exists"):
        raise _moved.MissingNameError(
            f"tf.train.{name} needs TensorFlow 1's checkpoint state file, which this opcore's Saver does not "
            "write; pass the path given to saver.save to saver.restore"
        )
    raise _moved.missing("opcore.compat.v1.train", name, _NOT_PROVIDED.get(name), __all__)
