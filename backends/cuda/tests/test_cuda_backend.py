"""The CUDA backend without a GPU: availability, listing, NVRTC compile checks.

On a machine with a GPU the GPU-only tests run too; without one they are
skipped with the reason (no device), never faked.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import opcore
from opcore_cuda import nvrtc_check

cupy = pytest.importorskip("cupy", reason="CuPy is not installed")
HAS_GPU = bool(cupy.cuda.is_available())
needs_gpu = pytest.mark.skipif(not HAS_GPU, reason="no CUDA GPU on this machine (cupy.cuda.is_available() is False)")


def test_listing_never_fails_and_reports_the_reason() -> None:
    info = {b.name: b for b in opcore.available_backends()}["cuda"]
    assert info.available is HAS_GPU
    if not HAS_GPU:
        assert "cupy.cuda.is_available() is False" in info.reason
        with pytest.raises(opcore.BackendUnavailableError, match="'cuda' is installed but unavailable here"):
            opcore.constant([1.0], backend="cuda")


def test_plugin_load_imports_no_cupy() -> None:
    code = "import sys, opcore; opcore.list_plugins(); print('cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_opcore_backends_command_shows_cuda() -> None:
    out = subprocess.run([sys.executable, "-m", "opcore.cli", "backends"], capture_output=True, text=True, timeout=120,
                         env={**os.environ})  # fmt: skip
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.strip().startswith("cuda"))
    assert ("available" in line) if HAS_GPU else ("unavailable: CuPy found no usable CUDA device" in line)


def test_a_broken_kernel_source_fails_the_nvrtc_check() -> None:
    broken = "__kernel void k(__global float* a, const long n) { a[0] = undefined_name; }"
    with pytest.raises(nvrtc_check.NvrtcError, match="undefined_name"):
        nvrtc_check.compile_source(broken, "sm_80")
    rt = nvrtc_check.CompileOnlyRuntime(["sm_80"])
    rt.context = "test.Broken {'T': 'float32'}"
    rt.kernel(("broken",), lambda: broken, "k")
    assert len(rt.failures) == 1 and "test.Broken" in next(iter(rt.failures.values()))


def test_good_kernels_compile_for_both_architectures() -> None:
    ok = "__kernel void k(__global float* a, __global const half* h, const long n) {\n" \
         "  const long i = get_global_id(0); if (i >= n) return; a[i] = (float)h[i] + (isnan(h[i]) ? 1.0f : 0.0f);\n}"  # fmt: skip
    for arch in ("sm_80", "sm_90"):
        assert nvrtc_check.compile_source(ok, arch) > 0


def test_nvrtc_check_exits_non_zero_on_a_compile_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nvrtc_check, "run", lambda *a, **k: {"items": 1, "sources": 0, "archs": ["sm_80"],
                                                               "opencl_only_skipped": 0, "failures": ["x: boom"]})  # fmt: skip
    assert nvrtc_check.main(["--ops", "Add"]) == 1


def test_the_library_compiles_for_cuda_on_a_sample_of_ops() -> None:
    result = nvrtc_check.run(("sm_80",), ops="Add,Softmax,MaxPool,ApplyAdam,RandomUniform", cases=1)
    assert result["failures"] == [] and result["sources"] >= 10


def test_nvrtc_check_reports_progress(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--arch", "sm_80", "--ops", "Relu", "--cases", "0"]
    assert nvrtc_check.main([*argv, "--progress-every", "0.000001"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) >= 2 and err[0].startswith("NVRTC: 1/") and "last: Relu" in err[0]
    assert "(100%)" in err[-1]
    assert nvrtc_check.main([*argv, "--progress-every", "0"]) == 0
    assert capsys.readouterr().err == ""


@needs_gpu
def test_runs_on_the_gpu_and_matches_numpy() -> None:
    x = np.random.default_rng(0).standard_normal((64, 32)).astype(np.float32)
    t = opcore.constant(x, backend="cuda")
    out = opcore.softmax(t @ opcore.transpose(t)).numpy()
    ref = opcore.softmax(opcore.constant(x) @ opcore.transpose(opcore.constant(x))).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-6)


@needs_gpu
def test_dlpack_is_zero_copy_with_cupy() -> None:
    a = cupy.arange(6, dtype=cupy.float32)
    t = opcore.from_dlpack(a, backend="cuda")
    a[0] = 42
    assert float(t.numpy()[0]) == 42.0
