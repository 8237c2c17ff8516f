"""The pieces of an op's signature: its inputs and outputs (:class:`ArgDef`), its attributes
(:class:`AttrDef`, which validates and normalises the values a call gives), and the parsing of
the spec strings an op is declared with (``"x: T"``, ``"axis: int = 0"``).

:mod:`opcore.opdef` builds an :class:`~opcore.opdef.OpDef` from them and re-exports both classes.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from opcore import dtypes as _dt
from opcore.errors import DTypeError, OpDefinitionError
from opcore.shapes import Shape

__all__ = ["ArgDef", "AttrDef"]

_ARG_RE = re.compile(r"^\s*(\w+)\s*:\s*(?:(\w+)\s*\*\s*)?(\w+)\s*$")
_ATTR_RE = re.compile(r"^\s*(\w+)\s*:\s*(list\(\w+\)|\{[^}]*\}|\w+)(\?)?\s*(?:>=\s*(-?\d+))?\s*(?:=\s*(.+?))?\s*$")
_ATTR_TYPES = ("int", "float", "bool", "string", "type", "shape", "list(int)", "list(float)")


@dataclass(frozen=True)
class ArgDef:
    """An input or output: ``"x: T"``, ``"values: N * T"`` or ``"to_zero: int32"``."""

    name: str
    #: A type variable name, a fixed dtype name, or the name of a ``type`` attribute.
    type: str
    #: For a variadic argument, the count: a label for inputs (the list's length),
    #: the name of an int attribute for outputs.
    count: str | None = None

    @property
    def variadic(self) -> bool:
        return self.count is not None

    def __str__(self) -> str:
        return f"{self.name}: {self.count} * {self.type}" if self.count else f"{self.name}: {self.type}"


@dataclass(frozen=True)
class AttrDef:
    """An attribute: ``"axis: int = 0"``, ``"padding: {'SAME', 'VALID'}"``, ``"strides: list(int) >= 2"``."""

    name: str
    type: str
    default: Any = None
    has_default: bool = False
    optional: bool = False
    minimum: int | None = None
    allowed: tuple[Any, ...] | None = None

    def __str__(self) -> str:
        t = "{" + ", ".join(repr(a) for a in self.allowed) + "}" if self.allowed else self.type
        s = f"{self.name}: {t}{'?' if self.optional else ''}"
        if self.minimum is not None:
            s += f" >= {self.minimum}"
        if self.has_default:
            s += f" = {self.default!r}"
        return s

    def check(self, op: str, value: Any) -> Any:
        """Validate and normalise a value (lists become tuples); raise naming op and attr."""
        if value is None:
            if self.optional:
                return None
            raise self._bad(op, value, "a value (None is not allowed)")
        t = self.type
        if self.allowed is not None:
            if value not in self.allowed:
                raise self._bad(op, value, "one of " + ", ".join(repr(a) for a in self.allowed))
            return value
        if t == "int":
            as_int = _as_int(value)
            if as_int is None:
                raise self._bad(op, value, "an int")
            if self.minimum is not None and as_int < self.minimum:
                raise self._bad(op, value, f"an int >= {self.minimum}")
            return as_int
        if t == "float":
            if isinstance(value, bool) or (not isinstance(value, (int, float)) and not hasattr(value, "__float__")):
                raise self._bad(op, value, "a float")
            return float(value)
        if t == "bool":
            if not isinstance(value, bool) and type(value).__name__ != "bool_":
                raise self._bad(op, value, "a bool")
            return bool(value)
        if t == "string":
            if not isinstance(value, str):
                raise self._bad(op, value, "a string")
            return value
        if t == "type":
            try:
                return _dt.as_dtype(value)
            except DTypeError:
                raise self._bad(op, value, "a dtype") from None
        if t in ("list(int)", "shape"):
            if isinstance(value, int) and not isinstance(value, bool) and t == "list(int)":
                value = [value]
            if isinstance(value, Shape):
                value = value.dims or ()
            try:
                items = tuple(value)
            except TypeError:
                raise self._bad(op, value, f"a {t}") from None
            ints = tuple(_as_int(v) if v is not None or t != "shape" else None for v in items)
            if any(i is None for i, v in zip(ints, items) if v is not None):
                raise self._bad(op, value, f"a {t}")
            if self.minimum is not None and len(ints) < self.minimum:
                raise self._bad(op, value, f"a {t} of length >= {self.minimum}")
            return ints
        if t == "list(float)":
            try:
                return tuple(float(v) for v in value)
            except (TypeError, ValueError):
                raise self._bad(op, value, "a list(float)") from None
        raise AssertionError(t)  # pragma: no cover - rejected at definition time

    def _bad(self, op: str, value: Any, expected: str) -> OpDefinitionError:
        return OpDefinitionError(
            f"{op}: attribute {self.name!r} expects {expected}, got {value!r} ({type(value).__name__})"
        )


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    index = getattr(value, "__index__", None)
    if index is None:
        return None
    try:
        return int(index())
    except TypeError:
        return None


def _parse_arg(op: str, spec: str | ArgDef) -> ArgDef:
    if isinstance(spec, ArgDef):
        return spec
    m = _ARG_RE.match(spec)
    if not m:
        raise OpDefinitionError(
            f"{op}: cannot parse argument spec {spec!r}; expected 'name: T', 'name: N * T' or 'name: float32'"
        )
    name, count, type_ = m.groups()
    return ArgDef(name, type_, count)


def _parse_attr(op: str, spec: str | AttrDef) -> AttrDef:
    if isinstance(spec, AttrDef):
        return spec
    m = _ATTR_RE.match(spec)
    if not m:
        raise OpDefinitionError(
            f"{op}: cannot parse attribute spec {spec!r}; expected e.g. 'axis: int = 0', "
            "\"padding: {'SAME', 'VALID'}\" or 'strides: list(int) >= 2'"
        )
    name, type_, optional, minimum, default = m.groups()
    allowed: tuple[Any, ...] | None = None
    if type_.startswith("{"):
        try:
            allowed = tuple(ast.literal_eval("[" + type_[1:-1] + "]"))
        except (ValueError, SyntaxError):
            raise OpDefinitionError(f"{op}: cannot parse the allowed values in {spec!r}") from None
        type_ = "string" if all(isinstance(a, str) for a in allowed) else "int"
    elif type_ not in _ATTR_TYPES:
        raise OpDefinitionError(f"{op}: attribute {name!r} has unknown type {type_!r}; known: {', '.join(_ATTR_TYPES)}")
    attr = AttrDef(
        name,
        type_,
        optional=bool(optional),
        minimum=int(minimum) if minimum is not None else None,
        allowed=allowed,
    )
    if default is not None:
        try:
            value = ast.literal_eval(default)
        except (ValueError, SyntaxError):
            value = default  # a bare word such as int64 for a type attr
        value = attr.check(op, value)
        attr = AttrDef(name, type_, value, True, attr.optional, attr.minimum, attr.allowed)
    return attr
