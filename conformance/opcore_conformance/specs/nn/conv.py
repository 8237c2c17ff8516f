"""Conformance specs: bias add and conv2d (BiasAdd, BiasAddGrad, Conv2D and its two backprop ops).

The conv2d references loop explicitly over output positions and window offsets
on a zero-padded NHWC copy of the input, so they share nothing with the
backends' im2col kernels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from opcore_conformance.spec import Case, Draw, Invalid, OpSpec
from opcore_conformance.specs.nn._image import _four, _from_nhwc, _geometry, _Grid, _image, _to_nhwc

# --------------------------------------------------------------------------- bias add


def _channel_axis(data_format: str, ndim: int) -> int:
    return 1 if data_format == "NCHW" and ndim >= 3 else ndim - 1


def _ref_bias_add(value: np.ndarray, bias: np.ndarray, data_format: str = "NHWC") -> np.ndarray:
    axis = _channel_axis(data_format, value.ndim)
    moved = np.moveaxis(value, axis, -1) + bias
    return np.moveaxis(moved, -1, axis)


def _ref_bias_add_grad(out_backprop: np.ndarray, data_format: str = "NHWC") -> np.ndarray:
    axis = _channel_axis(data_format, out_backprop.ndim)
    moved = np.moveaxis(out_backprop, axis, -1)
    return moved.reshape(-1, moved.shape[-1]).sum(axis=0)


def _draw_bias_value(draw: Draw) -> tuple[tuple[int, ...], str, int]:
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=4))
    fmt = draw(st.sampled_from(["NHWC", "NCHW"]))
    return shape, fmt, shape[_channel_axis(fmt, len(shape))]


def _draw_bias_add(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape, fmt, c = _draw_bias_value(draw)
    return Case([shape, (c,)], {"data_format": fmt})


def _draw_bias_add_grad(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape, fmt, _ = _draw_bias_value(draw)
    return Case([shape], {"data_format": fmt})


# --------------------------------------------------------------------------- conv2d


def _conv_grid(x_shape: tuple[int, ...], w: np.ndarray, attrs: Mapping[str, Any]) -> _Grid:
    fmt = attrs["data_format"]
    _, h, wd, _ = (x_shape[0], x_shape[2], x_shape[3], x_shape[1]) if fmt == "NCHW" else x_shape
    return _Grid(h, wd, w.shape[0], w.shape[1], attrs["strides"], attrs["dilations"], attrs["padding"], fmt)


def _ref_conv2d(input: np.ndarray, filter: np.ndarray, **attrs: Any) -> np.ndarray:
    x = _to_nhwc(input, attrs["data_format"])
    g = _conv_grid(input.shape, filter, attrs)
    xp = g.padded(x)
    out = np.zeros((x.shape[0], g.ho, g.wo, filter.shape[3]))
    for i in range(g.ho):
        for j in range(g.wo):
            for a, b, r, c in g.taps(i, j):
                out[:, i, j, :] += xp[:, r, c, :] @ filter[a, b]
    return _from_nhwc(out, attrs["data_format"])


def _ref_conv2d_backprop_input(
    input_like: np.ndarray, filter: np.ndarray, out_backprop: np.ndarray, **attrs: Any
) -> np.ndarray:
    x = _to_nhwc(input_like, attrs["data_format"])
    dy = _to_nhwc(out_backprop, attrs["data_format"])
    g = _conv_grid(input_like.shape, filter, attrs)
    dxp = g.padded(np.zeros(x.shape))
    for i in range(g.ho):
        for j in range(g.wo):
            for a, b, r, c in g.taps(i, j):
                dxp[:, r, c, :] += dy[:, i, j, :] @ filter[a, b].T
    return _from_nhwc(g.crop(dxp), attrs["data_format"])


def _ref_conv2d_backprop_filter(
    input: np.ndarray, filter_like: np.ndarray, out_backprop: np.ndarray, **attrs: Any
) -> np.ndarray:
    x = _to_nhwc(input, attrs["data_format"])
    dy = _to_nhwc(out_backprop, attrs["data_format"])
    g = _conv_grid(input.shape, filter_like, attrs)
    xp = g.padded(x)
    dw = np.zeros(filter_like.shape)
    for i in range(g.ho):
        for j in range(g.wo):
            for a, b, r, c in g.taps(i, j):
                dw[a, b] += xp[:, r, c, :].T @ dy[:, i, j, :]
    return dw


def _draw_conv_case(draw: Draw) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], dict[str, Any]]:
    """(input shape, filter shape, output shape, attrs) of a valid small Conv2D call."""
    fmt = draw(st.sampled_from(["NHWC", "NCHW"]))
    padding = draw(st.sampled_from(["SAME", "VALID"]))
    n, c, o = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    h = draw(st.integers(eh if padding == "VALID" else 1, 6))
    w = draw(st.integers(ew if padding == "VALID" else 1, 6))
    ho, _, _ = _geometry(h, kh, sh, dh, padding)
    wo, _, _ = _geometry(w, kw, sw, dw, padding)
    attrs = {"strides": _four(sh, sw, fmt), "padding": padding, "data_format": fmt, "dilations": _four(dh, dw, fmt)}
    return _image(n, h, w, c, fmt), (kh, kw, c, o), _image(n, ho, wo, o, fmt), attrs


def _draw_conv2d(draw: Draw, binding: Mapping[str, str]) -> Case:
    x, w, _, attrs = _draw_conv_case(draw)
    return Case([x, w], attrs)


def _draw_conv2d_backprop_input(draw: Draw, binding: Mapping[str, str]) -> Case:
    x, w, y, attrs = _draw_conv_case(draw)
    return Case([x, w, y], attrs)


_CONV_BASIC = {"strides": (1, 1, 1, 1), "padding": "SAME", "data_format": "NHWC", "dilations": (1, 1, 1, 1)}
_CONV_NCHW = {"strides": (1, 1, 2, 1), "padding": "SAME", "data_format": "NCHW", "dilations": (1, 1, 1, 2)}
_CONV_VALID = {"strides": (1, 2, 2, 1), "padding": "VALID", "data_format": "NHWC", "dilations": (1, 1, 1, 1)}

#: (input or input_like, filter or filter_like, out_backprop) of both backprop ops.
_CONV_BACKPROP_EXAMPLES = [
    Case([(1, 3, 3, 1), (2, 2, 1, 2), (1, 3, 3, 2)], _CONV_BASIC, label="SAME"),
    Case([(1, 2, 5, 4), (2, 2, 2, 1), (1, 1, 3, 4)], _CONV_NCHW, label="NCHW strided dilated"),
    Case([(1, 5, 4, 1), (3, 2, 1, 2), (1, 2, 2, 2)], _CONV_VALID, label="VALID strided"),
    Case([(0, 4, 4, 2), (2, 2, 2, 3), (0, 4, 4, 3)], _CONV_BASIC, label="zero-size batch"),
]

_CONV_INVALID = [
    Invalid([(1, 4, 4, 2), (2, 2, 3, 1)], _CONV_BASIC, label="channel mismatch"),
    Invalid([(1, 4, 4, 2), (2, 2, 2, 1)], {**_CONV_BASIC, "padding": "FULL"}, "OpDefinitionError", "bad padding"),
    Invalid([(1, 4, 4, 2), (2, 2, 2, 1)], {**_CONV_BASIC, "strides": (1, 1, 1)}, "OpDefinitionError", "3 strides"),
    Invalid(
        [(1, 4, 4, 2), (2, 2, 2, 1)], {**_CONV_BASIC, "strides": (2, 1, 1, 1)}, "OpDefinitionError", "batch stride"
    ),
    Invalid([(1, 2, 2, 1), (3, 3, 1, 1)], {**_CONV_BASIC, "padding": "VALID"}, label="window larger than input"),
    Invalid([(4, 4, 2), (2, 2, 2, 1)], _CONV_BASIC, label="3-D input"),
]


# --------------------------------------------------------------------------- the specs

SPECS = [
    OpSpec(
        "BiasAdd",
        reference=_ref_bias_add,
        draw=_draw_bias_add,
        examples=[
            Case([(2, 3), (3,)]),
            Case([(2, 3, 4, 5), (3,)], {"data_format": "NCHW"}, label="NCHW"),
            Case([(0, 3), (3,)], label="zero-size"),
        ],
        invalid=[
            Invalid([(2, 3), (4,)], label="bias length mismatch"),
            Invalid([(2, 3, 4, 5), (5,)], {"data_format": "NCHW"}, label="NCHW bias length mismatch"),
            Invalid([(2, 3), (1, 3)], label="2-D bias"),
            Invalid([(3,), (3,)], label="1-D value"),
            Invalid([(2, 3), (3,)], {"data_format": "NWHC"}, "OpDefinitionError", "bad data_format"),
        ],
    ),
    OpSpec(
        "BiasAddGrad",
        reference=_ref_bias_add_grad,
        draw=_draw_bias_add_grad,
        examples=[
            Case([(2, 3)]),
            Case([(2, 3, 4, 5)], {"data_format": "NCHW"}, label="NCHW"),
            Case([(0, 3)], label="zero-size"),
        ],
        invalid=[Invalid([(3,)], label="1-D out_backprop")],
        tolerance=4.0,
    ),
    OpSpec(
        "Conv2D",
        reference=_ref_conv2d,
        draw=_draw_conv2d,
        examples=[
            Case([(1, 4, 4, 2), (2, 2, 2, 2)], _CONV_BASIC, label="SAME"),
            Case([(1, 2, 5, 4), (2, 2, 2, 1)], _CONV_NCHW, label="NCHW strided dilated"),
            Case([(2, 5, 5, 1), (3, 2, 1, 2)], _CONV_VALID, label="VALID strided"),
            Case([(0, 4, 4, 2), (2, 2, 2, 3)], _CONV_BASIC, label="zero-size batch"),
        ],
        invalid=_CONV_INVALID,
        tolerance=8.0,
    ),
    OpSpec(
        "Conv2DBackpropInput",
        reference=_ref_conv2d_backprop_input,
        draw=_draw_conv2d_backprop_input,
        examples=_CONV_BACKPROP_EXAMPLES,
        grad_inputs=[1, 2],
        invalid=[
            Invalid([(1, 4, 4, 2), (2, 2, 2, 3), (1, 3, 4, 3)], _CONV_BASIC, label="out_backprop shape"),
            Invalid([(1, 4, 4, 2), (2, 2, 3, 3), (1, 4, 4, 3)], _CONV_BASIC, label="channel mismatch"),
        ],
        tolerance=8.0,
    ),
    OpSpec(
        "Conv2DBackpropFilter",
        reference=_ref_conv2d_backprop_filter,
        draw=_draw_conv2d_backprop_input,
        examples=_CONV_BACKPROP_EXAMPLES,
        grad_inputs=[0, 2],
        invalid=[
            Invalid([(1, 4, 4, 2), (2, 2, 2, 3), (1, 4, 4, 2)], _CONV_BASIC, label="out_backprop shape"),
            Invalid([(1, 4, 4, 2), (2, 2, 3, 3), (1, 4, 4, 3)], _CONV_BASIC, label="channel mismatch"),
        ],
        tolerance=8.0,
    ),
]
