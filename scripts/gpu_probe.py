"""First-run probe of the CUDA backend: versions, header path, TF32, then subnormals, casts, DLPack views, float16.

Prints one line per check and writes them as JSON to the path given as the first argument.
Every check runs even when an earlier one fails; the exit status is 1 if any failed.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

RESULTS: dict[str, Any] = {}


def check(name: str, fn: Callable[[], Any]) -> None:
    try:
        RESULTS[name] = {"ok": True, "value": fn()}
    except Exception as exc:  # every step reports; none stops the probe
        RESULTS[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
    r = RESULTS[name]
    print(f"{'ok  ' if r['ok'] else 'FAIL'} {name}: {r.get('value', r.get('error'))}", flush=True)


def versions() -> dict[str, Any]:
    import cupy
    from cuda.bindings import nvrtc

    import opcore_cuda.toolkit as tk

    _, major, minor = nvrtc.nvrtcVersion()
    out: dict[str, Any] = {
        "cupy": cupy.__version__,
        "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
        "cuda_driver": cupy.cuda.runtime.driverGetVersion(),
        "nvrtc": f"{major}.{minor}",
        "header_dir": tk.header_dir(),
        "nvrtc_options": tk.nvrtc_options("sm_90"),
        "missing": tk.missing_components(),
    }
    try:
        import cuda.bindings

        out["cuda_bindings"] = cuda.bindings.__version__
    except (ImportError, AttributeError):
        out["cuda_bindings"] = None
    try:
        import torch

        out["torch"] = torch.__version__
        out["torch_tf32_matmul"] = torch.backends.cuda.matmul.allow_tf32
        out["torch_tf32_cudnn"] = torch.backends.cudnn.allow_tf32
    except ImportError:
        out["torch"] = None
    import os

    out["CUPY_TF32"] = os.environ.get("CUPY_TF32", "0 (unset: CuPy's cuBLAS calls do not use TF32)")
    return out


def main() -> int:
    import opcore

    check("versions", versions)
    check("backend", lambda: opcore.get_backend("cuda").devices())

    def dev(x: Any) -> Any:
        return opcore.constant(np.asarray(x), backend="cuda")

    def subnormals() -> str:
        tiny = np.array([1e-40, -1e-40], np.float32)
        got = opcore.greater(dev(tiny), 0.0).numpy().tolist()
        wide = opcore.cast(dev(tiny), "float64").numpy()
        assert got == [True, False], f"Greater(1e-40, 0) gave {got}: flushed to zero"
        assert wide[0] != 0, "cast of 1e-40 to float64 gave 0: flushed to zero"
        return "kept"

    def casts() -> str:
        x = np.array([np.nan, np.inf, -np.inf, 3e9, -3e9, -2.5, 2.7, 1e-40], np.float32)
        bad = []
        for d in ("int8", "uint8", "int32", "int64", "bool", "float16"):
            a = opcore.cast(dev(x), d).numpy()
            b = opcore.cast(opcore.constant(x), d).numpy()
            if not np.array_equal(a, b):
                bad.append(f"{d}: cuda {a.tolist()} numpy {b.tolist()}")
        assert not bad, "; ".join(bad)
        return "cuda == numpy"

    def dlpack() -> str:
        import cupy

        a = cupy.arange(48, dtype=cupy.float32).reshape(6, 8)
        for label, v in (("T", a.T), ("reversed", a[::-1]), ("strided", a[:, ::3])):
            t = opcore.from_dlpack(v, backend="cuda")
            np.testing.assert_array_equal((t * 1.0).numpy(), cupy.asnumpy(v), err_msg=label)
        h = np.arange(6.0).reshape(2, 3).T
        np.testing.assert_array_equal(opcore.from_dlpack(h, backend="cuda").numpy(), h)
        return "views and host producers"

    def float16() -> str:
        x = np.linspace(-3, 3, 64, dtype=np.float16).reshape(8, 8)
        t = dev(x)
        out = {
            "add": (t + t).numpy(),
            "matmul": (t @ t).numpy(),
            "softmax": opcore.softmax(t).numpy(),
            "sum": opcore.reduce_sum(t).numpy(),
        }
        ref = opcore.constant(x.astype(np.float32))
        refs = {"add": (ref + ref), "matmul": ref @ ref, "softmax": opcore.softmax(ref), "sum": opcore.reduce_sum(ref)}
        for k, v in out.items():
            np.testing.assert_allclose(v.astype(np.float32), refs[k].numpy(), rtol=2e-2, atol=2e-2, err_msg=k)
        return "add, matmul, softmax, sum"

    for name, fn in (("subnormals", subnormals), ("casts", casts), ("dlpack", dlpack), ("float16", float16)):
        check(name, fn)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            json.dump(RESULTS, f, indent=1, default=str)
    return 0 if all(r["ok"] for r in RESULTS.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
