"""Plugin loading through real entry points, in fresh interpreters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def _fake_dist(root: Path, name: str, module_source: str) -> None:
    pkg = root / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent(module_source))
    info = root / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[opcore]\n{name} = {name}\n")


def _run(root: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(root), **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=120)


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    _fake_dist(tmp_path, "broken_on_import", "raise ImportError('this plugin is broken on purpose')\n")
    _fake_dist(
        tmp_path,
        "broken_on_register",
        """
        from opcore.hookspecs import hookimpl

        @hookimpl
        def opcore_register_kernels(registry):
            registry.register_kernel("Add", "numpy", lambda ctx, x, y: x + y, "float32")
        """,
    )
    return tmp_path


def test_broken_plugins_are_quarantined_and_opcore_still_works(plugin_dir: Path) -> None:
    code = """
import json, opcore
x = opcore.constant([1.0, 2.0]) + 1
recs = {p.name: [p.status, p.error] for p in opcore.list_plugins()}
print(json.dumps({"sum": x.numpy().tolist(), "plugins": recs}))
"""
    out = _run(plugin_dir, code)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["sum"] == [2.0, 3.0]
    assert data["plugins"]["numpy"][0] == "loaded"
    status, error = data["plugins"]["broken_on_import"]
    assert status == "quarantined" and "broken on purpose" in error
    status, error = data["plugins"]["broken_on_register"]
    # A second Add kernel for numpy clashes with the NumPy backend's own: quarantined, rolled back.
    assert status == "quarantined" and "second kernel for op 'Add'" in error


def test_opcore_backends_shows_the_quarantined_plugin(plugin_dir: Path) -> None:
    out = _run(plugin_dir, "from opcore.cli import main; main(['backends'])")
    assert out.returncode == 0, out.stderr
    assert "broken_on_import" in out.stdout and "quarantined" in out.stdout
    assert "broken on purpose" in out.stdout


def test_autoload_can_be_disabled_and_plugins_loaded_by_name(plugin_dir: Path) -> None:
    code = """
import opcore
names = sorted(opcore.get_registry().backends)
opcore.load_plugin("numpy")
print(names, sorted(opcore.get_registry().backends), (opcore.constant([1.0]) * 3).numpy().tolist())
"""
    out = _run(plugin_dir, code, OPCORE_DISABLE_PLUGIN_AUTOLOAD="1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[] ['numpy'] [3.0]"


def test_import_does_not_import_plugins_eagerly() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import sys, opcore; print('opcore_numpy' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.strip() == "False", out.stderr
