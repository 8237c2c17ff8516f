"""Built-in ops: image family (2-D convolution and pooling, with the ops their gradients need).

Image ops take 4-D tensors in ``NHWC`` (default) or ``NCHW`` layout; ``strides``,
``ksize`` and ``dilations`` attributes hold 4 values in that layout, like TensorFlow,
while the public wrappers also accept 2 values ``(h, w)`` or one int. Convolution
gradients are convolutions again, and pooling gradients have gradient ops of their own,
so every gradient can itself be differentiated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opcore import dtypes as dt
from opcore.errors import OpDefinitionError, ShapeError
from opcore.registry import GradContext, define_op
from opcore.shapes import Dim, Shape, ShapeContext, conv_output_size

__all__ = [
    "avg_pool",
    "avg_pool_grad",
    "conv2d",
    "conv2d_backprop_filter",
    "conv2d_backprop_input",
    "max_pool",
    "max_pool_grad",
    "max_pool_grad_grad",
]

_FMT = "data_format: {'NHWC', 'NCHW'} = 'NHWC'"
_PADDING = "padding: {'SAME', 'VALID'}"


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
