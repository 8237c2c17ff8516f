"""Helpers shared by the nn and image kernel families."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from opcore.registry import KernelContext
from opcore_ckernels.source import ctype


def storage_and_acc_types(dtype: Any) -> tuple[str, str]:
    """(storage type, accumulator type): float16 is accumulated in float."""
    t = ctype(dtype)
    return t, ("float" if t == "half" else t)


def num_elements(shape: Sequence[int]) -> int:
    return math.prod(int(d) for d in shape)


def dummy_buffer(rt: Any) -> Any:
    """A small buffer to pass where an argument is a zero-size array (its buffer is None)."""
    return rt.cached(("nn-dummy",), lambda: np.zeros(4, np.int64))


def buffer_or_dummy(rt: Any, a: Any) -> Any:
    return a.data if a.size else dummy_buffer(rt).data


def empty_output(ctx: KernelContext, i: int = 0) -> Any:
    return ctx.backend.runtime.empty(ctx.out_shapes[i], ctx.out_dtypes[i].np)


def group_size(rt: Any) -> int:
    """Work-group size of the reduction kernels: a power of two, at most 256."""
    limit = min(256, int(rt.max_work_group_size))
    return 1 << (limit.bit_length() - 1)


#: The largest work-group of a row kernel on a CPU device (see ``KernelRuntime.cpu``): one vector of
#: work-items. Measured with Intel's CPU runtime on (4096, 1000): softmax takes half the time with 16
#: work-items as with 256, ArgMax 0.67 ms with 16 and 0.75 ms with 32.
CPU_ROW_GROUP = 16


def row_group_size(rt: Any, n: int) -> int:
    """The work-group size of a kernel that reduces rows of ``n`` elements with one work-group each.

    A power of two, about a quarter of the row (each work-item reads a few
    elements), at most :func:`group_size` (:data:`CPU_ROW_GROUP` on a CPU).
    """
    limit = group_size(rt)  # the kernels' local buffers hold this many values
    if getattr(rt, "cpu", False):
        limit = min(limit, CPU_ROW_GROUP)
    want = max(1, -(-n // 4))
    return min(limit, 1 << (want - 1).bit_length())


#: The most blocks a CUDA grid holds along y (OpenCL ranges have no such limit).
MAX_GRID_ROWS = 65535
_ROW0 = np.int64(0)  # (an OpenCL range starts at row 0; NumPy scalars are immutable)


def launch_rows(rt: Any, kernel: Any, width: int, rows: int, args: Sequence[Any]) -> None:
    """Run ``kernel`` over a 2-D range: ``width`` work-items along dimension 0 for each of ``rows`` rows.

    Row r's work-items are neighbours, so a kernel whose work-item (i, r) touches
    element ``r * width + i`` reads and writes memory in order, and no work-item
    divides by the width to find its coordinates (64-bit division per element
    costs more than the memory traffic on a CPU device). The kernel's last
    argument is ``row0``, the row of ``get_global_id(1) == 0``: a CUDA grid holds at
    most :data:`MAX_GRID_ROWS` rows, so more are launched in slices there.
    """
    if rt.target == "opencl":
        rt.launch(kernel, (width, rows), [*args, _ROW0], local_size=row_local(rt, width, rows))
        return
    for row0 in range(0, rows, MAX_GRID_ROWS):
        rt.launch(kernel, (width, min(MAX_GRID_ROWS, rows - row0)), [*args, np.int64(row0)])


#: Work-items per work-group that ``launch_rows`` aims for on OpenCL: a CPU device runs a work-group
#: as a loop (bigger amortises its cost); on a GPU 256 is within every simple kernel's limit.
ROWS_GROUP_CPU = 1024
ROWS_GROUP = 256


def row_local(rt: Any, width: int, rows: int) -> tuple[int, int] | None:
    """A work-group of whole rows (or a power-of-two part of a long row) that divides the range exactly.

    OpenCL 1.2 needs the range to be a multiple of the work-group. Left to
    choose, Intel's CPU runtime makes one work-group per row of a (64, 50000)
    range, and Gather then takes three times as long as with (64, 16) groups.
    """
    limit = min(ROWS_GROUP_CPU if getattr(rt, "cpu", False) else ROWS_GROUP, int(rt.max_work_group_size))
    return _row_local(limit, width, rows)


@functools.lru_cache(maxsize=1024)
def _row_local(limit: int, width: int, rows: int) -> tuple[int, int] | None:
    """:func:`row_local` for a work-group of at most ``limit`` work-items (worked out once per range)."""
    if width <= limit:
        local0 = width
    else:
        local0 = next((p for p in (256, 128, 64, 32, 16, 8) if width % p == 0), 0)
        if not local0:
            return None
    local1 = 1
    while local1 * 2 * local0 <= limit and rows % (local1 * 2) == 0:
        local1 *= 2
    return local0, local1
