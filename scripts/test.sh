#!/usr/bin/env bash
# Every check: lint, format, types, the test suites and the NumPy conformance run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
if [ -d ../shared/data ] && [ -z "${OPCORE_DATA_DIR:-}" ]; then
  OPCORE_DATA_DIR="$(cd ../shared/data && pwd)"
  export OPCORE_DATA_DIR
fi
echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy (strict, frontend)"
.venv/bin/mypy
echo "== pytest"
.venv/bin/python -m pytest
echo "== conformance: numpy"
mkdir -p build
.venv/bin/opcore conformance --backend numpy --quiet --json build/conformance-numpy.json \
  --html build/conformance-numpy.html --markdown build/conformance-numpy.md
.venv/bin/python scripts/check_report.py build/conformance-numpy.json
echo "== conformance: opencl (the first OpenCL CPU device that builds: PoCL or Intel's runtime)"
.venv/bin/opcore conformance --backend opencl --quiet --json build/conformance-opencl.json \
  --html build/conformance-opencl.html
.venv/bin/python scripts/check_report.py build/conformance-opencl.json
echo "== CUDA backend without a GPU: NVRTC compiles every generated kernel for sm_80 and sm_90"
.venv/bin/python -m opcore_cuda.nvrtc_check
echo "== conformance: numexpr (example third-party backend, partial by design)"
.venv/bin/opcore conformance --backend numexpr --quiet --json build/conformance-numexpr.json
.venv/bin/python scripts/check_report.py build/conformance-numexpr.json
