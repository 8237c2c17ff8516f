"""Check a conformance JSON report: schema, and nothing failed or untested."""

from __future__ import annotations

import json
import sys


def main(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        report = json.load(f)
    assert report["schema"] == 1, report.get("schema")
    results = report["results"]
    bad = [r for r in results if r["verdict"] in ("failed", "no-spec")]
    passed = sum(r["verdict"] == "passed" for r in results)
    ops = len({r["op"] for r in results})
    print(f"{path}: {ops} ops, {passed} passed, {len(bad)} failed, counts {report['counts']}")
    for r in bad[:20]:
        print(f"  {r['verdict']}: {r['op']} {r['binding']}: {r['message']}")
    return 1 if bad or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
