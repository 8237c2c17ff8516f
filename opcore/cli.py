"""The ``opcore`` command: backends, ops and the conformance suite."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from opcore.backend import available_backends
from opcore.plugins import PluginRecord, ensure_loaded, list_plugins
from opcore.registry import get_registry

__all__ = ["main"]


def _backend_rows() -> list[dict[str, Any]]:
    reg = get_registry()
    versions = {p.distribution: p.version for p in list_plugins()}
    rows = []
    for b in available_backends():
        claimed = reg.claimed(b.name)
        rows.append(
            {
                "name": b.name,
                "available": b.available,
                "reason": b.reason,
                "distribution": b.provider,
                "version": versions.get(b.provider, ""),
                "devices": b.devices,
                "capabilities": b.capabilities,
                "ops_with_kernels": len(claimed),
                "kernels": sum(len(v) for v in claimed.values()),
                "overrides": [o.describe() for o in reg.overrides if o.backend == b.name],
            }
        )
    return rows


def _cmd_backends(args: argparse.Namespace) -> int:
    rows = _backend_rows()
    records = list_plugins()
    if args.format == "json":
        out = {"backends": rows, "plugins": [asdict(p) if args.verbose else _plugin_dict(p) for p in records]}
        print(json.dumps(out, indent=1))
        return 0
    print("backends:")
    if not rows:
        print("  none installed: pip install opcore-numpy (or another backend plugin)")
    for r in rows:
        status = "available" if r["available"] else f"unavailable: {r['reason']}"
        print(f"  {r['name']:<10} {status}  (from {r['distribution']} {r['version']})".rstrip())
        if r["available"]:
            caps = ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in r["capabilities"].items())
            print(f"  {'':<10} devices: {', '.join(r['devices'])}; {caps}")
        print(f"  {'':<10} kernels: {r['kernels']} for {r['ops_with_kernels']} ops")
        for o in r["overrides"]:
            print(f"  {'':<10} override: {o}")
    print("plugins:")
    for p in records:
        version = f" {p.version}" if p.version else ""
        print(f"  {p.name:<10} {p.status:<12} {p.distribution}{version}")
        if p.status == "quarantined":
            print(f"  {'':<10} error: {p.error}")
            if args.verbose:
                print("".join("      " + line + "\n" for line in p.traceback.splitlines()))
    quarantined = sum(p.status == "quarantined" for p in records)
    if quarantined and not args.verbose:
        print(f"{quarantined} plugin(s) quarantined: `opcore backends -v` shows their tracebacks")
    return 0


def _plugin_dict(p: PluginRecord) -> dict[str, str]:
    return {"name": p.name, "distribution": p.distribution, "version": p.version, "status": p.status, "error": p.error}


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
            # One entry per dtype binding; several type variables read "float32/int64" in their declared order.
            ks = reg.kernels_for(name, b)
            kernels[b] = sorted({"/".join(d.name for d in k.types) or "-" for k in ks})
        overrides = [
            {
                "backend": o.backend,
                "dtypes": "/".join(d.name for d in o.types) or "-",
                "provider": o.provider,
                "replaced": o.replaced,
            }
            for o in reg.overrides
            if o.op == name and (not backend or o.backend == backend)
        ]
        rows.append(
            {
                "op": name,
                "version": op.version,
                "provider": op.provider,
                "signature": op.signature,
                "type_vars": list(op.type_vars),
                "kernels": kernels,
                "overrides": overrides,
            }
        )
    return rows


def _cmd_ops(args: argparse.Namespace) -> int:
    ensure_loaded()
    installed = get_registry().backends
    if args.backend and args.backend not in installed:
        print(
            f"opcore ops: no backend named {args.backend!r}; installed: {', '.join(sorted(installed)) or 'none'}",
            file=sys.stderr,
        )
        return 2
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
        for o in r["overrides"]:
            print(f"    override on {o['backend']} [{o['dtypes']}]: {o['provider']} replaced {o['replaced']}")
    return 0


def _cmd_conformance(args: argparse.Namespace) -> int:
    try:
        from opcore_conformance.cli import execute
    except ImportError:
        print("the conformance suite is not installed: pip install opcore-conformance", file=sys.stderr)
        return 2
    return int(execute(args))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="opcore",
        description="opcore: ops, backends and conformance.",
        epilog="Run `opcore COMMAND --help` for a command's options.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "backends",
        help="installed backends and plugins, with availability and errors",
        description="Every installed backend: its distribution and version, whether it is available here (and "
        "why not), its devices, capabilities and kernel count; then every plugin, quarantined ones with their error.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="show quarantined plugins' tracebacks")
    p.add_argument("--format", choices=["table", "json"], default="table", help="output format (default: table)")
    p.set_defaults(func=_cmd_backends)
    p = sub.add_parser(
        "ops",
        help="ops and the backends/dtypes that have kernels for them",
        description="Every registered op with its signature and, per backend, the dtypes it has kernels for "
        "('composite' for ops built from other ops).",
    )
    p.add_argument("--backend", default=None, metavar="NAME", help="only this backend's kernels")
    p.add_argument("--format", choices=["table", "json", "markdown"], default="table", help="output format")
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
    try:
        status = int(args.func(args))
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        # The reader went away (`opcore ops | head`): stop quietly, as Unix tools do.
        _silence_stdout()
        return 0


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot raise again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
