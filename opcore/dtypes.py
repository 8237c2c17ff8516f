"""The dtypes opcore knows and the one promotion table.

Promotion follows the Python array API standard: ``bool`` combines only with
``bool``; integers promote within signed/unsigned kinds (``uint8`` with a
signed integer gives the smallest signed integer holding both); floats
promote to the wider float. The standard leaves mixed kinds open; opcore
settles them the way JAX does: integer or bool with float gives the float, bool with
integer gives the integer.

Python scalars are *weak*: ``x + 1`` keeps ``x``'s dtype, and a Python float
with an integer tensor gives :data:`default_float`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import numpy as np

from opcore.errors import DTypeError

__all__ = [
    "ALL",
    "FLOATING",
    "INTEGER",
    "NUMERIC",
    "REAL",
    "SIGNED",
    "DType",
    "as_dtype",
    "bool_",
    "default_float",
    "default_int",
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "promote",
    "result_type",
    "string",
    "uint8",
]


class DType:
    """A tensor element type. Instances are singletons; compare with ``is`` or ``==``."""

    __slots__ = ("_rank", "itemsize", "kind", "name", "np")

    def __init__(self, name: str, kind: str, rank: int) -> None:
        self.name: Final = name
        #: ``"b"`` bool, ``"i"`` signed integer, ``"u"`` unsigned integer, ``"f"`` float, ``"S"`` byte string.
        self.kind: Final = kind
        #: The matching NumPy dtype (``object`` for strings: Python ``bytes`` values).
        self.np: Final = np.dtype(object) if kind == "S" else np.dtype(name if name != "bool" else np.bool_)
        self.itemsize: Final = self.np.itemsize
        self._rank = rank

    @property
    def is_floating(self) -> bool:
        return self.kind == "f"

    @property
    def is_integer(self) -> bool:
        return self.kind in "iu"

    @property
    def is_bool(self) -> bool:
        return self.kind == "b"

    def __repr__(self) -> str:
        return f"opcore.{self.name}"

    def __str__(self) -> str:
        return self.name

    def __reduce__(self) -> str:
        return "bool_" if self.name == "bool" else self.name


bool_: Final = DType("bool", "b", 0)
int8: Final = DType("int8", "i", 1)
int16: Final = DType("int16", "i", 2)
int32: Final = DType("int32", "i", 3)
int64: Final = DType("int64", "i", 4)
uint8: Final = DType("uint8", "u", 1)
float16: Final = DType("float16", "f", 1)
float32: Final = DType("float32", "f", 2)
float64: Final = DType("float64", "f", 3)
#: Byte strings, the dtype of summary tensors (serialized ``Summary`` protocol buffers). No op takes it and
#: it is in none of the sets below; graph nodes that run on the host (summaries) produce it.
string: Final = DType("string", "S", 0)

#: Every dtype, in a stable order.
ALL: Final = (bool_, int8, int16, int32, int64, uint8, float16, float32, float64)
FLOATING: Final = (float16, float32, float64)
SIGNED: Final = (int8, int16, int32, int64)
INTEGER: Final = (int8, int16, int32, int64, uint8)
#: Integers and floats (everything but bool).
NUMERIC: Final = INTEGER + FLOATING
#: Numeric dtypes that support signed arithmetic (no uint8).
REAL: Final = SIGNED + FLOATING

default_float: Final = float32
default_int: Final = int32

_BY_NAME: dict[str, DType] = {d.name: d for d in ALL}
_BY_NAME["bool_"] = bool_
_BY_NP: dict[np.dtype[Any], DType] = {d.np: d for d in ALL}
_SIGNED_BY_RANK = {d._rank: d for d in SIGNED}


def as_dtype(value: Any) -> DType:
    """Return the :class:`DType` for a name, NumPy dtype, Python type or DType.

    >>> as_dtype("float32") is float32
    True
    """
    if isinstance(value, DType):
        return value
    if isinstance(value, str):
        found = _BY_NAME.get(value)
        if found is None:
            raise DTypeError(f"unknown dtype {value!r}; opcore's dtypes are {', '.join(d.name for d in ALL)}")
        return found
    if value is bool:
        return bool_
    if value is int:
        return default_int
    if value is float:
        return default_float
    try:
        npd = np.dtype(value)
    except TypeError:
        raise DTypeError(f"cannot interpret {value!r} as an opcore dtype") from None
    found = _BY_NP.get(npd)
    if found is None:
        raise DTypeError(
            f"NumPy dtype {npd} has no opcore equivalent; opcore's dtypes are {', '.join(d.name for d in ALL)}"
        )
    return found


def promote(a: DType, b: DType) -> DType:
    """Promote two tensor dtypes (see the module docstring for the rules)."""
    if a is b:
        return a
    if a.kind == b.kind:
        return a if a._rank >= b._rank else b
    if a.kind == "S" or b.kind == "S":
        raise DTypeError(f"{a} and {b} cannot be combined: strings are no numbers")
    if a.is_floating or b.is_floating:
        return a if a.is_floating else b
    if a.is_bool:
        return b
    if b.is_bool:
        return a
    # One signed, one unsigned (uint8): the smallest signed type holding both.
    signed, unsigned = (a, b) if a.kind == "i" else (b, a)
    return _SIGNED_BY_RANK[max(signed._rank, unsigned._rank + 1)]


def weak_scalar_dtype(value: bool | int | float, other: DType | None) -> DType:
    """The dtype a Python scalar takes next to a tensor of dtype ``other``."""
    if isinstance(value, bool):
        return other if other is not None else bool_
    if isinstance(value, int):
        if other is None or other.is_bool:
            return default_int
        return other
    if other is None or not other.is_floating:
        return default_float
    return other


def result_type(*values: DType | bool | int | float) -> DType:
    """The promoted dtype of tensors' dtypes and weak Python scalars.

    >>> result_type(int8, uint8)
    opcore.int16
    >>> result_type(float16, 2.0)
    opcore.float16
    """
    strong = [v for v in values if isinstance(v, DType)]
    if strong:
        out = strong[0]
        for d in strong[1:]:
            out = promote(out, d)
    else:
        out = None
    for v in values:
        if not isinstance(v, DType):
            out = weak_scalar_dtype(v, out) if out is None else promote(out, weak_scalar_dtype(v, out))
    if out is None:
        raise DTypeError("result_type() needs at least one dtype or scalar")
    return out


def parse_dtype_set(spec: str | Iterable[DType | str]) -> tuple[DType, ...]:
    """Parse ``"float32, float64"`` or an iterable of dtypes into a tuple of DTypes."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[DType] = []
    for item in items:
        d = as_dtype(item.strip() if isinstance(item, str) else item)
        if d not in out:
            out.append(d)
    if not out:
        raise DTypeError("an empty dtype set allows nothing")
    return tuple(out)
