"""Conformance specs: slicing and gathering (StridedSlice, StridedSliceGrad, Slice, GatherV2, GatherGrad),
with the values out of range that every backend must reject.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st

from opcore_conformance.spec import BadValues, Case, Draw, Invalid, OpSpec, make_array
from opcore_conformance.specs.array._common import BAD_ATTR, BAD_INDEX, _axis, _shape

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


# --------------------------------------------------------------------------- the specs

SPECS = [
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
            # More than a few indices: device backends sort them (the sums keep the indices' order).
            Case([(4, 5, 3), (4, 5), (6, 3)], label="twenty indices"),
            Case([(2, 40), (40,), (2, 3)], {"axis": 1}, label="forty indices along axis 1"),
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
            BadValues(
                [(12, 2), (12,), (5, 2)],
                {1: [0, 1, 2, 3, 4, 0, 1, 9, 2, -1, 3, 5]},
                mentions=["indices[7] = 9"],
                label="the first bad index of many",
            ),
        ],
    ),
]
