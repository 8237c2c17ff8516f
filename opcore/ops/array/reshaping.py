"""Built-in ops, array family: reshaping and joining (Reshape, Transpose, ExpandDims, Squeeze, ConcatV2,
SplitLike, Pack, Unpack, Split).

These ops move elements without changing them: they accept every dtype. The
gradients of the joining and splitting ops are each other (ConcatV2 and
SplitLike, Pack and Unpack, Split and ConcatV2); SplitLike takes the forward
inputs as ``like`` tensors, so it works when shapes are only known at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opcore import dtypes as dt
from opcore.ops._broadcast import reshape_like
from opcore.registry import GradContext, define_op
from opcore.shapes import Dim, Shape, ShapeContext, concat_shape, normalize_axis

__all__ = ["concat", "expand_dims", "reshape", "split", "split_like", "squeeze", "stack", "transpose", "unstack"]


def _flat(dys: Sequence[Any]) -> list[Any]:
    """Gradient arguments of a variadic output, as one flat list (None where no gradient arrived)."""
    out: list[Any] = []
    for d in dys:
        if isinstance(d, (list, tuple)):
            out.extend(d)
        else:
            out.append(d)
    return out


def _as_list(result: Any) -> list[Any]:
    return list(result) if isinstance(result, (list, tuple)) else [result]


def _fill_missing(dys: Sequence[Any], outputs: Sequence[Any]) -> list[Any]:
    """Replace missing output gradients by zeros shaped like the output."""
    from opcore.ops.array.filling import zeros_like  # registered after this module's ops, as before

    return [zeros_like(y) if d is None else d for d, y in zip(_flat(dys), outputs)]


# --------------------------------------------------------------------------- Reshape


def _reshape_shape(ctx: ShapeContext) -> Shape:
    x = ctx.input("x")
    target = ctx.attr("shape")
    if sum(1 for d in target if d == -1) > 1:
        raise ctx.error(f"shape {list(target)} has more than one -1; at most one dimension can be inferred")
    if any(d < -1 for d in target):
        raise ctx.error(f"shape {list(target)} has a negative dimension other than -1")
    known = 1
    for d in target:
        if d != -1:
            known *= d
    n = x.num_elements()
    if -1 not in target:
        if n is not None and n != known:
            raise ctx.error(
                f"cannot reshape x with shape {x} ({n} elements) to shape {list(target)} ({known} elements)"
            )
        return Shape(target)
    if n is None:
        return Shape(None if d == -1 else d for d in target)
    if known == 0 or n % known:
        raise ctx.error(
            f"cannot reshape x with shape {x} ({n} elements) to shape {list(target)}: "
            f"{n} elements are not a multiple of the {known} given by the other dimensions"
        )
    return Shape(n // known if d == -1 else d for d in target)


def _reshape_back_grad(ctx: GradContext, dy: Any) -> list[Any]:
    """The gradient of an op that only changes the shape (Reshape, ExpandDims, Squeeze): ``dy`` in ``x``'s shape."""
    return [reshape_like(dy, ctx.inputs[0])]


reshape = define_op(
    "Reshape",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.ALL},
    attrs=["shape: list(int)"],
    shape_fn=_reshape_shape,
    gradient=_reshape_back_grad,
    doc="Reshape ``x`` to ``shape``; one entry may be -1 (inferred from the element count).",
)


# --------------------------------------------------------------------------- Transpose


def _check_perm(ctx: ShapeContext, perm: Sequence[int], rank: int) -> tuple[int, ...]:
    if len(perm) != rank:
        raise ctx.error(f"perm {list(perm)} has {len(perm)} entries for x of rank {rank}")
    norm = tuple(normalize_axis(ctx, p, rank, "perm entry") for p in perm)
    if sorted(norm) != list(range(rank)):
        raise ctx.error(f"perm {list(perm)} is not a permutation of the axes 0..{rank - 1}")
    return norm


def _transpose_shape(ctx: ShapeContext) -> Shape:
    x = ctx.input("x")
    perm = ctx.attr("perm")
    if x.dims is None:
        return Shape(None) if perm is None else Shape([None] * len(perm))
    if perm is None:
        return Shape(reversed(x.dims))
    norm = _check_perm(ctx, perm, len(x.dims))
    return Shape(x.dims[p] for p in norm)


def _transpose_grad(ctx: GradContext, dy: Any) -> list[Any]:
    perm = ctx.attrs["perm"]
    if perm is None:
        return [transpose(dy)]
    rank = len(perm)
    inverse = [0] * rank
    for i, p in enumerate(perm):
        inverse[p % rank] = i
    return [transpose(dy, perm=inverse)]


transpose = define_op(
    "Transpose",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.ALL},
    attrs=["perm: list(int)? = None"],
    shape_fn=_transpose_shape,
    gradient=_transpose_grad,
    doc="Permute the axes of ``x`` (``perm=None`` reverses them).",
)


# --------------------------------------------------------------------------- ExpandDims / Squeeze


def _expand_dims_shape(ctx: ShapeContext) -> Shape:
    x = ctx.input("x")
    if x.dims is None:
        return Shape(None)
    rank = len(x.dims) + 1
    ax = normalize_axis(ctx, ctx.attr("axis"), rank)
    dims = list(x.dims)
    dims.insert(ax, 1)
    return Shape(dims)


expand_dims = define_op(
    "ExpandDims",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.ALL},
    attrs=["axis: int"],
    shape_fn=_expand_dims_shape,
    gradient=_reshape_back_grad,
    doc="Insert a dimension of size 1 at ``axis`` (``-rank-1 <= axis <= rank``).",
)


def _squeeze_shape(ctx: ShapeContext) -> Shape:
    x = ctx.input("x")
    axis = ctx.attr("axis")
    if x.dims is None:
        return Shape(None)
    rank = len(x.dims)
    if axis is None:
        if any(d is None for d in x.dims):
            return Shape(None)  # which dims are 1 is only known at run time
        return Shape(d for d in x.dims if d != 1)
    axes = {normalize_axis(ctx, a, rank) for a in axis}
    for a in sorted(axes):
        if x.dims[a] is not None and x.dims[a] != 1:
            raise ctx.error(f"cannot squeeze axis {a} of x with shape {x}: its size is {x.dims[a]}, not 1")
    return Shape(d for i, d in enumerate(x.dims) if i not in axes)


squeeze = define_op(
    "Squeeze",
    inputs=["x: T"],
    outputs=["y: T"],
    type_vars={"T": dt.ALL},
    attrs=["axis: list(int)? = None"],
    shape_fn=_squeeze_shape,
    gradient=_reshape_back_grad,
    doc="Remove dimensions of size 1 (all of them, or those named in ``axis``, which must be 1).",
)


# --------------------------------------------------------------------------- ConcatV2 / SplitLike


def _concat_shape(ctx: ShapeContext) -> Shape:
    values = ctx.inputs("values")
    if not values:
        raise ctx.error("needs at least one tensor in values")
    return concat_shape(ctx, values, ctx.attr("axis"))


def _concat_grad(ctx: GradContext, dy: Any) -> list[Any]:
    values = list(ctx.inputs[0])
    parts = _as_list(split_like(dy, values, axis=ctx.attrs["axis"], num=len(values)))
    return [parts]


concat = define_op(
    "ConcatV2",
    inputs=["values: N * T"],
    outputs=["output: T"],
    type_vars={"T": dt.ALL},
    attrs=["axis: int"],
    shape_fn=_concat_shape,
    gradient=_concat_grad,
    doc="Join ``values`` along an existing ``axis``; the other dimensions must agree.",
    function_name="concat",
)


def _split_like_shape(ctx: ShapeContext) -> list[Shape]:
    x = ctx.input("x")
    likes = ctx.inputs("like")
    num = ctx.attr("num")
    if len(likes) != num:
        raise ctx.error(f"num={num} but like holds {len(likes)} tensors")
    total = concat_shape(ctx, likes, ctx.attr("axis"), names="like")
    if x.dims is not None and total.dims is not None and not x.is_compatible_with(total):
        raise ctx.error(f"x with shape {x} is not the concatenation {total} of the like tensors")
    ref = x.merge_with(total) if x.dims is not None else total
    out: list[Shape] = []
    for s in likes:
        if ref.dims is None or s.dims is None:
            out.append(s if s.dims is not None else Shape(None))
            continue
        ax = normalize_axis(ctx, ctx.attr("axis"), len(ref.dims))
        out.append(Shape(s.dims[ax] if i == ax else d for i, d in enumerate(ref.dims)))
    return out


def _split_like_grad(ctx: GradContext, *dys: Any) -> list[Any]:
    parts = _fill_missing(dys, ctx.outputs)
    return [concat(parts, axis=ctx.attrs["axis"]), [None] * len(ctx.inputs[1])]


split_like = define_op(
    "SplitLike",
    inputs=["x: T", "like: N * U"],
    outputs=["output: num * T"],
    type_vars={"T": dt.ALL, "U": dt.ALL},
    attrs=["axis: int", "num: int >= 1"],
    shape_fn=_split_like_shape,
    gradient=_split_like_grad,
    doc="Split ``x`` along ``axis`` into pieces as long as each ``like`` tensor (ConcatV2's gradient).",
)


# --------------------------------------------------------------------------- Pack / Unpack


def _pack_shape(ctx: ShapeContext) -> Shape:
    values = ctx.inputs("values")
    if not values:
        raise ctx.error("needs at least one tensor in values")
    merged = Shape(None)
    for i, s in enumerate(values):
        if not merged.is_compatible_with(s):
            raise ctx.error(f"values[{i}] has shape {s}, which differs from {merged}; all values need one shape")
        merged = merged.merge_with(s)
    if merged.dims is None:
        return Shape(None)
    ax = normalize_axis(ctx, ctx.attr("axis"), len(merged.dims) + 1)
    dims: list[Dim] = list(merged.dims)
    dims.insert(ax, len(values))
    return Shape(dims)


def _pack_grad(ctx: GradContext, dy: Any) -> list[Any]:
    n = len(ctx.inputs[0])
    return [_as_list(unstack(dy, num=n, axis=ctx.attrs["axis"]))]


stack = define_op(
    "Pack",
    inputs=["values: N * T"],
    outputs=["output: T"],
    type_vars={"T": dt.ALL},
    attrs=["axis: int = 0"],
    shape_fn=_pack_shape,
    gradient=_pack_grad,
    doc="Stack equally shaped ``values`` along a new ``axis``.",
    function_name="stack",
)


def _unpack_shape(ctx: ShapeContext) -> list[Shape]:
    x = ctx.input("x")
    num = ctx.attr("num")
    if x.dims is None:
        return [Shape(None)] * num
    ax = normalize_axis(ctx, ctx.attr("axis"), len(x.dims))
    if x.dims[ax] is not None and x.dims[ax] != num:
        raise ctx.error(f"x with shape {x} has {x.dims[ax]} entries along axis {ax}, not num={num}")
    return [Shape(d for i, d in enumerate(x.dims) if i != ax)] * num


def _unpack_grad(ctx: GradContext, *dys: Any) -> list[Any]:
    return [stack(_fill_missing(dys, ctx.outputs), axis=ctx.attrs["axis"])]


unstack = define_op(
    "Unpack",
    inputs=["x: T"],
    outputs=["output: num * T"],
    type_vars={"T": dt.ALL},
    attrs=["num: int >= 1", "axis: int = 0"],
    shape_fn=_unpack_shape,
    gradient=_unpack_grad,
    doc="Unstack ``x`` along ``axis`` into ``num`` tensors (Pack's inverse and gradient).",
    function_name="unstack",
)


# --------------------------------------------------------------------------- Split


def _split_shape(ctx: ShapeContext) -> list[Shape]:
    x = ctx.input("x")
    n = ctx.attr("num_split")
    if x.dims is None:
        return [Shape(None)] * n
    ax = normalize_axis(ctx, ctx.attr("axis"), len(x.dims))
    d = x.dims[ax]
    if d is not None and d % n:
        raise ctx.error(f"x with shape {x} has {d} entries along axis {ax}, not divisible by num_split={n}")
    part = None if d is None else d // n
    return [Shape(part if i == ax else s for i, s in enumerate(x.dims))] * n


def _split_grad(ctx: GradContext, *dys: Any) -> list[Any]:
    return [concat(_fill_missing(dys, ctx.outputs), axis=ctx.attrs["axis"])]


split = define_op(
    "Split",
    inputs=["x: T"],
    outputs=["output: num_split * T"],
    type_vars={"T": dt.ALL},
    attrs=["num_split: int >= 1", "axis: int = 0"],
    shape_fn=_split_shape,
    gradient=_split_grad,
    doc="Split ``x`` along ``axis`` into ``num_split`` equal pieces.",
)
