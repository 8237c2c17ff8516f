"""NumPy image kernels against direct loop references, on random geometries.

The kernels take shortcuts (im2col by taps without padding, blocks of images,
separable pooling, a 1x1 fast path, branch-free max routing); the references here
loop over every output position and window offset on an explicitly padded copy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import opcore
from opcore.ops import image
from opcore_numpy.kernels import image as kernels


def _out_and_pad(size: int, k: int, s: int, d: int, padding: str) -> tuple[int, int]:
    eff = (k - 1) * d + 1
    if padding == "SAME":
        out = -(-size // s)
        return out, max((out - 1) * s + eff - size, 0) // 2
    return (size - eff) // s + 1, 0


def _padded(x: np.ndarray, top: int, left: int, ho: int, wo: int, eff: tuple[int, int], s: tuple[int, int]) -> Any:
    n, h, w, c = x.shape
    hp = max(h + top, (ho - 1) * s[0] + eff[0])
    wp = max(w + left, (wo - 1) * s[1] + eff[1])
    xp = np.zeros((n, hp, wp, c), x.dtype)
    xp[:, top : top + h, left : left + w] = x
    real = np.zeros((hp, wp), bool)
    real[top : top + h, left : left + w] = True
    return xp, real


class Geo:
    def __init__(self, x_shape: tuple[int, ...], k: tuple[int, int], s: tuple[int, int], d: tuple[int, int], pad: str):
        _, h, w, _ = x_shape
        self.k, self.s, self.d = k, s, d
        self.ho, self.top = _out_and_pad(h, k[0], s[0], d[0], pad)
        self.wo, self.left = _out_and_pad(w, k[1], s[1], d[1], pad)
        self.eff = ((k[0] - 1) * d[0] + 1, (k[1] - 1) * d[1] + 1)

    def positions(self, i: int, j: int) -> list[tuple[int, int]]:
        """Padded-grid positions of window (i, j), row-major."""
        return [
            (i * self.s[0] + a * self.d[0], j * self.s[1] + b * self.d[1])
            for a in range(self.k[0])
            for b in range(self.k[1])
        ]


def ref_conv(x: np.ndarray, w: np.ndarray, s: Any, d: Any, pad: str) -> tuple[Any, Any, Any]:
    """The output by loops, a function of dy giving (dx, dw) by loops, and the geometry."""
    g = Geo(x.shape, w.shape[:2], s, d, pad)
    xp, _ = _padded(x, g.top, g.left, g.ho, g.wo, g.eff, s)
    n, o = x.shape[0], w.shape[3]
    y = np.zeros((n, g.ho, g.wo, o))
    for i in range(g.ho):
        for j in range(g.wo):
            for k, (r, c) in enumerate(g.positions(i, j)):
                y[:, i, j] += xp[:, r, c] @ w[k // w.shape[1], k % w.shape[1]]

    def grads(dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dxp, dw = np.zeros_like(xp), np.zeros_like(w)
        for i in range(g.ho):
            for j in range(g.wo):
                for k, (r, c) in enumerate(g.positions(i, j)):
                    a, b = k // w.shape[1], k % w.shape[1]
                    dxp[:, r, c] += dy[:, i, j] @ w[a, b].T
                    dw[a, b] += xp[:, r, c].T @ dy[:, i, j]
        h, wd = x.shape[1:3]
        return dxp[:, g.top : g.top + h, g.left : g.left + wd], dw

    return y, grads, g


def ref_pool(x: np.ndarray, k: Any, s: Any, pad: str) -> tuple[np.ndarray, np.ndarray, Any]:
    """(max, avg, first-max position per window as padded coordinates) by loops over real elements."""
    g = Geo(x.shape, k, s, (1, 1), pad)
    xp, real = _padded(x, g.top, g.left, g.ho, g.wo, g.eff, s)
    n, _, _, c = x.shape
    mx = np.zeros((n, g.ho, g.wo, c))
    avg = np.zeros((n, g.ho, g.wo, c))
    arg = np.zeros((n, g.ho, g.wo, c, 2), int)
    for i in range(g.ho):
        for j in range(g.wo):
            pos = [p for p in g.positions(i, j) if real[p]]
            vals = np.stack([xp[:, r, q] for r, q in pos])  # (taps, n, c)
            first = np.argmax(vals, axis=0)  # first maximum in row-major order
            mx[:, i, j] = vals.max(axis=0)
            avg[:, i, j] = vals.mean(axis=0)
            arg[:, i, j] = np.array(pos)[first]
    return mx, avg, (g, arg)


def _nchw(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2))


def _nhwc(a: np.ndarray) -> np.ndarray:
    return a.transpose(0, 2, 3, 1)


def _conv_case(rng: np.random.Generator) -> dict[str, Any]:
    k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    d = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    pad = str(rng.choice(["SAME", "VALID"]))
    h = int(rng.integers((k[0] - 1) * d[0] + 1, 9))
    w = int(rng.integers((k[1] - 1) * d[1] + 1, 9))
    c, o, n = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
    return {"x": (n, h, w, c), "w": (*k, c, o), "s": s, "d": d, "pad": pad, "fmt": str(rng.choice(["NHWC", "NCHW"]))}


CONV_CASES = [_conv_case(np.random.default_rng(seed)) for seed in range(24)]
CONV_CASES += [  # a pointwise convolution (the single-GEMM path) and strided 1x1
    {"x": (2, 5, 4, 3), "w": (1, 1, 3, 2), "s": (1, 1), "d": (1, 1), "pad": "VALID", "fmt": "NHWC"},
    {"x": (2, 5, 4, 3), "w": (1, 1, 3, 2), "s": (1, 1), "d": (3, 2), "pad": "SAME", "fmt": "NCHW"},
    {"x": (2, 5, 4, 3), "w": (1, 1, 3, 2), "s": (2, 3), "d": (1, 1), "pad": "SAME", "fmt": "NHWC"},
]


@pytest.mark.parametrize("per_block", [None, 1, 2], ids=["one block", "block per image", "two per block"])
@pytest.mark.parametrize(
    "case", CONV_CASES, ids=lambda c: f"{c['x']}-{c['w']}-s{c['s']}-d{c['d']}-{c['pad']}-{c['fmt']}"
)
def test_conv2d_and_its_gradients_match_loops(case: dict[str, Any], per_block: int | None, monkeypatch: Any) -> None:
    if per_block is not None:  # several blocks, the last one partial where the batch is odd
        monkeypatch.setattr(kernels._Geometry, "images_per_block", lambda self, c, item: per_block)
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(case["x"][0] + 2, *case["x"][1:])), rng.normal(size=case["w"])
    y_ref, grads, _ = ref_conv(x, w, case["s"], case["d"], case["pad"])
    dy = rng.normal(size=y_ref.shape)
    dx_ref, dw_ref = grads(dy)
    nchw = case["fmt"] == "NCHW"
    to = _nchw if nchw else (lambda a: a)
    attrs = {
        "strides": [1, 1, *case["s"]] if nchw else [1, *case["s"], 1],
        "dilations": [1, 1, *case["d"]] if nchw else [1, *case["d"], 1],
        "padding": case["pad"],
        "data_format": case["fmt"],
    }
    xt, wt, dyt = opcore.constant(to(x)), opcore.constant(w), opcore.constant(to(dy))
    back = _nhwc if nchw else (lambda a: a)
    y = image.conv2d(xt, wt, **attrs).numpy()
    np.testing.assert_allclose(back(y), y_ref, rtol=1e-10, atol=1e-10)
    dx = image.conv2d_backprop_input(xt, wt, dyt, **attrs).numpy()
    np.testing.assert_allclose(back(dx), dx_ref, rtol=1e-10, atol=1e-10)
    dw = image.conv2d_backprop_filter(xt, wt, dyt, **attrs).numpy()
    np.testing.assert_allclose(dw, dw_ref, rtol=1e-10, atol=1e-10)


def _pool_case(rng: np.random.Generator) -> dict[str, Any]:
    k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    pad = str(rng.choice(["SAME", "VALID"]))
    h, w = int(rng.integers(k[0], 8)), int(rng.integers(k[1], 8))
    n, c = int(rng.integers(1, 3)), int(rng.integers(1, 4))
    return {"x": (n, h, w, c), "k": k, "s": s, "pad": pad, "fmt": str(rng.choice(["NHWC", "NCHW"]))}


POOL_CASES = [_pool_case(np.random.default_rng(100 + seed)) for seed in range(24)]
POOL_CASES += [  # the CNN's 2x2/2 pooling and 3x3 SAME average pooling; windows that tile the input
    {"x": (2, 6, 6, 3), "k": (2, 2), "s": (2, 2), "pad": "VALID", "fmt": "NHWC"},
    {"x": (2, 7, 5, 3), "k": (2, 2), "s": (2, 2), "pad": "VALID", "fmt": "NHWC"},
    {"x": (1, 6, 6, 2), "k": (3, 3), "s": (3, 3), "pad": "SAME", "fmt": "NHWC"},
    {"x": (2, 8, 7, 2), "k": (2, 3), "s": (2, 3), "pad": "VALID", "fmt": "NCHW"},
    {"x": (2, 7, 6, 2), "k": (2, 3), "s": (2, 3), "pad": "SAME", "fmt": "NHWC"},
    {"x": (2, 5, 6, 3), "k": (3, 3), "s": (1, 1), "pad": "SAME", "fmt": "NHWC"},
]


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"{c['x']}-k{c['k']}-s{c['s']}-{c['pad']}-{c['fmt']}")
def test_pooling_and_its_gradients_match_loops(case: dict[str, Any], ties: bool) -> None:
    rng = np.random.default_rng(2)
    x = rng.integers(0, 3, size=case["x"]).astype(np.float64) if ties else rng.normal(size=case["x"])
    mx_ref, avg_ref, (g, arg) = ref_pool(x, case["k"], case["s"], case["pad"])
    dy = rng.normal(size=mx_ref.shape)
    gin = rng.normal(size=x.shape)
    # MaxPoolGrad routes each window's dy to its first maximum; MaxPoolGradGrad reads gin there.
    n, h, w, c = x.shape
    dxp = np.zeros((n, h + g.eff[0] + g.ho * g.s[0], w + g.eff[1] + g.wo * g.s[1], c))
    ggin = np.zeros_like(mx_ref)
    for b in range(n):
        for i in range(g.ho):
            for j in range(g.wo):
                for ch in range(c):
                    r, q = arg[b, i, j, ch]
                    dxp[b, r, q, ch] += dy[b, i, j, ch]
                    ggin[b, i, j, ch] = gin[b, r - g.top, q - g.left, ch]
    dmax_ref = dxp[:, g.top : g.top + h, g.left : g.left + w]
    davg_ref = np.zeros((n, h + g.eff[0] + g.ho * g.s[0], w + g.eff[1] + g.wo * g.s[1], c))
    _, real = _padded(x, g.top, g.left, g.ho, g.wo, g.eff, case["s"])
    for i in range(g.ho):
        for j in range(g.wo):
            pos = [p for p in g.positions(i, j) if real[p]]
            for r, q in pos:
                davg_ref[:, r, q] += dy[:, i, j] / len(pos)
    davg_ref = davg_ref[:, g.top : g.top + h, g.left : g.left + w]

    nchw = case["fmt"] == "NCHW"
    to = _nchw if nchw else (lambda a: a)
    back = _nhwc if nchw else (lambda a: a)
    four = (lambda v: [1, 1, *v]) if nchw else (lambda v: [1, *v, 1])
    attrs = {"ksize": four(case["k"]), "strides": four(case["s"]), "padding": case["pad"], "data_format": case["fmt"]}
    xt, dyt, gt = opcore.constant(to(x)), opcore.constant(to(dy)), opcore.constant(to(gin))
    mx = image.max_pool(xt, **attrs)
    np.testing.assert_array_equal(back(mx.numpy()), mx_ref)
    np.testing.assert_allclose(back(image.avg_pool(xt, **attrs).numpy()), avg_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(back(image.max_pool_grad(xt, mx, dyt, **attrs).numpy()), dmax_ref, atol=1e-12)
    np.testing.assert_array_equal(back(image.max_pool_grad_grad(xt, mx, gt, **attrs).numpy()), ggin)
    np.testing.assert_allclose(back(image.avg_pool_grad(xt, dyt, **attrs).numpy()), davg_ref, atol=1e-12)


def test_max_pool_grad_routes_nothing_from_a_nan_window() -> None:
    x = np.array([[1.0, np.nan], [3.0, 2.0]]).reshape(1, 2, 2, 1)
    attrs = {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": "VALID"}
    xt = opcore.constant(x)
    y = image.max_pool(xt, **attrs)
    assert np.isnan(y.numpy()).all()
    dx = image.max_pool_grad(xt, y, opcore.constant(np.ones((1, 1, 1, 1))), **attrs).numpy()
    np.testing.assert_array_equal(dx, np.zeros_like(x))


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_blocked_convolution_keeps_the_dtype(dtype: str, monkeypatch: Any) -> None:
    monkeypatch.setattr(kernels, "_BLOCK_BYTES", 1)
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=(3, 5, 5, 2)).astype(dtype), rng.normal(size=(3, 3, 2, 4)).astype(dtype)
    y = opcore.conv2d(opcore.constant(x), opcore.constant(w), 1, "SAME")
    assert y.dtype == getattr(opcore, dtype)
    y_ref, _, _ = ref_conv(x.astype(np.float64), w.astype(np.float64), (1, 1), (1, 1), "SAME")
    np.testing.assert_allclose(y.numpy().astype(np.float64), y_ref, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize(
    ("shape", "k", "pad", "fmt", "dtype"),
    [
        ((5, 8, 8, 3), (2, 2), "VALID", "NHWC", "float32"),
        ((4, 9, 7, 2), (2, 2), "VALID", "NHWC", "float64"),  # a row and a column left over
        ((3, 9, 6, 4), (3, 3), "SAME", "NHWC", "float16"),
        ((3, 2, 8, 6), (2, 3), "VALID", "NCHW", "float32"),
        ((2, 8, 8, 3), (4, 1), "SAME", "NHWC", "float32"),
        ((2, 6, 6, 1), (1, 1), "VALID", "NHWC", "float32"),
    ],
)
def test_tiled_max_pool_grad_matches_the_per_tap_routing(
    shape: tuple[int, ...], k: tuple[int, int], pad: str, fmt: str, dtype: str, monkeypatch: Any
) -> None:
    """Windows that tile the input take the blocked path; blocks with ties, NaN maxima, signed
    zeros and plain values side by side, on several threads, route exactly as per tap."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=shape)
    n = shape[0]
    x[0] = rng.integers(0, 2, size=shape[1:])  # ties in every window of the first image
    x[1].flat[::5] = np.nan
    if n > 2:
        x[2].flat[::2] = 0.0
        x[2].flat[1::2] = -0.0
    x = x.astype(dtype)
    four = (lambda v: [1, 1, *v]) if fmt == "NCHW" else (lambda v: [1, *v, 1])
    attrs = {"ksize": four(k), "strides": four(k), "padding": pad, "data_format": fmt}
    xt = opcore.constant(x)
    y = image.max_pool(xt, **attrs)
    dyt = opcore.constant(rng.normal(size=y.shape).astype(dtype))
    monkeypatch.setattr(kernels._parallel, "MIN_PER_THREAD", 1)
    monkeypatch.setattr(kernels, "_TILE_BLOCK_BYTES", 1)  # one row of windows per block
    calls = []
    tiled = kernels._tiled_max_pool_grad
    monkeypatch.setattr(kernels, "_tiled_max_pool_grad", lambda *a: calls.append(1) or tiled(*a))
    got = image.max_pool_grad(xt, y, dyt, **attrs).numpy()
    assert calls, "the tiled path was not taken"
    monkeypatch.setattr(kernels, "_tiles", lambda g: False)
    want = image.max_pool_grad(xt, y, dyt, **attrs).numpy()
    assert got.dtype == want.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, want)
    assert np.count_nonzero(got) > 0


@pytest.mark.parametrize("block", [1, 1 << 20])
def test_tiled_max_pool_grad_routes_each_window_once(block: int, monkeypatch: Any) -> None:
    monkeypatch.setattr(kernels, "_TILE_BLOCK_BYTES", block)
    x = np.array([[3.0, 3.0, 1.0, np.nan], [3.0, 0.0, 5.0, 2.0]]).reshape(1, 2, 4, 1)
    attrs = {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": "VALID"}
    xt = opcore.constant(x)
    dx = image.max_pool_grad(
        xt, image.max_pool(xt, **attrs), opcore.constant(np.array([2.0, 7.0]).reshape(1, 1, 2, 1)), **attrs
    )
    np.testing.assert_array_equal(dx.numpy().reshape(2, 4), [[2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
