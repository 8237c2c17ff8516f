"""Fused optimizer updates on the OpenCL backend agree with the NumPy backend."""

from __future__ import annotations

import numpy as np
import pytest

import opcore
from opcore.ops import train as T

SHAPE = (40, 33)

# (op, tensor inputs by kind, scalar inputs, attrs)
CASES = [
    (T.apply_gradient_descent, ["real", 0.1, "real"], {}),
    (T.apply_momentum, ["real", "real", 0.1, "real", 0.9], {"use_nesterov": False}),
    (T.apply_momentum, ["real", "real", 0.1, "real", 0.9], {"use_nesterov": True}),
    (T.apply_adagrad, ["real", "pos", 0.1, "real"], {}),
    (T.apply_adadelta, ["real", "pos", "pos", 0.5, 0.9, 1e-3, "real"], {}),
    (T.apply_rms_prop, ["real", "pos", "real", 0.1, 0.9, 0.5, 1e-3, "real"], {}),
    (T.apply_adam, ["real", "real", "pos", 0.5, 0.3, 0.1, 0.9, 0.99, 1e-3, "real"], {"use_nesterov": False}),
    (T.apply_adam, ["real", "real", "pos", 0.5, 0.3, 0.1, 0.9, 0.99, 1e-3, "real"], {"use_nesterov": True}),
]


def _inputs(layout: list, dtype: str) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    out = []
    for kind in layout:
        if kind == "real":
            out.append(rng.standard_normal(SHAPE).astype(dtype))
        elif kind == "pos":
            out.append(rng.uniform(0.1, 2.0, SHAPE).astype(dtype))
        else:
            out.append(np.asarray(kind, dtype=dtype))
    return out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("op", "layout", "attrs"), CASES)
def test_update_matches_numpy_and_leaves_inputs_alone(op, layout, attrs, dtype: str) -> None:
    host = _inputs(layout, dtype)
    copies = [h.copy() for h in host]
    dev = [opcore.constant(h, backend="opencl") for h in host]
    got = op(*dev, **attrs)
    want = op(*[opcore.constant(h, backend="numpy") for h in host], **attrs)
    got, want = (got, want) if isinstance(got, (list, tuple)) else ([got], [want])
    tol = 1e-5 if dtype == "float32" else 1e-12
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        assert np.allclose(g.numpy(), w.numpy(), rtol=tol, atol=tol)
    for d, c in zip(dev, copies):
        assert np.array_equal(d.numpy(), c)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_optimizer_steps_write_into_the_variable_buffers_when_nothing_else_reads_them(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal((8, 5)).astype(np.float32) for _ in range(5)]
    rt = opcore.get_backend("opencl").runtime
    allocated: list[tuple[int, ...]] = []
    real_empty = rt.empty
    monkeypatch.setattr(rt, "empty", lambda shape, dtype: allocated.append(tuple(shape)) or real_empty(shape, dtype))
    results = {}
    for backend, hold in (("numpy", False), ("opencl", True), ("opencl", False)):
        with opcore.use_backend(backend):
            v = opcore.Variable(np.ones((8, 5), np.float32))
            opt = opcore.train.AdamOptimizer(0.01) if name == "adam" else opcore.train.GradientDescentOptimizer(0.1)
            opt.apply_gradients([(opcore.constant(grads[0]), v)])
            allocated.clear()
            held = []
            for g in grads[1:]:
                if hold:
                    held.append((v.value(), v.numpy()))  # keeps the buffer alive: the update must not write it
                opt.apply_gradients([(opcore.constant(g), v)])
            for tensor, values in held:
                np.testing.assert_array_equal(tensor.numpy(), values)
            if backend == "opencl":
                new_buffers = allocated.count((8, 5))
                # Held: new buffers for the variable (and Adam's two slots) every step; free: none.
                assert new_buffers == (4 * (3 if name == "adam" else 1) if hold else 0), (hold, allocated)
            results[(backend, hold)] = v.numpy()
    np.testing.assert_allclose(results[("opencl", False)], results[("numpy", False)], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(results[("opencl", True)], results[("numpy", False)], rtol=1e-5, atol=1e-6)
