"""Conformance specs: reduce family (Sum, Mean, Max, Min, Prod, ArgMax, ArgMin, UnreduceLike).

References are plain NumPy: float64 for floats; integers in their own dtype, so wrap-around
on overflow matches the kernels' fixed-width arithmetic.

NaN rules (each op's doc states them): reductions propagate NaN; ArgMax and ArgMin read NaN
as -inf and +inf, TensorFlow's rule, so they never pick a NaN over a number. The NaN
examples (``nan`` domain: a NaN first and about one value in three) hold every backend to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from opcore_conformance.spec import Case, Draw, Invalid, OpSpec, make_array

BAD_ATTR = "OpDefinitionError"


def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    return tuple(range(ndim)) if axis is None else tuple(a % ndim for a in axis)


def _draw_reduce(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape = tuple(draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)))
    rank = len(shape)
    axis: Any = None
    if draw(st.booleans()):
        picked = draw(st.lists(st.integers(0, rank - 1), unique=True)) if rank else []
        axis = [a - rank if draw(st.booleans()) else a for a in picked]
    return Case([shape], {"axis": axis, "keepdims": draw(st.booleans())})


REDUCE_EXAMPLES = [
    Case([()], label="scalar"),
    Case([(0, 3)], {"axis": [0]}, label="zero-size"),
    Case([(0, 3)], label="zero-size, all axes"),
    Case([(2, 3, 4)], {"axis": [-1, 0], "keepdims": True}),
    Case([(2, 3)], {"axis": []}, label="no axes"),
]
#: Max and Min propagate NaN (their doc's rule), in long (staged) rows too.
EXTREMUM_EXAMPLES = [
    *REDUCE_EXAMPLES,
    Case([(5, 700)], {"axis": [1]}, label="NaN propagates", grad=False, domains=["nan"]),
    Case([(3, 4)], {"axis": [0]}, label="NaN propagates, columns", grad=False, domains=["nan"]),
    Case([(2, 3)], label="NaN propagates, all axes", grad=False, values={0: [[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]]}),
]
REDUCE_INVALID = [
    Invalid([(2, 3)], {"axis": [2]}, label="axis out of range"),
    Invalid([(2, 3)], {"axis": [0, -2]}, label="axis twice"),
    Invalid([(2, 3)], {"axis": "0"}, error=BAD_ATTR, label="bad attr type"),
    Invalid([(2, 3)], {"keepdims": 1}, error=BAD_ATTR, label="bad attr type"),
    Invalid([(2,)], dtypes=["bool"], error="DTypeError", label="bool not allowed"),
]


def _sum_ref(x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    return np.asarray(np.sum(x, axis=_axes(axis, x.ndim), keepdims=keepdims, dtype=x.dtype))


def _prod_ref(x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    return np.asarray(np.prod(x, axis=_axes(axis, x.ndim), keepdims=keepdims, dtype=x.dtype))


def _mean_ref(x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    axes = _axes(axis, x.ndim)
    count = int(np.prod([x.shape[a] for a in axes]))
    if x.dtype.kind in "iu":
        # TensorFlow: the integer sum divided by the count, truncated toward zero; 0 when empty.
        total = np.sum(x.astype(np.int64), axis=axes, keepdims=keepdims)
        out = [int(t / count) if count else 0 for t in np.ravel(total)]
        return np.array(out, dtype=np.int64).reshape(np.shape(total)).astype(x.dtype)
    total = np.sum(x, axis=axes, keepdims=keepdims)
    return np.asarray(total / count if count else total * np.nan)


def _max_ref(x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    return np.asarray(np.max(x, axis=_axes(axis, x.ndim), keepdims=keepdims, initial=low))


def _min_ref(x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    high = np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).max
    return np.asarray(np.min(x, axis=_axes(axis, x.ndim), keepdims=keepdims, initial=high))


def _distinct(rng: np.random.Generator, case: Case, binding: Mapping[str, str]) -> list[Any]:
    """Distinct values, so max/min/arg* have no ties (no kinks for finite differences).

    A case in the ``nan`` domain gets NaNs among them too (floats only): the first element and
    about one in three, so whole rows of NaN and rows that start with one occur.
    """
    shape = case.shapes[0]
    assert isinstance(shape, tuple)
    n = int(np.prod(shape))
    dtype = np.dtype(binding["T"])
    vals = rng.permutation(n).astype(np.float64)
    if dtype.kind == "u":
        return [vals.reshape(shape).astype(dtype)]
    vals = vals - n // 2
    if dtype.kind == "f":
        vals = vals * 0.25 + rng.uniform(-0.05, 0.05, size=n)
        if case.domains and case.domains[0] == "nan" and n:
            vals[rng.random(n) < 0.35] = np.nan
            vals[0] = np.nan
    return [vals.reshape(shape).astype(dtype)]


def _with_zeros(rng: np.random.Generator, case: Case, binding: Mapping[str, str]) -> list[Any]:
    """Values with a few exact zeros (where Prod's gradient is delicate)."""
    shape = case.shapes[0]
    assert isinstance(shape, tuple)
    dtype = binding["T"]
    x = make_array(rng, shape, dtype, "nonzero" if np.dtype(dtype).kind == "f" else "real")
    flat = x.reshape(-1)
    if flat.size:
        for _ in range(int(rng.integers(0, 3))):
            flat[rng.integers(0, flat.size)] = 0
    return [x]


def _draw_arg(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape = tuple(draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)))
    return Case(
        [shape],
        {
            "axis": int(draw(st.integers(-len(shape), len(shape) - 1))),
            "output_type": draw(st.sampled_from(["int32", "int64"])),
        },
    )


def _arg_ref(fn: Any, nan_as: float) -> Any:
    """The first index of the best value, NaN read as ``nan_as`` (-inf for argmax, +inf for argmin)."""

    def ref(x: np.ndarray, axis: int, output_type: Any) -> np.ndarray:
        if x.dtype.kind == "f":
            x = np.where(np.isnan(x), nan_as, x)
        return np.asarray(fn(x, axis=axis)).astype(np.dtype(str(output_type)))

    return ref


_NAN = np.nan
_INF = np.inf
ARG_EXAMPLES = [
    Case([(3,)], label="vector"),
    Case([(2, 0)], {"axis": 0}, label="zero-size"),
    Case([(2, 3)], {"axis": -1, "output_type": "int32"}),
    # TensorFlow's rule: argmax([[1, nan, 3]], axis=1) == 2 (NumPy and PyTorch say 1).
    Case([(1, 3)], {"axis": 1}, label="NaN is skipped", values={0: [[1.0, _NAN, 3.0]]}),
    Case([(1, 3)], {"axis": 1}, label="NaN is skipped, argmin side", values={0: [[-1.0, _NAN, -3.0]]}),
    Case([(2, 3)], {"axis": 1}, label="NaN first", values={0: [[_NAN, 1.0, 2.0], [_NAN, -2.0, -1.0]]}),
    Case([(3, 2)], {"axis": 1}, label="only NaN", values={0: [[_NAN, _NAN], [_NAN, -_INF], [_INF, _NAN]]}),
    Case([(4, 700)], {"axis": 1}, label="NaN in long rows", domains=["nan"]),
    Case([(5, 3)], {"axis": 0}, label="NaN down columns", domains=["nan"]),
]
ARG_INVALID = [
    Invalid([(2, 3)], {"axis": 2}, label="axis out of range"),
    Invalid([()], label="scalar"),
    Invalid([(0, 3)], label="empty axis"),
    Invalid([(2, 3)], {"output_type": "float32"}, error=BAD_ATTR, label="float output_type"),
    Invalid([(2, 3)], {"axis": [0]}, error=BAD_ATTR, label="bad attr type"),
]


def _draw_unreduce(draw: Draw, binding: Mapping[str, str]) -> Case:
    case = _draw_reduce(draw, binding)
    shape = case.shapes[0]
    assert isinstance(shape, tuple)
    reduced = np.sum(np.zeros(shape), axis=_axes(case.attrs["axis"], len(shape)), keepdims=case.attrs["keepdims"])
    return Case([tuple(np.shape(reduced)), shape], case.attrs)


def _unreduce_ref(dy: np.ndarray, like: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    if not keepdims:
        for a in sorted(_axes(axis, like.ndim)):
            dy = np.expand_dims(dy, a)
    return np.broadcast_to(dy, like.shape).copy()


def _reduce_spec(op: str, reference: Any, examples: Any = REDUCE_EXAMPLES, **kw: Any) -> OpSpec:
    return OpSpec(op, reference=reference, draw=_draw_reduce, examples=examples, invalid=REDUCE_INVALID, **kw)


SPECS = [
    _reduce_spec("Sum", _sum_ref, tolerance=4.0),
    _reduce_spec("Mean", _mean_ref, tolerance=4.0),
    _reduce_spec("Max", _max_ref, EXTREMUM_EXAMPLES, make_inputs=_distinct),
    _reduce_spec("Min", _min_ref, EXTREMUM_EXAMPLES, make_inputs=_distinct),
    _reduce_spec("Prod", _prod_ref, make_inputs=_with_zeros, tolerance=4.0),
    OpSpec(
        "ArgMax",
        reference=_arg_ref(np.argmax, -np.inf),
        draw=_draw_arg,
        examples=ARG_EXAMPLES,
        make_inputs=_distinct,
        invalid=ARG_INVALID,
    ),
    OpSpec(
        "ArgMin",
        reference=_arg_ref(np.argmin, np.inf),
        draw=_draw_arg,
        examples=ARG_EXAMPLES,
        make_inputs=_distinct,
        invalid=ARG_INVALID,
    ),
    OpSpec(
        "UnreduceLike",
        reference=_unreduce_ref,
        draw=_draw_unreduce,
        examples=[
            Case([(), ()], label="scalar"),
            Case([(3,), (0, 3)], {"axis": [0]}, label="zero-size"),
            Case([(1, 3, 1), (2, 3, 4)], {"axis": [0, 2], "keepdims": True}),
            Case([(3,), (2, 3, 4)], {"axis": [0, -1]}),
        ],
        grad_inputs=[0],
        invalid=[
            Invalid([(2,), (2, 3)], {"axis": [0]}, label="dy does not match"),
            Invalid([(2,), (2, 3)], {"axis": [2]}, label="axis out of range"),
        ],
    ),
]
