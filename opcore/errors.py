"""The one exception hierarchy of opcore.

Every error opcore raises derives from :class:`OpcoreError` and, where one
fits, from the matching built-in exception, so ``except ValueError`` keeps
working for callers that do not know about opcore.
"""

from __future__ import annotations

__all__ = [
    "BackendMismatchError",
    "BackendUnavailableError",
    "CheckpointError",
    "DTypeError",
    "GradientError",
    "GraphError",
    "KernelContractError",
    "KernelNotFoundError",
    "MissingDependencyError",
    "OpcoreError",
    "OpDefinitionError",
    "PluginError",
    "ShapeError",
    "SummaryError",
    "UnknownBackendError",
    "UnknownOpError",
]


class OpcoreError(Exception):
    """Base class of every error raised by opcore."""


class ShapeError(OpcoreError, ValueError):
    """Shapes that contradict an op's shape function, or a bad shape value."""


class DTypeError(OpcoreError, TypeError):
    """A dtype outside an op's allowed set, or dtypes that cannot be combined."""


class OpDefinitionError(OpcoreError, ValueError):
    """An op declaration, or an op call's attributes, that do not make sense."""


class UnknownOpError(OpcoreError, LookupError):
    """An op name that no installed plugin defines."""


class KernelNotFoundError(OpcoreError, LookupError):
    """No kernel is registered for an (op, backend, dtypes) combination."""


class KernelContractError(OpcoreError, RuntimeError):
    """A kernel returned something other than the shapes and dtypes inferred."""


class UnknownBackendError(OpcoreError, LookupError):
    """A backend name that no installed plugin provides."""


class BackendUnavailableError(OpcoreError, RuntimeError):
    """A backend that is installed but cannot run here (no device, no driver)."""


class BackendMismatchError(OpcoreError, ValueError):
    """Tensors of two backends given to one op."""


class PluginError(OpcoreError, RuntimeError):
    """A plugin that failed to load, or whose registrations clash."""


class GradientError(OpcoreError, LookupError):
    """A differentiable op without a registered gradient, or a bad gradient."""


class GraphError(OpcoreError, RuntimeError):
    """Misuse of graphs: a tensor from another graph, a missing feed, ..."""


class CheckpointError(OpcoreError, RuntimeError):
    """A checkpoint that cannot be written or read."""


class MissingDependencyError(OpcoreError, ImportError):
    """An optional dependency that is not installed; the message names the extra that installs it."""


class SummaryError(OpcoreError, ValueError):
    """Summaries that cannot be written: no step, a closed writer, data that no summary of its kind can take."""
