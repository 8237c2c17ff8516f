"""Stream compaction and sorting on the device: the building blocks of value-dependent outputs.

**Compaction** keeps the elements whose flag is true, in order, in three launches:

1. ``count``: the elements are cut into ``chunks`` runs of ``chunk`` consecutive
   elements; work-item c counts the flags of run c;
2. ``scan``: one work-group turns the counts into each run's exclusive prefix
   sum (a local-memory scan over the work-group's partial sums) and the total;
3. ``emit``: work-item c walks run c again, knowing where its first kept
   element goes, and writes what the op needs (the element, its position, its
   coordinates, its rank among the kept ones).

The flag and what ``emit`` writes are C snippets given by the op, so each op
gets one generated pair of kernels (the scan is shared). The only transfer to
the host is the total, 8 bytes, read between ``scan`` and ``emit`` when the op
must allocate an output of that size: a device array's shape lives on the
host, so the size of a value-dependent output must be read there before the
output can exist. Ops that know the total already (BooleanMaskGrad) skip it.

**Sorting** (for Unique and ListDiff) is a bitonic sort of (value, index) pairs
padded to a power of two. Blocks of two elements per work-item are sorted in
local memory in one launch; each later stage runs its long-distance steps as
one launch each over global memory and finishes its short-distance steps in
local memory in one more launch. The order is total: numbers ascending, NaNs
after every number, the padding last, ties broken by index, so equal values
end up adjacent with the first occurrence first.

**Bounded sorting** (for GatherGrad, whose indices are bounded by an axis
size) is a stable LSD radix sort, :func:`sort_bounded`: one to four passes of
at most 8-bit digits, each three launches (per-run digit histograms, the
compaction's scan over them, a stable scatter by runs), work linear in the
number of keys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from opcore_ckernels.checks import REPORT, RangeCheck, _dummy_flag
from opcore_ckernels.kernels._common import buffer_or_dummy, group_size
from opcore_ckernels.source import ctype, is_float

#: The most runs a compaction uses; the scan work-group walks counts / group of them each.
MAX_CHUNKS = 1 << 16

_SCAN = """
__kernel void scan_runs(__global long* offsets, __global long* total, __global const long* counts,
                        const long chunks) {
  __local long part[GROUP];
  const long lid = get_local_id(0);
  const long per = (chunks + GROUP - 1) / GROUP;
  const long lo = lid * per;
  const long hi = lo + per < chunks ? lo + per : chunks;
  long s = 0;
  for (long c = lo; c < hi; ++c) s += counts[c];
  part[lid] = s;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (long d = 1; d < GROUP; d <<= 1) {  /* Hillis-Steele inclusive scan of the partial sums */
    const long v = lid >= d ? part[lid - d] : 0;
    barrier(CLK_LOCAL_MEM_FENCE);
    part[lid] += v;
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  long run = lid > 0 ? part[lid - 1] : 0;
  for (long c = lo; c < hi; ++c) { offsets[c] = run; run += counts[c]; }
  if (lid == GROUP - 1) total[0] = part[GROUP - 1];
}
"""


def layout(n: int) -> tuple[int, int]:
    """(chunk, chunks): runs of ``chunk`` elements covering ``n`` elements, at most :data:`MAX_CHUNKS` runs."""
    chunk = max(1, -(-n // MAX_CHUNKS))
    return chunk, -(-n // chunk)


class Compaction:
    """The generated count and emit kernels of one op's compaction (and the shared scan).

    ``params`` declares the op's own kernel parameters (C, comma-separated),
    passed to both kernels; ``flag`` is a C expression of the element index ``i``
    (and those parameters); ``emit`` are C statements run for each element ``i``
    of a run, with ``p`` the output position of the next kept element and
    ``keep`` the element's flag; they must advance ``p`` when ``keep``.
    ``outputs`` declares the parameters that only ``emit`` takes (before the others).
    """

    def __init__(self, rt: Any, key: tuple[Any, ...], params: str, flag: str, emit: str, outputs: str,
                 helpers: str = "") -> None:  # fmt: skip
        self.rt = rt
        self.group = group_size(rt)

        def source() -> str:
            return (
                f"{helpers}\n"
                f"__kernel void count_run(__global long* counts, {params}, const long n, const long chunk,"
                " const long chunks) {\n"
                "  const long c = get_global_id(0); if (c >= chunks) return;\n"
                "  const long lo = c * chunk; const long hi = lo + chunk < n ? lo + chunk : n;\n"
                "  long k = 0;\n"
                f"  for (long i = lo; i < hi; ++i) k += ({flag}) ? 1 : 0;\n"
                "  counts[c] = k;\n}\n"
                f"__kernel void emit_run({outputs}, __global const long* offsets, {params}, const long n,"
                " const long chunk, const long chunks) {\n"
                "  const long c = get_global_id(0); if (c >= chunks) return;\n"
                "  const long lo = c * chunk; const long hi = lo + chunk < n ? lo + chunk : n;\n"
                "  long p = offsets[c];\n"
                "  for (long i = lo; i < hi; ++i) {\n"
                f"    const int keep = ({flag}) ? 1 : 0;\n"
                f"    {emit}\n"
                "  }\n}\n"
            )

        self.count = rt.kernel(("compact", *key), source, "count_run")
        self.emit = rt.kernel(("compact", *key), source, "emit_run")
        self.scan = _scan_kernel(rt)

    def run(self, n: int, args: Sequence[Any], outputs: Callable[[int], Sequence[Any]] | None = None,
            total: int | None = None) -> int:  # fmt: skip
        """Count, scan and emit over ``n`` elements; return the number of kept elements.

        ``args`` are the op's parameters; ``outputs(total)`` returns the emit-only
        arguments once the total is known (read from the device unless ``total`` is given).
        """
        rt = self.rt
        chunk, chunks = layout(n)
        counts = rt.empty((chunks,), np.int64)
        offsets = rt.empty((chunks,), np.int64)
        total_buf = rt.empty((1,), np.int64)
        sizes = [np.int64(n), np.int64(chunk), np.int64(chunks)]
        rt.launch(self.count, (chunks,), [counts.data, *args, *sizes])
        rt.launch(self.scan, (self.group,), [offsets.data, total_buf.data, counts.data, np.int64(chunks)],
                  local_size=(self.group,))  # fmt: skip
        if total is None:
            total = int(rt.get(total_buf)[0])  # the one read: the output's size (see the module doc)
        if outputs is not None:
            rt.launch(self.emit, (chunks,), [*outputs(total), offsets.data, *args, *sizes])
        return total


# --------------------------------------------------------------------------- sorting

_SORT = """
/* Does (ka, ia) come before (kb, ib)? Numbers ascending, then NaNs, then padding (index < 0); ties by index. */
int before(const T ka, const long ia, const T kb, const long ib) {
  if (ia < 0) return 0;
  if (ib < 0) return 1;
  const int na = ISNAN(ka), nb = ISNAN(kb);
  if (na != nb) return nb;
  if (!na) {
    if (ka < kb) return 1;
    if (kb < ka) return 0;
  }
  return ia < ib;
}

__kernel void sort_init(__global T* keys, __global long* index, __global const T* x, const long n, const long size) {
  const long i = get_global_id(0); if (i >= size) return;
  if (i < n) { keys[i] = x[i]; index[i] = i; } else { keys[i] = x[0]; index[i] = -1; }
}

__kernel void sort_step(__global T* keys, __global long* index, const long j, const long k, const long size) {
  const long i = get_global_id(0); if (i >= size) return;
  const long l = i ^ j;
  if (l <= i) return;
  const T ki = keys[i], kl = keys[l];
  const long ii = index[i], il = index[l];
  const int ascending = (i & k) == 0;
  if (ascending ? before(kl, il, ki, ii) : before(ki, ii, kl, il)) {
    keys[i] = kl; keys[l] = ki; index[i] = il; index[l] = ii;
  }
}

/* One work-group per block of 2 * GROUP elements, in local memory: with stage == 0 every stage up
   to the block's size (the blocks come out sorted, alternately ascending and descending); else the
   steps of distance < 2 * GROUP of that stage. */
__kernel void sort_block(__global T* keys, __global long* index, const long stage) {
  __local T lk[2 * GROUP];
  __local long li[2 * GROUP];
  const long lid = get_local_id(0);
  const long base = get_group_id(0) * 2 * GROUP;
  lk[lid] = keys[base + lid];
  li[lid] = index[base + lid];
  lk[lid + GROUP] = keys[base + lid + GROUP];
  li[lid + GROUP] = index[base + lid + GROUP];
  barrier(CLK_LOCAL_MEM_FENCE);
  for (long k = stage ? stage : 2; k <= (stage ? stage : 2 * GROUP); k <<= 1) {
    for (long j = stage ? GROUP : k >> 1; j > 0; j >>= 1) {
      const long a = ((lid & ~(j - 1)) << 1) | (lid & (j - 1));
      const long b = a | j;
      const T ka = lk[a], kb = lk[b];
      const long ia = li[a], ib = li[b];
      const int ascending = ((base + a) & k) == 0;
      if (ascending ? before(kb, ib, ka, ia) : before(ka, ia, kb, ib)) {
        lk[a] = kb; lk[b] = ka; li[a] = ib; li[b] = ia;
      }
      barrier(CLK_LOCAL_MEM_FENCE);
    }
  }
  keys[base + lid] = lk[lid];
  index[base + lid] = li[lid];
  keys[base + lid + GROUP] = lk[lid + GROUP];
  index[base + lid + GROUP] = li[lid + GROUP];
}
"""


def sort_pairs(ctx: Any, x: Any) -> tuple[Any, Any, int]:
    """Sort the 1-D device array ``x`` with its indices: (keys, indices, padded size).

    ``keys[:n]`` are x's values in the total order above and ``indices[:n]``
    their positions in x; entries from n on are padding (index -1).
    """
    rt = ctx.backend.runtime
    n = int(x.shape[0])
    size = 1 << max(0, (n - 1).bit_length())
    t = ctype(x.dtype)
    isnan = "isnan(v)" if is_float(x.dtype) else "0"
    group = group_size(rt)

    def source() -> str:
        return f"#define T {t}\n#define ISNAN(v) ({isnan})\n#define GROUP {group}\n" + _SORT

    init = rt.kernel(("sort_pairs", t, group), source, "sort_init")
    step = rt.kernel(("sort_pairs", t, group), source, "sort_step")
    block = rt.kernel(("sort_pairs", t, group), source, "sort_block")
    keys = rt.empty((size,), x.dtype)
    index = rt.empty((size,), np.int64)
    if n == 0:
        return keys, index, size
    rt.launch(init, (size,), [keys.data, index.data, x.data, np.int64(n), np.int64(size)])
    width = 2 * group  # elements a work-group sorts in local memory
    local = size >= width
    if local:
        rt.launch(block, (size // 2,), [keys.data, index.data, np.int64(0)], local_size=(group,))
    k = 2 * width if local else 2
    while k <= size:
        j = k >> 1
        while j >= (width if local else 1):
            rt.launch(step, (size,), [keys.data, index.data, np.int64(j), np.int64(k), np.int64(size)])
            j >>= 1
        if local:
            rt.launch(block, (size // 2,), [keys.data, index.data, np.int64(k)], local_size=(group,))
        k <<= 1
    return keys, index, size


def data(rt: Any, a: Any) -> Any:
    """A kernel argument for array ``a`` (a placeholder buffer when ``a`` is empty)."""
    return buffer_or_dummy(rt, a)


# --------------------------------------------------------------------------- bounded sort

_RADIX = """
/* Element i's key: x[i] when it lies in [0, bound), else bound (the check, when built in, reports it). */
long bounded_key(__global const I* x, __global int* err, const long i, const long bound) {
  const long v = (long)x[i];
  if (v >= 0 && v < bound) return v;
#if CHECK
  REPORT(err, i);
#else
  (void)err;
#endif
  return bound;
}

/* Work-item c counts the digits (key >> shift) & mask of run c: counts[digit * chunks + c]. The first
   pass reads x (keys are made bounded, positions are i), later passes the previous pass's keys. */
__kernel void radix_count(__global long* counts, __global int* err, __global const I* x, __global const long* keys,
                          const long first, const long n, const long bound, const long shift, const long mask,
                          const long chunk, const long chunks) {
  const long c = get_global_id(0); if (c >= chunks) return;
  uint hist[BINS];
  for (long d = 0; d <= mask; ++d) hist[d] = 0;
  const long lo = c * chunk; const long hi = lo + chunk < n ? lo + chunk : n;
  if (first) {
    for (long i = lo; i < hi; ++i) hist[(bounded_key(x, err, i, bound) >> shift) & mask] += 1;
  } else {
    for (long i = lo; i < hi; ++i) hist[(keys[i] >> shift) & mask] += 1;
  }
  for (long d = 0; d <= mask; ++d) counts[d * chunks + c] = hist[d];
}

/* Work-item c moves run c's elements, in order, to their digit's next free place: offsets (the
   exclusive scan of counts) say where run c's first element of each digit goes. Stable. */
__kernel void radix_scatter(__global long* keys_out, __global long* pos_out, __global const long* offsets,
                            __global const I* x, __global const long* keys, __global const long* pos,
                            const long first, const long n, const long bound, const long shift,
                            const long mask, const long chunk, const long chunks) {
  const long c = get_global_id(0); if (c >= chunks) return;
  long next[BINS];
  for (long d = 0; d <= mask; ++d) next[d] = offsets[d * chunks + c];
  const long lo = c * chunk; const long hi = lo + chunk < n ? lo + chunk : n;
  for (long i = lo; i < hi; ++i) {
    long k, p;
    if (first) {
      const long v = (long)x[i];
      k = v >= 0 && v < bound ? v : bound; p = i;
    } else {
      k = keys[i]; p = pos[i];
    }
    const long o = next[(k >> shift) & mask]++;
    keys_out[o] = k; pos_out[o] = p;
  }
}
"""

#: The most bins (values of one digit) of a radix pass: digits of at most 8 bits.
RADIX_BINS = 256
#: Elements a work-item of the bounded sort counts and moves (more when there would be over MAX_CHUNKS runs):
#: at least the bins, so the histograms are never larger than the keys. On a CPU device (a few threads
#: walk many runs each) longer runs write and scan fewer histograms: with Intel's CPU runtime on 2 cores,
#: 50,000 keys below 10,000 sort in 0.48 ms with runs of 256, 0.33 ms with 1024 and 0.32 ms with 4096.
RADIX_CHUNK = 256
RADIX_CHUNK_CPU = 1024


def radix_passes(bound: int) -> tuple[int, int]:
    """(passes, bits per digit) of :func:`sort_bounded` for keys in ``[0, bound]``: digits of equal width."""
    bits = max(1, int(bound).bit_length())
    passes = -(-bits // (RADIX_BINS.bit_length() - 1))
    return passes, -(-bits // passes)


def sort_bounded(ctx: Any, x: Any, bound: int, check: RangeCheck | None = None) -> tuple[Any, Any]:
    """Sort the integers of the 1-D device array ``x`` by value, stably: (keys, positions).

    A value outside ``[0, bound)`` counts as ``bound`` (it sorts last), so
    ``keys`` are in ``[0, bound]``; ``positions[k]`` is the position in ``x`` of
    the k-th smallest, equal values in increasing position. ``check`` (a
    range check of ``x``, its :meth:`~RangeCheck.done` left to the caller) has
    the first pass report values outside ``[0, bound)``.

    An LSD radix sort: :func:`radix_passes` passes of one digit each, each
    three launches (``radix_count``: per-run digit histograms; ``scan_runs``:
    their exclusive scan, digit-major, so runs of one digit follow each other
    in order; ``radix_scatter``: each run moves its elements in order). Every
    pass is stable, so the sort is; the work is linear in ``n`` and the kernels
    depend only on x's dtype and the check, not on sizes.
    """
    rt = ctx.backend.runtime
    n = int(x.shape[0])
    keys = [rt.empty((n,), np.int64), rt.empty((n,), np.int64)]
    pos = [rt.empty((n,), np.int64), rt.empty((n,), np.int64)]
    if n == 0:
        return keys[0], pos[0]
    i = ctype(x.dtype)
    on = check is not None and check.on
    flag = check.flag if check is not None else _dummy_flag(rt).data
    group = group_size(rt)

    def source() -> str:
        return f"#define I {i}\n#define BINS {RADIX_BINS}\n#define CHECK {int(on)}\n{REPORT}{_RADIX}"

    count = rt.kernel(("radix_sort", i, on), source, "radix_count")
    scatter = rt.kernel(("radix_sort", i, on), source, "radix_scatter")
    scan = _scan_kernel(rt)
    passes, bits = radix_passes(bound)
    mask = (1 << bits) - 1
    chunk = max(RADIX_CHUNK_CPU if getattr(rt, "cpu", False) else RADIX_CHUNK, -(-n // MAX_CHUNKS))
    chunks = -(-n // chunk)
    counts = rt.empty(((mask + 1) * chunks,), np.int64)
    offsets = rt.empty(((mask + 1) * chunks,), np.int64)
    total = rt.empty((1,), np.int64)
    layout_args = [np.int64(n), np.int64(bound)]
    src_keys, src_pos = keys[1], pos[1]  # unread by the first pass
    for p in range(passes):
        first = np.int64(p == 0)
        digit = [np.int64(p * bits), np.int64(mask), np.int64(chunk), np.int64(chunks)]
        rt.launch(count, (chunks,), [counts.data, flag, x.data, src_keys.data, first, *layout_args, *digit])
        rt.launch(scan, (group,), [offsets.data, total.data, counts.data, np.int64(counts.size)], local_size=(group,))
        out_keys, out_pos = keys[p % 2], pos[p % 2]
        args = [offsets.data, x.data, src_keys.data, src_pos.data, first, *layout_args, *digit]
        rt.launch(scatter, (chunks,), [out_keys.data, out_pos.data, *args])
        src_keys, src_pos = out_keys, out_pos
    return src_keys, src_pos


def _scan_kernel(rt: Any) -> Any:
    """The shared ``scan_runs`` kernel (one work-group of :func:`group_size`)."""
    group = group_size(rt)
    return rt.kernel(("scan_runs", group), lambda: f"#define GROUP {group}\n" + _SCAN, "scan_runs")
