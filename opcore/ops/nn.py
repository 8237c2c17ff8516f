"""Built-in ops: neural-network layers and losses.

Softmax and its losses, bias addition, L2 loss and dropout; 2-D convolution and
pooling are defined in :mod:`opcore.ops.image` and exported here too, as in
``tf.nn``. Every gradient is written with opcore ops, so it can itself be
differentiated.
"""

from __future__ import annotations

from typing import Any

from opcore import dtypes as dt
from opcore.errors import OpDefinitionError
from opcore.ops import array as _array
from opcore.ops import math as _math
from opcore.ops import random as _random
from opcore.ops import reduce as _reduce
from opcore.ops._broadcast import broadcast_like
from opcore.ops.image import (  # the image ops are part of the nn namespace, as tf.nn's are
    _FMT,
    avg_pool,
    avg_pool_grad,
    conv2d,
    conv2d_backprop_filter,
    conv2d_backprop_input,
    max_pool,
    max_pool_grad,
    max_pool_grad_grad,
)
from opcore.registry import GradContext, define_op
from opcore.shapes import Shape, ShapeContext, normalize_axis

__all__ = [
    "avg_pool",
    "avg_pool_grad",
    "bias_add",
    "bias_add_grad",
    "conv2d",
    "conv2d_backprop_filter",
    "conv2d_backprop_input",
    "dropout",
    "l2_loss",
    "log_softmax",
    "max_pool",
    "max_pool_grad",
    "max_pool_grad_grad",
    "sigmoid_cross_entropy_with_logits",
    "softmax",
    "softmax_cross_entropy_with_logits",
    "sparse_softmax_cross_entropy_with_logits",
]


# --------------------------------------------------------------------------- softmax


def _softmax_shape(ctx: ShapeContext) -> Shape:
    x = ctx.input("logits")
    if x.rank is not None:
        if x.rank == 0:
            raise ctx.error(f"logits must have rank >= 1, got shape {x}")
        normalize_axis(ctx, ctx.attr("axis"), x.rank)
    return x


def _softmax_grad(ctx: GradContext, dy: Any) -> list[Any]:
    if dy is None:
        return [None]
    y = ctx.outputs[0]
    s = _reduce.reduce_sum(_math.multiply(dy, y), axis=ctx.attrs["axis"], keepdims=True)
    return [_math.multiply(y, _math.subtract(dy, s))]


def _log_softmax_grad(ctx: GradContext, dy: Any) -> list[Any]:
    if dy is None:
        return [None]
    y = ctx.outputs[0]
    s = _reduce.reduce_sum(dy, axis=ctx.attrs["axis"], keepdims=True)
    return [_math.subtract(dy, _math.multiply(_math.exp(y), s))]


softmax = define_op(
    "Softmax",
    inputs=["logits: T"],
    outputs=["softmax: T"],
    type_vars={"T": dt.FLOATING},
    attrs=["axis: int = -1"],
    shape_fn=_softmax_shape,
    gradient=_softmax_grad,
    doc="``exp(x) / sum(exp(x), axis)``, computed stably (the maximum is subtracted first).",
)

log_softmax = define_op(
    "LogSoftmax",
    inputs=["logits: T"],
    outputs=["logsoftmax: T"],
    type_vars={"T": dt.FLOATING},
    attrs=["axis: int = -1"],
    shape_fn=_softmax_shape,
    gradient=_log_softmax_grad,
    doc="``x - log(sum(exp(x), axis))``, computed stably.",
)


# --------------------------------------------------------------------------- cross-entropy losses


def _batch_of(ctx: ShapeContext, logits: Shape) -> Shape:
    if logits.dims is None:
        return Shape(None)
    if not logits.dims:
        raise ctx.error(f"logits must have rank >= 1 (classes on the last axis), got shape {logits}")
    return Shape(logits.dims[:-1])


def _sce_shape(ctx: ShapeContext) -> list[Shape]:
    logits, labels = ctx.input("logits"), ctx.input("labels")
    if not logits.is_compatible_with(labels):
        raise ctx.error(f"logits with shape {logits} and labels with shape {labels} must have the same shape")
    both = logits.merge_with(labels)
    return [_batch_of(ctx, both), both]


def _expand_last(t: Any) -> Any:
    return _array.expand_dims(t, -1)


def _softmax_vjp(logits: Any, g: Any) -> Any:
    """The gradient through ``softmax(logits)`` (last axis) of an incoming gradient ``g``."""
    y = softmax(logits)
    s = _reduce.reduce_sum(_math.multiply(g, y), axis=-1, keepdims=True)
    return _math.multiply(y, _math.subtract(g, s))


def _sce_grad(ctx: GradContext, dloss: Any, dbackprop: Any) -> list[Any]:
    logits, _ = ctx.inputs
    backprop = ctx.outputs[1]
    g_logits: Any = None
    g_labels: Any = None
    if dloss is not None:
        e = _expand_last(dloss)
        g_logits = _math.multiply(e, backprop) if ctx.needs_grad(0) else None
        if ctx.needs_grad(1):
            g_labels = _math.multiply(e, _math.negative(log_softmax(logits)))
    if dbackprop is not None:
        # backprop = softmax(logits) - labels is an output too; its gradient makes higher orders exact.
        extra = _softmax_vjp(logits, dbackprop)
        g_logits = extra if g_logits is None else _math.add(g_logits, extra)
        neg = _math.negative(dbackprop)
        g_labels = neg if g_labels is None else _math.add(g_labels, neg)
    return [g_logits, g_labels]


_SOFTMAX_CROSS_ENTROPY = define_op(
    "SoftmaxCrossEntropyWithLogits",
    inputs=["logits: T", "labels: T"],
    outputs=["loss: T", "backprop: T"],
    type_vars={"T": dt.FLOATING},
    shape_fn=_sce_shape,
    gradient=_sce_grad,
    doc=(
        "Cross-entropy between ``labels`` (a distribution over the last axis) and ``softmax(logits)``: "
        "``loss = -sum(labels * log_softmax(logits), -1)`` and ``backprop = softmax(logits) - labels``."
    ),
)


def _sparse_sce_shape(ctx: ShapeContext) -> list[Shape]:
    logits, labels = ctx.input("logits"), ctx.input("labels")
    batch = _batch_of(ctx, logits)
    if not batch.is_compatible_with(labels):
        raise ctx.error(
            f"labels must have the shape of logits without its last (class) axis: logits has shape {logits}, "
            f"so labels should have shape {batch}, got {labels}"
        )
    batch = batch.merge_with(labels)
    if batch.dims is None:
        return [batch, logits]
    return [batch, Shape((*batch.dims, logits[-1] if logits.dims else None))]


def _sparse_sce_grad(ctx: GradContext, dloss: Any, dbackprop: Any) -> list[Any]:
    logits = ctx.inputs[0]
    g: Any = None
    if dloss is not None:
        g = _math.multiply(_expand_last(dloss), ctx.outputs[1])
    if dbackprop is not None:
        extra = _softmax_vjp(logits, dbackprop)
        g = extra if g is None else _math.add(g, extra)
    return [g, None]


_SPARSE_SOFTMAX_CROSS_ENTROPY = define_op(
    "SparseSoftmaxCrossEntropyWithLogits",
    inputs=["logits: T", "labels: Tidx"],
    outputs=["loss: T", "backprop: T"],
    type_vars={"T": dt.FLOATING, "Tidx": "int32, int64"},
    shape_fn=_sparse_sce_shape,
    gradient=_sparse_sce_grad,
    doc=(
        "Cross-entropy between class indices ``labels`` (in [0, classes)) and ``softmax(logits)`` over the "
        "last axis: ``loss = -log_softmax(logits)[..., labels]``, ``backprop = softmax(logits) - one_hot(labels)``. "
        "Invalid labels, on every backend: a label outside [0, classes), classes = logits.shape[-1], raises "
        "InvalidIndexError naming the first bad position (C order) and its value. TensorFlow's CPU kernel "
        "raises too, where its GPU kernel gives NaN rows; device backends check on the device and raise at "
        "the call (in a session, at the end of the run at the latest)."
    ),
)


def softmax_cross_entropy_with_logits(*, labels: Any, logits: Any, name: str | None = None) -> Any:
    """Per-example cross-entropy of ``labels`` (probabilities over the last axis) and ``softmax(logits)``.

    Returns the loss, with the shape of ``logits`` without its last axis. The gradient
    flows to both ``logits`` and ``labels``. Keywords only, like TensorFlow, because the
    argument order is easy to get wrong.
    """
    loss, _ = _SOFTMAX_CROSS_ENTROPY(logits, labels, name=name)
    return loss


def sparse_softmax_cross_entropy_with_logits(*, labels: Any, logits: Any, name: str | None = None) -> Any:
    """Per-example cross-entropy of integer class ``labels`` (int32/int64) and ``softmax(logits)``.

    ``labels`` has the shape of ``logits`` without its last axis; the gradient flows to ``logits`` only.
    A label outside ``[0, classes)`` raises :class:`~opcore.errors.InvalidIndexError` on every backend.
    """
    loss, _ = _SPARSE_SOFTMAX_CROSS_ENTROPY(logits, labels, name=name)
    return loss


def _same_shape(a: str, b: str) -> Any:
    def fn(ctx: ShapeContext) -> Shape:
        sa, sb = ctx.input(a), ctx.input(b)
        if not sa.is_compatible_with(sb):
            raise ctx.error(f"{a} with shape {sa} and {b} with shape {sb} must have the same shape")
        return sa.merge_with(sb)

    return fn


def _sigmoid_ce_grad(ctx: GradContext, dy: Any) -> list[Any]:
    if dy is None:
        return [None, None]
    x, z = ctx.inputs
    return [
        _math.multiply(dy, _math.subtract(_math.sigmoid(x), z)),
        _math.multiply(dy, _math.negative(x)),
    ]


# A kernel rather than a composite of maximum/abs/log1p: autodiff through those
# would take the kinks of max and abs at x = 0 and get the gradient wrong there.
_SIGMOID_CROSS_ENTROPY = define_op(
    "SigmoidCrossEntropyWithLogits",
    inputs=["logits: T", "labels: T"],
    outputs=["loss: T"],
    type_vars={"T": dt.FLOATING},
    shape_fn=_same_shape("logits", "labels"),
    gradient=_sigmoid_ce_grad,
    doc="Elementwise ``max(x, 0) - x * z + log(1 + exp(-|x|))`` for logits x and labels z.",
)


def sigmoid_cross_entropy_with_logits(*, labels: Any, logits: Any, name: str | None = None) -> Any:
    """Elementwise logistic loss of ``labels`` (in [0, 1]) and ``sigmoid(logits)``, computed stably.

    Both have the same shape; the gradient flows to both.
    """
    return _SIGMOID_CROSS_ENTROPY(logits, labels, name=name)


# --------------------------------------------------------------------------- l2 loss


def _l2_grad(ctx: GradContext, dy: Any) -> list[Any]:
    return [None if dy is None else _math.multiply(ctx.inputs[0], dy)]


l2_loss = define_op(
    "L2Loss",
    inputs=["t: T"],
    outputs=["output: T"],
    type_vars={"T": dt.FLOATING},
    shape_fn=lambda ctx: Shape(()),
    gradient=_l2_grad,
    doc="``sum(t ** 2) / 2``, a scalar (half the squared L2 norm, as in weight decay).",
)


# --------------------------------------------------------------------------- bias add


def _channel_axis(data_format: str, rank: int) -> int:
    return 1 if data_format == "NCHW" and rank >= 3 else rank - 1


def _bias_add_shape(ctx: ShapeContext) -> Shape:
    value, bias = ctx.input("value"), ctx.input("bias")
    if bias.rank is not None and bias.rank != 1:
        raise ctx.error(f"bias must be 1-D, got shape {bias}")
    if value.dims is None:
        return value
    if len(value.dims) < 2:
        raise ctx.error(f"value must have rank >= 2, got shape {value}")
    fmt = ctx.attr("data_format")
    c = value.dims[_channel_axis(fmt, len(value.dims))]
    if c is not None and bias.dims is not None and bias.dims[0] is not None and bias.dims[0] != c:
        raise ctx.error(
            f"bias has length {bias.dims[0]} but value with shape {value} has {c} channels "
            f"(data_format {fmt!r}); they must match"
        )
    return value


def _bias_add_grad_fn(ctx: GradContext, dy: Any) -> list[Any]:
    if dy is None:
        return [None, None]
    return [dy, bias_add_grad(dy, data_format=ctx.attrs["data_format"])]


bias_add = define_op(
    "BiasAdd",
    inputs=["value: T", "bias: T"],
    outputs=["output: T"],
    type_vars={"T": dt.FLOATING},
    attrs=[_FMT],
    shape_fn=_bias_add_shape,
    gradient=_bias_add_grad_fn,
    doc=(
        "Add the 1-D ``bias`` along the channel axis of ``value`` (the last axis for NHWC, axis 1 for NCHW "
        "when value has rank >= 3)."
    ),
)


def _bias_add_grad_shape(ctx: ShapeContext) -> Shape:
    dy = ctx.input("out_backprop")
    if dy.dims is None:
        return Shape([None])
    if len(dy.dims) < 2:
        raise ctx.error(f"out_backprop must have rank >= 2, got shape {dy}")
    return Shape([dy.dims[_channel_axis(ctx.attr("data_format"), len(dy.dims))]])


def _bias_add_grad_grad(ctx: GradContext, g: Any) -> list[Any]:
    if g is None:
        return [None]
    dy = ctx.inputs[0]
    fmt = ctx.attrs["data_format"]
    if fmt == "NHWC":
        return [broadcast_like(g, dy)]
    # Spreading g over the channel axis of zeros is exactly BiasAdd.
    return [bias_add(_array.zeros_like(dy), g, data_format=fmt)]


bias_add_grad = define_op(
    "BiasAddGrad",
    inputs=["out_backprop: T"],
    outputs=["output: T"],
    type_vars={"T": dt.FLOATING},
    attrs=[_FMT],
    shape_fn=_bias_add_grad_shape,
    gradient=_bias_add_grad_grad,
    doc="The gradient of BiasAdd for its bias: ``out_backprop`` summed over every axis but the channel axis.",
)


# --------------------------------------------------------------------------- dropout


def _check_rate(op: str, rate: float) -> None:
    if not 0.0 <= rate < 1.0:
        raise OpDefinitionError(f"{op}: rate must be in [0, 1), got rate={rate!r}")


def _dropout_shape(ctx: ShapeContext) -> Shape:
    _check_rate(ctx.op, ctx.attr("rate"))
    return ctx.input("x")


def _dropout_composite(x: Any, rate: float, seed: int, seed2: int) -> Any:
    u = _random.random_uniform_like(x, seed=seed, seed2=seed2)
    keep = _math.greater_equal(u, rate)
    return _math.where(keep, _math.multiply(x, 1.0 / (1.0 - rate)), 0)


_DROPOUT = define_op(
    "Dropout",
    inputs=["x: T"],
    outputs=["output: T"],
    type_vars={"T": dt.FLOATING},
    attrs=["rate: float", "seed: int", "seed2: int"],
    shape_fn=_dropout_shape,
    composite=_dropout_composite,
    stateful=True,
    doc="Zero each element with probability ``rate`` and scale the others by ``1 / (1 - rate)``.",
)


def dropout(x: Any, rate: float, seed: int | None = None, training: bool = True, name: str | None = None) -> Any:
    """Randomly zero elements of ``x`` with probability ``rate`` (in [0, 1)), scaling the rest by 1/(1-rate).

    With ``training=False`` it returns ``x`` unchanged. ``seed`` is the op-level seed
    (see :func:`opcore.ops.random.get_seed`).
    """
    rate = float(rate)
    _check_rate("dropout", rate)
    if not training:
        return x
    s1, s2 = _random.get_seed(seed)
    return _DROPOUT(x, rate=rate, seed=s1, seed2=s2, name=name)
