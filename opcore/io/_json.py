"""Reading untrusted JSON from files: bounded nesting, and type checks that name the field.

Every failure is a :class:`~opcore.errors.CheckpointError` whose message says
which file, which field, what was expected and what was found.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from opcore.errors import CheckpointError

__all__ = ["MAX_DEPTH", "expect", "expect_bool", "expect_int", "expect_keys", "expect_str", "parse_json"]

#: Deepest nesting of JSON arrays and objects accepted in any opcore file.
MAX_DEPTH = 64

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")


def _max_depth(text: str) -> int:
    """The deepest bracket nesting of ``text``, ignoring brackets inside strings."""
    skeleton = np.frombuffer(_STRING.sub('""', text).encode("utf-8", "replace"), dtype=np.uint8)
    steps = np.isin(skeleton, list(_OPEN)).astype(np.int64) - np.isin(skeleton, list(_CLOSE))
    return int(np.cumsum(steps).max(initial=0))


def parse_json(text: str, what: str, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads(text)``, refusing nesting deeper than ``max_depth`` before parsing."""
    depth = _max_depth(text)
    if depth > max_depth:
        raise CheckpointError(f"{what} nests {depth} levels deep; at most {max_depth} are allowed")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, or an integer too long to convert
        raise CheckpointError(f"{what} is not valid JSON: {exc}") from None


def _found(value: Any) -> str:
    text = repr(value)
    return f"{text[:60]}... ({type(value).__name__})" if len(text) > 60 else f"{text} ({type(value).__name__})"


def expect(value: Any, types: type | tuple[type, ...], what: str) -> Any:
    """``value`` if it is an instance of ``types`` (bool never counts as int), else a CheckpointError."""
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in _as_tuple(types))
    if not ok:
        names = " or ".join(_json_name(t) for t in _as_tuple(types))
        raise CheckpointError(f"{what} must be {names}, found {_found(value)}")
    return value


def expect_str(value: Any, what: str, max_len: int = 4096) -> str:
    text: str = expect(value, str, what)
    if len(text) > max_len:
        raise CheckpointError(f"{what} is {len(text)} characters long; at most {max_len} are allowed")
    return text


def expect_int(value: Any, what: str, minimum: int = 0, maximum: int = 2**62) -> int:
    number: int = expect(value, int, what)
    if not minimum <= number <= maximum:
        raise CheckpointError(f"{what} must be an integer in [{minimum}, {maximum}], found {number}")
    return number


def expect_bool(value: Any, what: str) -> bool:
    flag: bool = expect(value, bool, what)
    return flag


def expect_keys(entry: dict[str, Any], required: set[str], optional: set[str], what: str) -> None:
    """Every key of ``required`` present, and no key outside ``required | optional``."""
    missing = sorted(required - entry.keys())
    if missing:
        raise CheckpointError(f"{what} lacks field(s) {', '.join(map(repr, missing))}")
    unknown = sorted(set(entry) - required - optional)
    if unknown:
        allowed = ", ".join(map(repr, sorted(required | optional)))
        raise CheckpointError(f"{what} has unknown field(s) {', '.join(map(repr, unknown))}; allowed: {allowed}")


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _json_name(t: type) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        type(None): "null",
    }.get(t, t.__name__)
