"""Type names of the kernel dialect (importable without any device library)."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

#: OpenCL C type names of NumPy dtypes (bool is stored as one byte).
CTYPES: dict[str, str] = {
    "bool": "uchar",
    "int8": "char",
    "int16": "short",
    "int32": "int",
    "int64": "long",
    "uint8": "uchar",
    "float16": "half",
    "float32": "float",
    "float64": "double",
}


_SEEN: dict[Any, str] = {}


def ctype(dtype: Any) -> str:
    """The OpenCL C type for an opcore DType, NumPy dtype or dtype name."""
    # Kernels ask for every argument on every call; NumPy's dtype.name is slow to compute.
    try:
        return _SEEN[dtype]
    except (KeyError, TypeError):
        pass
    name = getattr(dtype, "name", None)
    if not isinstance(name, str) or name not in CTYPES:
        name = np.dtype(dtype).name
    t = CTYPES[name]
    with contextlib.suppress(TypeError):  # an unhashable dtype-like is converted every time
        _SEEN[dtype] = t
    return t


def is_float(dtype: Any) -> bool:
    return ctype(dtype) in ("half", "float", "double")
