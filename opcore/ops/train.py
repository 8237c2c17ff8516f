"""Built-in ops: fused optimizer updates (TensorFlow's ``training_ops``).

Each op takes a variable's current value, its slots (accumulators, moments),
the gradient and the hyperparameters, and returns the new values in one fused
computation; the optimizer assigns them back (:mod:`opcore.train`). The ops are
functional (they never mutate their inputs), so the same op runs eagerly, in a
graph, and on any backend. Each declares ``aliases`` (output -> input): when an
optimizer gives up a variable's and its slots' buffers (no other tensor or view
reads them), a backend's kernel writes the new values into them, as
TensorFlow's ``ApplyAdam`` does, and no step allocates. Hyperparameters are scalar tensor *inputs*, not
attributes, so a decayed learning rate computed by other ops can be fed in.

>>> import opcore
>>> from opcore.ops.train import apply_momentum
>>> var, accum = apply_momentum(
...     opcore.constant([1.0, 2.0]), opcore.constant([0.0, 0.0]), 0.5, opcore.constant([1.0, -1.0]), 0.5
... )
>>> var.numpy().tolist(), accum.numpy().tolist()
([0.5, 2.5], [1.0, -1.0])

The formulas are TensorFlow's (``ApplyGradientDescent``, ``ApplyMomentum``,
``ApplyAdagrad``, ``ApplyAdadelta``, ``ApplyRMSProp``, ``ApplyAdam``); see
each op's ``doc``. None of them is differentiable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from opcore import dtypes as dt
from opcore.registry import define_op
from opcore.shapes import Shape, ShapeContext

__all__ = [
    "apply_adadelta",
    "apply_adagrad",
    "apply_adam",
    "apply_gradient_descent",
    "apply_momentum",
    "apply_rms_prop",
]


def _update_shape(tensors: Sequence[str], scalars: Sequence[str], n_out: int) -> Callable[[ShapeContext], list[Shape]]:
    """Shape function: ``tensors`` (var, slots, grad) share one shape, ``scalars`` are rank 0.

    Unknown dims and ranks merge with known ones; the outputs (var and its
    updated slots) all get the merged shape.
    """

    def fn(ctx: ShapeContext) -> list[Shape]:
        for name in scalars:
            s = ctx.input(name)
            if s.rank is not None and s.rank != 0:
                raise ctx.error(f"hyperparameter {name!r} must be a scalar (rank 0), got shape {s}")
        first = tensors[0]
        merged = ctx.input(first)
        for name in tensors[1:]:
            s = ctx.input(name)
            if not merged.is_compatible_with(s):
                raise ctx.error(
                    f"{name!r} must have the shape of {first!r}: {first!r} has shape {ctx.input(first)}, "
                    f"{name!r} has shape {s}"
                )
            merged = merged.merge_with(s)
        return [merged] * n_out

    return fn


_T = {"T": dt.FLOATING}

apply_gradient_descent = define_op(
    "ApplyGradientDescent",
    inputs=["var: T", "alpha: T", "delta: T"],
    outputs=["out: T"],
    type_vars=_T,
    shape_fn=_update_shape(["var", "delta"], ["alpha"], 1),
    aliases={"out": "var"},
    differentiable=False,
    doc="Gradient descent: ``var - alpha * delta``.",
)

apply_momentum = define_op(
    "ApplyMomentum",
    inputs=["var: T", "accum: T", "lr: T", "grad: T", "momentum: T"],
    outputs=["out: T", "accum_out: T"],
    type_vars=_T,
    attrs=["use_nesterov: bool = False"],
    shape_fn=_update_shape(["var", "accum", "grad"], ["lr", "momentum"], 2),
    aliases={"out": "var", "accum_out": "accum"},
    differentiable=False,
    doc=(
        "Momentum: ``accum = momentum * accum + grad``; ``var -= lr * accum``, or with "
        "``use_nesterov`` ``var -= lr * grad + lr * momentum * accum``. Returns (var, accum)."
    ),
)

apply_adagrad = define_op(
    "ApplyAdagrad",
    inputs=["var: T", "accum: T", "lr: T", "grad: T"],
    outputs=["out: T", "accum_out: T"],
    type_vars=_T,
    shape_fn=_update_shape(["var", "accum", "grad"], ["lr"], 2),
    aliases={"out": "var", "accum_out": "accum"},
    differentiable=False,
    doc="Adagrad: ``accum += grad**2``; ``var -= lr * grad / sqrt(accum)``. Returns (var, accum).",
)

apply_adadelta = define_op(
    "ApplyAdadelta",
    inputs=["var: T", "accum: T", "accum_update: T", "lr: T", "rho: T", "epsilon: T", "grad: T"],
    outputs=["out: T", "accum_out: T", "accum_update_out: T"],
    type_vars=_T,
    shape_fn=_update_shape(["var", "accum", "accum_update", "grad"], ["lr", "rho", "epsilon"], 3),
    aliases={"out": "var", "accum_out": "accum", "accum_update_out": "accum_update"},
    differentiable=False,
    doc=(
        "Adadelta: ``accum = rho * accum + (1 - rho) * grad**2``; "
        "``update = sqrt(accum_update + epsilon) / sqrt(accum + epsilon) * grad``; "
        "``accum_update = rho * accum_update + (1 - rho) * update**2``; ``var -= lr * update``. "
        "Returns (var, accum, accum_update)."
    ),
)

apply_rms_prop = define_op(
    "ApplyRMSProp",
    inputs=["var: T", "ms: T", "mom: T", "lr: T", "rho: T", "momentum: T", "epsilon: T", "grad: T"],
    outputs=["out: T", "ms_out: T", "mom_out: T"],
    type_vars=_T,
    shape_fn=_update_shape(["var", "ms", "mom", "grad"], ["lr", "rho", "momentum", "epsilon"], 3),
    aliases={"out": "var", "ms_out": "ms", "mom_out": "mom"},
    differentiable=False,
    doc=(
        "RMSProp (not centered): ``ms = rho * ms + (1 - rho) * grad**2``; "
        "``mom = momentum * mom + lr * grad / sqrt(ms + epsilon)``; ``var -= mom``. Returns (var, ms, mom)."
    ),
)

apply_adam = define_op(
    "ApplyAdam",
    inputs=[
        "var: T",
        "m: T",
        "v: T",
        "beta1_power: T",
        "beta2_power: T",
        "lr: T",
        "beta1: T",
        "beta2: T",
        "epsilon: T",
        "grad: T",
    ],
    outputs=["out: T", "m_out: T", "v_out: T"],
    type_vars=_T,
    attrs=["use_nesterov: bool = False"],
    shape_fn=_update_shape(
        ["var", "m", "v", "grad"], ["beta1_power", "beta2_power", "lr", "beta1", "beta2", "epsilon"], 3
    ),
    aliases={"out": "var", "m_out": "m", "v_out": "v"},
    differentiable=False,
    doc=(
        "Adam: ``lr_t = lr * sqrt(1 - beta2_power) / (1 - beta1_power)``; "
        "``m = beta1 * m + (1 - beta1) * grad``; ``v = beta2 * v + (1 - beta2) * grad**2``; "
        "``var -= lr_t * m / (sqrt(v) + epsilon)``, or with ``use_nesterov`` "
        "``var -= lr_t * (beta1 * m + (1 - beta1) * grad) / (sqrt(v) + epsilon)``. Returns (var, m, v)."
    ),
)
