"""The CUDA backend's packaging, toolkit discovery and compile path, checked without a GPU."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import pytest
import tomllib
from packaging.requirements import Requirement

import opcore
from opcore_ckernels.runtime import KernelCache
from opcore_cuda import nvrtc_check, toolkit
from opcore_cuda.backend import CudaBackend

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
MAJOR_OF_EXTRA = {"cuda12": 12, "cuda13": 13, "nvrtc12": 12, "nvrtc13": 13, "nvrtc": 12}


def _extras() -> dict[str, list[Requirement]]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    return {k: [Requirement(r) for r in v] for k, v in project["optional-dependencies"].items()}


def _major_of(req: Requirement) -> int | None:
    """The CUDA major a requirement ties itself to (by name or by its version range)."""
    for major in (12, 13):
        if req.name in (f"cupy-cuda{major}x",) or req.name.endswith(f"-cu{major}"):
            return major
    if req.name in ("cuda-bindings", "cuda-toolkit"):
        majors = {m for m in (12, 13) if req.specifier.contains(f"{m}.9", prereleases=False)}
        assert len(majors) == 1, f"{req} admits CUDA majors {sorted(majors)}; pin one"
        return majors.pop()
    return None


def test_no_hard_dependency_on_a_cuda_major() -> None:
    deps = [Requirement(r) for r in tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]]
    assert [str(d) for d in deps if _major_of(d) is not None] == []
    assert "cuda-pathfinder" in {d.name for d in deps}


@pytest.mark.parametrize("extra", sorted(MAJOR_OF_EXTRA))
def test_each_extra_sticks_to_one_cuda_major(extra: str) -> None:
    reqs = _extras()[extra]
    majors = {_major_of(r) for r in reqs} - {None}
    assert majors == {MAJOR_OF_EXTRA[extra]}, f"{extra}: {[str(r) for r in reqs]}"
    names = {r.name for r in reqs}
    assert "cuda-bindings" in names and any(n.startswith("cupy-cuda") for n in names)
    if extra.startswith("cuda"):  # a complete toolkit: CuPy's ctk extra (NVRTC, headers, cuBLAS)
        assert all("ctk" in r.extras for r in reqs if r.name.startswith("cupy-cuda")), extra


def test_the_ci_extra_is_the_cuda12_compile_only_one() -> None:
    extras = _extras()
    assert sorted(map(str, extras["nvrtc"])) == sorted(map(str, extras["nvrtc12"]))


@pytest.mark.parametrize("extra", ["cuda12", "cuda13", "nvrtc12", "nvrtc13"])
def test_extras_resolve_against_the_package_index(extra: str, tmp_path: Path) -> None:
    """pip resolves every requirement of the extra (without dependencies), its extras included."""
    reqs = _extras()[extra]
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed", "--quiet",
           "--disable-pip-version-check", "--report", str(report), *map(str, reqs)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"pip could not resolve {extra}:\n{out.stderr[-3000:]}"
    resolved = {i["metadata"]["name"].lower(): i["metadata"] for i in json.loads(report.read_text())["install"]}
    for req in reqs:
        meta = resolved[req.name]
        assert req.specifier.contains(meta["version"], prereleases=True), (req, meta["version"])
        missing = set(req.extras) - set(meta.get("provides_extra") or [])
        assert not missing, f"{req.name} {meta['version']} has no extra(s) {sorted(missing)}"


# -- headers ----------------------------------------------------------------------------------


def _fake_site(monkeypatch: pytest.MonkeyPatch, site_dir: Path) -> None:
    import site

    from cuda.pathfinder._headers import find_nvidia_headers
    from cuda.pathfinder._utils import find_sub_dirs

    monkeypatch.setattr(site, "getsitepackages", lambda: [str(site_dir)])
    monkeypatch.setattr(site, "ENABLE_USER_SITE", False)
    for var in ("CUDA_PATH", "CUDA_HOME", "CONDA_PREFIX"):
        monkeypatch.delenv(var, raising=False)
    for cached in (find_nvidia_headers.locate_nvidia_header_directory, find_sub_dirs.find_sub_dirs_cached,
                   toolkit.header_dir):  # fmt: skip
        cached.cache_clear()  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _fresh_header_caches() -> Any:
    yield
    from cuda.pathfinder._headers import find_nvidia_headers
    from cuda.pathfinder._utils import find_sub_dirs

    find_nvidia_headers.locate_nvidia_header_directory.cache_clear()
    find_sub_dirs.find_sub_dirs_cached.cache_clear()
    toolkit.header_dir.cache_clear()


def test_headers_are_found_in_the_cuda13_wheel_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inc = tmp_path / "nvidia" / "cu13" / "include"
    inc.mkdir(parents=True)
    (inc / "cuda_runtime.h").write_text("/* fake */\n")
    (inc / "cuda_fp16.h").write_text("/* fake */\n")
    _fake_site(monkeypatch, tmp_path)
    assert toolkit.header_dir() == str(inc)
    assert f"--include-path={inc}" in toolkit.nvrtc_options("sm_90")


def test_headers_fall_back_to_cuda_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_site(monkeypatch, tmp_path / "empty-site")
    monkeypatch.setattr(toolkit, "_pathfinder_header_dir", lambda: None)  # this machine may have system CUDA
    assert toolkit.header_dir() is None
    assert any("cuda_fp16.h" in m for m in toolkit.missing_components())
    root = tmp_path / "cuda"
    (root / "include").mkdir(parents=True)
    (root / "include" / "cuda_fp16.h").write_text("/* fake */\n")
    monkeypatch.setenv("CUDA_PATH", str(root))
    toolkit.header_dir.cache_clear()
    assert toolkit.header_dir() == str(root / "include")


def test_availability_names_each_missing_component(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(toolkit, "_nvrtc_version", lambda: None)
    monkeypatch.setattr(toolkit, "header_dir", lambda: None)
    monkeypatch.setattr(toolkit, "_has_cublas", lambda: False)
    missing = toolkit.missing_components()
    assert [m.split(" ")[0] for m in missing] == ["NVRTC", "the", "cuBLAS"]
    assert all("opcore-cuda[cuda13]" in m for m in missing)
    monkeypatch.setattr(toolkit, "_nvrtc_version", lambda: "13.0")
    monkeypatch.setattr(toolkit, "header_dir", lambda: "/inc")
    monkeypatch.setattr(toolkit, "_has_cublas", lambda: True)
    assert toolkit.missing_components() == []


# -- compile options and the kernel cache --------------------------------------------------------


class _FakeModule:
    """Stands in for ``cupy.cuda.function.Module`` (loading needs a GPU); records what it loads."""

    loaded: ClassVar[list[bytes]] = []

    def load(self, image: bytes) -> None:
        self.loaded.append(image)

    def get_function(self, name: str) -> str:
        return f"function {name}"


def _spy_options(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    from cuda.bindings import nvrtc

    seen: list[list[str]] = []
    real = nvrtc.nvrtcCompileProgram

    def spy(prog: Any, n: int, opts: list[bytes]) -> Any:
        seen.append([o.decode() for o in opts])
        return real(prog, n, opts)

    monkeypatch.setattr(nvrtc, "nvrtcCompileProgram", spy)
    return seen


def _runtime_without_gpu(monkeypatch: pytest.MonkeyPatch) -> Any:
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed")
    from opcore_cuda.runtime import CudaRuntime

    monkeypatch.setattr(cupy.cuda.function, "Module", _FakeModule)
    rt = CudaRuntime.__new__(CudaRuntime)
    rt.device = contextlib.nullcontext()
    rt.arch = "sm_80"
    rt.counters = Counter()
    rt._cache = KernelCache(rt._build, rt.counters)
    rt.sources = rt._cache.sources
    rt._modules = []
    return rt


SOURCE = "__kernel void k(__global float* a, const long n) { const long i = get_global_id(0); if (i < n) a[i] *= 2; }"


def test_the_check_compiles_with_the_runtimes_options_and_no_flush_to_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _spy_options(monkeypatch)
    rt = _runtime_without_gpu(monkeypatch)
    assert rt.kernel(("k",), lambda: SOURCE, "k") == "function k"
    nvrtc_check.compile_source(SOURCE, "sm_80")
    assert len(seen) == 2 and seen[0] == seen[1] == toolkit.nvrtc_options("sm_80")
    flags = " ".join(seen[0]).lower()
    assert "ftz" not in flags and "fast_math" not in flags and "fast-math" not in flags
    assert _FakeModule.loaded and _FakeModule.loaded[-1][:4] == b"\x7fELF"  # a cubin, not source


def test_a_warm_cuda_call_builds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    rt = _runtime_without_gpu(monkeypatch)
    builds = []

    def build() -> str:
        builds.append(1)
        return SOURCE

    first = rt.kernel(("k", "float32"), build, "k")
    assert rt.kernel(("k", "float32"), build, "k") is first
    assert builds == [1] and rt.counters["sources"] == 1 and rt.counters["builds"] == 1
    # another signature with the same source compiles nothing new
    rt.kernel(("k", "other"), build, "k")
    assert rt.counters["sources"] == 2 and rt.counters["builds"] == 1


def test_ptx_for_an_architecture_newer_than_nvrtc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(toolkit, "supported_archs", lambda: [80, 90])
    assert toolkit.device_arch(90) == "sm_90"
    assert toolkit.device_arch(120) == "compute_90"
    compiled = toolkit.compile_cuda(SOURCE, "compute_80")
    assert compiled.kind == "ptx" and b".entry k" in compiled.image


# -- DLPack device checks ----------------------------------------------------------------------


class _Producer:
    def __init__(self, device: tuple[int, int]) -> None:
        self.device = device

    def __dlpack_device__(self) -> tuple[int, int]:
        return self.device

    def __dlpack__(self, **kwargs: Any) -> Any:
        raise AssertionError("the device check must come before any import")


def test_dlpack_from_another_gpu_is_rejected_naming_both() -> None:
    with pytest.raises(opcore.BackendMismatchError, match=r"on cuda:1 but backend 'cuda' uses cuda:0"):
        CudaBackend(device=0).from_dlpack(_Producer((2, 1)))


def test_dlpack_from_a_non_cuda_device_is_rejected() -> None:
    with pytest.raises(opcore.BackendMismatchError, match="device type 4"):
        CudaBackend(device=0).from_dlpack(_Producer((4, 0)))
