"""Type names of the kernel dialect (importable without any device library)."""

from __future__ import annotations

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


def ctype(dtype: Any) -> str:
    """The OpenCL C type for an opcore DType, NumPy dtype or dtype name."""
    name = getattr(dtype, "name", None)
    if not isinstance(name, str) or name not in CTYPES:
        name = np.dtype(dtype).name
    return CTYPES[name]


def is_float(dtype: Any) -> bool:
    return ctype(dtype) in ("half", "float", "double")
