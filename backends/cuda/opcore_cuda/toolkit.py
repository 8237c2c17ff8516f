"""The CUDA toolkit pieces the backend needs, found and used without CuPy: headers, NVRTC, cuBLAS.

Kernels are compiled here, with NVRTC through ``cuda-bindings``, by both the
runtime (for the device's architecture, loaded by CuPy as a binary) and the
compile-only check (``python -m opcore_cuda.nvrtc_check``), so both use
exactly :data:`NVRTC_OPTIONS`. Compiling through ``cupy.RawModule`` instead
would add ``-ftz=true``: float32 subnormals would flush to zero, where NumPy
and OpenCL keep them.

Headers (``cuda_fp16.h``) are found by ``cuda.pathfinder``, as CuPy finds
them: the CUDA 12 wheel layout (``nvidia/cuda_runtime/include``), the CUDA 13
one (``nvidia/cu13/include``), conda, ``$CUDA_PATH``; then
``$CUDA_PATH/include`` (or ``$CUDA_HOME/include``) as a fallback.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass

from opcore_ckernels.dialect import CUDA_OPTIONS, render

__all__ = [
    "NVRTC_OPTIONS",
    "CompiledKernel",
    "NvrtcError",
    "compile_cuda",
    "header_dir",
    "missing_components",
    "nvrtc_options",
]

#: Every option a CUDA kernel is compiled with, besides the architecture and include path.
#: Deliberately without ``-ftz=true``/``--use_fast_math``: subnormals are kept, as on NumPy and OpenCL.
NVRTC_OPTIONS: tuple[str, ...] = tuple(CUDA_OPTIONS)

#: The header every kernel includes (through the dialect's CUDA prelude).
HEADER = "cuda_fp16.h"


class NvrtcError(RuntimeError):
    """A CUDA source that NVRTC rejected (the message holds the compiler log), or NVRTC is missing."""


@dataclass(frozen=True)
class CompiledKernel:
    """A compiled module: ``image`` is a cubin (``kind="cubin"``) or PTX text (``kind="ptx"``)."""

    image: bytes
    kind: str
    arch: str


def _pathfinder_header_dir() -> str | None:
    try:
        from cuda import pathfinder
    except ImportError:
        return None
    for lib in ("cudart", "nvrtc"):
        try:
            found = pathfinder.find_nvidia_header_directory(lib)
        except RuntimeError:  # a pathfinder release that does not know this library
            continue
        if found and os.path.isfile(os.path.join(found, HEADER)):
            return str(found)
    return None


@functools.cache
def header_dir() -> str | None:
    """The directory holding ``cuda_fp16.h`` (``None`` if no CUDA headers are installed)."""
    found = _pathfinder_header_dir()
    if found is not None:
        return found
    for var in ("CUDA_PATH", "CUDA_HOME"):
        root = os.environ.get(var)
        if root and os.path.isfile(os.path.join(root, "include", HEADER)):
            return os.path.join(root, "include")
    return None


def nvrtc_options(arch: str) -> list[str]:
    """The complete NVRTC command line for ``arch`` (``sm_90`` gives a cubin, ``compute_90`` PTX)."""
    opts = [f"--gpu-architecture={arch}", *NVRTC_OPTIONS]
    inc = header_dir()
    if inc is not None:
        opts.append(f"--include-path={inc}")
    return opts


def _check(result: object, what: str) -> None:
    from cuda.bindings import nvrtc

    if result != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        raise NvrtcError(f"{what} failed: {result}")


def supported_archs() -> list[int]:
    """The SM versions this NVRTC can emit cubins for (e.g. ``[75, 80, 86, 89, 90, ...]``)."""
    from cuda.bindings import nvrtc

    err, archs = nvrtc.nvrtcGetSupportedArchs()
    _check(err, "nvrtcGetSupportedArchs")
    return [int(a) for a in archs]


def device_arch(capability: int) -> str:
    """The target for a device of compute ``capability`` (``90`` for sm_90).

    A cubin when this NVRTC knows the architecture; PTX for the newest one it
    knows otherwise (the driver compiles it for the device when loading).
    """
    archs = supported_archs()
    if capability in archs:
        return f"sm_{capability}"
    older = [a for a in archs if a <= capability]
    return f"compute_{max(older) if older else min(archs)}"


def compile_cuda(source: str, arch: str = "sm_80", name: str = "kernel.cu",
                 options: Sequence[str] | None = None) -> CompiledKernel:  # fmt: skip
    """Compile dialect ``source`` as CUDA C with :func:`nvrtc_options` ``(arch)``. Raises :class:`NvrtcError`."""
    try:
        from cuda.bindings import nvrtc
    except ImportError as exc:
        raise NvrtcError(
            f"cuda-bindings is not installed ({exc}); pip install 'opcore-cuda[cuda13]' (or [cuda12])"
        ) from None
    code = render(source, "cuda").encode()
    err, prog = nvrtc.nvrtcCreateProgram(code, name.encode(), 0, [], [])
    _check(err, "nvrtcCreateProgram")
    try:
        opts = [o.encode() for o in (nvrtc_options(arch) if options is None else options)]
        (err,) = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            _, size = nvrtc.nvrtcGetProgramLogSize(prog)
            log = b" " * size
            nvrtc.nvrtcGetProgramLog(prog, log)
            raise NvrtcError(f"NVRTC ({arch}) rejected the kernel:\n{log.decode(errors='replace').strip()}")
        if arch.startswith("sm_"):
            err, size = nvrtc.nvrtcGetCUBINSize(prog)
            _check(err, "nvrtcGetCUBINSize")
            image = b" " * size
            (err,) = nvrtc.nvrtcGetCUBIN(prog, image)
            kind = "cubin"
        else:
            err, size = nvrtc.nvrtcGetPTXSize(prog)
            _check(err, "nvrtcGetPTXSize")
            image = b" " * size
            (err,) = nvrtc.nvrtcGetPTX(prog, image)
            kind = "ptx"
        _check(err, "reading the compiled kernel")
        return CompiledKernel(bytes(image), kind, arch)
    finally:
        nvrtc.nvrtcDestroyProgram(prog)


def _nvrtc_version() -> str | None:
    try:
        from cuda.bindings import nvrtc

        err, major, minor = nvrtc.nvrtcVersion()
    except Exception:  # a missing libnvrtc surfaces as various errors across cuda-bindings releases
        return None
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        return None
    return f"{major}.{minor}"


def _has_cublas() -> bool:
    try:
        from cuda import pathfinder

        pathfinder.load_nvidia_dynamic_lib("cublas")
    except Exception:  # DynamicLibNotFoundError, or no pathfinder at all
        return False
    return True


def missing_components() -> list[str]:
    """What of NVRTC, the CUDA headers and cuBLAS is missing here, each with what to install."""
    hint = "pip install 'opcore-cuda[cuda13]' (CUDA 13) or 'opcore-cuda[cuda12]' (CUDA 12)"
    out = []
    if _nvrtc_version() is None:
        out.append(f"NVRTC (libnvrtc through cuda-bindings) cannot be loaded; {hint}")
    if header_dir() is None:
        out.append(
            f"the CUDA headers ({HEADER}) were not found by cuda.pathfinder nor under $CUDA_PATH/include; {hint}"
        )
    if not _has_cublas():
        out.append(f"cuBLAS (libcublas) cannot be loaded; {hint}")
    return out
