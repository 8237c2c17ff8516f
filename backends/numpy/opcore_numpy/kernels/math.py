"""NumPy kernels: math family (elementwise arithmetic, comparisons, logic, Select, Cast, MatMul).

Floating-point exceptions (overflow in exp, log of 0, integer division by
zero) never raise or warn: the results follow NumPy (inf, NaN, 0), as in
TensorFlow. Every kernel returns a fresh ndarray of exactly the inferred dtype.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from opcore.registry import KernelContext, KernelTable
from opcore_numpy.kernels import _parallel

KERNELS = KernelTable()

try:  # NumPy 2 keeps its floating-point error state in a context variable (per thread)
    from numpy._core._ufunc_config import _extobj_contextvar as _ERRSTATE
except ImportError:  # NumPy 1.x
    _ERRSTATE = None


def _ignoring_errors() -> Any:
    """The error state with every floating-point error ignored, or None where NumPy has no context variable."""
    if _ERRSTATE is None:
        return None
    with np.errstate(all="ignore"):
        return _ERRSTATE.get()


_IGNORE = _ignoring_errors()


def _quietly(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` with NumPy's floating-point warnings off.

    Setting the error state's context variable directly costs about 0.3 us against
    1.5 us for entering ``np.errstate``, more than most ops take on small arrays.
    """
    if _IGNORE is None:
        with np.errstate(all="ignore"):
            return fn(*args)
    token = _ERRSTATE.set(_IGNORE)
    try:
        return fn(*args)
    finally:
        _ERRSTATE.reset(token)


def _out(ctx: KernelContext, value: Any, i: int = 0) -> np.ndarray:
    # ufuncs on 0-d arrays return NumPy scalars; the contract wants ndarrays.
    return np.asarray(value, dtype=ctx.out_dtypes[i].np)


_LARGE = _parallel.LARGE_ELEMENTWISE


def _any_large(xs: tuple[np.ndarray, ...]) -> bool:
    """Whether some operand has ``_LARGE`` elements (the first tested alone: most ops have one)."""
    return bool(xs) and (xs[0].size >= _LARGE or (len(xs) > 1 and max(x.size for x in xs) >= _LARGE))


def _split(ctx: KernelContext, fn: Callable[..., Any], xs: tuple[np.ndarray, ...], quiet: bool) -> Any:
    """``fn(*xs)`` computed in blocks of rows on the backend's threads, or None where that
    does not apply: ``fn`` must be a ufunc of float operands of one dtype whose result has
    that dtype or is boolean (so that writing into the output casts nothing), and the
    result must have a leading axis to split."""
    shape, dt = ctx.out_shapes[0], ctx.out_dtypes[0].np
    if not shape or shape[0] < 2 or not isinstance(fn, np.ufunc) or fn.nout != 1:
        return None
    d = xs[0].dtype
    if d.kind != "f" or (dt != d and dt != np.bool_) or any(x.dtype != d for x in xs):
        return None
    if quiet:

        def call(*args: np.ndarray, out: np.ndarray) -> Any:  # each worker thread's own error state
            return _quietly(functools.partial(fn, out=out), *args)

        return _parallel.ufunc_into(call, np.empty(shape, dt), *xs)
    return _parallel.ufunc_into(fn, np.empty(shape, dt), *xs)


def _ufunc_kernel(op: str, fn: Callable[..., Any]) -> None:
    """Register ``fn`` (a ufunc or ufunc-like function of the inputs) as the kernel of ``op``.
    Large results are computed in blocks of rows on the backend's threads (``_split``)."""
    if op in _NO_ERRSTATE:
        # These cannot divide by zero or leave a function's domain; entering np.errstate
        # would cost more than the op itself on small arrays (about 1 us per call).
        def kernel(ctx: KernelContext, *xs: np.ndarray) -> np.ndarray:
            if _any_large(xs) and (r := _split(ctx, fn, xs, False)) is not None:
                return r
            r = fn(*xs)
            return r if type(r) is np.ndarray else _out(ctx, r)

        if fn.nin == 2 if isinstance(fn, np.ufunc) else False:  # the hottest case, without *args

            def kernel(ctx: KernelContext, x: np.ndarray, y: np.ndarray) -> np.ndarray:  # type: ignore[misc]
                if (x.size >= _LARGE or y.size >= _LARGE) and (r := _split(ctx, fn, (x, y), False)) is not None:
                    return r
                r = fn(x, y)
                return r if type(r) is np.ndarray else _out(ctx, r)

    else:

        def kernel(ctx: KernelContext, *xs: np.ndarray) -> np.ndarray:
            if _any_large(xs) and (r := _split(ctx, fn, xs, True)) is not None:
                return r
            r = _quietly(fn, *xs)
            return r if type(r) is np.ndarray and r.dtype == ctx.out_dtypes[0].np else _out(ctx, r)

    kernel.__name__ = kernel.__qualname__ = op
    KERNELS.add(op, kernel)


_NO_ERRSTATE = frozenset(
    {
        "Add",
        "Sub",
        "Mul",
        "Maximum",
        "Minimum",
        "Neg",
        "Abs",
        "Sign",
        "Equal",
        "NotEqual",
        "Less",
        "LessEqual",
        "Greater",
        "GreaterEqual",
        "LogicalAnd",
        "LogicalOr",
        "LogicalNot",
        "Select",
    }
)


def _quiet(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """Run a kernel with NumPy's floating-point warnings off."""

    @functools.wraps(fn)
    def kernel(ctx: KernelContext, *xs: np.ndarray) -> np.ndarray:
        return _quietly(fn, ctx, *xs)

    return kernel


def _work(x: np.ndarray) -> np.ndarray:
    """float16 computed in float32 (one rounding at the end); other dtypes as they are."""
    return x.astype(np.float32) if x.dtype == np.float16 else x


# --------------------------------------------------------------------------- arithmetic

for _op, _fn in (
    ("Add", np.add),
    ("Sub", np.subtract),
    ("Mul", np.multiply),
    ("RealDiv", np.true_divide),
    ("FloorDiv", np.floor_divide),
    ("FloorMod", np.remainder),
    ("Maximum", np.maximum),
    ("Minimum", np.minimum),
    ("Neg", np.negative),
    ("Abs", np.abs),
    ("Sign", np.sign),
    ("Square", np.square),
    ("Sqrt", np.sqrt),
    ("Exp", np.exp),
    ("Log", np.log),
    ("Log1p", np.log1p),
    ("Sin", np.sin),
    ("Cos", np.cos),
    ("Tanh", np.tanh),
    ("Equal", np.equal),
    ("NotEqual", np.not_equal),
    ("Less", np.less),
    ("LessEqual", np.less_equal),
    ("Greater", np.greater),
    ("GreaterEqual", np.greater_equal),
    ("LogicalAnd", np.logical_and),
    ("LogicalOr", np.logical_or),
    ("LogicalNot", np.logical_not),
):
    _ufunc_kernel(_op, _fn)

#: Select on at least this many elements goes bitwise (``_select_bits``).
_SELECT_BITWISE = 1 << 14
_UINTS = {1: np.dtype(np.uint8), 2: np.dtype(np.uint16), 4: np.dtype(np.uint32), 8: np.dtype(np.uint64)}


@KERNELS.kernel("Select")
def select(ctx: KernelContext, condition: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if max(condition.size, x.size, y.size) < _SELECT_BITWISE or x.dtype.itemsize not in _UINTS:
        r = np.where(condition, x, y)
        return r if type(r) is np.ndarray else _out(ctx, r)
    shape = ctx.out_shapes[0]
    if max(condition.size, x.size, y.size) >= _LARGE and shape and shape[0] > 1:
        return _parallel.ufunc_into(_select_bits, np.empty(shape, x.dtype), condition, x, y)
    return _select_bits(condition, x, y).reshape(shape)


def _select_bits(condition: np.ndarray, x: np.ndarray, y: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``np.where`` on the values' bits: bit-exact (NaN payloads, signed zeros), and free of
    the data-dependent branch that makes ``np.where`` several times slower on an irregular
    condition (the gradient of ReLU). With ``y`` a single zero: ``x * condition`` in integers;
    otherwise ``y ^ ((x ^ y) & mask)``, ``mask`` all ones where ``condition`` holds. Into
    ``out`` (of ``x``'s dtype and the broadcast shape) when given."""
    bits = _UINTS[x.dtype.itemsize]
    xb, yb = x.view(bits), y.view(bits)
    ob = None if out is None else out.view(bits)
    if y.size == 1 and not yb.any():
        r = np.multiply(xb, condition, out=ob, dtype=bits)
    else:
        mask = np.negative(condition, dtype=bits)  # True -> all ones (unsigned wrap-around)
        r = np.bitwise_and(np.bitwise_xor(xb, yb), mask, out=ob)
        np.bitwise_xor(r, yb, out=r)
    return r.view(x.dtype)


@KERNELS.kernel("Pow")
@_quiet
def pow_(ctx: KernelContext, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if x.dtype.kind != "i":
        return _out(ctx, np.power(x, y))
    # NumPy refuses negative integer exponents; truncate like integer division instead:
    # x**-n is 1 for x == 1, (-1)**n for x == -1 and 0 otherwise.
    negative = y < 0
    if not negative.any():
        return _out(ctx, np.power(x, y))
    z = np.power(x, np.where(negative, 0, y))
    odd = (y % 2) != 0
    trunc = np.where(x == 1, 1, np.where(x == -1, np.where(odd, -1, 1), 0)).astype(x.dtype)
    return _out(ctx, np.where(negative, trunc, z))


@KERNELS.kernel("Rsqrt")
@_quiet
def rsqrt(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    w = _work(x)
    return _out(ctx, 1 / np.sqrt(w))


@KERNELS.kernel("Sigmoid")
@_quiet
def sigmoid(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    w = _work(x)
    # 1 / (1 + exp(-x)) in one buffer: four passes, no np.where (a select over a mixed mask
    # costs more than the rest together). It is within an ulp everywhere but where exp(-x)
    # overflows (x below about -88.7 in float32): there the result is 0 instead of the tiny
    # exp(x), which those elements take instead (1 + exp(x) is 1 in the working precision).
    t = np.negative(w)
    if type(t) is not np.ndarray:  # a 0-d input gives a NumPy scalar
        t = np.array(t)
    np.exp(t, out=t)
    t += 1
    np.reciprocal(t, out=t)
    under = t == 0
    if under.any():
        t[under] = np.exp(w[under])
    return t if t.dtype == ctx.out_dtypes[0].np else _out(ctx, t)


@KERNELS.kernel("Softplus")
@_quiet
def softplus(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    w = _work(x)
    # log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), with no overflow for large |x|.
    return _out(ctx, np.maximum(w, 0) + np.log1p(np.exp(-np.abs(w))))


# A 0-d zero of each dtype: np.maximum with a 0-d array of x's own dtype neither promotes
# nor converts a Python 0 on each call (about twice as fast on small arrays).
_ZEROS = {np.dtype(t): np.zeros((), t) for t in np.typecodes["AllInteger"] + np.typecodes["Float"]}


@KERNELS.kernel("Relu")
def relu(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    zero = _ZEROS.get(x.dtype)
    if zero is None:
        zero = np.zeros((), x.dtype)
    if x.size >= _LARGE and x.ndim and x.shape[0] > 1:
        return _parallel.ufunc_into(np.maximum, np.empty_like(x), x, zero)
    r = np.maximum(x, zero)
    return r if type(r) is np.ndarray else _out(ctx, r)


@KERNELS.kernel("Cast")
@_quiet
def cast(ctx: KernelContext, x: np.ndarray) -> np.ndarray:
    """``astype``, except float to integer: truncate toward zero and saturate; NaN gives 0."""
    dst = np.dtype(ctx.out_dtypes[0].np)
    if x.dtype.kind != "f" or dst.kind not in "iu":
        # astype copies, so the output never aliases the input even when the dtypes match.
        return x.astype(dst)
    info = np.iinfo(dst)
    v = x.astype(np.float64)  # exact for every float dtype
    # Bounds are powers of two (or -1), exact in float64: values strictly inside truncate in range.
    low, high = float(info.min) - 1.0, float(info.max) + 1.0
    inside = (v > low) & (v < high)
    out = np.zeros(x.shape, dst)
    out[inside] = np.trunc(v[inside]).astype(dst)
    out[v >= high] = info.max
    out[v <= low] = info.min
    return out


@KERNELS.kernel("MatMul")
def matmul(ctx: KernelContext, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if ctx.attrs["transpose_a"]:
        a = np.swapaxes(a, -1, -2)
    if ctx.attrs["transpose_b"]:
        b = np.swapaxes(b, -1, -2)
    if a.ndim == 2 and b.ndim == 2:
        return _out(ctx, _quietly(_parallel.matmul, a, b))
    return _out(ctx, _quietly(np.matmul, a, b))
