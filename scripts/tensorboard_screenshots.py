#!/usr/bin/env python3
"""Screenshots of the real TensorBoard showing a finished course run: its scalars, graph and histograms.

1. Runs a course program with ``--logdir`` (default ``examples/mnist_mlp.py``, one epoch), unless
   ``--logdir`` names a finished run already.
2. Starts ``tensorboard --logdir`` (the ``tensorboard`` package of this Python) on 127.0.0.1 at a free
   port and waits until it serves the run's scalars and graph.
3. Loads each dashboard in headless Chromium and saves a PNG: ``scalars.png``, ``graph.png``,
   ``histograms.png`` (and ``images.png`` when the run has images).

Chromium: ``$CHROMIUM``, else Debian's ``chromium`` (or ``chromium-browser``, ``google-chrome``) on
the PATH. When none is there and this runs as root with apt-get, it installs Debian's ``chromium``
package; otherwise it says what to install. Needs the extra ``opcore[tensorboard]`` and the MNIST files
(``$OPCORE_DATA_DIR/mnist`` or the cache).

    python scripts/tensorboard_screenshots.py [--out build/tensorboard] [--program mnist_mlp] [--logdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIEWS = {"scalars": "#scalars", "graph": "#graphs", "histograms": "#histograms", "images": "#images"}


def find_chromium(install: bool) -> str:
    env = os.environ.get("CHROMIUM")
    if env:
        if shutil.which(env) is None:
            sys.exit(f"$CHROMIUM is {env!r}, which is not an executable")
        return env
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    if install and shutil.which("apt-get") and os.geteuid() == 0:
        print("chromium not found: installing Debian's chromium package with apt-get", flush=True)
        env_apt = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env_apt, stdout=subprocess.DEVNULL)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "chromium"], check=True, env=env_apt, stdout=subprocess.DEVNULL
        )
        found = shutil.which("chromium")
        if found:
            return found
    sys.exit(
        "no Chromium found: install Debian's package (apt-get install chromium), or point $CHROMIUM at a "
        "Chromium or Chrome executable"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def wait_for_data(base: str, server: subprocess.Popen[bytes], timeout: float) -> dict[str, object]:
    """Poll the server until it lists runs with scalars and a graph (bounded by ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    last: dict[str, object] = {}
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"tensorboard exited with status {server.returncode}")
        try:
            scalars = get_json(f"{base}/data/plugin/scalars/tags")
            graphs = get_json(f"{base}/data/plugin/graphs/info")
            last = {"scalars": scalars, "graphs": graphs}
            if scalars and graphs:
                return last
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            pass
        time.sleep(0.5)
    sys.exit(f"tensorboard did not serve the run's scalars and graph within {timeout:.0f} s (last answer: {last})")


def screenshot(chromium: str, url: str, path: Path, budget_ms: int) -> None:
    with tempfile.TemporaryDirectory(prefix="opcore-chromium-") as profile:
        cmd = [
            chromium,
            "--headless=new",
            "--no-sandbox",  # root in a container has no user namespace for the sandbox
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--window-size=1600,1000",
            f"--virtual-time-budget={budget_ms}",
            f"--screenshot={path}",
            url,
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if out.returncode != 0 or not path.exists() or path.stat().st_size < 10_000:
        sys.exit(f"chromium failed on {url} (status {out.returncode}):\n{out.stderr[-2000:]}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "build" / "tensorboard"), help="folder for the PNGs and the run")
    p.add_argument("--program", default="mnist_mlp", help="course program in examples/ (default mnist_mlp)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--logdir", default=None, help="a finished run to show instead of running a program")
    p.add_argument("--no-install", action="store_true", help="never install chromium with apt-get")
    p.add_argument("--budget-ms", type=int, default=20000, help="virtual time each page gets to render")
    args = p.parse_args()

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    chromium = find_chromium(install=not args.no_install)
    if args.logdir is None:
        logdir = out / "logs" / args.program
        shutil.rmtree(logdir, ignore_errors=True)
        program = ROOT / "examples" / f"{args.program}.py"
        print(f"running {program.name} --epochs {args.epochs} --logdir {logdir}", flush=True)
        subprocess.run([sys.executable, str(program), "--epochs", str(args.epochs), "--logdir", str(logdir)],
                       check=True, cwd=out)  # fmt: skip
    else:
        logdir = Path(args.logdir).resolve()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", "127.0.0.1",
           "--port", str(port), "--reload_interval", "1"]  # fmt: skip
    log = open(out / "tensorboard.log", "wb")  # noqa: SIM115 (closed in finally)
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        served = wait_for_data(base, server, timeout=120)
        print(f"tensorboard at {base} serves scalars {json.dumps(served['scalars'])[:300]}", flush=True)
        runs = get_json(f"{base}/data/plugin/graphs/info")
        run = next(iter(runs)) if isinstance(runs, dict) and runs else "."
        query = urllib.parse.urlencode({"run": run, "conceptual": "false"})
        with urllib.request.urlopen(f"{base}/data/plugin/graphs/graph?{query}", timeout=30) as r:
            pbtxt = r.read().decode("utf-8", "replace")
        providers = sorted(set(re.findall(r'key: "provider"\s*value \{\s*s: "([^"]*)"', pbtxt)))
        print(f"its graph view gets {pbtxt.count('node {')} nodes of run {run!r}, providers {providers}", flush=True)
        has_images = bool(get_json(f"{base}/data/plugin/images/tags"))
        for view, fragment in VIEWS.items():
            if view == "images" and not has_images:
                continue
            path = out / f"{view}.png"
            screenshot(chromium, f"{base}/{fragment}", path, args.budget_ms)
            print(f"saved {path} ({path.stat().st_size} bytes)", flush=True)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


if __name__ == "__main__":
    main()
