"""The kernel table type (defined in opcore.registry, for every backend)."""

from opcore.registry import KernelTable

__all__ = ["KernelTable"]
