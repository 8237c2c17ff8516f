"""OpenCL random kernels: the Philox source, reproducibility, seeds, bounds and distributions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import opcore
from opcore_ckernels.philox import philox4x32_10_reference, render

pytestmark = pytest.mark.skipif(not opcore.get_backend("opencl").availability()[0], reason="no OpenCL device")


def _op(name: str, *inputs: Any, **attrs: Any) -> np.ndarray:
    tensors = [opcore.constant(x, backend="opencl") for x in inputs]
    with opcore.use_backend("opencl"):
        return np.asarray(opcore.get_op(name)(*tensors, **attrs).numpy())


def _runtime() -> Any:
    return opcore.get_backend("opencl").runtime


def test_philox_matches_the_known_answers_and_the_python_reference() -> None:
    # Known-answer vectors of Philox4x32-10 (Random123): counter, key -> output.
    known = [
        ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
        ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
        (
            (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
            (0xA4093822, 0x299F31D0),
            (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
        ),
    ]
    for ctr, key, expected in known:
        assert philox4x32_10_reference(ctr, key) == expected
    rt = _runtime()
    source = render("opencl") + (
        "__kernel void raw(__global uint* out, __global const uint* ck) {\n"
        "  const int i = get_global_id(0);\n"
        "  const philox_u32x4 r = philox4x32_10(ck[6*i], ck[6*i+1], ck[6*i+2], ck[6*i+3], ck[6*i+4], ck[6*i+5]);\n"
        "  for (int j = 0; j < 4; ++j) out[4*i + j] = r.v[j];\n}\n"
    )
    rng = np.random.default_rng(5)
    inputs = [(c, k) for c, k, _ in known] + [
        (tuple(int(v) for v in rng.integers(0, 2**32, 4)), tuple(int(v) for v in rng.integers(0, 2**32, 2)))
        for _ in range(5)
    ]
    ck = rt.to_device(np.array([[*c, *k] for c, k in inputs], np.uint32))
    out = rt.empty((len(inputs), 4), np.uint32)
    rt.launch(rt.kernel(("philox-raw", source), lambda: source, "raw"), (len(inputs),), [out.data, ck.data])
    got = rt.get(out)
    for row, (c, k) in zip(got, inputs):
        assert tuple(int(v) for v in row) == philox4x32_10_reference(c, k)


def test_cuda_rendering_uses_cuda_types_and_the_same_body() -> None:
    cuda, ocl = render("cuda", double=True), render("opencl", double=True)
    assert "unsigned long long" in cuda and "__device__" in cuda and "ulong" not in cuda.split("philox_u64;")[0]
    assert (
        cuda.split("#define PHILOX_FN", 1)[1].split("\n", 1)[1]
        == ocl.split("#define PHILOX_FN", 1)[1].split("\n", 1)[1]
    )
    with pytest.raises(ValueError, match="unknown target"):
        render("metal")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_seeds_same_values_other_seeds_other_values(dtype: str) -> None:
    base = {"shape": (64, 33), "dtype": dtype}
    for op in ["RandomUniform", "RandomStandardNormal", "TruncatedNormal"]:
        a = _op(op, **base, seed=7, seed2=-3)
        b = _op(op, **base, seed=7, seed2=-3)
        assert np.array_equal(a, b), op
        assert not np.array_equal(a, _op(op, **base, seed=7, seed2=-2)), op
        assert not np.array_equal(a, _op(op, **base, seed=8, seed2=-3)), op
        # The high halves of the 64-bit seeds matter too.
        assert not np.array_equal(a, _op(op, **base, seed=7 + 2**32, seed2=-3)), op
        assert not np.array_equal(a, _op(op, **base, seed=7, seed2=2**32 - 3)), op
        # Element i does not depend on the shape around it.
        flat = _op(op, shape=(64 * 33,), dtype=dtype, seed=7, seed2=-3)
        assert np.array_equal(a.reshape(-1), flat), op


def test_uniform_like_gives_the_values_of_uniform() -> None:
    like = np.zeros((10, 7), np.float32)
    a = _op("RandomUniformLike", like, seed=11, seed2=12)
    b = _op("RandomUniform", shape=(10, 7), dtype="float32", seed=11, seed2=12)
    assert np.array_equal(a, b)


def test_uniform_bounds_and_resolution() -> None:
    x = _op("RandomUniform", shape=(100000,), dtype="float64", seed=1, seed2=2, minval=-1.0, maxval=3.0)
    assert x.dtype == np.float64 and x.min() >= -1.0 and x.max() < 3.0
    assert abs(x.mean() - 1.0) < 0.03 and abs(x.std() - 4 / np.sqrt(12)) < 0.02
    # float64 values use 53 bits, not just float32's 24.
    u = (x + 1.0) / 4.0
    assert np.mean(u * 2**24 != np.floor(u * 2**24)) > 0.99
    y = _op("RandomUniform", shape=(100000,), dtype="float32", seed=1, seed2=2, minval=0.0, maxval=1.0)
    assert y.dtype == np.float32 and y.min() >= 0.0 and y.max() < 1.0
    assert np.all(y * 2**24 == np.floor(y * 2**24))


def test_uniform_int_bounds_extremes_and_counts() -> None:
    x = _op("RandomUniformInt", shape=(60000,), dtype="int32", seed=4, seed2=5, minval=-3, maxval=3)
    assert x.dtype == np.int32 and x.min() == -3 and x.max() == 2
    counts = np.bincount(x + 3, minlength=6)
    assert np.all(np.abs(counts - 10000) < 600), counts
    big = _op("RandomUniformInt", shape=(20000,), dtype="int64", seed=4, seed2=5, minval=-(2**63), maxval=2**63 - 1)
    assert big.dtype == np.int64 and (big < 0).mean() > 0.45 and (big > 0).mean() > 0.45
    wide = _op("RandomUniformInt", shape=(20000,), dtype="int32", seed=4, seed2=5, minval=-(2**31), maxval=2**31 - 1)
    assert wide.min() < -(2**30) and wide.max() > 2**30


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_normal_and_truncated_normal_statistics(dtype: str) -> None:
    z = _op("RandomStandardNormal", shape=(200000,), dtype=dtype, seed=9, seed2=1).astype(np.float64)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert 0.0440 < np.mean(np.abs(z) > 2) < 0.0470  # P(|z| > 2) = 0.0455
    t = _op("TruncatedNormal", shape=(200000,), dtype=dtype, seed=9, seed2=1).astype(np.float64)
    assert np.abs(t).max() <= 2.0 and abs(t.mean()) < 0.01
    assert abs(t.std() - 0.8796) < 0.01
    assert np.mean(np.abs(t) > 1.9) > 0.005  # the tails up to the bound are there


def test_zero_size_and_scalar_shapes() -> None:
    assert _op("RandomUniform", shape=(0, 3), dtype="float32", seed=1, seed2=1).shape == (0, 3)
    s = _op("TruncatedNormal", shape=(), dtype="float64", seed=1, seed2=1)
    assert s.shape == () and abs(float(s)) <= 2
