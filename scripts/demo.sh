#!/usr/bin/env bash
# The main job: list the backends, then train the "learn to add" model eagerly.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
.venv/bin/opcore backends
.venv/bin/python examples/quickstart.py "$@"
