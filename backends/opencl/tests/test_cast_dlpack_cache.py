"""One Cast semantics on NumPy and OpenCL, DLPack import into a device backend, and warm calls that build nothing."""

from __future__ import annotations

import numpy as np
import pytest

import opcore

BACKEND = "opencl"

EXTREMES = [np.nan, np.inf, -np.inf, 3e9, -3e9, -2.5, 2.7, -0.5, 127.9, 128.5, -128.5, -129.0, 255.5, 256.0,
            -32769.0, 65535.5, 2.0**31, -(2.0**31), 1e19, -1e19, 1e-40, -0.0]  # fmt: skip


@pytest.mark.parametrize("src", ["float32", "float64"])
@pytest.mark.parametrize("dst", ["int8", "uint8", "int16", "int32", "int64", "bool", "float16"])
def test_casts_of_nan_inf_and_out_of_range_values_agree(src: str, dst: str) -> None:
    with np.errstate(over="ignore"):
        x = np.array(EXTREMES, dtype=src)
    on_numpy = opcore.cast(opcore.constant(x), dst).numpy()
    on_device = opcore.cast(opcore.constant(x, backend=BACKEND), dst).numpy()
    np.testing.assert_array_equal(on_device, on_numpy)


def test_the_cast_rule_is_saturating_with_nan_to_zero() -> None:
    x = np.array([np.nan, np.inf, -np.inf, 3e9, -2.5, -0.5, 2.7], dtype=np.float32)
    for backend in ("numpy", BACKEND):
        t = opcore.constant(x, backend=backend)
        assert opcore.cast(t, "int32").numpy().tolist() == [0, 2**31 - 1, -(2**31), 2**31 - 1, -2, 0, 2]
        assert opcore.cast(t, "uint8").numpy().tolist() == [0, 255, 0, 255, 0, 0, 2]


def test_float32_subnormals_are_kept() -> None:
    tiny = opcore.constant(np.array([1e-40, -1e-40], np.float32), backend=BACKEND)
    assert opcore.greater(tiny, 0.0).numpy().tolist() == [True, False]
    assert opcore.cast(tiny, "float64").numpy()[0] == pytest.approx(float(np.float32(1e-40)), rel=1e-6)


@pytest.mark.parametrize(
    "view",
    [
        lambda a: a.T,
        lambda a: a[::-1],
        lambda a: a[:, ::2],
        lambda a: a[::2, 1::3],
        lambda a: a[::-1, ::-2].T,
    ],
    ids=["transposed", "reversed", "strided", "strided-offset", "reversed-transposed"],
)
def test_dlpack_views_of_numpy_arrays_import_with_their_values(view: object) -> None:
    a = np.arange(48, dtype=np.float32).reshape(6, 8)
    v = view(a)  # type: ignore[operator]
    t = opcore.from_dlpack(v, backend=BACKEND)
    assert t.shape == v.shape and t.backend == BACKEND
    np.testing.assert_array_equal(t.numpy(), v)
    # kernels read the copy correctly: an op over the imported view
    np.testing.assert_array_equal((t * 2.0).numpy(), v * 2.0)
    a[...] = -1  # a host producer is copied, not shared
    assert t.numpy().min() >= 0


def test_dlpack_from_an_opencl_tensor_and_into_numpy() -> None:
    x = opcore.constant(np.arange(6.0).reshape(2, 3), backend=BACKEND)
    back = opcore.from_dlpack(x, backend="numpy")
    np.testing.assert_array_equal(back.numpy(), np.arange(6.0).reshape(2, 3))
    again = opcore.from_dlpack(x, backend=BACKEND)
    np.testing.assert_array_equal(again.numpy(), x.numpy())


def test_dlpack_from_a_gpu_array_is_rejected_clearly() -> None:
    class OnGpu:
        def __dlpack_device__(self) -> tuple[int, int]:
            return (2, 0)

    with pytest.raises(opcore.BackendMismatchError, match=r"DLPack device \(type 2, id 0\).*'opencl'"):
        opcore.from_dlpack(OnGpu(), backend=BACKEND)


def test_warm_calls_build_no_source() -> None:
    rt = opcore.get_backend(BACKEND).runtime
    rng = np.random.default_rng(0)
    x = opcore.constant(rng.standard_normal((4, 8)).astype(np.float32), backend=BACKEND)
    y = opcore.constant(rng.standard_normal((8,)).astype(np.float32), backend=BACKEND)

    def step() -> None:
        opcore.softmax(x + y).numpy()
        opcore.reduce_sum(x * x, axis=[1]).numpy()
        opcore.cast(x, "int32").numpy()
        opcore.transpose(x).numpy()

    step()
    before = rt.counters["sources"]
    for _ in range(3):
        step()
    assert rt.counters["sources"] == before
    assert before > 0
