#!/bin/bash
# Issue 14 (README, "Directly trained SNN"): on the same fresh generated scenes, the embedded ANN, its
# converted SNN (delayed and same-step schedules) at 4 / 16 / 64 / 300 steps, and the directly trained SNN
# at T = 1 / 2 / 4 / 8 (one 8-step run read at each checkpoint: the network is causal, so reading at step t
# is running it for T = t): mAP@0.5, mAP, synaptic events and int32 / float32 energy per image.
#   bash analysis/direct-training/direct-vs-converted.sh [OUT_DIR] [COUNT] [SEED]      (default runs/direct-vs-converted 64 4242)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/direct-vs-converted}; count=${2:-64}; seed=${3:-4242}
by=.venv/bin/brainyolo
[ -d "$out/scenes/images" ] || $by scenes --count "$count" --seed "$seed" -o "$out/scenes"
scenes="--images $out/scenes/images --labels $out/scenes/labels"
$by evaluate embedded $scenes --mode snn --steps 300 --checkpoints 4,16,64,300 -q -o "$out/converted-delayed"
$by evaluate embedded $scenes --mode snn --steps 300 --checkpoints 4,16,64,300 --schedule same-step -q \
    -o "$out/converted-same-step"
$by evaluate embedded-direct $scenes --mode snn --steps 8 --checkpoints 1,2,4,8 -q -o "$out/direct"
.venv/bin/python analysis/direct-training/direct_table.py "$out"
