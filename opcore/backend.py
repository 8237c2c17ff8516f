"""The Backend protocol, backend selection and the fallback policy.

A backend is an object that says its name, whether it can run here (and why
not), its devices and capabilities, and how to move NumPy arrays in and out.
Its kernels live in the registry, keyed by (op, backend, dtypes).

Selection order: an explicit ``backend=`` argument, then the innermost
``with opcore.use_backend(name):`` block, then :func:`set_default_backend`, then
the ``OPCORE_BACKEND`` environment variable, then ``"numpy"``.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from opcore.dtypes import DType
from opcore.errors import BackendUnavailableError, OpDefinitionError
from opcore.plugins import ensure_loaded
from opcore.registry import get_registry

__all__ = [
    "Backend",
    "BackendInfo",
    "Config",
    "FallbackPolicy",
    "available_backends",
    "config",
    "current_backend",
    "fallback_policy",
    "get_backend",
    "set_default_backend",
    "stats",
    "use_backend",
]

FallbackPolicy = Literal["error", "warn", "allow"]
_POLICIES = ("error", "warn", "allow")


class Backend:
    """Base class of backends. Subclasses override what differs.

    A backend must not import its array library (cupy, pyopencl) in
    ``__init__``: do it in :meth:`load`, which dispatch calls on first use.
    """

    name: str = ""
    #: The distribution that registered the backend (set by the registry).
    provider: str = ""
    #: The native array type's name, for messages.
    array_type: str = "array"
    #: Optional explicit manifest of what the backend claims, as ``(op, dtypes)`` pairs
    #: (see the conformance suite); by default it claims the kernels it registers.
    claims: Any = None
    #: The exact native array class, when there is one: lets dispatch check a kernel's
    #: result with one type comparison (None: dispatch uses :meth:`is_native`).
    native_type: type | None = None
    #: True when native arrays live in host memory (moving them is no transfer).
    on_host: bool = False

    def availability(self) -> tuple[bool, str]:
        """``(True, "")`` when usable here, else ``(False, reason)``. Never raises."""
        return True, ""

    def load(self) -> None:
        """Import the array library and pick the device. Called once, on first use."""

    def devices(self) -> list[str]:
        return [f"{self.name}:0"]

    def capabilities(self) -> dict[str, bool]:
        """Flags such as ``{"float64": True, "float16": True}``."""
        return {"float64": True, "float16": True}

    def supports(self, dtype: DType) -> tuple[bool, str]:
        """Whether the device can hold ``dtype``, and the reason when not."""
        caps = self.capabilities()
        if dtype.name in caps and not caps[dtype.name]:
            return False, f"the {self.name} device has no {dtype.name} support"
        return True, ""

    def max_allocation(self) -> int | None:
        """The largest single array in bytes this device can hold, or None when unknown.

        Dispatch and sessions refuse an op whose output alone is larger with
        ResourceExhaustedError before its kernel runs. Called once per backend.
        """
        return None

    def is_out_of_memory(self, exc: BaseException) -> bool:
        """Whether ``exc``, raised by a kernel, means the device ran out of memory.

        Backends whose array library has its own out-of-memory errors extend this;
        dispatch turns such errors into ResourceExhaustedError naming the op.
        """
        return isinstance(exc, MemoryError)

    def unsupported(self, dtypes: Iterable[DType]) -> str:
        """Why a kernel reading or writing ``dtypes`` cannot run here (empty when it can).

        The one rule for every caller: a kernel needs device support for each
        dtype it reads (the op's type variables) and each it writes (its outputs).
        Eager dispatch and sessions raise DTypeError with the reason; the
        conformance suite reports such an item as unsupported.
        """
        for d in dtypes:
            ok, reason = self.supports(d)
            if not ok:
                return reason
        return ""

    def from_numpy(self, array: np.ndarray) -> Any:
        """Move a host array onto the backend."""
        raise NotImplementedError

    def to_numpy(self, array: Any) -> np.ndarray:
        """Copy a native array back to the host."""
        raise NotImplementedError

    def is_native(self, value: Any) -> bool:
        """Whether ``value`` is this backend's native array type."""
        raise NotImplementedError

    def upload(self, array: np.ndarray) -> Any:
        """``from_numpy``, counted: every host-to-device copy goes through here."""
        if not self.on_host:
            stats.transfers[f"host->{self.name}"] += 1
        return self.from_numpy(array)

    def download(self, array: Any) -> np.ndarray:
        """``to_numpy``, counted: every device-to-host copy goes through here."""
        if not self.on_host:
            stats.transfers[f"{self.name}->host"] += 1
        return self.to_numpy(array)

    def may_overwrite(self, array: Any) -> bool:
        """Whether an update may write into ``array``, the buffer of a variable whose one
        tensor is being replaced: True only when nothing else reads it (no other tensor,
        no view). The default, False, keeps every update functional (a new buffer per step).
        """
        return False

    def shape_of(self, array: Any) -> tuple[int, ...]:
        return tuple(array.shape)

    def dtype_of(self, array: Any) -> np.dtype[Any]:
        """The NumPy dtype of a native array (override when ``array.dtype`` is not a NumPy dtype)."""
        dt: np.dtype[Any] = np.dtype(array.dtype)
        return dt

    def matches(self, array: Any, shape: tuple[int, ...], dtype: np.dtype[Any]) -> bool:
        """Whether a kernel's result is a native array of ``shape`` and NumPy ``dtype``.

        Asks :meth:`shape_of` and :meth:`dtype_of` rather than reading ``.shape``
        and ``.dtype``, so it holds for array types whose ``.dtype`` is their own
        (a torch tensor's ``torch.float32``).
        """
        native = self.native_type
        if native is not None:
            if type(array) is not native:
                return False
        elif not self.is_native(array):
            return False
        try:
            return self.shape_of(array) == shape and self.dtype_of(array) == dtype
        except (TypeError, ValueError):
            return False

    def deferred_checks(self) -> contextlib.AbstractContextManager[Callable[[], None]]:
        """A scope in which kernels may postpone their checks of input values to its end.

        A device kernel cannot raise: it reports an invalid index through an error
        flag that the host must read back, which waits for the device. Outside this
        scope (eager calls) a kernel reads its flag before returning, so the call
        raises; inside it the backend may collect the flags and read them when the
        scope exits, raising the first error (in launch order) then. The scope
        yields a function that reads the collected flags at once (sessions call it
        before a variable takes a new value). Sessions run every plan inside it.
        The default postpones nothing: a host backend checks as it goes.
        """
        return contextlib.nullcontext(_nothing_pending)

    def __repr__(self) -> str:
        return f"<Backend {self.name!r} from {self.provider or '?'}>"


def _nothing_pending() -> None:
    """The checks a backend without deferred checks has pending: none."""


@dataclass
class BackendInfo:
    """One installed backend as :func:`available_backends` reports it."""

    name: str
    available: bool
    reason: str
    provider: str
    devices: list[str] = field(default_factory=list)
    capabilities: dict[str, bool] = field(default_factory=dict)


@dataclass
class Stats:
    """Counters of fallbacks and host/device transfers since the last reset."""

    fallbacks: Counter[str] = field(default_factory=Counter)
    transfers: Counter[str] = field(default_factory=Counter)

    def reset(self) -> None:
        self.fallbacks.clear()
        self.transfers.clear()

    def report(self) -> str:
        lines = ["fallbacks:"] + [f"  {k}: {v}" for k, v in sorted(self.fallbacks.items())]
        lines += ["transfers:"] + [f"  {k}: {v}" for k, v in sorted(self.transfers.items())]
        return "\n".join(lines)


class Config:
    """Process-wide settings. Environment variables only supply the defaults.

    - ``default_backend``: from ``OPCORE_BACKEND``, else ``"numpy"``.
    - ``fallback``: ``"error"`` (default), ``"warn"`` or ``"allow"``, from
      ``OPCORE_FALLBACK``. With ``warn``/``allow``, an op that has no kernel
      on the chosen backend runs on NumPy and its result is copied back.
    """

    def __init__(self) -> None:
        self.default_backend: str | None = None
        self.fallback: FallbackPolicy = "error"
        self.reset()

    def reset(self) -> None:
        self.default_backend = os.environ.get("OPCORE_BACKEND") or "numpy"
        env = os.environ.get("OPCORE_FALLBACK", "error")
        self.fallback = env if env in _POLICIES else "error"  # type: ignore[assignment]


config = Config()
stats = Stats()
_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("opcore_backend", default=None)
_fallback: contextvars.ContextVar[FallbackPolicy | None] = contextvars.ContextVar("opcore_fallback", default=None)
_ready: dict[str, Backend] = {}


def set_default_backend(name: str) -> None:
    """Set the process default backend (checked now, so a typo fails here)."""
    get_backend(name)
    config.default_backend = name


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[Backend]:
    """Run the block with ``name`` as the current backend.

    >>> import opcore
    >>> with opcore.use_backend("numpy"):
    ...     opcore.constant([1.0]).backend
    'numpy'
    """
    b = get_backend(name)
    token = _current.set(name)
    try:
        yield b
    finally:
        _current.reset(token)


def current_backend_name(explicit: str | None = None) -> str:
    if explicit is not None:
        return explicit
    return _current.get() or config.default_backend or "numpy"


def current_backend(explicit: str | None = None) -> Backend:
    """The backend an op call with no tensor inputs runs on."""
    return get_backend(current_backend_name(explicit))


def get_backend(name: str) -> Backend:
    """The named backend, loaded and ready; raises if unknown or unavailable."""
    ready = _ready.get(name)
    if ready is not None:
        return ready
    ensure_loaded()
    b = get_registry().get_backend(name)
    try:
        ok, reason = b.availability()
    except Exception as exc:
        raise BackendUnavailableError(
            f"backend {name!r} (from {b.provider!r}) cannot tell whether it is available: its availability() "
            f"raised {type(exc).__name__}: {exc}"
        ) from exc
    if not ok:
        raise BackendUnavailableError(
            f"backend {name!r} is installed but unavailable here: {reason}. "
            "`opcore backends` lists every backend with its status."
        )
    try:
        b.load()
    except Exception as exc:
        raise BackendUnavailableError(
            f"backend {name!r} (from {b.provider!r}) failed to load: {type(exc).__name__}: {exc}. "
            "`opcore backends` lists every backend with its status."
        ) from exc
    _ready[name] = b
    return b


@contextlib.contextmanager
def fallback_policy(policy: FallbackPolicy) -> Iterator[None]:
    """Opt into running ops that lack a kernel on NumPy for the block."""
    if policy not in _POLICIES:
        raise OpDefinitionError(f"fallback policy must be one of {_POLICIES}, got {policy!r}")
    token = _fallback.set(policy)
    try:
        yield
    finally:
        _fallback.reset(token)


def current_fallback_policy() -> FallbackPolicy:
    return _fallback.get() or config.fallback


def available_backends() -> list[BackendInfo]:
    """Every installed backend with whether it is available here and why not."""
    ensure_loaded()
    out: list[BackendInfo] = []
    for name, b in sorted(get_registry().backends.items()):
        try:
            ok, reason = b.availability()
        except Exception as exc:  # a backend's own probe failing is reported, not raised
            ok, reason = False, f"availability check raised {type(exc).__name__}: {exc}"
        info = BackendInfo(name, ok, reason, b.provider)
        if ok:
            try:
                info.devices = b.devices()
                info.capabilities = b.capabilities()
            except Exception as exc:
                info.available, info.reason = False, f"{type(exc).__name__}: {exc}"
        out.append(info)
    return out
