#!/bin/bash
# The default at 16 steps: `brainyolo evaluate MODEL --mode snn --steps 16` on the 128 COCO val images, MODEL being
# yolov3-tiny as `brainyolo convert` makes it by default (lambda and the balance of layers and channels from COCO
# train images 1-16). The default preset hands a run of 16 steps to short: the late neuron quiet for 7/8 of the run,
# then bursts of up to 64, settled in the last step, thresholds balanced per layer and channel x 0.4. Prints mAP@0.5
# and events (bias_table.py) and the agreement of the same run's detections with its ANN's (eval_agreement.py).
#   bash analysis/presets/short-default.sh [OUT_DIR]      (default runs/short-default)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/short-default}
source analysis/presets/default-model.sh
[ -f "$out/val16/metrics.json" ] || $by evaluate "$model" --images $val/images --labels $val/labels --mode snn \
    --steps 16 -o "$out/val16"
{
    echo "## COCO val 128, brainyolo evaluate --mode snn --steps 16 (the default preset, which runs short)"
    $py analysis/fast-and-frugal/bias_table.py "$out/val16"
    echo "## the same run's detections against its ANN's"
    $py analysis/presets/eval_agreement.py "$model" "$out/val16" $val/images
} 2>&1 | grep -v WARNING | tee analysis/presets/short-default.txt
