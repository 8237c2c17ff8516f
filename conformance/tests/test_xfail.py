"""The xfail file format: op dtype reason, comments with #, a reason is required."""

from __future__ import annotations

from pathlib import Path

import pytest

from opcore_conformance import XfailFileError, load_xfail, parse_xfail


def test_parses_entries_comments_and_blank_lines() -> None:
    entries = parse_xfail("# header\n\nConv2D float16 no fp16 conv # issue 4\n  Max*  *  slow\n")
    assert [(e.op, e.dtype, e.reason, e.line) for e in entries] == [
        ("Conv2D", "float16", "no fp16 conv # issue 4", 3),
        ("Max*", "*", "slow", 4),
    ]
    assert entries[1].matches("MaxPool", "float32") and not entries[0].matches("Conv2D", "float32")


@pytest.mark.parametrize("line", ["Conv2D float16", "Conv2D float16   ", "Conv2D"])
def test_a_line_without_a_reason_is_an_error_naming_the_line(line: str) -> None:
    with pytest.raises(XfailFileError, match=r"xf\.txt:2: an xfail line needs an op, a dtype and a reason"):
        parse_xfail(f"# ok\n{line}\n", "xf.txt")


def test_an_unknown_dtype_is_an_error() -> None:
    with pytest.raises(XfailFileError, match=r":1: 'flaot32' matches no dtype"):
        parse_xfail("Add flaot32 typo\n")


def test_load_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(XfailFileError, match="cannot read xfail file"):
        load_xfail(tmp_path / "nope.txt")
