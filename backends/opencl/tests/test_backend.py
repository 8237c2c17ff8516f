"""The OpenCL backend object: availability, device choice, data movement, counters."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import opcore


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})  # fmt: skip


def test_without_an_icd_opcore_and_numpy_still_work_and_the_reason_is_shown() -> None:
    code = (
        "import opcore\n"
        "info = {b.name: b for b in opcore.available_backends()}\n"
        "print(info['opencl'].available, '|', info['opencl'].reason)\n"
        "print((opcore.constant([1.0, 2.0]) * 2).numpy().tolist())\n"
        "from opcore.cli import main; main(['backends'])\n"
    )
    out = _run(code, OCL_ICD_VENDORS="/nonexistent", OCL_ICD_FILENAMES="")
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()[:2]
    assert first.startswith("False |") and "OpenCL platform" in first
    assert second == "[2.0, 4.0]"
    assert "opencl" in out.stdout and "unavailable: no OpenCL platform" in out.stdout
    code = "import opcore\ntry:\n    opcore.constant([1.0], backend='opencl')\nexcept opcore.BackendUnavailableError as e:\n    print('raised', e)\n"
    out = _run(code, OCL_ICD_VENDORS="/nonexistent", OCL_ICD_FILENAMES="")
    assert "raised backend 'opencl' is installed but unavailable here: no OpenCL platform" in out.stdout, out.stderr


def test_loading_the_plugin_does_not_import_pyopencl() -> None:
    out = _run("import sys, opcore; opcore.get_op('Add'); opcore.list_plugins(); print('pyopencl' in sys.modules)")
    assert out.stdout.strip() == "False", out.stderr


def test_device_choice_by_index_and_name() -> None:
    out = _run("import opcore; print({b.name: b.reason for b in opcore.available_backends()}['opencl'])",
               OPCORE_OPENCL_DEVICE="7")  # fmt: skip
    assert "device index 7 is out of range" in out.stdout, out.stderr
    out = _run("import opcore; print({b.name: b.reason for b in opcore.available_backends()}['opencl'])",
               OPCORE_OPENCL_DEVICE="no-such-gpu")  # fmt: skip
    assert "no OpenCL device matches 'no-such-gpu'" in out.stdout, out.stderr
    out = _run("import opcore; print({b.name: b.available for b in opcore.available_backends()}['opencl'])",
               OPCORE_OPENCL_DEVICE="pthread")  # fmt: skip
    assert out.stdout.strip() == "True", out.stderr


def test_capabilities_come_from_the_device() -> None:
    caps = opcore.get_backend("opencl").capabilities()
    assert set(caps) == {"float64", "float16"} and all(isinstance(v, bool) for v in caps.values())


def test_data_stays_on_the_device_between_ops() -> None:
    rt = opcore.get_backend("opencl").runtime
    x = opcore.constant(np.arange(4, dtype=np.float32), backend="opencl")
    before = dict(rt.counters)
    y = x + x + x + 1.0
    after = rt.counters
    assert after["device_to_host"] == before.get("device_to_host", 0)
    assert after["launches"] - before.get("launches", 0) == 3
    assert y.numpy().tolist() == [1.0, 4.0, 7.0, 10.0]
    assert rt.counters["device_to_host"] == before.get("device_to_host", 0) + 1


def test_scalars_and_zero_size_arrays_round_trip() -> None:
    for host in (np.array(2.5, np.float32), np.zeros((0, 3), np.float64), np.array([True, False])):
        t = opcore.constant(host, backend="opencl")
        back = t.numpy()
        assert back.shape == host.shape and back.dtype == host.dtype
        np.testing.assert_array_equal(back, host)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_to_and_from_numpy_backend(dtype: str) -> None:
    a = opcore.constant(np.arange(6).reshape(2, 3).astype(dtype))
    b = a.to("opencl")
    assert b.backend == "opencl" and b.to("numpy").numpy().tolist() == a.numpy().tolist()


def test_huge_outputs_and_device_allocation_failures_are_resource_exhausted() -> None:
    import pyopencl as cl

    b = opcore.get_backend("opencl")
    with (
        opcore.use_backend("opencl"),
        pytest.raises(opcore.ResourceExhaustedError, match=r"Fill: .* on backend 'opencl'"),
    ):
        opcore.zeros([2**40])
    try:
        cl.Buffer(b.runtime.context, cl.mem_flags.READ_WRITE, 2**50)
    except cl.Error as exc:
        assert b.is_out_of_memory(exc)
    else:
        pytest.fail("a 1 PiB buffer was created")
    assert not b.is_out_of_memory(ValueError("not memory"))
