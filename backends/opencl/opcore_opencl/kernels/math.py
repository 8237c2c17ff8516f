"""OpenCL kernels: math family."""

from __future__ import annotations

from opcore.registry import KernelTable

KERNELS = KernelTable()


# A first kernel, to prove the path end to end; the family is completed alongside.
@KERNELS.kernel("Add")
def add(ctx, x, y):  # type: ignore[no-untyped-def]
    from opcore_opencl.kernels._elementwise import elementwise

    return elementwise(ctx, [x, y], ["a + b"])[0]
