"""2-D pooling layers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from opcore.errors import ShapeError
from opcore.layers import _utils
from opcore.layers.base import Layer
from opcore.ops import nn as _nn
from opcore.shapes import Shape

__all__ = ["AveragePooling2D", "AvgPool2D", "MaxPool2D", "MaxPooling2D"]


class _Pooling2D(Layer):
    """Shared by max and average pooling: windows of ``pool_size`` moved by ``strides``."""

    _op: Callable[..., Any]

    def __init__(
        self,
        pool_size: int | Sequence[int] = (2, 2),
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
        data_format: str | None = "channels_last",
        name: str | None = None,
        trainable: bool = True,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, trainable=trainable, dtype=dtype, **kwargs)
        who = type(self).__name__
        self.pool_size = _utils.pair(pool_size, "pool_size", who)
        self.strides = self.pool_size if strides is None else _utils.pair(strides, "strides", who)
        self._padding = _utils.padding(padding, who)
        self._format = _utils.data_format(data_format, who)

    @property
    def padding(self) -> str:
        """``"valid"`` or ``"same"``."""
        return self._padding.lower()

    @property
    def data_format(self) -> str:
        """``"channels_last"`` or ``"channels_first"``."""
        return _utils.keras_format(self._format)

    def call(self, inputs: Any, training: bool = False) -> Any:
        """Pool each channel of a 4-D input."""
        return type(self)._op(inputs, self.pool_size, self.strides, self._padding, data_format=self._format)

    def compute_output_shape(self, input_shape: Any) -> Shape:
        """The pooled shape for (possibly partial) input shapes; an unknown batch stays unknown."""
        s = _utils.input_shape(input_shape)
        if s.dims is None:
            return Shape(None)
        if len(s.dims) != 4:
            raise ShapeError(f"{type(self).__name__} layer {self.name!r} needs 4-D inputs, got shape {s}")
        if self._format == "NCHW":
            n, c, h, w = s.dims
        else:
            n, h, w, c = s.dims
        ho = _utils.window_output(h, self.pool_size[0], self.strides[0], 1, self._padding)
        wo = _utils.window_output(w, self.pool_size[1], self.strides[1], 1, self._padding)
        return Shape((n, c, ho, wo) if self._format == "NCHW" else (n, ho, wo, c))

    def get_config(self) -> dict[str, Any]:
        return {
            **_utils.base_config(self),
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
        }


class MaxPooling2D(_Pooling2D):
    """Maximum over ``pool_size`` windows (``strides`` defaults to ``pool_size``).

    >>> import numpy as np
    >>> MaxPooling2D()(np.ones((1, 4, 4, 3), np.float32)).shape
    Shape([1, 2, 2, 3])
    """

    _op = staticmethod(_nn.max_pool)


class AveragePooling2D(_Pooling2D):
    """Mean over ``pool_size`` windows (``strides`` defaults to ``pool_size``); with ``"same"``
    padding only real elements are counted."""

    _op = staticmethod(_nn.avg_pool)


#: Keras's short names.
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
