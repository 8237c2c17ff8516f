"""One answer on every backend for invalid indices, invalid labels and NaN (each op's doc states its rule).

Every case runs on NumPy and on OpenCL (skipped, with the reason, where no
OpenCL device can run), eagerly and from a session, and must give the same
result or the same typed error with the same message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import opcore
from opcore.ops import array as A
from opcore.ops import nn
from opcore.ops import reduce as R

NAN, INF = np.nan, np.inf


def _backends() -> list[Any]:
    out: list[Any] = ["numpy"]
    ok, why = opcore.get_backend("opencl").availability()
    out.append(pytest.param("opencl", marks=pytest.mark.skipif(not ok, reason=f"OpenCL cannot run here: {why}")))
    return out


BACKENDS = _backends()


def _c(x: Any, backend: str, dtype: Any = None) -> opcore.Tensor:
    return opcore.constant(np.asarray(x, dtype=dtype), backend=backend)


def _error(fn: Callable[[], Any]) -> opcore.InvalidIndexError:
    with pytest.raises(opcore.InvalidIndexError) as e:
        fn()
    return e.value


def _session(backend: str, build: Callable[..., Any], *inputs: np.ndarray) -> Any:
    """Run ``build(*placeholders)`` in a session on ``backend``, feeding ``inputs``."""
    g = opcore.Graph()
    with g.as_default():
        phs = [g.placeholder(x.dtype.name, [None] * x.ndim, name=f"x{i}") for i, x in enumerate(inputs)]
        out = build(*phs)
    with opcore.Session(graph=g, backend=backend) as sess:
        return sess.run(out, dict(zip(phs, inputs)))


# --------------------------------------------------------------------------- gather


GATHER_CASES = [
    # (params shape, indices, axis, message)
    ((10,), [3, 10], 0, "GatherV2: indices[1] = 10 is out of range: it must be in [0, 10), the size of params along axis 0"),
    ((10,), [3, -1], 0, "GatherV2: indices[1] = -1 is out of range: it must be in [0, 10), the size of params along axis 0"),
    ((2, 3, 4), [[0, 2], [5, -1]], 1, "GatherV2: indices[1, 0] = 5 is out of range: it must be in [0, 3), the size of params along axis 1"),
    ((3, 2), 7, 0, "GatherV2: indices = 7 is out of range: it must be in [0, 3), the size of params along axis 0"),
    ((0, 2), [0], 0, "GatherV2: indices[0] = 0 is out of range: it must be in [0, 0), the size of params along axis 0"),
    ((0, 3), [1, 3], 1, "GatherV2: indices[1] = 3 is out of range: it must be in [0, 3), the size of params along axis 1"),
]  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("index_dtype", ["int32", "int64"])
@pytest.mark.parametrize(("shape", "indices", "axis", "message"), GATHER_CASES)
def test_gather_out_of_range_raises_the_same_error(
    backend: str, index_dtype: str, shape: tuple[int, ...], indices: Any, axis: int, message: str
) -> None:
    params = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    idx = np.asarray(indices, dtype=index_dtype)
    e = _error(lambda: A.gather(_c(params, backend), _c(idx, backend), axis=axis))
    assert str(e) == message
    assert isinstance(e, opcore.ShapeError) and isinstance(e, IndexError) and isinstance(e, opcore.OpcoreError)
    assert e.op == "GatherV2" and e.value == int(message.split(" = ")[1].split()[0])
    e = _error(lambda: _session(backend, lambda p, i: A.gather(p, i, axis=axis) * 2.0, params, idx))
    assert str(e) == message


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_issues_gather_case(backend: str) -> None:
    # gather(arange(10.), [3, 10]) used to give [3., 0.] on OpenCL.
    e = _error(lambda: opcore.gather(_c(np.arange(10.0), backend), _c([3, 10], backend)))
    assert (e.position, e.value) == ((1,), 10)
    assert opcore.gather(_c(np.arange(10.0), backend), _c([3, 9], backend)).numpy().tolist() == [3.0, 9.0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_gather_gradient_checks_its_indices(backend: str) -> None:
    like = np.zeros((3, 4), np.float32)
    dy = np.ones((3, 3), np.float32)
    e = _error(lambda: A.gather_grad(_c(dy, backend), _c([1, 4, 0], backend), _c(like, backend), axis=1))
    assert str(e) == ("GatherGrad: indices[1] = 4 is out of range: it must be in [0, 4), the size of like along axis 1")
    ok = A.gather_grad(_c(dy, backend), _c([1, 3, 1], backend), _c(like, backend), axis=1).numpy()
    assert ok.tolist() == [[0.0, 2.0, 0.0, 1.0]] * 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_session_keeps_working_after_an_invalid_index(backend: str) -> None:
    g = opcore.Graph()
    with g.as_default():
        p = g.placeholder("float32", [None], name="p")
        i = g.placeholder("int32", [None], name="i")
        y = opcore.gather(p, i)
        total = opcore.reduce_sum(y * 2.0)
    params = np.arange(10, dtype=np.float32)
    with opcore.Session(graph=g, backend=backend) as sess:
        for _ in range(3):  # the error flag that fired is not reused; the clean ones are
            assert sess.run(total, {p: params, i: np.array([3, 9], np.int32)}) == 24.0
            with pytest.raises(opcore.InvalidIndexError, match=r"indices\[2\] = 10 "):
                sess.run([y, total], {p: params, i: np.array([3, 9, 10, -1], np.int32)})


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_variable_never_takes_a_value_computed_from_invalid_indices(backend: str) -> None:
    g = opcore.Graph()
    with g.as_default():
        table = opcore.Variable(np.arange(6, dtype=np.float32).reshape(3, 2), name="table")
        ids = g.placeholder("int64", [None], name="ids")
        update = opcore.assign(table, table + opcore.reduce_sum(opcore.gather(table, ids)))
        init = opcore.global_variables_initializer()
    with opcore.Session(graph=g, backend=backend) as sess:
        sess.run(init)
        with pytest.raises(opcore.InvalidIndexError, match=r"indices\[0\] = 3 "):
            sess.run(update, {ids: np.array([3], np.int64)})
        assert sess.run(table).tolist() == [[0, 1], [2, 3], [4, 5]]
        sess.run(update, {ids: np.array([0], np.int64)})
        assert sess.run(table).tolist() == [[1, 2], [3, 4], [5, 6]]


# --------------------------------------------------------------------------- labels of sparse cross-entropy


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("labels", "where", "value"), [([0, 3], "labels[1]", 3), ([-1, 2], "labels[0]", -1), (5, "labels", 5)]
)
def test_sparse_cross_entropy_label_out_of_range(backend: str, labels: Any, where: str, value: int) -> None:
    # NumPy used to raise a plain ValueError (no opcore error), OpenCL to give a NaN row.
    lab = np.asarray(labels, np.int64)
    logits = np.zeros((*lab.shape, 3), np.float32)
    message = (
        f"SparseSoftmaxCrossEntropyWithLogits: {where} = {value} is out of range: it must be in [0, 3), "
        "the number of classes (the last dimension of logits)"
    )
    e = _error(lambda: nn.sparse_softmax_cross_entropy_with_logits(labels=_c(lab, backend), logits=_c(logits, backend)))
    assert str(e) == message and isinstance(e, opcore.OpcoreError) and isinstance(e, ValueError)

    def build(z: Any, x: Any) -> Any:
        return nn.sparse_softmax_cross_entropy_with_logits(labels=z, logits=x)

    assert str(_error(lambda: _session(backend, build, lab, logits))) == message


@pytest.mark.parametrize("backend", BACKENDS)
def test_losses_and_gradients_reach_the_same_check(backend: str) -> None:
    logits = _c(np.zeros((2, 3), np.float32), backend)
    with pytest.raises(opcore.InvalidIndexError, match=r"labels\[1\] = 3 "):
        opcore.losses.sparse_softmax_cross_entropy(_c([0, 3], backend, np.int32), logits)
    table = _c(np.ones((4, 2), np.float32), backend)
    with opcore.GradientTape() as tape:
        tape.watch(table)
        y = opcore.reduce_sum(opcore.gather(table, _c([0, 3], backend)))
    assert tape.gradient(y, table).numpy().tolist() == [[1, 1], [0, 0], [0, 0], [1, 1]]


# --------------------------------------------------------------------------- one_hot and slicing: rules, not errors


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_hot_out_of_range_gives_off_rows(backend: str) -> None:
    out = A.one_hot(_c([1, -1, 3, 2], backend, np.int64), 3, on_value=5.0, off_value=-1.0).numpy()
    assert out.tolist() == [[-1, 5, -1], [-1, -1, -1], [-1, -1, -1], [-1, -1, 5]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_slicing_clamps_bounds_and_rejects_indices(backend: str) -> None:
    x = _c(np.arange(12, dtype=np.float32).reshape(4, 3), backend)
    assert x[1:99, -9:2].numpy().tolist() == [[3, 4], [6, 7], [9, 10]]  # slice bounds clamp, as in Python
    assert x[-4].numpy().tolist() == [0, 1, 2]
    for key in (4, -5, (0, 3)):
        e = _error(lambda key=key: x[key])
        assert "cannot index a tensor of shape (4, 3)" in str(e) and "is out of bounds" in str(e)
    with pytest.raises(opcore.InvalidIndexError, match=r"Slice: slice \[3, 3\+2\) of axis 0 is out of bounds"):
        A.slice(x, begin=[3, 0], size=[2, 1])
    with pytest.raises(opcore.InvalidIndexError, match=r"Slice: begin \[-1, 0\] must be >= 0"):
        A.slice(x, begin=[-1, 0], size=[1, 1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_shrink_index_past_an_unknown_dim_raises_at_run_time(backend: str) -> None:
    # The dim is unknown when the graph is built: the shape function checks it from the fed shape.
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert _session(backend, lambda t: t[1], x).tolist() == [3, 4, 5]
    e = _error(lambda: _session(backend, lambda t: t[2], x))
    assert "StridedSlice: index 2 is out of bounds for axis 0 with size 2" in str(e)


# --------------------------------------------------------------------------- NaN


ARG_CASES = [
    # (x, axis, argmax, argmin): NaN reads as -inf for argmax and +inf for argmin (TensorFlow's rule).
    ([[1.0, NAN, 3.0]], 1, [2], [0]),
    ([[NAN, 1.0, 2.0], [NAN, -2.0, -1.0]], 1, [2, 2], [1, 1]),
    ([[NAN, NAN], [NAN, -INF], [-INF, NAN], [INF, NAN]], 1, [0, 0, 0, 0], [0, 1, 0, 0]),
    ([[NAN, 5.0], [1.0, NAN]], 0, [1, 0], [1, 0]),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("x", "axis", "amax", "amin"), ARG_CASES)
def test_argmax_and_argmin_never_pick_nan(
    backend: str, dtype: str, x: Any, axis: int, amax: list[int], amin: list[int]
) -> None:
    t = _c(x, backend, dtype)
    assert R.argmax(t, axis).numpy().tolist() == amax
    assert R.argmin(t, axis).numpy().tolist() == amin
    host = np.asarray(x, dtype)
    assert _session(backend, lambda p: R.argmax(p, axis), host).tolist() == amax


@pytest.mark.parametrize("backend", BACKENDS)
def test_argmax_skips_nan_in_long_rows(backend: str) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 5000)).astype(np.float32)
    x[:, ::3] = NAN
    x[1, :] = NAN
    x[1, 4000] = -INF
    want_max, want_min = np.nanargmax(np.where(np.isnan(x), -INF, x), 1), [0] * 3
    got = R.argmax(_c(x, backend), 1).numpy()
    assert got.tolist() == want_max.tolist() and got[1] == 0  # row 1: a NaN first, -inf after: the first wins
    want_min = np.argmin(np.where(np.isnan(x), INF, x), 1)
    assert R.argmin(_c(x, backend), 1).numpy().tolist() == want_min.tolist()


@pytest.mark.parametrize("backend", BACKENDS)
def test_reductions_and_elementwise_extrema_propagate_nan(backend: str) -> None:
    x = np.array([[1.0, NAN, 3.0], [4.0, 5.0, 6.0]], np.float32)
    t = _c(x, backend)
    for f, ref in ((R.reduce_max, np.max), (R.reduce_min, np.min)):
        assert np.array_equal(f(t, [1]).numpy(), ref(x, 1), equal_nan=True)
        assert np.isnan(f(t).numpy())
        assert np.array_equal(f(t, [0]).numpy(), ref(x, 0), equal_nan=True)
    y = np.array([NAN, 0.0, 7.0], np.float32)
    for f, ref in ((opcore.maximum, np.maximum), (opcore.minimum, np.minimum)):
        assert np.array_equal(f(t, _c(y, backend)).numpy(), ref(x, y), equal_nan=True)
        assert np.array_equal(f(_c(y, backend), t).numpy(), ref(y, x), equal_nan=True)
