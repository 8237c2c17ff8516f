"""TensorFlow 1's variables: ``tf.Variable``, ``tf.get_variable`` with ``tf.variable_scope``
(sharing by name, ``reuse``), collections and the initializer nodes.

Variables are opcore's graph variables (:class:`opcore.GraphVariable`), created in
the default graph. What the namespace adds is TensorFlow 1's bookkeeping: the
variable store of ``get_variable`` (per graph) and the variable-scope stack (per
thread, as TensorFlow's).
"""

from __future__ import annotations

import contextlib
import enum
import inspect
import re
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import opcore
from opcore import dtypes as _dt
from opcore import initializers as _init
from opcore.compat.v1._graph import building, tf_dtype
from opcore.errors import OpDefinitionError, ShapeError
from opcore.graph import Graph, GraphVariable, Node, get_default_graph
from opcore.shapes import Shape

__all__ = [
    "AUTO_REUSE",
    "GraphKeys",
    "Variable",
    "VariableScope",
    "add_to_collection",
    "assign",
    "assign_add",
    "assign_sub",
    "get_collection",
    "get_collection_ref",
    "get_variable",
    "get_variable_scope",
    "unique_name_in_scope",
    "global_variables",
    "global_variables_initializer",
    "initialize_all_variables",
    "local_variables",
    "local_variables_initializer",
    "model_variables",
    "trainable_variables",
    "variable_scope",
    "variables_initializer",
]


class _ReuseMode(enum.Enum):
    AUTO_REUSE = 1


#: ``reuse=tf.AUTO_REUSE``: get the variable if it exists, create it otherwise.
AUTO_REUSE = _ReuseMode.AUTO_REUSE


class GraphKeys:
    """The standard collection names (TensorFlow 1's ``tf.GraphKeys``)."""

    GLOBAL_VARIABLES = "variables"
    VARIABLES = "variables"
    LOCAL_VARIABLES = "local_variables"
    MODEL_VARIABLES = "model_variables"
    TRAINABLE_VARIABLES = "trainable_variables"
    SUMMARIES = "summaries"
    QUEUE_RUNNERS = "queue_runners"
    UPDATE_OPS = "update_ops"
    LOSSES = "losses"
    REGULARIZATION_LOSSES = "regularization_losses"
    GLOBAL_STEP = "global_step"
    TRAIN_OP = "train_op"
    INIT_OP = "init_op"
    SAVERS = "savers"
    ACTIVATIONS = "activations"
    WEIGHTS = "weights"
    BIASES = "biases"


# --------------------------------------------------------------------------- collections

_collections: weakref.WeakKeyDictionary[Graph, dict[str, list[Any]]] = weakref.WeakKeyDictionary()
_collections_lock = threading.Lock()


def get_collection_ref(key: str) -> list[Any]:
    """The list behind collection ``key`` of the default graph (appending to it adds to the collection)."""
    if key in (GraphKeys.GLOBAL_VARIABLES, GraphKeys.TRAINABLE_VARIABLES):
        raise OpDefinitionError(
            f"the {key!r} collection is the graph's own list of variables; read it with tf.get_collection"
        )
    g = get_default_graph()
    with _collections_lock:
        return _collections.setdefault(g, {}).setdefault(key, [])


def add_to_collection(name: str, value: Any) -> None:
    """Add ``value`` to the default graph's collection ``name``."""
    get_collection_ref(name).append(value)


def _scope_filter(items: Sequence[Any], scope: str | None) -> list[Any]:
    if scope is None:
        return list(items)
    pattern = re.compile(scope)
    return [x for x in items if isinstance(getattr(x, "name", None), str) and pattern.match(x.name)]


def get_collection(key: str, scope: str | None = None) -> list[Any]:
    """The items of collection ``key`` in the default graph (those whose name matches ``scope``)."""
    g = get_default_graph()
    if key == GraphKeys.GLOBAL_VARIABLES:
        return _scope_filter(g.variables, scope)
    if key == GraphKeys.TRAINABLE_VARIABLES:
        return _scope_filter(g.trainable_variables(), scope)
    with _collections_lock:
        items = list(_collections.get(g, {}).get(key, []))
    return _scope_filter(items, scope)


def global_variables(scope: str | None = None) -> list[Any]:
    """Every variable of the default graph (whose name matches ``scope``, a regular expression)."""
    return get_collection(GraphKeys.GLOBAL_VARIABLES, scope)


def trainable_variables(scope: str | None = None) -> list[Any]:
    """The trainable variables of the default graph (whose name matches ``scope``)."""
    return get_collection(GraphKeys.TRAINABLE_VARIABLES, scope)


def local_variables(scope: str | None = None) -> list[Any]:
    """Always empty: opcore graphs have no local variables."""
    return get_collection(GraphKeys.LOCAL_VARIABLES, scope)


def model_variables(scope: str | None = None) -> list[Any]:
    return get_collection(GraphKeys.MODEL_VARIABLES, scope)


def variables_initializer(var_list: Sequence[Any], name: str = "init") -> Node:
    """One node that initialises the variables in ``var_list``."""
    with building() as g:
        return g.group([v.initializer for v in var_list], name=name)


def global_variables_initializer() -> Node:
    """The node that initialises every variable of the default graph: ``sess.run(tf.global_variables_initializer())``."""
    return variables_initializer(get_default_graph().variables, name="init")


def initialize_all_variables() -> Node:
    """The old name of :func:`global_variables_initializer`."""
    return global_variables_initializer()


def local_variables_initializer() -> Node:
    """A node that does nothing (opcore graphs have no local variables), for programs that run it."""
    return variables_initializer([], name="init_1")


# --------------------------------------------------------------------------- tf.Variable


class _VariableMeta(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, (GraphVariable, opcore.Variable))


class Variable(metaclass=_VariableMeta):
    """A variable of the default graph: ``tf.Variable(tf.zeros([784, 10]), name="W")``.

    Returns an :class:`opcore.GraphVariable` (``isinstance(v, tf.Variable)`` holds).
    ``collections`` adds it to those collections besides the graph's variables;
    ``validate_shape``, ``caching_device``, ``use_resource`` and the distribution
    arguments are accepted for compatibility.
    """

    def __new__(  # type: ignore[misc]
        cls,
        initial_value: Any = None,
        trainable: bool | None = None,
        collections: Sequence[str] | None = None,
        validate_shape: bool = True,
        caching_device: Any = None,
        name: str | None = None,
        variable_def: Any = None,
        dtype: Any = None,
        expected_shape: Any = None,
        import_scope: Any = None,
        constraint: Any = None,
        use_resource: Any = None,
        synchronization: Any = None,
        aggregation: Any = None,
        shape: Any = None,
    ) -> GraphVariable:
        if initial_value is None:
            raise OpDefinitionError("tf.Variable: initial_value is required")
        with building() as g:
            var = g.variable(initial_value, trainable=True if trainable is None else bool(trainable), name=name,
                             dtype=None if dtype is None else tf_dtype(dtype))  # fmt: skip
        if shape is not None and not Shape(shape).is_compatible_with(var.shape):
            raise ShapeError(f"tf.Variable {var.name!r}: initial value has shape {var.shape}, not {Shape(shape)}")
        for key in collections or ():
            if key not in (GraphKeys.GLOBAL_VARIABLES, GraphKeys.TRAINABLE_VARIABLES):
                add_to_collection(key, var)
        return var


def assign(ref: Any, value: Any, validate_shape: Any = None, use_locking: Any = None, name: str | None = None) -> Any:
    """A tensor whose evaluation stores ``value`` in the variable ``ref``."""
    with building():
        return ref.assign(value, name=name)


def assign_add(ref: Any, value: Any, use_locking: Any = None, name: str | None = None) -> Any:
    with building():
        return ref.assign_add(value, name=name)


def assign_sub(ref: Any, value: Any, use_locking: Any = None, name: str | None = None) -> Any:
    with building():
        return ref.assign_sub(value, name=name)


# --------------------------------------------------------------------------- variable scopes


class VariableScope:
    """A variable scope: a name prefix for ``get_variable``, whether to reuse, and defaults."""

    def __init__(
        self,
        reuse: bool | _ReuseMode,
        name: str = "",
        initializer: Any = None,
        dtype: Any = _dt.float32,
        name_scope: str = "",
    ) -> None:
        self.name = name
        self._reuse = reuse
        self.initializer = initializer
        self.dtype = _dt.as_dtype(dtype)
        self.original_name_scope = name_scope

    @property
    def reuse(self) -> bool | _ReuseMode:
        return self._reuse

    def reuse_variables(self) -> None:
        """Reuse variables in this scope from now on (TensorFlow 1's ``scope.reuse_variables()``)."""
        self._reuse = True

    def set_initializer(self, initializer: Any) -> None:
        self.initializer = initializer

    def __repr__(self) -> str:
        return f"<VariableScope {self.name!r} reuse={self._reuse}>"


class _ScopeStack(threading.local):
    def __init__(self) -> None:
        self.stack: list[VariableScope] = [VariableScope(False)]


_scopes = _ScopeStack()
# Variables made by get_variable, by graph and full name.
_stores: weakref.WeakKeyDictionary[Graph, dict[str, GraphVariable]] = weakref.WeakKeyDictionary()
_counts: weakref.WeakKeyDictionary[Graph, dict[str, int]] = weakref.WeakKeyDictionary()


def get_variable_scope() -> VariableScope:
    """The innermost variable scope of this thread."""
    return _scopes.stack[-1]


@contextlib.contextmanager
def variable_scope(
    name_or_scope: str | VariableScope | None,
    default_name: str | None = None,
    values: Any = None,
    initializer: Any = None,
    regularizer: Any = None,
    caching_device: Any = None,
    partitioner: Any = None,
    custom_getter: Any = None,
    reuse: bool | _ReuseMode | None = None,
    dtype: Any = None,
    use_resource: Any = None,
    constraint: Any = None,
    auxiliary_name_scope: bool = True,
) -> Iterator[VariableScope]:
    """Prefix ``get_variable`` names (and, by default, op names) with a scope; ``reuse=True`` or
    ``tf.AUTO_REUSE`` gets existing variables instead of making new ones.

    As in TensorFlow 1, reuse is inherited by inner scopes; a scope's name is not made
    unique (entering ``"layer"`` twice shares its variables), while the op names of the
    second entry go under ``layer_1/``.
    """
    if custom_getter is not None or partitioner is not None:
        raise OpDefinitionError("tf.variable_scope: custom_getter and partitioner are not provided by opcore")
    g = get_default_graph()
    parent = get_variable_scope()
    if isinstance(name_or_scope, VariableScope):
        full = name_or_scope.name
        name_scope_arg = name_or_scope.original_name_scope or full + "/"
        base_init, base_dtype = name_or_scope.initializer, name_or_scope.dtype
        inherited = name_or_scope.reuse
    else:
        if name_or_scope is None:
            if default_name is None:
                raise OpDefinitionError("tf.variable_scope: give name_or_scope or default_name")
            base = unique_name_in_scope(default_name)
        else:
            base = str(name_or_scope)
        full = f"{parent.name}/{base}" if parent.name else base
        name_scope_arg = base
        base_init, base_dtype = parent.initializer, parent.dtype
        inherited = parent.reuse
    # As in TensorFlow 1, reuse cannot be turned off inside a reusing scope.
    effective = True if inherited is True else (inherited if reuse is None else reuse)
    # Entering a scope restarts the numbering of the unnamed scopes and layers inside it, so that
    # building the same layers again under reuse=True finds the same names (dense, dense_1 ...).
    counts = _counts.setdefault(g, {})
    for key in [k for k in counts if k.startswith(full + "/")]:
        del counts[key]
    with contextlib.ExitStack() as stack:
        ns = stack.enter_context(g.name_scope(name_scope_arg)) if auxiliary_name_scope else parent.original_name_scope
        scope = VariableScope(
            effective if isinstance(effective, _ReuseMode) else bool(effective),
            full,
            initializer if initializer is not None else base_init,
            dtype if dtype is not None else base_dtype,
            ns,
        )
        _scopes.stack.append(scope)
        try:
            yield scope
        finally:
            _scopes.stack.pop()


def unique_name_in_scope(base: str) -> str:
    """``base``, ``base_1``, ... : a new name in the current variable scope (TensorFlow 1's
    ``default_name``, and the names of unnamed layers: ``dense``, ``dense_1``)."""
    g = get_default_graph()
    scope = get_variable_scope().name
    key = f"{scope}/{base}" if scope else base
    counts = _counts.setdefault(g, {})
    n = counts.get(key, 0)
    counts[key] = n + 1
    return base if n == 0 else f"{base}_{n}"


def _default_initializer(dtype: _dt.DType) -> Callable[..., Any]:
    # TensorFlow 1: Glorot uniform for floats, zeros for the rest.
    return _init.GlorotUniform() if dtype.is_floating else _init.Zeros()


def get_variable(
    name: str,
    shape: Any = None,
    dtype: Any = None,
    initializer: Any = None,
    regularizer: Any = None,
    trainable: bool | None = None,
    collections: Sequence[str] | None = None,
    caching_device: Any = None,
    partitioner: Any = None,
    validate_shape: bool = True,
    use_resource: Any = None,
    custom_getter: Any = None,
    constraint: Any = None,
    synchronization: Any = None,
    aggregation: Any = None,
) -> GraphVariable:
    """The variable ``scope/name``: made with ``initializer`` (default Glorot uniform), or, in a
    scope with ``reuse``, the one made before.

    ``initializer`` is an initializer (``tf.truncated_normal_initializer(stddev=0.1)``),
    or a value (a tensor, array or number, then ``shape`` may be left out).
    """
    scope = get_variable_scope()
    full = f"{scope.name}/{name}" if scope.name else name
    g = get_default_graph()
    store = _stores.setdefault(g, {})
    existing = store.get(full)
    reuse = scope.reuse
    if existing is not None:
        if reuse is False:
            raise ValueError(
                f"Variable {full} already exists, disallowed. Did you mean to set reuse=True or "
                "reuse=tf.AUTO_REUSE in VarScope?"
            )
        if shape is not None and not Shape(shape).is_compatible_with(existing.shape):
            raise ValueError(
                f"Trying to share variable {full}, but specified shape {Shape(shape)} and found shape {existing.shape}."
            )
        if dtype is not None and _dt.as_dtype(dtype) is not existing.dtype:
            raise ValueError(
                f"Trying to share variable {full}, but specified dtype {_dt.as_dtype(dtype)} and found dtype "
                f"{existing.dtype}."
            )
        return existing
    if reuse is True:
        raise ValueError(
            f"Variable {full} does not exist, or was not created with tf.get_variable(). Did you mean to set "
            "reuse=tf.AUTO_REUSE in VarScope?"
        )
    d = tf_dtype(dtype) if dtype is not None else scope.dtype
    init = initializer if initializer is not None else scope.initializer
    if init is None:
        init = _default_initializer(d)
    if inspect.isclass(init):  # TensorFlow 1 takes the class itself: initializer=tf.zeros_initializer
        init = init()
    if callable(init):
        if shape is None:
            raise ValueError(f"tf.get_variable {full!r}: the shape is required with an initializer function")
        dims = Shape(shape).as_tuple()

        def make_initial_value() -> Any:
            return init(dims, d)

        initial_value: Any = make_initial_value
    else:
        initial_value = init
    with building(g) as g, g.name_scope(""):  # variable names ignore name scopes, as in TensorFlow 1
        var = g.variable(initial_value, trainable=True if trainable is None else bool(trainable), name=full, dtype=d)
    if shape is not None and not Shape(shape).is_compatible_with(var.shape):
        raise ShapeError(f"tf.get_variable {full!r}: initial value has shape {var.shape}, not {Shape(shape)}")
    store[full] = var
    for key in collections or ():
        if key not in (GraphKeys.GLOBAL_VARIABLES, GraphKeys.TRAINABLE_VARIABLES):
            add_to_collection(key, var)
    if regularizer is not None:
        with building(g), g.name_scope(full + "/Regularizer/"):
            loss = regularizer(var)
        if loss is not None:
            add_to_collection(GraphKeys.REGULARIZATION_LOSSES, loss)
    return var
