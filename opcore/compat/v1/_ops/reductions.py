"""TensorFlow 1's reductions (``reduce_*``, ``count_nonzero``, ``argmax``/``argmin``) with ``keep_dims``,
``reduction_indices`` and ``dimension``.
"""

from __future__ import annotations

from typing import Any

import opcore
from opcore import dtypes as _dt
from opcore.compat.v1._graph import building
from opcore.compat.v1._ops._helpers import _named, _one_of


def _axis_keep(axis: Any, reduction_indices: Any, keepdims: bool | None, keep_dims: bool | None) -> tuple[Any, bool]:
    """The axis and whether to keep it, from TensorFlow 1's arguments or their deprecated aliases."""
    axis = _one_of(axis, reduction_indices, "axis", "reduction_indices")
    return axis, bool(_one_of(keepdims, keep_dims, "keepdims", "keep_dims"))


def _reduction(op: Any, doc: str, fname: str | None = None) -> Any:
    """TensorFlow 1's signature of a reduction (its deprecated aliases included) around
    ``op(input_tensor, axis=, keepdims=, name=)``."""

    def reduce(
        input_tensor: Any,
        axis: Any = None,
        keepdims: bool | None = None,
        name: str | None = None,
        reduction_indices: Any = None,
        keep_dims: bool | None = None,
    ) -> Any:
        axis, keep = _axis_keep(axis, reduction_indices, keepdims, keep_dims)
        with building():
            return op(input_tensor, axis=axis, keepdims=keep, name=name)

    reduce.__name__ = reduce.__qualname__ = fname or op.__name__
    reduce.__doc__ = doc
    return reduce


reduce_sum = _reduction(opcore.reduce_sum, "Sum over ``axis`` (None: every axis); ``keep_dims`` keeps them as 1s.")
reduce_mean = _reduction(opcore.reduce_mean, "Mean over ``axis`` (None: every axis); a list of tensors is stacked.")
reduce_max = _reduction(opcore.reduce_max, "Maximum over ``axis`` (None: every axis).")
reduce_min = _reduction(opcore.reduce_min, "Minimum over ``axis`` (None: every axis).")
reduce_prod = _reduction(opcore.reduce_prod, "Product over ``axis`` (None: every axis).")


def _logical(use_max: bool) -> Any:
    """Logical or (``use_max``) or and of a bool tensor: the maximum or minimum of it as int32."""

    def op(input_tensor: Any, axis: Any, keepdims: bool, name: str | None) -> Any:
        as_int = opcore.cast(input_tensor, _dt.int32)
        r = (opcore.reduce_max if use_max else opcore.reduce_min)(as_int, axis=axis, keepdims=keepdims)
        return opcore.cast(r, _dt.bool_, name=name)

    return op


reduce_any = _reduction(_logical(True), "Logical or over ``axis`` of a bool tensor.", "reduce_any")
reduce_all = _reduction(_logical(False), "Logical and over ``axis`` of a bool tensor.", "reduce_all")


def reduce_logsumexp(
    input_tensor: Any,
    axis: Any = None,
    keepdims: bool | None = None,
    name: str | None = None,
    reduction_indices: Any = None,
    keep_dims: bool | None = None,
) -> Any:
    """``log(sum(exp(x)))`` over ``axis``, computed stably (the maximum is subtracted first)."""
    axis, keep = _axis_keep(axis, reduction_indices, keepdims, keep_dims)
    with building():
        m = opcore.stop_gradient(opcore.reduce_max(input_tensor, axis=axis, keepdims=True))
        s = opcore.reduce_sum(opcore.exp(opcore.subtract(input_tensor, m)), axis=axis, keepdims=True)
        out = opcore.add(opcore.log(s), m)
        if not keep:
            out = opcore.squeeze(out, axis=axis)
        return _named(out, name)


def count_nonzero(
    input_tensor: Any,
    axis: Any = None,
    keepdims: bool | None = None,
    dtype: Any = _dt.int64,
    name: str | None = None,
    reduction_indices: Any = None,
    keep_dims: bool | None = None,
) -> Any:
    """How many elements along ``axis`` are not zero."""
    axis, keep = _axis_keep(axis, reduction_indices, keepdims, keep_dims)
    with building():
        nz = opcore.cast(opcore.not_equal(input_tensor, opcore.zeros_like(input_tensor)), dtype)
        return opcore.reduce_sum(nz, axis=axis, keepdims=keep, name=name)


def _arg(op: Any, fname: str) -> Any:
    def arg(
        input: Any, axis: Any = None, name: str | None = None, dimension: Any = None, output_type: Any = _dt.int64
    ) -> Any:
        axis = _one_of(axis, dimension, "axis", "dimension")
        with building():
            return op(input, axis=0 if axis is None else axis, output_type=output_type, name=name)

    arg.__name__ = arg.__qualname__ = fname
    arg.__doc__ = f"The index of the {'largest' if 'max' in fname else 'smallest'} value along ``axis`` (default 0)."
    return arg


argmax = _arg(opcore.argmax, "argmax")
argmin = _arg(opcore.argmin, "argmin")
