"""Ops that reshape a value to match another tensor's (runtime) shape.

Gradients of broadcasting ops must undo the broadcast, and in a graph the
batch dimension is often unknown until run time. These ops take the target
as a second input ("like"), so the kernel sees the real shape: TensorFlow's
``BroadcastGradientArgs`` dance becomes one op each way.
"""

from __future__ import annotations

from typing import Any

from opcore import dtypes as dt
from opcore.registry import GradContext, define_op
from opcore.shapes import Shape, ShapeContext

__all__ = ["broadcast_like", "reshape_like", "sum_to_like"]


def _like_shape(ctx: ShapeContext) -> Shape:
    return ctx.input("like")


def _sum_to_like_shape(ctx: ShapeContext) -> Shape:
    x, like = ctx.input("x"), ctx.input("like")
    if x.dims is not None and like.dims is not None and len(like.dims) > len(x.dims):
        raise ctx.error(f"cannot sum x with shape {x} down to the larger rank of like {like}")
    return like


def _sum_to_like_grad(ctx: GradContext, dy: Any) -> list[Any]:
    return [broadcast_like(dy, ctx.inputs[0]), None]


def _broadcast_like_shape(ctx: ShapeContext) -> Shape:
    x, like = ctx.input("x"), ctx.input("like")
    if x.dims is not None and like.dims is not None and len(x.dims) > len(like.dims):
        raise ctx.error(f"cannot broadcast x with shape {x} to the smaller rank of like {like}")
    return like


def _broadcast_like_grad(ctx: GradContext, dy: Any) -> list[Any]:
    return [sum_to_like(dy, ctx.inputs[0]), None]


def _reshape_like_shape(ctx: ShapeContext) -> Shape:
    x, like = ctx.input("x"), ctx.input("like")
    if x.num_elements() is not None and like.num_elements() is not None and x.num_elements() != like.num_elements():
        raise ctx.error(f"cannot reshape x with shape {x} ({x.num_elements()} elements) like {like}")
    return like


def _reshape_like_grad(ctx: GradContext, dy: Any) -> list[Any]:
    return [reshape_like(dy, ctx.inputs[0]), None]


sum_to_like = define_op(
    "SumToLike",
    inputs=["x: T", "like: U"],
    outputs=["y: T"],
    type_vars={"T": dt.NUMERIC, "U": dt.ALL},
    shape_fn=_sum_to_like_shape,
    gradient=_sum_to_like_grad,
    doc="Sum ``x`` over the axes that broadcasting added or stretched, to the shape of ``like``.",
)

broadcast_like = define_op(
    "BroadcastLike",
    inputs=["x: T", "like: U"],
    outputs=["y: T"],
    type_vars={"T": dt.ALL, "U": dt.ALL},
    shape_fn=_broadcast_like_shape,
    gradient=_broadcast_like_grad,
    doc="Broadcast ``x`` to the shape of ``like``.",
)

reshape_like = define_op(
    "ReshapeLike",
    inputs=["x: T", "like: U"],
    outputs=["y: T"],
    type_vars={"T": dt.ALL, "U": dt.ALL},
    shape_fn=_reshape_like_shape,
    gradient=_reshape_like_grad,
    doc="Reshape ``x`` to the shape of ``like`` (same number of elements).",
)
