"""The shared kernels' GPU layouts as CUDA sees them, without a GPU: NVRTC compiles every new path, and
2-D launches respect CUDA's grid limits."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest

import opcore
from opcore_ckernels.kernels._common import MAX_GRID_ROWS, launch_rows


class _Recorder:
    max_work_group_size = 8192

    def __init__(self, target: str, cpu: bool = True) -> None:
        self.target = target
        self.cpu = cpu
        self.launches: list[tuple[tuple[int, ...], int]] = []
        self.locals: list[tuple[int, ...] | None] = []

    def launch(self, kernel: Any, global_size: Sequence[int], args: Sequence[Any],
               local_size: Sequence[int] | None = None) -> None:  # fmt: skip
        self.launches.append((tuple(global_size), int(args[-1])))
        self.locals.append(None if local_size is None else tuple(local_size))


def test_row_launches_are_sliced_to_cuda_grid_rows() -> None:
    rows = 2 * MAX_GRID_ROWS + 7
    cuda = _Recorder("cuda")
    launch_rows(cuda, "k", 64, rows, ["a"])
    assert cuda.launches == [((64, MAX_GRID_ROWS), 0), ((64, MAX_GRID_ROWS), MAX_GRID_ROWS),
                             ((64, 7), 2 * MAX_GRID_ROWS)]  # fmt: skip
    assert cuda.locals == [None] * 3  # CuPy's blocks: (up to 256, 1, 1)
    opencl = _Recorder("opencl")
    launch_rows(opencl, "k", 64, rows, ["a"])
    assert opencl.launches == [((64, rows), 0)]


@pytest.mark.parametrize(
    ("width", "rows", "local"),
    [((64, 50000, (64, 16))), (1000, 37, (1000, 1)), (7, 128, (7, 128)), (3000, 10, (8, 2)), (1001, 5, (1001, 1)), (1025, 5, None),
     (1, 3, (1, 1)), (2048, 4, (256, 4))],
)  # fmt: skip
def test_opencl_row_launches_get_work_groups_that_divide_the_range(
    width: int, rows: int, local: tuple[int, int] | None
) -> None:
    opencl = _Recorder("opencl")
    launch_rows(opencl, "k", width, rows, ["a"])
    assert opencl.locals == [local]
    if local is not None:
        assert width % local[0] == 0 and rows % local[1] == 0 and local[0] * local[1] <= 1024
    gpu = _Recorder("opencl", cpu=False)  # a GPU gets at most 256 work-items
    launch_rows(gpu, "k", 64, 50000, ["a"])
    launch_rows(gpu, "k", 1000, 8, ["a"])
    assert gpu.locals == [(64, 4), (8, 8)]


@pytest.fixture(scope="module")
def compile_only() -> Iterator[tuple[Any, str]]:
    """A compile-only CUDA stand-in (the NVRTC check's) registered for this module, then rolled back."""
    pytest.importorskip("cuda.bindings.nvrtc", reason="NVRTC (cuda-bindings) is not installed")
    from opcore.plugins import ensure_loaded
    from opcore_ckernels.kernels import TABLES
    from opcore_cuda.nvrtc_check import CompileOnlyRuntime, _backend_class

    ensure_loaded()
    reg = opcore.get_registry()
    rt = CompileOnlyRuntime(("sm_80",))
    backend = _backend_class()(rt)
    backend.name = "cuda-nvrtc-layouts"
    with reg.plugin_scope("opcore-cuda (layout test)") as journal:
        reg.register_backend(backend)
        for table in TABLES:
            for op, fn, dtypes in table:
                reg.register_kernel(op, backend.name, fn, dtypes)
    yield rt, backend.name
    reg.rollback(journal)


@pytest.mark.parametrize("dtype", ["float32", "float16", "int64"])
def test_every_new_kernel_layout_compiles_for_cuda(dtype: str, compile_only: tuple[Any, str]) -> None:
    rt, name = compile_only
    requested: list[str] = []
    kernel = rt.kernel

    def spy(key: Any, build: Any, kernel_name: str) -> Any:
        requested.append(kernel_name)
        return kernel(key, build, kernel_name)

    rt.kernel = spy
    rt.failures.clear()

    def c(shape: tuple[int, ...], dt: str = dtype) -> Any:
        return opcore.constant(np.zeros(shape, dt), backend=name)

    idx = opcore.constant(np.arange(40, dtype=np.int32) % 50, backend=name)
    opcore.gather(c((50, 7)), idx)
    opcore.gather(c((50,)), idx)
    opcore.gather_grad(c((40, 7)), idx, c((50, 7)))
    for f in (opcore.reduce_sum, opcore.reduce_max, opcore.reduce_mean):
        f(c((300, 5000)), axis=1)
        f(c((5000, 3)), axis=0)
    opcore.argmax(c((30, 1000)), axis=1)
    from opcore.ops import reduce as R

    R.unreduce_like(c((30,)), c((30, 7)), axis=[1])
    R.unreduce_like(c((7,)), c((30, 7)), axis=[0])
    for other in ((33,), (40, 1), (1, 4, 1, 33)):  # row, column and general broadcasts over 2-D ranges
        opcore.add(c((40, 33)), c(other))
    opcore.argmin(c((1000, 30)), axis=0)
    if dtype != "int64":
        logits = c((20, 1000))
        opcore.softmax(logits)
        opcore.log_softmax(logits)
        opcore.softmax_cross_entropy_with_logits(labels=logits, logits=logits)
        labels = opcore.constant(np.zeros(20, np.int32), backend=name)
        opcore.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        opcore.l2_loss(c((3000, 100)))
    rt.kernel = kernel
    assert not rt.failures, "\n\n".join(rt.failures.values())
    expected = {"gather_v2", "gather_v2_scalars", "segment_starts", "gather_grad_segments", "radix_count",
                "radix_scatter", "fold_rows", "fold_columns", "arg_rows", "arg_columns", "unreduce_rows",
                "unreduce_columns", "ew_rows"}  # fmt: skip
    if dtype != "int64":
        expected |= {"softmax_group", "log_softmax_group", "sce_group", "sparse_sce_group"}
    assert expected <= set(requested)
