"""Eager tensors: construction, operators, indexing, interop."""

from __future__ import annotations

import numpy as np
import pytest

import opcore


def test_construction_keeps_numpy_dtypes_and_defaults_python_data() -> None:
    assert opcore.constant(np.zeros(2, np.float64)).dtype is opcore.float64
    assert opcore.constant([1.0, 2.0]).dtype is opcore.float32
    assert opcore.constant([[1, 2]]).dtype is opcore.int32
    assert opcore.constant(True).dtype is opcore.bool_
    assert opcore.constant(2.0, shape=[2, 2]).numpy().tolist() == [[2.0, 2.0], [2.0, 2.0]]
    with pytest.raises(opcore.ShapeError, match="cannot shape 3 values"):
        opcore.constant([1, 2, 3], shape=[2, 2])


def test_operators_match_numpy() -> None:
    a_np = np.array([[1.0, -2.0], [3.5, 4.0]], np.float32)
    b_np = np.array([0.5, 2.0], np.float32)
    a, b = opcore.constant(a_np), opcore.constant(b_np)
    np.testing.assert_allclose((a + b).numpy(), a_np + b_np)
    np.testing.assert_allclose((a - b).numpy(), a_np - b_np)
    np.testing.assert_allclose((a * b).numpy(), a_np * b_np)
    np.testing.assert_allclose((a / b).numpy(), a_np / b_np)
    np.testing.assert_allclose((a // b).numpy(), a_np // b_np)
    np.testing.assert_allclose((a % b).numpy(), a_np % b_np)
    np.testing.assert_allclose((abs(a) ** 2).numpy(), np.abs(a_np) ** 2)
    np.testing.assert_allclose((a @ a).numpy(), a_np @ a_np)
    np.testing.assert_allclose((-a).numpy(), -a_np)
    np.testing.assert_allclose((2 - a).numpy(), 2 - a_np)
    np.testing.assert_array_equal((a > 1).numpy(), a_np > 1)
    np.testing.assert_array_equal((a == a).numpy(), np.ones((2, 2), bool))
    m = a > 0
    np.testing.assert_array_equal((m & ~m).numpy(), np.zeros((2, 2), bool))
    np.testing.assert_array_equal((m | ~m).numpy(), np.ones((2, 2), bool))


def test_numpy_arrays_on_the_left_defer_to_tensors() -> None:
    out = np.ones(2, np.float32) + opcore.constant([1.0, 2.0])
    assert isinstance(out, opcore.Tensor)
    assert out.numpy().tolist() == [2.0, 3.0]


def test_basic_indexing_matches_numpy() -> None:
    x_np = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x = opcore.constant(x_np)
    for key in [
        0,
        -1,
        (1, 2),
        (slice(None), 1),
        (Ellipsis, 2),
        (slice(None, None, -1),),
        (None, 0, slice(1, 3)),
        (slice(0, 2), slice(None, None, 2), -1),
    ]:
        np.testing.assert_array_equal(x[key].numpy(), x_np[key], err_msg=str(key))
    with pytest.raises(opcore.ShapeError, match="index 5"):
        x[5]


def test_numpy_interop_and_dlpack() -> None:
    x = opcore.constant([1.0, 2.0, 3.0])
    assert np.asarray(x).tolist() == [1.0, 2.0, 3.0]
    back = np.from_dlpack(x)
    assert back.tolist() == [1.0, 2.0, 3.0]
    y = opcore.from_dlpack(np.arange(3, dtype=np.int64))
    assert y.dtype is opcore.int64 and y.numpy().tolist() == [0, 1, 2]
    assert float(opcore.constant(2.5)) == 2.5 and int(opcore.constant(7)) == 7
    assert len(x) == 3 and [float(v) for v in x] == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="ambiguous"):
        bool(x)


def test_numpy_returns_a_copy() -> None:
    x = opcore.constant([1.0, 2.0])
    x.numpy()[0] = 99.0
    assert x.numpy().tolist() == [1.0, 2.0]


def test_variables_assign_and_check() -> None:
    v = opcore.Variable([1.0, 2.0], name="v")
    v.assign_add([1.0, 1.0])
    v.assign_sub(opcore.constant([0.5, 0.5]))
    assert v.numpy().tolist() == [1.5, 2.5]
    with pytest.raises(opcore.ShapeError, match="variable 'v'"):
        v.assign([1.0, 2.0, 3.0])
    assert (v * 2).numpy().tolist() == [3.0, 5.0]


def test_tensors_are_not_picklable() -> None:
    import pickle

    with pytest.raises(TypeError, match="safetensors"):
        pickle.dumps(opcore.constant([1.0]))
