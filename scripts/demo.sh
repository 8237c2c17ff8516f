#!/usr/bin/env bash
# The main job: list the backends, then train the "learn to add" model eagerly.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
.venv/bin/opcore backends
.venv/bin/python examples/quickstart.py "$@"
echo
echo "More: the course programs in examples/ run with this environment, for instance"
echo "  .venv/bin/python examples/mnist_softmax.py --epochs 1     (the README lists them all)"
echo "or 'source .venv/bin/activate' to put python and opcore of .venv first on your PATH."
