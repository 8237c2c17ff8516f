"""The HTML and Markdown reports, and comparing two JSON reports."""

from __future__ import annotations

import re

import pytest

from opcore_conformance import Report, parse_xfail, run
from opcore_conformance.diff import diff_reports, format_diff
from opcore_conformance.report_html import render_html
from opcore_conformance.report_markdown import render_markdown


@pytest.fixture(scope="module")
def report(faulty: str, faulty_xfail: str) -> Report:
    return run(faulty, ops="Add,Exp,Sqrt,Tanh,Relu,Neg", max_examples=2, xfail=parse_xfail(faulty_xfail))


def test_html_is_self_contained_and_escaped(report: Report) -> None:
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # no scripts, stylesheets, images or fonts from elsewhere
    assert not re.search(r"<script|<link|<img|@import|url\(|src=", page, re.IGNORECASE)
    assert "http://" not in page and "https://" not in page
    # text from the report is escaped: the crash message and the xfail reason hold "<...>" and "&"
    assert "<sqrt>" not in page and "lost its &lt;sqrt&gt; unit" in page
    assert "&lt;on purpose&gt; &amp; tracked" in page


def test_html_failure_shows_errors_tolerance_shapes_and_snippet(report: Report) -> None:
    page = render_html(report)
    card = page[page.index('<div class="card"') :]
    assert "largest absolute error" in card and "largest relative error" in card
    assert "rtol=2e-05, atol=1e-06" in card and "input shapes" in card
    assert "opcore.get_op(&#x27;Exp&#x27;)(opcore.constant(x0, backend=&#x27;faulty&#x27;))" in card
    # the grid links each failing cell to its card
    anchors = re.findall(r'href="#(b0-f\d+)"', page)
    assert anchors and all(f'id="{a}"' in page for a in anchors)
    assert 'title="T=float32: failed' in page


def test_html_has_a_section_per_backend(report: Report) -> None:
    other = Report("other", [], 0.0)
    page = render_html([report, other])
    assert 'id="backend-0"' in page and 'id="backend-1"' in page and "opcore conformance: other" in page


def test_markdown_summary(report: Report) -> None:
    md = render_markdown(report)
    assert md.startswith("## opcore conformance: `faulty` — ❌")
    assert "| ❌ failed | 4 |" in md and "| ❗ xpass | 1 |" in md
    assert "#### ❌ `Exp` T=float32: failed (forward)" in md
    assert "```python\nimport numpy as np" in md and "| `Exp` |" in md
    assert "lost its \\<sqrt\\> unit" not in md  # messages sit in code blocks, verbatim
    assert "lost its <sqrt> unit" in md


def test_diff_lists_regressions_and_improvements(report: Report) -> None:
    old = Report.from_json(report.to_json())
    new = Report.from_json(report.to_json())
    exp = next(r for r in old.results if r.op == "Exp" and r.column == "float32")
    exp.verdict = "passed"  # was passing, now failing: a regression
    add = next(r for r in new.results if r.op == "Add" and r.column == "float32")
    add.verdict = "not-claimed"  # worked, now not offered: a regression
    relu = next(r for r in new.results if r.op == "Relu" and r.column == "float32")
    relu.verdict = "passed"  # was claimed-but-failing: an improvement
    d = diff_reports(old, new)
    assert {c.label for c in d.regressions} == {"Exp[T=float32]", "Add[T=float32]"}
    assert [c.label for c in d.improvements] == ["Relu[T=float32]"]
    text = format_diff(d)
    assert "regressed: 2" in text and "Exp[T=float32]: passed -> failed" in text and "improved: 1" in text
    assert not diff_reports(new, new).regressions
