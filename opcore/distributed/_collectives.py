"""The collective functions: allreduce, allgather, broadcast on tensors, eagerly or in a graph."""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from typing import Any

from opcore import _context
from opcore.distributed import _world
from opcore.distributed._errors import DistributedError
from opcore.distributed._ops import (
    allgather_op,
    allreduce_op,
    broadcast_op,
    grouped_allreduce_op,
    grouped_broadcast_op,
)
from opcore.graph import Graph, GraphVariable, SymbolicTensor, global_variables, group
from opcore.tensor import Tensor, Variable, convert_to_tensor

__all__ = [
    "Average",
    "Max",
    "Min",
    "Product",
    "Sum",
    "allgather",
    "allreduce",
    "barrier",
    "broadcast",
    "broadcast_global_variables",
    "broadcast_variables",
    "check_reduction",
    "grouped_allreduce",
    "grouped_broadcast",
    "mark_reduced",
    "was_reduced",
]

#: Reductions (Horovod's ``hvd.Average``, ``hvd.Sum``, ...): pass as ``op=``.
Average = "average"
Sum = "sum"
Min = "min"
Max = "max"
Product = "product"

_TENSORS = (Tensor, Variable, SymbolicTensor, GraphVariable)


def check_reduction(op: Any, what: str, allowed: Sequence[str] = _world.REDUCTIONS) -> str:
    if not isinstance(op, str) or op.lower() not in allowed:
        raise DistributedError(
            f"{what}: op must be one of {', '.join(allowed)} (opcore.distributed.Average, ...), got {op!r}"
        )
    return op.lower()


def _as_tensor(value: Any) -> Any:
    if isinstance(value, _TENSORS):
        return value
    graph = _context.building_graph()
    if graph is not None:
        return graph.constant(value)
    return convert_to_tensor(value)


def _by_dtype(tensors: Sequence[Any]) -> list[list[int]]:
    """Indices of ``tensors`` grouped by dtype, groups in order of first appearance (the same on every rank)."""
    groups: dict[Any, list[int]] = {}
    for i, t in enumerate(tensors):
        groups.setdefault(t.dtype, []).append(i)
    return list(groups.values())


# --------------------------------------------------------------------------- which tensors were reduced

# Eager results by id, each with a weak reference that tells whether it is still that tensor (an
# id is reused once its object is gone); dead entries are pruned when the table has doubled. A
# plain dict of weak references costs a fifth of a WeakValueDictionary's insertion, whose entries
# remove themselves through a callback.
_reduced_eager: dict[int, weakref.ref[Tensor]] = {}
_prune_above = 1024
_reduced_graph: weakref.WeakKeyDictionary[Graph, set[int]] = weakref.WeakKeyDictionary()


def _mark_eager(t: Tensor) -> None:
    global _prune_above
    _reduced_eager[id(t)] = weakref.ref(t)
    if len(_reduced_eager) > _prune_above:
        for key, ref in list(_reduced_eager.items()):
            if ref() is None and _reduced_eager.get(key) is ref:
                del _reduced_eager[key]
        _prune_above = max(1024, 2 * len(_reduced_eager))


def mark_reduced(tensors: Iterable[Any]) -> None:
    """Remember ``tensors`` as results of an allreduce (DistributedOptimizer does not reduce them again)."""
    for t in tensors:
        if isinstance(t, Tensor):
            _mark_eager(t)
        elif isinstance(t, SymbolicTensor):
            _reduced_graph.setdefault(t.graph, set()).add(id(t))


def was_reduced(t: Any) -> bool:
    """Whether ``t`` came out of :func:`grouped_allreduce` (directly, or decompressed by the optimizer)."""
    if isinstance(t, Tensor):
        ref = _reduced_eager.get(id(t))
        return ref is not None and ref() is t
    if isinstance(t, SymbolicTensor):
        return id(t) in _reduced_graph.get(t.graph, ())
    return False


# --------------------------------------------------------------------------- collectives


def _reduction_of(op: Any, average: bool | None, what: str) -> str:
    """``op``, or Horovod's older ``average=True/False`` spelling of it."""
    if average is None:
        return check_reduction(op, what)
    if op not in (None, Average):
        raise DistributedError(f"{what}: give op= or average=, not both")
    return Average if average else Sum


def _scaled(t: Any, factor: float) -> Any:
    return t if factor == 1.0 else t * factor


def grouped_allreduce(
    tensors: Sequence[Any],
    op: str = Average,
    name: str | None = None,
    *,
    average: bool | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
) -> list[Any]:
    """Reduce each tensor over the ranks, in as few collectives as the fusion threshold allows.

    Tensors of one dtype travel together in fused buffers; ``op`` is
    :data:`Average` (floating tensors), :data:`Sum`, :data:`Min`, :data:`Max`
    or :data:`Product` (``average=True/False``, Horovod's older spelling, means
    Average/Sum). Each tensor is multiplied by ``prescale_factor`` before the
    reduction and its result by ``postscale_factor`` after it. Eagerly the results
    are tensors; in a graph, graph tensors that a session computes.
    """
    _world.initialized_world("opcore.distributed.grouped_allreduce()")
    reduction = _reduction_of(op, average, "grouped_allreduce")
    items = [_scaled(_as_tensor(t), prescale_factor) for t in tensors]
    out: list[Any] = [None] * len(items)
    for idx in _by_dtype(items):
        if len(idx) == 1:
            out[idx[0]] = allreduce_op(items[idx[0]], reduction=reduction, name=name or "Allreduce")
            continue
        group = [items[i] for i in idx]
        results = grouped_allreduce_op(group, num=len(idx), reduction=reduction, name=name or "GroupedAllreduce")
        for i, r in zip(idx, results if isinstance(results, (list, tuple)) else [results]):
            out[i] = r
    out = [_scaled(r, postscale_factor) for r in out]
    mark_reduced(out)
    return out


def allreduce(
    tensor: Any,
    op: str = Average,
    name: str | None = None,
    *,
    average: bool | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
) -> Any:
    """``tensor`` reduced over every rank (Horovod's ``hvd.allreduce``; the average by default).

    ``op`` and the keywords are :func:`grouped_allreduce`'s. On two ranks::

        hvd.allreduce(opcore.constant([float(hvd.rank())])).numpy()          # [0.5] on both
        hvd.allreduce(opcore.constant([hvd.rank() + 1]), op=hvd.Sum).numpy()  # [3] on both
    """
    _world.initialized_world("opcore.distributed.allreduce()")
    reduction = _reduction_of(op, average, "allreduce")
    if type(tensor) is Tensor and prescale_factor == 1.0 and postscale_factor == 1.0:  # the common call
        out = allreduce_op(tensor, reduction=reduction, name=name or "Allreduce")
        if type(out) is Tensor:
            _mark_eager(out)
            return out
    else:
        x = _scaled(_as_tensor(tensor), prescale_factor)
        out = _scaled(allreduce_op(x, reduction=reduction, name=name or "Allreduce"), postscale_factor)
    mark_reduced([out])
    return out


def allgather(tensor: Any, name: str | None = None) -> Any:
    """Every rank's ``tensor`` joined along the first axis, in rank order.

    Eagerly the ranks may give different first dimensions (the other dimensions
    and the dtype must agree); in a graph they must all give the same.
    """
    world = _world.initialized_world("opcore.distributed.allgather()")
    t = _as_tensor(tensor)
    if t.shape.rank == 0:
        raise DistributedError(
            "allgather joins tensors along their first axis; give a tensor of rank >= 1, not a scalar"
        )
    counts: list[int] | None = None
    if _context.executing_eagerly() and isinstance(t, (Tensor, Variable)) and world.size > 1:
        shape = t.shape.as_tuple()
        what = f"allgather of a {t.dtype.name} tensor of shape {shape}"
        meta = world.exchange([shape[0], _world._signature("allgather", None, t.dtype.np, [shape[1:]])], what)
        if len(set(meta[:, 1].tolist())) > 1:
            raise DistributedError(
                f"{what}: the ranks' tensors differ in dtype or in a dimension after the first; only the first "
                "dimension may differ"
            )
        counts = [int(c) for c in meta[:, 0]]
    result = allgather_op(t, size=world.size, counts=counts, name=name or "Allgather")
    return result


def grouped_broadcast(tensors: Sequence[Any], root_rank: int = 0, name: str | None = None) -> list[Any]:
    """Rank ``root_rank``'s tensors on every rank, in as few collectives as the fusion threshold allows."""
    world = _world.initialized_world("opcore.distributed.broadcast()")
    world.check_root(root_rank, "broadcast")
    items = [_as_tensor(t) for t in tensors]
    out: list[Any] = [None] * len(items)
    root = int(root_rank)
    for idx in _by_dtype(items):
        if len(idx) == 1:
            out[idx[0]] = broadcast_op(items[idx[0]], root_rank=root, name=name or "Broadcast")
            continue
        group = [items[i] for i in idx]
        results = grouped_broadcast_op(group, num=len(idx), root_rank=root, name=name or "GroupedBroadcast")
        for i, r in zip(idx, results if isinstance(results, (list, tuple)) else [results]):
            out[i] = r
    return out


def broadcast(tensor: Any, root_rank: int = 0, name: str | None = None) -> Any:
    """Rank ``root_rank``'s ``tensor``, on every rank (each rank gives a tensor of the same shape and dtype)."""
    return grouped_broadcast([tensor], root_rank, name)[0]


def broadcast_variables(variables: Iterable[Any], root_rank: int = 0) -> Any:
    """Set every rank's ``variables`` to rank ``root_rank``'s values.

    Eagerly the variables change at once and None is returned; in a graph the
    result is one node that assigns them all (run it after the initializer).
    Variables of one dtype travel in fused buffers.
    """
    _world.initialized_world("opcore.distributed.broadcast_variables()")
    vars_ = list(variables)
    if not vars_:
        return None if _context.executing_eagerly() else group(name="broadcast_variables")
    for v in vars_:
        if not isinstance(v, (Variable, GraphVariable)):
            raise DistributedError(f"broadcast_variables takes opcore.Variable objects, got {type(v).__name__}")
    kinds = {type(v) is GraphVariable for v in vars_}
    if len(kinds) > 1:
        raise DistributedError("broadcast_variables: give either eager variables or variables of one graph, not both")
    if isinstance(vars_[0], GraphVariable):
        graph = vars_[0].graph
        if any(v.graph is not graph for v in vars_):
            raise DistributedError("broadcast_variables: the variables belong to different graphs")
        with graph.as_default():
            values = grouped_broadcast([v.value() for v in vars_], root_rank, name="BroadcastVariables")
            return group(*[v.assign(x) for v, x in zip(vars_, values)], name="broadcast_variables")
    values = grouped_broadcast(vars_, root_rank, name="BroadcastVariables")
    for v, x in zip(vars_, values):
        v.assign(x)
    return None


def broadcast_global_variables(root_rank: int = 0) -> Any:
    """The node that sets every global variable of the default graph to rank ``root_rank``'s value.

    Run it once after ``global_variables_initializer()`` (TensorFlow 1 with
    Horovod: ``hvd.broadcast_global_variables(0)``). Eager code has no global
    variables: use :func:`broadcast_variables` with the model's variables.
    """
    _world.initialized_world("opcore.distributed.broadcast_global_variables()")
    if _context.executing_eagerly():
        raise DistributedError(
            "broadcast_global_variables() builds a graph node; eagerly, call "
            "opcore.distributed.broadcast_variables(model.variables, root_rank) (and the optimizer's variables)"
        )
    return broadcast_variables(global_variables(), root_rank)


def barrier() -> None:
    """Wait until every rank gets here (a collective with the usual timeout)."""
    _world.initialized_world("opcore.distributed.barrier()").barrier()
