"""Bad input gives typed errors naming the op and the values; backends never mix silently."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import opcore
from opcore.hookspecs import hookimpl
from opcore.registry import KernelContext, Registry


def test_wrong_shapes_name_op_inputs_and_shapes() -> None:
    a = opcore.constant(np.ones((2, 3), np.float32))
    b = opcore.constant(np.ones((4,), np.float32))
    with pytest.raises(opcore.ShapeError, match=r"Add: .*'x'.*\(2, 3\).*'y'.*\(4,\)"):
        opcore.add(a, b)
    with pytest.raises(opcore.ShapeError, match=r"MatMul: inner dimensions differ"):
        opcore.matmul(a, a)


def test_wrong_dtype_names_op_dtype_and_allowed_set() -> None:
    ints = opcore.constant([1, 2, 3])
    with pytest.raises(opcore.DTypeError, match=r"Sqrt does not accept dtype int32 .*float16, float32, float64"):
        opcore.sqrt(ints)
    with pytest.raises(opcore.DTypeError, match=r"LogicalAnd"):
        opcore.logical_and(opcore.constant([1.0]), opcore.constant([True]))


def test_unknown_op_and_unknown_backend() -> None:
    with pytest.raises(opcore.UnknownOpError, match="'Addd'"):
        opcore.get_op("Addd")
    with pytest.raises(opcore.UnknownBackendError, match=r"'tpu'.*installed backends: .*numpy"):
        opcore.constant([1.0], backend="tpu")
    with pytest.raises(LookupError):  # a builtin base class fits too
        opcore.get_backend("tpu")


def test_bad_attribute_value_names_op_and_attribute() -> None:
    x = opcore.constant(np.ones((2, 3), np.float32))
    with pytest.raises(opcore.OpDefinitionError, match=r"Sum: attribute 'keepdims' expects a bool, got 'yes'"):
        opcore.reduce_sum(x, 1, keepdims="yes")


def test_mixed_backends_say_how_to_move(toy: str) -> None:
    a = opcore.constant([1.0, 2.0])
    b = opcore.constant([1.0, 2.0], backend=toy)
    with pytest.raises(opcore.BackendMismatchError, match=r"t\.to\('numpy'\)"):
        opcore.add(a, b)
    assert (a.to(toy) + b).numpy().tolist() == [2.0, 4.0]


def test_missing_kernel_lists_registered_kernels(toy: str) -> None:
    x = opcore.constant([1.0, 2.0], backend=toy)
    with pytest.raises(opcore.KernelNotFoundError) as e:
        opcore.subtract(x, x)
    msg = str(e.value)
    assert "'Sub'" in msg and "'toy'" in msg and "T=float32" in msg and "numpy[T=float32]" in msg


def test_fallback_is_opt_in_and_counted(toy: str) -> None:
    x = opcore.constant([3.0, 4.0], backend=toy)
    opcore.stats.reset()
    with opcore.fallback_policy("warn"), pytest.warns(opcore.FallbackWarning, match="Sub has no kernel"):
        y = opcore.subtract(x, 1.0)
    assert y.backend == toy and y.numpy().tolist() == [2.0, 3.0]
    with opcore.fallback_policy("allow"):
        opcore.subtract(x, 1.0)
    assert opcore.stats.fallbacks["Sub@toy"] == 2
    assert opcore.stats.transfers["toy->host"] >= 2


def test_kernel_returning_wrong_shape_is_caught(toy: str) -> None:
    x = opcore.constant([1.0, 2.0, 3.0], backend=toy)
    with pytest.raises(opcore.KernelContractError, match=r"Mul kernel on backend 'toy' .*\(1,\).*\(3,\)"):
        opcore.multiply(x, x)


def test_device_without_float64_is_reported(toy: str) -> None:
    with pytest.raises(opcore.KernelNotFoundError):
        opcore.add(opcore.constant([1.0], dtype="float64", backend=toy), 1.0)


def test_backend_selection_order(monkeypatch: pytest.MonkeyPatch, toy: str) -> None:
    assert opcore.constant([1.0]).backend == "numpy"
    with opcore.use_backend(toy):
        assert opcore.constant([1.0]).backend == toy
        assert opcore.constant([1.0], backend="numpy").backend == "numpy"
    opcore.set_default_backend(toy)
    try:
        assert opcore.constant([1.0]).backend == toy
    finally:
        opcore.set_default_backend("numpy")
    monkeypatch.setenv("OPCORE_BACKEND", toy)
    opcore.config.reset()
    try:
        assert opcore.constant([1.0]).backend == toy
    finally:
        monkeypatch.delenv("OPCORE_BACKEND")
        opcore.config.reset()


def test_unavailable_backend_raises_with_reason() -> None:
    from opcore.backend import Backend

    class Offline(Backend):
        name = "offline"

        def availability(self) -> tuple[bool, str]:
            return False, "no device found (driver not loaded)"

    reg = opcore.get_registry()
    with reg.plugin_scope("test-offline"):
        reg.register_backend(Offline())
    try:
        with pytest.raises(opcore.BackendUnavailableError, match=r"'offline'.*driver not loaded"):
            opcore.constant([1.0], backend="offline")
        info = {b.name: b for b in opcore.available_backends()}["offline"]
        assert not info.available and "driver not loaded" in info.reason
    finally:
        reg.backends.pop("offline")


def test_positional_attributes_like_tensorflow() -> None:
    x = opcore.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert opcore.reduce_sum(x, 1).numpy().tolist() == [3.0, 12.0]
    assert opcore.reshape(x, [-1]).shape == (6,)
    with pytest.raises(opcore.OpDefinitionError, match="given both by position and by keyword"):
        opcore.reduce_sum(x, 1, axis=0)


class _HalfReader:
    """Kernels on the toy backend (which has no float16) that read float16 and write other dtypes."""

    @hookimpl
    def opcore_register_kernels(self, registry: Registry) -> None:
        def greater(ctx: KernelContext, x: Any, y: Any) -> Any:
            raise AssertionError("a float16 kernel ran on a device without float16")

        registry.register_kernel("Greater", "toy", greater, "float16")
        registry.register_kernel("Cast", "toy", greater, "float16")


@pytest.fixture(scope="module")
def toy_half_kernels(toy: str) -> str:
    reg = opcore.get_registry()
    if reg.kernel("Greater", "toy", (opcore.float16,)) is None:
        rec = opcore.register_plugin(_HalfReader(), name="toy-half-kernels")
        assert rec.status == "loaded", rec.error
    return toy


def test_kernels_reading_a_dtype_the_device_lacks_raise_dtype_error(toy_half_kernels: str) -> None:
    with opcore.use_backend(toy_half_kernels):
        x = opcore.constant(np.array([1.0, 2.0], np.float16))
        with pytest.raises(opcore.DTypeError, match=r"Greater \(T=float16 -> bool\) cannot run on backend 'toy'"):
            opcore.greater(x, x)
        with pytest.raises(opcore.DTypeError, match=r"Cast .*float16.* cannot run on backend 'toy'"):
            opcore.cast(x, opcore.float32)
    g = opcore.Graph()
    with g.as_default():
        p = opcore.placeholder(opcore.float16, [2])
        out = opcore.greater(p, p)
    with (
        opcore.Session(g, backend=toy_half_kernels) as sess,
        pytest.raises(opcore.DTypeError, match="cannot run on backend 'toy'"),
    ):
        sess.run(out, {p: np.ones(2, np.float16)})


def test_conformance_uses_the_same_dtype_rule_as_dispatch(toy_half_kernels: str) -> None:
    from opcore_conformance.runner import Item, _unsupported_reason

    reg = opcore.get_registry()
    item = Item("Greater", toy_half_kernels, {"T": "float16"}, True, None, True, None)
    assert "float16" in _unsupported_reason(reg.ops["Greater"], item)
    ok = Item("Greater", toy_half_kernels, {"T": "float32"}, True, None, True, None)
    assert _unsupported_reason(reg.ops["Greater"], ok) == ""


def test_an_output_larger_than_the_device_is_a_typed_error_before_the_kernel_runs() -> None:
    for make in (lambda: opcore.zeros([2**40]), lambda: opcore.random_normal([2**20, 2**20], seed=1)):
        with pytest.raises(opcore.ResourceExhaustedError, match=r"needs 4\.0 TiB, more than .* on backend 'numpy'"):
            make()
    g = opcore.Graph()
    with g.as_default():
        x = opcore.placeholder(opcore.float32, [None, 1])
        out = opcore.matmul(x, x, transpose_b=True)
    with opcore.Session(g) as sess:
        with pytest.raises(MemoryError, match=r"MatMul: output 0 of shape \(1048576, 1048576\) float32 needs 4\.0 TiB"):
            sess.run(out, {x: np.ones((2**20, 1), np.float32)})
        assert sess.run(out, {x: np.ones((2, 1), np.float32)}).shape == (2, 2)  # the session still works


class _Exhausted:
    """A toy kernel that runs out of memory, as an array library reports it."""

    @hookimpl
    def opcore_register_kernels(self, registry: Registry) -> None:
        def neg(ctx: KernelContext, x: Any) -> Any:
            raise MemoryError("cannot allocate 96 bytes")

        registry.register_kernel("Neg", "toy", neg, "float32")


def test_out_of_memory_in_a_kernel_becomes_resource_exhausted_naming_the_op(toy: str) -> None:
    if opcore.get_registry().kernel("Neg", "toy", (opcore.float32,)) is None:
        rec = opcore.register_plugin(_Exhausted(), name="toy-exhausted")
        assert rec.status == "loaded", rec.error
    with opcore.use_backend(toy):
        x = opcore.constant(np.ones((4, 6), np.float32))
        with pytest.raises(
            opcore.ResourceExhaustedError,
            match=r"Neg: out of memory on backend 'toy' \(outputs \(4, 6\) float32: 96 bytes\)",
        ) as err:
            opcore.negative(x)
    assert isinstance(err.value.__cause__, MemoryError)


def test_random_ops_draw_in_the_target_dtype() -> None:
    import tracemalloc

    opcore.random_normal([8], seed=1)  # plans and kernels loaded before measuring
    for op in (opcore.random_normal, opcore.random_uniform, opcore.truncated_normal):
        tracemalloc.start()
        x = op([500, 500], dtype="float32", seed=2)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert x.dtype is opcore.float32
        # float32 result 1 MB: a float64 draw alone would take 2 MB more.
        assert peak < 2.9e6, (op.__name__, peak)
