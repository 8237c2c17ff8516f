"""The built-in op definitions, one module per family.

Importing this package registers every built-in op. Families import only the
families before them at module level (``_broadcast``, ``math``, ``array``,
``reduce``, ``random``, ``nn``); a gradient that needs a later family imports
it inside the function.
"""

from opcore.ops import _broadcast, array, math, nn, random, reduce, train

__all__ = ["_broadcast", "array", "math", "nn", "random", "reduce", "train"]
