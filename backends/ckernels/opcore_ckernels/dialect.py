"""The kernel dialect and its renderings for OpenCL C and CUDA C.

The dialect is OpenCL C's syntax for the subset the kernels use. For OpenCL
the rendering only enables float64/float16; for CUDA it maps the address-space
qualifiers away, work-item functions to thread/block indices, ``barrier`` to
``__syncthreads``, and defines OpenCL's short type names. Helper functions
need no annotation: CUDA sources are compiled with ``-default-device``.

The GEMM kernel uses OpenCL vector types and is OpenCL-only; the CUDA backend
multiplies matrices with cuBLAS (through CuPy) instead.
"""

from __future__ import annotations

__all__ = ["CUDA_OPTIONS", "CUDA_PRELUDE", "OPENCL_PRELUDE", "render"]

OPENCL_PRELUDE = """
#ifdef cl_khr_fp64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
#ifdef cl_khr_fp16
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#endif
"""

CUDA_PRELUDE = r"""
#include <cuda_fp16.h>
typedef unsigned char uchar;
typedef unsigned short ushort;
typedef unsigned int uint;
typedef unsigned long ulong;
typedef __half half;
#define __kernel extern "C" __global__
#define __global
#define __local __shared__
#define __constant
#define CLK_LOCAL_MEM_FENCE 0
#define CLK_GLOBAL_MEM_FENCE 0
#define barrier(flags) __syncthreads()
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif
#ifndef NAN
#define NAN __int_as_float(0x7fffffff)
#endif
/* float16: classification and comparisons with integer literals, as OpenCL C allows */
__device__ inline bool isnan(half x) { return __hisnan(x); }
__device__ inline bool isinf(half x) { return __hisinf(x) != 0; }
__device__ inline bool operator==(half a, int b) { return (float)a == (float)b; }
__device__ inline bool operator!=(half a, int b) { return (float)a != (float)b; }
__device__ inline long get_global_id(int d) {
  return d == 0 ? (long)blockIdx.x * blockDim.x + threadIdx.x
       : d == 1 ? (long)blockIdx.y * blockDim.y + threadIdx.y
                : (long)blockIdx.z * blockDim.z + threadIdx.z;
}
__device__ inline long get_local_id(int d) { return d == 0 ? threadIdx.x : d == 1 ? threadIdx.y : threadIdx.z; }
__device__ inline long get_group_id(int d) { return d == 0 ? blockIdx.x : d == 1 ? blockIdx.y : blockIdx.z; }
__device__ inline long get_local_size(int d) { return d == 0 ? blockDim.x : d == 1 ? blockDim.y : blockDim.z; }
__device__ inline long get_num_groups(int d) { return d == 0 ? gridDim.x : d == 1 ? gridDim.y : gridDim.z; }
__device__ inline long get_global_size(int d) { return get_num_groups(d) * get_local_size(d); }
/* OpenCL C's 32-bit atomics */
__device__ inline int atomic_min(int* p, int v) { return atomicMin(p, v); }
"""

#: NVRTC options every CUDA rendering is compiled with.
CUDA_OPTIONS = ("-default-device", "--std=c++14")

OPENCL_ONLY_MARK = "/* opcore: opencl-only */"


def render(source: str, target: str) -> str:
    """``source`` (the dialect) as complete OpenCL C or CUDA C."""
    if target == "opencl":
        return OPENCL_PRELUDE + source
    if target == "cuda":
        if OPENCL_ONLY_MARK in source:
            raise ValueError("this kernel source is OpenCL-only (it uses OpenCL vector types)")
        return CUDA_PRELUDE + source
    raise ValueError(f"unknown kernel target {target!r}; expected 'opencl' or 'cuda'")


def opencl_only(source: str) -> str:
    """Mark ``source`` as OpenCL-only (excluded from CUDA renderings and the NVRTC check)."""
    return OPENCL_ONLY_MARK + "\n" + source
