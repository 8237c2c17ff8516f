"""Check a conformance JSON report: schema, and nothing failed or untested."""

from __future__ import annotations

import json
import sys

#: Verdicts that fail a run (see conformance/opcore_conformance/SCHEMA.md).
FAILING = {"failed", "claimed-but-failing", "xpass", "no-spec"}


def main(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        report = json.load(f)
    assert report["schema"] in (1, 2), report.get("schema")
    results = report["results"]
    bad = [r for r in results if r["verdict"] in FAILING]
    passed = sum(r["verdict"] == "passed" for r in results)
    ops = len({r["op"] for r in results})
    counts = {k: v for k, v in report["counts"].items() if v}
    print(f"{path}: backend {report['backend']}, {ops} ops, {passed} passed, {len(bad)} failing, counts {counts}")
    for r in bad[:20]:
        print(f"  {r['verdict']}: {r['op']} {r['binding']}: {r['message']}")
    return 1 if bad or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
