"""Array-family kernels on the OpenCL backend: index maps, value-dependent indices, caching."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import opcore
from opcore.ops import array as A

BACKEND = "opencl"


def _dev(x: np.ndarray) -> object:
    return opcore.constant(x, backend=BACKEND)


def _runtime() -> object:
    return opcore.get_backend(BACKEND).runtime


@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "int64", "bool"])
def test_transpose_slice_tile_pad_match_numpy(dtype: str) -> None:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((7, 5, 6)) * 50).astype(dtype)
    assert np.array_equal(A.transpose(_dev(x), perm=[2, 0, 1]).numpy(), x.transpose(2, 0, 1))
    assert np.array_equal(A.getitem(_dev(x), (slice(None, None, -2), 1, slice(1, 5))).numpy(), x[::-2, 1, 1:5])
    assert np.array_equal(A.tile(_dev(x), multiples=[1, 2, 3]).numpy(), np.tile(x, [1, 2, 3]))
    pad_value = np.asarray(-2.5).astype(dtype)
    assert np.array_equal(
        A.pad(_dev(x), [[1, 0], [0, 2], [3, 1]], constant_values=-2.5).numpy(),
        np.pad(x, [[1, 0], [0, 2], [3, 1]], constant_values=pad_value),
    )


def test_pad_converts_the_constant_like_numpy_for_unsigned() -> None:
    # np.uint8(-2.5) raises; astype wraps to 254 (the NumPy kernel's behaviour).
    x = np.arange(4, dtype=np.uint8).reshape(2, 2)
    out = A.pad(_dev(x), [[1, 0], [0, 0]], constant_values=-2.5).numpy()
    assert out[0].tolist() == [254, 254]


def test_concat_split_pack_unpack_roundtrip() -> None:
    rng = np.random.default_rng(1)
    parts = [rng.standard_normal((3, n, 4)).astype(np.float32) for n in (2, 0, 5)]
    joined = A.concat([_dev(p) for p in parts], axis=1)
    assert np.array_equal(joined.numpy(), np.concatenate(parts, axis=1))
    back = A.split_like(joined, [_dev(p) for p in parts], axis=1, num=3)
    for got, want in zip(back, parts):
        assert np.array_equal(got.numpy(), want)
    stacked = A.stack([_dev(parts[0]), _dev(parts[0] + 1)], axis=-1)
    assert np.array_equal(stacked.numpy(), np.stack([parts[0], parts[0] + 1], axis=-1))
    for i, piece in enumerate(A.unstack(stacked, num=2, axis=-1)):
        assert np.array_equal(piece.numpy(), parts[0] + i)
    for i, piece in enumerate(A.split(_dev(parts[2]), 5, axis=1)):
        assert np.array_equal(piece.numpy(), parts[2][:, i : i + 1])


def test_gather_matches_numpy_and_raises_out_of_range() -> None:
    params = np.arange(24, dtype=np.float32).reshape(2, 3, 4) + 1
    idx = np.array([[2, 0], [1, 2]], dtype=np.int64)
    assert np.array_equal(A.gather(_dev(params), _dev(idx), axis=1).numpy(), np.take(params, idx, axis=1))
    bad = np.array([0, 3, -1, 0], dtype=np.int32)
    with pytest.raises(opcore.InvalidIndexError, match=r"GatherV2: indices\[1\] = 3 is out of range"):
        A.gather(_dev(params), _dev(bad), axis=1)


def test_gather_without_its_check_reads_zeros_not_out_of_bounds() -> None:
    from opcore_ckernels.checks import disabled

    params = np.arange(24, dtype=np.float32).reshape(2, 3, 4) + 1
    with disabled():
        out = A.gather(_dev(params), _dev(np.array([3, -1, 0], dtype=np.int32)), axis=1).numpy()
    assert np.array_equal(out[:, 2], params[:, 0])
    assert not out[:, :2].any()


def test_gather_grad_sums_repeated_indices_and_raises_out_of_range() -> None:
    rng = np.random.default_rng(2)
    like = np.zeros((3, 4, 2))
    idx = np.array([1, 3, 1, 1], dtype=np.int32)
    dy = rng.standard_normal((3, 4, 2))
    out = A.gather_grad(_dev(dy), _dev(idx), _dev(like), axis=1).numpy()
    want = np.zeros_like(like)
    for j, k in enumerate(idx):
        want[:, k] += dy[:, j]
    assert np.allclose(out, want, rtol=1e-12, atol=0)
    bad = np.array([1, 3, 7, 1, -2], dtype=np.int32)
    with pytest.raises(opcore.InvalidIndexError, match=r"GatherGrad: indices\[2\] = 7 is out of range"):
        A.gather_grad(_dev(rng.standard_normal((3, 5, 2))), _dev(bad), _dev(like), axis=1)


def _add_at(dy: np.ndarray, idx: np.ndarray, shape: tuple[int, ...], axis: int) -> np.ndarray:
    """GatherGrad's reference: NumPy's ``add.at``, which adds repeated indices in order."""
    out = np.zeros(shape, dy.dtype)
    rows = dy.reshape((*shape[:axis], idx.size, *shape[axis + 1 :]))
    np.add.at(np.moveaxis(out, axis, 0), idx.reshape(-1), np.moveaxis(rows, axis, 0))
    return out


@pytest.mark.parametrize(
    ("shape", "axis", "idx_shape", "high", "dtype"),
    [
        ((1000, 3), 0, (5000,), 1000, "float32"),  # sorted segments, many duplicates
        ((7, 50, 3), 1, (40, 5), 3, "float64"),  # every index in 3 values: long segments
        ((20, 1), 0, (100,), 1, "float32"),  # one index value for all: one segment of 100
        ((4, 9), 1, (33,), 9, "int32"),
        ((6, 257), 1, (1, 300), 257, "int64"),  # scalars (inner 1), outer > 1
        ((3, 5), 0, (2, 3), 3, "float32"),  # at most GATHER_GRAD_SCAN indices: the scanning kernel
    ],
)
def test_gather_grad_matches_numpy_add_at_in_order(
    shape: tuple[int, ...], axis: int, idx_shape: tuple[int, ...], high: int, dtype: str
) -> None:
    rng = np.random.default_rng(3)
    idx = rng.integers(0, high, idx_shape).astype(np.int32 if dtype != "int64" else np.int64)
    dy = (rng.standard_normal((*shape[:axis], *idx_shape, *shape[axis + 1 :])) * 40).astype(dtype)
    out = A.gather_grad(_dev(dy), _dev(idx), _dev(np.zeros(shape, np.float32)), axis=axis).numpy()
    # The segments are summed in index order, as add.at does: the same float rounding, bit for bit.
    assert out.dtype == np.dtype(dtype)
    assert np.array_equal(out, _add_at(dy, idx, shape, axis))


def test_gather_grad_of_many_indices_is_fast_and_exact() -> None:
    import time

    rng = np.random.default_rng(4)
    idx = np.concatenate([rng.integers(0, 10000, 40000), np.full(10000, 17)]).astype(np.int32)
    rng.shuffle(idx)
    dy = rng.standard_normal((50000, 64)).astype(np.float32)
    args = (_dev(dy), _dev(idx), _dev(np.zeros((10000, 64), np.float32)))
    A.gather_grad(*args, axis=0).numpy()
    t = time.perf_counter()
    out = A.gather_grad(*args, axis=0).numpy()
    # The scanning kernel took 31.8 s here (every output element read every index); sorting takes milliseconds.
    assert time.perf_counter() - t < 5.0
    assert np.array_equal(out, _add_at(dy, idx, (10000, 64), 0))


def test_gather_grad_sorted_path_still_raises_out_of_range() -> None:
    idx = np.arange(40, dtype=np.int64) % 6
    idx[[9, 30]] = [6, -1]
    dy = np.ones((40, 2), np.float32)
    with pytest.raises(opcore.InvalidIndexError, match=r"GatherGrad: indices\[9\] = 6 is out of range"):
        A.gather_grad(_dev(dy), _dev(idx), _dev(np.zeros((6, 2), np.float32)), axis=0)
    from opcore_ckernels.checks import disabled

    with disabled():  # without the check, out-of-range indices add nowhere
        out = A.gather_grad(_dev(dy), _dev(idx), _dev(np.zeros((6, 2), np.float32)), axis=0).numpy()
    assert out[:, 0].tolist() == [6, 7, 7, 6, 6, 6]


@pytest.mark.parametrize(
    ("n", "bound", "dtype"),
    [
        (1, 1, "int32"),
        (300, 3, "int32"),  # one pass of 2-bit digits
        (5000, 1000, "int64"),  # two passes of 5-bit digits
        (70000, 200000, "int64"),  # three passes of 6-bit digits
        (2000, 70000, "int32"),  # three passes of 6-bit digits
    ],
)
@pytest.mark.parametrize("chunk", [None, 37])  # the device's runs, or many short ones
def test_sort_bounded_is_a_stable_sort_with_out_of_range_values_last(
    n: int, bound: int, dtype: str, chunk: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from opcore_ckernels.kernels import _compact
    from opcore_ckernels.kernels._compact import radix_passes, sort_bounded

    if chunk is not None:
        monkeypatch.setattr(_compact, "RADIX_CHUNK", chunk)
        monkeypatch.setattr(_compact, "RADIX_CHUNK_CPU", chunk)
    rng = np.random.default_rng(n)
    x = rng.integers(0, min(bound, max(2, n // 4)), n)  # many repeats: stability shows
    x[rng.random(n) < 0.05] = rng.integers(bound, bound + 50)
    x[rng.random(n) < 0.05] = -rng.integers(1, 50)
    if dtype == "int64":
        x[rng.random(n) < 0.01] = 2**40  # wider than any digit pass
        x[rng.random(n) < 0.01] = -(2**40)
    x = x.astype(dtype)
    rt: Any = _runtime()
    keys, pos = sort_bounded(SimpleNamespace(backend=opcore.get_backend(BACKEND)), rt.to_device(x), bound)
    want_keys = np.where((x >= 0) & (x < bound), x, bound).astype(np.int64)
    want_pos = np.argsort(want_keys, kind="stable")
    assert np.array_equal(rt.get(pos), want_pos)
    assert np.array_equal(rt.get(keys), want_keys[want_pos])
    passes, bits = radix_passes(bound)
    assert passes * bits >= bound.bit_length() and bits <= 8 and passes == -(-bound.bit_length() // 8)


def test_gather_grad_reports_the_first_bad_index_across_runs_and_adds_the_others() -> None:
    # 3000 indices: the radix sort's first pass checks them in runs (3 to 12), in any order.
    rng = np.random.default_rng(6)
    idx = rng.integers(0, 500, 3000).astype(np.int32)
    idx[[2900, 1700, 700]] = [500, -3, 900]
    dy = rng.standard_normal((3000, 4)).astype(np.float32)
    like = _dev(np.zeros((500, 4), np.float32))
    with pytest.raises(opcore.InvalidIndexError, match=r"GatherGrad: indices\[700\] = 900 is out of range"):
        A.gather_grad(_dev(dy), _dev(idx), like, axis=0)
    from opcore_ckernels.checks import deferred, disabled

    with disabled():
        out = A.gather_grad(_dev(dy), _dev(idx), like, axis=0).numpy()
    keep = (idx >= 0) & (idx < 500)
    assert np.array_equal(out, _add_at(dy[keep], idx[keep], (500, 4), 0))
    with pytest.raises(opcore.InvalidIndexError, match=r"indices\[700\]"), deferred():
        A.gather_grad(_dev(dy), _dev(idx), like, axis=0)


def test_gather_grad_is_the_same_bits_on_every_call() -> None:
    rng = np.random.default_rng(7)
    idx = rng.integers(0, 40, 20000).astype(np.int64)  # long segments: the order of the sums shows
    dy = (rng.standard_normal((20000, 3)) * 1e4).astype(np.float32)
    args = (_dev(dy), _dev(idx), _dev(np.zeros((40, 3), np.float32)))
    first = A.gather_grad(*args, axis=0).numpy()
    for _ in range(3):
        assert A.gather_grad(*args, axis=0).numpy().tobytes() == first.tobytes()
    assert np.array_equal(first, _add_at(dy, idx, (40, 3), 0))


@pytest.mark.parametrize(
    ("shape", "axis", "idx_shape"), [((50, 1), 0, (70,)), ((3, 40), 1, (2, 33)), ((4, 6, 5), 1, (9,))]
)
def test_gather_matches_numpy_for_rows_and_scalars(
    shape: tuple[int, ...], axis: int, idx_shape: tuple[int, ...]
) -> None:
    rng = np.random.default_rng(5)
    params = rng.standard_normal(shape).astype(np.float32)
    idx = rng.integers(0, shape[axis], idx_shape).astype(np.int64)
    assert np.array_equal(A.gather(_dev(params), _dev(idx), axis=axis).numpy(), np.take(params, idx, axis=axis))


def test_one_hot_out_of_range_rows_are_off() -> None:
    idx = np.array([[0, 3], [-1, 2]], dtype=np.int32)
    out = A.one_hot(_dev(idx), 3, on_value=5.0, off_value=-1.0, axis=0, dtype="int64").numpy()
    want = np.full((3, 2, 2), -1, np.int64)
    want[0, 0, 0] = 5
    want[2, 1, 1] = 5
    assert np.array_equal(out, want)


def test_index_maps_are_cached_per_shape() -> None:
    rt = _runtime()
    x = _dev(np.ones((5, 6, 7), np.float32))
    A.transpose(x, perm=[1, 2, 0]).numpy()
    builds, buffers = rt.counters["builds"], len(rt._buffers)
    A.transpose(x, perm=[1, 2, 0]).numpy()
    assert rt.counters["builds"] == builds
    assert len(rt._buffers) == buffers


def test_copies_do_not_alias_their_input() -> None:
    x = _dev(np.arange(6, dtype=np.float32).reshape(2, 3))
    for y in (A.identity(x), A.stop_gradient(x), A.reshape(x, [3, 2]), A.expand_dims(x, 0), A.squeeze(x)):
        assert y.numpy().ravel().tolist() == list(range(6))
        assert y._value.base_data.int_ptr != x._value.base_data.int_ptr
