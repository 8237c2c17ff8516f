"""``tf.layers``: TensorFlow 1's layer functions and classes, on :mod:`opcore.layers`.

Each function makes a new layer and applies it once, in the default graph. As in
TensorFlow 1, a layer's variables are made with ``tf.get_variable`` under the
current variable scope (``dense/kernel``, ``conv2d_1/bias`` ...), so
``tf.variable_scope(..., reuse=True)`` with the same layer ``name`` shares them, and
its ops are named under the layer's name (``dense/MatMul``).
``dropout(inputs, rate=0.5, training=False)`` takes the probability to *drop*, and
is active only while ``training`` is true (a bool, or a bool tensor such as a
placeholder).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opcore import layers as _layers
from opcore.compat.v1._graph import building
from opcore.compat.v1._variables import get_variable, get_variable_scope, unique_name_in_scope

__all__ = [
    "AveragePooling2D",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "MaxPooling2D",
    "average_pooling2d",
    "conv2d",
    "dense",
    "dropout",
    "flatten",
    "max_pooling2d",
]


class _TF1Layer(_layers.Layer):
    """Variables through ``tf.get_variable`` (shared under ``reuse``); ops under the layer's name."""

    def add_weight(self, name: str, shape: Any, initializer: Any, dtype: Any = None, trainable: bool = True) -> Any:
        var = get_variable(
            f"{self.name}/{name}",
            shape=shape,
            dtype=dtype or self.dtype or "float32",
            initializer=initializer,
            regularizer=getattr(self, "_tf1_regularizers", {}).get(name),
            trainable=trainable and self.trainable,
        )
        self._variables.append(var)
        return var

    def __call__(self, inputs: Any, training: Any = None) -> Any:
        with building() as g, g.name_scope(self.name):
            return super().__call__(inputs, training=training)


def _initializer(value: Any, default: str) -> Any:
    return default if value is None else value


class Dense(_TF1Layer, _layers.Dense):
    """``activation(inputs @ kernel + bias)`` (TensorFlow 1's ``tf.layers.Dense``)."""

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = None,
        bias_initializer: Any = None,
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        trainable: bool = True,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        _reject(kwargs, "Dense")
        _no_constraints("Dense", activity_regularizer, kernel_constraint, bias_constraint)
        super().__init__(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=_initializer(kernel_initializer, "glorot_uniform"),
            bias_initializer=_initializer(bias_initializer, "zeros"),
            name=name,
            trainable=trainable,
            dtype=kwargs.get("dtype"),
        )
        self._tf1_regularizers = {"kernel": kernel_regularizer, "bias": bias_regularizer}


class Conv2D(_TF1Layer, _layers.Conv2D):
    """2-D convolution layer (TensorFlow 1's ``tf.layers.Conv2D``)."""

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = (1, 1),
        padding: str = "valid",
        data_format: str = "channels_last",
        dilation_rate: int | Sequence[int] = (1, 1),
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = None,
        bias_initializer: Any = None,
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        trainable: bool = True,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        _reject(kwargs, "Conv2D")
        _no_constraints("Conv2D", activity_regularizer, kernel_constraint, bias_constraint)
        super().__init__(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=_initializer(kernel_initializer, "glorot_uniform"),
            bias_initializer=_initializer(bias_initializer, "zeros"),
            name=name,
            trainable=trainable,
            dtype=kwargs.get("dtype"),
        )
        self._tf1_regularizers = {"kernel": kernel_regularizer, "bias": bias_regularizer}


class MaxPooling2D(_TF1Layer, _layers.MaxPooling2D):
    """Max pooling layer; ``pool_size`` and ``strides`` are required, as in TensorFlow 1."""

    def __init__(
        self,
        pool_size: int | Sequence[int],
        strides: int | Sequence[int],
        padding: str = "valid",
        data_format: str = "channels_last",
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        _reject(kwargs, "MaxPooling2D")
        super().__init__(pool_size, strides, padding=padding, data_format=data_format, name=name)


class AveragePooling2D(_TF1Layer, _layers.AveragePooling2D):
    """Average pooling layer; ``pool_size`` and ``strides`` are required, as in TensorFlow 1."""

    def __init__(
        self,
        pool_size: int | Sequence[int],
        strides: int | Sequence[int],
        padding: str = "valid",
        data_format: str = "channels_last",
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        _reject(kwargs, "AveragePooling2D")
        super().__init__(pool_size, strides, padding=padding, data_format=data_format, name=name)


class Flatten(_TF1Layer, _layers.Flatten):
    """``[batch, ...] -> [batch, n]``."""

    def __init__(self, data_format: str | None = None, name: str | None = None, **kwargs: Any) -> None:
        _reject(kwargs, "Flatten")
        super().__init__(name=name)


class Dropout(_TF1Layer, _layers.Dropout):
    """Dropout that drops ``rate`` of the inputs while ``training`` (TensorFlow 1's ``tf.layers.Dropout``)."""

    def __init__(
        self, rate: float = 0.5, noise_shape: Any = None, seed: int | None = None, name: str | None = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        _reject(kwargs, "Dropout")
        if noise_shape is not None:
            raise ValueError("tf.layers.Dropout: noise_shape is not provided; use tf.nn.dropout(noise_shape=...)")
        super().__init__(rate, seed=seed, name=name)


def _no_constraints(layer: str, activity_regularizer: Any, kernel_constraint: Any, bias_constraint: Any) -> None:
    if activity_regularizer is not None or kernel_constraint is not None or bias_constraint is not None:
        raise ValueError(
            f"tf.layers.{layer}: activity_regularizer and constraints are not provided by opcore "
            "(kernel_regularizer and bias_regularizer are)"
        )


def _reject(kwargs: dict[str, Any], layer: str) -> None:
    unknown = set(kwargs) - {"dtype", "_reuse", "_scope"}
    if unknown:
        raise TypeError(f"tf.layers.{layer}: unexpected argument(s) {', '.join(sorted(unknown))}")


def _name(name: str | None, base: str, reuse: Any) -> str:
    return name if name is not None else unique_name_in_scope(base)


def _reusing(reuse: Any) -> Any:
    from opcore.compat.v1._variables import variable_scope

    # reuse=True on a layer function: get its variables from the enclosing scope.
    return variable_scope(get_variable_scope(), reuse=True) if reuse else _null()


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def dense(
    inputs: Any,
    units: int,
    activation: Any = None,
    use_bias: bool = True,
    kernel_initializer: Any = None,
    bias_initializer: Any = None,
    kernel_regularizer: Any = None,
    bias_regularizer: Any = None,
    activity_regularizer: Any = None,
    kernel_constraint: Any = None,
    bias_constraint: Any = None,
    trainable: bool = True,
    name: str | None = None,
    reuse: Any = None,
) -> Any:
    """A fully connected layer applied to ``inputs``: ``activation(inputs @ kernel + bias)``."""
    with building(), _reusing(reuse):
        layer = Dense(
            units, activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
            activity_regularizer, kernel_constraint, bias_constraint, trainable=trainable,
            name=_name(name, "dense", reuse),
        )  # fmt: skip
        return layer(inputs)


def conv2d(
    inputs: Any,
    filters: int,
    kernel_size: int | Sequence[int],
    strides: int | Sequence[int] = (1, 1),
    padding: str = "valid",
    data_format: str = "channels_last",
    dilation_rate: int | Sequence[int] = (1, 1),
    activation: Any = None,
    use_bias: bool = True,
    kernel_initializer: Any = None,
    bias_initializer: Any = None,
    kernel_regularizer: Any = None,
    bias_regularizer: Any = None,
    activity_regularizer: Any = None,
    kernel_constraint: Any = None,
    bias_constraint: Any = None,
    trainable: bool = True,
    name: str | None = None,
    reuse: Any = None,
) -> Any:
    """A 2-D convolution layer applied to ``inputs`` (``padding`` ``"valid"`` or ``"same"``)."""
    with building(), _reusing(reuse):
        layer = Conv2D(
            filters, kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
            kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer, activity_regularizer,
            kernel_constraint, bias_constraint, trainable=trainable, name=_name(name, "conv2d", reuse),
        )  # fmt: skip
        return layer(inputs)


def max_pooling2d(
    inputs: Any,
    pool_size: int | Sequence[int],
    strides: int | Sequence[int],
    padding: str = "valid",
    data_format: str = "channels_last",
    name: str | None = None,
) -> Any:
    """Max pooling of ``inputs`` over ``pool_size`` windows moved by ``strides``."""
    with building():
        return MaxPooling2D(pool_size, strides, padding, data_format, name=_name(name, "max_pooling2d", None))(inputs)


def average_pooling2d(
    inputs: Any,
    pool_size: int | Sequence[int],
    strides: int | Sequence[int],
    padding: str = "valid",
    data_format: str = "channels_last",
    name: str | None = None,
) -> Any:
    """Average pooling of ``inputs`` over ``pool_size`` windows moved by ``strides``."""
    with building():
        layer = AveragePooling2D(pool_size, strides, padding, data_format, name=_name(name, "average_pooling2d", None))
        return layer(inputs)


def flatten(inputs: Any, name: str | None = None, data_format: str = "channels_last") -> Any:
    """``[batch, ...] -> [batch, n]``."""
    with building():
        return Flatten(name=_name(name, "flatten", None))(inputs)


def dropout(
    inputs: Any,
    rate: float = 0.5,
    noise_shape: Any = None,
    seed: int | None = None,
    training: Any = False,
    name: str | None = None,
) -> Any:
    """Drop ``rate`` of ``inputs`` (scaling the rest by ``1 / (1 - rate)``) while ``training`` is true.

    ``training`` is a Python bool or a bool tensor (an ``is_training`` placeholder). Note
    the difference from ``tf.nn.dropout``, whose argument is the probability to keep.
    """
    with building():
        return Dropout(rate, noise_shape, seed, name=_name(name, "dropout", None))(inputs, training=training)
