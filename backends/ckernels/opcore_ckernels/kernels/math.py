"""OpenCL kernels: math family (elementwise arithmetic, comparisons, logic, Select, Cast, MatMul).

Every elementwise op is one row of ``_EXPRS``: a C expression per dtype kind
over the inputs ``x``, ``y`` (``cond`` for Select's condition), optionally with
a helper C function. The generated broadcasting kernels of ``_elementwise``
run them. Inside expressions and helpers ``$T`` is the input's C type, ``$W``
the type computed in (``float`` for ``half``) and ``$U`` the unsigned type of
the same width (signed integer arithmetic goes through it, so overflow wraps
like NumPy instead of being undefined behaviour in C).

Cast from a float to an integer truncates toward zero and saturates: NaN
gives 0, values beyond the destination's range give its minimum or maximum
(so -2.5 to uint8 is 0), as on the NumPy backend.

Semantics follow the NumPy kernels: floor division and modulo round toward
minus infinity (the remainder takes the divisor's sign; integer division by
zero gives 0), integer powers with negative exponents truncate, Maximum and
Minimum propagate NaN, and sigmoid/softplus are stable for any input.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from opcore.registry import KernelContext, KernelTable
from opcore_ckernels.source import ctype

KERNELS = KernelTable()

_UNSIGNED = {"char": "uchar", "short": "ushort", "int": "uint", "long": "ulong", "uchar": "uchar"}

# -- helper C functions, instantiated per type ($T, $W, $U replaced) ------------------------------

_FLOORDIV_INT = """
inline $T floordiv_$T($T x, $T y) {
  if (y == 0) return 0;
@signed  if (y == -1) return ($T)(($U)0 - ($U)x);  // x / -1 traps for the minimum in C
  $T q = x / y;
  if ((x % y != 0) && ((x < 0) != (y < 0))) q -= 1;
  return q;
}
"""
_FLOORMOD_INT = """
inline $T floormod_$T($T x, $T y) {
  if (y == 0) return 0;
@signed  if (y == -1) return 0;  // x % -1 traps for the minimum in C
  $T r = x % y;
  if (r != 0 && ((r < 0) != (y < 0))) r += y;
  return r;
}
"""
# NumPy's npy_divmod: fmod, then correct the quotient; exact where floor(x / y) would round.
_FLOORDIV_FLOAT = """
inline $W floordiv_$T($W x, $W y) {
  if (y == 0) return x / y;
  $W m = fmod(x, y);
  $W d = (x - m) / y;
  if (m != 0 && ((y < 0) != (m < 0))) d -= 1;
  if (d == 0) return copysign(($W)0, x / y);
  $W f = floor(d);
  if (d - f > ($W)0.5) f += 1;
  return f;
}
"""
_FLOORMOD_FLOAT = """
inline $W floormod_$T($W x, $W y) {
  if (y == 0) return fmod(x, y);
  $W m = fmod(x, y);
  if (m != 0) { if ((y < 0) != (m < 0)) m += y; }
  else m = copysign(($W)0, y);
  return m;
}
"""
_POW_INT = """
inline $T ipow_$T($T x, $T y) {
  if (y < 0) return x == 1 ? ($T)1 : (x == ($T)-1 ? ((y & 1) ? ($T)-1 : ($T)1) : ($T)0);
  $U r = 1, b = ($U)x;
  while (y) { if (y & 1) r = ($U)(r * b); b = ($U)(b * b); y >>= 1; }
  return ($T)r;
}
"""

# -- the table: op -> {kind: expression}, kinds "f" (float), "i" (integer), "b" (bool), "*" (any) -----

_WRAP = "($T)(($U)x {op} ($U)y)"

_EXPRS: dict[str, dict[str, str]] = {
    "Add": {"f": "x + y", "i": _WRAP.format(op="+")},
    "Sub": {"f": "x - y", "i": _WRAP.format(op="-")},
    "Mul": {"f": "x * y", "i": _WRAP.format(op="*")},
    "RealDiv": {"f": "x / y"},
    "FloorDiv": {"*": "floordiv_$T(x, y)"},
    "FloorMod": {"*": "floormod_$T(x, y)"},
    "Pow": {"f": "pow(x, y)", "i": "ipow_$T(x, y)"},
    "Maximum": {"f": "(x >= y || isnan(x)) ? x : y", "i": "x > y ? x : y"},
    "Minimum": {"f": "(x <= y || isnan(x)) ? x : y", "i": "x < y ? x : y"},
    "Neg": {"f": "-x", "i": "($T)(($U)0 - ($U)x)"},
    "Abs": {"f": "fabs(x)", "i": "x < 0 ? ($T)(($U)0 - ($U)x) : x"},
    "Sign": {"f": "isnan(x) ? x : ($W)((x > 0) - (x < 0))", "i": "($T)((x > 0) - (x < 0))"},
    "Square": {"f": "x * x", "i": _WRAP.format(op="*").replace("y", "x")},
    "Sqrt": {"f": "sqrt(x)"},
    "Rsqrt": {"f": "($W)1 / sqrt(x)"},
    "Exp": {"f": "exp(x)"},
    "Log": {"f": "log(x)"},
    "Log1p": {"f": "log1p(x)"},
    "Sin": {"f": "sin(x)"},
    "Cos": {"f": "cos(x)"},
    "Tanh": {"f": "tanh(x)"},
    # exp(-|x|) never overflows; the denominator stays in [1, 2].
    "Sigmoid": {"f": "x >= 0 ? ($W)1 / (($W)1 + exp(-fabs(x))) : exp(-fabs(x)) / (($W)1 + exp(-fabs(x)))"},
    "Relu": {"f": "(x > 0 || isnan(x)) ? x : ($W)0", "i": "x > 0 ? x : ($T)0"},
    "Softplus": {"f": "(isnan(x) ? x : fmax(x, ($W)0)) + log1p(exp(-fabs(x)))"},
    "Equal": {"*": "x == y"},
    "NotEqual": {"*": "x != y"},
    "Less": {"*": "x < y"},
    "LessEqual": {"*": "x <= y"},
    "Greater": {"*": "x > y"},
    "GreaterEqual": {"*": "x >= y"},
    "LogicalAnd": {"b": "x && y"},
    "LogicalOr": {"b": "x || y"},
    "LogicalNot": {"b": "!x"},
    "Select": {"*": "cond ? x : y"},
}

_HELPERS: dict[tuple[str, str], str] = {
    ("FloorDiv", "i"): _FLOORDIV_INT,
    ("FloorDiv", "f"): _FLOORDIV_FLOAT,
    ("FloorMod", "i"): _FLOORMOD_INT,
    ("FloorMod", "f"): _FLOORMOD_FLOAT,
    ("Pow", "i"): _POW_INT,
}


def _kind(dtype: Any) -> str:
    return {"f": "f", "i": "i", "u": "i", "b": "b"}[np.dtype(dtype).kind]


def _subst(text: str, t: str) -> str:
    """Instantiate ``text`` for C type ``t``; lines starting ``@signed`` are kept for signed integers only."""
    w = "float" if t == "half" else t
    signed = t in ("char", "short", "int", "long")
    lines = [ln.removeprefix("@signed") for ln in text.splitlines() if signed or not ln.startswith("@signed")]
    return "\n".join(lines).replace("$T", t).replace("$W", w).replace("$U", _UNSIGNED.get(t, t))


@functools.lru_cache(maxsize=1024)
def _parts(op: str, dtype: Any, arity: int) -> tuple[str, str, tuple[str, ...]]:
    """(expression, helper functions, temporaries) of ``op`` for ``arity`` inputs of ``dtype``, made once.

    Keyed by the inputs' dtype itself (a NumPy dtype hashes fast; its ``name`` takes microseconds).
    """
    row = _EXPRS[op]
    kind = _kind(dtype)
    t = ctype(dtype)
    w = "float" if t == "half" else t
    expr = row.get(kind, row.get("*"))
    if expr is None:  # the op's allowed dtypes exclude this kind; registration prevents it
        raise TypeError(f"{op} has no device expression for dtype {dtype}")
    names = ["x", "y"][:arity]
    temps = [f"const {w} {v} = ({w}){n};" for v, n in zip(names, "bc" if op == "Select" else "ab")]
    if op == "Select":
        temps.insert(0, "const uchar cond = a;")
    return _subst(expr, t), _subst(_HELPERS.get((op, kind), ""), t), tuple(temps)


def _make_kernel(op: str) -> Any:
    """The kernel of ``op``: its table row instantiated for the input dtype at run time."""

    def kernel(ctx: KernelContext, *inputs: Any) -> Any:
        from opcore_ckernels.kernels._elementwise import elementwise

        data = inputs[1:] if op == "Select" else inputs
        expr, helpers, temps = _parts(op, data[0].dtype, len(data))
        return elementwise(ctx, inputs, [expr], helpers=helpers, temps=temps)[0]

    kernel.__name__ = kernel.__qualname__ = op
    return kernel


for _op in _EXPRS:
    KERNELS.add(_op, _make_kernel(_op))


def _float_literal(value: float, c_type: str) -> str:
    """``value`` rounded to the C floating type ``c_type`` ("float" or "double"), as an exact literal."""
    rounded = float(np.float32(value)) if c_type == "float" else float(value)
    return f"{rounded:.1f}" + ("f" if c_type == "float" else "")


@functools.lru_cache(maxsize=1024)
def _cast_parts(src: Any, dst: Any) -> tuple[str, str]:
    """(expression over ``a``, helper source) of a cast from dtype ``src`` to ``dst`` (dtypes or names)."""
    s, d = np.dtype(src), np.dtype(dst)
    t = ctype(s)
    w = "float" if t == "half" else t
    if d == np.bool_:
        return ("(float)a != 0" if t == "half" else "a != 0"), ""
    if s.kind == "f" and d.kind in "iu":
        # Saturating: NaN gives 0, values beyond the range give its nearest end (after truncation).
        info = np.iinfo(d)
        o = ctype(d)
        suffix = "L" if d.itemsize == 8 else ""
        lo = f"({info.min + 1}{suffix} - 1)" if info.min < 0 else "0"
        helper = (
            f"inline {o} cast_sat_{w}_{o}({w} v) {{\n"
            f"  if (isnan(v)) return ({o})0;\n"
            f"  if (v <= {_float_literal(info.min - 1, w)}) return ({o}){lo};\n"
            f"  if (v >= {_float_literal(info.max + 1, w)}) return ({o}){info.max}{suffix};\n"
            f"  return ({o})v;\n}}\n"
        )
        return f"cast_sat_{w}_{o}(({w})a)", helper
    return ("(float)a" if t == "half" else "a"), ""


@KERNELS.kernel("Cast")
def cast(ctx: KernelContext, x: Any) -> Any:
    """C conversion, except float to integer: truncation toward zero, saturating (NaN gives 0); to bool ``x != 0``."""
    from opcore_ckernels.kernels._elementwise import elementwise

    expr, helpers = _cast_parts(x.dtype, ctx.out_dtypes[0].np)
    return elementwise(ctx, [x], [expr], helpers=helpers)[0]


@KERNELS.kernel("MatMul")
def matmul(ctx: KernelContext, a: Any, b: Any) -> Any:
    """Batched product through the tiled GEMM of ``opcore_ckernels.gemm``."""
    from opcore_ckernels import gemm

    return gemm.matmul(
        ctx.backend.runtime,
        a,
        b,
        bool(ctx.attrs["transpose_a"]),
        bool(ctx.attrs["transpose_b"]),
        ctx.out_shapes[0],
        ctx.out_dtypes[0],
    )
