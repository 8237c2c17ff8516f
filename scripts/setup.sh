#!/usr/bin/env bash
# Create .venv (if needed) and install opcore (with its TensorBoard extra), its
# NumPy backend, the conformance suite and the example plugins in editable mode.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/python -m pip install -q --upgrade "pip>=23.2"
.venv/bin/python -m pip install -q \
  -e ".[dev,examples,docs,tensorboard]" \
  -e backends/numpy \
  -e backends/ckernels \
  -e "backends/opencl[pocl,intel]" \
  -e "backends/cuda[nvrtc]" \
  -e "conformance[test]" \
  -e examples/plugins/numexpr \
  -e examples/plugins/zero_out
