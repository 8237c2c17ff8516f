"""TensorFlow 1, on opcore: replace ``import tensorflow as tf`` with ``import opcore.compat.v1 as tf``.

>>> import opcore.compat.v1 as tf
>>> a = tf.constant(3.0, name="a")
>>> b = tf.placeholder(tf.float32, name="b")
>>> total = tf.add(a, b, name="total")
>>> total.name
'total:0'
>>> with tf.Session() as sess:
...     float(sess.run(total, feed_dict={b: 4.0})), float(sess.run("total:0", {"b:0": 1.5}))
(7.0, 4.5)

What TensorFlow 1 programs expect, without changing the rest of opcore:

- **Graph mode.** Every function of this namespace builds into its thread's default
  graph (``tf.get_default_graph()``, or the graph of ``with g.as_default():``); no
  global switch is turned, so ``opcore.constant`` elsewhere in the process stays
  eager. Sessions, ``t.eval()`` and ``op.run()`` inside ``with tf.Session():``, and
  :class:`InteractiveSession` work as in TensorFlow 1.
- **TensorFlow 1's signatures and semantics**: ``tf.nn.dropout(x, keep_prob)``,
  ``keep_dims``/``reduction_indices``/``dimension``, ``name=`` on every function with
  ``name:0`` tensor names under ``tf.name_scope``, ``tf.variable_scope`` with
  ``tf.get_variable`` and ``reuse``, ``tf.layers`` with ``rate``/``training``.
- **Built on opcore's ops.** Every function calls opcore's ops; functions that
  TensorFlow 1 has as one op and opcore does not are composed of opcore's ops.

Names TensorFlow 1 has and this namespace does not (``tf.contrib``, ``tf.cond``)
raise an ``AttributeError`` that says what to use instead. See the documentation
page "Coming from TensorFlow 1" for the differences.
"""

from __future__ import annotations

import importlib
from typing import Any

import opcore
from opcore import dtypes as _dt
from opcore.compat import _moved
from opcore.compat.v1 import app, flags, initializers, layers, logging, losses, math, nn, random, summary, train
from opcore.compat.v1._graph import control_dependencies, gradients, group, name_scope, no_op
from opcore.compat.v1._initializers import *  # noqa: F403
from opcore.compat.v1._initializers import __all__ as _initializers_all
from opcore.compat.v1._ops import *  # noqa: F403
from opcore.compat.v1._ops import __all__ as _ops_all
from opcore.compat.v1._session import *  # noqa: F403
from opcore.compat.v1._session import __all__ as _session_all
from opcore.compat.v1._variables import *  # noqa: F403
from opcore.compat.v1._variables import __all__ as _variables_all
from opcore.dtypes import DType, as_dtype
from opcore.graph import Graph, Node, SymbolicTensor, get_default_graph, reset_default_graph
from opcore.shapes import Shape

__version__ = f"1.15.0+opcore.{opcore.__version__}"
VERSION = __version__

# -- dtypes -----------------------------------------------------------------------------

float16 = _dt.float16
half = _dt.float16
float32 = _dt.float32
float64 = _dt.float64
double = _dt.float64
int8 = _dt.int8
int16 = _dt.int16
int32 = _dt.int32
int64 = _dt.int64
uint8 = _dt.uint8
bool = _dt.bool_  # TensorFlow's name (the builtin stays builtins.bool)

# -- graphs -----------------------------------------------------------------------------

#: ``tf.Tensor``: a graph tensor (an output of a node, named ``"node:0"``).
Tensor = SymbolicTensor
#: ``tf.Operation``: a graph node.
Operation = Node
#: ``tf.TensorShape``: a possibly partial shape (``as_list()``, ``num_elements()``, slicing).
TensorShape = Shape


__all__ = [
    "DType",
    "Graph",
    "Operation",
    "Tensor",
    "TensorShape",
    "VERSION",
    "app",
    "as_dtype",
    "bool",
    "control_dependencies",
    "double",
    "flags",
    "float16",
    "float32",
    "float64",
    "get_default_graph",
    "gradients",
    "group",
    "half",
    "initializers",
    "int16",
    "int32",
    "int64",
    "int8",
    "layers",
    "logging",
    "losses",
    "math",
    "name_scope",
    "nn",
    "no_op",
    "random",
    "reset_default_graph",
    "summary",
    "train",
    "uint8",
    *_initializers_all,
    *_ops_all,
    *_session_all,
    *_variables_all,
]

#: Submodules imported on first use.
_LAZY = {
    "examples": "opcore.compat.v1.examples",
    "keras": "opcore.keras",
    "compat": "opcore.compat",
}

#: TensorFlow 1 functions that opcore provides as ops of its own once they exist
#: (ops whose output shape depends on the values).
FORWARDED = ("boolean_mask", "unique", "setdiff1d")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(_LAZY[name])
    if name in FORWARDED:
        op = getattr(opcore, name, None)
        if op is None:
            raise _moved.MissingNameError(
                f"tf.{name} needs an op whose output shape depends on the values, and this opcore has no opcore.{name}"
            )
        from opcore.compat.v1._graph import builds

        return builds(op)
    raise _moved.missing("opcore.compat.v1", name, _moved.v1_hint(name), __all__)


def __dir__() -> list[str]:
    return sorted({*__all__, *_LAZY, *FORWARDED})
