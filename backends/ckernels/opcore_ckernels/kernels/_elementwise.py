"""Generated elementwise kernels with NumPy broadcasting.

One source per (expressions, dtypes, rank, broadcast pattern), built only
the first time that signature is seen; shapes and strides travel in a small
cached buffer, so new shapes of the same rank reuse the built kernel. Inputs are named ``a``, ``b``, ``c``, ... in the expressions.

What a call launches depends only on its signature (expressions, helpers and
temporaries, output dtypes and shape, input shapes and dtypes): the first call
of a signature works it out into a :class:`_Plan`, kept in a bounded table, so
a warm call looks it up once instead of redoing the patterns, C types and
keys (they cost more than the launch itself on a fast device).

Each input is read by its pattern (:func:`_pattern`): at the element's index,
at 0, along the last dimension only (a bias), along the rows only, or through
its strides. When an input is broadcast and the last dimension is long
enough, the kernel runs over a 2-D range (element of the last dimension,
row), so coordinates are worked out once per row rather than per element.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Hashable, Sequence
from typing import Any, NamedTuple

import numpy as np

from opcore_ckernels.kernels._common import launch_rows
from opcore_ckernels.source import ctype

NAMES = "abcdefghijklmnopqrstuvwxyz"

#: Broadcasting outputs whose last dimension has at least this many elements run over 2-D ranges.
ROW_MIN = 16


def _pattern(shape: tuple[int, ...], out: tuple[int, ...]) -> str:
    """How an input of ``shape`` is read for an output of ``out``.

    "same" at the element's index, "scalar" at 0, "row" at the index in the last dimension (a bias:
    only that dimension is not broadcast), "column" at the row's index (only the last dimension is
    broadcast: (N, 1) against (N, C)), "general" through its strides.
    """
    if shape == out:
        return "same"
    if math.prod(shape) == 1:
        return "scalar"
    full = (1,) * (len(out) - len(shape)) + tuple(shape)
    if len(full) == len(out) and out:
        if full[-1] == out[-1] and all(d == 1 for d in full[:-1]):
            return "row"
        if full[-1] == 1 and full[:-1] == out[:-1]:
            return "column"
    return "general"


def _strides(shape: tuple[int, ...], out: tuple[int, ...]) -> list[int]:
    """Element strides of ``shape`` broadcast to ``out`` (0 along broadcast dims)."""
    full = (1,) * (len(out) - len(shape)) + tuple(shape)
    strides, acc = [0] * len(out), 1
    for d in range(len(out) - 1, -1, -1):
        strides[d] = acc if full[d] != 1 else 0
        acc *= full[d]
    return strides


class _Plan(NamedTuple):
    """What one call signature launches (see :func:`_plan`)."""

    dtypes: tuple[np.dtype[Any], ...]
    #: The kernel's signature and source (None when the output is empty: nothing is launched).
    key: Hashable
    source: Callable[[], str] | None
    #: The cached buffer of shapes and strides: its key and contents.
    meta_key: Hashable
    meta: Callable[[], np.ndarray]
    #: The 2-D launch's row width and count (0 rows: a 1-D launch).
    width: int
    rows: int
    #: The 1-D launch's range: ``(n,)`` for ``n`` elements.
    global_size: tuple[int]
    #: The kernel's last argument (the row width, or the element count).
    extent: np.int64
    #: Whether every input has elements (a buffer to pass).
    filled: bool


_SPEC = operator.attrgetter("shape", "dtype")
_DATA = operator.attrgetter("data")

#: Plans by call signature; cleared when it holds this many (a program uses a few dozen).
MAX_PLANS = 2048
_PLANS: dict[Hashable, _Plan] = {}


def elementwise(
    ctx: Any,
    inputs: Sequence[Any],
    exprs: Sequence[str],
    out_dtypes: Sequence[Any] | None = None,
    out_shape: Sequence[int] | None = None,
    helpers: str = "",
    temps: Sequence[str] = (),
) -> list[Any]:
    """Run ``out_k = exprs[k]`` elementwise over broadcast ``inputs``; returns the outputs.

    ``temps`` are C statements run before the outputs are stored (e.g.
    ``"float m = a * b;"``); ``helpers`` is extra C source (functions) placed
    before the kernel. Output dtypes default to the op's inferred dtypes.
    """
    rt = ctx.backend.runtime
    shape = tuple(out_shape if out_shape is not None else ctx.out_shapes[0])
    given = tuple(out_dtypes or ctx.out_dtypes[: len(exprs)])
    signature = (tuple(exprs), helpers, tuple(temps), given, shape, *map(_SPEC, inputs))
    try:
        plan = _PLANS.get(signature)
    except TypeError:  # an unhashable dtype-like: worked out every time
        plan = _plan(inputs, tuple(exprs), given, shape, helpers, tuple(temps))
    if plan is None:
        plan = _plan(inputs, tuple(exprs), given, shape, helpers, tuple(temps))
        if len(_PLANS) >= MAX_PLANS:
            _PLANS.clear()
        _PLANS[signature] = plan
    outs = [rt.empty(shape, d) for d in plan.dtypes]
    if plan.source is None:
        return outs
    meta = rt.cached(plan.meta_key, plan.meta).data
    if plan.filled:
        args = [*map(_DATA, outs), *map(_DATA, inputs), meta, plan.extent]
    else:  # (a zero-size input has no buffer: the meta buffer stands in)
        args = [*map(_DATA, outs), *[x.data if x.size else meta for x in inputs], meta, plan.extent]
    if plan.rows:
        launch_rows(rt, rt.kernel(plan.key, plan.source, "ew_rows"), plan.width, plan.rows, args)
    else:
        rt.launch(rt.kernel(plan.key, plan.source, "ew"), plan.global_size, args)
    return outs


def _no_meta() -> np.ndarray:
    return np.zeros(1, np.int64)


def _plan(
    inputs: Sequence[Any],
    exprs: tuple[str, ...],
    given: tuple[Any, ...],
    shape: tuple[int, ...],
    helpers: str,
    temps: tuple[str, ...],
) -> _Plan:
    """Work out what a call launches: patterns, C types, the kernel's key and source, the meta buffer."""
    dts = tuple(np.dtype(d.np if hasattr(d, "np") else d) for d in given)
    n = math.prod(shape)
    if n == 0:
        return _Plan(dts, None, None, None, _no_meta, 0, 0, (0,), np.int64(0), False)
    ndim = len(shape)
    in_shapes = [tuple(x.shape) for x in inputs]
    patterns = tuple(_pattern(s, shape) for s in in_shapes)
    general = [i for i, p in enumerate(patterns) if p == "general"]
    rowwise = any(p in ("row", "column", "general") for p in patterns)
    in_types = tuple(ctype(x.dtype) for x in inputs)
    out_types = tuple(ctype(d) for d in dts)

    def source() -> str:
        params = [f"__global {t}* o{k}_" for k, t in enumerate(out_types)]
        params += [f"__global const {t}* in_{NAMES[i]}" for i, t in enumerate(in_types)]
        # Internal names end in "_" so they never clash with the inputs a, b, c, ...
        params += ["__global const long* meta_", "const long n_"]
        reads = []
        for i, (t, p) in enumerate(zip(in_types, patterns)):
            where = {"same": "gid_", "scalar": "0", "row": "j_", "column": "row_", "general": f"off_{NAMES[i]}"}[p]
            reads.append(f"const {t} {NAMES[i]} = in_{NAMES[i]}[{where}];")
        tail = reads + list(temps)
        tail += [f"o{k}_[gid_] = ({t})({e});" for k, (e, t) in enumerate(zip(exprs, out_types))]
        body = ["const long gid_ = get_global_id(0);", "if (gid_ >= n_) return;"]
        if rowwise:  # the 1-D kernel's row and column of the element (the 2-D one has them for free)
            body.append(f"const long row_ = gid_ / meta_[{ndim - 1}], j_ = gid_ - row_ * meta_[{ndim - 1}];")
        if general:
            body.append("long rem_ = gid_;")
            body += [f"long off_{NAMES[j]} = 0;" for j in general]
            body.append(f"for (int dim_ = {ndim - 1}; dim_ >= 0; --dim_) {{")
            body.append("  const long idx_ = rem_ % meta_[dim_]; rem_ /= meta_[dim_];")
            for g, j in enumerate(general):
                body.append(f"  off_{NAMES[j]} += idx_ * meta_[{ndim} + {g * ndim} + dim_];")
            body.append("}")
        text = f"{helpers}\n__kernel void ew({', '.join(params)}) {{\n  " + "\n  ".join(body + tail) + "\n}\n"
        if rowwise:
            # The same over a 2-D range (element of the last dimension, row): the row's coordinates are
            # worked out once per row, not per element (64-bit division is slow on CPUs).
            rows = [
                "const long j_ = get_global_id(0);",
                "if (j_ >= n_) return;",
                "const long row_ = row0_ + get_global_id(1);",
                "const long gid_ = row_ * n_ + j_;",
            ]
            rows += [
                f"long off_{NAMES[j]} = j_ * meta_[{ndim} + {g * ndim} + {ndim - 1}];" for g, j in enumerate(general)
            ]
            if general:
                rows.append("long rem_ = row_;")
                rows.append(f"for (int dim_ = {ndim - 2}; dim_ >= 0; --dim_) {{")
                rows.append("  const long idx_ = rem_ % meta_[dim_]; rem_ /= meta_[dim_];")
                for g, j in enumerate(general):
                    rows.append(f"  off_{NAMES[j]} += idx_ * meta_[{ndim} + {g * ndim} + dim_];")
                rows.append("}")
            text += (
                f"__kernel void ew_rows({', '.join(params)}, const long row0_) {{\n  "
                + "\n  ".join(rows + tail)
                + "\n}\n"
            )
        return text

    key = ("ew", exprs, helpers, temps, in_types, out_types, ndim if rowwise else 0, patterns)
    meta_key = ("ew-meta", shape, tuple(in_shapes[j] for j in general))

    def meta() -> np.ndarray:
        return np.array(list(shape) + [s for j in general for s in _strides(in_shapes[j], shape)] or [0], np.int64)

    filled = all(math.prod(s) for s in in_shapes)
    last = shape[-1] if shape else 1
    if rowwise and last >= ROW_MIN:
        return _Plan(dts, key, source, meta_key, meta, last, n // last, (n,), np.int64(last), filled)
    return _Plan(dts, key, source, meta_key, meta, 0, 0, (n,), np.int64(n), filled)
