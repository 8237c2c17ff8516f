"""``tf.summary``: TensorBoard summaries, from :mod:`opcore.summary` when it is installed.

The functions are opcore's, run inside the default graph (``tf.summary.scalar("loss",
loss)`` adds a node to it); ``tf.summary.FileWriter(logdir, sess.graph)`` writes the
event files. Without :mod:`opcore.summary`, using any of them raises an error that says so.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from opcore.compat import _moved
from opcore.compat.v1._graph import builds

__all__: list[str] = []


def _summary() -> Any:
    try:
        return importlib.import_module("opcore.summary")
    except ModuleNotFoundError as exc:
        if exc.name not in ("opcore.summary", "opcore"):
            raise
        return None


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    module = _summary()
    if module is None:
        raise _moved.MissingNameError(
            f"tf.summary.{name}: this opcore has no opcore.summary (TensorBoard event files); "
            "install an opcore that provides it, or drop the summary calls"
        )
    if not hasattr(module, name):
        raise _moved.missing("opcore.compat.v1.summary", name, None, getattr(module, "__all__", dir(module)))
    value = getattr(module, name)
    if inspect.isfunction(value) or inspect.isclass(value):
        return builds(value)  # summaries are nodes of the default graph
    return value
