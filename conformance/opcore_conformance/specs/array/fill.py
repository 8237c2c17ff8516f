"""Conformance specs: tiling, padding and filling (Tile, TileGrad, Pad, OneHot, Fill, ZerosLike, Identity,
StopGradient, OnesLike).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st

from opcore_conformance.spec import Case, Draw, Invalid, OpSpec
from opcore_conformance.specs.array._common import BAD_ATTR, _shape

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
