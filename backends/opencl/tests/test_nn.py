"""OpenCL nn kernels against the NumPy backend on shapes larger than the conformance suite draws."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import opcore

pytestmark = pytest.mark.skipif(not opcore.get_backend("opencl").availability()[0], reason="no OpenCL device")


def _run(backend: str, name: str, inputs: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    tensors = [opcore.constant(x, backend=backend) for x in inputs]
    with opcore.use_backend(backend):
        out = opcore.get_op(name)(*tensors, **attrs)
    return [np.asarray(o.numpy()) for o in (out if isinstance(out, (list, tuple)) else [out])]


def _same(name: str, inputs: list[np.ndarray], attrs: dict[str, Any], rtol: float = 1e-5) -> list[np.ndarray]:
    got = _run("opencl", name, inputs, attrs)
    ref = _run("numpy", name, inputs, attrs)
    for g, r in zip(got, ref):
        assert g.shape == r.shape and g.dtype == r.dtype
        scale = max(float(np.abs(r[np.isfinite(r)]).max(initial=0.0)), 1.0)  # NaN/inf entries must match exactly
        np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol * scale, err_msg=name)
    return got


def _four(h: int, w: int, fmt: str) -> tuple[int, int, int, int]:
    return (1, 1, h, w) if fmt == "NCHW" else (1, h, w, 1)


def _image(n: int, h: int, w: int, c: int, fmt: str) -> tuple[int, int, int, int]:
    return (n, c, h, w) if fmt == "NCHW" else (n, h, w, c)


RNG = np.random.default_rng(0)


@pytest.mark.parametrize("fmt", ["NHWC", "NCHW"])
@pytest.mark.parametrize("padding", ["SAME", "VALID"])
@pytest.mark.parametrize("stride, dilation", [(1, 1), (2, 1), (1, 2), (3, 2)])
def test_conv2d_and_its_gradients_match_numpy(fmt: str, padding: str, stride: int, dilation: int) -> None:
    x = RNG.standard_normal(_image(3, 11, 9, 4, fmt))
    w = RNG.standard_normal((3, 2, 4, 5))
    attrs = {"strides": _four(stride, stride + 1, fmt), "padding": padding, "data_format": fmt,
             "dilations": _four(dilation, 1, fmt)}  # fmt: skip
    (y,) = _same("Conv2D", [x, w], attrs, rtol=1e-10)
    dy = RNG.standard_normal(y.shape)
    _same("Conv2DBackpropInput", [x, w, dy], attrs, rtol=1e-10)
    _same("Conv2DBackpropFilter", [x, w, dy], attrs, rtol=1e-10)
    _same("Conv2D", [x.astype(np.float32), w.astype(np.float32)], attrs, rtol=1e-5)


@pytest.mark.parametrize("fmt", ["NHWC", "NCHW"])
@pytest.mark.parametrize("padding", ["SAME", "VALID"])
@pytest.mark.parametrize("k, s", [(2, 2), (3, 1), (3, 2), (1, 3)])
def test_pooling_and_its_gradients_match_numpy(fmt: str, padding: str, k: int, s: int) -> None:
    shape = _image(2, 9, 10, 3, fmt)
    x = RNG.permutation(int(np.prod(shape))).reshape(shape) * 0.5
    attrs = {"ksize": _four(k, k + 1, fmt), "strides": _four(s, s, fmt), "padding": padding, "data_format": fmt}
    (y,) = _same("MaxPool", [x], attrs)
    _same("AvgPool", [x], attrs)
    dy = RNG.standard_normal(y.shape)
    _same("MaxPoolGrad", [x, y, dy], attrs)
    _same("AvgPoolGrad", [x, dy], attrs)
    _same("MaxPoolGradGrad", [x, y, RNG.standard_normal(x.shape)], attrs)


def test_max_pool_grad_routes_ties_to_the_first_maximum() -> None:
    x = np.ones((1, 4, 4, 1))
    attrs = {"ksize": (1, 2, 2, 1), "strides": (1, 2, 2, 1), "padding": "VALID", "data_format": "NHWC"}
    (y,) = _run("opencl", "MaxPool", [x], attrs)
    (dx,) = _run("opencl", "MaxPoolGrad", [x, y, np.full((1, 2, 2, 1), 3.0)], attrs)
    expected = np.zeros((4, 4))
    expected[::2, ::2] = 3.0
    np.testing.assert_array_equal(dx[0, :, :, 0], expected)
    (gg,) = _same("MaxPoolGradGrad", [x, y, np.arange(16.0).reshape(1, 4, 4, 1)], attrs)
    np.testing.assert_array_equal(gg.reshape(-1), [0.0, 2.0, 8.0, 10.0])


def test_overlapping_windows_sum_into_shared_elements() -> None:
    # Stride 1 with 3x3 windows: an element is the maximum of up to 9 windows.
    x = np.zeros((1, 5, 5, 1))
    x[0, 2, 2, 0] = 1.0
    attrs = {"ksize": (1, 3, 3, 1), "strides": (1, 1, 1, 1), "padding": "SAME", "data_format": "NHWC"}
    (y,) = _run("opencl", "MaxPool", [x], attrs)
    (dx,) = _same("MaxPoolGrad", [x, y, np.ones(y.shape)], attrs)
    assert dx[0, 2, 2, 0] == 9.0


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_softmax_any_axis_and_extreme_logits(axis: int) -> None:
    x = RNG.standard_normal((5, 6, 7)) * 30
    x[0, 0, 0] = 1000.0
    x[1, 1, 1] = -1000.0
    for dtype in (np.float32, np.float64):
        (s,) = _same("Softmax", [x.astype(dtype)], {"axis": axis})
        (ls,) = _same("LogSoftmax", [x.astype(dtype)], {"axis": axis})
        assert np.all(np.isfinite(s)) and np.all(np.isfinite(ls))
        np.testing.assert_allclose(s.sum(axis=axis), 1.0, rtol=1e-5)


def _special_rows(x: np.ndarray) -> np.ndarray:
    """``x`` with a NaN row, a row holding +inf, an all -inf row and a row with -inf entries (where it has rows)."""
    x = x.copy()
    specials = [(0, [np.nan]), (1, [np.inf]), (2, None), (3, [-np.inf, -np.inf])]
    for r, values in specials:
        if r < x.shape[0] and x.shape[1] > 0:
            if values is None:
                x[r] = -np.inf
            else:
                x[r, : len(values)] = values[: x.shape[1]]
    return x


def _row_shapes() -> list[tuple[int, int]]:
    from opcore_ckernels.kernels import nn

    return [
        (9, 1),  # rows of one element
        (6, 3),
        (5, 33),  # not a power of two, longer than a CPU work-group's 32 work-items
        (4, 257),
        (3, 3001),  # longer than any work-group: every work-item strides through the row
        (nn.ROWS_PER_ITEM + 3, nn.SHORT_ROW),  # many short rows: one work-item per row
        (nn.ROWS_PER_ITEM, nn.SHORT_ROW + 1),
    ]


@pytest.mark.parametrize("shape", _row_shapes(), ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_family_on_every_row_layout_with_nan_and_inf_rows(shape: tuple[int, int], dtype: Any) -> None:
    x = _special_rows(RNG.standard_normal(shape) * 20).astype(dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    with np.errstate(invalid="ignore"):  # inf - inf in the NumPy reference
        (s,) = _same("Softmax", [x], {"axis": -1}, rtol=rtol)
        _same("LogSoftmax", [x], {"axis": -1}, rtol=rtol)
        z = RNG.dirichlet(np.ones(shape[1]), size=shape[0]).astype(dtype)
        _same("SoftmaxCrossEntropyWithLogits", [x, z], {}, rtol=rtol)
        labels = RNG.integers(0, shape[1], size=shape[0])
        _same("SparseSoftmaxCrossEntropyWithLogits", [x, labels.astype(np.int32)], {}, rtol=rtol)
    finite = np.isfinite(x).all(axis=1)
    np.testing.assert_allclose(s[finite].sum(axis=1), 1.0, rtol=1e-5)
    assert np.isnan(s[0]).all()  # a NaN anywhere in a row makes the whole row NaN, as on NumPy


def test_softmax_family_with_gpu_sized_work_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    # A CPU device gets work-groups of at most CPU_ROW_GROUP; run the GPU layout (up to 256 work-items) here too.
    from opcore_ckernels.kernels import _common

    monkeypatch.setattr(_common, "CPU_ROW_GROUP", 1 << 30)
    for shape in [(3, 3001), (4, 257), (5, 40), (2, 1)]:
        x = _special_rows(RNG.standard_normal(shape) * 20)
        with np.errstate(invalid="ignore"):
            _same("Softmax", [x], {"axis": -1}, rtol=1e-12)
            _same("LogSoftmax", [x], {"axis": -1}, rtol=1e-12)
            _same("SoftmaxCrossEntropyWithLogits", [x, RNG.dirichlet(np.ones(shape[1]), size=shape[0])], {}, rtol=1e-12)
            labels = RNG.integers(0, shape[1], size=shape[0])
            _same("SparseSoftmaxCrossEntropyWithLogits", [x, labels], {}, rtol=1e-12)


def test_sparse_cross_entropy_out_of_range_label_in_work_group_rows() -> None:
    from opcore_ckernels.checks import disabled

    logits = RNG.standard_normal((3, 500))
    with pytest.raises(opcore.InvalidIndexError, match=r"labels\[2\] = 500 is out of range"):
        _run("opencl", "SparseSoftmaxCrossEntropyWithLogits", [logits, np.array([1, 4, 500])], {})
    with disabled():
        loss, backprop = _run("opencl", "SparseSoftmaxCrossEntropyWithLogits", [logits, np.array([1, -1, 7])], {})
    assert np.isnan(loss[1]) and np.all(np.isnan(backprop[1]))
    assert np.all(np.isfinite(loss[[0, 2]])) and np.all(np.isfinite(backprop[[0, 2]]))


def test_cross_entropies_on_long_rows() -> None:
    logits = RNG.standard_normal((7, 1000)) * 5
    labels = RNG.dirichlet(np.ones(1000), size=7)
    _same("SoftmaxCrossEntropyWithLogits", [logits, labels], {}, rtol=1e-10)
    ids = RNG.integers(0, 1000, size=7)
    _same("SparseSoftmaxCrossEntropyWithLogits", [logits, ids.astype(np.int64)], {}, rtol=1e-10)
    _same("SparseSoftmaxCrossEntropyWithLogits", [logits.astype(np.float32), ids.astype(np.int32)], {})
    z = RNG.uniform(size=(30, 40))
    _same("SigmoidCrossEntropyWithLogits", [RNG.standard_normal((30, 40)) * 50, z], {}, rtol=1e-10)


@pytest.mark.parametrize("backend", ["numpy", "opencl"])
def test_sparse_cross_entropy_out_of_range_label_raises(backend: str) -> None:
    logits = RNG.standard_normal((3, 4))
    with pytest.raises(opcore.InvalidIndexError) as e:
        _run(backend, "SparseSoftmaxCrossEntropyWithLogits", [logits, np.array([1, 4, -1])], {})
    assert str(e.value) == (
        "SparseSoftmaxCrossEntropyWithLogits: labels[1] = 4 is out of range: it must be in [0, 4), "
        "the number of classes (the last dimension of logits)"
    )


def test_sparse_cross_entropy_kernel_without_its_check_still_reads_nothing_out_of_bounds() -> None:
    from opcore_ckernels.checks import disabled

    logits = RNG.standard_normal((3, 4))
    with disabled():
        loss, backprop = _run("opencl", "SparseSoftmaxCrossEntropyWithLogits", [logits, np.array([1, 4, 0])], {})
    assert np.isnan(loss[1]) and np.all(np.isnan(backprop[1]))
    assert np.all(np.isfinite(loss[[0, 2]])) and np.all(np.isfinite(backprop[[0, 2]]))


def test_reductions_on_large_inputs() -> None:
    t = RNG.standard_normal((300, 501))
    _same("L2Loss", [t], {}, rtol=1e-10)
    _same("L2Loss", [t.astype(np.float32)], {}, rtol=1e-5)
    big = RNG.standard_normal(1_000_003)  # a full sum in chunks, then a second pass
    _same("L2Loss", [big], {}, rtol=1e-10)
    _same("L2Loss", [big.astype(np.float32)], {}, rtol=1e-5)
    _same("L2Loss", [np.zeros((0, 3))], {})
    cases = [("NHWC", (8, 13, 17, 6)), ("NCHW", (8, 6, 13, 17)), ("NCHW", (4000, 3)), ("NCHW", (1, 5, 60, 70)),
             ("NHWC", (9000, 3)), ("NHWC", (2, 3, 0))]  # fmt: skip
    for fmt, shape in cases:
        v = RNG.standard_normal(shape)
        _same("BiasAddGrad", [v], {"data_format": fmt}, rtol=1e-10)
        c = shape[1] if fmt == "NCHW" and len(shape) >= 3 else shape[-1]
        _same("BiasAdd", [v, RNG.standard_normal(c)], {"data_format": fmt}, rtol=1e-12)


def test_index_maps_are_built_once_per_geometry() -> None:
    rt = opcore.get_backend("opencl").runtime
    x, w = RNG.standard_normal((2, 7, 7, 3)), RNG.standard_normal((3, 3, 3, 2))
    attrs = {"strides": (1, 2, 2, 1), "padding": "SAME", "data_format": "NHWC", "dilations": (1, 1, 1, 1)}
    _run("opencl", "Conv2D", [x, w], attrs)
    before = dict(rt.counters)
    # Another batch size: the maps are per image, so nothing new is built or uploaded besides the inputs.
    _run("opencl", "Conv2D", [RNG.standard_normal((5, 7, 7, 3)), w], attrs)
    assert rt.counters["builds"] == before.get("builds", 0)
    assert rt.counters["host_to_device"] - before.get("host_to_device", 0) == 2


# Images for the direct window kernels (pooling and its gradients, Conv2DBackpropInput's col2im): one
# work-item per channel (NHWC) or column (NCHW) of a position, so channel counts and widths off every
# work-group size, single rows and columns, channels beyond the largest work-group, and an even size that
# 2x2 windows tile.
DIRECT_IMAGES = [(1, 1, 1, 1), (2, 1, 7, 3), (3, 13, 1, 37), (1, 5, 6, 1030), (5, 17, 19, 64), (2, 33, 70, 5),
                 (2, 8, 6, 5)]  # fmt: skip


@pytest.mark.parametrize("fmt", ["NHWC", "NCHW"])
@pytest.mark.parametrize("n, h, w, c", DIRECT_IMAGES)
def test_direct_average_pooling_matches_numpy_on_odd_shapes(fmt: str, n: int, h: int, w: int, c: int) -> None:
    x = RNG.standard_normal(_image(n, h, w, c, fmt))
    for (kh, kw), (sh, sw), padding in [((3, 3), (1, 1), "SAME"), ((2, 3), (3, 2), "SAME"), ((1, 2), (1, 1), "VALID"),
                                        ((4, 1), (2, 1), "SAME")]:  # fmt: skip
        if padding == "VALID" and (kh > h or kw > w):
            continue
        attrs = {"ksize": _four(kh, kw, fmt), "strides": _four(sh, sw, fmt), "padding": padding, "data_format": fmt}
        (y,) = _same("AvgPool", [x], attrs, rtol=1e-12)
        dy = RNG.standard_normal(y.shape)
        _same("AvgPoolGrad", [x, dy], attrs, rtol=1e-12)
        _same("AvgPool", [x.astype(np.float32)], attrs, rtol=1e-6)
        _same("AvgPoolGrad", [x.astype(np.float32), dy.astype(np.float32)], attrs, rtol=1e-6)


_CONV_GEOMETRIES = [((3, 3), (1, 1), (1, 1), "VALID"), ((3, 2), (2, 3), (1, 1), "SAME"),
                    ((2, 2), (1, 1), (2, 3), "SAME"), ((1, 1), (2, 2), (1, 1), "VALID")]  # fmt: skip


def _conv_geometries(h: int, w: int) -> list[tuple[tuple[int, int], tuple[int, int], tuple[int, int], str]]:
    """(window, strides, dilations, padding) of the direct-kernel tests that fit an h x w image."""
    return [
        (k, s, d, padding)
        for k, s, d, padding in _CONV_GEOMETRIES
        if padding == "SAME" or ((k[0] - 1) * d[0] < h and (k[1] - 1) * d[1] < w)
    ]


@pytest.mark.parametrize("fmt", ["NHWC", "NCHW"])
@pytest.mark.parametrize("n, h, w, c", DIRECT_IMAGES)
def test_direct_col2im_matches_numpy_on_odd_shapes(fmt: str, n: int, h: int, w: int, c: int) -> None:
    x = RNG.standard_normal(_image(n, h, w, c, fmt))
    for (kh, kw), (sh, sw), (dh, dw), padding in _conv_geometries(h, w):
        wts = RNG.standard_normal((kh, kw, c, 3))
        attrs = {"strides": _four(sh, sw, fmt), "padding": padding, "data_format": fmt,
                 "dilations": _four(dh, dw, fmt)}  # fmt: skip
        y = _run("numpy", "Conv2D", [x, wts], attrs)[0]
        dy = RNG.standard_normal(y.shape)
        _same("Conv2DBackpropInput", [x, wts, dy], attrs, rtol=1e-10)
        _same("Conv2DBackpropInput", [x.astype(np.float32), wts.astype(np.float32), dy.astype(np.float32)], attrs,
              rtol=1e-5)  # fmt: skip


@pytest.mark.parametrize("n, h, w, c", DIRECT_IMAGES)
def test_direct_im2col_matches_numpy_on_odd_shapes(monkeypatch: pytest.MonkeyPatch, n: int, h: int, w: int,
                                                   c: int) -> None:  # fmt: skip
    # Conv2D and its filter gradient (NHWC) through the direct im2col, whatever the channels.
    from opcore_ckernels.kernels import image as kernels

    monkeypatch.setattr(kernels, "DIRECT_IM2COL_CHANNELS", 1)
    x = RNG.standard_normal((n, h, w, c))
    for (kh, kw), (sh, sw), (dh, dw), padding in _conv_geometries(h, w):
        wts = RNG.standard_normal((kh, kw, c, 3))
        attrs = {"strides": (1, sh, sw, 1), "padding": padding, "data_format": "NHWC", "dilations": (1, dh, dw, 1)}
        (y,) = _same("Conv2D", [x, wts], attrs, rtol=1e-10)
        dy = RNG.standard_normal(y.shape)
        _same("Conv2DBackpropFilter", [x, wts, dy], attrs, rtol=1e-10)
        _same("Conv2D", [x.astype(np.float32), wts.astype(np.float32)], attrs, rtol=1e-5)


def test_direct_kernels_need_no_index_maps() -> None:
    rt = opcore.get_backend("opencl").runtime
    x, w = RNG.standard_normal((2, 9, 8, 3)), RNG.standard_normal((3, 3, 3, 4))
    conv = {"strides": (1, 1, 1, 1), "padding": "SAME", "data_format": "NHWC", "dilations": (1, 1, 1, 1)}
    pool = {"ksize": (1, 3, 3, 1), "strides": (1, 1, 1, 1), "padding": "SAME", "data_format": "NHWC"}
    dy = RNG.standard_normal((2, 9, 8, 4))
    x16, w16 = RNG.standard_normal((2, 9, 8, 16)), RNG.standard_normal((3, 3, 16, 2))  # im2col: direct from 16
    _run("opencl", "Conv2DBackpropInput", [x, w, dy], conv)
    _run("opencl", "Conv2D", [x16, w16], conv)
    _run("opencl", "AvgPool", [x], pool)
    _run("opencl", "MaxPool", [x], pool)
    _run("opencl", "AvgPoolGrad", [x, x], pool)
    before = rt.counters["host_to_device"]
    _run("opencl", "Conv2DBackpropInput", [x, w, dy[:, ::2]], {**conv, "strides": (1, 2, 1, 1)})
    _run("opencl", "Conv2D", [x16, w16], {**conv, "strides": (1, 2, 1, 1)})
    _run("opencl", "AvgPool", [x], {**pool, "ksize": (1, 2, 4, 1)})
    _run("opencl", "MaxPool", [x], {**pool, "ksize": (1, 2, 4, 1)})
    _run("opencl", "AvgPoolGrad", [x, x[:, :, :, :]], {**pool, "ksize": (1, 2, 4, 1)})
    # A new geometry uploads only the call's inputs (3 + 2 + 1 + 1 + 2), no maps or weights (Conv2D: NHWC).
    assert rt.counters["host_to_device"] - before == 9


@pytest.mark.parametrize("fmt", ["NHWC", "NCHW"])
@pytest.mark.parametrize("n, h, w, c", DIRECT_IMAGES)
def test_max_pool_grad_of_disjoint_windows_matches_numpy(fmt: str, n: int, h: int, w: int, c: int) -> None:
    # Windows that do not overlap scatter each gradient to its window's first maximum: ties (rounded
    # values), padding (SAME), gaps between windows (stride > window) and leftover rows.
    x = np.round(RNG.standard_normal(_image(n, h, w, c, fmt)) * 2) / 2
    for (kh, kw), (sh, sw), padding in [((2, 2), (2, 2), "VALID"), ((2, 3), (2, 3), "SAME"), ((1, 2), (3, 2), "SAME"),
                                        ((3, 1), (4, 2), "VALID"), ((1, 1), (1, 1), "VALID")]:  # fmt: skip
        if padding == "VALID" and (kh > h or kw > w):
            continue
        attrs = {"ksize": _four(kh, kw, fmt), "strides": _four(sh, sw, fmt), "padding": padding, "data_format": fmt}
        (y,) = _run("numpy", "MaxPool", [x], attrs)
        dy = RNG.standard_normal(y.shape)
        _same("MaxPoolGrad", [x, y, dy], attrs, rtol=0)
        _same("MaxPoolGrad", [x.astype(np.float32), y.astype(np.float32), dy.astype(np.float32)], attrs, rtol=0)


def _window_max(x: np.ndarray, k: tuple[int, int], s: tuple[int, int], out_hw: tuple[int, int],
                pad: tuple[int, int]) -> np.ndarray:  # fmt: skip
    """MaxPool (NHWC) by its rule: over a window's real elements in row-major order, a greater value or a NaN
    replaces the running maximum (the last NaN wins, of equal values the first); -inf for no real element."""
    n, h, w, c = x.shape
    acc = np.full((n, *out_hw, c), -np.inf, x.dtype)
    for a, e in np.ndindex(*k):
        r = np.arange(out_hw[0]) * s[0] - pad[0] + a
        t = np.arange(out_hw[1]) * s[1] - pad[1] + e
        ok = ((r >= 0) & (r < h))[:, None] & ((t >= 0) & (t < w))[None, :]
        v = x[:, np.clip(r, 0, h - 1)][:, :, np.clip(t, 0, w - 1)]
        acc = np.where(ok[None, :, :, None] & ((v > acc) | np.isnan(v)), v, acc)
    return acc


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


@pytest.mark.parametrize("fmt", ["NHWC", "NCHW"])
@pytest.mark.parametrize("n, h, w, c", DIRECT_IMAGES)
@pytest.mark.parametrize("direct", [True, False])
def test_max_pooling_keeps_nan_signed_zero_and_tie_rules(monkeypatch: pytest.MonkeyPatch, fmt: str, n: int, h: int,
                                                         w: int, c: int, direct: bool) -> None:  # fmt: skip
    # NaNs with distinct payloads (the last in a window wins), +0 and -0 (the first wins), infinities,
    # padding, windows larger than their stride and strides larger than their window: compared bit for bit,
    # for the direct kernel and the window map (a GPU's for narrow positions).
    if not direct:
        from opcore_ckernels.kernels import pool

        monkeypatch.setattr(opcore.get_backend("opencl").runtime, "cpu", False)
        monkeypatch.setattr(pool, "GPU_DIRECT_LANES", 1 << 30)
    values = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, 2.0])
    for dtype, quiet in [(np.float32, 0x7FC00000), (np.float64, 0x7FF8000000000000), (np.float16, 0x7E00)]:
        x = RNG.choice(values, size=(n, h, w, c)).astype(dtype)
        nan = RNG.random(x.shape) < 0.1
        b = _bits(x)
        b[nan] = (quiet | (np.arange(x.size).reshape(x.shape)[nan] % 60 + 1)).astype(b.dtype)
        for (kh, kw), (sh, sw), padding in [((2, 2), (2, 2), "VALID"), ((3, 3), (1, 1), "SAME"),
                                            ((2, 3), (3, 2), "SAME"), ((1, 2), (1, 1), "VALID")]:  # fmt: skip
            if padding == "VALID" and (kh > h or kw > w):
                continue
            if padding == "SAME":
                ho, wo = -(-h // sh), -(-w // sw)
                pad = (max((ho - 1) * sh + kh - h, 0) // 2, max((wo - 1) * sw + kw - w, 0) // 2)
            else:
                ho, wo, pad = (h - kh) // sh + 1, (w - kw) // sw + 1, (0, 0)
            expected = _window_max(x, (kh, kw), (sh, sw), (ho, wo), pad)
            attrs = {"ksize": _four(kh, kw, fmt), "strides": _four(sh, sw, fmt), "padding": padding, "data_format": fmt}
            (got,) = _run("opencl", "MaxPool", [x.transpose(0, 3, 1, 2) if fmt == "NCHW" else x], attrs)
            got = got.transpose(0, 2, 3, 1) if fmt == "NCHW" else got
            np.testing.assert_array_equal(_bits(np.ascontiguousarray(got)), _bits(expected), err_msg=f"{dtype} {attrs}")


def _first_max_grad(
    x: np.ndarray, dy: np.ndarray, k: tuple[int, int], s: tuple[int, int], pad: tuple[int, int]
) -> np.ndarray:
    """MaxPoolGrad (NHWC) routing each window to its first maximum, NaN winning, padding read as -inf."""
    out = np.zeros_like(x)
    h, w = x.shape[1:3]
    for b, p, q, ch in np.ndindex(*dy.shape):
        best, bv = None, None
        for a, e in np.ndindex(*k):
            r, t = p * s[0] - pad[0] + a, q * s[1] - pad[1] + e
            ok = 0 <= r < h and 0 <= t < w
            v = x[b, r, t, ch] if ok else -np.inf
            if bv is None or v > bv or (np.isnan(v) and not np.isnan(bv)):
                best, bv = ((r, t) if ok else None), v
        if best is not None:
            out[b, best[0], best[1], ch] += dy[b, p, q, ch]
    return out


def test_max_pool_grad_of_disjoint_windows_with_nan_and_infinities() -> None:
    x = np.round(RNG.standard_normal((2, 5, 7, 3)))
    x[0, 0, 0, :] = np.nan
    x[1, :, :, 1] = -np.inf  # padding first in a window, then -inf: the gradient goes nowhere
    x[0, 3, 4, 2] = np.nan
    x[1, 4, 6, 0] = np.inf
    for k, s, padding, pad in [((2, 2), (2, 2), "VALID", (0, 0)), ((2, 3), (2, 3), "SAME", (0, 1))]:
        attrs = {"ksize": (1, *k, 1), "strides": (1, *s, 1), "padding": padding, "data_format": "NHWC"}
        (y,) = _run("opencl", "MaxPool", [x], attrs)
        dy = RNG.standard_normal(y.shape)
        (got,) = _run("opencl", "MaxPoolGrad", [x, y, dy], attrs)
        np.testing.assert_array_equal(got, _first_max_grad(x, dy, k, s, pad))


@pytest.mark.parametrize("fmt", ["NHWC", "NCHW"])
@pytest.mark.parametrize("chunk_images", [1, 2, 3])
@pytest.mark.parametrize(("image_products", "direct"), [(True, True), (False, False), (True, False)])
def test_convolutions_made_a_few_images_at_a_time_match_numpy(
    monkeypatch: pytest.MonkeyPatch, fmt: str, chunk_images: int, image_products: bool, direct: bool
) -> None:
    # On a CPU device Conv2D's im2col + GEMM, the input gradient's GEMM + col2im and the filter gradient's
    # im2col + GEMM run on a few images at a time (offsets into the batch and the output, partial filter
    # gradients added up): 5 images in chunks of 1, 2 (a short last chunk) and 3. A filter gradient of few
    # output tiles is one product per image (image_products), else one per chunk; the per-image gradients
    # of at most PARTS_BYTES at a time (here 2 images when the others take 3).
    from opcore_ckernels import gemm
    from opcore_ckernels.kernels import image as kernels

    # im2col (NHWC): the direct kernel or the map gather whatever the channels
    monkeypatch.setattr(kernels, "DIRECT_IM2COL_CHANNELS", 1 if direct else 1 << 30)
    if not image_products:
        monkeypatch.setattr(gemm, "SPLIT_K_TILES", 0)
    else:
        monkeypatch.setattr(kernels, "IMAGE_PRODUCT_DEPTH", 1)  # these images have few output positions
    if image_products and chunk_images == 3:
        monkeypatch.setattr(kernels, "PARTS_BYTES", 2 * 3 * 2 * 3 * 4 * 8)  # two (kh * kw * C, O) float64 parts
    rt = opcore.get_backend("opencl").runtime
    x = RNG.standard_normal(_image(5, 9, 7, 3, fmt))
    w = RNG.standard_normal((3, 2, 3, 4))
    for stride, dilation, padding in [(1, 1, "VALID"), (2, 1, "SAME"), (1, 2, "SAME")]:
        attrs = {"strides": _four(stride, stride, fmt), "padding": padding, "data_format": fmt,
                 "dilations": _four(dilation, dilation, fmt)}  # fmt: skip
        g = kernels._Geometry(attrs, x.shape, w.shape[:2])
        per_image = g.ho * g.wo * g.taps * g.c * 8
        monkeypatch.setattr(kernels, "CHUNK_BYTES", per_image * chunk_images)
        assert kernels._image_chunk(rt, per_image, 5) == chunk_images
        (y,) = _same("Conv2D", [x, w], attrs, rtol=1e-10)
        dy = RNG.standard_normal(y.shape)
        _same("Conv2DBackpropInput", [x, w, dy], attrs, rtol=1e-10)
        _same("Conv2DBackpropFilter", [x, w, dy], attrs, rtol=1e-10)
        f32 = [a.astype(np.float32) for a in (x, w, dy)]
        monkeypatch.setattr(kernels, "CHUNK_BYTES", per_image // 2 * chunk_images)
        _same("Conv2D", f32[:2], attrs, rtol=1e-5)
        _same("Conv2DBackpropInput", f32, attrs, rtol=1e-5)
        _same("Conv2DBackpropFilter", f32, attrs, rtol=1e-5)
