"""Convolution layers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opcore import initializers
from opcore.errors import OpDefinitionError, ShapeError
from opcore.layers import _utils, activations
from opcore.layers.base import Layer
from opcore.ops import nn as _nn
from opcore.shapes import Shape

__all__ = ["Conv2D", "Convolution2D"]


class Conv2D(Layer):
    """2-D convolution: ``activation(conv2d(inputs, kernel) + bias)``.

    ``kernel_size``, ``strides`` and ``dilation_rate``: an int or ``(h, w)``. ``padding``:
    ``"valid"`` or ``"same"`` (TensorFlow's ``"VALID"``/``"SAME"`` also work). ``data_format``:
    ``"channels_last"`` (``[batch, h, w, c]``, the default) or ``"channels_first"``. The kernel
    has shape ``[kh, kw, in_channels, filters]``.

    >>> import numpy as np
    >>> Conv2D(8, 3, padding="same")(np.ones((2, 5, 5, 1), np.float32)).shape
    Shape([2, 5, 5, 8])
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = (1, 1),
        padding: str = "valid",
        data_format: str | None = "channels_last",
        dilation_rate: int | Sequence[int] = (1, 1),
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        name: str | None = None,
        trainable: bool = True,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, trainable=trainable, dtype=dtype, **kwargs)
        if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
            raise OpDefinitionError(f"Conv2D: filters must be a positive int, got {filters!r}")
        self.filters = filters
        self.kernel_size = _utils.pair(kernel_size, "kernel_size", "Conv2D")
        self.strides = _utils.pair(strides, "strides", "Conv2D")
        self.dilation_rate = _utils.pair(dilation_rate, "dilation_rate", "Conv2D")
        if self.dilation_rate != (1, 1) and self.strides != (1, 1):
            raise OpDefinitionError("Conv2D: dilation_rate > 1 with strides > 1 is not supported (as in Keras)")
        self._padding = _utils.padding(padding, "Conv2D")
        self._format = _utils.data_format(data_format, "Conv2D")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer) or initializers.GlorotUniform()
        self.bias_initializer = initializers.get(bias_initializer) or initializers.Zeros()
        self.kernel: Any = None
        self.bias: Any = None

    @property
    def padding(self) -> str:
        """``"valid"`` or ``"same"``."""
        return self._padding.lower()

    @property
    def data_format(self) -> str:
        """``"channels_last"`` or ``"channels_first"``."""
        return _utils.keras_format(self._format)

    def _channel_axis(self) -> int:
        return 1 if self._format == "NCHW" else 3

    def build(self, input_shape: Shape) -> None:
        """Create ``kernel`` ``[kh, kw, in_channels, filters]`` and ``bias`` ``[filters]``."""
        if input_shape.rank != 4 or input_shape[self._channel_axis()] is None:
            raise ShapeError(
                f"Conv2D layer {self.name!r} needs 4-D inputs ({self.data_format}) with a known channel "
                f"dimension, got shape {input_shape}"
            )
        channels = input_shape[self._channel_axis()]
        dtype = _utils.layer_dtype(self.dtype)
        kshape = (*self.kernel_size, channels, self.filters)
        self.kernel = self.add_weight("kernel", kshape, self.kernel_initializer, dtype=dtype)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer, dtype=dtype)

    def call(self, inputs: Any, training: bool = False) -> Any:
        """The convolution, bias and activation; inputs are cast to the kernel's dtype."""
        x = _utils.to_dtype(inputs, self.kernel.dtype)
        y = _nn.conv2d(
            x,
            self.kernel,
            strides=self.strides,
            padding=self._padding,
            data_format=self._format,
            dilations=self.dilation_rate,
        )
        if self.use_bias:
            y = _nn.bias_add(y, self.bias, data_format=self._format)
        return self.activation(y)

    def compute_output_shape(self, input_shape: Any) -> Shape:
        """The output shape for (possibly partial) input shapes; an unknown batch stays unknown."""
        s = _utils.input_shape(input_shape)
        if s.dims is None:
            return Shape(None)
        if len(s.dims) != 4:
            raise ShapeError(f"Conv2D layer {self.name!r} needs 4-D inputs, got shape {s}")
        if self._format == "NCHW":
            n, _, h, w = s.dims
        else:
            n, h, w, _ = s.dims
        ho = _utils.window_output(h, self.kernel_size[0], self.strides[0], self.dilation_rate[0], self._padding)
        wo = _utils.window_output(w, self.kernel_size[1], self.strides[1], self.dilation_rate[1], self._padding)
        return Shape((n, self.filters, ho, wo) if self._format == "NCHW" else (n, ho, wo, self.filters))

    def get_config(self) -> dict[str, Any]:
        return {
            **_utils.base_config(self),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": _utils.initializer_config(self.kernel_initializer),
            "bias_initializer": _utils.initializer_config(self.bias_initializer),
        }


#: Keras's other name for Conv2D.
Convolution2D = Conv2D
