"""The ``opcore`` command: backends, ops and the conformance suite."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from opcore.backend import available_backends
from opcore.plugins import ensure_loaded, plugins
from opcore.registry import get_registry

__all__ = ["main"]


def _cmd_backends(args: argparse.Namespace) -> int:
    infos = available_backends()
    print("backends:")
    for b in infos:
        status = "available" if b.available else f"unavailable: {b.reason}"
        print(f"  {b.name:<10} {status}  (from {b.provider})")
        if b.available:
            caps = ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in b.capabilities.items())
            print(f"  {'':<10} devices: {', '.join(b.devices)}; {caps}")
    print("plugins:")
    for p in plugins():
        version = f" {p.version}" if p.version else ""
        print(f"  {p.name:<10} {p.status:<12} {p.distribution}{version}")
        if p.status == "quarantined":
            print(f"  {'':<10} error: {p.error}")
            if args.verbose:
                print("".join("      " + line + "\n" for line in p.traceback.splitlines()))
    return 0


def _op_rows(backend: str | None) -> list[dict[str, Any]]:
    reg = get_registry()
    rows = []
    for name in sorted(reg.ops):
        op = reg.ops[name]
        kernels: dict[str, list[str]] = {}
        for b in sorted(reg.backends):
            if backend and b != backend:
                continue
            if op.composite is not None:
                kernels[b] = ["composite"]
                continue
            ks = reg.kernels_for(name, b)
            kernels[b] = sorted({",".join(d.name for d in k.types) or "-" for k in ks})
        rows.append(
            {"op": name, "version": op.version, "provider": op.provider, "signature": op.signature, "kernels": kernels}
        )
    return rows


def _cmd_ops(args: argparse.Namespace) -> int:
    ensure_loaded()
    rows = _op_rows(args.backend)
    if args.format == "json":
        print(json.dumps(rows, indent=1))
        return 0
    if args.format == "markdown":
        backends = sorted({b for r in rows for b in r["kernels"]})
        print("| op | provider | " + " | ".join(backends) + " |")
        print("|---|---|" + "---|" * len(backends))
        for r in rows:
            print(
                f"| `{r['op']}` | {r['provider']} | "
                + " | ".join(", ".join(r["kernels"].get(b, [])) or "—" for b in backends)
                + " |"
            )
        return 0
    for r in rows:
        print(r["signature"])
        for b, ks in r["kernels"].items():
            print(f"    {b}: {', '.join(ks) if ks else 'no kernels'}")
    return 0


def _cmd_conformance(args: argparse.Namespace) -> int:
    try:
        from opcore_conformance.cli import execute
    except ImportError:
        print("the conformance suite is not installed: pip install opcore-conformance", file=sys.stderr)
        return 2
    return int(execute(args))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="opcore", description="opcore: ops, backends and conformance.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("backends", help="installed backends and plugins, with availability and errors")
    p.add_argument("-v", "--verbose", action="store_true", help="show quarantined plugins' tracebacks")
    p.set_defaults(func=_cmd_backends)
    p = sub.add_parser("ops", help="ops and the backends/dtypes that have kernels for them")
    p.add_argument("--backend", default=None)
    p.add_argument("--format", choices=["table", "json", "markdown"], default="table")
    p.set_defaults(func=_cmd_ops)
    p = sub.add_parser("conformance", help="run the conformance suite against a backend")
    try:
        from opcore_conformance.cli import add_arguments
    except ImportError:
        p.add_argument("rest", nargs=argparse.REMAINDER)
    else:
        add_arguments(p)
    p.set_defaults(func=_cmd_conformance)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
