"""Command line of the conformance suite (also reached as ``opcore conformance``).

Exit status: 0 when nothing failed (no failed, claimed-but-failing, xpass or
no-spec item), 1 when something did (or, with ``--diff``, when something
regressed), 2 for a usage error (unknown or unavailable backend, bad xfail file).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence

from opcore_conformance.runner import DEFAULT_EXAMPLES, FAILING, Item, Report, Result, plan, run_plan, xfail_notes

EPILOG = """\
examples:
  opcore conformance --backend numpy --html report.html
  opcore conformance --backend opencl --ops 'Conv*,MatMul' --dtypes float32 --json opencl.json
  opcore conformance --backend opencl --xfail-file opencl-xfail.txt --markdown "$GITHUB_STEP_SUMMARY"
  opcore conformance --diff old.json new.json

The xfail file has one 'op dtype reason' line per expected failure (fnmatch
patterns allowed, '#' starts a comment line). An expected failure that passes
(XPASS) fails the run, so stale entries are noticed. The JSON report's schema
is documented in SCHEMA.md in the opcore_conformance package.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = "Check a backend against the op registry and report an op x dtype matrix."
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--backend", default=None, help="backend to check, e.g. numpy (required unless --diff)")
    p.add_argument("--ops", default=None, help="comma-separated glob patterns of op names, e.g. 'Conv*,MatMul'")
    p.add_argument(
        "--dtypes", nargs="+", default=None, metavar="DTYPE", help="only these dtypes, e.g. float32 float64 (or a,b)"
    )
    p.add_argument("--xfail-file", default=None, metavar="PATH", help="expected failures: 'op dtype reason' lines")
    p.add_argument("--json", default=None, metavar="PATH", help="write the report as JSON (schema in SCHEMA.md)")
    p.add_argument("--html", default=None, metavar="PATH", help="write a self-contained HTML report")
    p.add_argument("--markdown", default=None, metavar="PATH", help="write a Markdown summary (e.g. for CI)")
    p.add_argument("--examples", type=int, default=DEFAULT_EXAMPLES, help="Hypothesis-drawn cases per op and dtype")
    p.add_argument("--quiet", action="store_true", help="no progress bar; print only the summary")
    p.add_argument(
        "--progress-every",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="print a progress line to stderr at most every SECONDS (for logs and CI; works with --quiet)",
    )
    p.add_argument(
        "--diff",
        nargs=2,
        default=None,
        metavar=("OLD", "NEW"),
        help="compare two JSON reports instead of running; exit 1 when something regressed",
    )


def execute(args: argparse.Namespace) -> int:
    if args.diff:
        return _diff(*args.diff)
    if not args.backend:
        print("opcore conformance: --backend NAME is required (or --diff OLD NEW)", file=sys.stderr)
        return 2
    import opcore
    from opcore_conformance.xfail import XfailFileError, load_xfail

    try:
        xfail = load_xfail(args.xfail_file) if args.xfail_file else []
        opcore.get_backend(args.backend)  # unknown or unavailable: say so now, not once per item
    except (XfailFileError, opcore.OpcoreError) as exc:
        print(f"opcore conformance: {exc}", file=sys.stderr)
        return 2
    dtypes = [d.strip() for arg in args.dtypes for d in arg.split(",") if d.strip()] if args.dtypes else None
    items = plan(args.backend, args.ops, dtypes, xfail)
    if args.progress_every < 0:
        print("opcore conformance: --progress-every must be >= 0 seconds", file=sys.stderr)
        return 2
    report = _run_with_progress(args.backend, items, args.examples, args.quiet, args.progress_every)
    report.options = {"ops": args.ops, "dtypes": dtypes, "examples": args.examples, "xfail_file": args.xfail_file}
    report.notes.extend(xfail_notes(xfail, items))
    _write_outputs(report, args)  # before printing: a reader that stops early must not lose the files
    status = 1 if report.failed else 0
    text = report.table()
    try:
        print(text if not args.quiet else text.split("\n\n", 1)[-1])
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, keeping the run's exit status.
        _silence_stdout()
    return status


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot raise again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _run_with_progress(backend: str, items: list[Item], examples: int, quiet: bool, every: float = 0.0) -> Report:
    show = not quiet and sys.stderr.isatty()
    if every > 0:
        return run_plan(backend, items, examples, _progress_lines(backend, len(items), every))
    if not show:
        return run_plan(backend, items, examples)
    from tqdm import tqdm

    failing = 0
    with tqdm(total=len(items), desc=f"conformance {backend}", unit="item", file=sys.stderr, leave=False) as bar:

        def progress(item: Item, result: Result) -> None:
            nonlocal failing
            failing += result.verdict in FAILING
            bar.set_postfix_str(f"{item.op} · {failing} failing", refresh=False)
            bar.update(1)

        return run_plan(backend, items, examples, progress)


def _progress_lines(backend: str, total: int, every: float) -> Callable[[Item, Result], None]:
    """A progress callback printing one plain line at most every ``every`` seconds (and at the end)."""
    start = time.monotonic()
    last = start
    done = failing = 0

    def progress(item: Item, result: Result) -> None:
        nonlocal last, done, failing
        done += 1
        failing += result.verdict in FAILING
        now = time.monotonic()
        if now - last >= every or done == total:
            last = now
            print(
                f"conformance {backend}: {done}/{total} items ({100 * done // max(total, 1)}%) in {now - start:.0f}s, "
                f"{failing} failing; last: {item.op} {'/'.join(item.binding.values())}",
                file=sys.stderr,
                flush=True,
            )

    return progress


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _write_outputs(report: Report, args: argparse.Namespace) -> None:
    if args.json:
        report.write_json(args.json)
    if args.markdown:
        from opcore_conformance.report_markdown import render_markdown

        _write(args.markdown, render_markdown(report))
    if args.html:
        from opcore_conformance.report_html import render_html

        _write(args.html, render_html(report))


def _diff(old_path: str, new_path: str) -> int:
    from opcore_conformance.diff import diff_reports, format_diff

    try:
        old, new = Report.read_json(old_path), Report.read_json(new_path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"opcore conformance --diff: cannot read the reports: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    d = diff_reports(old, new)
    print(format_diff(d))
    return 1 if d.regressions else 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="opcore conformance")
    add_arguments(p)
    return execute(p.parse_args(argv))
