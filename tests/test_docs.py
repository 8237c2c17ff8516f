"""The op-plugin guide shows the example plugin's files word for word."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_guide_code_blocks_are_the_example_files() -> None:
    text = (ROOT / "docs" / "op-plugins.md").read_text()
    blocks = re.findall(r"<!-- file: (\S+) -->\n```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 4
    for path, code in blocks:
        assert (ROOT / path).read_text() == code, f"docs/op-plugins.md is out of date with {path}"
