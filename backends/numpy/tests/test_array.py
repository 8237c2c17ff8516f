"""Array-family ops on the NumPy backend: semantics the conformance suite does not pin down."""

from __future__ import annotations

import numpy as np
import pytest

import opcore
from opcore.errors import ShapeError
from opcore.ops import array as A
from opcore.ops import reduce as R


def _grad(fn, x):
    t = opcore.constant(x)
    with opcore.GradientTape() as tape:
        tape.watch(t)
        y = fn(t)
    return tape.gradient(y, t).numpy()


X = np.arange(24.0).reshape(2, 3, 4)


@pytest.mark.parametrize(
    "key",
    [
        1,
        -1,
        (slice(None), 2),
        (Ellipsis, 0),
        (None, 1, slice(None, None, -1)),
        (slice(1, None), None, slice(None, None, 2), -2),
        (slice(-1, -4, -2), Ellipsis, None),
        (slice(10, -10, -1),),
        Ellipsis,
    ],
)
def test_getitem_matches_numpy(key):
    assert np.array_equal(opcore.constant(X)[key].numpy(), X[key])


def test_getitem_out_of_range_names_index_and_shape():
    with pytest.raises(ShapeError, match=r"index 5 .*size 3") as e:
        _ = opcore.constant(X)[:, 5]
    assert "(2, 3, 4)" in str(e.value)
    with pytest.raises(ShapeError, match="too many indices"):
        _ = opcore.constant(X)[0, 0, 0, 0]


def test_getitem_gradient_scatters_back():
    g = _grad(lambda t: R.reduce_sum(t[1, ::-2, None]), X)
    expected = np.zeros_like(X)
    expected[1, ::-2] = 1
    assert np.array_equal(g, expected)


def test_results_do_not_alias_inputs():
    x = np.arange(6.0).reshape(2, 3)
    t = opcore.constant(x)
    for out in (A.reshape(t, [3, 2]), A.transpose(t, [0, 1]), A.squeeze(A.expand_dims(t, 0)), t[:, :], t[0]):
        assert not np.shares_memory(out.numpy(), t.numpy())


def test_reshape_error_names_both_shapes():
    with pytest.raises(ShapeError, match=r"\(2, 3\).*\[4\]"):
        A.reshape(opcore.constant(np.zeros((2, 3))), [4])


def test_concat_gradient_splits_by_input_sizes():
    a, b = opcore.constant(np.ones((2, 1))), opcore.constant(np.ones((2, 3)))
    w = opcore.constant(np.arange(8.0).reshape(2, 4))
    with opcore.GradientTape() as tape:
        tape.watch(a)
        tape.watch(b)
        y = R.reduce_sum(A.concat([a, b], 1) * w)
    ga, gb = tape.gradient(y, [a, b])
    assert np.array_equal(ga.numpy(), w.numpy()[:, :1])
    assert np.array_equal(gb.numpy(), w.numpy()[:, 1:])


def test_gather_gradient_adds_repeated_indices():
    g = _grad(lambda t: R.reduce_sum(A.gather(t, np.array([0, 0, 2]), axis=1)), np.ones((2, 3)))
    assert np.array_equal(g, [[2, 0, 1], [2, 0, 1]])


GATHER_GRAD_CASES = [
    # (like shape, indices shape, axis): embedding rows, a middle axis, scalar slices, large slices
    ((50, 8), (300,), 0),
    ((4, 30, 3), (5, 7), 1),
    ((20,), (100,), 0),
    ((3, 9), (40,), 1),
    ((6, 70, 80), (9,), 0),
]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
@pytest.mark.parametrize("like_shape, idx_shape, axis", GATHER_GRAD_CASES)
@pytest.mark.parametrize("block", [None, 5], ids=["one block", "small blocks"])
def test_gather_grad_adds_every_slice_like_add_at(like_shape, idx_shape, axis, dtype, block, monkeypatch):
    from opcore.ops import indexing
    from opcore_numpy.kernels import array as kernels

    if block is not None:  # np.add.at by small blocks, also where the sorted path would be taken
        monkeypatch.setattr(kernels, "_FLAT_BLOCK", block)
        monkeypatch.setattr(kernels, "_SORTED_DIM", 0)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, like_shape[axis], idx_shape)
    dy_shape = (*like_shape[:axis], *idx_shape, *like_shape[axis + 1 :])
    dy = rng.integers(-5, 5, dy_shape).astype(dtype)
    expected = np.zeros(like_shape, dtype)
    moved = np.moveaxis(expected, axis, 0)
    np.add.at(
        moved,
        idx.reshape(-1),
        np.moveaxis(dy.reshape((*like_shape[:axis], idx.size, *like_shape[axis + 1 :])), axis, 0),
    )
    got = indexing.gather_grad(
        opcore.constant(dy), opcore.constant(idx), opcore.constant(np.zeros(like_shape)), axis=axis
    )
    assert got.numpy().dtype == dtype
    np.testing.assert_array_equal(got.numpy(), expected)


def test_gather_rejects_out_of_range_indices():
    with pytest.raises(ShapeError, match=r"indices\[0\] = 3 is out of range: it must be in \[0, 3\)") as e:
        A.gather(opcore.constant(np.ones(3)), np.array([3]))
    assert isinstance(e.value, opcore.InvalidIndexError) and isinstance(e.value, IndexError)
    assert (e.value.op, e.value.position, e.value.value) == ("GatherV2", (0,), 3)


def test_one_hot_out_of_range_rows_are_off():
    out = A.one_hot(np.array([1, -1, 3]), 3, on_value=5.0, off_value=-1.0, dtype="int32").numpy()
    assert out.dtype == np.int32
    assert np.array_equal(out, [[-1, 5, -1], [-1, -1, -1], [-1, -1, -1]])


def test_fill_zeros_ones():
    assert A.fill([2], 7).numpy().dtype == np.int32
    assert np.array_equal(A.zeros([2, 0]).numpy(), np.zeros((2, 0), np.float32))
    assert A.ones([3], "int64").numpy().tolist() == [1, 1, 1]
    assert A.ones([3], "bool").numpy().tolist() == [True] * 3


def test_pad_gradient_and_values():
    x = np.arange(6.0).reshape(2, 3)
    out = A.pad(opcore.constant(x), [[1, 0], [0, 2]], constant_values=9).numpy()
    assert out.shape == (3, 5) and out[0, 0] == 9 and np.array_equal(out[1:, :3], x)
    assert np.array_equal(_grad(lambda t: R.reduce_sum(A.pad(t, [[1, 0], [0, 2]])), x), np.ones_like(x))


def test_second_order_through_strided_slice():
    x = opcore.constant(np.array([1.0, 2.0, 3.0]))
    with opcore.GradientTape() as outer:
        outer.watch(x)
        with opcore.GradientTape() as inner:
            inner.watch(x)
            y = R.reduce_sum(x[::2] * x[::2] * x[::2])
        g = inner.gradient(y, x)
        s = R.reduce_sum(g)
    h = outer.gradient(s, x)
    assert np.allclose(g.numpy(), [3.0, 0.0, 27.0])
    assert np.allclose(h.numpy(), [6.0, 0.0, 18.0])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_split_context_serves_another_input_shape(axis):
    # The kernel remembers the pieces' indices per input shape; a context given another
    # shape (as a hand-made context can be) splits that shape, not the remembered one.
    from opcore.plugins import ensure_loaded
    from opcore.registry import KernelContext, get_registry

    ensure_loaded()
    fn = get_registry().kernel("Split", "numpy", (opcore.float32,)).fn
    ctx = KernelContext("Split", {"num_split": 2, "axis": axis}, ((2, 2),) * 2, (opcore.float32,) * 2)
    for shape in ((4, 4), (6, 2), (2, 6), (4, 4)):
        x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
        got = fn(ctx, x)
        want = np.split(x, 2, axis=axis)
        assert [g.shape for g in got] == [w.shape for w in want]
        assert all(np.array_equal(g, w) for g, w in zip(got, want))
        assert all(not np.shares_memory(g, x) for g in got)  # fresh arrays, never views of the input


@pytest.mark.parametrize("dtype", ["float32", "float16", "float64", "int8", "uint8", "bool"])
@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 3, 4), (0, 3)])
def test_stack_matches_numpy_on_every_axis(dtype, shape):
    rng = np.random.default_rng(7)
    for n in (1, 2, 3):
        values = [(rng.standard_normal(shape) * 3).astype(dtype) for _ in range(n)]
        tensors = [opcore.constant(v) for v in values]
        for axis in range(-len(shape) - 1, len(shape) + 1):
            got = opcore.stack(tensors, axis=axis).numpy()
            want = np.stack(values, axis=axis)
            assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want), (n, axis)
            assert got.flags.c_contiguous and got.flags.writeable


SORTED_CASES = [
    # (rows, indices, column count, how the indices are drawn): embeddings, heavy and single
    # repeats, the largest row count the sorted path takes, one index
    (1000, (5000,), 16, "uniform"),
    (37, (9, 11), 3, "uniform"),
    (5, (64 * 5,), 4, "each 64 times"),
    (5, (65 * 5,), 4, "each 65 times"),
    (1 << 16, (300,), 2, "top rows"),
    (10, (1,), 7, "uniform"),
    (300, (40,), 1, "distinct"),
]


@pytest.mark.parametrize("dtype", ["float32", "float16", "float64", "int64"])
@pytest.mark.parametrize("rows, idx_shape, cols, draw", SORTED_CASES)
def test_gather_grad_by_sorted_segments_is_add_at_bit_for_bit(rows, idx_shape, cols, draw, dtype, monkeypatch):
    from opcore.ops import indexing
    from opcore_numpy.kernels import array as kernels

    rng = np.random.default_rng(11)
    n = int(np.prod(idx_shape))
    if draw == "uniform":
        idx = rng.integers(0, rows, n)
    elif draw == "distinct":
        idx = rng.permutation(rows)[:n]
    elif draw == "top rows":
        idx = rows - 1 - rng.integers(0, 100, n)
    else:
        idx = rng.permutation(np.repeat(np.arange(rows), n // rows))
    idx = idx.reshape(idx_shape).astype(rng.choice([np.int32, np.int64]))
    if dtype == "int64":
        dy = rng.integers(-1000, 1000, (*idx_shape, cols)).astype(dtype)
    else:
        dy = (rng.normal(size=(*idx_shape, cols)) * 10.0 ** rng.integers(-3, 4, (*idx_shape, cols))).astype(dtype)
        dy.flat[::17] = -0.0
        dy.flat[5::97] = np.inf
        dy.flat[7::89] = np.nan
    expected = np.zeros((rows, cols), dtype)
    np.add.at(expected, idx.reshape(-1), dy.reshape(-1, cols))
    taken = []
    sorted_sum = kernels._sorted_rows_sum
    monkeypatch.setattr(kernels, "_sorted_rows_sum", lambda *a: taken.append(sorted_sum(*a)) or taken[-1])
    got = indexing.gather_grad(
        opcore.constant(dy), opcore.constant(idx), opcore.constant(np.zeros((rows, cols), dtype)), axis=0
    ).numpy()
    assert taken == [draw != "each 65 times"]  # an index repeated 65 times goes to np.add.at
    assert got.dtype == dtype
    np.testing.assert_array_equal(got.view(f"u{got.itemsize}"), expected.view(f"u{got.itemsize}"))
