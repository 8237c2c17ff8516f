"""Finding, loading and isolating plugins.

Plugins are entry points in the ``opcore`` group. Each is loaded and each of
its hooks is called on its own: a plugin that raises is *quarantined* (its
registrations rolled back, its traceback kept) and never breaks ``import
opcore`` or the other plugins. ``OPCORE_DISABLE_PLUGIN_AUTOLOAD=1`` turns
autoloading off; :func:`load_plugin` then loads plugins by name.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pluggy

from opcore import hookspecs
from opcore.errors import PluginError
from opcore.registry import Registry, get_registry

__all__ = ["PluginRecord", "ensure_loaded", "load_plugin", "plugin_manager", "plugins", "register_plugin"]

_PHASES = ("opcore_register_ops", "opcore_register_backends", "opcore_register_kernels")


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
_loaded = False


def plugin_manager() -> pluggy.PluginManager:
    return _pm


def plugins() -> list[PluginRecord]:
    """Every plugin seen so far, loaded or quarantined."""
    ensure_loaded()
    return list(_records.values())


def _entry_points() -> dict[str, md.EntryPoint]:
    return {ep.name: ep for ep in md.entry_points(group=hookspecs.PROJECT)}


def ensure_loaded() -> None:
    """Load every entry-point plugin once, unless autoloading is disabled."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    if os.environ.get("OPCORE_DISABLE_PLUGIN_AUTOLOAD", "") not in ("", "0"):
        return
    eps = _entry_points()
    staged: list[tuple[str, Any, str, str]] = []
    for name, ep in sorted(eps.items()):
        dist, version = _dist_of(ep)
        try:
            obj = ep.load()
        except Exception as exc:
            _quarantine(name, dist, version, f"import failed: {type(exc).__name__}: {exc}")
            continue
        staged.append((name, obj, dist, version))
    _register_all(staged)


def load_plugin(name: str) -> PluginRecord:
    """Load one entry-point plugin by name (for ``OPCORE_DISABLE_PLUGIN_AUTOLOAD=1``)."""
    global _loaded
    _loaded = True
    if name in _records:
        return _records[name]
    eps = _entry_points()
    ep = eps.get(name)
    if ep is None:
        raise PluginError(
            f"no plugin named {name!r} in entry-point group 'opcore'; installed: {', '.join(sorted(eps)) or 'none'}"
        )
    dist, version = _dist_of(ep)
    try:
        obj = ep.load()
    except Exception as exc:
        return _quarantine(name, dist, version, f"import failed: {type(exc).__name__}: {exc}")
    _register_all([(name, obj, dist, version)])
    return _records[name]


def register_plugin(obj: ModuleType | object, name: str | None = None) -> PluginRecord:
    """Register a plugin object directly (no entry point), with the same isolation."""
    ensure_loaded()
    pname = name or getattr(obj, "__name__", None) or type(obj).__name__
    _register_all([(pname, obj, pname, "")])
    return _records[pname]


def _dist_of(ep: md.EntryPoint) -> tuple[str, str]:
    dist = ep.dist
    if dist is None:
        return ep.value.split(":")[0].split(".")[0], ""
    return dist.metadata["Name"], dist.version


def _quarantine(name: str, dist: str, version: str, error: str) -> PluginRecord:
    rec = PluginRecord(name, dist, version, "quarantined", error, traceback.format_exc())
    _records[name] = rec
    if _pm.get_plugin(name) is not None:
        _pm.unregister(name=name)
    return rec


def _register_all(staged: list[tuple[str, Any, str, str]]) -> None:
    """Register each plugin's hooks, phase by phase, each call isolated."""
    registry = get_registry()
    ok: list[tuple[str, Any, str, str]] = []
    for name, obj, dist, version in staged:
        try:
            _pm.register(obj, name=name)
        except Exception as exc:
            _quarantine(name, dist, version, f"invalid hooks: {type(exc).__name__}: {exc}")
            continue
        _records[name] = PluginRecord(name, dist, version, "loaded")
        ok.append((name, obj, dist, version))
    for phase in _PHASES:
        if phase == "opcore_register_kernels":
            # A backend's own plugin registers its kernels before other plugins extend
            # that backend, so a third party can never displace (or pre-empt) them.
            ok.sort(key=lambda p: not _registered_backend(p[0]))
        for name, _obj, dist, version in ok:
            if _records[name].status != "loaded":
                continue
            fn = _hook_function(name, phase)
            if fn is None:
                continue
            _call_isolated(registry, fn, name, dist, version, phase)


def _registered_backend(plugin: str) -> bool:
    return any(kind == "backend" for journal in _journals.get(plugin, []) for kind, _ in journal)


def _hook_function(plugin: str, phase: str) -> Callable[..., Any] | None:
    for impl in getattr(_pm.hook, phase).get_hookimpls():
        if impl.plugin_name == plugin:
            return impl.function  # type: ignore[no-any-return]
    return None


def _call_isolated(registry: Registry, fn: Callable[..., Any], name: str, dist: str, version: str, phase: str) -> None:
    try:
        with registry.plugin_scope(dist) as journal:
            fn(registry=registry)
    except Exception as exc:
        # The failing phase is already rolled back; undo the earlier phases too.
        for earlier in reversed(_journals.pop(name, [])):
            registry.rollback(earlier)
        _quarantine(name, dist, version, f"{phase} raised {type(exc).__name__}: {exc}")
    else:
        _journals.setdefault(name, []).append(journal)


def conformance_specs() -> list[Any]:
    """Every plugin's conformance specs (see ``opcore_conformance_specs``)."""
    ensure_loaded()
    out: list[Any] = []
    for impl in _pm.hook.opcore_conformance_specs.get_hookimpls():
        rec = _records.get(impl.plugin_name)
        if rec is not None and rec.status != "loaded":
            continue
        specs: Any = impl.function()
        out.extend(specs or [])
    return out
