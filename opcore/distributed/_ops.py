"""The collective ops: ``distributed.Allreduce``, ``distributed.Allgather``, ``distributed.Broadcast``,
and ``distributed.GroupedAllreduce`` and ``distributed.GroupedBroadcast`` for several tensors at once.

They are ops like any other (signature, shape function, gradient), so they run
eagerly, in graphs that a session runs, under a gradient tape and in saved
graphs; their kernels (:mod:`._kernels`) hand the tensors to the process's
world. The grouped ops take several tensors of one dtype, so that a gradient
set travels in few fused collectives. Without :func:`opcore.distributed.init`
a process is a world of one, where every collective is a copy (this is what
the conformance suite checks).

Gradients: the gradient of an allreduce (sum or average) is the same allreduce
of the output gradients; of an allgather, this rank's rows of the summed
output gradient; of a broadcast, the summed output gradient on the root rank
and zero elsewhere. Every rank runs these collectives, so differentiating
through a collective is itself collective.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opcore import dtypes as dt
from opcore.distributed._world import REDUCTIONS, current_world
from opcore.errors import DTypeError, GradientError
from opcore.opdef import GradContext
from opcore.ops.array import split_like
from opcore.registry import define_op
from opcore.shapes import Shape, ShapeContext, unchanged

__all__ = ["allgather_op", "allreduce_op", "broadcast_op", "grouped_allreduce_op", "grouped_broadcast_op"]


def _as_list(result: Any) -> list[Any]:
    return list(result) if isinstance(result, (list, tuple)) else [result]


def _flat(dys: Sequence[Any]) -> list[Any]:
    """The output gradients of a variadic output, as one flat list (None where none arrived)."""
    out: list[Any] = []
    for d in dys:
        out.extend(d if isinstance(d, (list, tuple)) else [d])
    return out


def _check_average(ctx: ShapeContext) -> None:
    t = ctx.dtypes.get("T")
    if ctx.attr("reduction") == "average" and t is not None and not t.is_floating:
        raise DTypeError(
            f"{ctx.op}: reduction 'average' needs floating tensors, got {t.name}; use reduction 'sum' "
            "(and divide by the world's size yourself) or cast to a float dtype"
        )


def _grouped_shape(ctx: ShapeContext) -> list[Shape]:
    shapes = ctx.inputs("tensors")
    if len(shapes) != ctx.attr("num"):
        raise ctx.error(f"num={ctx.attr('num')} but tensors holds {len(shapes)} tensors")
    return list(shapes)


def _allreduce_shape(ctx: ShapeContext) -> Shape:
    _check_average(ctx)
    return ctx.input("x")


def _grouped_allreduce_shape(ctx: ShapeContext) -> list[Shape]:
    _check_average(ctx)
    return _grouped_shape(ctx)


def _linear(ctx: GradContext) -> str:
    reduction: str = ctx.attrs["reduction"]
    if reduction not in ("sum", "average"):
        raise GradientError(
            f"{ctx.op.name} with reduction {reduction!r} has no gradient; only 'sum' and 'average' are differentiable"
        )
    return reduction


def _allreduce_grad(ctx: GradContext, dy: Any) -> list[Any]:
    if dy is None or not ctx.needs_grad(0):
        return [None]
    return [allreduce_op(dy, reduction=_linear(ctx))]


def _reduce_live(dys: Sequence[Any], reduction: str) -> list[Any]:
    """``dys`` reduced, None where None (every rank has the same Nones: they come from the same graph)."""
    out: list[Any] = [None] * len(dys)
    live = [i for i, d in enumerate(dys) if d is not None]
    if len(live) == 1:
        out[live[0]] = allreduce_op(dys[live[0]], reduction=reduction)
    elif live:
        reduced = _as_list(grouped_allreduce_op([dys[i] for i in live], num=len(live), reduction=reduction))
        for i, r in zip(live, reduced):
            out[i] = r
    return out


def _grouped_allreduce_grad(ctx: GradContext, *grads: Any) -> list[Any]:
    dys = _flat(grads)
    if not ctx.needs_grad(0):
        return [[None] * len(dys)]
    return [_reduce_live(dys, _linear(ctx))]


_REDUCTION_ATTR = "reduction: {" + ", ".join(repr(r) for r in REDUCTIONS) + "} = 'sum'"
_REDUCTION_DOC = (
    "``reduction`` is 'sum', 'average' (floating dtypes), 'min', 'max' or 'product'; float16 is summed in float32."
)

allreduce_op = define_op(
    "distributed.Allreduce",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.NUMERIC},
    attrs=[_REDUCTION_ATTR],
    shape_fn=_allreduce_shape,
    gradient=_allreduce_grad,
    stateful=True,
    doc=f"Reduce ``x`` elementwise over every rank of the world; every rank gets the result. {_REDUCTION_DOC}",
)

grouped_allreduce_op = define_op(
    "distributed.GroupedAllreduce",
    inputs=["tensors: N * T"],
    outputs=["reduced: num * T"],
    type_vars={"T": dt.NUMERIC},
    attrs=["num: int >= 1", _REDUCTION_ATTR],
    shape_fn=_grouped_allreduce_shape,
    gradient=_grouped_allreduce_grad,
    stateful=True,
    doc=(
        "Reduce each of ``tensors`` over every rank, packed in fused buffers of at most "
        f"``opcore.distributed.config.fusion_threshold`` bytes (one collective per buffer). {_REDUCTION_DOC}"
    ),
)


def _allgather_shape(ctx: ShapeContext) -> Shape:
    x = ctx.input("tensor")
    size = ctx.attr("size")
    counts = ctx.attr("counts")
    if x.rank == 0:
        raise ctx.error("allgather joins tensors along their first axis; a scalar has none (reshape it to [1])")
    if counts is not None:
        if len(counts) != size:
            raise ctx.error(f"counts {list(counts)} must give one first dimension per rank of the world of {size}")
        if any(c < 0 for c in counts):
            raise ctx.error(f"counts {list(counts)} must not be negative")
    if x.dims is None:
        return Shape(None)
    if counts is not None:
        first: int | None = sum(counts)
    else:
        first = None if x.dims[0] is None else size * x.dims[0]
    return Shape((first, *x.dims[1:]))


def _allgather_grad(ctx: GradContext, dy: Any) -> list[Any]:
    if dy is None or not ctx.needs_grad(0):
        return [None]
    x = ctx.inputs[0]
    rank, size = current_world().rank, ctx.attrs["size"]
    summed = allreduce_op(dy, reduction="sum")
    counts: Sequence[int] | None = ctx.attrs["counts"]
    if counts is not None:
        start = sum(counts[:rank])
        return [summed[start : start + counts[rank]]]
    rows = x.shape[0]
    if rows is not None:
        return [summed[rank * rows : (rank + 1) * rows]]
    return [_as_list(split_like(summed, [x] * size, axis=0, num=size))[rank]]


allgather_op = define_op(
    "distributed.Allgather",
    inputs=["tensor: T"],
    outputs=["gathered: T"],
    type_vars={"T": dt.ALL},
    attrs=["size: int >= 1", "counts: list(int)?"],
    shape_fn=_allgather_shape,
    gradient=_allgather_grad,
    stateful=True,
    doc=(
        "Every rank's ``tensor`` joined along the first axis, in rank order. ``size`` is the world's size; "
        "``counts`` each rank's first dimension when they differ (without it, every rank must have the same)."
    ),
)


def _broadcast_grad(ctx: GradContext, dy: Any) -> list[Any]:
    if dy is None or not ctx.needs_grad(0):
        return [None]
    summed = allreduce_op(dy, reduction="sum")
    # Every rank takes part in the allreduce; only the root's input reached the outputs.
    return [summed if current_world().rank == ctx.attrs["root_rank"] else summed * 0]


def _grouped_broadcast_grad(ctx: GradContext, *grads: Any) -> list[Any]:
    dys = _flat(grads)
    if not ctx.needs_grad(0):
        return [[None] * len(dys)]
    on_root = current_world().rank == ctx.attrs["root_rank"]
    return [[s if s is None or on_root else s * 0 for s in _reduce_live(dys, "sum")]]


broadcast_op = define_op(
    "distributed.Broadcast",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.ALL},
    attrs=["root_rank: int >= 0"],
    shape_fn=unchanged("x"),
    gradient=_broadcast_grad,
    stateful=True,
    doc="Rank ``root_rank``'s ``x``, on every rank (each rank gives a tensor of the same dtype and shape).",
)

grouped_broadcast_op = define_op(
    "distributed.GroupedBroadcast",
    inputs=["tensors: N * T"],
    outputs=["broadcast: num * T"],
    type_vars={"T": dt.ALL},
    attrs=["num: int >= 1", "root_rank: int >= 0"],
    shape_fn=_grouped_shape,
    gradient=_grouped_broadcast_grad,
    stateful=True,
    doc="Rank ``root_rank``'s ``tensors``, on every rank, in fused buffers (like GroupedAllreduce).",
)
