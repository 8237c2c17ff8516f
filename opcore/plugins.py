"""Finding, loading and isolating plugins.

Plugins are entry points in the ``opcore`` group. Each is loaded and each of
its hooks is called on its own: a plugin that raises (``SystemExit``
included) is *quarantined* (its registrations rolled back, its traceback
kept) and never breaks ``import opcore`` or the other plugins. A
``KeyboardInterrupt`` is not swallowed: it propagates, everything that load
registered is undone, and the next use loads again from scratch.

Loading happens once per process, under a lock, and is marked done only when
it is: threads that make their first op call at the same time all wait for
it. ``OPCORE_DISABLE_PLUGIN_AUTOLOAD=1`` turns autoloading off;
:func:`load_plugin` then loads plugins by name.

Ownership: a backend name belongs to one distribution (see
:meth:`opcore.registry.Registry.backend_owner`), and only that distribution
may override the backend's kernels, unless the user opts in with
:func:`allow_overrides` (or ``OPCORE_ALLOW_OVERRIDES=dist1,dist2``).
"""

from __future__ import annotations

import difflib
import functools
import importlib.metadata as md
import inspect
import os
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pluggy

from opcore import hookspecs
from opcore.errors import PluginError
from opcore.registry import Registry, get_registry

__all__ = [
    "PluginRecord",
    "allow_overrides",
    "conformance_specs",
    "ensure_loaded",
    "list_plugins",
    "load_plugin",
    "plugin_manager",
    "register_plugin",
]

_PHASES = ("opcore_register_ops", "opcore_register_backends", "opcore_register_kernels")
_HOOK_NAMES = frozenset(name for name in dir(hookspecs) if name.startswith(f"{hookspecs.PROJECT}_"))
#: Exceptions that quarantine a plugin. Anything else (KeyboardInterrupt) propagates.
_QUARANTINED = (Exception, SystemExit)


@dataclass
class PluginRecord:
    """One plugin as ``opcore backends`` shows it."""

    name: str
    distribution: str
    version: str
    status: str  # "loaded" or "quarantined"
    error: str = ""
    traceback: str = ""


_pm = pluggy.PluginManager(hookspecs.PROJECT)
_pm.add_hookspecs(hookspecs)
_records: dict[str, PluginRecord] = {}
_journals: dict[str, list[list[tuple[str, Any]]]] = {}
# RLock: a plugin's import may itself reach ensure_loaded (through opcore.get_op, say).
_lock = threading.RLock()
_done = False
_loading = False


def plugin_manager() -> pluggy.PluginManager:
    return _pm


def list_plugins() -> list[PluginRecord]:
    """Every plugin seen so far, loaded or quarantined (loading the plugins first).

    >>> import opcore
    >>> "numpy" in [p.name for p in opcore.list_plugins() if p.status == "loaded"]
    True
    """
    ensure_loaded()
    return list(_records.values())


def allow_overrides(*distributions: str) -> None:
    """Let these distributions override kernels of backends they do not own.

    Without this opt-in only a backend's own distribution may pass
    ``override=True`` for that backend. Call it before the plugins load (before
    the first op call), or set ``OPCORE_ALLOW_OVERRIDES=dist1,dist2``; every
    override is listed by ``opcore backends`` and ``opcore ops``.
    """
    for d in distributions:
        if not isinstance(d, str) or not d:
            raise PluginError(f"allow_overrides takes distribution names (strings), got {d!r}")
    get_registry().override_allowed.update(distributions)


def _entry_points() -> dict[str, md.EntryPoint]:
    return {ep.name: ep for ep in md.entry_points(group=hookspecs.PROJECT)}


def ensure_loaded() -> None:
    """Load every entry-point plugin once, unless autoloading is disabled.

    Safe to call from any thread: the first caller loads while the others
    wait; an interrupted load leaves nothing behind and runs again next time.
    """
    global _done, _loading
    if _done:
        return
    with _lock:
        if _done or _loading:  # done by another thread, or re-entered from a plugin's import
            return
        _loading = True
        try:
            if os.environ.get("OPCORE_DISABLE_PLUGIN_AUTOLOAD", "") not in ("", "0"):
                _done = True
                return
            env = os.environ.get("OPCORE_ALLOW_OVERRIDES", "")
            get_registry().override_allowed.update(d.strip() for d in env.split(",") if d.strip())
            eps = _entry_points()
            _claim_conventional_names(eps.values())
            _load_entry_points([ep for name, ep in sorted(eps.items()) if name not in _records])
            _done = True
        finally:
            _loading = False


def load_plugin(name: str) -> PluginRecord:
    """Load one entry-point plugin by name (for ``OPCORE_DISABLE_PLUGIN_AUTOLOAD=1``)."""
    with _lock:
        if name in _records:
            return _records[name]
        eps = _entry_points()
        ep = eps.get(name)
        if ep is None:
            raise PluginError(
                f"no plugin named {name!r} in entry-point group 'opcore'; installed: {', '.join(sorted(eps)) or 'none'}"
            )
        _claim_conventional_names(eps.values())
        _load_entry_points([ep])
        return _records[name]


def register_plugin(obj: ModuleType | object, name: str | None = None) -> PluginRecord:
    """Register a plugin object directly (no entry point), with the same isolation.

    Its distribution is taken to be ``name`` (or the object's ``__name__``).
    """
    ensure_loaded()
    pname = name or getattr(obj, "__name__", None) or type(obj).__name__
    with _lock:
        _register_batch([(pname, obj, pname, "")])
        return _records[pname]


def _claim_conventional_names(eps: Iterable[md.EntryPoint]) -> None:
    """A backend named N belongs to the installed distribution ``opcore-N``."""
    owners = get_registry().backend_owners
    for ep in eps:
        dist, _ = _dist_of(ep)
        if dist.startswith("opcore-"):
            owners.setdefault(dist[len("opcore-") :], dist)


def _load_entry_points(eps: list[md.EntryPoint]) -> None:
    staged: list[tuple[str, Any, str, str]] = []
    for ep in eps:
        dist, version = _dist_of(ep)
        try:
            obj = ep.load()
        except _QUARANTINED as exc:
            _quarantine(ep.name, dist, version, f"import failed: {type(exc).__name__}: {exc}")
            continue
        staged.append((ep.name, obj, dist, version))
    _register_batch(staged)


def _dist_of(ep: md.EntryPoint) -> tuple[str, str]:
    dist = ep.dist
    if dist is None:
        return ep.value.split(":")[0].split(".")[0], ""
    return dist.metadata["Name"], dist.version


def _quarantine(name: str, dist: str, version: str, error: str) -> PluginRecord:
    _roll_back(name)
    rec = PluginRecord(name, dist, version, "quarantined", error, traceback.format_exc())
    _records[name] = rec
    if _pm.get_plugin(name) is not None:
        _pm.unregister(name=name)
    return rec


def _roll_back(name: str) -> None:
    """Undo every registration ``name`` made, newest first."""
    registry = get_registry()
    for earlier in reversed(_journals.pop(name, [])):
        registry.rollback(earlier)


def _forget(name: str) -> None:
    """Undo everything known about ``name``, as if it had never been loaded."""
    _roll_back(name)
    _records.pop(name, None)
    if _pm.get_plugin(name) is not None:
        _pm.unregister(name=name)


def _hook_problems(obj: Any) -> str:
    """Names that look like hooks but are not: misspelled, or not marked with ``@hookimpl``."""
    problems = []
    found = 0
    for attr in dir(obj):
        if not attr.startswith(f"{hookspecs.PROJECT}_"):
            continue
        value = inspect.getattr_static(obj, attr, None)
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if not callable(value):
            continue
        if attr not in _HOOK_NAMES:
            close = difflib.get_close_matches(attr, sorted(_HOOK_NAMES), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; the hooks are {', '.join(sorted(_HOOK_NAMES))}"
            problems.append(f"{attr!r} is not an opcore hook{hint}")
            continue
        found += 1
        if _pm.parse_hookimpl_opts(obj, attr) is None:
            problems.append(f"{attr!r} is not marked with @opcore.hookimpl, so opcore never calls it")
    if not problems and not found:
        problems.append(f"it implements none of the opcore hooks ({', '.join(sorted(_HOOK_NAMES))})")
    return "; ".join(problems)


def _register_batch(staged: list[tuple[str, Any, str, str]]) -> None:
    """Register plugins; an interrupt undoes the whole batch before it propagates."""
    names = [name for name, *_ in staged]
    try:
        _register_all(staged)
    except BaseException:
        for name in names:
            _forget(name)
        raise


def _register_all(staged: list[tuple[str, Any, str, str]]) -> None:
    """Register each plugin's hooks, phase by phase, each call isolated."""
    registry = get_registry()
    ok: list[tuple[str, Any, str, str]] = []
    for name, obj, dist, version in staged:
        try:
            problems = _hook_problems(obj)
            if problems:
                raise PluginError(f"plugin {name!r} (distribution {dist!r}): {problems}")
            _pm.register(obj, name=name)
        except _QUARANTINED as exc:
            _quarantine(name, dist, version, f"invalid hooks: {type(exc).__name__}: {exc}")
            continue
        _records[name] = PluginRecord(name, dist, version, "loading")
        ok.append((name, obj, dist, version))
    for phase in _PHASES:
        if phase == "opcore_register_kernels":
            # Kernels for a backend its own distribution does not own are held back
            # until every owner has registered, so a third party can never pre-empt
            # a backend's own kernels (and displacing them needs an explicit override).
            registry.defer_foreign_kernels = True
        try:
            for name, _obj, dist, version in ok:
                if _records[name].status == "quarantined":
                    continue
                fn = _hook_function(name, phase)
                if fn is not None:
                    _call_isolated(registry, functools.partial(fn, registry=registry), name, dist, version, phase)
        finally:
            registry.defer_foreign_kernels = False
    for name, _obj, dist, version in ok:
        pending = registry.take_deferred(dist)
        if pending and _records[name].status != "quarantined":
            _call_isolated(
                registry,
                functools.partial(registry.apply_deferred, pending),
                name,
                dist,
                version,
                "opcore_register_kernels",
            )
    for name, *_ in ok:
        if _records[name].status == "loading":
            _records[name].status = "loaded"


def _hook_function(plugin: str, phase: str) -> Callable[..., Any] | None:
    for impl in getattr(_pm.hook, phase).get_hookimpls():
        if impl.plugin_name == plugin:
            return impl.function  # type: ignore[no-any-return]
    return None


def _call_isolated(registry: Registry, call: Callable[[], Any], name: str, dist: str, version: str, phase: str) -> None:
    try:
        with registry.plugin_scope(dist) as journal:
            call()
    except _QUARANTINED as exc:
        # The failing phase is already rolled back; _quarantine undoes the earlier phases.
        registry.take_deferred(dist)
        _quarantine(name, dist, version, f"{phase} raised {type(exc).__name__}: {exc}")
    else:
        _journals.setdefault(name, []).append(journal)


def conformance_specs() -> list[Any]:
    """Every plugin's conformance specs (see ``opcore_conformance_specs``).

    A plugin whose hook raises is quarantined like one whose registration
    raises; the other plugins' specs are still returned.
    """
    ensure_loaded()
    out: list[Any] = []
    with _lock:
        for impl in _pm.hook.opcore_conformance_specs.get_hookimpls():
            rec = _records.get(impl.plugin_name)
            if rec is not None and rec.status != "loaded":
                continue
            try:
                returned: Any = impl.function()
                specs = list(returned or [])
            except _QUARANTINED as exc:
                if rec is not None:
                    _quarantine(
                        rec.name,
                        rec.distribution,
                        rec.version,
                        f"opcore_conformance_specs raised {type(exc).__name__}: {exc}",
                    )
                continue
            out.extend(specs)
    return out
