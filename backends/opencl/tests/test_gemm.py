"""The OpenCL GEMM: tiled kernels against NumPy for every transpose, edge sizes, batches and dtypes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import opcore
from opcore_ckernels import gemm

BACKEND = "opencl"


def _rt() -> object:
    return opcore.get_backend(BACKEND).runtime


def _run(a: np.ndarray, b: np.ndarray, ta: bool, tb: bool) -> tuple[np.ndarray, np.ndarray]:
    rt = _rt()
    A = np.swapaxes(a, -1, -2) if ta else a
    B = np.swapaxes(b, -1, -2) if tb else b
    ref = np.matmul(A.astype(np.float64), B.astype(np.float64))
    out = gemm.matmul(rt, rt.to_device(a), rt.to_device(b), ta, tb, ref.shape, a.dtype)  # type: ignore[attr-defined]
    got = rt.get(out)  # type: ignore[attr-defined]
    assert got.dtype == a.dtype and got.shape == ref.shape
    return got, ref


# Sizes straddling the tile (64 x 64 x 128 for float32): smaller, equal, one more, several tiles plus a ragged edge.
SIZES = [(1, 1, 1), (5, 7, 3), (64, 64, 128), (65, 63, 129), (130, 97, 300), (67, 288, 64), (100, 64, 288), (3, 5, 17)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb", list(itertools.product([False, True], repeat=2)))
@pytest.mark.parametrize("m,n,k", SIZES)
def test_tiled_matches_numpy(dtype: type, ta: bool, tb: bool, m: int, n: int, k: int) -> None:
    rng = np.random.default_rng(m * 1000 + n * 10 + k)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    got, ref = _run(a, b, ta, tb)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * np.sqrt(k) * 4)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_products_wrap_like_numpy(dtype: type) -> None:
    rng = np.random.default_rng(3)
    info = np.iinfo(dtype)
    a = rng.integers(info.min // 2, info.max // 2, size=(3, 5), dtype=dtype)
    b = rng.integers(-3, 4, size=(5, 4), dtype=dtype)
    got, _ = _run(a, b, False, False)
    np.testing.assert_array_equal(got, np.matmul(a, b))


def test_batch_dims_broadcast_without_copies() -> None:
    rng = np.random.default_rng(4)
    a = rng.standard_normal((3, 1, 70, 20)).astype(np.float32)
    b = rng.standard_normal((4, 40, 20)).astype(np.float32)
    got, ref = _run(a, b, False, True)
    assert got.shape == (3, 4, 70, 40)
    np.testing.assert_allclose(got, ref, rtol=2e-5, atol=1e-4)


def test_empty_inner_dim_gives_zeros_and_empty_outputs_launch_nothing() -> None:
    rt = _rt()
    z = gemm.matmul(rt, rt.to_device(np.ones((2, 0), np.float32)), rt.to_device(np.ones((0, 3), np.float32)),
                    False, False, (2, 3), np.float32)  # fmt: skip
    np.testing.assert_array_equal(z.get(), np.zeros((2, 3), np.float32))
    before = rt.counters["launches"]  # type: ignore[attr-defined]
    e = gemm.matmul(rt, rt.to_device(np.ones((0, 4), np.float32)), rt.to_device(np.ones((4, 3), np.float32)),
                    False, False, (0, 3), np.float32)  # fmt: skip
    assert e.shape == (0, 3) and rt.counters["launches"] == before  # type: ignore[attr-defined]


def test_new_shapes_reuse_the_built_kernel() -> None:
    rt = _rt()
    rng = np.random.default_rng(5)
    _run(
        rng.standard_normal((10, 20)).astype(np.float32), rng.standard_normal((20, 30)).astype(np.float32), False, False
    )
    builds = rt.counters["builds"]  # type: ignore[attr-defined]
    # The K tile depends on K only through its depth class (here 32: K from 17 to 32).
    for m, n, k in [(11, 21, 31), (100, 3, 17), (2, 200, 25)]:
        a, b = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
        got, ref = _run(a, b, False, False)
        np.testing.assert_allclose(got, ref, rtol=2e-5, atol=1e-4)
    assert rt.counters["builds"] == builds  # type: ignore[attr-defined]


def test_k_tiles_take_one_of_three_depths_and_the_one_with_fewest_zeros() -> None:
    depths = set()
    for k in range(1, 1000):
        kc = gemm._k_depth(k, 128, 16)
        depths.add(kc)
        zeros = -(-k // kc) * kc - k
        assert all(zeros <= -(-k // d) * d - k for d in (64, 96, 128))
    assert depths == {64, 96, 128}
    assert gemm._k_depth(64, 128, 16) == 64 and gemm._k_depth(128, 128, 16) == 128
    assert gemm._k_depth(288, 128, 16) == 96  # 3 x 96, no zeros
    assert gemm._k_depth(100, 128, 16) == 128  # 28 zeros with 128 or 64: the deeper tile
    assert gemm._k_depth(20, 48, 16) == 32  # little local memory: depths 48, 32, 16 (12 zeros with 32 or 16)


def test_any_k_builds_at_most_one_kernel_per_depth_class() -> None:
    rt = _rt()
    rng = np.random.default_rng(6)
    builds = rt.counters["builds"]  # type: ignore[attr-defined]
    for k in range(1, 400, 9):
        a, b = rng.standard_normal((9, k)).astype(np.float32), rng.standard_normal((k, 5)).astype(np.float32)
        got, ref = _run(a, b, False, False)
        np.testing.assert_allclose(got, ref, rtol=2e-5, atol=1e-4)
    assert rt.counters["builds"] - builds <= 128 // 16  # type: ignore[attr-defined]


@pytest.mark.parametrize("m, n, k", [(9, 32, 43264), (288, 64, 36864), (1, 1, 8192), (65, 3, 6 * 1031), (70, 70, 1030)])
def test_split_k_products_match_numpy(m: int, n: int, k: int) -> None:
    # Few output tiles and a deep K: K is cut into parts (a batch of the tiled kernel, or of the simple one
    # for at most SIMPLE_OUTPUTS outputs: the first, third and fourth cases), then summed.
    assert gemm._k_split(m, n, k, 1, True, False, 64, 64) > 1
    assert gemm._k_split(m, n, k, 1, False, False, 64, 64) == 1  # a part of K must be a block of rows
    rng = np.random.default_rng(k)
    a = rng.standard_normal((k, m)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    got, ref = _run(a, b, True, False)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.sqrt(k))
    got64, ref64 = _run(a.astype(np.float64), b.astype(np.float64), True, False)
    np.testing.assert_allclose(got64, ref64, rtol=1e-11, atol=1e-11 * np.sqrt(k))


def test_k_not_split_when_it_does_not_divide_or_tiles_are_many() -> None:
    assert gemm._k_split(9, 32, 7919, 1, True, False, 64, 64) == 1  # a prime
    assert gemm._k_split(9, 32, 1000, 1, True, False, 64, 64) == 1  # too shallow to cut
    assert gemm._k_split(640, 640, 65536, 1, True, False, 64, 64) == 1  # 100 tiles already
    assert gemm._k_split(9, 32, 65536, 2, True, False, 64, 64) == 1  # batched


def test_matmul_op_and_its_gradient_on_the_device() -> None:
    rng = np.random.default_rng(6)
    a_h, b_h = rng.standard_normal((70, 90)), rng.standard_normal((90, 65))
    a, b = opcore.constant(a_h, backend=BACKEND), opcore.constant(b_h, backend=BACKEND)
    with opcore.GradientTape() as tape:
        tape.watch(a)
        tape.watch(b)
        y = opcore.reduce_sum(opcore.matmul(a, b))
    ga, gb = tape.gradient(y, [a, b])
    np.testing.assert_allclose(ga.numpy(), np.ones((70, 65)) @ b_h.T, rtol=1e-10)
    np.testing.assert_allclose(gb.numpy(), a_h.T @ np.ones((70, 65)), rtol=1e-10)
