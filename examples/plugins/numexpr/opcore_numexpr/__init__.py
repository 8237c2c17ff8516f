"""opcore-numexpr: an example third-party backend plugin.

It runs a handful of elementwise ops (float32 and float64 only) through
numexpr. Its native arrays are NumPy arrays, but it is a backend of its own
(``"numexpr"``): every other op raises ``KernelNotFoundError`` on it, and
``opcore conformance --backend numexpr`` shows those gaps as "not claimed".
"""

__version__ = "0.1.0"
