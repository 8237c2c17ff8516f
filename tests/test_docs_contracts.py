"""The plugin-author docs cover what the code defines, and the two verdict tables agree."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from opcore_conformance.runner import MARKS, VERDICTS
from opcore_conformance.spec import DOMAINS, Invalid, OpSpec

ROOT = Path(__file__).resolve().parents[1]


def _verdict_rows(text: str) -> dict[str, tuple[str, str, str]]:
    rows = {}
    for mark, verdict, meaning, fails in re.findall(r"^\| `(.)` \| (\S+) \| (.+) \| (yes|no) \|$", text, re.M):
        rows[verdict] = (mark, meaning, fails)
    return rows


def test_the_verdict_tables_of_the_guide_and_the_schema_agree_with_the_code() -> None:
    guide = _verdict_rows((ROOT / "docs/conformance.md").read_text())
    schema = _verdict_rows((ROOT / "conformance/opcore_conformance/SCHEMA.md").read_text())
    assert guide == schema
    assert list(guide) == list(VERDICTS)
    assert {v: m for v, (m, _, _) in guide.items()} == MARKS
    # An unclaimed kernel that fails is reported F: both tables say so.
    assert "whether it claims it or not" in guide["failed"][1]


def test_the_op_plugin_guide_documents_every_spec_field_and_domain() -> None:
    text = (ROOT / "docs/op-plugins.md").read_text()
    for f in fields(OpSpec):
        assert f"| `{f.name}" in text, f.name
    for f in fields(Invalid):
        assert re.search(rf"Invalid\([^)]*\b{f.name}\b", text), f.name
    for domain in DOMAINS:
        assert re.search(rf"^\| [^|]*`{domain}`", text, re.M), domain
    assert "`k: int >= 1`" in text or '"k: int >= 1"' in text
    assert "pyopencl.array.Array" in text and "ElementwiseKernel" in text
    assert "array.data" not in text


def test_the_backend_guide_documents_dtype_of_shape_of_and_lazy_native_type() -> None:
    text = (ROOT / "docs/backend-plugins.md").read_text()
    assert "dtype_of(array)" in text and "shape_of(array)" in text
    assert re.search(r"def load\(self\).*?self\.native_type = ", text, re.S)
