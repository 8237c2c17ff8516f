"""Data-parallel training on two MPI ranks: each test launches ``mpiexec -n 2`` on tests/mpi_scenarios.py.

They need the ``opcore[mpi]`` extra (mpi4py and an MPI with its ``mpiexec``),
which ``scripts/setup.sh`` installs; each launch has a bounded timeout, so a
hang fails the test instead of stalling the suite.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "tests" / "mpi_scenarios.py"


def _mpiexec() -> str | None:
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.exists():
        return str(beside)
    return shutil.which("mpiexec")


MPIEXEC = _mpiexec()
pytestmark = pytest.mark.skipif(
    MPIEXEC is None or importlib.util.find_spec("mpi4py") is None,
    reason="needs the opcore[mpi] extra (mpi4py and mpiexec): pip install -e '.[mpi]'",
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"  # two ranks share the cores: one BLAS thread each
    env.pop("OPCORE_DISTRIBUTED_TIMEOUT", None)
    return env


def _launch(*args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess[str], float]:
    assert MPIEXEC is not None
    cmd = [MPIEXEC, "-n", "2", sys.executable, *args]
    start = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=timeout, cwd=ROOT)
    return out, time.monotonic() - start


def _passed(out: subprocess.CompletedProcess[str]) -> set[tuple[int, str]]:
    """Every rank's passed checks, from rank 0's one-line summary (the ranks' own lines may interleave)."""
    summary = re.search(r"PASSED (\{[^\n]*\})", out.stdout)
    everyone = json.loads(summary.group(1)) if summary else {}
    return {(int(r), check) for r, checks in everyone.items() for check in checks}


def test_two_ranks_with_half_batches_train_like_one_process_with_the_whole_batch() -> None:
    out, _ = _launch(str(SCENARIOS), "training")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-6000:]
    checks = ["graph broadcast", "graph equivalence", "eager broadcast", "eager equivalence",
              "eager tape equivalence", "keras equivalence"]  # fmt: skip
    assert {(r, c) for r in (0, 1) for c in checks} <= _passed(out), out.stdout


def test_collectives_on_every_dtype_fused_in_graphs_and_through_device_staging() -> None:
    out, _ = _launch(str(SCENARIOS), "collectives")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-6000:]
    checks = ["allreduce every dtype and op", "fused grouped_allreduce", "allgather and broadcast", "gradients",
              "graph collectives", "mismatch"]  # fmt: skip
    assert {(r, c) for r in (0, 1) for c in checks} <= _passed(out), out.stdout


def test_a_rank_that_raises_mid_training_ends_the_job_naming_the_rank() -> None:
    out, elapsed = _launch(str(SCENARIOS), "raise", timeout=60)
    assert out.returncode != 0
    assert "rank 1 of 2 failed (ValueError: rank 1 failed on purpose at step 5)" in out.stderr, out.stderr[-3000:]
    assert "DONE" not in out.stdout
    assert elapsed < 30, f"the job took {elapsed:.1f} s to end after rank 1 failed"


def test_a_rank_left_waiting_in_a_collective_times_out_with_a_clear_message() -> None:
    out, elapsed = _launch(str(SCENARIOS), "timeout", timeout=60)
    assert out.returncode != 0
    assert "CollectiveTimeoutError: rank 0 of 2: allreduce" in out.stderr, out.stderr[-3000:]
    assert "did not complete within 2 s" in out.stderr
    # Rank 1 sleeps 30 s without joining: only rank 0's timeout (2 s) and the abort can end the job sooner.
    assert elapsed < 20, f"the job took {elapsed:.1f} s"


def test_mnist_mlp_example_runs_on_two_ranks(tmp_path: Path) -> None:
    data = next(
        (
            c
            for c in (os.environ.get("OPCORE_DATA_DIR"), str(ROOT.parent / "shared" / "data"))
            if c and (Path(c) / "mnist" / "t10k-images-idx3-ubyte.gz").exists()
        ),
        None,
    )
    if data is None:
        pytest.skip("the MNIST files are not available (set OPCORE_DATA_DIR to a folder with mnist/)")
    out, _ = _launch(str(ROOT / "examples" / "mnist_mlp.py"), "--distributed", "--max-steps", "5", "--data-dir",
                     str(Path(data) / "mnist"), timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    # Only rank 0 prints: one result line, the last.
    assert sum(line.startswith("result:") for line in lines) == 1, out.stdout
    assert re.fullmatch(r"result: test_accuracy=[0-9.]+", lines[-1]), out.stdout
    assert "2 ranks" in out.stdout, out.stdout
