"""The documentation: its code is the code, its examples run, and the site builds with --strict.

- Blocks after ``<!-- file: PATH -->`` are that file of the repository, word for word.
- Python blocks on the user pages run, page by page, each page in a fresh interpreter.
- The backend-plugin guide's example package is written out from its blocks and used.
- The conformance guide names exactly the options ``opcore conformance --help`` has.
- ``mkdocs build --strict`` succeeds, and the generated ops page lists every registered op.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

import opcore
from opcore.registry import OpDef, Registry

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GENERATOR = ROOT / "scripts" / "gen_ops_reference.py"

FILE_BLOCK = re.compile(r"<!-- file: (\S+) -->\n```\w+\n(.*?)```", flags=re.S)
EXAMPLE_FILE = re.compile(r"<!-- example file: (\S+) -->\n```\w+\n(.*?)```", flags=re.S)
EXAMPLE_RUN = re.compile(r"<!-- example run -->\n```python\n(.*?)```", flags=re.S)
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", flags=re.S)

#: Pages whose every Python block runs, in order, as one program.
RUNNABLE_PAGES = [
    "index.md",
    "getting-started.md",
    "concepts/ops.md",
    "concepts/kernels-and-backends.md",
    "concepts/graphs-and-sessions.md",
    "concepts/autodiff.md",
    "tf1.md",
    "tensorboard.md",
]


def _run(args: list[str], cwd: Path = ROOT, extra_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path), env.get("PYTHONPATH", "")])
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _generator() -> SimpleNamespace:
    spec = importlib.util.spec_from_file_location("gen_ops_reference", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return SimpleNamespace(**vars(module))


# --------------------------------------------------------------------------- code = the files


def test_guide_code_blocks_are_the_example_files() -> None:
    text = (DOCS / "op-plugins.md").read_text()
    blocks = FILE_BLOCK.findall(text)
    # pyproject.toml, __init__.py, ops.py, kernels.py, plugin.py, spec.py: the whole package
    assert len(blocks) == 6
    for path, code in blocks:
        assert (ROOT / path).read_text() == code, f"docs/op-plugins.md is out of date with {path}"


def test_every_file_block_is_the_file() -> None:
    seen = 0
    for page in sorted(DOCS.rglob("*.md")):
        for path, code in FILE_BLOCK.findall(page.read_text()):
            seen += 1
            assert (ROOT / path).is_file(), f"{page.relative_to(ROOT)} shows {path}, which does not exist"
            assert (ROOT / path).read_text() == code, f"{page.relative_to(ROOT)} is out of date with {path}"
    assert seen >= 6  # the op-plugin guide's four files and the NumPy backend's two


# --------------------------------------------------------------------------- examples run


@pytest.mark.parametrize("page", RUNNABLE_PAGES)
def test_page_examples_run(page: str, tmp_path: Path) -> None:
    blocks = PYTHON_BLOCK.findall((DOCS / page).read_text())
    assert blocks, f"docs/{page} has no Python examples"
    script = tmp_path / "page.py"
    script.write_text("\n".join(blocks))
    r = _run([sys.executable, str(script)], cwd=tmp_path)
    assert r.returncode == 0, f"an example in docs/{page} fails:\n{r.stdout}\n{r.stderr}"


def test_backend_plugin_guide_example_package(tmp_path: Path) -> None:
    text = (DOCS / "backend-plugins.md").read_text()
    files = EXAMPLE_FILE.findall(text)
    assert {p for p, _ in files} >= {"opcore_toy/backend.py", "opcore_toy/kernels.py", "opcore_toy/plugin.py"}
    for path, code in files:
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(code)
    (tmp_path / "opcore_toy" / "__init__.py").touch()

    # The entry point names the plugin module the guide wrote.
    toml = (tmp_path / "pyproject.toml").read_text()
    group = toml.split("[project.entry-points.opcore]", 1)[1]
    entry = re.search(r'^toy = "([\w.]+)"$', group, flags=re.M)
    assert entry is not None, "the guide's pyproject.toml has no 'toy' entry point in the opcore group"
    assert (tmp_path / (entry.group(1).replace(".", "/") + ".py")).is_file()

    runs = EXAMPLE_RUN.findall(text)
    assert len(runs) >= 2
    script = tmp_path / "guide.py"
    script.write_text("\n".join(runs))
    r = _run([sys.executable, str(script)], cwd=tmp_path, extra_path=tmp_path)
    assert r.returncode == 0, f"docs/backend-plugins.md's example fails:\n{r.stdout}\n{r.stderr}"
    assert "loaded" in r.stdout and "KernelNotFoundError" not in r.stderr


# --------------------------------------------------------------------------- conformance guide


def _documented_options() -> set[str]:
    text = (DOCS / "conformance.md").read_text()
    table = text.split("<!-- options of: opcore conformance -->", 1)[1].split("<!-- end options -->", 1)[0]
    return set(re.findall(r"^\| `(--[a-z][a-z0-9-]*)", table, flags=re.M))


def test_conformance_guide_lists_the_real_options() -> None:
    pytest.importorskip("opcore_conformance")
    r = _run([sys.executable, "-m", "opcore.cli", "conformance", "--help"])
    assert r.returncode == 0, r.stderr
    real = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", r.stdout)) - {"--help"}
    documented = _documented_options()
    assert documented == real, (
        f"docs/conformance.md's options table is out of date: documented but missing {sorted(documented - real)}, "
        f"existing but undocumented {sorted(real - documented)}"
    )


def test_conformance_guide_json_excerpt_matches_a_report(tmp_path: Path) -> None:
    pytest.importorskip("opcore_conformance")
    text = (DOCS / "conformance.md").read_text()
    excerpt = json.loads(text.split("<!-- report example", 1)[1].split("```json\n", 1)[1].split("```", 1)[0])
    out = tmp_path / "report.json"
    r = _run([sys.executable, "-m", "opcore.cli", "conformance", "--backend", "numpy", "--ops", "Sqrt",
              "--quiet", "--json", str(out)])  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(out.read_text())
    assert set(excerpt) <= set(report), f"the guide names report fields that do not exist: {set(excerpt) - set(report)}"
    assert excerpt["schema"] == report["schema"]
    result = report["results"][0]
    missing = set(excerpt["results"][0]) - set(result)
    assert not missing, f"the guide names result fields that do not exist: {missing}"


# --------------------------------------------------------------------------- the ops reference


def _tiny_registry() -> Registry:
    from opcore import shapes

    reg = Registry()
    reg.register_op(
        OpDef(
            "docs.Pair",
            inputs=["x: T", "i: Tidx"],
            outputs=["y: T"],
            type_vars={"T": "float32, float64", "Tidx": "int32, int64"},
            attrs=["axis: int = 0"],
            shape_fn=shapes.unchanged("x"),
            differentiable=False,
            doc="A test op | with a pipe.",
        )
    )
    return reg


def test_generator_renders_every_op_with_its_kernels() -> None:
    gen = _generator()
    reg = _tiny_registry()

    class Stub(opcore.Backend):
        name = "stub"

    reg.register_backend(Stub())
    reg.register_kernel("docs.Pair", "stub", lambda ctx, x, i: x, {"T": ["float32"], "Tidx": ["int32", "int64"]})
    page = gen.render(reg)
    assert "### `docs.Pair` { #op-docs-pair }" in page
    assert "docs.Pair(x: T, i: Tidx; axis: int = 0) -> (y: T)" in page
    assert "`opcore.shapes.unchanged(x)`" in page
    assert "A test op \\| with a pipe." in page
    assert "| kernels: `stub` | T in {float32}; Tidx in {int32, int64} |" in page
    assert "| [`docs.Pair`](#op-docs-pair) | opcore | 2/4 |" in page
    assert "not differentiable" in page


def test_generator_kernel_summary_lists_partial_bindings() -> None:
    gen = _generator()
    reg = _tiny_registry()
    reg.register_kernel("docs.Pair", "b", lambda ctx, x, i: x, [{"T": "float32", "Tidx": "int32"}])
    reg.register_kernel("docs.Pair", "b", lambda ctx, x, i: x, [{"T": "float64", "Tidx": "int64"}])
    op = reg.ops["docs.Pair"]
    assert gen.kernel_summary(reg, op, "b") == "(T=float32, Tidx=int32), (T=float64, Tidx=int64)"
    assert gen.kernel_summary(reg, op, "none") == "—"


# --------------------------------------------------------------------------- the site


KEY_PAGES = [
    "index.html",
    "getting-started/index.html",
    "concepts/ops/index.html",
    "concepts/kernels-and-backends/index.html",
    "concepts/plugins/index.html",
    "concepts/graphs-and-sessions/index.html",
    "concepts/autodiff/index.html",
    "op-plugins/index.html",
    "backend-plugins/index.html",
    "conformance/index.html",
    "reference/ops/index.html",
    "reference/api/opcore/index.html",
    "reference/api/registry/index.html",
    "reference/api/keras/index.html",
]


def test_site_builds_strict_and_lists_every_op(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install -e '.[docs]'")
    pytest.importorskip("mkdocstrings")
    site = tmp_path / "site"
    r = _run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)])
    assert r.returncode == 0, f"mkdocs build --strict failed:\n{r.stdout}\n{r.stderr[-6000:]}"
    for page in KEY_PAGES:
        assert (site / page).is_file(), f"the site has no {page}"

    # The ops a fresh process registers (tests in this process may have registered their own).
    listed = _run([sys.executable, "-c", "import opcore; print(*opcore.get_registry().ops, sep=chr(10))"])
    assert listed.returncode == 0, listed.stderr
    names = listed.stdout.split()
    assert "MatMul" in names
    ops_html = (site / "reference" / "ops" / "index.html").read_text()
    gen = _generator()
    missing = [name for name in names if f'id="{gen.anchor(name)}"' not in ops_html]
    assert not missing, f"the generated ops page lacks {missing}"
    for name in ("MatMul", "Conv2D", "SoftmaxCrossEntropyWithLogits"):
        assert opcore.get_op(name).signature.split("(", 1)[1][:20] in ops_html.replace("&gt;", ">")

    registry_html = (site / "reference" / "api" / "registry" / "index.html").read_text()
    assert 'id="opcore.registry.OpDef"' in registry_html
    # Doctests render as code, not as quotes or reference links.
    assert "&gt;&gt;&gt;" in registry_html and "<blockquote>" not in registry_html
