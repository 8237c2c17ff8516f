"""Built-in ops: array family (reshaping, joining, splitting, tiling, padding, filling).

Every op here accepts every dtype where moving elements around makes sense.
Gradients that must put values back where they came from (slices, gathers,
concatenation, tiling) use small helper ops that take the forward input as a
``like`` argument, so they work when shapes are only known at run time.

The ops live in modules by kind of op: :mod:`.reshaping` (reshaping and
joining) and :mod:`.filling` (tiling, padding and filling); slicing and
gathering are the indexing family (:mod:`opcore.ops.indexing`). Importing this
package registers their ops in that order.
"""

from __future__ import annotations

# Imported in this order, which keeps the order the ops are registered in: the math family
# (which filling uses) and the indexing family (re-exported here) before this family's ops.
from opcore.ops import math as _math  # noqa: F401

# isort: split
from opcore.ops.indexing import (  # noqa: F401 - also reachable here, where they were defined before
    gather,
    gather_grad,
    getitem,
    slice,
    strided_slice,
    strided_slice_grad,
)

# isort: split
from opcore.ops.array.reshaping import (
    concat,
    expand_dims,
    reshape,
    split,
    split_like,
    squeeze,
    stack,
    transpose,
    unstack,
)

# isort: split
from opcore.ops.array.filling import (
    fill,
    identity,
    one_hot,
    ones,
    ones_like,
    pad,
    stop_gradient,
    tile,
    tile_grad,
    zeros,
    zeros_like,
)

__all__ = [
    "concat",
    "expand_dims",
    "fill",
    "identity",
    "one_hot",
    "ones",
    "ones_like",
    "pad",
    "reshape",
    "split",
    "split_like",
    "squeeze",
    "stack",
    "stop_gradient",
    "tile",
    "tile_grad",
    "transpose",
    "unstack",
    "zeros",
    "zeros_like",
]
