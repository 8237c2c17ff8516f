"""Device kernels: nn family (softmax and losses, L2 loss, bias add).

- Softmax, LogSoftmax and the softmax cross-entropies are fused row kernels,
  maximum subtracted first, accumulation in float for float16. Contiguous rows
  (the last axis) get one work-group each: its work-items stride through the
  row together (neighbours read neighbouring elements) and combine their
  maxima and sums with tree reductions in local memory. Rows along another
  axis (``inner`` > 1 elements apart) get one work-item each: neighbouring
  work-items then read neighbouring elements already.
- L2Loss and BiasAddGrad (NHWC, or NCHW of one image) are the reduce
  family's sums over adjacent axes (:func:`._fold.sum_adjacent`); BiasAddGrad
  of NCHW batches is one work-group per channel with a tree reduction in
  local memory.

Convolution is in :mod:`opcore_ckernels.kernels.image`, pooling in :mod:`opcore_ckernels.kernels.pool`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from opcore.registry import KernelContext, KernelTable
from opcore_ckernels.checks import REPORT, RangeCheck
from opcore_ckernels.kernels._common import (
    buffer_or_dummy,
    empty_output,
    group_size,
    num_elements,
    row_group_size,
    storage_and_acc_types,
)
from opcore_ckernels.kernels._elementwise import elementwise
from opcore_ckernels.kernels._fold import sum_adjacent
from opcore_ckernels.source import ctype

KERNELS = KernelTable()

#: What the class count of SparseSoftmaxCrossEntropyWithLogits is, in its error message (as on NumPy).
CLASSES = "the number of classes (the last dimension of logits)"


# --------------------------------------------------------------------------- softmax family

_ROW_SOURCE = """
#define T {t}
#define A {a}

/* Row r of a tensor seen as (outer, n, inner): elements base + k * inner. */
#define ROW_BASE(r, n, inner) (((r) / (inner)) * (n) * (inner) + (r) % (inner))

static inline A row_max(__global const T* x, long base, long n, long inner) {{
  A m = -INFINITY;
  for (long k = 0; k < n; ++k) {{
    const A v = (A)x[base + k * inner];
    m = (v > m || isnan(v)) ? v : m;
  }}
  return m;
}}

static inline A row_sumexp(__global const T* x, long base, long n, long inner, A m) {{
  A s = 0;
  for (long k = 0; k < n; ++k) s += exp((A)x[base + k * inner] - m);
  return s;
}}

__kernel void softmax_rows(__global T* out, __global const T* x, const long n, const long inner, const long rows) {{
  const long r = get_global_id(0);
  if (r >= rows) return;
  const long base = ROW_BASE(r, n, inner);
  const A m = row_max(x, base, n, inner);
  const A s = row_sumexp(x, base, n, inner, m);
  for (long k = 0; k < n; ++k) out[base + k * inner] = (T)(exp((A)x[base + k * inner] - m) / s);
}}

__kernel void log_softmax_rows(__global T* out, __global const T* x, const long n, const long inner,
                               const long rows) {{
  const long r = get_global_id(0);
  if (r >= rows) return;
  const long base = ROW_BASE(r, n, inner);
  const A m = row_max(x, base, n, inner);
  const A lse = log(row_sumexp(x, base, n, inner, m));
  for (long k = 0; k < n; ++k) out[base + k * inner] = (T)(((A)x[base + k * inner] - m) - lse);
}}

/* loss[r] = -sum(z * log_softmax(x)), backprop = softmax(x) - z, over the last axis. */
__kernel void sce_rows(__global T* loss, __global T* backprop, __global const T* x, __global const T* z,
                       const long n, const long rows) {{
  const long r = get_global_id(0);
  if (r >= rows) return;
  const long base = r * n;
  const A m = row_max(x, base, n, 1);
  const A lse = log(row_sumexp(x, base, n, 1, m));
  A acc = 0;
  for (long k = 0; k < n; ++k) {{
    const A ls = ((A)x[base + k] - m) - lse;
    const A zk = (A)z[base + k];
    acc += zk * ls;
    backprop[base + k] = (T)(exp(ls) - zk);
  }}
  loss[r] = (T)(-acc);
}}
"""

_GROUP_SOURCE = """
#define GROUP {group}
#define MAX_OF(a, b) (((b) > (a) || isnan(b)) ? (b) : (a))
/* Combine every work-item's x into the work-group's result, left in x of every work-item
   (a tree reduction in buf; the work-group size is a power of two, at most GROUP). */
#define GROUP_FOLD(buf, x, COMBINE)                                                         \\
  do {{                                                                                      \\
    buf[lid] = x;                                                                           \\
    barrier(CLK_LOCAL_MEM_FENCE);                                                           \\
    for (int s_ = lsize >> 1; s_ > 0; s_ >>= 1) {{                                          \\
      if (lid < s_) {{ const A a = buf[lid], b = buf[lid + s_]; buf[lid] = COMBINE; }}      \\
      barrier(CLK_LOCAL_MEM_FENCE);                                                         \\
    }}                                                                                       \\
    x = buf[0];                                                                             \\
    barrier(CLK_LOCAL_MEM_FENCE);                                                           \\
  }} while (0)

/* The maximum m and log-sum-exp of row x[0..n) (every work-item gets them); the work-group's
   work-items read elements lid, lid + lsize, ... */
#define ROW_MAX_LSE(x, n, m, lse, buf)                                                      \\
  A m = -INFINITY;                                                                          \\
  for (long k = lid; k < (n); k += lsize) {{ const A v = (A)(x)[k]; m = MAX_OF(m, v); }}    \\
  GROUP_FOLD(buf, m, MAX_OF(a, b));                                                         \\
  A lse = 0;                                                                                \\
  for (long k = lid; k < (n); k += lsize) lse += exp((A)(x)[k] - m);                        \\
  GROUP_FOLD(buf, lse, a + b);

__kernel void softmax_group(__global T* out, __global const T* x, const long n) {{
  __local A buf[GROUP];
  const int lid = get_local_id(0), lsize = get_local_size(0);
  const long base = (long)get_group_id(0) * n;
  ROW_MAX_LSE(x + base, n, m, s, buf)
  for (long k = lid; k < n; k += lsize) out[base + k] = (T)(exp((A)x[base + k] - m) / s);
}}

__kernel void log_softmax_group(__global T* out, __global const T* x, const long n) {{
  __local A buf[GROUP];
  const int lid = get_local_id(0), lsize = get_local_size(0);
  const long base = (long)get_group_id(0) * n;
  ROW_MAX_LSE(x + base, n, m, s, buf)
  const A lse = log(s);
  for (long k = lid; k < n; k += lsize) out[base + k] = (T)(((A)x[base + k] - m) - lse);
}}

__kernel void sce_group(__global T* loss, __global T* backprop, __global const T* x, __global const T* z,
                        const long n) {{
  __local A buf[GROUP];
  const int lid = get_local_id(0), lsize = get_local_size(0);
  const long r = get_group_id(0), base = r * n;
  ROW_MAX_LSE(x + base, n, m, s, buf)
  const A lse = log(s);
  A acc = 0;
  for (long k = lid; k < n; k += lsize) {{
    const A ls = ((A)x[base + k] - m) - lse;
    const A zk = (A)z[base + k];
    acc += zk * ls;
    backprop[base + k] = (T)(exp(ls) - zk);
  }}
  GROUP_FOLD(buf, acc, a + b);
  if (lid == 0) loss[r] = (T)(-acc);
}}
"""

_SPARSE_SOURCE = """
/* The same with integer class labels. A label outside [0, n) is reported through the flag ``err`` (the call
   raises) and gives NaN loss and backprop for its row, never an out-of-bounds read. */
#define CHECK {check}
__kernel void sparse_sce_rows(__global T* loss, __global T* backprop, __global const T* x,
                              __global const {label}* labels, __global int* err, const long n, const long rows) {{
  const long r = get_global_id(0);
  if (r >= rows) return;
  const long base = r * n;
  const long lab = (long)labels[r];
  if (lab < 0 || lab >= n) {{
#if CHECK
    REPORT(err, r);
#endif
    loss[r] = (T)NAN;
    for (long k = 0; k < n; ++k) backprop[base + k] = (T)NAN;
    return;
  }}
  const A m = row_max(x, base, n, 1);
  const A lse = log(row_sumexp(x, base, n, 1, m));
  for (long k = 0; k < n; ++k) {{
    const A ls = ((A)x[base + k] - m) - lse;
    backprop[base + k] = (T)(exp(ls) - (k == lab ? (A)1 : (A)0));
  }}
  loss[r] = (T)(-(((A)x[base + lab] - m) - lse));
}}
__kernel void sparse_sce_group(__global T* loss, __global T* backprop, __global const T* x,
                               __global const {label}* labels, __global int* err, const long n) {{
  __local A buf[GROUP];
  const int lid = get_local_id(0), lsize = get_local_size(0);
  const long r = get_group_id(0), base = r * n;
  const long lab = (long)labels[r];
  if (lab < 0 || lab >= n) {{  /* the same for the whole work-group: no barrier is skipped by some only */
#if CHECK
    if (lid == 0) REPORT(err, r);
#endif
    if (lid == 0) loss[r] = (T)NAN;
    for (long k = lid; k < n; k += lsize) backprop[base + k] = (T)NAN;
    return;
  }}
  ROW_MAX_LSE(x + base, n, m, s, buf)
  const A lse = log(s);
  for (long k = lid; k < n; k += lsize) {{
    const A ls = ((A)x[base + k] - m) - lse;
    backprop[base + k] = (T)(exp(ls) - (k == lab ? (A)1 : (A)0));
  }}
  if (lid == 0) loss[r] = (T)(-(((A)x[base + lab] - m) - lse));
}}
"""


def _row_source(dtype: Any, group: int) -> str:
    t, a = storage_and_acc_types(dtype)
    return _ROW_SOURCE.format(t=t, a=a) + _GROUP_SOURCE.format(group=group)


#: Rows at most this long, when there are at least ROWS_PER_ITEM of them, get one work-item each.
SHORT_ROW = 32
ROWS_PER_ITEM = 1024


def _row_group(rt: Any, n: int, rows: int) -> int:
    """The work-group size for rows of ``n`` contiguous elements, or 0 for one work-item per row."""
    if n <= SHORT_ROW and rows >= ROWS_PER_ITEM:
        return 0
    return row_group_size(rt, n)


def _rows_kernel(rt: Any, dtype: Any, name: str) -> Any:
    group = group_size(rt)
    # Keyed by the dtype itself: its ``name`` takes microseconds to compute, on every call.
    return rt.kernel(("rows", dtype, group), lambda: _row_source(dtype, group), name)


def _softmax_like(ctx: KernelContext, logits: Any, name: str) -> Any:
    rt = ctx.backend.runtime
    out = empty_output(ctx)
    if out.size == 0:
        return out
    shape = tuple(logits.shape)
    axis = ctx.attrs["axis"] % len(shape)
    n, inner = shape[axis], num_elements(shape[axis + 1 :])
    rows = out.size // n
    local = _row_group(rt, n, rows) if inner == 1 else 0
    if local:
        kernel = _rows_kernel(rt, logits.dtype, f"{name}_group")
        rt.launch(kernel, (rows * local,), [out.data, logits.data, np.int64(n)], local_size=(local,))
    else:
        kernel = _rows_kernel(rt, logits.dtype, f"{name}_rows")
        rt.launch(kernel, (rows,), [out.data, logits.data, np.int64(n), np.int64(inner), np.int64(rows)])
    return out


@KERNELS.kernel("Softmax")
def softmax(ctx: KernelContext, logits: Any) -> Any:
    return _softmax_like(ctx, logits, "softmax")


@KERNELS.kernel("LogSoftmax")
def log_softmax(ctx: KernelContext, logits: Any) -> Any:
    return _softmax_like(ctx, logits, "log_softmax")


@KERNELS.kernel("SoftmaxCrossEntropyWithLogits")
def softmax_cross_entropy(ctx: KernelContext, logits: Any, labels: Any) -> tuple[Any, Any]:
    rt = ctx.backend.runtime
    loss, backprop = empty_output(ctx, 0), empty_output(ctx, 1)
    rows = loss.size
    if rows:
        n = int(logits.shape[-1])
        args = [loss.data, buffer_or_dummy(rt, backprop), buffer_or_dummy(rt, logits), buffer_or_dummy(rt, labels)]
        local = _row_group(rt, n, rows)
        if local:
            kernel = _rows_kernel(rt, logits.dtype, "sce_group")
            rt.launch(kernel, (rows * local,), [*args, np.int64(n)], local_size=(local,))
        else:
            rt.launch(_rows_kernel(rt, logits.dtype, "sce_rows"), (rows,), [*args, np.int64(n), np.int64(rows)])
    return loss, backprop


@KERNELS.kernel("SparseSoftmaxCrossEntropyWithLogits")
def sparse_softmax_cross_entropy(ctx: KernelContext, logits: Any, labels: Any) -> tuple[Any, Any]:
    # An out-of-range label is reported through an error flag: the call raises, as on NumPy.
    rt = ctx.backend.runtime
    loss, backprop = empty_output(ctx, 0), empty_output(ctx, 1)
    rows = loss.size
    if rows:
        n = int(logits.shape[-1])
        label = ctype(labels.dtype)
        check = RangeCheck(ctx, labels, n, "SparseSoftmaxCrossEntropyWithLogits", "labels", CLASSES)
        group = group_size(rt)
        local = _row_group(rt, n, rows)
        kernel = rt.kernel(
            ("sparse_rows", logits.dtype, label, check.on, group),
            lambda: _row_source(logits.dtype, group) + REPORT + _SPARSE_SOURCE.format(label=label, check=int(check.on)),
            "sparse_sce_group" if local else "sparse_sce_rows",
        )
        args = [
            loss.data,
            buffer_or_dummy(rt, backprop),
            buffer_or_dummy(rt, logits),
            labels.data,
            check.flag,
            np.int64(n),
        ]
        if local:
            rt.launch(kernel, (rows * local,), args, local_size=(local,))
        else:
            rt.launch(kernel, (rows,), [*args, np.int64(rows)])
        check.done()
    return loss, backprop


@KERNELS.kernel("SigmoidCrossEntropyWithLogits")
def sigmoid_cross_entropy(ctx: KernelContext, logits: Any, labels: Any) -> Any:
    _, a = storage_and_acc_types(logits.dtype)
    temps = [f"const {a} x = ({a})a, z = ({a})b;"]
    return elementwise(ctx, [logits, labels], [f"fmax(x, ({a})0) - x * z + log1p(exp(-fabs(x)))"], temps=temps)[0]


# --------------------------------------------------------------------------- reductions

_REDUCE_SOURCE = """
#define T {t}
#define A {a}
#define GROUP {group}

/* out[c] = scale * sum of f(x) over the elements (o, c, i) of x seen as (outer, channels, inner);
   one work-group per c, a tree reduction in local memory. */
#define ROW_REDUCE(name, F)                                                                      \\
__kernel void name(__global T* out, __global const T* x, const long outer, const long channels,   \\
                   const long inner, const A scale) {{                                             \\
  __local A buf[GROUP];                                                                          \\
  const long c = get_group_id(0);                                                                \\
  const int lid = get_local_id(0);                                                               \\
  const long m = outer * inner;                                                                  \\
  A acc = 0;                                                                                     \\
  for (long j = lid; j < m; j += GROUP) {{                                                        \\
    const long o = j / inner, i = j - o * inner;                                                 \\
    const A v = (A)x[(o * channels + c) * inner + i];                                            \\
    acc += F;                                                                                    \\
  }}                                                                                              \\
  buf[lid] = acc;                                                                                \\
  barrier(CLK_LOCAL_MEM_FENCE);                                                                  \\
  for (int s = GROUP / 2; s > 0; s >>= 1) {{                                                      \\
    if (lid < s) buf[lid] += buf[lid + s];                                                       \\
    barrier(CLK_LOCAL_MEM_FENCE);                                                                \\
  }}                                                                                              \\
  if (lid == 0) out[c] = (T)(buf[0] * scale);                                                    \\
}}

ROW_REDUCE(sum_channels, v)
"""


def _reduce_channels(ctx: KernelContext, x: Any, outer: int, channels: int, inner: int, name: str,
                     scale: float) -> Any:  # fmt: skip
    rt = ctx.backend.runtime
    out = empty_output(ctx)
    if channels == 0:
        return out
    t, a = storage_and_acc_types(x.dtype)
    group = group_size(rt)
    kernel = rt.kernel(("channels", t, group), lambda: _REDUCE_SOURCE.format(t=t, a=a, group=group), name)
    acc = np.float64 if a == "double" else np.float32
    args = [out.data, buffer_or_dummy(rt, x), np.int64(outer), np.int64(channels), np.int64(inner), acc(scale)]
    rt.launch(kernel, (channels * group,), args, local_size=(group,))
    return out


@KERNELS.kernel("L2Loss")
def l2_loss(ctx: KernelContext, t: Any) -> Any:
    out = empty_output(ctx)
    sum_adjacent(ctx, t, out, (1, int(t.size), 1), square=True, scale=0.5)
    return out


def _channel_axis(data_format: str, ndim: int) -> int:
    return 1 if data_format == "NCHW" and ndim >= 3 else ndim - 1


@KERNELS.kernel("BiasAdd")
def bias_add(ctx: KernelContext, value: Any, bias: Any) -> Any:
    ndim = len(value.shape)
    axis = _channel_axis(ctx.attrs["data_format"], ndim)
    b = bias if axis == ndim - 1 else bias.reshape((bias.shape[0],) + (1,) * (ndim - 1 - axis))
    return elementwise(ctx, [value, b], ["a + b"])[0]


@KERNELS.kernel("BiasAddGrad")
def bias_add_grad(ctx: KernelContext, out_backprop: Any) -> Any:
    shape = tuple(out_backprop.shape)
    axis = _channel_axis(ctx.attrs["data_format"], len(shape))
    outer, channels, inner = num_elements(shape[:axis]), shape[axis], num_elements(shape[axis + 1 :])
    if inner == 1 or outer == 1:
        # The summed axes are adjacent: (outer, channels) summed over outer, or (channels, inner) over inner.
        out = empty_output(ctx)
        if channels:
            layout = (1, outer, channels) if inner == 1 else (channels, inner, 1)
            sum_adjacent(ctx, out_backprop, out, layout)
        return out
    return _reduce_channels(ctx, out_backprop, outer, channels, inner, "sum_channels", 1.0)
