"""opcore's device kernel library, shared by the OpenCL and CUDA backends.

Every kernel is written once, in a small C dialect (OpenCL C's spelling:
``__kernel``, ``__global``, ``get_global_id``, ``barrier``, ``uchar``/``ulong``,
no vector types outside the GEMM), and :mod:`opcore_ckernels.dialect` renders
it for each target. The kernel modules reach the device only through the
runtime interface in :mod:`opcore_ckernels.runtime`, so the same tables run on
PoCL in CI and on NVIDIA GPUs through CuPy.
"""

__version__ = "0.1.0"
