#!/usr/bin/env bash
# Create .venv (if needed) and install opcore (with the extras the tests use, MPI and
# TensorBoard included), its backends, the conformance suite and the example plugins
# in editable mode.
#
# The installs are editable, so code changes need no reinstall: they run again
# only when what they are made from changes (this script, any pyproject.toml,
# the Python version), recorded as a hash in .venv/.opcore-setup. Set
# OPCORE_SETUP_FORCE=1 to reinstall anyway.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
STAMP=.venv/.opcore-setup

inputs_hash() {
  {
    cat scripts/setup.sh
    find . \( -name .venv -o -name .git -o -name build -o -name node_modules \) -prune -o \
      -name pyproject.toml -print | LC_ALL=C sort | while read -r f; do echo "$f"; cat "$f"; done
    .venv/bin/python -c 'import sys; print(sys.version)'
  } | sha256sum | cut -d' ' -f1
}

if [ -x .venv/bin/python ] && [ -z "${OPCORE_SETUP_FORCE:-}" ] && [ -f "$STAMP" ] \
  && [ "$(cat "$STAMP")" = "$(inputs_hash)" ]; then
  echo "setup: .venv is up to date (OPCORE_SETUP_FORCE=1 reinstalls)"
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$PYTHON" --version)"
  "$PYTHON" -m venv .venv
fi
rm -f "$STAMP"
export PIP_DISABLE_PIP_VERSION_CHECK=1
echo "setup: installing opcore, its backends, the conformance suite, the example plugins and the development"
echo "setup: tools into .venv (editable installs; a few minutes the first time, then skipped until a pyproject changes)"
.venv/bin/python -m pip install -qq --upgrade "pip>=23.2"
.venv/bin/python -m pip install -qq \
  -e ".[dev,examples,docs,mpi,tensorboard]" \
  -e backends/numpy \
  -e backends/ckernels \
  -e "backends/opencl[pocl,intel]" \
  -e "backends/cuda[nvrtc]" \
  -e "conformance[test]" \
  -e examples/plugins/numexpr \
  -e examples/plugins/zero_out
inputs_hash > "$STAMP.tmp" && mv "$STAMP.tmp" "$STAMP"
echo "setup: done in ${SECONDS}s. Use the environment with 'source .venv/bin/activate', or run .venv/bin/python"
