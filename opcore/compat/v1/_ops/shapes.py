"""TensorFlow 1's shape and indexing functions (reshape, transpose, concat, stack, split, squeeze, pad, one_hot,
gather, slice), with shapes that must be known when the graph is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import opcore
from opcore import dtypes as _dt
from opcore.compat.v1._graph import builds, tf_dtype
from opcore.compat.v1._ops._helpers import _as_graph, _one_of, _static_dims
from opcore.errors import OpDefinitionError, ShapeError


@builds
def reshape(tensor: Any, shape: Any, name: str | None = None) -> Any:
    return opcore.reshape(tensor, _static_dims(shape, "reshape"), name=name)


@builds
def transpose(a: Any, perm: Any = None, name: str = "transpose", conjugate: bool = False) -> Any:
    return opcore.transpose(a, perm=perm, name=name)


@builds
def concat(values: Sequence[Any], axis: int, name: str = "concat") -> Any:
    return opcore.concat(list(values), axis=axis, name=name)


@builds
def stack(values: Sequence[Any], axis: int = 0, name: str = "stack") -> Any:
    return opcore.stack(list(values), axis=axis, name=name)


@builds
def unstack(value: Any, num: int | None = None, axis: int = 0, name: str = "unstack") -> Any:
    if num is None:
        dims = _as_graph(value).shape
        num = dims[axis] if dims.rank is not None else None
        if num is None:
            raise ShapeError(f"tf.unstack: cannot infer num from shape {dims}; pass num=")
    return opcore.unstack(value, num=num, axis=axis, name=name)


@builds
def split(value: Any, num_or_size_splits: Any, axis: int = 0, num: int | None = None, name: str = "split") -> Any:
    """Split into ``num_or_size_splits`` equal parts, or parts of the given sizes along ``axis``."""
    if isinstance(num_or_size_splits, int):
        return opcore.split(value, num_split=num_or_size_splits, axis=axis, name=name)
    sizes = [int(s) for s in num_or_size_splits]
    x = _as_graph(value)
    rank_ = x.shape.rank
    if rank_ is None:
        raise ShapeError("tf.split with sizes needs a known rank")
    ax = axis % rank_
    if -1 in sizes:
        total = x.shape[ax]
        if total is None:
            raise ShapeError(f"tf.split: cannot infer the -1 size along an unknown dim of shape {x.shape}")
        sizes[sizes.index(-1)] = total - sum(s for s in sizes if s != -1)
    parts, start = [], 0
    for s in sizes:
        begin = [0] * rank_
        size_ = [-1] * rank_
        begin[ax], size_[ax] = start, s
        parts.append(opcore.slice(x, begin=begin, size=size_))
        start += s
    return parts


@builds
def squeeze(input: Any, axis: Any = None, name: str | None = None, squeeze_dims: Any = None) -> Any:
    axis = _one_of(axis, squeeze_dims, "axis", "squeeze_dims")
    return opcore.squeeze(input, axis=axis, name=name)


@builds
def expand_dims(input: Any, axis: Any = None, name: str | None = None, dim: Any = None) -> Any:
    axis = _one_of(axis, dim, "axis", "dim")
    if axis is None:
        raise OpDefinitionError("tf.expand_dims: axis is required")
    return opcore.expand_dims(input, axis=axis, name=name)


@builds
def tile(input: Any, multiples: Any, name: str | None = None) -> Any:
    return opcore.tile(input, multiples=_static_dims(multiples, "tile"), name=name)


@builds
def pad(tensor: Any, paddings: Any, mode: str = "CONSTANT", name: str | None = None, constant_values: Any = 0) -> Any:
    if str(mode).upper() != "CONSTANT":
        raise OpDefinitionError(f"tf.pad: mode {mode!r} is not provided; opcore pads with a constant")
    return opcore.pad(tensor, paddings, constant_values=constant_values, name=name)


@builds
def one_hot(
    indices: Any,
    depth: int,
    on_value: Any = None,
    off_value: Any = None,
    axis: int | None = None,
    dtype: Any = None,
    name: str | None = None,
) -> Any:
    return opcore.one_hot(
        indices,
        depth,
        on_value=1.0 if on_value is None else on_value,
        off_value=0.0 if off_value is None else off_value,
        axis=-1 if axis is None else axis,
        dtype=_dt.float32 if dtype is None else tf_dtype(dtype),
        name=name,
    )


@builds
def gather(
    params: Any,
    indices: Any,
    validate_indices: Any = None,
    name: str | None = None,
    axis: int | None = None,
    batch_dims: int = 0,
) -> Any:
    if batch_dims:
        raise OpDefinitionError("tf.gather: batch_dims is not provided by opcore's GatherV2")
    return opcore.gather(params, indices, axis=0 if axis is None else axis, name=name)


@builds
def slice(input_: Any, begin: Any, size: Any, name: str | None = None) -> Any:
    return opcore.slice(input_, begin=_static_dims(begin, "slice"), size=_static_dims(size, "slice"), name=name)
