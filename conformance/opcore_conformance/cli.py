"""Command line of the conformance suite (also reached as ``opcore conformance``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from opcore_conformance.runner import DEFAULT_EXAMPLES, run


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", required=True, help="backend to check, e.g. numpy")
    p.add_argument("--ops", default=None, help="comma-separated glob patterns of op names, e.g. 'Conv*,MatMul'")
    p.add_argument("--dtypes", nargs="*", default=None, help="only these dtypes, e.g. float32 float64")
    p.add_argument("--json", default=None, metavar="PATH", help="write the report as JSON")
    p.add_argument("--examples", type=int, default=DEFAULT_EXAMPLES, help="Hypothesis-drawn cases per op and dtype")
    p.add_argument("--quiet", action="store_true", help="print only the summary")


def execute(args: argparse.Namespace) -> int:
    def progress(item: object, result: object) -> None:
        if not args.quiet:
            mark = {"passed": ".", "failed": "F", "unsupported": "u", "not-claimed": "-", "no-spec": "?"}
            sys.stderr.write(mark.get(getattr(result, "verdict", ""), "?"))
            sys.stderr.flush()

    report = run(args.backend, args.ops, args.dtypes, args.examples, progress)
    if not args.quiet:
        sys.stderr.write("\n")
    text = report.table()
    print(text if not args.quiet else text.split("\n\n", 1)[-1])
    if args.json:
        report.write_json(args.json)
    return 1 if report.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="opcore conformance", description="Check a backend against the op registry.")
    add_arguments(p)
    return execute(p.parse_args(argv))
