"""The one exception hierarchy of opcore.

Every error opcore raises derives from :class:`OpcoreError` and, where one
fits, from the matching built-in exception, so ``except ValueError`` keeps
working for callers that do not know about opcore.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "BackendMismatchError",
    "BackendUnavailableError",
    "CheckpointError",
    "DTypeError",
    "GradientError",
    "GraphError",
    "InvalidArgumentError",
    "InvalidIndexError",
    "KernelContractError",
    "KernelNotFoundError",
    "MissingDependencyError",
    "OpcoreError",
    "OpDefinitionError",
    "PluginError",
    "ResourceExhaustedError",
    "ShapeError",
    "SummaryError",
    "UnknownBackendError",
    "UnknownOpError",
]


class OpcoreError(Exception):
    """Base class of every error raised by opcore."""


class ShapeError(OpcoreError, ValueError):
    """Shapes that contradict an op's shape function, or a bad shape value."""


class InvalidIndexError(ShapeError, IndexError):
    """An index or class label outside its valid range: in an op's input values, or in its attributes.

    Raised with the same type and message on every backend (each op's doc states
    its rule). A :class:`ShapeError` and an :class:`IndexError`, so code catching
    either keeps working. ``op``, ``position`` (a tuple into the input; empty for a
    scalar) and ``value`` are set when the bad index comes from an input's values.
    """

    op: str = ""
    position: tuple[int, ...] = ()
    value: int | None = None

    @classmethod
    def out_of_range(
        cls, op: str, name: str, position: Sequence[int], value: int, size: int, meaning: str
    ) -> InvalidIndexError:
        """The error for ``name[position] = value`` outside ``[0, size)``, where ``size`` is ``meaning``.

        >>> print(InvalidIndexError.out_of_range("GatherV2", "indices", [1], 10, 10, "the size of params along axis 0"))
        GatherV2: indices[1] = 10 is out of range: it must be in [0, 10), the size of params along axis 0
        """
        where = f"{name}[{', '.join(str(int(p)) for p in position)}]" if len(position) else name
        exc = cls(f"{op}: {where} = {int(value)} is out of range: it must be in [0, {size}), {meaning}")
        exc.op, exc.position, exc.value = op, tuple(int(p) for p in position), int(value)
        return exc


class DTypeError(OpcoreError, TypeError):
    """A dtype outside an op's allowed set, or dtypes that cannot be combined."""


class InvalidArgumentError(OpcoreError, ValueError, TypeError):
    """A Python API called with an argument it cannot take (an optimizer's loss that is not
    callable when executing eagerly, a learning rate that is not a number ...).

    Both a ValueError and a TypeError, so code that caught either keeps working.
    """


class ResourceExhaustedError(OpcoreError, MemoryError):
    """An op needs more memory than its device has (TensorFlow's ResourceExhaustedError).

    The message names the op, the backend and the size asked for. Raised before
    the kernel runs when an output alone exceeds what the device can hold, and
    for an out-of-memory error the kernel or the device raised.
    """


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
