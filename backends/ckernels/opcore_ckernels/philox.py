"""Philox4x32-10, the counter-based generator of the GPU random kernels, as C source.

The source is written once with neutral type names (``philox_u32``,
``philox_u64``) and a function qualifier macro (``PHILOX_FN``), so the OpenCL
backend and a CUDA backend render the same body with their own typedefs
(:func:`render`). Nothing here needs an OpenCL runtime.

How values follow from the seeds: output element ``i`` of a random op takes the
four 32-bit words of ``philox4x32_10(counter, key)`` with

- ``key = (low32(seed), low32(seed2))``,
- ``counter = (low32(i), high32(i) | draw << 24, high32(seed2), high32(seed))``,

where ``draw`` is 0 except for rejection sampling (truncated normal moves to
the next draw when every candidate of the current one is rejected). So the
values depend only on (seed, seed2, element index, dtype): every call with the
same seeds gives the same values, and any element can be computed on its own.

Distributions from the words:

- uniform float32 in [0, 1): the top 24 bits of one word, times 2**-24;
- uniform float64 in [0, 1): the top 53 bits of two words, times 2**-53;
- standard normal: Box-Muller on two uniforms in (0, 1] and [0, 1) (float32:
  two pairs, four normals per counter; float64: one pair, two normals);
- uniform integers in [lo, lo + n): ``lo + floor(r * n / 2**64)`` for a 64-bit
  ``r`` built from two words (bias at most n / 2**64).
"""

from __future__ import annotations

#: Round multipliers and key increments of Philox4x32 (Salmon et al., SC'11).
PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
PHILOX_W0 = 0x9E3779B9
PHILOX_W1 = 0xBB67AE85
#: Bits of counter word 1 above which the draw index sits.
DRAW_SHIFT = 24

_CORE = f"""
typedef struct {{ philox_u32 v[4]; }} philox_u32x4;

PHILOX_FN philox_u32 philox_mulhi(philox_u32 a, philox_u32 b) {{
  return (philox_u32)(((philox_u64)a * (philox_u64)b) >> 32);
}}

/* Philox4x32 with 10 rounds: counter c0..c3, key k0, k1. */
PHILOX_FN philox_u32x4 philox4x32_10(philox_u32 c0, philox_u32 c1, philox_u32 c2, philox_u32 c3,
                                     philox_u32 k0, philox_u32 k1) {{
  for (int round = 0; round < 10; ++round) {{
    if (round > 0) {{ k0 += 0x{PHILOX_W0:08X}u; k1 += 0x{PHILOX_W1:08X}u; }}
    const philox_u32 hi0 = philox_mulhi(0x{PHILOX_M0:08X}u, c0), lo0 = 0x{PHILOX_M0:08X}u * c0;
    const philox_u32 hi1 = philox_mulhi(0x{PHILOX_M1:08X}u, c2), lo1 = 0x{PHILOX_M1:08X}u * c2;
    c0 = hi1 ^ c1 ^ k0; c1 = lo1; c2 = hi0 ^ c3 ^ k1; c3 = lo0;
  }}
  philox_u32x4 r;
  r.v[0] = c0; r.v[1] = c1; r.v[2] = c2; r.v[3] = c3;
  return r;
}}

/* The four words of element `index`, draw `draw`, for the seeds (seed, seed2) as 64-bit patterns. */
PHILOX_FN philox_u32x4 philox_bits(philox_u64 index, philox_u32 draw, philox_u64 seed, philox_u64 seed2) {{
  return philox4x32_10((philox_u32)index, (philox_u32)(index >> 32) | (draw << {DRAW_SHIFT}),
                       (philox_u32)(seed2 >> 32), (philox_u32)(seed >> 32),
                       (philox_u32)seed, (philox_u32)seed2);
}}

/* A uniform float in [0, 1) from the top 24 bits of a word. */
PHILOX_FN float philox_uniform_f32(philox_u32 w) {{
  return (float)(w >> 8) * 5.9604644775390625e-08f;
}}

/* A uniform float in (0, 1]: never 0, so its logarithm is finite. */
PHILOX_FN float philox_open_f32(philox_u32 w) {{
  return (float)((w >> 8) + 1u) * 5.9604644775390625e-08f;
}}

/* Two standard normals (Box-Muller) from two words. */
PHILOX_FN void philox_normal2_f32(philox_u32 a, philox_u32 b, float* z0, float* z1) {{
  const float r = sqrt(-2.0f * log(philox_open_f32(a)));
  const float t = 6.283185307179586f * philox_uniform_f32(b);
  *z0 = r * cos(t);
  *z1 = r * sin(t);
}}

/* A uniform integer in [lo, lo + n) (n as a 64-bit pattern; 0 means 2**64) from two words. */
PHILOX_FN philox_u64 philox_bounded_u64(philox_u32 a, philox_u32 b, philox_u64 n) {{
  const philox_u64 r = ((philox_u64)a << 32) | (philox_u64)b;
  /* floor(r * n / 2**64) from 32-bit halves, without a 128-bit type. */
  const philox_u64 rl = r & 0xFFFFFFFFul, rh = r >> 32, nl = n & 0xFFFFFFFFul, nh = n >> 32;
  const philox_u64 ll = rl * nl, lh = rl * nh, hl = rh * nl, hh = rh * nh;
  const philox_u64 mid = (ll >> 32) + (lh & 0xFFFFFFFFul) + (hl & 0xFFFFFFFFul);
  return n == 0 ? r : hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
}}
"""

_DOUBLE = """
/* A uniform double in [0, 1) from the top 53 bits of two words. */
PHILOX_FN double philox_uniform_f64(philox_u32 a, philox_u32 b) {
  const philox_u64 r = (((philox_u64)a << 32) | (philox_u64)b) >> 11;
  return (double)r * 1.1102230246251565e-16;
}

/* Two standard normals (Box-Muller) from four words. */
PHILOX_FN void philox_normal2_f64(philox_u32x4 w, double* z0, double* z1) {
  const double u = 1.0 - philox_uniform_f64(w.v[0], w.v[1]);
  const double r = sqrt(-2.0 * log(u));
  const double t = 6.283185307179586 * philox_uniform_f64(w.v[2], w.v[3]);
  *z0 = r * cos(t);
  *z1 = r * sin(t);
}
"""

_PREAMBLES = {
    "opencl": "typedef uint philox_u32;\ntypedef ulong philox_u64;\n#define PHILOX_FN static inline\n",
    "cuda": (
        "typedef unsigned int philox_u32;\ntypedef unsigned long long philox_u64;\n"
        "#define PHILOX_FN static __device__ __forceinline__\n"
    ),
}


def render(target: str = "opencl", double: bool = False) -> str:
    """The Philox source for ``target`` (``"opencl"`` or ``"cuda"``).

    ``double`` adds the float64 helpers (leave it out on devices without float64,
    where a ``double`` in the source fails the build).
    """
    if target not in _PREAMBLES:
        raise ValueError(f"philox.render: unknown target {target!r}; expected one of {sorted(_PREAMBLES)}")
    return _PREAMBLES[target] + _CORE + (_DOUBLE if double else "")


def philox4x32_10_reference(counter: tuple[int, int, int, int], key: tuple[int, int]) -> tuple[int, int, int, int]:
    """Philox4x32-10 in plain Python, for tests of the C source (slow; one block)."""
    mask = 0xFFFFFFFF
    c0, c1, c2, c3 = (int(c) & mask for c in counter)
    k0, k1 = (int(k) & mask for k in key)
    for rnd in range(10):
        if rnd:
            k0, k1 = (k0 + PHILOX_W0) & mask, (k1 + PHILOX_W1) & mask
        p0, p1 = PHILOX_M0 * c0, PHILOX_M1 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & mask, p1 & mask, ((p0 >> 32) ^ c3 ^ k1) & mask, p0 & mask
    return c0, c1, c2, c3
