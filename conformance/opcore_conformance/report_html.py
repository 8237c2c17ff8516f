"""A conformance report as one self-contained HTML page (no scripts, fonts or images from elsewhere).

Per backend: a summary, an op x dtype grid coloured by verdict, and a card for
every failure with its largest errors, tolerance, input shapes and the snippet
that reproduces it. Every piece of text from the report is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from opcore_conformance.runner import FAILING, VERDICTS, Report, Result, worst

__all__ = ["COLOURS", "render_html"]

#: verdict -> (background, text colour, short cell label)
COLOURS = {
    "passed": ("#c8e6c9", "#1b5e20", "pass"),
    "failed": ("#e53935", "#ffffff", "FAIL"),
    "claimed-but-failing": ("#ff7043", "#ffffff", "CLAIM"),
    "xpass": ("#ad1457", "#ffffff", "XPASS"),
    "no-spec": ("#8e24aa", "#ffffff", "no spec"),
    "xfail": ("#fff59d", "#5d4037", "xfail"),
    "passing-but-unclaimed": ("#b3e5fc", "#01579b", "unclaimed"),
    "unsupported": ("#d7ccc8", "#4e342e", "n/a"),
    "not-claimed": ("#f5f5f5", "#9e9e9e", "·"),
}
_DESCRIPTIONS = {
    "passed": "claimed, and every check passed",
    "failed": "the backend's kernel gave a wrong result or crashed",
    "claimed-but-failing": "claimed by the manifest, but no kernel backs it and it does not work",
    "xpass": "listed as an expected failure, but passed (fails the run)",
    "no-spec": "the op has no conformance spec",
    "xfail": "failed, as the xfail file expects",
    "passing-but-unclaimed": "works although the backend does not claim it",
    "unsupported": "the device cannot hold this dtype",
    "not-claimed": "not claimed; raises KernelNotFoundError",
}

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px; color: #212121; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; }
h3 { font-size: 15px; margin: 0 0 6px; }
.meta { color: #555; margin-bottom: 12px; }
.status { display: inline-block; padding: 2px 10px; border-radius: 12px; font-weight: 600; margin-left: 8px; }
.ok { background: #2e7d32; color: #fff; } .bad { background: #c62828; color: #fff; }
.counts { display: flex; flex-wrap: wrap; gap: 6px; margin: 10px 0; }
.badge { padding: 3px 10px; border-radius: 4px; font-size: 13px; border: 1px solid rgba(0,0,0,.12); }
.badge b { font-size: 15px; margin-right: 4px; }
.legend { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 4px 16px;
  font-size: 12px; color: #444; margin: 8px 0 16px; }
.legend span.sw { display: inline-block; min-width: 62px; text-align: center; border-radius: 3px;
  margin-right: 6px; font-weight: 600; padding: 0 4px; }
.grid-wrap { overflow: auto; max-height: 70vh; border: 1px solid #ddd; }
table.grid { border-collapse: collapse; font-size: 12px; }
table.grid th { position: sticky; top: 0; background: #fafafa; z-index: 1; padding: 4px 6px;
  border-bottom: 2px solid #ccc; font-weight: 600; }
table.grid th.op, table.grid td.op { position: sticky; left: 0; background: #fff; text-align: left;
  font-family: ui-monospace, Menlo, Consolas, monospace; padding: 2px 10px 2px 6px; border-right: 1px solid #ddd; }
table.grid th.op { z-index: 2; background: #fafafa; }
table.grid td.c { min-width: 58px; text-align: center; padding: 2px 4px; border: 1px solid #fff; font-weight: 600; }
table.grid td.c a { color: inherit; text-decoration: underline; }
table.grid tr:hover td.op { background: #fffde7; }
.card { border: 1px solid #e0e0e0; border-left: 6px solid #e53935; border-radius: 4px; padding: 10px 14px;
  margin: 12px 0; background: #fff; }
.card .msg { white-space: pre-wrap; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px;
  background: #fff3f3; padding: 6px 8px; border-radius: 3px; margin: 6px 0; }
.card table.nums { border-collapse: collapse; margin: 6px 0; font-size: 13px; }
.card table.nums th { text-align: left; color: #555; font-weight: 500; padding: 1px 14px 1px 0; }
.card table.nums td { font-family: ui-monospace, Menlo, Consolas, monospace; }
pre.repro { background: #263238; color: #eceff1; padding: 10px 12px; border-radius: 4px; overflow: auto;
  font-size: 12px; margin: 4px 0; }
.tag { font-size: 11px; padding: 1px 6px; border-radius: 3px; margin-left: 6px; vertical-align: middle; }
.notes li { color: #6d4c41; }
details summary { cursor: pointer; color: #555; }
"""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _binding(r: Result) -> str:
    return ", ".join(f"{k}={v}" for k, v in r.binding.items()) or "no type variables"


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.4g}"


def _swatch(verdict: str, text: str | None = None) -> str:
    bg, fg, label = COLOURS[verdict]
    return f'<span class="sw" style="background:{bg};color:{fg}">{_e(text if text is not None else label)}</span>'


def render_html(reports: Report | Sequence[Report], title: str = "opcore conformance") -> str:
    """One HTML page for one or more reports (a section per backend)."""
    reps = [reports] if isinstance(reports, Report) else list(reports)
    names = ", ".join(r.backend for r in reps)
    body = "\n".join(_section(r, i) for i, r in enumerate(reps))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}: {_e(names)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"{body}\n</body>\n</html>\n"
    )


def _section(report: Report, index: int) -> str:
    status = (
        '<span class="status ok">PASSED</span>'
        if report.ok
        else (f'<span class="status bad">FAILED: {len(report.failed)}</span>')
    )
    parts = [f'<section id="backend-{index}">', f"<h1>opcore conformance: {_e(report.backend)} {status}</h1>"]
    caps = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in report.capabilities.items())
    meta = [
        f"{report.provider} {report.provider_version}".strip() or "unknown provider",
        "devices: " + (", ".join(report.devices) or "?"),
        f"capabilities: {caps or '?'}",
        f"claims from its {report.claims_source}",
        f"opcore {report.opcore_version}",
        f"{len(report.results)} items in {report.seconds:.1f}s",
    ]
    if report.created:
        meta.append(report.created)
    parts.append('<div class="meta">' + " · ".join(_e(m) for m in meta) + "</div>")
    counts = report.counts()
    badges = []
    for v in VERDICTS:
        if counts.get(v):
            bg, fg, _ = COLOURS[v]
            badges.append(f'<span class="badge" style="background:{bg};color:{fg}"><b>{counts[v]}</b>{_e(v)}</span>')
    parts.append('<div class="counts">' + "".join(badges) + "</div>")
    if report.notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in report.notes) + "</ul>")
    parts.append(
        '<div class="legend">'
        + "".join(f"<div>{_swatch(v)}{_e(v)}: {_e(_DESCRIPTIONS[v])}</div>" for v in VERDICTS)
        + "</div>"
    )
    failures = [r for r in report.results if r.verdict in FAILING or r.verdict == "xfail"]
    anchors = {id(r): f"b{index}-f{n}" for n, r in enumerate(failures)}
    parts.append(_grid(report, anchors))
    if failures:
        parts.append(f"<h2>Failures and expected failures ({len(failures)})</h2>")
        parts.extend(_card(r, anchors[id(r)]) for r in failures)
    parts.append("</section>")
    return "\n".join(parts)


def _grid(report: Report, anchors: dict[int, str]) -> str:
    cols, cells = report.grid()
    head = '<tr><th class="op">op</th>' + "".join(f"<th>{_e(c)}</th>" for c in cols) + "</tr>"
    rows = [head]
    for op, row in cells.items():
        tds = [f'<td class="op">{_e(op)}</td>']
        for c in cols:
            results = row.get(c)
            if not results:
                tds.append('<td class="c"></td>')
                continue
            verdict = worst(results)
            bg, fg, label = COLOURS[verdict]
            tip = "\n".join(f"{_binding(r)}: {r.verdict}" + (f" ({r.message})" if r.message else "") for r in results)
            text = _e(label) + (f" <small>&times;{len(results)}</small>" if len(results) > 1 else "")
            target = next((anchors[id(r)] for r in results if id(r) in anchors), None)
            if target is not None:
                text = f'<a href="#{target}">{text}</a>'
            tds.append(f'<td class="c" style="background:{bg};color:{fg}" title="{_e(tip[:1500])}">{text}</td>')
        rows.append("<tr>" + "".join(tds) + "</tr>")
    return '<div class="grid-wrap"><table class="grid">' + "\n".join(rows) + "</table></div>"


def _card(r: Result, anchor: str) -> str:
    bg, _, _ = COLOURS[r.verdict]
    out = [f'<div class="card" id="{anchor}" style="border-left-color:{bg}">']
    out.append(
        f"<h3>{_e(r.op)} <small>[{_e(_binding(r))}]</small>{_tag(r.verdict)}"
        + (f'<span class="tag" style="background:#eee">check: {_e(r.check)}</span>' if r.check else "")
        + "</h3>"
    )
    if r.xfail_reason:
        out.append(f"<div><b>expected to fail:</b> {_e(r.xfail_reason)}</div>")
    if r.message:
        out.append(f'<div class="msg">{_e(r.message)}</div>')
    if r.verdict not in ("no-spec", "xpass"):
        rows = [
            ("largest absolute error", _num(r.max_abs_error) if r.max_abs_error is not None else ""),
            ("largest relative error", _num(r.max_rel_error) if r.max_rel_error is not None else ""),
            ("tolerance", r.tolerance),
            ("input shapes", r.shapes or "—"),
        ]
        out.append(
            '<table class="nums">'
            + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows if v)
            + "</table>"
        )
    if r.repro:
        out.append("<div><b>Reproduce with:</b></div>")
        out.append(f'<pre class="repro"><code>{_e(r.repro)}</code></pre>')
    if r.traceback and r.traceback != r.repro:
        out.append(f'<details><summary>traceback</summary><pre class="repro">{_e(r.traceback)}</pre></details>')
    out.append("</div>")
    return "\n".join(out)


def _tag(verdict: str) -> str:
    bg, fg, _ = COLOURS[verdict]
    return f'<span class="tag" style="background:{bg};color:{fg}">{_e(verdict)}</span>'
