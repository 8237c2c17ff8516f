"""Conformance specs: reshaping and joining (Reshape, Transpose, ExpandDims, Squeeze, ConcatV2,
SplitLike, Pack, Unpack, Split).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st

from opcore_conformance.spec import Case, Draw, Invalid, OpSpec
from opcore_conformance.specs.array._common import BAD_ATTR, _axis, _shape

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
]
