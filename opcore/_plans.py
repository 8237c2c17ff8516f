"""Dispatch plans: what one eager call signature decided once, and the keys that find it.

:mod:`opcore.dispatch` builds plans on a call's first run and looks them up on
every later one; this module says what a plan holds and how a call's inputs and
attributes become its key (the kinds of key below never collide).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from opcore.backend import current_backend
from opcore.tensor import Tensor, Variable

# A plan is what one call signature decided once: the kernel, its KernelContext
# (bound attributes, inferred output shapes and dtypes), how to turn each input
# into a native array, and what the result must look like. Its fields, as a
# tuple for speed on the hot path:
#
#   0 fn        the kernel
#   1 ctx       its KernelContext
#   2 backend   the backend
#   3 out_specs ((shape, dtype), ...) inferred
#   4 single    one (non-variadic) output?
#   5 bound     the bound attributes (what tapes record)
#   6 native    the native array type for the inline result check (_NEVER: ask the backend)
#   7 shape     the single output's shape (inline check)
#   8 dtype     the single output's DType
#   9 npdtype   its NumPy dtype (inline check)
#  10 spec      the single output's spec token
#  11 kinds     None when every input is a Tensor used as it is, else one of _TENSOR,
#               _VARIABLE, _SCALAR, _ARRAY, _LIST (a list of tensors used as they are) per input
#  12 wants     the DType each input is converted to
#
# Plans live in ``op._plans``, keyed by the call signature: the spec token of a lone
# tensor, the pair of a tensor pair, _attr_key for one tensor with plain attribute
# values, _call_key for everything else (keys of the four forms never collide); the
# registry clears them on every change, and each op keeps at most _MAX_PLANS.

_TENSOR, _VARIABLE, _SCALAR, _ARRAY, _LIST = range(5)
_LIST_KEY = object()  # starts the key part of a list of tensors (concat, stack)


def _freeze(value: Any) -> Any:
    """A hashable, type-exact stand-in for an attribute value (``1``, ``1.0`` and ``True`` differ)."""
    t = type(value)
    if t is str or value is None:
        return value
    if t is list or t is tuple:
        return (t, *[_freeze(v) for v in value])
    hash(value)  # raises TypeError for values that cannot key a plan
    return (t, value)


def _call_key(inputs: Sequence[Any], attrs: dict[str, Any], positional: Sequence[Any]) -> Any:
    """The plan key of an eager call, or None when the call cannot use a plan.

    Tensors contribute their spec token (backend, dtype, shape); Variables their
    value's; a non-empty list of tensors (a variadic input) the tokens of its tensors; Python scalars their type (the weak-typing rules depend on the type,
    never the value); NumPy arrays their dtype and shape; attributes their frozen
    values (``positional``: attributes given by position). A call without any tensor
    also depends on the current backend.
    """
    parts: list[Any] = []
    on_tensor = False
    for x in inputs:
        t = type(x)
        if t is Tensor:
            parts.append(x._spec)
            on_tensor = True
        elif t is float or t is int or t is bool:
            parts.append(t)
        elif isinstance(x, Variable):
            parts.append((_VARIABLE, x._value._spec))
            on_tensor = True
        elif t is np.ndarray:
            parts.append((x.dtype, x.shape))
        elif (t is list or t is tuple) and x:
            specs: list[Any] = [_LIST_KEY]
            for e in x:
                if type(e) is not Tensor:
                    return None
                specs.append(e._spec)
            parts.append(tuple(specs))
            on_tensor = True
        else:
            return None
    try:
        if attrs:
            parts.append(tuple([(k, _freeze(v)) for k, v in attrs.items()]))
        if positional:
            parts.append(("*", *[_freeze(v) for v in positional]))
    except TypeError:
        return None
    if not on_tensor:
        parts.append(current_backend())
    return tuple(parts)


_LIST_FAST = object()  # starts the keys of _list_key


def _list_key(values: list[Any], attrs: dict[str, Any], positional: Sequence[Any]) -> Any:
    """The plan key of an op whose one input is a list of tensors, or None (the general key).

    ``(_LIST_FAST, *spec tokens)`` for ``stack(values)``, ``(_LIST_FAST, axis, *spec tokens)``
    for ``concat(values, axis)`` (flat, so a call hashes one tuple), and otherwise
    ``(_LIST_FAST, (spec tokens), attributes)``, the attributes as _attr_key keys them.
    Spec tokens are plain objects, so the three forms never equal each other.
    """
    specs = []
    for e in values:
        if type(e) is not Tensor:
            return None
        specs.append(e._spec)
    if not specs:
        return None
    if not attrs:
        if not positional:  # stack(values)
            return (_LIST_FAST, *specs)
        if len(positional) == 1 and type(positional[0]) is int:  # concat(values, 0)
            return (_LIST_FAST, positional[0], *specs)
    rest = _attr_key(None, attrs, positional)
    return None if rest is None else (_LIST_FAST, tuple(specs), rest)


_ATTR_KEY = object()  # marks keys made by _attr_key: they never equal a _call_key
_TRUE, _FALSE = object(), object()  # bools in _attr_key (True == 1 as a Python value)


def _attr_key(spec: object, attrs: dict[str, Any], positional: Sequence[Any]) -> Any:
    """The plan key of one tensor with attributes that are ints, bools, strings, None or lists
    or tuples of ints; None for anything else (the general key). Type-exact: ``1``,
    ``True`` and ``1.0`` never share a key.

    One attribute that is an int or a list of ints takes a short key: ``(spec, value)``
    by position (``reduce_sum(m, 1)``), ``(spec, name, value)`` by keyword
    (``reduce_sum(m, axis=1)``), a list as a tuple; so does one string by keyword
    (``(spec, "reduction", "sum")``). A short key never equals a key of
    another form: _call_key's parts are tokens, types and tuples (never an int or a
    name second), the general form starts with _ATTR_KEY, indexing's keys with "[]".
    call_op builds the short keys inline; this function makes the same keys.
    """
    if len(attrs) + len(positional) == 1:
        if attrs:
            ((k, v),) = attrs.items()
        else:
            k, v = None, positional[0]
        t = type(v)
        short: Any = None
        if t is int or (t is str and k is not None):
            short = v
        elif t is list or t is tuple:
            short = tuple(v)
            for e in v:
                if type(e) is not int:
                    short = None
                    break
        if short is not None:
            return (spec, short) if k is None else (spec, k, short)
    parts: list[Any] = [_ATTR_KEY, spec]
    for v in positional:
        t = type(v)
        if t is int or t is str or v is None:
            parts.append(v)
        elif t is bool:
            parts.append(_TRUE if v else _FALSE)
        elif t is list or t is tuple:
            for e in v:
                if type(e) is not int:
                    return None
            parts.append((t, *v))
        else:
            return None
    for k, v in attrs.items():
        t = type(v)
        if t is int or t is str or v is None:
            parts.append((k, v))
        elif t is bool:
            parts.append((k, _TRUE if v else _FALSE))
        elif t is list or t is tuple:
            for e in v:
                if type(e) is not int:
                    return None
            parts.append((k, t, *v))
        else:
            return None
    return tuple(parts)
