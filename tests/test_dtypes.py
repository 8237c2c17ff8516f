from __future__ import annotations

import pytest

import opcore
from opcore import dtypes as dt


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        (dt.int8, dt.int16, dt.int16),
        (dt.int32, dt.int64, dt.int64),
        (dt.uint8, dt.int8, dt.int16),
        (dt.uint8, dt.int16, dt.int16),
        (dt.uint8, dt.int32, dt.int32),
        (dt.uint8, dt.int64, dt.int64),
        (dt.float16, dt.float32, dt.float32),
        (dt.float32, dt.float64, dt.float64),
        (dt.bool_, dt.bool_, dt.bool_),
        (dt.int32, dt.float16, dt.float16),
        (dt.bool_, dt.int8, dt.int8),
    ],
)
def test_promotion_table_is_symmetric_and_follows_the_array_api(a: dt.DType, b: dt.DType, want: dt.DType) -> None:
    assert dt.promote(a, b) is want
    assert dt.promote(b, a) is want


def test_python_scalars_are_weak() -> None:
    assert dt.result_type(dt.float16, 2.0) is dt.float16
    assert dt.result_type(dt.int8, 3) is dt.int8
    assert dt.result_type(dt.int8, 3.5) is dt.float32
    assert dt.result_type(1.0) is dt.float32
    assert dt.result_type(1) is dt.int32


def test_eager_ops_promote_before_the_kernel() -> None:
    x = opcore.constant([1, 2], dtype="int8")
    y = opcore.constant([1, 2], dtype="uint8")
    assert (x + y).dtype is opcore.int16
    assert (opcore.constant([1.0], dtype="float16") * 2.0).dtype is opcore.float16
    assert (opcore.constant([1, 2]) / 2).dtype is opcore.float32


def test_unknown_dtype_names_the_choices() -> None:
    with pytest.raises(opcore.DTypeError, match="float32"):
        dt.as_dtype("float8")
    with pytest.raises(opcore.DTypeError, match="complex128"):
        dt.as_dtype("complex128")
