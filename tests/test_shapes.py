from __future__ import annotations

import pytest

from opcore import shapes
from opcore.errors import ShapeError
from opcore.shapes import Shape, ShapeContext


def ctx(**inputs: Shape) -> ShapeContext:
    return ShapeContext("TestOp", inputs, {})


def test_broadcast_propagates_unknown_dims_and_rank() -> None:
    fn = shapes.broadcast("x", "y")
    assert fn(ctx(x=Shape([None, 3]), y=Shape([3]))) == Shape([None, 3])
    assert fn(ctx(x=Shape([None, 1]), y=Shape([4, 5]))) == Shape([4, 5])
    assert fn(ctx(x=Shape(None), y=Shape([3]))).rank is None


def test_broadcast_contradiction_names_op_inputs_and_shapes() -> None:
    with pytest.raises(ShapeError) as e:
        shapes.broadcast("x", "y")(ctx(x=Shape([2, 3]), y=Shape([4])))
    msg = str(e.value)
    assert "TestOp" in msg and "'x'" in msg and "'y'" in msg and "(2, 3)" in msg and "(4,)" in msg


def test_matmul_shape_with_transposes_and_batch() -> None:
    c = ctx()
    assert shapes.matmul_shape(c, Shape([5, 2, 3]), Shape([4, 3]), False, True) == Shape([5, 2, 4])
    assert shapes.matmul_shape(c, Shape([None, 3]), Shape([3, 7]), False, False) == Shape([None, 7])
    with pytest.raises(ShapeError, match="inner dimensions"):
        shapes.matmul_shape(c, Shape([2, 3]), Shape([4, 5]), False, False)


def test_conv_output_size() -> None:
    c = ctx()
    assert shapes.conv_output_size(c, 28, 5, 1, 1, "SAME") == 28
    assert shapes.conv_output_size(c, 28, 5, 2, 1, "VALID") == 12
    assert shapes.conv_output_size(c, None, 5, 2, 1, "VALID") is None
    with pytest.raises(ShapeError):
        shapes.conv_output_size(c, 2, 5, 1, 1, "VALID")


def test_concat_and_reduce_shapes() -> None:
    c = ctx()
    assert shapes.concat_shape(c, [Shape([2, 3]), Shape([None, 3])], 0) == Shape([None, 3])
    assert shapes.concat_shape(c, [Shape([2, 3]), Shape([4, 3])], 0) == Shape([6, 3])
    with pytest.raises(ShapeError, match="dimension 1"):
        shapes.concat_shape(c, [Shape([2, 3]), Shape([2, 4])], 0)
    assert shapes.reduce_shape(c, Shape([2, None, 4]), [1], True) == Shape([2, 1, 4])
    assert shapes.reduce_shape(c, Shape([2, 3]), None, False) == Shape([])


def test_bad_dims_are_rejected() -> None:
    with pytest.raises(ShapeError):
        Shape([2, -3])
    with pytest.raises(ShapeError):
        Shape(["a"])  # type: ignore[list-item]
