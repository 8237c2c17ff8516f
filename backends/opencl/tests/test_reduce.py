"""Reduce-family kernels on the OpenCL backend: staged reductions, NaN, wrap-around, empty inputs."""

from __future__ import annotations

import numpy as np
import pytest

import opcore
from opcore.ops import reduce as R
from opcore_ckernels.kernels import _fold
from opcore_ckernels.kernels import reduce as kernels

BACKEND = "opencl"


def _dev(x: np.ndarray) -> object:
    return opcore.constant(x, backend=BACKEND)


def test_full_sum_of_a_million_floats_is_staged_and_accurate() -> None:
    x = np.random.default_rng(0).standard_normal(1_000_000).astype(np.float32) + 0.5
    assert kernels._split(1, x.size) > 1  # the staged path is the one under test
    got = R.reduce_sum(_dev(x)).numpy()
    assert got.dtype == np.float32 and got.shape == ()
    assert np.isclose(got, x.astype(np.float64).sum(), rtol=2e-5)
    assert np.isclose(R.reduce_mean(_dev(x)).numpy(), x.astype(np.float64).mean(), rtol=2e-5)


@pytest.mark.parametrize("shape", [(3, 70_000), (70_000, 3)])
def test_staged_reductions_over_long_rows(shape: tuple[int, int]) -> None:
    x = np.random.default_rng(1).standard_normal(shape)
    for axis in (0, 1):
        assert np.allclose(R.reduce_sum(_dev(x), [axis]).numpy(), x.sum(axis), rtol=1e-10)
        assert np.array_equal(R.reduce_max(_dev(x), [axis], keepdims=True).numpy(), x.max(axis, keepdims=True))
        assert np.array_equal(R.reduce_min(_dev(x), [axis]).numpy(), x.min(axis))
        assert np.array_equal(R.argmax(_dev(x), axis).numpy(), x.argmax(axis))
        assert np.array_equal(R.argmin(_dev(x), axis, output_type="int32").numpy(), x.argmin(axis).astype(np.int32))


@pytest.mark.parametrize(
    "shape",
    [(4096, 1024), (129, 2), (1000, 3), (2, 129, 17), (513, 1023), (130, 5)],
)
def test_column_reductions_split_into_chunks_match_numpy(shape: tuple[int, ...]) -> None:
    # Tall columns are cut into chunks of rows (partial results, then a second pass): the first axis is
    # reduced, so the columns are the trailing elements.
    width, columns = shape[-2], int(np.prod(shape[-1:]))
    outer = int(np.prod(shape[:-2]))
    assert _fold._chunks(width, outer * columns, _fold.COLUMN_TASKS, 2 * _fold.COLUMN_CHUNK,
                         _fold.COLUMN_CHUNK) > 1  # fmt: skip
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(np.float32) + 1.0
    axis = len(shape) - 2
    got = R.reduce_sum(_dev(x), [axis]).numpy()
    assert got.shape == x.sum(axis).shape
    assert np.allclose(got, x.astype(np.float64).sum(axis), rtol=1e-5, atol=1e-4)
    assert np.allclose(R.reduce_mean(_dev(x), [axis]).numpy(), x.astype(np.float64).mean(axis), rtol=1e-5)
    assert np.array_equal(R.reduce_max(_dev(x), [axis]).numpy(), x.max(axis))
    i = rng.integers(-50, 50, shape).astype(np.int32)
    assert np.array_equal(R.reduce_sum(_dev(i), [axis]).numpy(), i.sum(axis, dtype=np.int32))


@pytest.mark.parametrize(
    ("shape", "dtype", "first_chunks"),
    [((4096, 1024), np.float32, 256), ((4096, 1024), np.float64, 256), ((16384, 256), np.float32, 256),
     ((36864, 64), np.float32, 576), ((64, 576, 64), np.float32, 9)],
)  # fmt: skip
def test_column_sums_read_short_chunks_of_long_rows_in_two_passes_or_three(
    monkeypatch: pytest.MonkeyPatch, shape: tuple[int, ...], dtype: type, first_chunks: int
) -> None:
    # The first pass cuts columns into chunks of about 64 KB of rows (16 rows of 4 KB, 64 rows of 1 KB or
    # less), and a later pass folds up to 512 partial rows at once: (4096, 1024) makes 256 chunks, then one
    # pass over them; (36864, 64) makes 576 chunks of 64 rows, 9 chunks of those, then the last pass.
    rt = opcore.get_backend(BACKEND).runtime
    ranges: list[tuple[int, ...]] = []
    launch = rt.launch

    def spy(kernel: object, global_size: tuple[int, ...], *args: object, **kw: object) -> None:
        ranges.append(tuple(global_size))
        launch(kernel, global_size, *args, **kw)

    monkeypatch.setattr(rt, "launch", spy)
    x = np.random.default_rng(3).standard_normal(shape).astype(dtype)
    axis = len(shape) - 2
    got = R.reduce_sum(_dev(x), [axis]).numpy()
    outer, columns = int(np.prod(shape[:axis])), shape[-1]
    assert ranges[0] == (columns, outer * first_chunks)
    assert len(ranges) == (2 if first_chunks <= 512 else 3)
    np.testing.assert_allclose(got, x.astype(np.float64).sum(axis), rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-3 if dtype == np.float32 else 1e-10)  # fmt: skip


def test_arg_returns_the_first_occurrence_and_never_a_nan() -> None:
    x = np.zeros(50_000, np.float32)
    x[[777, 30_000]] = 3.0
    x[[1_000, 40_000]] = -3.0
    assert int(R.argmax(_dev(x), 0).numpy()) == 777
    assert int(R.argmin(_dev(x), 0).numpy()) == 1_000
    x[[5, 20_000, 45_000]] = np.nan  # NaN reads as -inf for ArgMax, +inf for ArgMin (TensorFlow's rule)
    assert int(R.argmax(_dev(x), 0).numpy()) == 777
    assert int(R.argmin(_dev(x), 0).numpy()) == 1_000
    assert kernels._split(1, x.size) > 1  # staged: partial results of all-NaN chunks must not win
    x[:] = np.nan
    x[[30_000, 40_000]] = -np.inf
    assert int(R.argmax(_dev(x), 0).numpy()) == 0  # every value reads as -inf: the first one
    assert int(R.argmin(_dev(x), 0).numpy()) == 30_000


def test_max_min_propagate_nan_in_staged_and_serial_paths() -> None:
    for n in (10, 100_000):
        x = np.arange(n, dtype=np.float64)
        x[n // 2] = np.nan
        assert np.isnan(R.reduce_max(_dev(x)).numpy())
        assert np.isnan(R.reduce_min(_dev(x.reshape(1, n)), [1]).numpy()[0])


def test_integer_sums_and_products_wrap_like_numpy() -> None:
    x = np.full(100_000, 100, np.int8)
    assert R.reduce_sum(_dev(x)).numpy() == np.sum(x, dtype=np.int8)
    big = np.array([2**62, 2**62, 2**62], np.int64)
    assert R.reduce_sum(_dev(big)).numpy() == np.sum(big)
    y = np.array([[300, -7, 1000], [2, 3, 4]], np.int16)
    assert np.array_equal(R.reduce_prod(_dev(y), [1]).numpy(), np.prod(y, axis=1, dtype=np.int16))


def test_integer_mean_truncates_toward_zero() -> None:
    x = np.array([[-3, -4], [3, 4], [-1, 0]], np.int32)
    assert R.reduce_mean(_dev(x), [1]).numpy().tolist() == [-3, 3, 0]
    u = np.full(100_000, 255, np.uint8)
    assert R.reduce_mean(_dev(u)).numpy() == 255  # summed in int64, not in uint8


def test_empty_reductions() -> None:
    f = np.zeros((0, 3), np.float32)
    i = np.zeros((0, 3), np.int16)
    assert R.reduce_sum(_dev(f), [0]).numpy().tolist() == [0, 0, 0]
    assert R.reduce_prod(_dev(i), [0]).numpy().tolist() == [1, 1, 1]
    assert np.isnan(R.reduce_mean(_dev(f), [0]).numpy()).all()
    assert R.reduce_mean(_dev(i), [0]).numpy().tolist() == [0, 0, 0]
    assert R.reduce_max(_dev(f)).numpy() == -np.inf
    assert R.reduce_min(_dev(i)).numpy() == np.iinfo(np.int16).max
    assert R.reduce_max(_dev(i), [0]).numpy().tolist() == [np.iinfo(np.int16).min] * 3


def test_unreduce_like_broadcasts_back() -> None:
    dy = np.arange(3.0)
    like = np.zeros((2, 3, 4))
    out = R.unreduce_like(_dev(dy), _dev(like), axis=[0, -1]).numpy()
    assert np.array_equal(out, np.broadcast_to(dy[None, :, None], like.shape))


LAYOUT_CASES = [
    ((6, 7, 8), (2,)),  # contiguous rows
    ((6, 7, 8), (1, 2)),
    ((6, 7, 8), (0,)),  # columns (inner > 1)
    ((6, 7, 8), (0, 1)),
    ((6, 7, 8), (1,)),  # a middle axis: outer and inner > 1
    ((5, 1, 7, 1), (1, 2, 3)),  # length-1 axes next to the reduced ones
    ((6, 1, 8), (0, 2)),  # adjacent once the length-1 axis is dropped
    ((6, 7, 8), (0, 2)),  # not adjacent: the index maps
    ((3, 9000), (1,)),  # few long rows: chunked work-groups, then a second pass
    ((9000, 3), (0,)),  # few long columns: chunked columns
    ((2, 5000, 3), (1,)),
    ((40, 1), (1,)),
]


@pytest.mark.parametrize(("shape", "axes"), LAYOUT_CASES, ids=lambda v: "x".join(map(str, v)))
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int8", "uint8"])
def test_every_reduction_layout_matches_numpy(shape: tuple[int, ...], axes: tuple[int, ...], dtype: str) -> None:
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    if x.dtype.kind == "f":
        x.reshape(-1)[:: max(1, x.size // 5)] = [np.nan, np.inf, -np.inf, 0.0, 2.0, 1.0][
            : len(x.reshape(-1)[:: max(1, x.size // 5)])
        ]
    t = _dev(x)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    with np.errstate(invalid="ignore", over="ignore"):
        want_sum = x.sum(axis=axes, dtype=x.dtype)
        # Products of values near 1 (no overflow to inf, whose product with a 0 would depend on the order).
        xp = (1 + x * 0.01).astype(dtype) if x.dtype.kind == "f" else x
        want_prod = xp.prod(axis=axes, dtype=x.dtype)
        want_mean = (
            x.mean(axis=axes)
            if x.dtype.kind == "f"
            else np.trunc(x.sum(axis=axes, dtype=np.int64) / x.size * want_sum.size)
        )
    got = R.reduce_sum(t, list(axes)).numpy()
    if x.dtype.kind == "f":
        # Non-finite results match exactly; finite ones differ from NumPy's pairwise sum by rounding, bounded
        # by sum(|x|) times a few units of the last place.
        finite = np.isfinite(want_sum)
        assert np.array_equal(got[~finite], want_sum[~finite], equal_nan=True)
        bound = np.abs(x.astype(np.float64)).sum(axis=axes)[finite] * (1e-6 if dtype == "float32" else 1e-14)
        assert np.all(np.abs(got[finite] - x.astype(np.float64).sum(axis=axes)[finite]) <= bound)
    else:
        np.testing.assert_array_equal(got, want_sum)
    np.testing.assert_allclose(R.reduce_max(t, list(axes)).numpy(), x.max(axis=axes))
    np.testing.assert_allclose(R.reduce_min(t, list(axes), keepdims=True).numpy(), x.min(axis=axes, keepdims=True))
    np.testing.assert_allclose(R.reduce_prod(_dev(xp), list(axes)).numpy(), want_prod, rtol=rtol * 10)
    got_mean = R.reduce_mean(t, list(axes)).numpy()
    if x.dtype.kind == "f":
        np.testing.assert_allclose(got_mean, want_mean, rtol=rtol * 10)
    else:
        np.testing.assert_array_equal(got_mean, want_mean.astype(x.dtype))


@pytest.mark.parametrize(
    "shape", [(300, 257), (5, 1), (4, 3001), (2, 70_000), (7, 40, 3), (2, 6000, 5)], ids=lambda v: "x".join(map(str, v))
)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int16"])
def test_arg_on_every_layout_picks_the_first_best_and_never_nan(shape: tuple[int, ...], dtype: str) -> None:
    rng = np.random.default_rng(8)
    x = rng.integers(-3, 4, shape).astype(dtype)  # many ties: the first occurrence must win
    if x.dtype.kind == "f":
        x.reshape(-1)[::7] = np.nan
        x.reshape(-1)[::11] = -np.inf
    key_max = np.where(np.isnan(x), -np.inf, x) if x.dtype.kind == "f" else x
    key_min = np.where(np.isnan(x), np.inf, x) if x.dtype.kind == "f" else x
    for axis in range(len(shape)):
        assert np.array_equal(R.argmax(_dev(x), axis).numpy(), key_max.argmax(axis))
        assert np.array_equal(R.argmin(_dev(x), axis, output_type="int32").numpy(), key_min.argmin(axis))


@pytest.mark.parametrize(("shape", "axes"), LAYOUT_CASES, ids=lambda v: "x".join(map(str, v)))
@pytest.mark.parametrize("keepdims", [False, True])
def test_unreduce_like_on_every_layout(shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> None:
    rng = np.random.default_rng(9)
    like = np.zeros(shape, np.float32)
    dy = rng.standard_normal(like.sum(axis=axes, keepdims=keepdims).shape).astype(np.float32)
    out = R.unreduce_like(_dev(dy), _dev(like), axis=list(axes), keepdims=keepdims).numpy()
    want = np.broadcast_to(dy if keepdims else np.expand_dims(dy, axes), shape)
    assert np.array_equal(out, want)


@pytest.mark.parametrize("width", [1 << 18, (1 << 18) + 32, (1 << 18) + 1])
def test_long_rows_on_a_cpu_fold_as_columns_and_agree_with_numpy(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = opcore.get_backend("opencl").runtime
    monkeypatch.setattr(rt, "cpu", True, raising=False)  # the layout is chosen for CPU devices
    layouts: list[tuple[int, int, int]] = []
    real = _fold._reduce_adjacent

    def recording(ctx, x, kind, out, layout, *rest, **kw):  # type: ignore[no-untyped-def]
        layouts.append(layout)
        return real(ctx, x, kind, out, layout, *rest, **kw)

    monkeypatch.setattr(_fold, "_reduce_adjacent", recording)
    x = np.random.default_rng(3).normal(1.0, 2.0, size=(2, width)).astype(np.float32)
    x[1, 7] = np.nan
    t = opcore.constant(x, backend="opencl")
    ref = x.astype(np.float64)
    for op, want in (
        (R.reduce_sum, ref.sum(axis=1)),
        (R.reduce_mean, ref.mean(axis=1)),
        (R.reduce_max, ref.max(axis=1)),
    ):
        layouts.clear()
        got = op(t, [1]).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, equal_nan=True)
        assert np.isnan(got[1])
        lanes = next((n for n in _fold.CPU_LANES if width % n == 0), 0)
        # (the first call comes through reduce's own reference; the two it makes for columns are recorded)
        assert layouts == ([(2, width // lanes, lanes), (2, lanes, 1)] if lanes else [])
    l2 = opcore.l2_loss(opcore.constant(x[0], backend="opencl")).numpy()
    np.testing.assert_allclose(l2, (ref[0] ** 2).sum() / 2, rtol=1e-5)
