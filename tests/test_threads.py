"""Each thread has its own graphs, tapes and default sessions (as in TensorFlow 1)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable

import numpy as np
import pytest

import opcore
from opcore.errors import GraphError

# 8 threads start at once and make their first op call: the even ones inside a graph
# of their own, the odd ones eagerly under a tape. Every result is checked, and so is
# what each graph and each tape holds afterwards.
FIRST_USE = """
import json, threading, opcore
N, ROUNDS = 8, 200
barrier = threading.Barrier(N)
errors, graphs = [], {}

def builder(i):
    g = opcore.Graph()
    graphs[i] = g
    barrier.wait()
    with g.as_default():
        x = opcore.placeholder(opcore.float32, [None], name="x")
        y = x
        for _ in range(ROUNDS):
            y = y * 1.0 + 0.0
        assert not opcore.executing_eagerly()
    with opcore.Session(g) as sess:
        got = sess.run(y, {x: [float(i)]}).tolist()
    if got != [float(i)]:
        errors.append(f"graph thread {i}: {got}")

def eager(i):
    v = opcore.Variable([float(i)])
    barrier.wait()
    with opcore.GradientTape() as tape:
        y = v * 1.0
        for _ in range(ROUNDS):
            y = y * 1.0 + 0.0
        loss = opcore.reduce_sum(y * y)
    if not isinstance(y, opcore.Tensor):
        errors.append(f"eager thread {i} built a graph node: {y!r}")
        return
    (g,) = tape.gradient(loss, [v])
    if g.numpy().tolist() != [2.0 * i]:
        errors.append(f"eager thread {i}: gradient {g.numpy().tolist()}")
    watched = [w for w in tape.watched_variables() if w is not v]
    if watched:
        errors.append(f"eager thread {i}: its tape recorded another thread's variables {watched}")

def run(i):
    try:
        (builder if i % 2 == 0 else eager)(i)
    except Exception as exc:
        errors.append(f"thread {i}: {type(exc).__name__}: {exc}")

threads = [threading.Thread(target=run, args=(i,)) for i in range(N)]
for t in threads: t.start()
for t in threads: t.join()
for i, g in graphs.items():
    ops = sum(1 for node in g.nodes if node.kind == "op")  # a Mul and an Add per round
    if ops != 2 * ROUNDS:
        errors.append(f"graph {i} holds {ops} op nodes, not its own {2 * ROUNDS}")
print(json.dumps(errors))
"""


def test_eight_threads_first_use_graphs_and_tapes_in_20_fresh_processes() -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", FIRST_USE], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(20)
    ]
    failures = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        lines = out.strip().splitlines()
        if p.returncode != 0 or not lines or json.loads(lines[-1]):
            failures.append(out + err)
    assert failures == []


def _in_thread(fn: Callable[[], object]) -> object:
    box: list[object] = []

    def target() -> None:
        try:
            box.append(fn())
        except BaseException as exc:  # handed back to the test's thread
            box.append(exc)

    t = threading.Thread(target=target)
    t.start()
    t.join(60)
    (result,) = box
    if isinstance(result, BaseException):
        raise result
    return result


def test_a_graph_being_built_does_not_capture_other_threads_ops() -> None:
    g = opcore.Graph()
    with g.as_default():
        before = len(g.nodes)
        out = _in_thread(lambda: opcore.constant([1.0, 2.0]) + 1.0)
        assert len(g.nodes) == before
    assert isinstance(out, opcore.Tensor)
    np.testing.assert_array_equal(out.numpy(), [2.0, 3.0])


def test_a_tape_does_not_record_other_threads_variables() -> None:
    mine = opcore.Variable(2.0)
    theirs = opcore.Variable(3.0)
    with opcore.GradientTape() as tape:
        y = mine * mine
        _in_thread(lambda: theirs * theirs)
    assert [v is mine for v in tape.watched_variables()] == [True]
    (g,) = tape.gradient(y, [mine])
    assert float(g.numpy()) == 4.0


def test_name_scopes_belong_to_the_thread_that_opened_them() -> None:
    g = opcore.Graph()
    with g.as_default(), opcore.name_scope("outer"):
        mine = opcore.placeholder(opcore.float32, [], name="x")
        theirs = _in_thread(lambda: _placeholder_in(g))
    assert mine.name == "outer/x:0"
    assert theirs == "y:0"


def _placeholder_in(g: opcore.Graph) -> str:
    with g.as_default():
        return str(opcore.placeholder(opcore.float32, [], name="y").name)


def test_disable_eager_execution_gives_each_thread_its_own_default_graph() -> None:
    opcore.disable_eager_execution()
    try:
        x = opcore.constant(3.0)
        assert not isinstance(x, opcore.Tensor)
        main_graph = opcore.get_default_graph()
        other = _in_thread(opcore.get_default_graph)
        assert other is not main_graph
        assert x.graph is main_graph
    finally:
        opcore.enable_eager_execution()
        opcore.reset_default_graph()  # leave no nodes behind for other tests
    assert isinstance(opcore.constant(3.0), opcore.Tensor)


def test_default_session_is_per_thread_and_drives_eval_and_run() -> None:
    g = opcore.Graph()
    with g.as_default():
        v = opcore.Variable(5.0)
        doubled = v * 2.0
        init = opcore.global_variables_initializer()
    with opcore.Session(g) as sess:
        assert opcore.get_default_session() is sess
        init.run()
        assert float(doubled.eval()) == 10.0
        assert _in_thread(opcore.get_default_session) is None
        with pytest.raises(GraphError, match="needs a session"):
            _in_thread(doubled.eval)
    assert opcore.get_default_session() is None
    with pytest.raises(GraphError, match="needs a session"):
        doubled.eval()
