"""A conformance report as Markdown, for CI job summaries and pull-request comments."""

from __future__ import annotations

import re
from collections.abc import Sequence

from opcore_conformance.runner import VERDICTS, Report, Result, worst

__all__ = ["EMOJI", "render_markdown"]

#: The mark of each verdict in the Markdown grid.
EMOJI = {
    "passed": "✅",
    "failed": "❌",
    "claimed-but-failing": "⛔",
    "xpass": "❗",
    "no-spec": "❓",
    "xfail": "🟡",
    "passing-but-unclaimed": "🔵",
    "unsupported": "🚫",
    "not-claimed": "·",
}
_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#!~])")


def md_text(text: str) -> str:
    """Escape text for a Markdown paragraph or table cell (one line)."""
    return _SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _fence(text: str, lang: str = "") -> str:
    """A fenced code block that text containing backticks cannot close early."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    bar = "`" * max(3, longest + 1)
    return f"{bar}{lang}\n{text.rstrip()}\n{bar}"


def _binding(r: Result) -> str:
    return ", ".join(f"{k}={v}" for k, v in r.binding.items()) or "no type variables"


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.3g}"


def render_markdown(reports: Report | Sequence[Report], *, grid: bool = True, max_failures: int = 50) -> str:
    """The reports as Markdown: a summary per backend, the op x dtype grid (folded) and each failure."""
    out: list[str] = []
    for report in [reports] if isinstance(reports, Report) else reports:
        out.extend(_one(report, grid, max_failures))
    return "\n".join(out).rstrip() + "\n"


def _one(report: Report, grid: bool, max_failures: int) -> list[str]:
    status = "✅ passed" if report.ok else f"❌ {len(report.failed)} failing"
    lines = [f"## opcore conformance: `{md_text(report.backend)}` — {status}", ""]
    meta = [f"{md_text(report.provider)} {md_text(report.provider_version)}".strip() or "unknown provider"]
    if report.devices:
        meta.append("devices " + md_text(", ".join(report.devices)))
    meta.append(f"claims from {md_text(report.claims_source)}")
    meta.append(f"{len(report.results)} items in {report.seconds:.1f}s")
    lines += [" · ".join(meta), ""]
    lines += ["| verdict | count |", "| --- | ---: |"]
    lines += [f"| {EMOJI[v]} {v} | {n} |" for v, n in report.counts().items() if n]
    lines.append("")
    lines.extend(f"> note: {md_text(n)}" for n in report.notes)
    if report.notes:
        lines.append("")
    if grid:
        cols, cells = report.grid()
        lines += ["<details><summary>op x dtype grid</summary>", ""]
        lines.append("legend: " + ", ".join(f"{EMOJI[v]} {v}" for v in VERDICTS))
        lines.append("")
        lines.append("| op | " + " | ".join(cols) + " |")
        lines.append("| --- |" + " :---: |" * len(cols))
        for op, row in cells.items():
            marks = [EMOJI[worst(row[c])] if c in row else "" for c in cols]
            lines.append(f"| `{op}` | " + " | ".join(marks) + " |")
        lines += ["", "</details>", ""]
    shown = [r for r in report.results if r.verdict in ("failed", "claimed-but-failing", "xpass", "no-spec")]
    if shown:
        lines += ["### Failures", ""]
    for r in shown[:max_failures]:
        lines.append(
            f"#### {EMOJI[r.verdict]} `{r.op}` {md_text(_binding(r))}: {r.verdict} ({md_text(r.check or '-')})"
        )
        lines.append("")
        lines.append(_fence(r.message, "text"))
        lines.append("")
        if r.verdict not in ("no-spec", "xpass"):
            lines.append(
                f"max abs error {_num(r.max_abs_error)} · max rel error {_num(r.max_rel_error)} · "
                f"tolerance {md_text(r.tolerance or '—')} · inputs {md_text(r.shapes or '—')}"
            )
            lines.append("")
        if r.repro:
            lines += ["Reproduce with:", "", _fence(r.repro, "python"), ""]
    if len(shown) > max_failures:
        lines += [f"… and {len(shown) - max_failures} more failures (see the JSON or HTML report).", ""]
    return lines
