"""Execution context shared by the execution layers: graphs being built, tapes recording,
default sessions.

All of it is per thread, as in TensorFlow 1: while one thread builds inside
``with graph.as_default():`` or records on a tape, other threads keep executing
eagerly and their operations reach neither that graph nor that tape. Only the
switch :func:`opcore.disable_eager_execution` is process-wide; each thread then
builds into its own default graph.

It sits low in the layering so that tensors, variables, dispatch, graphs and
autodiff can all consult it without importing each other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class _ThreadState(threading.local):
    """One thread's context (each thread sees its own attributes)."""

    def __init__(self) -> None:
        #: Graphs being built (``with graph.as_default():``), innermost last.
        self.graphs: list[Any] = []
        #: Active recorders (gradient tapes), innermost last.
        self.tapes: list[Any] = []
        #: Default sessions (``with sess.as_default():`` / ``with Session() as sess:``), innermost last.
        self.sessions: list[Any] = []
        #: This thread's default graph (created on first use).
        self.default_graph: Any = None


state = _ThreadState()

#: Set by :func:`opcore.disable_eager_execution` (TensorFlow 1 programs), for every thread.
eager_disabled = False

#: Graphs being built and tapes recording in all threads, plus one while eager execution
#: is disabled. Zero means every thread executes eagerly with no tape: dispatch's fast
#: path reads this one global instead of the thread's state.
active = 0
_lock = threading.Lock()


def _bump(n: int) -> None:
    global active
    with _lock:
        active += n


def enter_graph(graph: Any) -> None:
    state.graphs.append(graph)
    _bump(1)


def exit_graph(graph: Any) -> None:
    graphs = state.graphs
    if graphs and graphs[-1] is graph:
        graphs.pop()
        _bump(-1)


def start_tape(tape: Any) -> None:
    state.tapes.append(tape)
    _bump(1)


def stop_tape(tape: Any) -> None:
    """Stop ``tape`` recording (a no-op for a tape this thread is not recording on)."""
    tapes = state.tapes
    for i, t in enumerate(tapes):
        if t is tape:
            del tapes[i]
            _bump(-1)
            return


def set_eager_disabled(disabled: bool) -> None:
    global eager_disabled
    with _lock:
        if disabled != eager_disabled:
            eager_disabled = disabled
            global active
            active += 1 if disabled else -1


#: Makes a new graph (set by :mod:`opcore.graph`, which this module must not import).
new_graph: Callable[[], Any] | None = None


def default_graph() -> Any:
    """This thread's default graph, created on first use."""
    s = state
    if s.default_graph is None:
        assert new_graph is not None, "opcore.graph is not imported"
        s.default_graph = new_graph()
    return s.default_graph


def building_graph() -> Any:
    """The graph being built by this thread, or None when it executes eagerly."""
    graphs = state.graphs
    if graphs:
        return graphs[-1]
    if eager_disabled:
        return default_graph()
    return None


def executing_eagerly() -> bool:
    """True unless this thread builds a graph (``with graph.as_default():``, or any thread
    after ``opcore.disable_eager_execution()``)."""
    return not state.graphs and not eager_disabled


def local_list(local: threading.local, name: str) -> list[Any]:
    """This thread's list ``name`` in ``local`` (a graph's name scopes or control dependency blocks),
    empty on the thread's first use."""
    try:
        return getattr(local, name)  # type: ignore[no-any-return]
    except AttributeError:
        value: list[Any] = []
        setattr(local, name, value)
        return value


def default_session() -> Any:
    """This thread's innermost default session, or None."""
    sessions = state.sessions
    return sessions[-1] if sessions else None
