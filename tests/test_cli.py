"""The ``opcore`` command: backends, ops, and the help of every subcommand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from opcore.cli import main


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        ([], ["backends", "ops", "conformance"]),
        (["backends"], ["--verbose", "--format", "quarantined"]),
        (["ops"], ["--backend", "table,json,markdown"]),
        (
            ["conformance"],
            ["--backend", "--ops", "--dtypes", "--xfail-file", "--json", "--html", "--markdown", "--diff"],
        ),
    ],
)
def test_every_subcommand_has_help(argv: list[str], needles: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for needle in needles:
        assert needle in out, needle


def test_backends_lists_distribution_version_devices_and_kernels(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert "numpy      available  (from opcore-numpy 0.1.0)" in out
    assert "devices: cpu:0; float64=yes, float16=yes" in out
    assert "kernels:" in out and "plugins:" in out
    assert main(["backends", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    numpy = next(b for b in data["backends"] if b["name"] == "numpy")
    assert numpy["distribution"] == "opcore-numpy" and numpy["version"] == "0.1.0" and numpy["available"]
    assert numpy["devices"] == ["cpu:0"] and numpy["kernels"] > numpy["ops_with_kernels"] > 50
    assert {"name", "distribution", "version", "status", "error"} <= set(data["plugins"][0])


def test_backends_shows_unavailable_backends_and_quarantined_plugins(tmp_path: Path) -> None:
    src = """
        from opcore.backend import Backend
        from opcore.hookspecs import hookimpl

        class Far(Backend):
            name = "far"
            def availability(self):
                return False, "no far device attached"

        @hookimpl
        def opcore_register_backends(registry):
            registry.register_backend(Far())
        """
    for name, body in (("far_backend", src), ("broken_thing", "raise RuntimeError('broken <on purpose>')\n")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(textwrap.dedent(body))
        info = tmp_path / f"{name}-0.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: 0.3\n")
        (info / "entry_points.txt").write_text(f"[opcore]\n{name} = {name}\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    code = "import sys; from opcore.cli import main; sys.exit(main(sys.argv[1:]))"
    out = subprocess.run([sys.executable, "-c", code, "backends"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert "far        unavailable: no far device attached  (from far-backend 0.3)" in out.stdout
    assert "broken_thing quarantined  broken-thing 0.3" in out.stdout
    assert "error: import failed: RuntimeError: broken <on purpose>" in out.stdout
    assert "1 plugin(s) quarantined" in out.stdout
    out = subprocess.run(
        [sys.executable, "-c", code, "backends", "--format", "json"], capture_output=True, text=True, env=env
    )
    data = json.loads(out.stdout)
    far = next(b for b in data["backends"] if b["name"] == "far")
    assert far["available"] is False and far["reason"] == "no far device attached" and far["version"] == "0.3"
    broken = next(p for p in data["plugins"] if p["name"] == "broken_thing")
    assert broken["status"] == "quarantined" and "broken <on purpose>" in broken["error"]


def test_ops_formats(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ops", "--backend", "numpy", "--format", "json"]) == 0
    rows = {r["op"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["Add"]["kernels"] == {"numpy": sorted(rows["Add"]["kernels"]["numpy"])}
    assert "float32" in rows["Add"]["kernels"]["numpy"] and rows["Add"]["type_vars"] == ["T"]
    assert rows["Dropout"]["kernels"]["numpy"] == ["composite"]
    assert "float32/int64" in rows["GatherV2"]["kernels"]["numpy"]  # one entry per binding of T and Tidx
    assert main(["ops", "--backend", "numpy", "--format", "markdown"]) == 0
    md = capsys.readouterr().out.splitlines()
    assert md[0] == "| op | provider | numpy |" and any(line.startswith("| `Add` | opcore | ") for line in md)
    assert main(["ops", "--backend", "numpy"]) == 0
    table = capsys.readouterr().out
    assert "Add(x: T, y: T) -> (z: T)" in table and "    numpy: " in table


def test_ops_with_an_unknown_backend_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ops", "--backend", "nosuch"]) == 2
    assert "no backend named 'nosuch'; installed: " in capsys.readouterr().err
