"""NumPy kernels: array family."""

from __future__ import annotations

from opcore_numpy.kernels._table import KernelTable

KERNELS = KernelTable()
