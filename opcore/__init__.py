"""opcore: a backend-agnostic op registry, with eager tensors and autodiff on top.

>>> import opcore
>>> x = opcore.constant([1.0, 2.0, 3.0])
>>> with opcore.GradientTape() as tape:
...     tape.watch(x)
...     y = opcore.reduce_sum(x * x)
>>> tape.gradient(y, x).numpy().tolist()
[2.0, 4.0, 6.0]
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

# The libraries on top (imported last: they use everything above).
from opcore import (
    backend,
    datasets,
    distributed,
    errors,
    initializers,
    io,
    keras,
    layers,
    losses,
    metrics,
    ops,
    plugins,
    registry,
    summary,
    train,
)
from opcore._context import executing_eagerly
from opcore.autodiff import GradientTape, gradients
from opcore.backend import (
    Backend,
    BackendInfo,
    available_backends,
    config,
    current_backend,
    fallback_policy,
    get_backend,
    set_default_backend,
    stats,
    use_backend,
)
from opcore.dispatch import FallbackWarning
from opcore.dtypes import (
    DType,
    as_dtype,
    bool_,
    float16,
    float32,
    float64,
    int8,
    int16,
    int32,
    int64,
    result_type,
    uint8,
)
from opcore.errors import (
    BackendMismatchError,
    BackendUnavailableError,
    CheckpointError,
    DTypeError,
    GradientError,
    GraphError,
    InvalidArgumentError,
    InvalidIndexError,
    KernelContractError,
    KernelNotFoundError,
    OpcoreError,
    OpDefinitionError,
    PluginError,
    ResourceExhaustedError,
    ShapeError,
    UnknownBackendError,
    UnknownOpError,
)
from opcore.graph import (
    Graph,
    GraphKeys,
    GraphVariable,
    SymbolicTensor,
    add_to_collection,
    add_to_collections,
    disable_eager_execution,
    enable_eager_execution,
    get_collection,
    get_collection_ref,
    get_default_graph,
    global_variables,
    global_variables_initializer,
    group,
    name_scope,
    placeholder,
    reset_default_graph,
    trainable_variables,
)
from opcore.hookspecs import hookimpl
from opcore.ops._broadcast import *  # noqa: F403
from opcore.ops.array import *  # noqa: F403
from opcore.ops.indexing import *  # noqa: F403
from opcore.ops.math import *  # noqa: F403
from opcore.ops.nn import *  # noqa: F403
from opcore.ops.random import *  # noqa: F403
from opcore.ops.reduce import *  # noqa: F403
from opcore.ops.selection import *  # noqa: F403
from opcore.ops.train import *  # noqa: F403
from opcore.plugins import allow_overrides, ensure_loaded, list_plugins, load_plugin, register_plugin
from opcore.registry import KernelContext, OpDef, Registry, define_op
from opcore.session import Session, get_default_session
from opcore.shapes import Shape
from opcore.tensor import Tensor, Variable, constant, convert_to_tensor, from_dlpack
from opcore.variables import assign, assign_add, assign_sub

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Subpackages not imported up front (opcore.compat, ...) load on first use; a TensorFlow 1
    # name that lives elsewhere in opcore gets a message saying where (opcore.nn, ...).
    if not name.startswith("_") and importlib.util.find_spec(f"opcore.{name}") is not None:
        return importlib.import_module(f"opcore.{name}")
    from opcore.compat._moved import missing, opcore_hint

    raise missing("opcore", name, opcore_hint(name), __all__)


def get_op(name: str) -> OpDef:
    """The op named ``name`` (``"Add"``, ``"myorg.ZeroOut"``), loading plugins first.

    >>> import opcore
    >>> opcore.get_op("MatMul").name
    'MatMul'
    """
    ensure_loaded()
    return registry.get_registry().get_op(name)


def get_registry() -> Registry:
    """The process-wide registry of ops, backends and kernels, with the plugins loaded.

    >>> import opcore
    >>> "numpy" in opcore.get_registry().backends
    True
    """
    ensure_loaded()
    return registry.get_registry()


__all__ = [
    "initializers",
    "io",
    "layers",
    "losses",
    "metrics",
    "datasets",
    "distributed",
    "keras",
    "summary",
    "train",
    "Graph",
    "GraphKeys",
    "GraphVariable",
    "add_to_collection",
    "add_to_collections",
    "get_collection",
    "get_collection_ref",
    "Session",
    "SymbolicTensor",
    "assign",
    "assign_add",
    "assign_sub",
    "disable_eager_execution",
    "enable_eager_execution",
    "executing_eagerly",
    "get_default_graph",
    "get_default_session",
    "global_variables",
    "global_variables_initializer",
    "gradients",
    "group",
    "name_scope",
    "placeholder",
    "reset_default_graph",
    "trainable_variables",
    "Backend",
    "BackendInfo",
    "BackendMismatchError",
    "BackendUnavailableError",
    "CheckpointError",
    "DType",
    "DTypeError",
    "FallbackWarning",
    "GradientError",
    "GradientTape",
    "GraphError",
    "InvalidArgumentError",
    "InvalidIndexError",
    "KernelContext",
    "KernelContractError",
    "KernelNotFoundError",
    "OpDef",
    "OpDefinitionError",
    "OpcoreError",
    "PluginError",
    "ResourceExhaustedError",
    "Shape",
    "ShapeError",
    "Tensor",
    "UnknownBackendError",
    "UnknownOpError",
    "Variable",
    "as_dtype",
    "allow_overrides",
    "available_backends",
    "backend",
    "bool_",
    "config",
    "constant",
    "convert_to_tensor",
    "current_backend",
    "define_op",
    "errors",
    "fallback_policy",
    "float16",
    "float32",
    "float64",
    "from_dlpack",
    "get_backend",
    "get_op",
    "get_registry",
    "hookimpl",
    "int16",
    "int32",
    "int64",
    "int8",
    "list_plugins",
    "load_plugin",
    "ops",
    "plugins",
    "register_plugin",
    "registry",
    "result_type",
    "set_default_backend",
    "stats",
    "uint8",
    "use_backend",
]
__all__ += ops._broadcast.__all__
__all__ += ops.math.__all__
__all__ += ops.array.__all__
__all__ += ops.indexing.__all__
__all__ += ops.reduce.__all__
__all__ += ops.selection.__all__
__all__ += ops.random.__all__
__all__ += ops.nn.__all__
__all__ += ops.train.__all__
