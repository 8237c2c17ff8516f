"""Every hook an opcore plugin can implement, in one place.

A plugin is any module or object named by an entry point in the ``opcore``
group. It implements some of these hooks, marked with :data:`hookimpl`:

.. code-block:: python

    # myorg_ops/plugin.py, named in pyproject.toml:
    #   [project.entry-points.opcore]
    #   myorg = "myorg_ops.plugin"
    from opcore.hookspecs import hookimpl

    @hookimpl
    def opcore_register_ops(registry):
        registry.register_op(ZERO_OUT)

Hooks are called in this order, each plugin isolated from the others: all
``opcore_register_ops``, then all ``opcore_register_backends``, then all
``opcore_register_kernels``. A plugin whose hook raises is quarantined and
whatever it registered is rolled back; the other plugins are unaffected.
Hooks must only register things: import heavy libraries (cupy, pyopencl)
when a backend is first used, not here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from opcore.registry import Registry

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT = "opcore"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def opcore_register_ops(registry: Registry) -> None:
    """Define new ops: call ``registry.register_op(opdef)`` for each.

    Op names from third parties should be namespaced (``"myorg.ZeroOut"``).
    Registering a name that exists with another signature raises PluginError.
    """


@hookspec
def opcore_register_backends(registry: Registry) -> None:
    """Register backend objects: ``registry.register_backend(backend)``.

    A backend must be cheap to construct; it reports whether it is available
    (and why not) without raising, and imports its array library on first use.
    """


@hookspec
def opcore_register_kernels(registry: Registry) -> None:
    """Register kernels: ``registry.register_kernel(op, backend, fn, dtypes)``.

    Called after every plugin's ops and backends are registered, so a backend
    plugin can supply kernels for another plugin's ops. Kernels for a backend
    that another distribution owns are registered after every owner's own. A
    kernel for an unknown op, a dtype outside the op's allowed set, or a
    duplicate (op, backend, dtypes) without ``override=True`` raises
    PluginError; so does ``override=True`` from anyone but the backend's own
    distribution, unless the user allowed it (``opcore.allow_overrides``).
    """


@hookspec
def opcore_conformance_specs() -> Any:
    """Return conformance specs (``opcore_conformance.OpSpec``) for this plugin's ops.

    A spec supplies the op's float64 reference implementation and how to draw
    valid inputs and attributes. Import ``opcore_conformance`` inside the hook,
    so the plugin does not need it installed to be used.
    """
