"""Conformance specs: math family (arithmetic, unary functions, comparisons, logic, Select, Cast, MatMul).

References are plain float64 NumPy; integer and bool inputs arrive in their own dtype, so integer
wrap-around matches the kernels' fixed-width arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from opcore_conformance.spec import Case, Draw, Invalid, OpSpec, make_array

# --------------------------------------------------------------------------- drawing shapes


def _draw_binary(draw: Draw, binding: Mapping[str, str]) -> Case:
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4))
    return Case(list(shapes.input_shapes))


def _draw_unary(draw: Draw, binding: Mapping[str, str]) -> Case:
    return Case([draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))])


def _draw_select(draw: Draw, binding: Mapping[str, str]) -> Case:
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=4))
    return Case(list(shapes.input_shapes))


BINARY_EXAMPLES = [
    Case([(), ()], label="scalar"),
    Case([(0, 3), (1, 3)], label="zero-size"),
    Case([(2, 1, 3), (4, 1)], label="broadcast"),
    Case([(3,), ()], label="tensor-scalar"),
]
UNARY_EXAMPLES = [Case([()], label="scalar"), Case([(0, 3)], label="zero-size"), Case([(2, 3)])]
NOT_BROADCASTABLE = Invalid([(2, 3), (4,)], label="not broadcastable")


def _bad_dtype(dtype: str, n: int) -> Invalid:
    shapes: list[Any] = [(2,)] * n
    return Invalid(shapes, dtypes=[dtype] * n, error="DTypeError", label=f"{dtype} not allowed")


# --------------------------------------------------------------------------- input builders


def _separated(rng: np.random.Generator, case: Case, binding: Mapping[str, str]) -> list[Any]:
    """x near even numbers, y near odd ones: never equal, so max/min have no ties (kinks)."""
    dtype = np.dtype(binding["T"])
    if case.domains is not None:  # an edge case (NaN, infinities): values from its domains, ties and all
        return [make_array(rng, tuple(s), dtype.name, d) for s, d in zip(case.shapes, case.domains)]
    lo = 0 if dtype.kind == "u" else -2
    out = []
    for i, shape in enumerate(case.shapes):
        assert isinstance(shape, tuple)
        vals = 2.0 * rng.integers(lo, 3, size=shape) + i
        if dtype.kind == "f":
            vals = vals + rng.uniform(-0.3, 0.3, size=shape)
        out.append(np.asarray(vals).astype(dtype))
    return out


def _pow_inputs(rng: np.random.Generator, case: Case, binding: Mapping[str, str]) -> list[Any]:
    """Base > 0 (the gradient for the exponent needs log(x)); small exponents, >= 0 for integers."""
    dtype = np.dtype(binding["T"])
    xs, ys = case.shapes
    assert isinstance(xs, tuple) and isinstance(ys, tuple)
    if dtype.kind == "f":
        x, y = rng.uniform(0.5, 2.0, size=xs), rng.uniform(-2.0, 2.0, size=ys)
    else:
        x, y = rng.integers(1, 5, size=xs), rng.integers(0, 4, size=ys)
    return [np.asarray(x).astype(dtype), np.asarray(y).astype(dtype)]


def _cast_inputs(rng: np.random.Generator, case: Case, binding: Mapping[str, str]) -> list[Any]:
    """Drawn casts take values every destination holds; the ``extremes`` examples take NaN, infinities,
    subnormals and values beyond the integer ranges (floating sources only)."""
    src = binding["SrcT"]
    shape = case.shapes[0]
    assert isinstance(shape, tuple)
    domain = case.domains[0] if case.domains else "real"
    if domain == "extremes" and np.dtype(src).kind != "f":
        domain = "real"
    return [make_array(rng, shape, src, domain)]


# --------------------------------------------------------------------------- references


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.log1p(np.exp(x))


def _matmul(a: np.ndarray, b: np.ndarray, transpose_a: bool = False, transpose_b: bool = False) -> np.ndarray:
    if transpose_a:
        a = np.swapaxes(a, -1, -2)
    if transpose_b:
        b = np.swapaxes(b, -1, -2)
    return np.matmul(a, b)


def _cast(x: np.ndarray, DstT: Any) -> np.ndarray:
    """Float to integer: truncate toward zero, then clamp to the range; NaN is 0. Else ``astype``."""
    dst = np.dtype(str(DstT))
    if x.dtype.kind != "f" or dst.kind not in "iu":
        with np.errstate(over="ignore"):  # to a narrower float: beyond its range is infinity
            return x.astype(dst)
    lo, hi = int(np.iinfo(dst).min), int(np.iinfo(dst).max)

    def one(v: float) -> int:
        if math.isnan(v):
            return 0
        if math.isinf(v):
            return hi if v > 0 else lo
        return min(hi, max(lo, int(v)))  # int() truncates toward zero, exactly

    return np.array([one(float(v)) for v in x.reshape(-1)], dtype=dst).reshape(x.shape)


# --------------------------------------------------------------------------- spec builders


def _binary(
    op: str,
    reference: Callable[..., Any],
    domains: Sequence[str] = ("real", "real"),
    bad_dtype: str | None = "bool",
    extremes: bool = False,
    nan: bool = False,
    **kwargs: Any,
) -> OpSpec:
    invalid = [NOT_BROADCASTABLE] + ([_bad_dtype(bad_dtype, 2)] if bad_dtype else [])
    examples = list(BINARY_EXAMPLES)
    if extremes:  # defined for every value: NaN, infinities and subnormals (kept, never flushed to zero)
        examples.append(Case([(8, 8), (8, 8)], label="extremes", grad=False, domains=["extremes", "extremes"]))
    if nan:  # NaN in one input only, against ordinary values
        examples.append(Case([(4, 5), (4, 5)], label="NaN in x", grad=False, domains=["nan", "real"]))
        examples.append(Case([(4, 5), (5,)], label="NaN in y", grad=False, domains=["real", "nan"]))
    return OpSpec(
        op,
        reference=reference,
        draw=_draw_binary,
        examples=examples,
        domains=domains,
        invalid=invalid,
        **kwargs,
    )


def _unary(
    op: str, reference: Callable[..., Any], domain: str = "real", bad_dtype: str = "bool", **kwargs: Any
) -> OpSpec:
    return OpSpec(
        op,
        reference=reference,
        draw=_draw_unary,
        examples=UNARY_EXAMPLES,
        domains=[domain],
        invalid=[_bad_dtype(bad_dtype, 1)],
        **kwargs,
    )


def _draw_cast(draw: Draw, binding: Mapping[str, str]) -> Case:
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    dst = draw(st.sampled_from(["bool", "int8", "int16", "int32", "int64", "uint8", "float16", "float32", "float64"]))
    # Finite differences through a cast to a narrower float (or to an int) measure its rounding steps,
    # not the identity gradient, so gradients are checked for float64 destinations only.
    return Case([shape], {"DstT": dst}, grad=dst == "float64")


def _draw_matmul(draw: Draw, binding: Mapping[str, str]) -> Case:
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3))
    m, k, n = (draw(st.integers(1, 4)) for _ in range(3))
    ta, tb = draw(st.booleans()), draw(st.booleans())
    a = (*batch.input_shapes[0], *((k, m) if ta else (m, k)))
    b = (*batch.input_shapes[1], *((n, k) if tb else (k, n)))
    return Case([a, b], {"transpose_a": ta, "transpose_b": tb})


SPECS: list[OpSpec] = [
    # -- binary arithmetic
    _binary("Add", np.add),
    _binary("Sub", np.subtract),
    _binary("Mul", np.multiply),
    _binary("RealDiv", np.divide, ("real", "nonzero"), bad_dtype="int32"),
    _binary("FloorDiv", np.floor_divide, ("real", "nonzero")),
    _binary("FloorMod", np.mod, ("real", "nonzero")),
    _binary("Pow", np.power, ("positive", "real"), make_inputs=_pow_inputs, tolerance=2.0),
    # NaN propagates from either side (TensorFlow, NumPy); the edge cases hold NaN, infinities and ties.
    _binary("Maximum", np.maximum, make_inputs=_separated, extremes=True, nan=True),
    _binary("Minimum", np.minimum, make_inputs=_separated, extremes=True, nan=True),
    # -- unary
    _unary("Neg", np.negative),
    _unary("Abs", np.abs, "away_from_zero"),
    _unary("Sign", np.sign, "away_from_zero"),
    _unary("Square", np.square),
    _unary("Sqrt", np.sqrt, "positive", bad_dtype="int32"),
    _unary("Rsqrt", lambda x: 1.0 / np.sqrt(x), "positive", bad_dtype="int32"),
    _unary("Exp", np.exp, bad_dtype="int32"),
    _unary("Log", np.log, "positive", bad_dtype="int32"),
    _unary("Log1p", np.log1p, "unit", bad_dtype="int32"),
    _unary("Sin", np.sin, bad_dtype="int32"),
    _unary("Cos", np.cos, bad_dtype="int32"),
    _unary("Tanh", np.tanh, bad_dtype="int32"),
    _unary("Sigmoid", _sigmoid, "logits", bad_dtype="int32"),
    _unary("Relu", lambda x: np.maximum(x, 0), "away_from_zero"),
    _unary("Softplus", _softplus, "logits", bad_dtype="int32"),
    # -- comparisons (Equal/NotEqual take every dtype, so no dtype error to check)
    _binary("Equal", np.equal, bad_dtype=None, extremes=True),
    _binary("NotEqual", np.not_equal, bad_dtype=None, extremes=True),
    _binary("Less", np.less, extremes=True),
    _binary("LessEqual", np.less_equal, extremes=True),
    _binary("Greater", np.greater, extremes=True),
    _binary("GreaterEqual", np.greater_equal, extremes=True),
    # -- logic
    _binary("LogicalAnd", np.logical_and, ("bool", "bool"), bad_dtype="float32"),
    _binary("LogicalOr", np.logical_or, ("bool", "bool"), bad_dtype="float32"),
    _unary("LogicalNot", np.logical_not, "bool", bad_dtype="float32"),
    # -- selection
    OpSpec(
        "Select",
        reference=np.where,
        draw=_draw_select,
        examples=[
            Case([(), (), ()], label="scalar"),
            Case([(0, 3), (1, 3), (3,)], label="zero-size"),
            Case([(2, 1), (3,), (4, 1, 1)], label="broadcast"),
        ],
        domains=["bool", "real", "real"],
        grad_inputs=[1, 2],
        invalid=[
            Invalid([(2, 3), (4,), (2, 3)], label="not broadcastable"),
            Invalid(
                [(2,), (2,), (2,)],
                dtypes=["float32", "float32", "float32"],
                error="DTypeError",
                label="condition must be bool",
            ),
        ],
    ),
    # -- cast
    OpSpec(
        "Cast",
        reference=_cast,
        draw=_draw_cast,
        examples=[
            Case([()], {"DstT": "float32"}, label="scalar", grad=False),
            Case([(0, 3)], {"DstT": "int32"}, label="zero-size", grad=False),
            Case([(2, 3)], {"DstT": "float64"}),
            *(
                Case([(6, 8)], {"DstT": d}, label=f"extremes to {d}", grad=False, domains=["extremes"])
                for d in ("bool", "int8", "uint8", "int16", "int32", "int64", "float16", "float32", "float64")
            ),
        ],
        make_inputs=_cast_inputs,
        invalid=[Invalid([(2,)], {"DstT": "complex64"}, error="OpDefinitionError", label="unknown dtype")],
    ),
    # -- matmul
    OpSpec(
        "MatMul",
        reference=_matmul,
        draw=_draw_matmul,
        examples=[
            Case([(2, 3), (3, 4)], label="matrix"),
            Case([(0, 3), (3, 2)], label="zero-size"),
            Case([(2, 0), (0, 3)], label="empty inner dim"),
            Case([(2, 1, 2, 3), (4, 3, 2)], label="broadcast batch"),
            Case([(3, 2), (4, 3)], {"transpose_a": True, "transpose_b": True}, label="transposes"),
        ],
        invalid=[
            Invalid([(2, 3), (4, 5)], label="inner dims differ"),
            Invalid([(2, 3), (3, 4)], {"transpose_a": True}, label="inner dims differ after transpose"),
            Invalid([(3,), (3, 2)], label="rank 1"),
            Invalid([(2, 2, 3), (3, 3, 4)], label="batch dims differ"),
            _bad_dtype("bool", 2),
        ],
        tolerance=2.0,
    ),
]
