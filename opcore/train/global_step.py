"""The global step: a non-trainable int64 variable counting training steps (TF1's ``global_step``).

Pass it to ``minimize``/``apply_gradients`` (which add one per update) and to
learning-rate schedules. There is one per graph, and one for eager code.

>>> import opcore
>>> step = opcore.train.get_or_create_global_step()
>>> step is opcore.train.get_or_create_global_step()
True
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from opcore import _context
from opcore.graph import Graph
from opcore.tensor import Variable

__all__ = ["get_global_step", "get_or_create_global_step"]

_graph_steps: weakref.WeakKeyDictionary[Graph, Any] = weakref.WeakKeyDictionary()
_eager_step: list[Any] = []


def get_global_step(graph: Graph | None = None) -> Any:
    """The global step of ``graph`` (default: the graph being built, or eager code's), or None."""
    g = graph if graph is not None else _context.building_graph()
    if g is None:
        return _eager_step[0] if _eager_step else None
    return _graph_steps.get(g)


def get_or_create_global_step(graph: Graph | None = None) -> Any:
    """The global step, created (value 0, int64, not trainable, named ``global_step``) if missing."""
    g = graph if graph is not None else _context.building_graph()
    step = get_global_step(g)
    if step is not None:
        return step
    if g is None:
        step = Variable(np.asarray(0, dtype=np.int64), trainable=False, name="global_step")
        _eager_step.append(step)
        return step
    with g.as_default():
        step = Variable(np.asarray(0, dtype=np.int64), trainable=False, name="global_step")
    _graph_steps[g] = step
    return step
