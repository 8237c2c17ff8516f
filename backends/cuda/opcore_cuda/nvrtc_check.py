"""Proof without a GPU: compile every CUDA kernel source the backend generates, with NVRTC.

The CUDA backend runs the shared kernel library (opcore-ckernels). This check
drives every (op, dtype) the backend claims through that library on a
*compile-only* stand-in device: arrays are host placeholders, nothing runs,
and every kernel source the library asks for is rendered as CUDA C and
compiled by NVRTC for each target architecture. A compile error fails the
check with the op, dtype, architecture and NVRTC's log.

Sources are compiled by :func:`opcore_cuda.toolkit.compile_cuda`, the
function the runtime compiles with, so with the same options
(:data:`opcore_cuda.toolkit.NVRTC_OPTIONS`) and the same headers.

What this proves, and what it does not: every generated CUDA source compiles
for sm_80 and sm_90 (float16 variants included). The *logic* of the same
kernel bodies is executed by the OpenCL backend's conformance run on PoCL.
Only a run on a GPU proves the CUDA launches, CuPy interop and numerics on the
device; see ``opcore conformance --backend cuda``.

    python -m opcore_cuda.nvrtc_check [--arch sm_80 sm_90] [--ops PATTERN]
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from opcore_ckernels.dialect import OPENCL_ONLY_MARK
from opcore_cuda import toolkit
from opcore_cuda.toolkit import NvrtcError

__all__ = ["NvrtcError", "compile_source", "main", "run"]

DEFAULT_ARCHS = ("sm_80", "sm_90")


def compile_source(source: str, arch: str = "sm_80", name: str = "kernel.cu") -> int:
    """Compile dialect ``source`` for ``arch`` exactly as the runtime does; return the binary's size.

    Raises :class:`NvrtcError` with NVRTC's log.
    """
    return len(toolkit.compile_cuda(source, arch, name).image)


class CompileOnlyRuntime:
    """The kernel library's runtime interface with host placeholders and NVRTC instead of a device."""

    target = "cuda"
    max_work_group_size = 1024

    def __init__(self, archs: Sequence[str]) -> None:
        self.archs = tuple(archs)
        self.compiled: dict[str, str] = {}  # source -> kernel name
        self.failures: dict[str, str] = {}  # source -> message
        self.skipped_opencl_only = 0
        self.context: str = ""

    def kernel(self, key: Any, build: Callable[[], str], name: str) -> str:
        source = build()
        if OPENCL_ONLY_MARK in source:
            self.skipped_opencl_only += 1
            return name
        if source not in self.compiled and source not in self.failures:
            try:
                for arch in self.archs:
                    compile_source(source, arch, f"{name}.cu")
            except NvrtcError as exc:
                self.failures[source] = f"{self.context}: kernel {name!r}: {exc}\n--- source ---\n{source}"
            else:
                self.compiled[source] = name
        return name

    def launch(self, kernel: Any, global_size: Sequence[int], args: Sequence[Any],
               local_size: Sequence[int] | None = None) -> None:  # fmt: skip
        return None

    def empty(self, shape: Sequence[int], dtype: Any) -> np.ndarray:
        return np.zeros(tuple(shape), dtype=np.dtype(dtype))

    def to_device(self, host: np.ndarray) -> np.ndarray:
        return np.array(host, order="C")

    def get(self, array: Any) -> np.ndarray:
        return np.asarray(array)

    def cached(self, key: Any, build: Callable[[], np.ndarray]) -> np.ndarray:
        return np.asarray(build())

    def copy(self, array: Any, shape: Sequence[int]) -> np.ndarray:
        return np.array(array, order="C").reshape(tuple(shape))

    def matmul(self, a: Any, b: Any, transpose_a: bool, transpose_b: bool, out_shape: tuple[int, ...],
               dtype: Any) -> np.ndarray:  # fmt: skip
        return np.zeros(out_shape, dtype=dtype)  # cuBLAS on the device; nothing to compile


def _backend_class() -> Any:
    from opcore.backend import Backend

    class CompileOnlyCuda(Backend):
        name = "cuda-nvrtc-check"
        array_type = "numpy.ndarray (placeholder)"
        native_type = np.ndarray

        def __init__(self, runtime: CompileOnlyRuntime) -> None:
            self.runtime = runtime

        def capabilities(self) -> dict[str, bool]:
            return {"float64": True, "float16": True}

        def from_numpy(self, array: np.ndarray) -> np.ndarray:
            return np.array(array, order="C")

        def to_numpy(self, array: Any) -> np.ndarray:
            return np.asarray(array)

        def is_native(self, value: Any) -> bool:
            return isinstance(value, np.ndarray)

    return CompileOnlyCuda


def _drawn(one: Callable[[Any], None], spec: Any, binding: dict[str, str], cases: int) -> Callable[[], None]:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=cases, derandomize=True, database=None, deadline=None,
              phases=(Phase.explicit, Phase.generate), suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(st.data())
    def drawn(data: Any) -> None:
        one(spec.draw(data.draw, binding))

    return drawn  # type: ignore[no-any-return]


def run(
    archs: Sequence[str] = DEFAULT_ARCHS,
    ops: str | None = None,
    cases: int = 3,
    progress: Callable[[int, int, int, str], None] | None = None,
) -> dict[str, Any]:
    """Drive every claimed (op, dtype) through the kernel library, compiling each CUDA source.

    ``progress(done, total, sources, current)`` is called after each (op, dtype) item.
    """
    import opcore
    from opcore.plugins import ensure_loaded
    from opcore_ckernels.kernels import TABLES
    from opcore_conformance import checks
    from opcore_conformance.runner import all_specs

    ensure_loaded()
    reg = opcore.get_registry()
    runtime = CompileOnlyRuntime(archs)
    backend = _backend_class()(runtime)
    if backend.name not in reg.backends:
        with reg.plugin_scope("opcore-cuda (nvrtc check)"):
            reg.register_backend(backend)
            for table in TABLES:
                for op, fn, dtypes in table:
                    reg.register_kernel(op, backend.name, fn, dtypes)
    specs = all_specs()
    patterns = [p.strip() for p in ops.split(",")] if ops else None
    items = 0
    rng = np.random.default_rng(0)
    claimed = reg.claimed(backend.name)
    names = [
        name
        for name in sorted(claimed)
        if (not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)) and name in specs
    ]
    total = sum(len(claimed[name]) for name in names)
    for name in names:
        op, spec = reg.ops[name], specs[name]
        for types in claimed[name]:
            binding = {k: d.name for k, d in zip(op.type_vars, types)}
            runtime.context = f"{name} {binding}"
            items += 1

            def one(case: Any, binding: dict[str, str] = binding, op: Any = op, spec: Any = spec) -> None:
                prepared = checks.prepare(op, spec, case, binding, rng)
                # a case the frontend rejects compiles nothing
                with contextlib.suppress(opcore.ShapeError, opcore.DTypeError, opcore.OpDefinitionError):
                    checks.call(op, prepared.host, prepared.attrs, backend.name)

            for case in spec.examples:
                one(case)
            if cases:
                _drawn(one, spec, binding, cases)()
            if progress is not None:
                progress(items, total, len(runtime.compiled), f"{name} {'/'.join(binding.values())}")
    return {"items": items, "sources": len(runtime.compiled), "archs": list(archs),
            "opencl_only_skipped": runtime.skipped_opencl_only, "failures": list(runtime.failures.values())}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m opcore_cuda.nvrtc_check", description=__doc__.splitlines()[0])
    p.add_argument("--arch", nargs="+", default=list(DEFAULT_ARCHS), help="GPU architectures (default sm_80 sm_90)")
    p.add_argument("--ops", default=None, help="comma-separated glob patterns of op names")
    p.add_argument("--cases", type=int, default=3, help="Hypothesis-drawn cases per (op, dtype), besides the examples")
    p.add_argument(
        "--progress-every",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="print a progress line to stderr at most every SECONDS (default 30; 0: none)",
    )
    args = p.parse_args(argv)
    start = time.perf_counter()
    last = start

    def progress(done: int, total: int, sources: int, current: str) -> None:
        nonlocal last
        now = time.perf_counter()
        if args.progress_every > 0 and (now - last >= args.progress_every or done == total):
            last = now
            print(
                f"NVRTC: {done}/{total} (op, dtype) items ({100 * done // max(total, 1)}%) in {now - start:.0f}s, "
                f"{sources} distinct sources compiled; last: {current}",
                file=sys.stderr,
                flush=True,
            )

    result = run(args.arch, args.ops, args.cases, progress)
    for failure in result["failures"]:
        print(f"FAILED: {failure}\n", file=sys.stderr)
    print(
        f"NVRTC compiled {result['sources']} distinct CUDA kernel sources for {', '.join(result['archs'])} "
        f"from {result['items']} (op, dtype) items in {time.perf_counter() - start:.1f}s; "
        f"{result['opencl_only_skipped']} OpenCL-only GEMM launches skipped (CUDA uses cuBLAS); "
        f"{len(result['failures'])} failed"
    )
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
