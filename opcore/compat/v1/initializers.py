"""``tf.initializers``: initializers by their short names, and the initializer nodes
``global_variables()``, ``local_variables()`` and ``variables(var_list)``."""

from __future__ import annotations

from typing import Any

from opcore import initializers as _init
from opcore.compat.v1 import _initializers as _tf1
from opcore.compat.v1._variables import (
    global_variables_initializer,
    local_variables_initializer,
    variables_initializer,
)
from opcore.graph import Node

__all__ = [
    "constant",
    "glorot_normal",
    "glorot_uniform",
    "global_variables",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "local_variables",
    "ones",
    "random_normal",
    "random_uniform",
    "truncated_normal",
    "variables",
    "variance_scaling",
    "zeros",
]

zeros = _tf1.zeros_initializer
ones = _tf1.ones_initializer
constant = _tf1.constant_initializer
random_normal = _tf1.random_normal_initializer
random_uniform = _tf1.random_uniform_initializer
truncated_normal = _tf1.truncated_normal_initializer
glorot_uniform = _tf1.glorot_uniform_initializer
glorot_normal = _tf1.glorot_normal_initializer
variance_scaling = _tf1.variance_scaling_initializer
he_normal = _init.HeNormal
he_uniform = _init.HeUniform
lecun_normal = _init.LecunNormal


def global_variables() -> Node:
    """The node that initialises every variable of the default graph (``tf.global_variables_initializer()``)."""
    return global_variables_initializer()


def local_variables() -> Node:
    """A node that does nothing: opcore graphs have no local variables."""
    return local_variables_initializer()


def variables(var_list: Any, name: str = "init") -> Node:
    """The node that initialises the variables in ``var_list``."""
    return variables_initializer(var_list, name=name)
