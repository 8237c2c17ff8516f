"""OpenCL kernels: broadcast family."""

from __future__ import annotations

from opcore.registry import KernelTable

KERNELS = KernelTable()
