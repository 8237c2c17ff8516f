"""Activation functions by name, for the ``activation=`` argument of layers.

>>> from opcore.layers import activations
>>> activations.get("relu").__name__
'relu'
>>> activations.get(None) is activations.linear
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opcore.errors import OpDefinitionError
from opcore.ops import math as _math
from opcore.ops import nn as _nn

__all__ = [
    "get",
    "linear",
    "log_softmax",
    "relu",
    "serialize",
    "sigmoid",
    "softmax",
    "softplus",
    "tanh",
]

Activation = Callable[[Any], Any]


def linear(x: Any) -> Any:
    """The identity (no activation)."""
    return x


def relu(x: Any) -> Any:
    """``max(x, 0)``."""
    return _math.relu(x)


def sigmoid(x: Any) -> Any:
    """``1 / (1 + exp(-x))``."""
    return _math.sigmoid(x)


def tanh(x: Any) -> Any:
    """Hyperbolic tangent."""
    return _math.tanh(x)


def softplus(x: Any) -> Any:
    """``log(1 + exp(x))``."""
    return _math.softplus(x)


def softmax(x: Any) -> Any:
    """Softmax over the last axis."""
    return _nn.softmax(x)


def log_softmax(x: Any) -> Any:
    """Log-softmax over the last axis."""
    return _nn.log_softmax(x)


_BY_NAME: dict[str, Activation] = {
    "linear": linear,
    "relu": relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softplus": softplus,
    "softmax": softmax,
    "log_softmax": log_softmax,
}
# The ops themselves (opcore.relu, opcore.nn's softmax ...) map back to their names too.
_NAME_OF: dict[int, str] = {id(fn): name for name, fn in _BY_NAME.items()} | {
    id(_math.relu): "relu",
    id(_math.sigmoid): "sigmoid",
    id(_math.tanh): "tanh",
    id(_math.softplus): "softplus",
    id(_nn.softmax): "softmax",
    id(_nn.log_softmax): "log_softmax",
}


def get(identifier: str | Activation | None) -> Activation:
    """The activation for a name (``"relu"``, ``"softmax"``, ``"linear"``...), a callable, or None (linear)."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        fn = _BY_NAME.get(identifier.lower())
        if fn is None:
            raise OpDefinitionError(
                f"unknown activation {identifier!r}; known: {', '.join(sorted(_BY_NAME))}, or pass a callable"
            )
        return fn
    if callable(identifier):
        return identifier
    raise OpDefinitionError(f"activation must be a name, a callable or None, got {identifier!r}")


def serialize(activation: Activation | str | None) -> str:
    """The name that :func:`get` maps back to ``activation``.

    A custom callable is saved by its ``__name__``; loading it again needs a built-in of that name.
    """
    if activation is None:
        return "linear"
    if isinstance(activation, str):
        return get(activation).__name__ if activation.lower() in _BY_NAME else activation
    name = _NAME_OF.get(id(activation))
    if name is not None:
        return name
    return str(getattr(activation, "__name__", repr(activation)))
