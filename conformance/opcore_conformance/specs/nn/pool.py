"""Conformance specs: pooling and its gradient ops (MaxPool, AvgPool, MaxPoolGrad, MaxPoolGradGrad, AvgPoolGrad).

The references loop explicitly over output positions and window offsets on a
padded NHWC copy of the input; max pooling gets distinct values, so no ties.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st

from opcore_conformance.spec import Case, Draw, Invalid, OpSpec, make_array
from opcore_conformance.specs.nn._image import _four, _from_nhwc, _geometry, _Grid, _hw, _image, _to_nhwc

# --------------------------------------------------------------------------- pooling references


def _pool_grid(x_shape: tuple[int, ...], attrs: Mapping[str, Any]) -> _Grid:
    fmt = attrs["data_format"]
    _, h, w, _ = (x_shape[0], x_shape[2], x_shape[3], x_shape[1]) if fmt == "NCHW" else x_shape
    kh, kw = _hw(tuple(attrs["ksize"]), fmt)
    return _Grid(h, w, kh, kw, attrs["strides"], (1, 1, 1, 1), attrs["padding"], fmt)


def _ref_max_pool(input: np.ndarray, **attrs: Any) -> np.ndarray:
    x = _to_nhwc(input, attrs["data_format"])
    g = _pool_grid(input.shape, attrs)
    xp = g.padded(x, -np.inf)
    out = np.full((x.shape[0], g.ho, g.wo, x.shape[3]), -np.inf)
    for i in range(g.ho):
        for j in range(g.wo):
            for _, _, r, c in g.taps(i, j):
                out[:, i, j, :] = np.maximum(out[:, i, j, :], xp[:, r, c, :])
    return _from_nhwc(out, attrs["data_format"])


def _first_max_positions(x: np.ndarray, g: _Grid) -> dict[tuple[int, int, int, int], tuple[int, int]]:
    """For each (n, i, j, c): the padded (row, col) of the first maximum of its window (row-major scan)."""
    xp = g.padded(x, -np.inf)
    where: dict[tuple[int, int, int, int], tuple[int, int]] = {}
    for n in range(x.shape[0]):
        for ch in range(x.shape[3]):
            for i in range(g.ho):
                for j in range(g.wo):
                    best = None
                    for _, _, r, c in g.taps(i, j):
                        if best is None or xp[n, r, c, ch] > xp[n, best[0], best[1], ch]:
                            best = (r, c)
                    assert best is not None
                    where[(n, i, j, ch)] = best
    return where


def _ref_max_pool_grad(orig_input: np.ndarray, orig_output: np.ndarray, grad: np.ndarray, **attrs: Any) -> np.ndarray:
    fmt = attrs["data_format"]
    x, dy = _to_nhwc(orig_input, fmt), _to_nhwc(grad, fmt)
    g = _pool_grid(orig_input.shape, attrs)
    dxp = g.padded(np.zeros(x.shape))
    for (n, i, j, ch), (r, c) in _first_max_positions(x, g).items():
        dxp[n, r, c, ch] += dy[n, i, j, ch]
    return _from_nhwc(g.crop(dxp), fmt)


def _ref_max_pool_grad_grad(
    orig_input: np.ndarray, orig_output: np.ndarray, grad: np.ndarray, **attrs: Any
) -> np.ndarray:
    fmt = attrs["data_format"]
    x, gg = _to_nhwc(orig_input, fmt), _to_nhwc(grad, fmt)
    g = _pool_grid(orig_input.shape, attrs)
    ggp = g.padded(gg)
    out = np.zeros((x.shape[0], g.ho, g.wo, x.shape[3]))
    for (n, i, j, ch), (r, c) in _first_max_positions(x, g).items():
        out[n, i, j, ch] = ggp[n, r, c, ch]
    return _from_nhwc(out, fmt)


def _ref_avg_pool(input: np.ndarray, **attrs: Any) -> np.ndarray:
    x = _to_nhwc(input, attrs["data_format"])
    g = _pool_grid(input.shape, attrs)
    xp = g.padded(x)
    out = np.zeros((x.shape[0], g.ho, g.wo, x.shape[3]))
    for i in range(g.ho):
        for j in range(g.wo):
            taps = [(r, c) for _, _, r, c in g.taps(i, j) if g.real(r, c)]
            for r, c in taps:
                out[:, i, j, :] += xp[:, r, c, :]
            out[:, i, j, :] /= len(taps)
    return _from_nhwc(out, attrs["data_format"])


def _ref_avg_pool_grad(orig_input_like: np.ndarray, grad: np.ndarray, **attrs: Any) -> np.ndarray:
    fmt = attrs["data_format"]
    x, dy = _to_nhwc(orig_input_like, fmt), _to_nhwc(grad, fmt)
    g = _pool_grid(orig_input_like.shape, attrs)
    dxp = g.padded(np.zeros(x.shape))
    for i in range(g.ho):
        for j in range(g.wo):
            taps = [(r, c) for _, _, r, c in g.taps(i, j) if g.real(r, c)]
            for r, c in taps:
                dxp[:, r, c, :] += dy[:, i, j, :] / len(taps)
    return _from_nhwc(g.crop(dxp), fmt)


def _draw_pool_case(draw: Draw) -> tuple[tuple[int, ...], tuple[int, ...], dict[str, Any]]:
    """(input shape, output shape, attrs) of a valid small pooling call."""
    fmt = draw(st.sampled_from(["NHWC", "NCHW"]))
    padding = draw(st.sampled_from(["SAME", "VALID"]))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h = draw(st.integers(kh if padding == "VALID" else 1, 6))
    w = draw(st.integers(kw if padding == "VALID" else 1, 6))
    ho, _, _ = _geometry(h, kh, sh, 1, padding)
    wo, _, _ = _geometry(w, kw, sw, 1, padding)
    attrs = {"ksize": _four(kh, kw, fmt), "strides": _four(sh, sw, fmt), "padding": padding, "data_format": fmt}
    return _image(n, h, w, c, fmt), _image(n, ho, wo, c, fmt), attrs


def _draw_pool(draw: Draw, binding: Mapping[str, str]) -> Case:
    x, _, attrs = _draw_pool_case(draw)
    return Case([x], attrs)


def _draw_max_pool_grad(draw: Draw, binding: Mapping[str, str]) -> Case:
    x, y, attrs = _draw_pool_case(draw)
    return Case([x, y, y], attrs)


def _draw_max_pool_grad_grad(draw: Draw, binding: Mapping[str, str]) -> Case:
    x, y, attrs = _draw_pool_case(draw)
    return Case([x, y, x], attrs)


def _draw_avg_pool_grad(draw: Draw, binding: Mapping[str, str]) -> Case:
    x, y, attrs = _draw_pool_case(draw)
    return Case([x, y], attrs)


def _distinct(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Distinct values 0.25 apart (exact in float16): no ties, so max pooling has no kinks nearby."""
    size = int(np.prod(shape))
    return (rng.permutation(size).reshape(shape) * 0.25 - size * 0.125).astype(dtype)


def _max_pool_inputs(rng: np.random.Generator, case: Case, binding: Mapping[str, str]) -> list[Any]:
    xs, ys, third = case.shapes
    assert isinstance(xs, tuple) and isinstance(ys, tuple) and isinstance(third, tuple)
    x = _distinct(rng, xs, binding["T"])
    y = _ref_max_pool(x.astype(np.float64), **case.attrs).astype(binding["T"])
    return [x, y, make_array(rng, third, binding["T"])]


def _distinct_inputs(rng: np.random.Generator, case: Case, binding: Mapping[str, str]) -> list[Any]:
    (xs,) = case.shapes
    assert isinstance(xs, tuple)
    return [_distinct(rng, xs, binding["T"])]


_POOL_BASIC = {"ksize": (1, 2, 2, 1), "strides": (1, 2, 2, 1), "padding": "SAME", "data_format": "NHWC"}
_POOL_NCHW = {"ksize": (1, 1, 3, 2), "strides": (1, 1, 1, 2), "padding": "SAME", "data_format": "NCHW"}
_POOL_VALID = {"ksize": (1, 3, 3, 1), "strides": (1, 1, 2, 1), "padding": "VALID", "data_format": "NHWC"}
_POOL_EXAMPLES = [
    Case([(1, 4, 4, 2)], _POOL_BASIC, label="SAME"),
    Case([(2, 2, 3, 5)], _POOL_NCHW, label="NCHW"),
    Case([(1, 5, 4, 1)], _POOL_VALID, label="VALID"),
    Case([(0, 4, 4, 2)], _POOL_BASIC, label="zero-size batch"),
]
_POOL_INVALID = [
    Invalid([(1, 4, 4, 2)], {**_POOL_BASIC, "ksize": (2, 2, 2, 1)}, "OpDefinitionError", "batch window"),
    Invalid([(1, 4, 4, 2)], {**_POOL_BASIC, "padding": "same"}, "OpDefinitionError", "bad padding"),
    Invalid([(1, 2, 2, 2)], {**_POOL_VALID}, label="window larger than input"),
    Invalid([(4, 4, 2)], _POOL_BASIC, label="3-D input"),
]


# --------------------------------------------------------------------------- the specs

SPECS = [
    OpSpec(
        "MaxPool",
        reference=_ref_max_pool,
        draw=_draw_pool,
        examples=_POOL_EXAMPLES,
        make_inputs=_distinct_inputs,
        invalid=_POOL_INVALID,
    ),
    OpSpec(
        "AvgPool",
        reference=_ref_avg_pool,
        draw=_draw_pool,
        examples=_POOL_EXAMPLES,
        invalid=_POOL_INVALID,
        tolerance=2.0,
    ),
    OpSpec(
        "MaxPoolGrad",
        reference=_ref_max_pool_grad,
        draw=_draw_max_pool_grad,
        examples=[
            Case([(1, 4, 4, 2), (1, 2, 2, 2), (1, 2, 2, 2)], _POOL_BASIC, label="SAME"),
            Case([(1, 2, 3, 5), (1, 2, 3, 3), (1, 2, 3, 3)], _POOL_NCHW, label="NCHW"),
            Case([(1, 5, 4, 1), (1, 3, 1, 1), (1, 3, 1, 1)], _POOL_VALID, label="VALID"),
            Case([(0, 4, 4, 2), (0, 2, 2, 2), (0, 2, 2, 2)], _POOL_BASIC, label="zero-size batch"),
        ],
        make_inputs=_max_pool_inputs,
        grad_inputs=[2],
        invalid=[Invalid([(1, 4, 4, 2), (1, 2, 2, 2), (1, 3, 2, 2)], _POOL_BASIC, label="grad shape")],
        tolerance=2.0,
    ),
    OpSpec(
        "MaxPoolGradGrad",
        reference=_ref_max_pool_grad_grad,
        draw=_draw_max_pool_grad_grad,
        examples=[
            Case([(1, 4, 4, 2), (1, 2, 2, 2), (1, 4, 4, 2)], _POOL_BASIC, label="SAME"),
            Case([(1, 2, 3, 5), (1, 2, 3, 3), (1, 2, 3, 5)], _POOL_NCHW, label="NCHW"),
            Case([(0, 4, 4, 2), (0, 2, 2, 2), (0, 4, 4, 2)], _POOL_BASIC, label="zero-size batch"),
        ],
        make_inputs=_max_pool_inputs,
        grad_inputs=[2],
        invalid=[Invalid([(1, 4, 4, 2), (1, 2, 2, 2), (1, 2, 2, 2)], _POOL_BASIC, label="grad shape")],
    ),
    OpSpec(
        "AvgPoolGrad",
        reference=_ref_avg_pool_grad,
        draw=_draw_avg_pool_grad,
        examples=[
            Case([(1, 4, 4, 2), (1, 2, 2, 2)], _POOL_BASIC, label="SAME"),
            Case([(1, 2, 3, 5), (1, 2, 3, 3)], _POOL_NCHW, label="NCHW"),
            Case([(1, 5, 4, 1), (1, 3, 1, 1)], _POOL_VALID, label="VALID"),
            Case([(0, 4, 4, 2), (0, 2, 2, 2)], _POOL_BASIC, label="zero-size batch"),
        ],
        grad_inputs=[1],
        invalid=[Invalid([(1, 4, 4, 2), (1, 3, 2, 2)], _POOL_BASIC, label="grad shape")],
        tolerance=2.0,
    ),
]
