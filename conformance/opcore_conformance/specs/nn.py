"""Conformance specs: nn family (softmax, losses, bias add, conv2d, pooling, their gradient ops, dropout).

The image references loop explicitly over output positions and window offsets
on a zero-padded NHWC copy of the input, so they share nothing with the
backends' im2col kernels. Drawn sizes stay small (batch <= 2, spatial <= 6,
channels <= 3, window <= 3) so finite-difference gradient checks stay fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from opcore_conformance.spec import BadValues, Case, Draw, Invalid, OpSpec, make_array

# --------------------------------------------------------------------------- softmax family


def _ref_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    if logits.size == 0:
        return logits.copy()
    e = np.exp(logits - np.max(logits, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _ref_log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    if logits.size == 0:
        return logits.copy()
    m = np.max(logits, axis=axis, keepdims=True)
    return logits - m - np.log(np.sum(np.exp(logits - m), axis=axis, keepdims=True))


def _draw_softmax(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    return Case([shape], {"axis": axis})


_SOFTMAX_EXAMPLES = [
    Case([(2, 3)], label="matrix"),
    Case([(4,)], {"axis": 0}, label="vector"),
    Case([(0, 3)], label="zero-size batch"),
    Case([(2, 0)], label="zero classes"),
]
_SOFTMAX_INVALID = [
    Invalid([(2, 3)], {"axis": 2}, label="axis out of range"),
    Invalid([()], label="scalar logits"),
]


def _ref_sce(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ls = _ref_log_softmax(logits, -1)
    return -np.sum(labels * ls, axis=-1), _ref_softmax(logits, -1) - labels


def _draw_sce(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    return Case([shape, shape])


def _ref_sparse_sce(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    classes = logits.shape[-1]
    one_hot = (labels[..., None] == np.arange(classes)).astype(np.float64)
    return _ref_sce(logits, one_hot)


def _draw_sparse_sce(draw: Draw, binding: Mapping[str, str]) -> Case:
    batch = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4))
    classes = draw(st.integers(1, 5))
    return Case([(*batch, classes), batch])


def _sparse_inputs(rng: np.random.Generator, case: Case, binding: Mapping[str, str]) -> list[Any]:
    logits_shape, labels_shape = case.shapes
    assert isinstance(logits_shape, tuple) and isinstance(labels_shape, tuple)
    logits = make_array(rng, logits_shape, binding["T"], "logits")
    labels = rng.integers(0, logits_shape[-1], size=labels_shape).astype(binding["Tidx"])
    return [logits, labels]


def _ref_sigmoid_ce(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    p = 1.0 / (1.0 + np.exp(-logits))
    return -labels * np.log(p) - (1.0 - labels) * np.log(1.0 - p)


def _draw_same_shapes(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    return Case([shape, shape])


def _draw_unary(draw: Draw, binding: Mapping[str, str]) -> Case:
    return Case([draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))])


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


# --------------------------------------------------------------------------- image geometry (references)


def _hw(values: tuple[int, ...], data_format: str) -> tuple[int, int]:
    return (values[2], values[3]) if data_format == "NCHW" else (values[1], values[2])


def _geometry(size: int, window: int, stride: int, dilation: int, padding: str) -> tuple[int, int, int]:
    """(output size, padding before, padded size) along one spatial dim, as TensorFlow defines them."""
    eff = (window - 1) * dilation + 1
    if padding == "SAME":
        out = -(-size // stride)
        total = max((out - 1) * stride + eff - size, 0)
        return out, total // 2, size + total
    return (size - eff) // stride + 1, 0, size


def _to_nhwc(x: np.ndarray, data_format: str) -> np.ndarray:
    return np.transpose(x, (0, 2, 3, 1)) if data_format == "NCHW" else x


def _from_nhwc(x: np.ndarray, data_format: str) -> np.ndarray:
    return np.transpose(x, (0, 3, 1, 2)) if data_format == "NCHW" else x


class _Grid:
    """Output positions and window offsets of one conv/pool call, in padded NHWC coordinates."""

    def __init__(
        self, h: int, w: int, kh: int, kw: int, strides: Any, dilations: Any, padding: str, data_format: str
    ) -> None:
        self.sh, self.sw = _hw(tuple(strides), data_format)
        self.dh, self.dw = _hw(tuple(dilations), data_format)
        self.kh, self.kw = kh, kw
        self.h, self.w = h, w
        self.ho, self.top, self.hp = _geometry(h, kh, self.sh, self.dh, padding)
        self.wo, self.left, self.wp = _geometry(w, kw, self.sw, self.dw, padding)

    def padded(self, x: np.ndarray, fill: float = 0.0) -> np.ndarray:
        xp = np.full((x.shape[0], self.hp, self.wp, x.shape[3]), fill)
        xp[:, self.top : self.top + self.h, self.left : self.left + self.w, :] = x
        return xp

    def crop(self, xp: np.ndarray) -> np.ndarray:
        return xp[:, self.top : self.top + self.h, self.left : self.left + self.w, :]

    def taps(self, i: int, j: int) -> list[tuple[int, int, int, int]]:
        """(a, b, row, col) for every window offset (a, b) of output position (i, j), row-major."""
        return [
            (a, b, i * self.sh + a * self.dh, j * self.sw + b * self.dw) for a in range(self.kh) for b in range(self.kw)
        ]

    def real(self, row: int, col: int) -> bool:
        return self.top <= row < self.top + self.h and self.left <= col < self.left + self.w


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


def _image(n: int, h: int, w: int, c: int, fmt: str) -> tuple[int, int, int, int]:
    return (n, c, h, w) if fmt == "NCHW" else (n, h, w, c)


def _four(h: int, w: int, fmt: str) -> tuple[int, int, int, int]:
    return (1, 1, h, w) if fmt == "NCHW" else (1, h, w, 1)


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
_POOL_INVALID = [
    Invalid([(1, 4, 4, 2)], {**_POOL_BASIC, "ksize": (2, 2, 2, 1)}, "OpDefinitionError", "batch window"),
    Invalid([(1, 4, 4, 2)], {**_POOL_BASIC, "padding": "same"}, "OpDefinitionError", "bad padding"),
    Invalid([(1, 2, 2, 2)], {**_POOL_VALID}, label="window larger than input"),
    Invalid([(4, 4, 2)], _POOL_BASIC, label="3-D input"),
]


# --------------------------------------------------------------------------- dropout


def _check_dropout(output: np.ndarray, rate: float, seed: int, seed2: int) -> None:
    """Inputs are all ones: every output is 0 or 1/(1-rate), and about 1-rate of them are kept."""
    scale = 1.0 / (1.0 - rate)
    out = np.asarray(output, dtype=np.float64)
    kept = np.isclose(out, scale, rtol=1e-3)
    assert np.all(kept | (out == 0)), f"values other than 0 and {scale}: {np.unique(out)[:5]}"
    if out.size >= 1000:
        p = 1.0 - rate
        tol = 6 * np.sqrt(p * (1 - p) / out.size) + 1e-3
        assert abs(kept.mean() - p) <= tol, f"kept fraction {kept.mean():.4f}, expected {p} +- {tol:.4f}"


def _ones_input(rng: np.random.Generator, case: Case, binding: Mapping[str, str]) -> list[Any]:
    (shape,) = case.shapes
    assert isinstance(shape, tuple)
    return [np.ones(shape, dtype=binding["T"])]


_SAMPLE_SHAPES = [(40, 30), (1500,), (10, 10, 12)]


def _draw_sample_shape(draw: Draw) -> tuple[int, ...]:
    """Mostly large shapes (for the statistics), sometimes small or empty ones."""
    small = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)
    return tuple(draw(st.one_of(st.sampled_from(_SAMPLE_SHAPES), small)))


def _draw_dropout(draw: Draw, binding: Mapping[str, str]) -> Case:
    rate = draw(st.sampled_from([0.0, 0.1, 0.5, 0.9]))
    seed, seed2 = draw(st.integers(0, 2**31)), draw(st.integers(0, 2**31))
    return Case([_draw_sample_shape(draw)], {"rate": rate, "seed": seed, "seed2": seed2})


_SEEDS = {"seed": 1, "seed2": 2}


SPECS = [
    OpSpec(
        "Softmax",
        reference=_ref_softmax,
        draw=_draw_softmax,
        examples=_SOFTMAX_EXAMPLES,
        domains=["logits"],
        invalid=_SOFTMAX_INVALID,
        tolerance=2.0,
    ),
    OpSpec(
        "LogSoftmax",
        reference=_ref_log_softmax,
        draw=_draw_softmax,
        examples=_SOFTMAX_EXAMPLES,
        domains=["logits"],
        invalid=_SOFTMAX_INVALID,
        tolerance=2.0,
    ),
    OpSpec(
        "SoftmaxCrossEntropyWithLogits",
        reference=_ref_sce,
        draw=_draw_sce,
        examples=[
            Case([(2, 3), (2, 3)]),
            Case([(4,), (4,)], label="one example"),
            Case([(0, 3), (0, 3)], label="zero-size"),
        ],
        domains=["logits", "probs"],
        invalid=[Invalid([(2, 3), (2, 4)], label="class mismatch"), Invalid([(), ()], label="scalars")],
        tolerance=4.0,
    ),
    OpSpec(
        "SparseSoftmaxCrossEntropyWithLogits",
        reference=_ref_sparse_sce,
        draw=_draw_sparse_sce,
        examples=[
            Case([(3, 4), (3,)]),
            Case([(5,), ()], label="scalar label"),
            Case([(0, 3), (0,)], label="zero-size"),
        ],
        make_inputs=_sparse_inputs,
        grad_inputs=[0],
        invalid=[
            Invalid([(2, 5), (3,)], label="batch mismatch"),
            Invalid([(2, 5), (2, 1)], label="labels rank"),
            Invalid([(2, 5), (2,)], dtypes=["float32", "float32"], error="DTypeError", label="float labels"),
        ],
        bad_values=[
            # NumPy used to raise a plain ValueError here, and OpenCL to give a NaN row.
            BadValues([(3, 4), (3,)], {1: [1, 4, 0]}, mentions=["labels[1] = 4"], label="a label = classes"),
            BadValues(
                [(2, 2, 3), (2, 2)], {1: [[0, 2], [-1, 7]]}, mentions=["labels[1, 0] = -1"], label="a negative label"
            ),
            BadValues([(5,), ()], {1: 5}, mentions=["labels = 5"], label="a scalar label"),
        ],
        tolerance=4.0,
    ),
    OpSpec(
        "SigmoidCrossEntropyWithLogits",
        reference=_ref_sigmoid_ce,
        draw=_draw_same_shapes,
        examples=[Case([(), ()], label="scalar"), Case([(0, 3), (0, 3)], label="zero-size"), Case([(2, 3), (2, 3)])],
        domains=["logits", "probs"],
        invalid=[Invalid([(2, 3), (3,)], label="shape mismatch")],
        tolerance=2.0,
    ),
    OpSpec(
        "L2Loss",
        reference=lambda t: np.asarray(0.5 * np.sum(t * t)),
        draw=_draw_unary,
        examples=[Case([()], label="scalar"), Case([(0, 3)], label="zero-size"), Case([(2, 3, 4)])],
        invalid=[Invalid([(2,)], dtypes=["int32"], error="DTypeError", label="int32")],
        tolerance=4.0,
    ),
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
        examples=[
            Case([(1, 3, 3, 1), (2, 2, 1, 2), (1, 3, 3, 2)], _CONV_BASIC, label="SAME"),
            Case([(1, 2, 5, 4), (2, 2, 2, 1), (1, 1, 3, 4)], _CONV_NCHW, label="NCHW strided dilated"),
            Case([(1, 5, 4, 1), (3, 2, 1, 2), (1, 2, 2, 2)], _CONV_VALID, label="VALID strided"),
            Case([(0, 4, 4, 2), (2, 2, 2, 3), (0, 4, 4, 3)], _CONV_BASIC, label="zero-size batch"),
        ],
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
        examples=[
            Case([(1, 3, 3, 1), (2, 2, 1, 2), (1, 3, 3, 2)], _CONV_BASIC, label="SAME"),
            Case([(1, 2, 5, 4), (2, 2, 2, 1), (1, 1, 3, 4)], _CONV_NCHW, label="NCHW strided dilated"),
            Case([(1, 5, 4, 1), (3, 2, 1, 2), (1, 2, 2, 2)], _CONV_VALID, label="VALID strided"),
            Case([(0, 4, 4, 2), (2, 2, 2, 3), (0, 4, 4, 3)], _CONV_BASIC, label="zero-size batch"),
        ],
        grad_inputs=[0, 2],
        invalid=[
            Invalid([(1, 4, 4, 2), (2, 2, 2, 3), (1, 4, 4, 2)], _CONV_BASIC, label="out_backprop shape"),
            Invalid([(1, 4, 4, 2), (2, 2, 3, 3), (1, 4, 4, 3)], _CONV_BASIC, label="channel mismatch"),
        ],
        tolerance=8.0,
    ),
    OpSpec(
        "MaxPool",
        reference=_ref_max_pool,
        draw=_draw_pool,
        examples=[
            Case([(1, 4, 4, 2)], _POOL_BASIC, label="SAME"),
            Case([(2, 2, 3, 5)], _POOL_NCHW, label="NCHW"),
            Case([(1, 5, 4, 1)], _POOL_VALID, label="VALID"),
            Case([(0, 4, 4, 2)], _POOL_BASIC, label="zero-size batch"),
        ],
        make_inputs=_distinct_inputs,
        invalid=_POOL_INVALID,
    ),
    OpSpec(
        "AvgPool",
        reference=_ref_avg_pool,
        draw=_draw_pool,
        examples=[
            Case([(1, 4, 4, 2)], _POOL_BASIC, label="SAME"),
            Case([(2, 2, 3, 5)], _POOL_NCHW, label="NCHW"),
            Case([(1, 5, 4, 1)], _POOL_VALID, label="VALID"),
            Case([(0, 4, 4, 2)], _POOL_BASIC, label="zero-size batch"),
        ],
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
    OpSpec(
        "Dropout",
        reference=_check_dropout,
        draw=_draw_dropout,
        examples=[
            Case([(50, 40)], {"rate": 0.5, **_SEEDS}, label="large"),
            Case([(2, 3)], {"rate": 0.0, **_SEEDS}, label="rate 0"),
            Case([()], {"rate": 0.3, **_SEEDS}, label="scalar"),
            Case([(0, 3)], {"rate": 0.3, **_SEEDS}, label="zero-size"),
        ],
        make_inputs=_ones_input,
        invalid=[
            Invalid([(2, 3)], {"rate": 1.0, **_SEEDS}, "OpDefinitionError", "rate 1"),
            Invalid([(2, 3)], {"rate": -0.1, **_SEEDS}, "OpDefinitionError", "negative rate"),
        ],
        random=True,
    ),
]
