#!/bin/bash
# One firing step (bursts of up to 64, the balanced thresholds x 0.35, chosen on train images: one-step.txt,
# rounding-spread.txt) on the 128 COCO val photos, which no choice here has seen: agreement with the ANN and events
# (snn_agreement.py), the rounded ANN's agreement over 4 realizations of its rounding at the same cap and at twice
# it (rounding_spread.py), and mAP@0.5 against the labels (brainyolo evaluate).
#   bash analysis/fast-and-frugal/one-step-val.sh [OUT_DIR] [MODEL.h5]      (default runs/tune-16, OUT_DIR/y3.h5)
set -euo pipefail
cd "$(dirname "$0")/../.."
source analysis/fast-and-frugal/study-16.sh "$@"
source analysis/fast-and-frugal/one-step-files.sh
images=$(ls $val/images/*.jpg)
{
    echo "## val 128, one firing step, bursts of up to 64, x 0.35"
    $py $here/snn_agreement.py "$model" 16 16 "$c/late-q1-burst64.toml" "$c/x0.35.toml" $images
    echo "## val 128, the rounded ANN, at most 4 and 8 spikes a step, x 0.35, 4 realizations of the rounding"
    $py $here/rounding_spread.py "$model" 16 4 0.35 4 $images
    $py $here/rounding_spread.py "$model" 16 8 0.35 4 $images
    echo "## val 128, one firing step, bursts of up to 64, x 0.35: mAP@0.5 against the labels (metrics.json)"
    rm -rf "$c/val-eval"
    $by evaluate "$model" --images $val/images --labels $val/labels --mode snn --steps 16 --schedule same-step \
        --neuron "$c/late-q1-burst64.toml" --params "$c/x0.35.toml" -o "$c/val-eval" -q
    $py -c "import json, sys; m = json.load(open(sys.argv[1])); a, s = m['ann']['mAP50'], m['snn']['16']['mAP50']
print(f'ANN mAP@0.5 {a:.4f}, one firing step {s:.4f} ({100 * s / a:.1f} % of the ANN)')" "$c/val-eval/metrics.json"
} 2>&1 | grep -v WARNING | sed "s|$out/||g" | tee "$here/one-step-val.txt"
