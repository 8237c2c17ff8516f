"""Compare two JSON reports: what regressed and what improved.

An item (op and dtype binding) *regresses* when it makes the new run fail but
did not make the old one fail (see ``FAILING``: failed, claimed-but-failing,
xpass, no-spec), including an item new in NEW that fails, or when it worked
(passed, passing-but-unclaimed) and no longer does (e.g. now not claimed,
unsupported or expected to fail). It *improves* in the opposite directions.
Other verdict changes are listed as "changed"; items in only one report as
"added"/"removed" (an added failing item is a regression).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from opcore_conformance.runner import FAILING, Report, Result

__all__ = ["Change", "Diff", "diff_reports", "format_diff"]

WORKS = frozenset({"passed", "passing-but-unclaimed"})


@dataclass
class Change:
    op: str
    binding: dict[str, str]
    old: str | None
    new: str | None
    message: str = ""

    @property
    def label(self) -> str:
        b = ", ".join(f"{k}={v}" for k, v in self.binding.items()) or "-"
        return f"{self.op}[{b}]"


@dataclass
class Diff:
    old_backend: str
    new_backend: str
    regressions: list[Change] = field(default_factory=list)
    improvements: list[Change] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    added: list[Change] = field(default_factory=list)
    removed: list[Change] = field(default_factory=list)


def _key(r: Result) -> tuple[str, tuple[tuple[str, str], ...]]:
    return r.op, tuple(sorted(r.binding.items()))


def diff_reports(old: Report, new: Report) -> Diff:
    """Classify every item whose verdict differs between ``old`` and ``new``."""
    d = Diff(old.backend, new.backend)
    before = {_key(r): r for r in old.results}
    after = {_key(r): r for r in new.results}
    for key, r in after.items():
        prev = before.get(key)
        if prev is None:
            c = Change(r.op, r.binding, None, r.verdict, r.message)
            (d.regressions if r.verdict in FAILING else d.added).append(c)
            continue
        if prev.verdict == r.verdict:
            continue
        c = Change(r.op, r.binding, prev.verdict, r.verdict, r.message)
        worse = (r.verdict in FAILING and prev.verdict not in FAILING) or (
            prev.verdict in WORKS and r.verdict not in WORKS
        )
        better = (prev.verdict in FAILING and r.verdict not in FAILING) or (
            r.verdict in WORKS and prev.verdict not in WORKS
        )
        if worse:
            d.regressions.append(c)
        elif better:
            d.improvements.append(c)
        else:
            d.changed.append(c)
    for key, r in before.items():
        if key not in after:
            d.removed.append(Change(r.op, r.binding, r.verdict, None))
    return d


def format_diff(d: Diff) -> str:
    """The diff as text, one line per item, regressions first."""
    lines = []
    if d.old_backend != d.new_backend:
        lines.append(f"note: comparing backend {d.old_backend!r} with backend {d.new_backend!r}")
    for title, changes in (
        ("regressed", d.regressions),
        ("improved", d.improvements),
        ("changed", d.changed),
        ("added", d.added),
        ("removed", d.removed),
    ):
        lines.append(f"{title}: {len(changes)}")
        for c in changes:
            first = c.message.strip().splitlines()[0] if c.message.strip() else ""
            tail = f"  ({first[:160]})" if first and title == "regressed" else ""
            lines.append(f"  {c.label}: {c.old or '(absent)'} -> {c.new or '(absent)'}{tail}")
    return "\n".join(lines)
