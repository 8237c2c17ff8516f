"""Batched matrix products on the OpenCL device (the engine behind MatMul).

``matmul`` multiplies the last two dims of ``a`` and ``b`` with NumPy-style
broadcasting of the leading (batch) dims. Transposes are folded into the
element strides the kernels read with, so no transposed copy is ever made.
Per-batch offsets of ``a``, ``b`` (and, for the tiled kernel, ``c``) travel in a small cached buffer, so new
shapes reuse the built kernels (sizes and strides are kernel arguments).

Float products (float32, float64) use one tiled kernel per (type, transpose_a,
transpose_b): a work-group of TILE_WM x TILE_WN work-items computes a 64 x 64
(float64: 64 x 32) block of C from K tiles of A and B copied into local
memory (vector copies along each input's contiguous dim, so a transposed
input is read in place), and each work-item keeps a TILE_RM x VW block of C
in vector registers. Ragged edges are zero-filled on load and masked on store.
The inner loop uses plain vector operators, not ``vload``/``fma``: PoCL emits
its builtins as out-of-line calls, which cost 4x the throughput; OpenCL C
contracts ``acc += a * b`` to an FMA by default. On PoCL (a 2-core CPU) this
reaches about 30-40% of OpenBLAS (benchmarks/opencl.py).

Integer dtypes and half go through a simple one-element-per-work-item kernel
(accumulating in the output type; float for half).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from opcore_ckernels.dialect import opencl_only
from opcore_ckernels.source import ctype

#: Register block of one work-item: TILE_RM rows x TILE_NV vectors (of _VW[type] elements).
TILE_RM, TILE_NV = 8, 1
#: Work-group shape (work-items along M and N) and the depth of the K tiles kept in local memory.
TILE_WM, TILE_WN, TILE_KC = 8, 4, 128
#: Element sizes of the tiled kernel's types (to fit the K tile into the device's local memory).
_SIZE = {"float": 4, "double": 8}
_VW = {"float": 16, "double": 8}


def _with_out(offs: np.ndarray, mn: int, first: int = 0) -> np.ndarray:
    """Offsets ``[a, b]`` per batch as the tiled kernel's ``[a, b, c]``: batch i's C at ``first + i * mn``."""
    pairs = np.asarray(offs, np.int64).reshape(-1, 2)
    c = first + np.arange(pairs.shape[0], dtype=np.int64) * mn
    return np.concatenate([pairs, c[:, None]], axis=1).reshape(-1)


def _batch_offsets(a_shape: tuple[int, ...], b_shape: tuple[int, ...], batch: tuple[int, ...]) -> np.ndarray:
    """Element offsets ``[a_off0, b_off0, a_off1, b_off1, ...]`` of each output batch's matrices."""
    nb = math.prod(int(d) for d in batch)
    idx = np.indices(batch).reshape(len(batch), nb) if batch else np.zeros((0, 1), np.int64)
    offs = np.zeros((nb, 2), np.int64)
    for col, shape in enumerate((a_shape, b_shape)):
        mat = int(shape[-1] * shape[-2])
        lead = (1,) * (len(batch) - (len(shape) - 2)) + tuple(shape[:-2])
        stride = mat
        for d in range(len(batch) - 1, -1, -1):
            if lead[d] != 1:
                offs[:, col] += idx[d] * stride
            stride *= lead[d]
    return offs.reshape(-1)


# --------------------------------------------------------------------------- kernel sources


def _simple_source(t: str, acc_t: str) -> str:
    # One work-item per element; strides make any transpose a plain read.
    return f"""
__kernel void mm_simple(__global {t}* c, __global const {t}* a, __global const {t}* b,
                        __global const long* offs, const int M, const int N, const int K,
                        const long sam, const long sak, const long sbk, const long sbn) {{
  const int n = get_global_id(0), m = get_global_id(1);
  const long bt = get_global_id(2);
  if (m >= M || n >= N) return;
  __global const {t}* pa = a + offs[2 * bt] + m * sam;
  __global const {t}* pb = b + offs[2 * bt + 1] + n * sbn;
  {acc_t} acc = 0;
  for (int k = 0; k < K; ++k) acc += ({acc_t})pa[k * sak] * ({acc_t})pb[k * sbk];
  c[bt * (long)M * N + (long)m * N + n] = ({t})acc;
}}
"""


def _copy_tile(
    dst: str,
    src: str,
    s_outer: str,
    outer0: str,
    inner0: str,
    n_outer: int,
    n_inner: int,
    outer_max: str,
    inner_max: str,
    d_outer: int,
    d_inner: int,
    vw: int,
    t: str,
) -> str:
    """C code: the work-group copies an ``n_outer x n_inner`` tile of ``src`` (contiguous along inner)
    into local ``dst`` at strides (``d_outer``, ``d_inner``), zero-filling outside the matrix."""
    v = f"{t}{vw}"
    per = n_inner // vw
    if d_inner == 1:
        put = f"{dst[0]}v[(o * {d_outer} + i) / {vw}] = x;"
    else:  # a transposing copy: scatter the vector's components
        put = " ".join(f"{dst}[o * {d_outer} + (i + {c}) * {d_inner}] = x.s{c:x};" for c in range(vw))
    return f"""
  if ({outer0} + {n_outer} <= {outer_max} && {inner0} + {n_inner} <= {inner_max}) {{
    for (int e = lid; e < {n_outer * per}; e += NW) {{
      const int o = e / {per}, i = (e % {per}) * {vw};
      const {v} x = vload{vw}(0, {src} + ({outer0} + o) * {s_outer} + {inner0} + i);
      {put}
    }}
  }} else {{
    for (int e = lid; e < {n_outer * n_inner}; e += NW) {{
      const int o = e / {n_inner}, i = e % {n_inner};
      {dst}[o * {d_outer} + i * {d_inner}] = ({outer0} + o < {outer_max} && {inner0} + i < {inner_max})
          ? {src}[({outer0} + o) * {s_outer} + {inner0} + i] : ({t})0;
    }}
  }}"""


def _tiled_source(t: str, ta: bool, tb: bool, kc: int = TILE_KC) -> str:
    """A work-group computes a ``BM x BN`` block of C from ``KC``-deep tiles of A and B in local memory.

    Each work-item holds an ``RM x (NV * VW)`` block of C in vector registers. A's tile is kept in
    its own orientation (vector copies along its contiguous dim), B's tile always as ``[k][n]`` so the
    inner loop loads whole vectors of B and broadcasts one element of A per row.
    """
    vw, rm, nv, wm, wn = _VW[t], TILE_RM, TILE_NV, TILE_WM, TILE_WN
    bm, bn = rm * wm, nv * vw * wn
    v = f"{t}{vw}"
    # Local layout of A: [m][k] (lam = KC, lak = 1) or, for transpose_a, [k][m].
    lam, lak = (1, bm) if ta else (kc, 1)
    if ta:  # a is (K, M): rows k, contiguous along m
        copy_a = _copy_tile("As", "pa", "M", "k0", "m_blk", kc, bm, "K", "M", bm, 1, vw, t)
    else:
        copy_a = _copy_tile("As", "pa", "K", "m_blk", "k0", bm, kc, "M", "K", kc, 1, vw, t)
    if tb:  # b is (N, K): rows n, contiguous along k; transpose into Bs[k][n]
        copy_b = _copy_tile("Bs", "pb", "K", "n_blk", "k0", bn, kc, "N", "K", 1, bn, vw, t)
    else:
        copy_b = _copy_tile("Bs", "pb", "N", "k0", "n_blk", kc, bn, "K", "N", bn, 1, vw, t)
    decl = [f"{v} acc_{r}_{j} = ({v})0;" for r in range(rm) for j in range(nv)]
    # Plain operators, not vload/fma: PoCL's builtins are out-of-line calls, too slow for the inner
    # loop; OpenCL C contracts ``acc + a * b`` into an FMA by default (FP_CONTRACT ON).
    step = [f"const {v} b{j} = Bv[(k * {bn} + nl) / {vw} + {j}];" for j in range(nv)]
    for r in range(rm):
        step.append(f"{{ const {v} av = ({v})As[(ml + {r}) * {lam} + k * {lak}];")
        step += [f"  acc_{r}_{j} += av * b{j};" for j in range(nv)]
        step.append("}")
    full = [f"vstore{vw}(acc_{r}_{j}, 0, pc + {r} * (long)N + {j * vw});" for r in range(rm) for j in range(nv)]
    part = []
    for r in range(rm):
        for j in range(nv):
            part.append(f"if (m + {r} < M) {{ {t} tmp[{vw}]; vstore{vw}(acc_{r}_{j}, 0, tmp);")
            part.append(
                f"  for (int c = 0; c < {vw}; ++c) if (n + {j * vw} + c < N) pc[{r} * (long)N + {j * vw} + c] = tmp[c]; }}"
            )
    nl = "\n  "
    return f"""
#define NW {wm * wn}
__kernel __attribute__((reqd_work_group_size({wn}, {wm}, 1)))
void mm_tiled(__global {t}* c, __global const {t}* a, __global const {t}* b,
              __global const long* offs, const int M, const int N, const int K) {{
  __local {v} Av[{bm * kc // vw}];
  __local {v} Bv[{kc * bn // vw}];
  __local {t}* As = (__local {t}*)Av;
  __local {t}* Bs = (__local {t}*)Bv;
  const int lid = get_local_id(1) * {wn} + get_local_id(0);
  const int m_blk = get_group_id(1) * {bm}, n_blk = get_group_id(0) * {bn};
  const int ml = get_local_id(1) * {rm}, nl = get_local_id(0) * {nv * vw};
  const long bt = get_global_id(2);
  __global const {t}* pa = a + offs[3 * bt];
  __global const {t}* pb = b + offs[3 * bt + 1];
  {nl.join(decl)}
  for (int k0 = 0; k0 < K; k0 += {kc}) {{
    {copy_a}
    {copy_b}
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int k = 0; k < {kc}; ++k) {{
      {(nl + "  ").join(step)}
    }}
    barrier(CLK_LOCAL_MEM_FENCE);
  }}
  const int m = m_blk + ml, n = n_blk + nl;
  __global {t}* pc = c + offs[3 * bt + 2] + (long)m * N + n;
  if (m_blk + {bm} <= M && n_blk + {bn} <= N) {{
    {(nl + "  ").join(full)}
  }} else {{
    {(nl + "  ").join(part)}
  }}
}}
"""


def _k_tile(rt: Any, t: str) -> int:
    """The deepest K tile (at most TILE_KC) whose A and B tiles fit the device's local memory (GPUs: ~48 KiB)."""
    bm, bn = TILE_RM * TILE_WM, TILE_NV * _VW[t] * TILE_WN
    limit = int(getattr(rt.device, "local_mem_size", 1 << 20))
    kc = TILE_KC
    while kc > _VW[t] and (bm + bn) * kc * _SIZE[t] > limit - 1024:
        kc //= 2
    return kc


#: Split K when a product has fewer output tiles than this (one work-group each: a 288 x 64 filter gradient
#: made 5 work-groups of 36,864-deep products, a 9 x 32 one a single work-group on one core) ...
SPLIT_K_TILES = 16
#: ... and each part keeps at least this much of K.
SPLIT_K_DEPTH = 512
#: Products of at most this many outputs run their parts on the one-output-per-work-item kernel.
SIMPLE_OUTPUTS = 1024


def _k_split(M: int, N: int, K: int, nb: int, ta: bool, tb: bool, bm: int, bn: int) -> int:
    """Into how many parts to cut K (1: none). Only for ``op(a) = a^T``, ``op(b) = b`` unbatched: a part of K
    is then a block of rows of both inputs (an offset, same strides), run as a batch of the tiled kernel."""
    if nb != 1 or not ta or tb:
        return 1
    tiles = -(-M // bm) * -(-N // bn)
    if tiles >= SPLIT_K_TILES:
        return 1
    most = 4 * SPLIT_K_TILES if M * N <= SIMPLE_OUTPUTS else 2 * SPLIT_K_TILES
    for parts in (64, 48, 32, 16, 12, 8, 6, 4, 3, 2):
        if parts * tiles <= most and K % parts == 0 and K // parts >= SPLIT_K_DEPTH:
            return parts
    return 1


def _split_k(rt: Any, a: Any, b: Any, out: Any, parts: int, t: str, M: int, N: int, K: int) -> Any:
    """``a^T @ b`` as ``parts`` products over consecutive blocks of K rows (a batch), then their sum."""
    kp = K // parts
    pairs = np.stack([np.arange(parts) * kp * M, np.arange(parts) * kp * N], axis=1).reshape(-1)
    offs = rt.cached(("mm-split-offs", M, N, K, parts), lambda: pairs)
    offs3 = rt.cached(("mm-split-offs3", M, N, K, parts), lambda: _with_out(pairs, M * N))
    partial = rt.empty((parts, M, N), out.dtype)
    if M * N <= SIMPLE_OUTPUTS:
        # A few outputs (a 9 x 32 filter gradient): a 64 x 64 tile would be mostly padding; one work-item
        # per output and part, neighbours reading neighbouring elements of b, is several times faster.
        simple = rt.kernel(("mm_simple", t), lambda: _simple_source(t, "float" if t == "half" else t), "mm_simple")
        strides = [np.int64(1), np.int64(M), np.int64(N), np.int64(1)]  # a^T: (sam, sak); b: (sbk, sbn)
        args = [partial.data, a.data, b.data, offs.data, np.int32(M), np.int32(N), np.int32(kp), *strides]
        rt.launch(simple, (N, M, parts), args)
    else:
        _tiled_launch(rt, partial, a, b, offs3, t, True, False, M, N, kp, parts)
    add = rt.kernel(
        ("mm_sum_parts", t),
        lambda: (
            f"""
__kernel void mm_sum_parts(__global {t}* c, __global const {t}* parts, const int n, const long size) {{
  const long i = get_global_id(0);
  if (i >= size) return;
  {t} acc = parts[i];
  for (int p = 1; p < n; ++p) acc += parts[p * size + i];
  c[i] = acc;
}}
"""
        ),
        "mm_sum_parts",
    )
    rt.launch(add, (M * N,), [out.data, partial.data, np.int32(parts), np.int64(M * N)])
    return out


#: _k_tile by (runtime, type): a device query costs microseconds per product.
_DEEPEST: dict[tuple[Any, str], int] = {}


def _k_depth(k: int, deepest: int, vw: int) -> int:
    """The K tile for a product of depth ``k``: ``deepest``, three quarters or half of it, whichever
    multiplies the fewest padding zeros, the deepest on a tie (K = 64 with 128-deep tiles multiplied
    zeros half the time and copied every tile through the ragged path; K = 288 takes 3 x 96). Three
    depths only, so that a product whose K is the batch size builds at most two more kernels per
    (type, transposes) however the batch size changes."""
    depths = sorted({deepest, max(vw, deepest * 3 // 4 // vw * vw), max(vw, deepest // 2 // vw * vw)}, reverse=True)
    return min(depths, key=lambda kc: -(-k // kc) * kc - k)


def _tiled_launch(rt: Any, out: Any, a: Any, b: Any, offs: Any, t: str, ta: bool, tb: bool, M: int, N: int,
                  K: int, nb: int) -> None:  # fmt: skip
    bm, bn = TILE_RM * TILE_WM, TILE_NV * _VW[t] * TILE_WN
    deepest = _DEEPEST.get((rt, t))
    if deepest is None:
        deepest = _DEEPEST[(rt, t)] = _k_tile(rt, t)
    kc = _k_depth(K, deepest, _VW[t])
    rt.launch(
        rt.kernel(("mm_tiled", t, ta, tb, kc), lambda: opencl_only(_tiled_source(t, ta, tb, kc)), "mm_tiled"),
        (-(-N // bn) * TILE_WN, -(-M // bm) * TILE_WM, nb),
        [out.data, a.data, b.data, offs.data, np.int32(M), np.int32(N), np.int32(K)],
        local_size=(TILE_WN, TILE_WM, 1),
    )


def tiled(rt: Any, a: Any, b: Any, ta: bool, tb: bool, shape: tuple[int, int, int], k: int, a_first: int,
          a_stride: int, b_first: int = 0, out: Any = None, out_first: int = 0, b_stride: int = 0) -> Any:  # fmt: skip
    """``nb`` products ``op(A_i) @ op(B_i)``, ``shape = (nb, M, N)``, where A_i starts ``a_first + i * a_stride``
    elements into ``a`` and B_i ``b_first + i * b_stride`` into ``b`` (parts of larger arrays, without a
    copy); the result goes to a new array, or into ``out`` from element ``out_first`` on. OpenCL,
    float32/float64 only (:func:`has_tiled`)."""
    nb, m, n = shape
    t = ctype(np.dtype(a.dtype))
    if out is None:
        out = rt.empty(shape, a.dtype)

    def offsets() -> np.ndarray:
        pairs = np.stack([a_first + np.arange(nb) * a_stride, b_first + np.arange(nb) * b_stride], axis=1)
        return _with_out(pairs, m * n, out_first)

    offs = rt.cached(("mm-at", nb, m * n, a_first, a_stride, b_first, out_first, b_stride), offsets)
    _tiled_launch(rt, out, a, b, offs, t, ta, tb, m, n, k, nb)
    return out


def output_tiles(rt: Any, dtype: Any, m: int, n: int) -> int:
    """The work-groups :func:`tiled` runs for one ``m x n`` product."""
    t = ctype(np.dtype(dtype))
    return -(-m // (TILE_RM * TILE_WM)) * -(-n // (TILE_NV * _VW[t] * TILE_WN))


def has_tiled(rt: Any, dtype: Any) -> bool:
    """Whether :func:`tiled` runs ``dtype`` on ``rt`` (OpenCL without a vendor BLAS, float32/float64)."""
    return getattr(rt, "matmul", None) is None and ctype(np.dtype(dtype)) in _VW


# --------------------------------------------------------------------------- entry point


def matmul(
    rt: Any,
    a: Any,
    b: Any,
    transpose_a: bool,
    transpose_b: bool,
    out_shape: tuple[int, ...],
    out_dtype: Any,
) -> Any:
    """``op(a) @ op(b)`` over the last two dims, batch dims broadcast, as a new device array.

    ``rt`` is the backend's runtime; ``out_shape`` the broadcast result shape
    (batch dims + (M, N)); ``out_dtype`` an opcore DType or NumPy dtype (the
    inputs' dtype). Inputs of rank >= 2; their batch dims broadcast to
    ``out_shape[:-2]``.
    """
    dt = np.dtype(out_dtype.np if hasattr(out_dtype, "np") else out_dtype)
    out_shape = tuple(int(s) for s in out_shape)
    vendor = getattr(rt, "matmul", None)
    if vendor is not None:  # a vendor BLAS (cuBLAS through CuPy on CUDA) beats any kernel here
        return vendor(a, b, transpose_a, transpose_b, out_shape, dt)
    out = rt.empty(out_shape, dt)
    if out.size == 0:
        return out
    M, N = out_shape[-2], out_shape[-1]
    K = int(a.shape[-2] if transpose_a else a.shape[-1])
    batch = out_shape[:-2]
    nb = math.prod(int(d) for d in batch)
    t = ctype(dt)
    if K == 0:
        zero = rt.kernel(
            ("mm_zero", t),
            lambda: f"__kernel void mm_zero(__global {t}* c) {{ c[get_global_id(0)] = ({t})0; }}\n",
            "mm_zero",
        )
        rt.launch(zero, (int(out.size),), [out.data])
        return out
    a_shape, b_shape = tuple(a.shape), tuple(b.shape)
    offs = rt.cached(("mm-offs", a_shape, b_shape, batch), lambda: _batch_offsets(a_shape, b_shape, batch))
    if t in _VW:  # the tiled kernel also reads where each batch's C starts
        offs = rt.cached(
            ("mm-offs3", a_shape, b_shape, batch, M * N),
            lambda: _with_out(_batch_offsets(a_shape, b_shape, batch), M * N),
        )
    # Element strides of op(a)[m, k] and op(b)[k, n] within one matrix.
    sam, sak = (1, M) if transpose_a else (K, 1)
    sbk, sbn = (1, K) if transpose_b else (N, 1)
    common = [out.data, a.data, b.data, offs.data, np.int32(M), np.int32(N), np.int32(K)]
    if t in _VW:
        bm, bn = TILE_RM * TILE_WM, TILE_NV * _VW[t] * TILE_WN
        parts = _k_split(M, N, K, nb, transpose_a, transpose_b, bm, bn)
        if parts > 1:
            return _split_k(rt, a, b, out, parts, t, M, N, K)
        _tiled_launch(rt, out, a, b, offs, t, transpose_a, transpose_b, M, N, K, nb)
        return out
    simple = rt.kernel(("mm_simple", t), lambda: _simple_source(t, "float" if t == "half" else t), "mm_simple")
    strides = [np.int64(s) for s in (sam, sak, sbk, sbn)]
    rt.launch(simple, (N, M, nb), common + strides)
    return out
