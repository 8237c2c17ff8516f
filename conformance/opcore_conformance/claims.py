"""What a backend claims to support.

By default a backend claims exactly the (op, dtype binding) pairs it registers
kernels for. A backend may instead publish an explicit manifest, an optional
``claims`` attribute on its Backend object: an iterable, or a method returning
one, of ``(op, dtypes)`` pairs, where ``op`` is an op name (fnmatch patterns
allowed, e.g. ``"Conv*"``) and ``dtypes`` is one of

- a dtype name, matching the op's table column (its first type variable), e.g. ``"float32"``;
- a list of dtype names, e.g. ``["float32", "float64"]``;
- ``"*"``, every dtype binding of the op;
- a mapping of type variables to dtype names, e.g. ``{"T": "float32", "Tidx": "int64"}``.

A manifest lets a backend claim ops it runs without kernels of its own
(composites) and leave out kernels it registers but does not stand behind. The
conformance report then separates what is claimed and fails
(``claimed-but-failing``) from what works without being claimed
(``passing-but-unclaimed``).

>>> class MyBackend(Backend):
...     name = "mine"
...     claims = [("Add", "float32"), ("Relu", "*"), ("GatherV2", {"T": "float32", "Tidx": "int64"})]
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opcore.registry import OpDef, Registry

__all__ = ["Claims", "backend_claims"]


@dataclass
class Claims:
    """One backend's claims: from its kernels, or from its ``claims`` manifest."""

    backend: str
    #: "kernels" (what it registers) or "manifest" (its ``claims`` attribute)
    source: str
    entries: list[tuple[str, Any]] = field(default_factory=list)
    #: Problems with the manifest (entries naming no installed op), reported, not raised.
    notes: list[str] = field(default_factory=list)

    def covers(self, registry: Registry, op: OpDef, binding: Mapping[str, str], column: str) -> bool:
        """Whether this backend claims ``op`` for ``binding``."""
        if self.source == "kernels":
            types = op.type_key({k: _dtype(v) for k, v in binding.items()})
            return registry.kernel(op.name, self.backend, types) is not None
        for pattern, dtypes in self.entries:
            if not fnmatch.fnmatchcase(op.name, pattern):
                continue
            if isinstance(dtypes, Mapping):
                if all(binding.get(k) == str(v) for k, v in dtypes.items()):
                    return True
            elif isinstance(dtypes, str):
                if dtypes in ("*", column):
                    return True
            elif column in dtypes:
                return True
        return False


def _dtype(name: str) -> Any:
    import opcore

    return opcore.as_dtype(name)


def backend_claims(registry: Registry, backend: str) -> Claims:
    """The claims of ``backend``: its manifest when it has one, else its kernels."""
    b = registry.get_backend(backend)
    manifest = getattr(b, "claims", None)
    if callable(manifest):
        manifest = manifest()
    if manifest is None:
        return Claims(backend, "kernels")
    claims = Claims(backend, "manifest")
    for entry in _entries(manifest, backend):
        pattern, dtypes = entry
        claims.entries.append((pattern, dtypes))
        if not any(fnmatch.fnmatchcase(name, pattern) for name in registry.ops):
            claims.notes.append(f"the claims of backend {backend!r} name {pattern!r}, which matches no installed op")
    return claims


def _entries(manifest: Any, backend: str) -> Iterable[tuple[str, Any]]:
    for entry in manifest:
        if not (isinstance(entry, (tuple, list)) and len(entry) == 2 and isinstance(entry[0], str)):
            raise TypeError(
                f"backend {backend!r}: each entry of its claims must be (op, dtypes), e.g. ('Add', 'float32'); "
                f"got {entry!r}"
            )
        yield entry[0], entry[1]
