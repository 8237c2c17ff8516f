"""Keras's array helpers: :func:`to_categorical` and :func:`normalize` (NumPy in, NumPy out).

>>> from opcore import keras
>>> keras.utils.to_categorical([0, 2, 1], num_classes=3)
array([[1., 0., 0.],
       [0., 0., 1.],
       [0., 1., 0.]], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from opcore.keras._errors import ModelError

__all__ = ["normalize", "to_categorical"]


def to_categorical(y: Any, num_classes: int | None = None, dtype: Any = "float32") -> np.ndarray:
    """Class indices as one-hot rows: shape ``y.shape + (num_classes,)``, as Keras's ``to_categorical``.

    ``y`` holds integer class indices (a float array of whole numbers is
    accepted, as from a CSV file); a trailing axis of length 1
    (``[batch, 1]``) is dropped first, as Keras does. ``num_classes`` defaults
    to ``max(y) + 1``. Indices that are negative, not whole, or not below
    ``num_classes`` raise :class:`~opcore.keras.ModelError` naming the first one.
    """
    arr = np.asarray(y)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise ModelError(f"to_categorical: y must hold integer class indices, got an array of {arr.dtype}")
    if arr.ndim > 1 and arr.shape[-1] == 1:
        arr = arr.reshape(arr.shape[:-1])
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            raise ModelError(f"to_categorical: y must hold whole class indices, found {arr[bad].flat[0]!r}")
    if arr.size and arr.min() < 0:
        raise ModelError(f"to_categorical: class indices must be >= 0, found {arr.min()!r}")
    largest = int(arr.max()) if arr.size else -1
    if num_classes is None:
        num_classes = largest + 1
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ModelError(f"to_categorical: num_classes must be a positive int, got {num_classes!r}")
    if largest >= num_classes:
        raise ModelError(
            f"to_categorical: class index {largest} is out of range for num_classes={num_classes} "
            f"(indices must be in [0, {num_classes - 1}])"
        )
    try:
        out_dtype = np.dtype(dtype)
    except TypeError as exc:
        raise ModelError(f"to_categorical: bad dtype {dtype!r}: {exc}") from None
    out = np.zeros((*arr.shape, int(num_classes)), dtype=out_dtype)
    np.put_along_axis(out, arr.astype(np.intp)[..., None], 1, axis=-1)
    return out


def normalize(x: Any, axis: int = -1, order: int = 2) -> np.ndarray:
    """``x`` divided by its ``order``-norm along ``axis`` (Keras's ``utils.normalize``); zero vectors stay zero.

    >>> normalize([[3.0, 4.0], [0.0, 0.0]]).tolist()
    [[0.6, 0.8], [0.0, 0.0]]
    """
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise ModelError(f"normalize: x must be numeric, got an array of {arr.dtype}")
    norms = np.atleast_1d(np.linalg.norm(arr, order, axis))
    norms[norms == 0] = 1
    return arr / np.expand_dims(norms, axis)  # type: ignore[no-any-return]
