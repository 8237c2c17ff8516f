#!/usr/bin/env bash
# The CUDA backend's first-run checklist on a GPU machine, as one command (about 9 minutes at most).
#
# Expects python3 with CuPy, cuda-bindings, cuda-pathfinder, numpy, pluggy, safetensors, tqdm,
# hypothesis and pytest (and torch for the comparison) already installed; needs no
# package index. Logs and JSON go to $OUT (default build/gpu-check). Every step is bounded by
# `timeout` and a failing step does not stop the later ones; the summary lists each step's status.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=${OUT:-build/gpu-check}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"

step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2
  shift 2
  echo "== $name (at most ${limit}s)"
  local start=$SECONDS
  timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 15 "$OUT/$name.log"
  printf '%-22s rc=%-3s %4ss\n' "$name" "$rc" "$((SECONDS - start))" | tee -a "$SUMMARY"
}

step install 60 "$PY" -m pip install --no-deps --no-build-isolation --no-index \
  -e . -e backends/numpy -e backends/ckernels -e backends/cuda -e conformance
step nvidia-smi 10 nvidia-smi
step backends 30 "$PY" -m opcore.cli backends
step probe 60 "$PY" scripts/gpu_probe.py "$OUT/probe.json"
step cuda-tests 60 "$PY" -m pytest backends/cuda/tests -q -p no:cacheprovider -k "not resolve_against_the_package_index"
step conformance 120 env CUDA_LAUNCH_BLOCKING=1 "$PY" -m opcore.cli conformance --backend cuda --quiet \
  --json "$OUT/conformance-cuda.json" --markdown "$OUT/conformance-cuda.md"
step conformance-fp16 45 env CUDA_LAUNCH_BLOCKING=1 "$PY" -m opcore.cli conformance --backend cuda --quiet \
  --dtypes float16 --json "$OUT/conformance-cuda-float16.json"
for program in mnist_softmax mnist_mlp mnist_cnn; do
  step "course-$program" 20 "$PY" "examples/$program.py" --backend cuda --max-steps 20
done
step benchmark 90 "$PY" benchmarks/cuda.py
echo "== summary (logs in $OUT)"
cat "$SUMMARY"
! grep -qv 'rc=0 ' "$SUMMARY"
