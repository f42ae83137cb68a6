#!/bin/bash
# What the synapse machinery (issue 16) costs the spiking yolov3-tiny (README, "Biological detail"):
# ms/step of the instant synapse before it (the commit before: 76bb9b5) and with it (delay ring,
# release branch), interleaved twice, and of the exponential synapse. float32, 2 threads, 100 steps,
# 2 train images x 2 runs each. Needs ../shared; run it alone on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd); old=$(mktemp -d /tmp/brainyolo-before-synapses-XXXX)
git worktree add -f "$old" 76bb9b5 > /dev/null 2>&1; ln -sfn "$root/../shared" "$old/../shared" 2>/dev/null || true
bench="benchmark --only snn --threads 2 --snn-steps 100 --float32"
for round in 1 2; do
  echo "== round $round: before the synapse files (76bb9b5), instant"
  (cd "$old" && BRAINYOLO_CACHE="$old/../bench-before-cache" PYTHONPATH="$old" "$root/.venv/bin/brainyolo" $bench)
  echo "== round $round: with them, instant"; .venv/bin/brainyolo $bench
done
echo "== with them, exponential (tau_syn 2 ms)"; .venv/bin/brainyolo $bench --synapse exponential
git worktree remove --force "$old"
