"""Argument normalisation shared by the layer modules (not public API)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opcore import dtypes as _dt
from opcore import initializers
from opcore.dtypes import DType
from opcore.errors import OpDefinitionError
from opcore.layers.base import Layer
from opcore.ops import math as _math
from opcore.shapes import Dim, Shape, as_shape


def pair(value: int | Sequence[int], name: str, layer: str) -> tuple[int, int]:
    """An int or a 2-sequence of positive ints, as a pair."""
    vals = (value, value) if isinstance(value, int) else tuple(value)
    if len(vals) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in vals):
        raise OpDefinitionError(f"{layer}: {name} must be a positive int or 2 positive ints, got {value!r}")
    return int(vals[0]), int(vals[1])


def padding(value: str, layer: str) -> str:
    """Keras's ``"valid"``/``"same"`` (either case), as the ops' ``"VALID"``/``"SAME"``."""
    up = str(value).upper()
    if up not in ("VALID", "SAME"):
        raise OpDefinitionError(f"{layer}: padding must be 'valid' or 'same', got {value!r}")
    return up


def data_format(value: str | None, layer: str) -> str:
    """``"channels_last"``/``"channels_first"`` (or NHWC/NCHW), as the ops' ``"NHWC"``/``"NCHW"``."""
    v = "channels_last" if value is None else str(value)
    table = {"channels_last": "NHWC", "channels_first": "NCHW", "NHWC": "NHWC", "NCHW": "NCHW"}
    if v not in table:
        raise OpDefinitionError(f"{layer}: data_format must be 'channels_last' or 'channels_first', got {value!r}")
    return table[v]


def keras_format(op_format: str) -> str:
    return "channels_first" if op_format == "NCHW" else "channels_last"


def to_dtype(x: Any, dtype: DType) -> Any:
    """``x`` cast to ``dtype`` unless it has it already (NumPy and Python data included)."""
    if getattr(x, "dtype", None) is dtype:
        return x
    return _math.cast(x, dtype)


def layer_dtype(layer_dtype: Any) -> DType:
    return _dt.as_dtype(layer_dtype) if layer_dtype is not None else _dt.float32


def input_shape(value: Any) -> Shape:
    return value if isinstance(value, Shape) else as_shape(value)


def window_output(size: Dim, window: int, stride: int, dilation: int, pad: str) -> Dim:
    """Output length along one spatial axis of a convolution or pooling window (None stays None)."""
    if size is None:
        return None
    if pad == "SAME":
        return -(-size // stride)
    effective = (window - 1) * dilation + 1
    return max(0, -(-(size - effective + 1) // stride))


def initializer_config(init: Any) -> Any:
    """A JSON-serialisable description of an initializer that ``initializers.get`` maps back."""
    if isinstance(init, str) or init is None:
        return init
    if isinstance(init, initializers.Initializer):
        return initializers.serialize(init)
    raise OpDefinitionError(
        f"cannot save the custom initializer {init!r} in a layer config; use a built-in initializer "
        "(a name or an opcore.initializers class) for layers that are saved"
    )


def base_config(layer: Layer) -> dict[str, Any]:
    config = Layer.get_config(layer)
    if layer.dtype is not None:
        config["dtype"] = layer_dtype(layer.dtype).name
    return config
