"""Index-map kernels: gather, scatter and gather-reduce driven by host-built index maps.

Shape-manipulating ops (transpose, slicing, tiling, padding, concatenation,
im2col, pooling windows, reductions) are all "output element i takes input
elements idx[i, :]". The host builds that map once per (op, shapes,
attributes) with NumPy, the device keeps it cached, and three small kernels do
the work: data stays on the device and new shapes need no new kernel source.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from opcore_ckernels.source import ctype


def index_map(ctx: Any, key: Any, build: Callable[[], np.ndarray]) -> Any:
    """A cached device int64 index map (-1 marks "no element")."""
    return ctx.backend.runtime.cached(
        ("idx", *key) if isinstance(key, tuple) else ("idx", key), lambda: np.asarray(build(), np.int64)
    )


def scalar_of(value: float | int | bool, dtype: Any) -> Any:
    """``value`` converted to ``dtype`` as NumPy's ``astype`` does (-2.5 -> 254 for uint8), as a kernel argument."""
    key = (type(value), value, dtype)
    try:
        return _SCALARS[key]
    except (KeyError, TypeError):
        pass
    with np.errstate(invalid="ignore", over="ignore"):
        s = np.asarray(value).astype(np.dtype(dtype))[()]
    # Not NaN (its key never matches) nor a float zero (-0.0 would find 0.0's entry).
    if value == value and (value != 0 or isinstance(value, (bool, int, np.integer))) and len(_SCALARS) < 4096:
        with contextlib.suppress(TypeError):
            _SCALARS[key] = s
    return s


_SCALARS: dict[Any, Any] = {}


def gather(ctx: Any, src: Any, idx: Any, out_shape: Sequence[int], fill: float | int = 0, dtype: Any = None) -> Any:
    """``out.flat[i] = src.flat[idx[i]]`` (or ``fill`` where ``idx[i] < 0``)."""
    rt = ctx.backend.runtime
    dt = np.dtype(dtype) if dtype is not None else np.dtype(src.dtype)
    out = rt.empty(tuple(out_shape), dt)
    n = int(out.size)
    if n == 0:
        return out
    t, s = ctype(dt), ctype(src.dtype)

    def source() -> str:
        return (
            f"__kernel void gather(__global {t}* out, __global const {s}* src, __global const long* idx, const {t} fill, const long n) {{\n"
            "  const long i = get_global_id(0); if (i >= n) return;\n"
            f"  const long j = idx[i]; out[i] = j < 0 ? fill : ({t})src[j];\n}}\n"
        )

    src_buf = src.data if src.size else idx.data
    rt.launch(
        rt.kernel(("gather", t, s), source, "gather"),
        (n,),
        [out.data, src_buf, idx.data, scalar_of(fill, dt), np.int64(n)],
    )
    return out


def scatter_into(ctx: Any, out: Any, src: Any, idx: Any) -> None:
    """``out.flat[idx[i]] = src.flat[i]`` for every i (indices must be distinct)."""
    rt = ctx.backend.runtime
    n = int(src.size)
    if n == 0:
        return
    t, s = ctype(out.dtype), ctype(src.dtype)

    def source() -> str:
        return (
            f"__kernel void scatter(__global {t}* out, __global const {s}* src, __global const long* idx, const long n) {{\n"
            "  const long i = get_global_id(0); if (i >= n) return;\n"
            f"  out[idx[i]] = ({t})src[i];\n}}\n"
        )

    rt.launch(rt.kernel(("scatter", t, s), source, "scatter"), (n,), [out.data, src.data, idx.data, np.int64(n)])


_REDUCERS = {
    # name: (initial value C expression, combine statement with acc and v)
    "sum": ("0", "acc += v;"),
    "prod": ("1", "acc *= v;"),
    "max": ("{lowest}", "acc = v > acc || isnan_(v) ? v : acc;"),
    "min": ("{highest}", "acc = v < acc || isnan_(v) ? v : acc;"),
}


def _limits(dt: np.dtype[Any]) -> tuple[str, str]:
    if dt.kind == "f":
        return "-INFINITY", "INFINITY"
    info = np.iinfo(dt)
    suffix = "L" if dt.itemsize == 8 else ""
    low = f"({info.min + 1}{suffix} - 1)" if info.min < 0 else "0"
    return low, f"{info.max}{'UL' if dt.itemsize == 8 else ''}"


def gather_reduce(
    ctx: Any,
    src: Any,
    idx: Any,
    width: int,
    out_shape: Sequence[int],
    reducer: str,
    acc_dtype: Any = None,
    dtype: Any = None,
    mean: bool = False,
    empty: float | None = None,
) -> Any:
    """``out.flat[k] = reduce(src.flat[idx[k, r]] for r < width if idx[k, r] >= 0)``.

    ``acc_dtype`` is the accumulator type (e.g. float32 for float16 data);
    ``mean`` divides by the number of valid entries (``empty`` is the result
    when there are none, default NaN for floats and 0 for integers).
    """
    rt = ctx.backend.runtime
    dt = np.dtype(dtype) if dtype is not None else np.dtype(src.dtype)
    acc = np.dtype(acc_dtype) if acc_dtype is not None else dt
    out = rt.empty(tuple(out_shape), dt)
    n = int(out.size)
    if n == 0:
        return out
    t, a, s = ctype(dt), ctype(acc), ctype(src.dtype)

    def source() -> str:
        init, combine = _REDUCERS[reducer]
        low, high = _limits(acc)
        init = init.format(lowest=low, highest=high)
        isnan = "isnan(v)" if acc.kind == "f" else "0"
        empty_val = ("NAN" if acc.kind == "f" else "0") if empty is None else repr(float(empty))
        finish = f"out[k] = ({t})(cnt ? acc / ({a})cnt : ({a})({empty_val}));" if mean else f"out[k] = ({t})acc;"
        return (
            f"#define isnan_(v) ({isnan})\n"
            f"__kernel void greduce(__global {t}* out, __global const {s}* src, __global const long* idx, const long n) {{\n"
            "  const long k = get_global_id(0); if (k >= n) return;\n"
            f"  {a} acc = ({a})({init}); long cnt = 0;\n"
            f"  for (long r = 0; r < {width}; ++r) {{\n"
            f"    const long j = idx[k * {width} + r]; if (j < 0) continue;\n"
            f"    const {a} v = ({a})src[j]; {combine} ++cnt;\n"
            "  }\n"
            f"  {finish}\n}}\n"
        )

    dummy = rt.cached(("dummy-long",), lambda: np.zeros(1, np.int64))
    src_buf = src.data if src.size else dummy.data
    idx_buf = idx.data if idx.size else dummy.data
    key = ("greduce", t, a, s, reducer, mean, empty, width)
    rt.launch(rt.kernel(key, source, "greduce"), (n,), [out.data, src_buf, idx_buf, np.int64(n)])
    return out
