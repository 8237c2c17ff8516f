"""Core layers: Dense, Activation, Flatten, Dropout."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from opcore import initializers
from opcore.dtypes import bool_
from opcore.errors import OpDefinitionError, ShapeError
from opcore.layers import _utils, activations
from opcore.layers.base import Layer
from opcore.ops import array as _array
from opcore.ops import math as _math
from opcore.ops import nn as _nn
from opcore.shapes import Shape

__all__ = ["Activation", "Dense", "Dropout", "Flatten"]


def shape_of(x: Any) -> Shape:
    """The static shape of a tensor, variable, graph tensor or NumPy/Python data."""
    s = getattr(x, "shape", None)
    if s is None:
        s = np.shape(x)
    return _utils.input_shape(s)


class Dense(Layer):
    """A fully connected layer: ``activation(inputs @ kernel + bias)``.

    Inputs have rank >= 2; for rank > 2 the kernel applies to the last axis
    (``[batch, t, in] -> [batch, t, units]``). The kernel has shape ``[in, units]``.

    >>> import numpy as np, opcore
    >>> layer = Dense(3, activation="relu")
    >>> layer(np.ones((2, 4), np.float32)).shape
    Shape([2, 3])
    """

    def __init__(
        self,
        units: int,
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
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise OpDefinitionError(f"Dense: units must be a positive int, got {units!r}")
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer) or initializers.GlorotUniform()
        self.bias_initializer = initializers.get(bias_initializer) or initializers.Zeros()
        self.kernel: Any = None
        self.bias: Any = None

    def build(self, input_shape: Shape) -> None:
        """Create ``kernel`` ``[in, units]`` and ``bias`` ``[units]`` from the inputs' last dim."""
        if input_shape.rank is None or input_shape.rank < 2 or input_shape[-1] is None:
            raise ShapeError(
                f"Dense layer {self.name!r} needs inputs of rank >= 2 with a known last dimension, "
                f"got shape {input_shape}"
            )
        in_dim = input_shape[-1]
        dtype = _utils.layer_dtype(self.dtype)
        self.kernel = self.add_weight("kernel", (in_dim, self.units), self.kernel_initializer, dtype=dtype)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer, dtype=dtype)

    def call(self, inputs: Any, training: bool = False) -> Any:
        """``activation(inputs @ kernel + bias)``; inputs are cast to the kernel's dtype."""
        x = _utils.to_dtype(inputs, self.kernel.dtype)
        y = _math.matmul(x, self.kernel)
        if self.use_bias:
            y = _nn.bias_add(y, self.bias)
        return self.activation(y)

    def compute_output_shape(self, input_shape: Any) -> Shape:
        """The input shape with its last dim replaced by ``units``."""
        s = _utils.input_shape(input_shape)
        if s.dims is None:
            return Shape(None)
        if len(s.dims) < 2:
            raise ShapeError(f"Dense layer {self.name!r} needs inputs of rank >= 2, got shape {s}")
        return Shape((*s.dims[:-1], self.units))

    def get_config(self) -> dict[str, Any]:
        return {
            **_utils.base_config(self),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": _utils.initializer_config(self.kernel_initializer),
            "bias_initializer": _utils.initializer_config(self.bias_initializer),
        }


class Activation(Layer):
    """Applies an activation function (a name such as ``"relu"``, or a callable)."""

    def __init__(
        self, activation: Any, name: str | None = None, trainable: bool = True, dtype: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(name=name, trainable=trainable, dtype=dtype, **kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs: Any, training: bool = False) -> Any:
        """``activation(inputs)``."""
        return self.activation(inputs)

    def compute_output_shape(self, input_shape: Any) -> Shape:
        return _utils.input_shape(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**_utils.base_config(self), "activation": activations.serialize(self.activation)}


class Flatten(Layer):
    """Flattens every axis but the first (the batch): ``[batch, d1, d2, ...] -> [batch, d1 * d2 * ...]``.

    Works when the batch size is unknown (graph placeholders with shape ``[None, ...]``).
    A 1-D input becomes ``[batch, 1]``.
    """

    def call(self, inputs: Any, training: bool = False) -> Any:
        """``reshape(inputs, [-1, prod(shape[1:])])``."""
        s = shape_of(inputs)
        if s.dims is None:
            raise ShapeError(f"Flatten layer {self.name!r} needs inputs of known rank, got shape {s}")
        if len(s.dims) < 1:
            raise ShapeError(f"Flatten layer {self.name!r} needs inputs with a batch axis, got a scalar")
        rest = s.dims[1:]
        if all(d is not None for d in rest):
            return _array.reshape(inputs, [-1, math.prod(d for d in rest if d is not None)])
        if s.dims[0] is not None:
            return _array.reshape(inputs, [s.dims[0], -1])
        raise ShapeError(
            f"Flatten layer {self.name!r} cannot flatten shape {s}: with an unknown batch size the other "
            "dims must be known"
        )

    def compute_output_shape(self, input_shape: Any) -> Shape:
        """``(batch, product of the other dims)``, None where unknown."""
        s = _utils.input_shape(input_shape)
        if s.dims is None:
            return Shape([None, None])
        if not s.dims:
            raise ShapeError(f"Flatten layer {self.name!r} needs inputs with a batch axis, got a scalar")
        rest = s.dims[1:]
        n = math.prod(d for d in rest if d is not None) if all(d is not None for d in rest) else None
        return Shape([s.dims[0], n])

    def get_config(self) -> dict[str, Any]:
        return _utils.base_config(self)


class Dropout(Layer):
    """Zeroes inputs with probability ``rate`` while training, scaling the rest by ``1 / (1 - rate)``.

    Only active when called with ``training=True``; at inference it returns its input.
    With a ``seed`` the masks are reproducible: the n-th call of a layer always
    draws the same mask, and successive calls draw different ones.
    """

    def __init__(
        self,
        rate: float,
        seed: int | None = None,
        name: str | None = None,
        trainable: bool = True,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, trainable=trainable, dtype=dtype, **kwargs)
        rate = float(rate)
        if not 0.0 <= rate < 1.0:
            raise OpDefinitionError(f"Dropout: rate must be in [0, 1), got {rate!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise OpDefinitionError(f"Dropout: seed must be an int or None, got {seed!r}")
        self.rate = rate
        self.seed = seed
        self._draws = 0

    def _op_seed(self) -> int | None:
        if self.seed is None:
            return None
        # Each call gets its own op seed so that training steps do not all reuse one mask.
        n = self._draws
        self._draws += 1
        return (self.seed + 1_000_003 * n) % (2**31 - 1)

    def call(self, inputs: Any, training: Any = False) -> Any:
        """Dropout of ``inputs`` when ``training``; ``training`` may also be a boolean scalar tensor
        (a TF1 ``is_training`` placeholder), in which case both branches are built and selected."""
        if self.rate == 0.0:
            return inputs
        if isinstance(training, (bool, np.bool_)) or training is None:
            if not training:
                return inputs
            return _nn.dropout(inputs, self.rate, seed=self._op_seed(), training=True)
        dropped = _nn.dropout(inputs, self.rate, seed=self._op_seed(), training=True)
        flag = training if getattr(training, "dtype", None) is bool_ else _math.cast(training, "bool")
        return _math.where(flag, dropped, inputs)

    def compute_output_shape(self, input_shape: Any) -> Shape:
        return _utils.input_shape(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**_utils.base_config(self), "rate": self.rate, "seed": self.seed}
