"""A short run of scripts/fuzz_loaders.py: mutated files of every loader give only CheckpointError."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fuzz_loaders.py"
LOADERS = {"graph_json", "meta", "index", "data", "state", "checkpoint", "keras_architecture", "keras_weights"}


def test_fuzzed_files_of_every_loader_give_typed_errors_and_never_load_altered_values() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--per-loader",
            "150",
            "--seed",
            "0",
            "--max-memory-mb",
            "200",
            "--trace-memory",
            "32",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert set(summary["loaders"]) == LOADERS
    for name, tally in summary["loaders"].items():
        assert tally["inputs"] >= 125, (name, tally)  # Hypothesis may stop short of max_examples, not far
        assert tally["untyped_exceptions"] == 0, (name, tally)
        assert tally["silent_corruptions"] == 0, (name, tally)
        assert tally["checkpoint_errors"] > tally["inputs"] // 2, (name, tally)  # the mutations do damage
    assert summary["peak_rss_growth_mb"] <= 200
    assert all(t["max_traced_mb_per_input"] <= 32 for t in summary["loaders"].values())
