#!/bin/bash
# ms/step of the spiking yolov3-tiny at four precisions, one after the other (README, "Measured here").
# Needs ../shared; run it alone on the machine. 0.1.0 runs from a worktree of the commit before the
# fixed-point input (7c20104^) with this checkout's virtual environment.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd); old=$(mktemp -d /tmp/brainyolo-0.1.0-XXXX)
git worktree add -f "$old" 7c20104^ > /dev/null 2>&1; ln -sfn "$root/../shared" "$old/../shared" 2>/dev/null || true
bench="benchmark --only snn --threads 2 --snn-steps 100"
echo "== 0.2.0 fixed-point input, float32"; .venv/bin/brainyolo $bench --float32
echo "== 0.2.0 fixed-point input, float64"; .venv/bin/brainyolo $bench
echo "== 0.1.0 float64 (float sums)"; (cd "$old" && PYTHONPATH="$old" "$root/.venv/bin/brainyolo" $bench)
echo "== 0.1.0 float32"; (cd "$old" && PYTHONPATH="$old" "$root/.venv/bin/brainyolo" $bench --float32)
git worktree remove --force "$old"
