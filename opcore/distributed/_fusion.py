"""Tensor fusion: which tensors share one collective call.

A gradient set of many small tensors costs one collective per tensor when sent
one by one, and the latency of each call adds up. Fusion packs consecutive
tensors into one flat buffer of at most ``threshold`` bytes (Horovod's tensor
fusion buffer), so a step of hundreds of gradients makes a handful of calls. A
tensor larger than the threshold travels alone; a tensor with no elements does
not travel at all.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["plan_chunks"]


def plan_chunks(nbytes: Sequence[int], threshold: int) -> list[list[int]]:
    """Group the indices of tensors of ``nbytes`` bytes, in order, into chunks of at most ``threshold`` bytes.

    >>> plan_chunks([400, 400, 400, 0, 2000, 100], threshold=1000)
    [[0, 1], [2], [4], [5]]
    """
    chunks: list[list[int]] = []
    current: list[int] = []
    filled = 0
    for i, size in enumerate(nbytes):
        if size == 0:
            continue
        if current and filled + size > threshold:
            chunks.append(current)
            current, filled = [], 0
        current.append(i)
        filled += size
    if current:
        chunks.append(current)
    return chunks
