#!/usr/bin/env bash
# Every check: lint, format, types, the test suites and the conformance runs.
#
# Each phase starts with "== [m:ss] name", the time since the start; the long
# ones (the OpenCL conformance run, the NVRTC compile check) print a progress
# line every 30 seconds. The NVRTC check (single-threaded, about two minutes)
# runs in the background from the start, beside the other phases, and its
# output is shown at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
if [ -d ../shared/data ] && [ -z "${OPCORE_DATA_DIR:-}" ]; then
  OPCORE_DATA_DIR="$(cd ../shared/data && pwd)"
  export OPCORE_DATA_DIR
fi
START=$SECONDS
phase() { printf '== [%d:%02d] %s\n' $(((SECONDS - START) / 60)) $(((SECONDS - START) % 60)) "$*"; }
mkdir -p build

phase "CUDA backend without a GPU: NVRTC compiles every generated kernel for sm_80 and sm_90 (in the background;" \
  "its output comes at the end)"
.venv/bin/python -m opcore_cuda.nvrtc_check --progress-every 30 > build/nvrtc-check.log 2>&1 &
NVRTC_PID=$!
trap 'kill "$NVRTC_PID" 2>/dev/null || true' EXIT

phase "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
phase "mypy (strict, frontend)"
.venv/bin/mypy
phase "pytest"
.venv/bin/python -m pytest
phase "conformance: numpy"
.venv/bin/opcore conformance --backend numpy --quiet --progress-every 30 --json build/conformance-numpy.json \
  --html build/conformance-numpy.html --markdown build/conformance-numpy.md
.venv/bin/python scripts/check_report.py build/conformance-numpy.json
phase "conformance: opencl (the first OpenCL CPU device that builds: PoCL or Intel's runtime; compiles every kernel" \
  "the first time)"
.venv/bin/opcore conformance --backend opencl --quiet --progress-every 30 --json build/conformance-opencl.json \
  --html build/conformance-opencl.html
.venv/bin/python scripts/check_report.py build/conformance-opencl.json
phase "conformance: numexpr (example third-party backend, partial by design)"
.venv/bin/opcore conformance --backend numexpr --quiet --json build/conformance-numexpr.json
.venv/bin/python scripts/check_report.py build/conformance-numexpr.json

phase "NVRTC compile check (started in the background at 0:00)"
tail -n +1 -f --pid="$NVRTC_PID" build/nvrtc-check.log
NVRTC_STATUS=0
wait "$NVRTC_PID" || NVRTC_STATUS=$?
trap - EXIT
if [ "$NVRTC_STATUS" -ne 0 ]; then
  echo "NVRTC compile check failed (exit status $NVRTC_STATUS); full log: build/nvrtc-check.log"
  exit "$NVRTC_STATUS"
fi
phase "all checks passed"
