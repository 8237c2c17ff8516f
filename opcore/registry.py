"""Op definitions, kernel definitions and the registry that validates both.

An op is declared once, as one :class:`OpDef` value holding its signature,
shape function, dtype rule and gradient (TensorFlow's ``REGISTER_OP`` with
``SetShapeFn`` and ``RegisterGradient`` in one place):

>>> from opcore import registry, shapes
>>> zero_out = registry.define_op(
...     "doc.ZeroOut",
...     inputs=["to_zero: T"],
...     outputs=["zeroed: T"],
...     type_vars={"T": "int32, float32"},
...     shape_fn=shapes.unchanged("to_zero"),
...     differentiable=False,
...     register=False,
... )
>>> zero_out.signature
'doc.ZeroOut(to_zero: T) -> (zeroed: T); T in {int32, float32}'

Kernels are registered per (op, backend, dtypes) with
:meth:`Registry.register_kernel`; every registration is validated, and a clash
raises :class:`~opcore.errors.PluginError` naming the plugin, the op and what
clashed.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opcore import dtypes as _dt
from opcore.dtypes import DType
from opcore.errors import (
    PluginError,
    UnknownBackendError,
    UnknownOpError,
)
from opcore.opdef import (
    ArgDef,
    AttrDef,
    GradContext,
    KernelContext,
    KernelFn,
    OpDef,
    add_note,
)

if TYPE_CHECKING:
    from opcore.backend import Backend

__all__ = [
    "ArgDef",
    "AttrDef",
    "GradContext",
    "KernelContext",
    "KernelDef",
    "KernelTable",
    "OpDef",
    "Registry",
    "Override",
    "add_note",
    "define_op",
    "get_registry",
    "install_hint",
]
# A distribution name as PEP 508 allows it (what ``pip install NAME`` accepts).
_DIST_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
#: The built-in backend names and the distributions they belong to.
BUILTIN_BACKENDS = {"numpy": "opcore-numpy", "opencl": "opcore-opencl", "cuda": "opcore-cuda"}


def install_hint(provider: str) -> str:
    """How to get the distribution ``provider``: a ``pip install`` line only for a valid name.

    >>> install_hint("opcore-zero-out")
    'pip install opcore-zero-out'
    >>> install_hint("x; rm -rf ~")
    "install the package that provides it ('x; rm -rf ~' is not a valid distribution name)"
    """
    if isinstance(provider, str) and _DIST_RE.match(provider) and len(provider) <= 200:
        return f"pip install {provider}"
    return f"install the package that provides it ({provider!r} is not a valid distribution name)"


def define_op(name: str, *, register: bool = True, **kwargs: Any) -> OpDef:
    """Declare an op and (by default) register it in the process registry.

    See :class:`OpDef` for the keywords. Returns the OpDef, which is callable.
    """
    op = OpDef(name, **kwargs)
    if register:
        get_registry().register_op(op)
    return op


# --------------------------------------------------------------------------- kernels


@dataclass(frozen=True)
class KernelDef:
    """A kernel: the function that runs ``op`` on ``backend`` for one dtype binding."""

    op: str
    backend: str
    types: tuple[DType, ...]
    #: The function the plugin registered (dispatch notes the op, backend and provider
    #: on anything it raises).
    fn: KernelFn
    provider: str
    #: The provider of the kernel this one overrode, if it overrode one.
    overrode: str = ""

    def describe(self, opdef: OpDef | None = None) -> str:
        if opdef is None or not opdef.type_vars:
            return f"{self.backend}[{', '.join(d.name for d in self.types) or 'no type vars'}]"
        return f"{self.backend}[" + ", ".join(f"{k}={d.name}" for k, d in zip(opdef.type_vars, self.types)) + "]"


DTypeSpec = Any  # None/"all", "float32, float64", [dtypes], {"T": dtypes}, [{"T": dtype}]


@dataclass(frozen=True)
class Override:
    """A kernel registered with ``override=True`` in place of an earlier one."""

    op: str
    backend: str
    types: tuple[DType, ...]
    #: The distribution whose kernel now runs, and the one whose kernel it replaced.
    provider: str
    replaced: str

    def describe(self) -> str:
        dts = "/".join(d.name for d in self.types) or "-"
        return f"{self.op} on {self.backend} [{dts}]: {self.provider} replaced {self.replaced}"


@dataclass
class _Deferred:
    opname: str
    backend: str
    kernels: list[KernelDef]
    override: bool


class Registry:
    """Ops, backends and kernels, with validation and per-plugin attribution."""

    def __init__(self) -> None:
        self.ops: dict[str, OpDef] = {}
        self.backends: dict[str, Backend] = {}
        self._kernels: dict[tuple[str, str], dict[tuple[DType, ...], KernelDef]] = {}
        self._plugin = "opcore"
        self._journal: list[tuple[str, Any]] | None = None
        #: Backend name -> the distribution it belongs to (the built-ins, ``opcore-N`` for N,
        #: then the first distribution that registers a name).
        self.backend_owners: dict[str, str] = dict(BUILTIN_BACKENDS)
        #: Distributions the user allowed to override kernels of backends they do not own.
        self.override_allowed: set[str] = set()
        #: While set, kernels for a backend another distribution owns are held back
        #: (see :meth:`take_deferred`), so that the owner's own kernels come first.
        self.defer_foreign_kernels = False
        self._deferred: dict[str, list[_Deferred]] = {}
        #: Incremented on every change, so caches keyed on the registry can notice.
        self.generation = 0
        #: Called after every change (dispatch drops its cached plans).
        self.on_change: Callable[[], None] | None = None

    @property
    def overrides(self) -> list[Override]:
        """Every kernel override in force (read off the kernel tables; a rollback undoes one)."""
        return [
            Override(kd.op, kd.backend, kd.types, kd.provider, kd.overrode)
            for table in self._kernels.values()
            for kd in table.values()
            if kd.overrode
        ]

    # -- attribution and rollback ------------------------------------------------------

    @contextlib.contextmanager
    def plugin_scope(self, plugin: str) -> Iterator[list[tuple[str, Any]]]:
        """Attribute registrations to ``plugin``; undo all of them if the block raises.

        Yields the journal of what the block registered, for a later :meth:`rollback`.
        """
        prev_plugin, prev_journal = self._plugin, self._journal
        journal: list[tuple[str, Any]] = []
        self._plugin, self._journal = plugin, journal
        try:
            yield journal
        except BaseException:
            self.rollback(journal)
            raise
        finally:
            self._plugin, self._journal = prev_plugin, prev_journal
            if prev_journal is not None and journal:
                prev_journal.extend(journal)

    def rollback(self, journal: list[tuple[str, Any]]) -> None:
        """Undo the registrations recorded in ``journal`` (newest first)."""
        for kind, item in reversed(journal):
            if kind == "op":
                self.ops.pop(item, None)
            elif kind == "backend":
                self.backends.pop(item, None)
            elif kind == "owner":
                self.backend_owners.pop(item, None)
            elif kind == "kernel":
                key, types, previous = item
                table = self._kernels.get(key, {})
                if previous is None:
                    table.pop(types, None)
                else:
                    table[types] = previous
        self._changed()

    def _record(self, kind: str, item: Any) -> None:
        if self._journal is not None:
            self._journal.append((kind, item))
        self._changed()

    def _changed(self) -> None:
        self.generation += 1
        if self.on_change is not None:
            self.on_change()

    # -- ops -----------------------------------------------------------------------

    def register_op(self, op: OpDef) -> OpDef:
        existing = self.ops.get(op.name)
        if existing is not None:
            if existing is op:
                return op
            if not existing.same_signature(op):
                raise PluginError(
                    f"plugin {self._plugin!r} redefines op {op.name!r} with another signature:\n"
                    f"  registered by {existing.provider!r}: {existing.signature} (version {existing.version})\n"
                    f"  new:  {op.signature} (version {op.version})\n"
                    "Give the new op a namespaced name (e.g. 'myorg.Name') or bump nothing and reuse the existing op."
                )
            raise PluginError(
                f"plugin {self._plugin!r} registers op {op.name!r} again; it was already registered "
                f"by {existing.provider!r}"
            )
        op.provider = self._plugin
        self.ops[op.name] = op
        self._record("op", op.name)
        return op

    def get_op(self, name: str, *, provider: str | None = None) -> OpDef:
        """The op named ``name``; ``provider`` (e.g. from a saved graph) names who defines it."""
        op = self.ops.get(name)
        if op is None:
            close = [n for n in self.ops if n.lower().rsplit(".", 1)[-1] == name.lower().rsplit(".", 1)[-1]]
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            if provider is not None:
                where = f" It is provided by distribution {provider!r}: {install_hint(provider)}."
            else:
                where = " An op from a plugin needs that plugin installed."
            raise UnknownOpError(f"no op named {name!r} is registered.{hint}{where} `opcore ops` lists the ops.")
        return op

    # -- backends ------------------------------------------------------------------------

    def register_backend(self, backend: Backend) -> None:
        """Register ``backend`` under its name, which must belong to the registering distribution."""
        name = backend.name
        if not isinstance(name, str) or not name.strip():
            raise PluginError(f"plugin {self._plugin!r} registers a backend with an invalid name {name!r}")
        existing = self.backends.get(name)
        if existing is backend:
            return
        owner = self.backend_owners.get(name)
        if owner is not None and owner != self._plugin:
            raise PluginError(
                f"plugin {self._plugin!r} registers backend {name!r}, but that name belongs to distribution "
                f"{owner!r}; a backend name belongs to one distribution. Give the backend another name."
            )
        if existing is not None:
            raise PluginError(
                f"plugin {self._plugin!r} registers backend {name!r}, which distribution "
                f"{getattr(existing, 'provider', '?')!r} already provides"
            )
        backend.provider = self._plugin
        self.backends[name] = backend
        self._record("backend", name)
        if owner is None:
            self.backend_owners[name] = self._plugin
            self._record("owner", name)

    def backend_owner(self, name: str) -> str | None:
        """The distribution a backend name belongs to (None: nobody has claimed it)."""
        b = self.backends.get(name)
        if b is not None:
            return b.provider
        return self.backend_owners.get(name)

    def get_backend(self, name: str) -> Backend:
        b = self.backends.get(name)
        if b is None:
            raise UnknownBackendError(
                f"no backend named {name!r} is installed; installed backends: "
                f"{', '.join(sorted(self.backends)) or 'none'}. "
                "Backends are plugins: install e.g. opcore-numpy, opcore-opencl or opcore-cuda."
            )
        return b

    # -- kernels ----------------------------------------------------------------------------

    def register_kernel(
        self,
        op: str | OpDef,
        backend: str,
        fn: KernelFn,
        dtypes: DTypeSpec = None,
        *,
        override: bool = False,
    ) -> list[KernelDef]:
        """Register ``fn`` as the kernel of ``op`` on ``backend`` for ``dtypes``.

        ``dtypes`` is None (every combination the op allows), a dtype or list of
        dtypes (ops with one type variable), a mapping ``{"T": [...], "Tidx": [...]}``
        (the product), or a list of such mappings.
        """
        opname = op.name if isinstance(op, OpDef) else op
        opdef = self.ops.get(opname)
        if opdef is None:
            raise PluginError(
                f"plugin {self._plugin!r} registers a kernel for unknown op {opname!r} on backend "
                f"{backend!r}; define the op first (or install the plugin that defines it)"
            )
        if opdef.composite is not None:
            raise PluginError(
                f"plugin {self._plugin!r} registers a kernel for {opname!r}, a composite op "
                "(it runs as other ops and takes no kernel)"
            )
        if not callable(fn):
            raise PluginError(
                f"plugin {self._plugin!r} registers a kernel for op {opname!r} on backend {backend!r} "
                f"that is not callable: {fn!r}"
            )
        kernels = [KernelDef(opname, backend, opdef.type_key(b), fn, self._plugin) for b in self._expand(opdef, dtypes)]
        pending = _Deferred(opname, backend, kernels, override)
        if self.defer_foreign_kernels and self.backend_owner(backend) != self._plugin:
            self._deferred.setdefault(self._plugin, []).append(pending)
            return kernels
        return self._add_kernels(pending)

    def take_deferred(self, plugin: str) -> list[_Deferred]:
        """Remove and return the kernel registrations held back for ``plugin``."""
        return self._deferred.pop(plugin, [])

    def apply_deferred(self, pending: list[_Deferred]) -> None:
        """Register held-back kernels (inside the plugin's :meth:`plugin_scope`)."""
        for p in pending:
            self._add_kernels(p)

    def _add_kernels(self, p: _Deferred) -> list[KernelDef]:
        opdef = self.ops[p.opname]
        owner = self.backend_owner(p.backend)
        table = self._kernels.setdefault((p.opname, p.backend), {})
        out: list[KernelDef] = []
        for kd in p.kernels:
            previous = table.get(kd.types)
            if previous is not None:
                if not p.override:
                    raise PluginError(
                        f"plugin {self._plugin!r} registers a second kernel for op {p.opname!r} on backend "
                        f"{p.backend!r} for {previous.describe(opdef)} (the first came from "
                        f"{previous.provider!r}); pass override=True to replace it on purpose"
                    )
                if self._plugin != owner and self._plugin not in self.override_allowed:
                    raise PluginError(
                        f"plugin {self._plugin!r} tries to override the kernel of op {p.opname!r} on backend "
                        f"{p.backend!r} for {previous.describe(opdef)} (from {previous.provider!r}); only the "
                        f"backend's own distribution {owner!r} may override its kernels. A user who wants this "
                        f"opts in with opcore.plugins.allow_overrides({self._plugin!r}) before the plugins load, "
                        f"or OPCORE_ALLOW_OVERRIDES={self._plugin}"
                    )
                kd = KernelDef(kd.op, kd.backend, kd.types, kd.fn, kd.provider, previous.provider)
            table[kd.types] = kd
            self._record("kernel", ((p.opname, p.backend), kd.types, previous))
            out.append(kd)
        return out

    def _expand(self, opdef: OpDef, dtypes: DTypeSpec) -> list[dict[str, DType]]:
        tvs = opdef.type_vars
        if dtypes is None or dtypes == "all":
            return opdef.dtype_combinations()
        if isinstance(dtypes, Mapping):
            specs: list[Mapping[str, Any]] = [dtypes]
        elif isinstance(dtypes, (str, DType)):
            specs = [{k: dtypes for k in tvs}] if len(tvs) == 1 else []
        else:
            items = list(dtypes)
            if items and all(isinstance(i, Mapping) for i in items):
                specs = items
            elif len(tvs) == 1:
                specs = [{next(iter(tvs)): items}]
            else:
                specs = []
        if not specs:
            raise PluginError(
                f"plugin {self._plugin!r}: op {opdef.name!r} has type variables {list(tvs)}; "
                "give kernel dtypes as a mapping like {'T': [...]} "
            )
        out: list[dict[str, DType]] = []
        for spec in specs:
            unknown = set(spec) - set(tvs)
            missing = set(tvs) - set(spec)
            if unknown or missing:
                raise PluginError(
                    f"plugin {self._plugin!r}: kernel dtypes for op {opdef.name!r} name type variables "
                    f"{sorted(spec)}, but the op declares {list(tvs)}"
                )
            choices: list[tuple[DType, ...]] = []
            for k in tvs:
                v = spec[k]
                vals = _dt.parse_dtype_set(v if not isinstance(v, DType) else [v])
                bad = [d.name for d in vals if d not in tvs[k]]
                if bad:
                    raise PluginError(
                        f"plugin {self._plugin!r} registers a kernel for op {opdef.name!r} with "
                        f"{k}={', '.join(bad)}, outside the op's allowed set "
                        f"{{{', '.join(d.name for d in tvs[k])}}}"
                    )
                choices.append(vals)
            out.extend(dict(zip(tvs, combo)) for combo in itertools.product(*choices))
        return out

    def kernel(self, op: str, backend: str, types: tuple[DType, ...]) -> KernelDef | None:
        table = self._kernels.get((op, backend))
        return None if table is None else table.get(types)

    def kernels_for(self, op: str, backend: str | None = None) -> list[KernelDef]:
        """Every kernel registered for ``op`` (on one backend, or all)."""
        out: list[KernelDef] = []
        for (o, b), table in self._kernels.items():
            if o == op and (backend is None or b == backend):
                out.extend(table.values())
        return out

    def claimed(self, backend: str) -> dict[str, list[tuple[DType, ...]]]:
        """What a backend claims: op name -> dtype bindings it has kernels for."""
        out: dict[str, list[tuple[DType, ...]]] = {}
        for (o, b), table in self._kernels.items():
            if b == backend and table:
                out[o] = list(table)
        return out


class KernelTable:
    """Collects a family's kernels; the plugin registers all tables at once.

    >>> T = KernelTable()
    >>> @T.kernel("Add", dtypes="float32, float64")
    ... def add(ctx, x, y):
    ...     return x + y
    """

    def __init__(self) -> None:
        self.entries: dict[str, tuple[KernelFn, Any]] = {}

    def kernel(self, op: str, dtypes: Any = None) -> Callable[[KernelFn], KernelFn]:
        """Decorator: ``fn`` is the kernel of ``op`` for ``dtypes`` (None: every dtype the op allows)."""

        def deco(fn: KernelFn) -> KernelFn:
            self.add(op, fn, dtypes)
            return fn

        return deco

    def add(self, op: str, fn: KernelFn, dtypes: Any = None) -> None:
        if op in self.entries:
            raise ValueError(f"kernel table already has an entry for {op!r}")
        self.entries[op] = (fn, dtypes)

    def __iter__(self) -> Iterator[tuple[str, KernelFn, Any]]:
        for op, (fn, dtypes) in self.entries.items():
            yield op, fn, dtypes


_REGISTRY = Registry()


def get_registry() -> Registry:
    """The process-wide registry."""
    return _REGISTRY
