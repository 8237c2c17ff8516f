"""Conformance specs: selecting elements by value (Where, BooleanMask, BooleanMaskGrad, Unique, ListDiff).

Their outputs' sizes depend on the values (a dimension the shape function marks
VALUE_DEPENDENT): the references say what the sizes must be, and the suite
checks the other dimensions against the shape function. Values are drawn from
small pools so that zeros, repeats and matches are common; float pools include
NaN and both zeros, which TensorFlow compares with ``==`` (NaN equals nothing,
-0.0 equals 0.0).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from opcore_conformance.spec import Case, Draw, Invalid, OpSpec, make_array

BAD_ATTR = "OpDefinitionError"
_INDEX = ["int32", "int64"]


def _shape(draw: Draw, min_dims: int = 0, max_dims: int = 3, min_side: int = 0, max_side: int = 4) -> tuple[int, ...]:
    return tuple(draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)))


def _pool(rng: np.random.Generator, shape: tuple[int, ...], dtype: str, special: bool) -> np.ndarray:
    """Values of ``dtype`` from a small pool (repeats likely); with ``special``, floats include NaN and -0.0."""
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return rng.random(shape) < 0.5
    if dt.kind == "f":
        pool = [0.0, 1.5, -2.0, 3.25] + ([np.nan, -0.0] if special else [])
    elif dt.kind == "u":
        pool = [0, 1, 7, 200]
    else:
        pool = [0, 1, -3, 7]
    return np.asarray(pool)[rng.integers(0, len(pool), size=shape)].astype(dt)


def _distinct(rng: np.random.Generator, n: int, dtype: str) -> np.ndarray:
    """``n`` distinct values of ``dtype`` (as many as it has, for bool), well apart for finite differences."""
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return rng.permutation(np.array([True, False]))[:n] if n <= 2 else rng.random(n) < 0.5
    values = rng.permutation(n) - n // 2
    if dt.kind == "f":
        return (values * 0.75 + rng.uniform(-0.1, 0.1, n)).astype(dt)
    if dt.kind == "u":
        values = values + n // 2
    return values.astype(dt)


# --------------------------------------------------------------------------- Where


def _where_ref(condition: np.ndarray) -> np.ndarray:
    rows = [list(pos) for pos in np.ndindex(*condition.shape) if condition[pos] != 0]
    return np.array(rows, dtype=np.int64).reshape(len(rows), condition.ndim)


def _draw_where(draw: Draw, binding: Mapping[str, str]) -> Case:
    return Case([_shape(draw)], label=draw(st.sampled_from(["", "", "special"])))


def _where_inputs(rng: np.random.Generator, case: Case, binding: Mapping[str, str]) -> list[Any]:
    shape = case.shapes[0]
    assert isinstance(shape, tuple)
    if case.label in ("none true", "all true"):
        value = 1 if case.label == "all true" else 0
        return [np.full(shape, value).astype(binding["T"])]
    return [_pool(rng, shape, binding["T"], case.label == "special")]


# --------------------------------------------------------------------------- BooleanMask / BooleanMaskGrad


def _size(dims: tuple[int, ...]) -> int:
    return int(np.prod(dims, dtype=np.int64))


def _split(shape: tuple[int, ...], mask_shape: tuple[int, ...], axis: int) -> tuple[int, int, int]:
    """(outer, mask elements, inner): a tensor of ``shape`` seen as a 3-D block around the masked dims."""
    ax = axis % len(shape)
    return _size(shape[:ax]), _size(mask_shape), _size(shape[ax + len(mask_shape) :])


def _boolean_mask_ref(tensor: np.ndarray, mask: np.ndarray, axis: int) -> np.ndarray:
    outer, m, inner = _split(tensor.shape, mask.shape, axis)
    ax = axis % tensor.ndim
    keep = [j for j in range(m) if mask.reshape(-1)[j]]
    out = tensor.reshape(outer, m, inner)[:, keep, :]
    return out.reshape((*tensor.shape[:ax], len(keep), *tensor.shape[ax + mask.ndim :]))


def _draw_mask_layout(draw: Draw) -> tuple[tuple[int, ...], int, tuple[int, ...]]:
    """(tensor shape, axis, mask shape)."""
    shape = _shape(draw, min_dims=1)
    rank = len(shape)
    ax = draw(st.integers(0, rank - 1))
    k = draw(st.integers(1, rank - ax))
    axis = ax - rank if draw(st.booleans()) else ax
    return shape, axis, shape[ax : ax + k]


def _draw_boolean_mask(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape, axis, mask = _draw_mask_layout(draw)
    return Case([shape, mask], {"axis": axis})


def _boolean_mask_grad_ref(dy: np.ndarray, mask: np.ndarray, like: np.ndarray, axis: int) -> np.ndarray:
    outer, m, inner = _split(like.shape, mask.shape, axis)
    keep = [j for j in range(m) if mask.reshape(-1)[j]]
    out = np.zeros((outer, m, inner), dtype=dy.dtype)
    out[:, keep, :] = dy.reshape(outer, len(keep), inner)
    return out.reshape(like.shape)


def _draw_boolean_mask_grad(draw: Draw, binding: Mapping[str, str]) -> Case:
    like, axis, mask = _draw_mask_layout(draw)
    ax = axis % len(like)
    kept = draw(st.integers(0, _size(mask)))
    dy = (*like[:ax], kept, *like[ax + len(mask) :])
    return Case([dy, mask, like], {"axis": axis})


def _boolean_mask_grad_inputs(rng: np.random.Generator, case: Case, binding: Mapping[str, str]) -> list[Any]:
    dy_shape, mask_shape, like_shape = case.shapes
    assert isinstance(dy_shape, tuple) and isinstance(mask_shape, tuple) and isinstance(like_shape, tuple)
    ax = case.attrs.get("axis", 0) % len(like_shape)
    m = _size(mask_shape)
    mask = np.zeros(m, dtype=bool)
    mask[rng.permutation(m)[: dy_shape[ax]]] = True  # exactly as many true elements as dy has slices
    return [
        make_array(rng, dy_shape, binding["T"]),
        mask.reshape(mask_shape),
        make_array(rng, like_shape, binding["U"]),
    ]


# --------------------------------------------------------------------------- Unique


def _unique_ref(x: np.ndarray, out_idx: Any) -> tuple[np.ndarray, np.ndarray]:
    values: list[Any] = []
    idx: list[int] = []
    for v in x:
        for j, u in enumerate(values):
            if u == v:  # NaN equals nothing; -0.0 equals 0.0
                idx.append(j)
                break
        else:
            idx.append(len(values))
            values.append(v)
    return np.array(values, dtype=x.dtype).reshape(-1), np.array(idx, dtype=np.dtype(str(out_idx))).reshape(-1)


def _draw_unique(draw: Draw, binding: Mapping[str, str]) -> Case:
    n = draw(st.integers(0, 8))
    repeats = draw(st.booleans())
    # Gradients exist where no two values tie: a case checks them only with distinct values.
    return Case(
        [(n,)], {"out_idx": draw(st.sampled_from(_INDEX))}, label="special" if repeats else "", grad=not repeats
    )


def _unique_inputs(rng: np.random.Generator, case: Case, binding: Mapping[str, str]) -> list[Any]:
    shape = case.shapes[0]
    assert isinstance(shape, tuple)
    if case.grad:
        return [_distinct(rng, shape[0], binding["T"])]
    return [_pool(rng, shape, binding["T"], case.label == "special")]


# --------------------------------------------------------------------------- ListDiff


def _list_diff_ref(x: np.ndarray, y: np.ndarray, out_idx: Any) -> tuple[np.ndarray, np.ndarray]:
    keep = [i for i in range(x.shape[0]) if not any(x[i] == v for v in y)]
    return x[keep].reshape(-1), np.array(keep, dtype=np.dtype(str(out_idx))).reshape(-1)


def _draw_list_diff(draw: Draw, binding: Mapping[str, str]) -> Case:
    return Case(
        [(draw(st.integers(0, 8)),), (draw(st.integers(0, 6)),)],
        {"out_idx": draw(st.sampled_from(_INDEX))},
        label=draw(st.sampled_from(["", "special"])),
    )


def _list_diff_inputs(rng: np.random.Generator, case: Case, binding: Mapping[str, str]) -> list[Any]:
    return [_pool(rng, s, binding["T"], case.label == "special") for s in case.shapes if isinstance(s, tuple)]


# --------------------------------------------------------------------------- the specs

SPECS = [
    OpSpec(
        "Where",
        reference=_where_ref,
        draw=_draw_where,
        make_inputs=_where_inputs,
        examples=[
            Case([()], label="scalar"),
            Case([(0, 3)], label="zero-size"),
            Case([(2, 3)], label="none true"),
            Case([(2, 3)], label="all true"),
            Case([(3, 1, 4)], label="special"),
        ],
    ),
    OpSpec(
        "BooleanMask",
        reference=_boolean_mask_ref,
        draw=_draw_boolean_mask,
        domains=["real", "bool"],
        examples=[
            Case([(4,), (4,)]),
            Case([(0, 2), (0,)], label="zero-size"),
            Case([(2, 0), (0,)], {"axis": -1}, label="zero-size mask"),
            Case([(2, 3, 4), (3, 4)], {"axis": 1}, label="2-D mask"),
            Case([(2, 3), (2, 3)], label="mask covers every dimension"),
        ],
        invalid=[
            Invalid([(3,), ()], label="scalar mask"),
            Invalid([(), (1,)], label="scalar tensor"),
            Invalid([(3, 2), (2,)], label="mask does not match"),
            Invalid([(3, 2), (2,)], {"axis": 2}, label="axis out of range"),
            Invalid([(3, 2), (2, 2)], {"axis": 1}, label="mask does not fit"),
            Invalid([(3,), (3,)], dtypes=["float32", "float32"], error="DTypeError", label="float mask"),
            Invalid([(3,), (3,)], {"axis": 0.5}, error=BAD_ATTR, label="bad attr type"),
        ],
    ),
    OpSpec(
        "BooleanMaskGrad",
        reference=_boolean_mask_grad_ref,
        draw=_draw_boolean_mask_grad,
        make_inputs=_boolean_mask_grad_inputs,
        examples=[
            Case([(2,), (4,), (4,)]),
            Case([(0, 2), (0,), (0, 2)], label="zero-size"),
            Case([(2, 0), (3,), (2, 3)], {"axis": 1}, label="no true element"),
            Case([(2, 5), (3, 4), (2, 3, 4)], {"axis": -2}, label="2-D mask"),
        ],
        grad_inputs=[0],
        invalid=[
            Invalid([(2, 3), (4,), (4, 2)], label="dy does not match"),
            Invalid([(2,), (3,), (4,)], label="mask does not match"),
        ],
    ),
    OpSpec(
        "Unique",
        reference=_unique_ref,
        draw=_draw_unique,
        make_inputs=_unique_inputs,
        examples=[
            Case([(0,)], label="zero-size"),
            Case([(1,)]),
            Case([(6,)]),
            Case([(9,)], {"out_idx": "int64"}, label="special", grad=False),
            Case([(7,)], grad=False),
        ],
        invalid=[
            Invalid([(2, 2)], label="matrix"),
            Invalid([()], label="scalar"),
            Invalid([(3,)], {"out_idx": "float32"}, error="DTypeError", label="float out_idx"),
            Invalid([(3,)], {"out_idx": 3}, error=BAD_ATTR, label="bad attr type"),
        ],
    ),
    OpSpec(
        "ListDiff",
        reference=_list_diff_ref,
        draw=_draw_list_diff,
        make_inputs=_list_diff_inputs,
        examples=[
            Case([(0,), (3,)], label="zero-size x"),
            Case([(4,), (0,)], label="zero-size y"),
            Case([(8,), (3,)]),
            Case([(9,), (4,)], {"out_idx": "int64"}, label="special"),
        ],
        invalid=[
            Invalid([(2, 2), (2,)], label="matrix x"),
            Invalid([(2,), ()], label="scalar y"),
            Invalid([(3,), (3,)], {"out_idx": "bool"}, error="DTypeError", label="bool out_idx"),
        ],
    ),
]
