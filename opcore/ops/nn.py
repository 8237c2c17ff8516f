"""Built-in ops: neural-network layers and losses.

Softmax and its losses, bias addition, 2-D convolution and pooling (with the
ops their gradients need), L2 loss and dropout. Image ops take 4-D tensors in
``NHWC`` (default) or ``NCHW`` layout; ``strides``, ``ksize`` and ``dilations``
attributes hold 4 values in that layout, like TensorFlow, while the public
wrappers also accept 2 values ``(h, w)`` or one int.

Every gradient is written with opcore ops, so it can itself be differentiated:
convolution gradients are convolutions again, and pooling gradients have
gradient ops of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opcore import dtypes as dt
from opcore.errors import OpDefinitionError, ShapeError
from opcore.ops import array as _array
from opcore.ops import math as _math
from opcore.ops import random as _random
from opcore.ops import reduce as _reduce
from opcore.ops._broadcast import broadcast_like
from opcore.registry import GradContext, define_op
from opcore.shapes import Dim, Shape, ShapeContext, conv_output_size, normalize_axis

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

_FMT = "data_format: {'NHWC', 'NCHW'} = 'NHWC'"
_PADDING = "padding: {'SAME', 'VALID'}"


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
        "last axis: ``loss = -log_softmax(logits)[..., labels]``, ``backprop = softmax(logits) - one_hot(labels)``."
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


# --------------------------------------------------------------------------- image-op helpers


def _spatial(ctx: ShapeContext, name: str) -> tuple[int, int]:
    """The (h, w) entries of a 4-value window attribute, checking the batch and channel entries are 1."""
    values = ctx.attr(name)
    fmt = ctx.attr("data_format")
    if len(values) != 4:
        raise OpDefinitionError(f"{ctx.op}: attribute {name!r} must have 4 values in {fmt} order, got {list(values)}")
    n, h, w, c = (values[0], values[2], values[3], values[1]) if fmt == "NCHW" else tuple(values)
    if n != 1 or c != 1:
        raise OpDefinitionError(
            f"{ctx.op}: attribute {name!r} must be 1 in the batch and channel positions ({fmt}), got {list(values)}"
        )
    if h < 1 or w < 1:
        raise OpDefinitionError(f"{ctx.op}: attribute {name!r} must be positive, got {list(values)}")
    return h, w


def _nhwc(ctx: ShapeContext, name: str) -> tuple[Dim, Dim, Dim, Dim] | None:
    """An image input's (n, h, w, c), or None for unknown rank."""
    s = ctx.input(name)
    if s.dims is None:
        return None
    if len(s.dims) != 4:
        raise ctx.error(f"{name} must be 4-D ({ctx.attr('data_format')}), got shape {s}")
    d = s.dims
    return (d[0], d[2], d[3], d[1]) if ctx.attr("data_format") == "NCHW" else (d[0], d[1], d[2], d[3])


def _image_shape(ctx: ShapeContext, n: Dim, h: Dim, w: Dim, c: Dim) -> Shape:
    return Shape((n, c, h, w) if ctx.attr("data_format") == "NCHW" else (n, h, w, c))


def _out_size(ctx: ShapeContext, size: Dim, window: Dim, stride: int, dilation: int, what: str) -> Dim:
    try:
        return conv_output_size(ctx, size, window, stride, dilation, ctx.attr("padding"))
    except ShapeError as exc:
        raise ShapeError(f"{exc} ({what})") from None


def _check_like(ctx: ShapeContext, name: str, expected: Shape) -> None:
    got = ctx.input(name)
    if not got.is_compatible_with(expected):
        raise ctx.error(f"{name} has shape {got}, but the forward op's output shape is {expected}")


# --------------------------------------------------------------------------- conv2d

_CONV_ATTRS = ["strides: list(int)", _PADDING, _FMT, "dilations: list(int) = [1, 1, 1, 1]"]


def _conv_forward_shape(ctx: ShapeContext, x_name: str, w_name: str) -> Shape:
    sh, sw = _spatial(ctx, "strides")
    dh, dw = _spatial(ctx, "dilations")
    x = _nhwc(ctx, x_name)
    ws = ctx.input(w_name)
    if ws.dims is not None and len(ws.dims) != 4:
        raise ctx.error(f"{w_name} must be 4-D [height, width, in_channels, out_channels], got shape {ws}")
    kh, kw, ci, co = ws.dims if ws.dims is not None else (None, None, None, None)
    if (kh is not None and kh < 1) or (kw is not None and kw < 1):
        raise ctx.error(f"{w_name} must have a window of at least 1x1, got shape {ws}")
    if x is None:
        return Shape(None)
    n, h, w, c = x
    what = f"{x_name} shape {ctx.input(x_name)}, {w_name} shape {ws}"
    if c is not None and ci is not None and c != ci:
        raise ctx.error(
            f"{x_name} has {c} channels but {w_name} expects {ci}: {x_name} shape {ctx.input(x_name)} "
            f"({ctx.attr('data_format')}), {w_name} shape {ws} [height, width, in_channels, out_channels]"
        )
    ho = _out_size(ctx, h, kh, sh, dh, what)
    wo = _out_size(ctx, w, kw, sw, dw, what)
    return _image_shape(ctx, n, ho, wo, co)


def _conv2d_shape(ctx: ShapeContext) -> Shape:
    return _conv_forward_shape(ctx, "input", "filter")


def _conv2d_grad(ctx: GradContext, dy: Any) -> list[Any]:
    if dy is None:
        return [None, None]
    x, w = ctx.inputs
    return [
        conv2d_backprop_input(x, w, dy, **ctx.attrs) if ctx.needs_grad(0) else None,
        conv2d_backprop_filter(x, w, dy, **ctx.attrs) if ctx.needs_grad(1) else None,
    ]


_CONV2D = define_op(
    "Conv2D",
    inputs=["input: T", "filter: T"],
    outputs=["output: T"],
    type_vars={"T": dt.FLOATING},
    attrs=_CONV_ATTRS,
    shape_fn=_conv2d_shape,
    gradient=_conv2d_grad,
    doc=(
        "2-D convolution (cross-correlation, like TensorFlow) of a 4-D ``input`` with a "
        "``filter`` of shape [height, width, in_channels, out_channels]. SAME padding puts the extra "
        "row/column at the bottom/right."
    ),
)


def _conv2d_backprop_input_shape(ctx: ShapeContext) -> Shape:
    _check_like(ctx, "out_backprop", _conv_forward_shape(ctx, "input_like", "filter"))
    return ctx.input("input_like")


def _conv2d_backprop_input_grad(ctx: GradContext, g: Any) -> list[Any]:
    if g is None:
        return [None, None, None]
    _, w, dy = ctx.inputs
    # dx = conv^T(dy, w) is bilinear in (w, dy): <g, dx> = <conv(g, w), dy>.
    return [None, conv2d_backprop_filter(g, w, dy, **ctx.attrs), _CONV2D(g, w, **ctx.attrs)]


conv2d_backprop_input = define_op(
    "Conv2DBackpropInput",
    inputs=["input_like: T", "filter: T", "out_backprop: T"],
    outputs=["output: T"],
    type_vars={"T": dt.FLOATING},
    attrs=_CONV_ATTRS,
    shape_fn=_conv2d_backprop_input_shape,
    gradient=_conv2d_backprop_input_grad,
    doc="The gradient of Conv2D for its input (shape of ``input_like``, whose values are not used).",
)


def _conv2d_backprop_filter_shape(ctx: ShapeContext) -> Shape:
    _check_like(ctx, "out_backprop", _conv_forward_shape(ctx, "input", "filter_like"))
    return ctx.input("filter_like")


def _conv2d_backprop_filter_grad(ctx: GradContext, g: Any) -> list[Any]:
    if g is None:
        return [None, None, None]
    x, _, dy = ctx.inputs
    # dw is bilinear in (x, dy): <g, dw> = <conv(x, g), dy>.
    return [conv2d_backprop_input(x, g, dy, **ctx.attrs), None, _CONV2D(x, g, **ctx.attrs)]


conv2d_backprop_filter = define_op(
    "Conv2DBackpropFilter",
    inputs=["input: T", "filter_like: T", "out_backprop: T"],
    outputs=["output: T"],
    type_vars={"T": dt.FLOATING},
    attrs=_CONV_ATTRS,
    shape_fn=_conv2d_backprop_filter_shape,
    gradient=_conv2d_backprop_filter_grad,
    doc="The gradient of Conv2D for its filter (shape of ``filter_like``, whose values are not used).",
)


def _four(values: int | Sequence[int], data_format: str, name: str, op: str) -> tuple[int, ...]:
    """Expand an int or (h, w) to 4 values in ``data_format`` order; 4 values pass through."""
    vals: tuple[int, ...] = (values, values) if isinstance(values, int) else tuple(values)
    if len(vals) == 2:
        h, w = vals
        return (1, 1, h, w) if data_format == "NCHW" else (1, h, w, 1)
    if len(vals) == 4:
        return vals
    raise OpDefinitionError(f"{op}: {name} must be an int, 2 values (h, w) or 4 values, got {values!r}")


def conv2d(
    input: Any,
    filter: Any,
    strides: int | Sequence[int],
    padding: str,
    data_format: str = "NHWC",
    dilations: int | Sequence[int] = 1,
    name: str | None = None,
) -> Any:
    """2-D convolution of ``input`` (4-D, ``data_format``) with ``filter`` [kh, kw, in, out].

    ``strides`` and ``dilations``: an int, ``(h, w)``, or 4 values in ``data_format`` order.
    ``padding``: ``"SAME"`` (output size ``ceil(size / stride)``) or ``"VALID"``.
    """
    return _CONV2D(
        input,
        filter,
        strides=_four(strides, data_format, "strides", "conv2d"),
        padding=padding,
        data_format=data_format,
        dilations=_four(dilations, data_format, "dilations", "conv2d"),
        name=name,
    )


# --------------------------------------------------------------------------- pooling

_POOL_ATTRS = ["ksize: list(int)", "strides: list(int)", _PADDING, _FMT]


def _pool_forward_shape(ctx: ShapeContext, x_name: str) -> Shape:
    kh, kw = _spatial(ctx, "ksize")
    sh, sw = _spatial(ctx, "strides")
    x = _nhwc(ctx, x_name)
    if x is None:
        return Shape(None)
    n, h, w, c = x
    what = f"{x_name} shape {ctx.input(x_name)}, ksize {list(ctx.attr('ksize'))}"
    return _image_shape(ctx, n, _out_size(ctx, h, kh, sh, 1, what), _out_size(ctx, w, kw, sw, 1, what), c)


def _pool_shape(ctx: ShapeContext) -> Shape:
    return _pool_forward_shape(ctx, "input")


def _max_pool_grad_fn(ctx: GradContext, dy: Any) -> list[Any]:
    if dy is None:
        return [None]
    return [max_pool_grad(ctx.inputs[0], ctx.outputs[0], dy, **ctx.attrs)]


def _avg_pool_grad_fn(ctx: GradContext, dy: Any) -> list[Any]:
    if dy is None:
        return [None]
    return [avg_pool_grad(ctx.inputs[0], dy, **ctx.attrs)]


_MAX_POOL = define_op(
    "MaxPool",
    inputs=["input: T"],
    outputs=["output: T"],
    type_vars={"T": dt.FLOATING},
    attrs=_POOL_ATTRS,
    shape_fn=_pool_shape,
    gradient=_max_pool_grad_fn,
    doc="Maximum over ``ksize`` windows of a 4-D input; SAME padding never wins the maximum.",
)

_AVG_POOL = define_op(
    "AvgPool",
    inputs=["input: T"],
    outputs=["output: T"],
    type_vars={"T": dt.FLOATING},
    attrs=_POOL_ATTRS,
    shape_fn=_pool_shape,
    gradient=_avg_pool_grad_fn,
    doc="Mean over ``ksize`` windows of a 4-D input; with SAME padding only real elements are counted.",
)


def _max_pool_grad_shape(ctx: ShapeContext) -> Shape:
    pooled = _pool_forward_shape(ctx, "orig_input")
    _check_like(ctx, "orig_output", pooled)
    _check_like(ctx, "grad", pooled)
    return ctx.input("orig_input")


def _max_pool_grad_grad_fn(ctx: GradContext, g: Any) -> list[Any]:
    if g is None:
        return [None, None, None]
    x, y, _ = ctx.inputs
    # Piecewise constant in x and y: only the routed values carry a gradient.
    return [None, None, max_pool_grad_grad(x, y, g, **ctx.attrs)]


max_pool_grad = define_op(
    "MaxPoolGrad",
    inputs=["orig_input: T", "orig_output: T", "grad: T"],
    outputs=["output: T"],
    type_vars={"T": dt.FLOATING},
    attrs=_POOL_ATTRS,
    shape_fn=_max_pool_grad_shape,
    gradient=_max_pool_grad_grad_fn,
    doc="The gradient of MaxPool: each window's ``grad`` goes to the first maximum of the window (row-major).",
)


def _max_pool_grad_grad_shape(ctx: ShapeContext) -> Shape:
    pooled = _pool_forward_shape(ctx, "orig_input")
    _check_like(ctx, "orig_output", pooled)
    _check_like(ctx, "grad", ctx.input("orig_input"))
    return ctx.input("orig_output").merge_with(pooled)


def _max_pool_grad_grad_grad(ctx: GradContext, g: Any) -> list[Any]:
    if g is None:
        return [None, None, None]
    x, y, _ = ctx.inputs
    return [None, None, max_pool_grad(x, y, g, **ctx.attrs)]


max_pool_grad_grad = define_op(
    "MaxPoolGradGrad",
    inputs=["orig_input: T", "orig_output: T", "grad: T"],
    outputs=["output: T"],
    type_vars={"T": dt.FLOATING},
    attrs=_POOL_ATTRS,
    shape_fn=_max_pool_grad_grad_shape,
    gradient=_max_pool_grad_grad_grad,
    doc=(
        "The gradient of MaxPoolGrad for its ``grad``: picks ``grad`` (input-shaped) at each window's "
        "first maximum, giving a pooled-shaped result."
    ),
)


def _avg_pool_grad_shape(ctx: ShapeContext) -> Shape:
    _check_like(ctx, "grad", _pool_forward_shape(ctx, "orig_input_like"))
    return ctx.input("orig_input_like")


def _avg_pool_grad_grad(ctx: GradContext, g: Any) -> list[Any]:
    if g is None:
        return [None, None]
    return [None, _AVG_POOL(g, **ctx.attrs)]


avg_pool_grad = define_op(
    "AvgPoolGrad",
    inputs=["orig_input_like: T", "grad: T"],
    outputs=["output: T"],
    type_vars={"T": dt.FLOATING},
    attrs=_POOL_ATTRS,
    shape_fn=_avg_pool_grad_shape,
    gradient=_avg_pool_grad_grad,
    doc="The gradient of AvgPool (shape of ``orig_input_like``, whose values are not used).",
)


def max_pool(
    value: Any,
    ksize: int | Sequence[int],
    strides: int | Sequence[int],
    padding: str,
    data_format: str = "NHWC",
    name: str | None = None,
) -> Any:
    """Max pooling of a 4-D ``value``; ``ksize``/``strides``: an int, ``(h, w)`` or 4 values."""
    return _MAX_POOL(
        value,
        ksize=_four(ksize, data_format, "ksize", "max_pool"),
        strides=_four(strides, data_format, "strides", "max_pool"),
        padding=padding,
        data_format=data_format,
        name=name,
    )


def avg_pool(
    value: Any,
    ksize: int | Sequence[int],
    strides: int | Sequence[int],
    padding: str,
    data_format: str = "NHWC",
    name: str | None = None,
) -> Any:
    """Average pooling of a 4-D ``value``; ``ksize``/``strides``: an int, ``(h, w)`` or 4 values."""
    return _AVG_POOL(
        value,
        ksize=_four(ksize, data_format, "ksize", "avg_pool"),
        strides=_four(strides, data_format, "strides", "avg_pool"),
        padding=padding,
        data_format=data_format,
        name=name,
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
