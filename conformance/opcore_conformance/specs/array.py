"""Conformance specs: array family (reshaping, joining, slicing, gathering, filling).

References are plain NumPy on float64 (integer and bool inputs in their own dtype).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from opcore_conformance.spec import BadValues, Case, Draw, Invalid, OpSpec, make_array


def _shape(draw: Draw, min_dims: int = 0, max_dims: int = 3, min_side: int = 0, max_side: int = 4) -> tuple[int, ...]:
    return tuple(draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)))


def _axis(draw: Draw, rank: int) -> int:
    """An axis of a rank-``rank`` tensor, possibly negative."""
    return int(draw(st.integers(-rank, rank - 1)))


BAD_ATTR = "OpDefinitionError"
#: The error of an index out of range, in values (every backend's kernel) or attributes (the shape function).
BAD_INDEX = "InvalidIndexError"

# --------------------------------------------------------------------------- Reshape / Transpose / ExpandDims / Squeeze


def _draw_reshape(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape = _shape(draw)
    size = int(np.prod(shape))
    options = [[size], [1, size], [size, 1], [-1], [1, -1]]
    if size:
        options.append([-1, 1, size] if size > 1 else [1, -1, 1])
        for d in range(2, size):
            if size % d == 0:
                options.extend([[d, size // d], [d, -1], [-1, d]])
    else:
        options.extend([[0, 3], [2, 0, 1]])
    return Case([shape], {"shape": draw(st.sampled_from(options))})


def _draw_transpose(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape = _shape(draw)
    perm = draw(st.none() | st.permutations(list(range(len(shape)))))
    return Case([shape], {"perm": perm if perm is None else list(perm)})


def _transpose_ref(x: np.ndarray, perm: Any) -> np.ndarray:
    if perm is None:
        perm = list(reversed(range(x.ndim)))
    out = np.empty(tuple(x.shape[p] for p in perm), dtype=x.dtype)
    for idx in np.ndindex(*x.shape):
        out[tuple(idx[p] for p in perm)] = x[idx]
    return out


def _draw_expand_dims(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape = _shape(draw)
    return Case([shape], {"axis": int(draw(st.integers(-len(shape) - 1, len(shape))))})


def _draw_squeeze(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape = list(_shape(draw, max_dims=2))
    for _ in range(draw(st.integers(0, 2))):
        shape.insert(draw(st.integers(0, len(shape))), 1)
    ones = [i for i, d in enumerate(shape) if d == 1]
    chosen = draw(st.none() | st.lists(st.sampled_from(ones), unique=True) if ones else st.none())
    if chosen is not None:
        chosen = [a - len(shape) if draw(st.booleans()) else a for a in chosen]
    return Case([tuple(shape)], {"axis": chosen})


def _squeeze_ref(x: np.ndarray, axis: Any) -> np.ndarray:
    if axis is None:
        return x.reshape([d for d in x.shape if d != 1])
    drop = {a % x.ndim for a in axis}
    return x.reshape([d for i, d in enumerate(x.shape) if i not in drop])


# --------------------------------------------------------------------------- ConcatV2 / SplitLike / Pack / Unpack / Split


def _draw_concat_shapes(draw: Draw) -> tuple[list[tuple[int, ...]], int]:
    base = list(_shape(draw, min_dims=1))
    axis = _axis(draw, len(base))
    n = draw(st.integers(1, 3))
    shapes = []
    for _ in range(n):
        s = list(base)
        s[axis] = draw(st.integers(0, 3))
        shapes.append(tuple(s))
    return shapes, axis


def _draw_concat(draw: Draw, binding: Mapping[str, str]) -> Case:
    shapes, axis = _draw_concat_shapes(draw)
    return Case([shapes], {"axis": axis})


def _draw_split_like(draw: Draw, binding: Mapping[str, str]) -> Case:
    shapes, axis = _draw_concat_shapes(draw)
    total = list(shapes[0])
    total[axis] = sum(s[axis] for s in shapes)
    return Case([tuple(total), shapes], {"axis": axis, "num": len(shapes)})


def _split_like_ref(x: np.ndarray, like: list[np.ndarray], axis: int, num: int) -> tuple[np.ndarray, ...]:
    out, start = [], 0
    for piece in like:
        n = piece.shape[axis]
        index: list[Any] = [slice(None)] * x.ndim
        index[axis] = slice(start, start + n)
        out.append(x[tuple(index)])
        start += n
    return tuple(out)


def _draw_pack(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape = _shape(draw)
    n = draw(st.integers(1, 3))
    return Case([[shape] * n], {"axis": int(draw(st.integers(-len(shape) - 1, len(shape))))})


def _pack_ref(values: list[np.ndarray], axis: int) -> np.ndarray:
    rank = values[0].ndim + 1
    ax = axis % rank
    expanded = [v.reshape((*v.shape[:ax], 1, *v.shape[ax:])) for v in values]
    return np.concatenate(expanded, axis=ax)


def _draw_unpack(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape = list(_shape(draw, min_dims=1, min_side=1))
    axis = _axis(draw, len(shape))
    return Case([tuple(shape)], {"num": shape[axis], "axis": axis})


def _unpack_ref(x: np.ndarray, num: int, axis: int) -> tuple[np.ndarray, ...]:
    moved = np.moveaxis(x, axis, 0)
    return tuple(moved[i] for i in range(num))


def _draw_split(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape = list(_shape(draw, min_dims=1, max_side=3))
    axis = _axis(draw, len(shape))
    num = draw(st.integers(1, 3))
    shape[axis] = num * draw(st.integers(0, 2))
    return Case([tuple(shape)], {"num_split": num, "axis": axis})


def _split_ref(x: np.ndarray, num_split: int, axis: int) -> tuple[np.ndarray, ...]:
    step = x.shape[axis] // num_split
    out = []
    for i in range(num_split):
        index: list[Any] = [slice(None)] * x.ndim
        index[axis] = slice(i * step, (i + 1) * step)
        out.append(x[tuple(index)])
    return tuple(out)


# --------------------------------------------------------------------------- StridedSlice / StridedSliceGrad / Slice

_MASKS = ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")


def _python_key(attrs: Mapping[str, Any]) -> tuple[Any, ...]:
    """Python's indexing key for strided-slice attributes (TensorFlow's semantics)."""
    key: list[Any] = []
    for i in range(len(attrs["begin"])):
        on = {m: bool(attrs[m] >> i & 1) for m in _MASKS}
        b, e, s = attrs["begin"][i], attrs["end"][i], attrs["strides"][i]
        if on["ellipsis_mask"]:
            key.append(...)
        elif on["new_axis_mask"]:
            key.append(np.newaxis)
        elif on["shrink_axis_mask"]:
            if on["begin_mask"]:
                b = 0 if s > 0 else -1
            key.append(b)
        else:
            key.append(slice(None if on["begin_mask"] else b, None if on["end_mask"] else e, s))
    return tuple(key)


def _draw_slice_attrs(draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
    rank = len(shape)
    n_consume = draw(st.integers(0, rank))
    kinds = ["axis"] * n_consume + ["new"] * draw(st.integers(0, 1))
    if draw(st.booleans()):
        kinds.append("ellipsis")
    kinds = list(draw(st.permutations(kinds)))
    ellipsis_at = kinds.index("ellipsis") if "ellipsis" in kinds else len(kinds)
    # Which input axis each consuming entry refers to (entries after the ellipsis count from the end).
    after = sum(1 for k in kinds[ellipsis_at + 1 :] if k == "axis")
    attrs: dict[str, Any] = {"begin": [], "end": [], "strides": [], **dict.fromkeys(_MASKS, 0)}
    axis = 0
    for i, kind in enumerate(kinds):
        bit = 1 << i
        b, e, s = 0, 0, 1
        if kind == "ellipsis":
            attrs["ellipsis_mask"] |= bit
            axis = rank - after
        elif kind == "new":
            attrs["new_axis_mask"] |= bit
        else:
            d = shape[axis]
            axis += 1
            if d > 0 and draw(st.integers(0, 3)) == 0:
                attrs["shrink_axis_mask"] |= bit
                b = draw(st.integers(-d, d - 1))
                e = b + 1
            else:
                b = draw(st.integers(-d - 2, d + 2))
                e = draw(st.integers(-d - 2, d + 2))
                s = draw(st.sampled_from([1, 1, 2, 3, -1, -1, -2]))
                if draw(st.booleans()):
                    attrs["begin_mask"] |= bit
                if draw(st.booleans()):
                    attrs["end_mask"] |= bit
        attrs["begin"].append(b)
        attrs["end"].append(e)
        attrs["strides"].append(s)
    return attrs


def _draw_strided_slice(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape = _shape(draw)
    return Case([shape], _draw_slice_attrs(draw, shape))


def _draw_strided_slice_grad(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape = _shape(draw)
    attrs = _draw_slice_attrs(draw, shape)
    dy_shape = np.empty(shape)[_python_key(attrs)].shape
    return Case([tuple(dy_shape), shape], attrs)


def _strided_slice_ref(x: np.ndarray, **attrs: Any) -> np.ndarray:
    return np.array(x[_python_key(attrs)])


def _strided_slice_grad_ref(dy: np.ndarray, like: np.ndarray, **attrs: Any) -> np.ndarray:
    out = np.zeros(like.shape, dtype=dy.dtype)
    out[_python_key(attrs)] = dy
    return out


def _ss(begin: list[Any], end: list[Any], strides: list[Any], **masks: int) -> dict[str, Any]:
    return {"begin": begin, "end": end, "strides": strides, **masks}


def _draw_slice(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape = _shape(draw)
    begin, size = [], []
    for d in shape:
        b = draw(st.integers(0, d))
        begin.append(b)
        size.append(draw(st.integers(-1, d - b)))
    return Case([shape], {"begin": begin, "size": size})


def _slice_ref(x: np.ndarray, begin: list[int], size: list[int]) -> np.ndarray:
    return np.array(x[tuple(slice(b, None if s == -1 else b + s) for b, s in zip(begin, size))])


# --------------------------------------------------------------------------- GatherV2 / GatherGrad


def _draw_gather(draw: Draw, binding: Mapping[str, str]) -> Case:
    params = _shape(draw, min_dims=1, min_side=1)
    indices = _shape(draw, max_dims=2)
    return Case([params, indices], {"axis": _axis(draw, len(params))})


def _gather_inputs(rng: np.random.Generator, case: Case, binding: Mapping[str, str]) -> list[Any]:
    params_shape, indices_shape = case.shapes
    assert isinstance(params_shape, tuple) and isinstance(indices_shape, tuple)
    axis = case.attrs.get("axis", 0) % len(params_shape)
    params = make_array(rng, params_shape, binding["T"])
    indices = rng.integers(0, max(params_shape[axis], 1), size=indices_shape).astype(binding["Tidx"])
    return [params, indices]


def _gather_ref(params: np.ndarray, indices: np.ndarray, axis: int) -> np.ndarray:
    ax = axis % params.ndim
    out = np.empty(params.shape[:ax] + indices.shape + params.shape[ax + 1 :], dtype=params.dtype)
    for pos in np.ndindex(*indices.shape):
        index: list[Any] = [slice(None)] * params.ndim
        index[ax] = int(indices[pos])
        out[(slice(None),) * ax + pos] = params[tuple(index)]
    return out


def _draw_gather_grad(draw: Draw, binding: Mapping[str, str]) -> Case:
    like = _shape(draw, min_dims=1, min_side=1)
    indices = _shape(draw, max_dims=2)
    axis = _axis(draw, len(like))
    ax = axis % len(like)
    dy = like[:ax] + indices + like[ax + 1 :]
    return Case([dy, indices, like], {"axis": axis})


def _gather_grad_inputs(rng: np.random.Generator, case: Case, binding: Mapping[str, str]) -> list[Any]:
    dy_shape, indices_shape, like_shape = case.shapes
    assert isinstance(dy_shape, tuple) and isinstance(indices_shape, tuple) and isinstance(like_shape, tuple)
    axis = case.attrs.get("axis", 0) % len(like_shape)
    # Few distinct indices, so repeated indices (which must add up) are common.
    indices = rng.integers(0, min(like_shape[axis], 2) if like_shape[axis] else 1, size=indices_shape)
    return [
        make_array(rng, dy_shape, binding["T"]),
        indices.astype(binding["Tidx"]),
        make_array(rng, like_shape, binding["U"]),
    ]


def _gather_grad_ref(dy: np.ndarray, indices: np.ndarray, like: np.ndarray, axis: int) -> np.ndarray:
    ax = axis % like.ndim
    out = np.zeros(like.shape, dtype=dy.dtype)
    for pos in np.ndindex(*indices.shape):
        index: list[Any] = [slice(None)] * like.ndim
        index[ax] = int(indices[pos])
        out[tuple(index)] += dy[(slice(None),) * ax + pos]
    return out


# --------------------------------------------------------------------------- Tile / TileGrad / Pad


def _draw_tile(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape = _shape(draw, max_side=3)
    return Case([shape], {"multiples": [draw(st.integers(0, 3)) for _ in shape]})


def _tile_ref(x: np.ndarray, multiples: list[int]) -> np.ndarray:
    out = x
    for axis, m in enumerate(multiples):
        out = np.concatenate([out] * m, axis=axis) if m else out.take([], axis=axis)
    return np.array(out)


def _draw_tile_grad(draw: Draw, binding: Mapping[str, str]) -> Case:
    like = _shape(draw, max_side=3)
    multiples = [draw(st.integers(0, 3)) for _ in like]
    return Case([tuple(d * m for d, m in zip(like, multiples)), like], {"multiples": multiples})


def _tile_grad_ref(dy: np.ndarray, like: np.ndarray, multiples: list[int]) -> np.ndarray:
    out = np.zeros(like.shape, dtype=dy.dtype)
    for block in itertools.product(*(range(m) for m in multiples)):
        index = tuple(slice(k * d, (k + 1) * d) for k, d in zip(block, like.shape))
        out = out + dy[index]
    return out


def _draw_pad(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape = _shape(draw, max_side=3)
    paddings = [draw(st.integers(0, 2)) for _ in range(2 * len(shape))]
    return Case([shape], {"paddings": paddings, "constant_values": draw(st.sampled_from([0.0, 1.0, -2.5]))})


def _pad_ref(x: np.ndarray, paddings: list[int], constant_values: float) -> np.ndarray:
    before, after = paddings[0::2], paddings[1::2]
    shape = tuple(b + d + a for b, d, a in zip(before, x.shape, after))
    out = np.full(shape, np.asarray(constant_values).astype(x.dtype), dtype=x.dtype)
    out[tuple(slice(b, b + d) for b, d in zip(before, x.shape))] = x
    return out


# --------------------------------------------------------------------------- OneHot / Fill / ZerosLike / OnesLike


def _draw_one_hot(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape = _shape(draw, max_dims=2)
    return Case(
        [shape],
        {
            "depth": draw(st.integers(0, 4)),
            "axis": int(draw(st.integers(-len(shape) - 1, len(shape)))),
            "on_value": draw(st.sampled_from([1.0, 5.0])),
            "off_value": draw(st.sampled_from([0.0, -1.0])),
            "dtype": draw(st.sampled_from(["float32", "float64", "int32", "int64", "bool", "uint8"])),
        },
    )


def _one_hot_inputs(rng: np.random.Generator, case: Case, binding: Mapping[str, str]) -> list[Any]:
    shape = case.shapes[0]
    assert isinstance(shape, tuple)
    depth = case.attrs.get("depth", 0)
    return [rng.integers(-1, depth + 2, size=shape).astype(binding["TI"])]


def _one_hot_ref(
    indices: np.ndarray, depth: int, on_value: float, off_value: float, axis: int, dtype: Any
) -> np.ndarray:
    npd = np.dtype(str(dtype))
    out = np.full((*indices.shape, depth), np.asarray(off_value).astype(npd), dtype=npd)
    for pos in np.ndindex(*indices.shape):
        i = int(indices[pos])
        if 0 <= i < depth:
            out[(*pos, i)] = np.asarray(on_value).astype(npd)
    return np.moveaxis(out, -1, axis % out.ndim)


def _draw_fill(draw: Draw, binding: Mapping[str, str]) -> Case:
    return Case([()], {"dims": list(_shape(draw))})


def _draw_unary(draw: Draw, binding: Mapping[str, str]) -> Case:
    return Case([_shape(draw)])


UNARY_EXAMPLES = [Case([()], label="scalar"), Case([(0, 3)], label="zero-size"), Case([(2, 3)])]

# --------------------------------------------------------------------------- the specs

SPECS = [
    OpSpec(
        "Reshape",
        reference=lambda x, shape: x.reshape(shape),
        draw=_draw_reshape,
        examples=[
            Case([()], {"shape": [1, 1]}, label="scalar"),
            Case([(1, 1)], {"shape": []}, label="to scalar"),
            Case([(0, 3)], {"shape": [3, 0]}, label="zero-size"),
            Case([(2, 3, 4)], {"shape": [-1, 4]}, label="infer"),
        ],
        invalid=[
            Invalid([(2, 3)], {"shape": [4]}, label="wrong element count"),
            Invalid([(2, 3)], {"shape": [-1, -1]}, label="two -1"),
            Invalid([(2, 3)], {"shape": [-1, 4]}, label="-1 does not divide"),
            Invalid([(2, 3)], {"shape": "six"}, error=BAD_ATTR, label="bad attr type"),
        ],
    ),
    OpSpec(
        "Transpose",
        reference=_transpose_ref,
        draw=_draw_transpose,
        examples=[
            Case([()], label="scalar"),
            Case([(0, 3)], label="zero-size"),
            Case([(2, 3, 4)], {"perm": [2, 0, 1]}),
            Case([(2, 3, 4)], {"perm": [-1, 0, 1]}, label="negative perm"),
        ],
        invalid=[
            Invalid([(2, 3)], {"perm": [0]}, label="perm too short"),
            Invalid([(2, 3)], {"perm": [0, 0]}, label="not a permutation"),
            Invalid([(2, 3)], {"perm": [0, 2]}, label="axis out of range"),
            Invalid([(2, 3)], {"perm": 1.5}, error=BAD_ATTR, label="bad attr type"),
        ],
    ),
    OpSpec(
        "ExpandDims",
        reference=lambda x, axis: np.expand_dims(x, axis),
        draw=_draw_expand_dims,
        examples=[
            Case([()], {"axis": 0}, label="scalar"),
            Case([(0, 3)], {"axis": -1}, label="zero-size"),
            Case([(2, 3)], {"axis": -3}),
        ],
        invalid=[
            Invalid([(2, 3)], {"axis": 3}, label="axis out of range"),
            Invalid([(2, 3)], {"axis": -4}, label="axis out of range"),
            Invalid([(2, 3)], {"axis": 1.5}, error=BAD_ATTR, label="bad attr type"),
        ],
    ),
    OpSpec(
        "Squeeze",
        reference=_squeeze_ref,
        draw=_draw_squeeze,
        examples=[
            Case([()], label="scalar"),
            Case([(0, 1)], label="zero-size"),
            Case([(1, 3, 1)], {"axis": [-1]}),
            Case([(1, 1)], {"axis": [0, 1]}, label="to scalar"),
        ],
        invalid=[
            Invalid([(2, 3)], {"axis": [0]}, label="axis is not 1"),
            Invalid([(1, 3)], {"axis": [2]}, label="axis out of range"),
            Invalid([(1, 3)], {"axis": "0"}, error=BAD_ATTR, label="bad attr type"),
        ],
    ),
    OpSpec(
        "ConcatV2",
        reference=lambda values, axis: np.concatenate(values, axis=axis),
        draw=_draw_concat,
        examples=[
            Case([[(2,), (3,)]], {"axis": 0}, label="vectors"),
            Case([[(0, 3), (2, 3)]], {"axis": 0}, label="zero-size"),
            Case([[(2, 1), (2, 3), (2, 0)]], {"axis": -1}),
            Case([[(2, 2)]], {"axis": 1}, label="one value"),
        ],
        invalid=[
            Invalid([[(2, 3), (2,)]], {"axis": 0}, label="rank mismatch"),
            Invalid([[(2, 3), (3, 3)]], {"axis": 1}, label="dims differ off the axis"),
            Invalid([[(2, 3), (2, 3)]], {"axis": 2}, label="axis out of range"),
            Invalid([[(), ()]], {"axis": 0}, label="scalars"),
            Invalid([[(2,), (2,)]], {"axis": "0"}, error=BAD_ATTR, label="bad attr type"),
        ],
    ),
    OpSpec(
        "SplitLike",
        reference=_split_like_ref,
        draw=_draw_split_like,
        examples=[
            Case([(5,), [(2,), (3,)]], {"axis": 0, "num": 2}),
            Case([(2, 3), [(2, 0), (2, 3)]], {"axis": -1, "num": 2}, label="zero-size"),
        ],
        grad_inputs=[0],
        invalid=[
            Invalid([(5,), [(2,), (2,)]], {"axis": 0, "num": 2}, label="sizes do not add up"),
            Invalid([(5,), [(2,), (3,)]], {"axis": 0, "num": 3}, label="num differs"),
            Invalid([(5,), [(2,), (3,)]], {"axis": 1, "num": 2}, label="axis out of range"),
        ],
    ),
    OpSpec(
        "Pack",
        reference=_pack_ref,
        draw=_draw_pack,
        examples=[
            Case([[(), ()]], {"axis": 0}, label="scalar"),
            Case([[(0, 3), (0, 3)]], {"axis": 1}, label="zero-size"),
            Case([[(2, 3)] * 3], {"axis": -1}),
        ],
        invalid=[
            Invalid([[(2, 3), (3, 2)]], label="shapes differ"),
            Invalid([[(2, 3), (2, 3)]], {"axis": 3}, label="axis out of range"),
            Invalid([[(2,), (2,)]], {"axis": None}, error=BAD_ATTR, label="bad attr type"),
        ],
    ),
    OpSpec(
        "Unpack",
        reference=_unpack_ref,
        draw=_draw_unpack,
        examples=[
            Case([(3,)], {"num": 3}, label="to scalars"),
            Case([(2, 0)], {"num": 2}, label="zero-size"),
            Case([(2, 3)], {"num": 3, "axis": -1}),
        ],
        invalid=[
            Invalid([(2, 3)], {"num": 3}, label="num differs"),
            Invalid([(2, 3)], {"num": 2, "axis": 2}, label="axis out of range"),
            Invalid([()], {"num": 1}, label="scalar"),
            Invalid([(2, 3)], {"num": 0}, error=BAD_ATTR, label="num < 1"),
        ],
    ),
    OpSpec(
        "Split",
        reference=_split_ref,
        draw=_draw_split,
        examples=[
            Case([(6,)], {"num_split": 3}),
            Case([(0, 2)], {"num_split": 2}, label="zero-size"),
            Case([(2, 4)], {"num_split": 2, "axis": -1}),
        ],
        invalid=[
            Invalid([(5,)], {"num_split": 2}, label="not divisible"),
            Invalid([(4,)], {"num_split": 2, "axis": 1}, label="axis out of range"),
            Invalid([()], {"num_split": 1}, label="scalar"),
            Invalid([(4,)], {"num_split": 0}, error=BAD_ATTR, label="num_split < 1"),
        ],
    ),
    OpSpec(
        "StridedSlice",
        reference=_strided_slice_ref,
        draw=_draw_strided_slice,
        examples=[
            Case([()], _ss([], [], []), label="scalar"),
            Case([()], _ss([0], [0], [1], new_axis_mask=1), label="scalar new axis"),
            Case([(0, 3)], _ss([0, 1], [0, 3], [1, 1], begin_mask=1, end_mask=1), label="zero-size"),
            Case([(4, 3)], _ss([-1, 0], [0, 0], [-1, 1], end_mask=3), label="reverse"),
            Case([(4, 3, 2)], _ss([1, 0, -1], [2, 0, 0], [1, 1, 1], ellipsis_mask=2, shrink_axis_mask=5)),
            Case([(4, 3)], _ss([5, 0], [-9, 3], [-2, 1], new_axis_mask=0), label="clamped"),
        ],
        invalid=[
            Invalid([(4, 3)], _ss([4], [5], [1], shrink_axis_mask=1), error=BAD_INDEX, label="index out of range"),
            Invalid([(4, 3)], _ss([0, -4], [1, -3], [1, 1], shrink_axis_mask=2), error=BAD_INDEX, label="index < -dim"),
            Invalid([(4, 3)], _ss([0, 0, 0], [1, 1, 1], [1, 1, 1]), label="too many indices"),
            Invalid([(4, 3)], _ss([0], [1], [0]), label="zero stride"),
            Invalid([(4, 3)], _ss([0, 0], [1], [1, 1]), label="lengths differ"),
            Invalid([(4, 3)], _ss([0, 0], [0, 0], [1, 1], ellipsis_mask=3), label="two ellipses"),
            Invalid([(4, 3)], _ss([0.5], [1], [1]), error=BAD_ATTR, label="bad attr type"),
        ],
    ),
    OpSpec(
        "StridedSliceGrad",
        reference=_strided_slice_grad_ref,
        draw=_draw_strided_slice_grad,
        examples=[
            Case([(), ()], _ss([], [], []), label="scalar"),
            Case([(0, 3), (0, 3)], _ss([0], [0], [1], begin_mask=1, end_mask=1), label="zero-size"),
            Case([(2, 3), (4, 3)], _ss([-1], [0], [-2], end_mask=1), label="reverse"),
            Case([(3,), (4, 3, 2)], _ss([1, 0, -1], [2, 0, 0], [1, 1, 1], ellipsis_mask=2, shrink_axis_mask=5)),
        ],
        grad_inputs=[0],
        invalid=[
            Invalid([(3, 3), (4, 3)], _ss([0], [2], [1]), label="dy does not match"),
            Invalid([(4,), (4, 3)], _ss([0, 0, 0], [1, 1, 1], [1, 1, 1]), label="too many indices"),
        ],
    ),
    OpSpec(
        "Slice",
        reference=_slice_ref,
        draw=_draw_slice,
        examples=[
            Case([()], {"begin": [], "size": []}, label="scalar"),
            Case([(0, 3)], {"begin": [0, 1], "size": [-1, 2]}, label="zero-size"),
            Case([(4, 3)], {"begin": [1, 0], "size": [2, -1]}),
        ],
        invalid=[
            Invalid([(4, 3)], {"begin": [3, 0], "size": [2, 1]}, error=BAD_INDEX, label="out of bounds"),
            Invalid([(4, 3)], {"begin": [0, 4], "size": [1, -1]}, error=BAD_INDEX, label="begin past the end"),
            Invalid([(4, 3)], {"begin": [0], "size": [1]}, label="rank mismatch"),
            Invalid([(4, 3)], {"begin": [-1, 0], "size": [1, 1]}, error=BAD_INDEX, label="negative begin"),
            Invalid([(4, 3)], {"begin": [0, 0], "size": "all"}, error=BAD_ATTR, label="bad attr type"),
        ],
    ),
    OpSpec(
        "GatherV2",
        reference=_gather_ref,
        draw=_draw_gather,
        make_inputs=_gather_inputs,
        examples=[
            Case([(3,), ()], label="scalar index"),
            Case([(3, 2), (0,)], label="zero-size"),
            Case([(3, 4), (2, 2)], {"axis": -1}),
        ],
        invalid=[
            Invalid([(3, 4), (2,)], {"axis": 2}, label="axis out of range"),
            Invalid([(), (2,)], label="scalar params"),
            Invalid([(3,), (2,)], dtypes=["float32", "float32"], error="DTypeError", label="float indices"),
            Invalid([(3,), (2,)], {"axis": "0"}, error=BAD_ATTR, label="bad attr type"),
        ],
        bad_values=[
            # The case: OpenCL used to give [3., 0.] here.
            BadValues([(10,), (2,)], {1: [3, 10]}, mentions=["indices[1] = 10"], label="an index past the end"),
            BadValues([(10,), (3,)], {1: [0, -1, 2]}, mentions=["indices[1] = -1"], label="a negative index"),
            BadValues(
                [(2, 3, 4), (2, 2)],
                {1: [[0, 2], [3, -5]]},
                {"axis": 1},
                mentions=["indices[1, 0] = 3"],
                label="the first bad index, in C order, along axis 1",
            ),
            BadValues([(0, 3), (2,)], {1: [1, 7]}, {"axis": 1}, mentions=["indices[1] = 7"], label="an empty output"),
            BadValues([(3, 2), ()], {1: 3}, mentions=["indices = 3"], label="a scalar index"),
        ],
    ),
    OpSpec(
        "GatherGrad",
        reference=_gather_grad_ref,
        draw=_draw_gather_grad,
        make_inputs=_gather_grad_inputs,
        examples=[
            Case([(), (), (3,)], label="scalar index"),
            Case([(0, 2), (0,), (3, 2)], label="zero-size"),
            Case([(3, 2, 2), (2, 2), (3, 4)], {"axis": -1}),
        ],
        grad_inputs=[0],
        invalid=[
            Invalid([(3, 3), (2,), (3, 4)], {"axis": 1}, label="dy does not match"),
            Invalid([(2,), (2,), (3,)], {"axis": 1}, label="axis out of range"),
        ],
        bad_values=[
            BadValues([(3,), (3,), (4,)], {1: [1, 4, 0]}, mentions=["indices[1] = 4"], label="an index past the end"),
            BadValues(
                [(2, 2, 3), (2,), (2, 5, 3)],
                {1: [-1, 9]},
                {"axis": 1},
                mentions=["indices[0] = -1"],
                label="a negative index, along axis 1",
            ),
            BadValues([(0, 2), (2,), (0, 3)], {1: [0, 3]}, {"axis": 1}, mentions=["indices[1] = 3"], label="empty dx"),
        ],
    ),
    OpSpec(
        "Tile",
        reference=_tile_ref,
        draw=_draw_tile,
        examples=[
            Case([()], {"multiples": []}, label="scalar"),
            Case([(0, 3)], {"multiples": [2, 1]}, label="zero-size"),
            Case([(2, 3)], {"multiples": [2, 0]}, label="zero multiple"),
            Case([(2, 3)], {"multiples": [3, 2]}),
        ],
        invalid=[
            Invalid([(2, 3)], {"multiples": [2]}, label="length differs"),
            Invalid([(2, 3)], {"multiples": [2, -1]}, label="negative multiple"),
            Invalid([(2, 3)], {"multiples": "2"}, error=BAD_ATTR, label="bad attr type"),
        ],
    ),
    OpSpec(
        "TileGrad",
        reference=_tile_grad_ref,
        draw=_draw_tile_grad,
        examples=[
            Case([(), ()], {"multiples": []}, label="scalar"),
            Case([(0, 3), (0, 3)], {"multiples": [2, 1]}, label="zero-size"),
            Case([(0, 3), (2, 3)], {"multiples": [0, 1]}, label="zero multiple"),
            Case([(6, 6), (2, 3)], {"multiples": [3, 2]}),
        ],
        grad_inputs=[0],
        tolerance=2.0,
        invalid=[
            Invalid([(5, 6), (2, 3)], {"multiples": [3, 2]}, label="dy does not match"),
            Invalid([(6,), (2, 3)], {"multiples": [3]}, label="length differs"),
        ],
    ),
    OpSpec(
        "Pad",
        reference=_pad_ref,
        draw=_draw_pad,
        examples=[
            Case([()], {"paddings": []}, label="scalar"),
            Case([(0, 3)], {"paddings": [1, 0, 0, 2]}, label="zero-size"),
            Case([(2, 3)], {"paddings": [1, 1, 2, 2], "constant_values": 1.5}),
        ],
        invalid=[
            Invalid([(2, 3)], {"paddings": [1, 1]}, label="too few pairs"),
            Invalid([(2, 3)], {"paddings": [1, 1, 1]}, label="odd length"),
            Invalid([(2, 3)], {"paddings": [1, 1, -1, 0]}, label="negative padding"),
            Invalid([(2, 3)], {"paddings": [0, 0, 0, 0], "constant_values": "x"}, error=BAD_ATTR, label="bad type"),
        ],
    ),
    OpSpec(
        "OneHot",
        reference=_one_hot_ref,
        draw=_draw_one_hot,
        make_inputs=_one_hot_inputs,
        examples=[
            Case([()], {"depth": 3}, label="scalar"),
            Case([(0,)], {"depth": 3}, label="zero-size"),
            Case([(2, 3)], {"depth": 0}, label="depth 0"),
            Case([(2, 3)], {"depth": 4, "axis": 0, "on_value": 2.0, "off_value": -1.0, "dtype": "int32"}),
        ],
        invalid=[
            Invalid([(2,)], {"depth": 3, "axis": 2}, label="axis out of range"),
            Invalid([(2,)], {"depth": -1}, error=BAD_ATTR, label="negative depth"),
            Invalid([(2,)], {"depth": 3}, dtypes=["float32"], error="DTypeError", label="float indices"),
        ],
    ),
    OpSpec(
        "Fill",
        reference=lambda value, dims: np.full(dims, value, dtype=value.dtype),
        draw=_draw_fill,
        examples=[
            Case([()], {"dims": []}, label="scalar"),
            Case([()], {"dims": [0, 3]}, label="zero-size"),
            Case([()], {"dims": [2, 3]}),
        ],
        invalid=[
            Invalid([(2,)], {"dims": [2, 3]}, label="value not a scalar"),
            Invalid([()], {"dims": [2, -1]}, label="unknown dim"),
            Invalid([()], {"dims": 2.5}, error=BAD_ATTR, label="bad attr type"),
        ],
    ),
    OpSpec(
        "ZerosLike",
        reference=lambda x: np.zeros_like(x),
        draw=_draw_unary,
        examples=UNARY_EXAMPLES,
    ),
    OpSpec("Identity", reference=lambda x: x.copy(), draw=_draw_unary, examples=UNARY_EXAMPLES),
    OpSpec("StopGradient", reference=lambda x: x.copy(), draw=_draw_unary, examples=UNARY_EXAMPLES),
    OpSpec(
        "OnesLike",
        reference=lambda x: np.ones_like(x),
        draw=_draw_unary,
        examples=UNARY_EXAMPLES,
    ),
]
