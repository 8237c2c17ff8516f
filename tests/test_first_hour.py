"""A newcomer's first hour: the set-up script, the install lines of the docs, the README, the packaging metadata."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".venv", ".git", "build", "node_modules", "site"}


def _pyprojects() -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        if "pyproject.toml" in filenames:
            found.append(Path(dirpath) / "pyproject.toml")
    return sorted(found)


# --------------------------------------------------------------------------- packaging metadata


def test_there_are_the_expected_distributions() -> None:
    names = {tomllib.loads(p.read_text())["project"]["name"] for p in _pyprojects()}
    assert names >= {"opcore", "opcore-numpy", "opcore-ckernels", "opcore-opencl", "opcore-cuda", "opcore-conformance"}


@pytest.mark.parametrize("pyproject", _pyprojects(), ids=lambda p: str(p.parent.relative_to(ROOT)))
def test_licence_is_declared_as_current_setuptools_expects(pyproject: Path) -> None:
    """An SPDX expression and license-files (PEP 639), no licence classifiers: no deprecation warnings at install."""
    data = tomllib.loads(pyproject.read_text())
    project = data["project"]
    assert project.get("license") == "Apache-2.0", "project.license must be the SPDX string, not a table"
    files = project.get("license-files")
    assert files, "project.license-files must name the licence file"
    for pattern in files:
        matches = list(pyproject.parent.glob(pattern))
        assert matches, f"license-files entry {pattern!r} matches no file in {pyproject.parent}"
        assert all("Apache License" in m.read_text() and "Version 2.0" in m.read_text() for m in matches)
    assert not [c for c in project.get("classifiers", []) if c.startswith("License ::")]
    requires = " ".join(data["build-system"]["requires"])
    minimum = re.search(r"setuptools>=(\d+)", requires)
    assert minimum and int(minimum.group(1)) >= 77, "SPDX licence strings need setuptools>=77"


# --------------------------------------------------------------------------- install lines name every needed path


def _local_distributions() -> dict[str, tuple[Path, dict[str, list[str]]]]:
    """Each distribution of the repository: its folder and its requirements (key "" and one per extra)."""
    out = {}
    for p in _pyprojects():
        project = tomllib.loads(p.read_text())["project"]
        reqs = {"": list(project.get("dependencies", []))}
        reqs.update(project.get("optional-dependencies", {}))
        out[_canonical(project["name"])] = (p.parent, reqs)
    return out


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(req: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
    assert match, req
    return _canonical(match.group(1))


def _install_targets(command: str, page_dir: Path) -> list[tuple[Path, list[str]]] | None:
    """The repository folders (with extras) that a ``pip install`` command installs; None if it installs none."""
    words = shlex.split(command, comments=True)
    if "install" not in words:
        return None
    targets = []
    for word in words[words.index("install") + 1 :]:
        if word.startswith("-"):
            continue
        path, _, extras = word.partition("[")
        looks_local = path == "." or path.startswith(("backends/", "conformance", "examples/"))
        if not looks_local:
            continue
        folder = (page_dir / path).resolve()
        assert (folder / "pyproject.toml").is_file(), f"{command!r} installs {path!r}, which is not a package folder"
        targets.append((folder, [e for e in extras.rstrip("]").split(",") if e]))
    return targets


def _check_install_lines(commands: list[str], page_dir: Path, installed: set[str], where: str) -> set[str]:
    """Each install command must bring (or follow) every repository distribution its packages require."""
    local = _local_distributions()
    by_folder = {folder: name for name, (folder, _) in local.items()}
    for command in commands:
        targets = _install_targets(command, page_dir)
        if not targets:
            continue
        now = installed | {by_folder[folder] for folder, _ in targets}
        for folder, extras in targets:
            _, reqs = local[by_folder[folder]]
            for key in ["", *extras]:
                assert key in reqs, f"{where}: {command!r} asks for extra {key!r}, which {folder.name} does not have"
                for req in reqs[key]:
                    name = _requirement_name(req)
                    if name in local:
                        assert name in now, (
                            f"{where}: {command!r} installs {by_folder[folder]}, which needs {name} from this "
                            f"repository ({local[name][0].relative_to(ROOT)}), not installed by then: add "
                            f"-e {local[name][0].relative_to(ROOT)}"
                        )
        installed = now
    return installed


def _pip_commands(text: str) -> list[str]:
    """Every ``pip install ...`` command in a page: lines of shell blocks, and inline code spans."""
    commands = []
    for block in re.findall(r"```(?:bash|sh|console)\n(.*?)```", text, flags=re.S):
        joined = block.replace("\\\n", " ")
        commands += [line for line in joined.splitlines() if re.search(r"\bpip install\b", line)]
    for span in re.findall(r"`([^`\n]*\bpip install\b[^`\n]*)`", text):
        commands.append(span)
    return commands


def test_getting_started_install_lines_name_every_needed_path() -> None:
    text = (ROOT / "docs" / "getting-started.md").read_text()
    commands = _pip_commands(text)
    assert any("backends/opencl" in c for c in commands)
    installed = _check_install_lines(commands, ROOT, set(), "docs/getting-started.md")
    assert {"opcore", "opcore-numpy", "opcore-conformance", "opcore-ckernels", "opcore-opencl"} <= installed
    # followed literally: the environment is activated before `opcore` is called bare
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    first_call = next(i for i, b in enumerate(blocks) if re.search(r"^opcore ", b, flags=re.M))
    assert any("source .venv/bin/activate" in b for b in blocks[: first_call + 1])


@pytest.mark.parametrize("page", ["device-backends.md", "conformance.md"])
def test_other_install_lines_from_a_checkout_name_every_needed_path(page: str) -> None:
    commands = _pip_commands((ROOT / "docs" / page).read_text())
    _check_install_lines(commands, ROOT, {"opcore"}, f"docs/{page}")


def test_setup_script_installs_every_needed_path() -> None:
    text = (ROOT / "scripts" / "setup.sh").read_text().replace("\\\n", " ")
    commands = [line for line in text.splitlines() if "pip install" in line and " -e " in line]
    assert commands
    installed = _check_install_lines(commands, ROOT, set(), "scripts/setup.sh")
    assert installed == set(_local_distributions())  # and every distribution of the repository


def test_the_check_finds_a_missing_path() -> None:
    with pytest.raises(AssertionError, match=r"needs opcore-ckernels .* add -e backends/ckernels"):
        _check_install_lines(['pip install -e . -e "backends/opencl[pocl]"'], ROOT, set(), "example")
    with pytest.raises(AssertionError, match="not a package folder"):
        _check_install_lines(["pip install -e backends/opencll"], ROOT, set(), "example")


# --------------------------------------------------------------------------- the set-up script's stamp

FAKE_PYTHON = """#!/usr/bin/env bash
if [ "$1" = "-c" ]; then echo "3.11.7 (fake)"; exit 0; fi
echo "$*" >> "$FAKE_LOG"
exit "${FAKE_PIP_STATUS:-0}"
"""


@pytest.fixture
def fake_checkout(tmp_path: Path) -> Path:
    """A checkout with the real setup script, two pyproject files and a .venv whose python records pip calls."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    (tmp_path / "backends" / "numpy").mkdir(parents=True)
    (tmp_path / "backends" / "numpy" / "pyproject.toml").write_text('[project]\nname = "y"\n')
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    return tmp_path


def _setup(checkout: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], int]:
    log = checkout / "pip.log"
    before = len(log.read_text().splitlines()) if log.exists() else 0
    proc = subprocess.run(
        ["bash", str(checkout / "scripts" / "setup.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "FAKE_LOG": str(log), **env},
    )
    after = len(log.read_text().splitlines()) if log.exists() else 0
    return proc, after - before


def test_setup_installs_once_then_only_when_a_pyproject_changes(fake_checkout: Path) -> None:
    first, pip_calls = _setup(fake_checkout)
    assert first.returncode == 0, first.stderr
    assert pip_calls == 2  # pip itself, then every package
    assert len(first.stdout.splitlines()) <= 6 and "setup: done" in first.stdout  # a few lines of progress
    again, pip_calls = _setup(fake_checkout)
    assert again.returncode == 0 and pip_calls == 0
    assert again.stdout == "setup: .venv is up to date (OPCORE_SETUP_FORCE=1 reinstalls)\n"
    (fake_checkout / "backends" / "numpy" / "pyproject.toml").write_text('[project]\nname = "y"\nversion = "2"\n')
    changed, pip_calls = _setup(fake_checkout)
    assert changed.returncode == 0 and pip_calls == 2
    forced, pip_calls = _setup(fake_checkout, OPCORE_SETUP_FORCE="1")
    assert forced.returncode == 0 and pip_calls == 2


def test_a_failed_install_is_tried_again_next_time(fake_checkout: Path) -> None:
    failed, _ = _setup(fake_checkout, FAKE_PIP_STATUS="1")
    assert failed.returncode != 0 and not (fake_checkout / ".venv" / ".opcore-setup").exists()
    retried, pip_calls = _setup(fake_checkout)
    assert retried.returncode == 0 and pip_calls == 2


# --------------------------------------------------------------------------- the README and the scripts


def test_readme_says_how_to_use_the_environment_and_run_the_examples() -> None:
    text = (ROOT / "README.md").read_text()
    assert "source .venv/bin/activate" in text and ".venv/bin/python examples/" in text
    programs = {p.stem for p in (ROOT / "examples").glob("*.py")} - {"course"}
    named = set(re.findall(r"examples/(\w+)\.py", text)) | set(re.findall(r"`(\w+)\.py`", text))
    assert programs <= named, f"README.md does not mention {sorted(programs - named)}"
    mentioned = set(re.findall(r"examples/([a-z_]+)\.py", text))  # examples/NAME.py is a placeholder
    assert mentioned and all((ROOT / "examples" / f"{n}.py").is_file() for n in mentioned), mentioned


def test_test_script_reports_progress_in_its_long_phases() -> None:
    text = (ROOT / "scripts" / "test.sh").read_text()
    opencl = next(line for line in text.splitlines() if "conformance --backend opencl" in line)
    assert "--progress-every" in opencl
    nvrtc = next(line for line in text.splitlines() if "opcore_cuda.nvrtc_check" in line)
    assert "--progress-every" in nvrtc and nvrtc.rstrip().endswith("&")  # beside the other phases
    assert "wait" in text and "phase()" in text


FAKE_TOOLS = r"""#!/usr/bin/env bash
# Stands in for .venv/bin/python, ruff, mypy and opcore: says what it was asked and exits as told.
tool=$(basename "$0")
case "$tool $*" in
  "python -c"*) echo "3.11.7 (fake)" ;;
  "python -m pip"*) ;;
  "python -m opcore_cuda.nvrtc_check"*)
    echo "NVRTC: 1/2 items"; sleep "${FAKE_NVRTC_SECONDS:-0}"; echo "NVRTC: 2/2 items"
    touch "$FAKE_MARKS/nvrtc-finished"; exit "${FAKE_NVRTC_STATUS:-0}" ;;
  "python -m pytest"*) echo "pytest ran"; exit "${FAKE_PYTEST_STATUS:-0}" ;;
  *) echo "$tool $*" ;;
esac
"""


@pytest.fixture
def fake_test_checkout(tmp_path: Path) -> Path:
    """A checkout with the real setup.sh and test.sh, and a .venv whose programs only report their calls."""
    (tmp_path / "scripts").mkdir()
    for name in ("setup.sh", "test.sh"):
        shutil.copy(ROOT / "scripts" / name, tmp_path / "scripts" / name)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("python", "ruff", "mypy", "opcore"):
        (bin_dir / tool).write_text(FAKE_TOOLS)
        (bin_dir / tool).chmod(0o755)
    (tmp_path / "marks").mkdir()
    return tmp_path


def _test_sh(checkout: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(checkout / "scripts" / "test.sh")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "FAKE_MARKS": str(checkout / "marks"), **env},
    )


def test_test_script_phases_and_the_background_nvrtc_check(fake_test_checkout: Path) -> None:
    proc = _test_sh(fake_test_checkout, FAKE_NVRTC_SECONDS="2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    phases = re.findall(r"^== \[\d+:\d\d\] (\S+)", out, flags=re.M)
    assert phases == ["CUDA", "ruff", "mypy", "pytest", "conformance:", "conformance:", "conformance:", "NVRTC", "all"]
    # the background check's output is shown, whole, under its own heading near the end
    tail = out[out.index("NVRTC compile check (started") :]
    assert "NVRTC: 1/2 items" in tail and "NVRTC: 2/2 items" in tail
    assert "opcore conformance --backend opencl --quiet --progress-every 30" in out


def test_test_script_fails_when_the_nvrtc_check_fails(fake_test_checkout: Path) -> None:
    proc = _test_sh(fake_test_checkout, FAKE_NVRTC_STATUS="3")
    assert proc.returncode == 3
    assert "NVRTC compile check failed (exit status 3)" in proc.stdout
    assert "all checks passed" not in proc.stdout


def test_a_failing_phase_stops_the_background_check(fake_test_checkout: Path) -> None:
    proc = _test_sh(fake_test_checkout, FAKE_PYTEST_STATUS="1", FAKE_NVRTC_SECONDS="3")
    assert proc.returncode == 1 and "pytest ran" in proc.stdout
    time.sleep(4)
    assert not (fake_test_checkout / "marks" / "nvrtc-finished").exists()  # killed, not left running
