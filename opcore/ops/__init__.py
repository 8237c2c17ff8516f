"""The built-in op definitions, one module per family (the array family is a package of modules by kind of op).

Importing this package registers every built-in op. Families import only the
families before them at module level (``_broadcast``, ``math``, ``indexing``,
``array``, ``selection``, ``reduce``, ``random``, ``image``, ``nn``); a gradient that needs a later family imports
it inside the function.
"""

from opcore.ops import _broadcast, array, image, indexing, math, nn, random, reduce, selection, train

__all__ = ["_broadcast", "array", "image", "indexing", "math", "nn", "random", "reduce", "selection", "train"]
