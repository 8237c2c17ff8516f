"""The collective ops: ``distributed.Allreduce``, ``distributed.Allgather`` and ``distributed.Broadcast``.

They are ops like any other (signature, shape function, gradient), so they run
eagerly, in graphs that a session runs, under a gradient tape and in saved
graphs; their kernels (:mod:`._kernels`) hand the tensors to the process's
world. Allreduce and Broadcast take several tensors of one dtype, so that a
gradient set travels in few fused collectives. Without
:func:`opcore.distributed.init` a process is a world of one, where every
collective is a copy (this is what the conformance suite checks).

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
from opcore.shapes import Shape, ShapeContext

__all__ = ["allgather_op", "allreduce_op", "broadcast_op"]


def _as_list(result: Any) -> list[Any]:
    return list(result) if isinstance(result, (list, tuple)) else [result]


def _flat(dys: Sequence[Any]) -> list[Any]:
    """The output gradients of a variadic output, as one flat list (None where none arrived)."""
    out: list[Any] = []
    for d in dys:
        out.extend(d if isinstance(d, (list, tuple)) else [d])
    return out


def _variadic_shape(name: str) -> Any:
    def fn(ctx: ShapeContext) -> list[Shape]:
        shapes = ctx.inputs(name)
        if len(shapes) != ctx.attr("num"):
            raise ctx.error(f"num={ctx.attr('num')} but {name} holds {len(shapes)} tensors")
        return list(shapes)

    return fn


def _allreduce_shape(ctx: ShapeContext) -> list[Shape]:
    reduction = ctx.attr("reduction")
    t = ctx.dtypes.get("T")
    if reduction == "average" and t is not None and not t.is_floating:
        raise DTypeError(
            f"{ctx.op}: reduction 'average' needs floating tensors, got {t.name}; use reduction 'sum' "
            "(and divide by the world's size yourself) or cast to a float dtype"
        )
    out: list[Shape] = _variadic_shape("tensors")(ctx)
    return out


def _allreduce_grad(ctx: GradContext, *grads: Any) -> list[Any]:
    reduction = ctx.attrs["reduction"]
    dys = _flat(grads)
    n = len(dys)
    if not ctx.needs_grad(0):
        return [[None] * n]
    if reduction not in ("sum", "average"):
        raise GradientError(
            f"{ctx.op.name} with reduction {reduction!r} has no gradient; only 'sum' and 'average' are differentiable"
        )
    out: list[Any] = [None] * n
    live = [i for i, d in enumerate(dys) if d is not None]
    if live:
        reduced = _as_list(allreduce_op([dys[i] for i in live], num=len(live), reduction=reduction))
        for i, r in zip(live, reduced):
            out[i] = r
    return [out]


_REDUCTION_ATTR = "reduction: {" + ", ".join(repr(r) for r in REDUCTIONS) + "} = 'sum'"

allreduce_op = define_op(
    "distributed.Allreduce",
    inputs=["tensors: N * T"],
    outputs=["reduced: num * T"],
    type_vars={"T": dt.NUMERIC},
    attrs=["num: int >= 1", _REDUCTION_ATTR],
    shape_fn=_allreduce_shape,
    gradient=_allreduce_grad,
    stateful=True,
    doc=(
        "Reduce each of ``tensors`` elementwise over every rank of the world; every rank gets the results. "
        "``reduction`` is 'sum', 'average' (floating dtypes), 'min', 'max' or 'product'. The tensors travel "
        "in fused buffers (``opcore.distributed.config.fusion_threshold``); float16 is summed in float32."
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
    summed = _as_list(allreduce_op([dy], num=1, reduction="sum"))[0]
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


def _broadcast_grad(ctx: GradContext, *grads: Any) -> list[Any]:
    dys = _flat(grads)
    n = len(dys)
    out: list[Any] = [None] * n
    live = [i for i, d in enumerate(dys) if d is not None]
    if not ctx.needs_grad(0) or not live:
        return [out]
    summed = _as_list(allreduce_op([dys[i] for i in live], num=len(live), reduction="sum"))
    root = ctx.attrs["root_rank"]
    on_root = current_world().rank == root
    for i, s in zip(live, summed):
        # Every rank takes part in the allreduce; only the root's input reached the outputs.
        out[i] = s if on_root else s * 0
    return [out]


broadcast_op = define_op(
    "distributed.Broadcast",
    inputs=["tensors: N * T"],
    outputs=["broadcast: num * T"],
    type_vars={"T": dt.ALL},
    attrs=["num: int >= 1", "root_rank: int >= 0"],
    shape_fn=_variadic_shape("tensors"),
    gradient=_broadcast_grad,
    stateful=True,
    doc="Rank ``root_rank``'s ``tensors``, on every rank (each rank gives tensors of the same dtype and shapes).",
)
