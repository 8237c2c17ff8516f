"""Conformance specs for the fused optimizer updates (ApplyGradientDescent, ApplyMomentum, ...).

The references restate TensorFlow's update formulas in float64. The ops are
not differentiable, so the suite checks their forward values, shapes, dtypes,
that inputs are not mutated, and that bad shapes fail in the frontend.
Hyperparameters are drawn from the ranges an optimizer uses (learning rates
in (0, 0.5], decay rates in (0.5, 1), beta powers in (0, 1)), and the
accumulators that end under a square root are drawn positive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from hypothesis.extra import numpy as hnp

from opcore_conformance.spec import Case, Draw, Invalid, OpSpec, make_array

# How each input is drawn: "real"/"positive" tensors of the variable's shape, or
# a scalar uniform in (low, high).
Layout = Sequence[tuple[str, Any]]


def _tensor(domain: str = "real") -> tuple[str, Any]:
    return ("tensor", domain)


def _scalar(low: float, high: float) -> tuple[str, Any]:
    return ("scalar", (low, high))


def _shapes(layout: Layout, shape: tuple[int, ...]) -> list[Any]:
    return [shape if kind == "tensor" else () for kind, _ in layout]


def _drawer(layout: Layout) -> Any:
    def draw(draw_fn: Draw, binding: Mapping[str, str]) -> Case:
        shape = draw_fn(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
        return Case(_shapes(layout, tuple(shape)))

    return draw


def _maker(layout: Layout) -> Any:
    def make_inputs(rng: np.random.Generator, case: Case, binding: Mapping[str, str]) -> list[Any]:
        dtype = binding["T"]
        out: list[Any] = []
        for (kind, arg), shape in zip(layout, case.shapes):
            assert not isinstance(shape, list)
            if kind == "tensor":
                out.append(make_array(rng, tuple(shape), dtype, arg))
            else:
                low, high = arg
                out.append(np.asarray(rng.uniform(low, high), dtype=dtype))
        return out

    return make_inputs


def _examples(layout: Layout) -> list[Case]:
    return [
        Case(_shapes(layout, ()), label="scalar"),
        Case(_shapes(layout, (0, 3)), label="zero-size"),
        Case(_shapes(layout, (2, 3)), label="matrix"),
    ]


def _invalid(layout: Layout, op_attrs: dict[str, Any] | None = None) -> list[Invalid]:
    """A grad (last tensor) of another shape, a non-scalar hyperparameter, and an integer dtype."""
    attrs = op_attrs or {}
    tensors = [i for i, (kind, _) in enumerate(layout) if kind == "tensor"]
    scalars = [i for i, (kind, _) in enumerate(layout) if kind == "scalar"]
    bad_grad = _shapes(layout, (2, 3))
    bad_grad[tensors[-1]] = (3, 2)
    bad_scalar = _shapes(layout, (2, 3))
    bad_scalar[scalars[0]] = (2,)
    return [
        Invalid(bad_grad, attrs, label="mismatched shapes"),
        Invalid(bad_scalar, attrs, label="non-scalar hyperparameter"),
        Invalid(_shapes(layout, (2,)), attrs, error="DTypeError", label="int32", dtypes=["int32"] * len(layout)),
    ]


def _spec(op: str, layout: Layout, reference: Any, examples: Sequence[Case] = ()) -> OpSpec:
    return OpSpec(
        op,
        reference=reference,
        draw=_drawer(layout),
        examples=[*_examples(layout), *examples],
        make_inputs=_maker(layout),
        invalid=_invalid(layout),
    )


# --------------------------------------------------------------------------- references


def _gradient_descent(var: np.ndarray, alpha: np.ndarray, delta: np.ndarray) -> np.ndarray:
    return var - alpha * delta


def _momentum(
    var: np.ndarray, accum: np.ndarray, lr: np.ndarray, grad: np.ndarray, momentum: np.ndarray, use_nesterov: bool
) -> tuple[np.ndarray, np.ndarray]:
    accum = momentum * accum + grad
    if use_nesterov:
        var = var - lr * grad - lr * momentum * accum
    else:
        var = var - lr * accum
    return var, accum


def _adagrad(var: np.ndarray, accum: np.ndarray, lr: np.ndarray, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    accum = accum + grad**2
    return var - lr * grad / np.sqrt(accum), accum


def _adadelta(
    var: np.ndarray,
    accum: np.ndarray,
    accum_update: np.ndarray,
    lr: np.ndarray,
    rho: np.ndarray,
    epsilon: np.ndarray,
    grad: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    accum = rho * accum + (1.0 - rho) * grad**2
    update = np.sqrt(accum_update + epsilon) / np.sqrt(accum + epsilon) * grad
    accum_update = rho * accum_update + (1.0 - rho) * update**2
    return var - lr * update, accum, accum_update


def _rms_prop(
    var: np.ndarray,
    ms: np.ndarray,
    mom: np.ndarray,
    lr: np.ndarray,
    rho: np.ndarray,
    momentum: np.ndarray,
    epsilon: np.ndarray,
    grad: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ms = rho * ms + (1.0 - rho) * grad**2
    mom = momentum * mom + lr * grad / np.sqrt(ms + epsilon)
    return var - mom, ms, mom


def _adam(
    var: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    beta1_power: np.ndarray,
    beta2_power: np.ndarray,
    lr: np.ndarray,
    beta1: np.ndarray,
    beta2: np.ndarray,
    epsilon: np.ndarray,
    grad: np.ndarray,
    use_nesterov: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lr_t = lr * np.sqrt(1.0 - beta2_power) / (1.0 - beta1_power)
    m = beta1 * m + (1.0 - beta1) * grad
    v = beta2 * v + (1.0 - beta2) * grad**2
    if use_nesterov:
        var = var - lr_t * (beta1 * m + (1.0 - beta1) * grad) / (np.sqrt(v) + epsilon)
    else:
        var = var - lr_t * m / (np.sqrt(v) + epsilon)
    return var, m, v


# --------------------------------------------------------------------------- specs

_LR = _scalar(0.01, 0.5)
_RATE = _scalar(0.5, 0.99)
_EPS = _scalar(1e-4, 1e-2)

_GD = [_tensor(), _LR, _tensor()]
_MOMENTUM = [_tensor(), _tensor(), _LR, _tensor(), _RATE]
_ADAGRAD = [_tensor(), _tensor("positive"), _LR, _tensor()]
_ADADELTA = [_tensor(), _tensor("positive"), _tensor("positive"), _LR, _RATE, _EPS, _tensor()]
_RMSPROP = [_tensor(), _tensor("positive"), _tensor(), _LR, _RATE, _RATE, _EPS, _tensor()]
_ADAM = [
    _tensor(),
    _tensor(),
    _tensor("positive"),
    _scalar(0.1, 0.9),
    _scalar(0.1, 0.99),
    _LR,
    _scalar(0.8, 0.95),
    _scalar(0.9, 0.999),
    _EPS,
    _tensor(),
]


def _nesterov(layout: Layout) -> list[Case]:
    return [Case(_shapes(layout, (2, 3)), {"use_nesterov": True}, label="nesterov")]


SPECS = [
    _spec("ApplyGradientDescent", _GD, _gradient_descent),
    _spec("ApplyMomentum", _MOMENTUM, _momentum, _nesterov(_MOMENTUM)),
    _spec("ApplyAdagrad", _ADAGRAD, _adagrad),
    _spec("ApplyAdadelta", _ADADELTA, _adadelta),
    _spec("ApplyRMSProp", _RMSPROP, _rms_prop),
    _spec("ApplyAdam", _ADAM, _adam, _nesterov(_ADAM)),
]
