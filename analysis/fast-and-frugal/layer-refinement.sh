#!/bin/bash
# Which layer's rounding costs the agreement: the rounded ANN of the default-converted yolov3-tiny with the negative
# side on a grid twice as fine (thresholds x 0.5, at most 8 spikes a step, 16 steps), each hidden layer in turn exact (ratio 0)
# and then with its threshold x 0.6, a finer grid (ratio 0.6); 2 realizations, COCO train images 17-128.
# Writes layer-refinement.txt.
#   bash analysis/fast-and-frugal/layer-refinement.sh [OUT_DIR]   (default runs/short-default)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/short-default}
source analysis/presets/default-model.sh
here=analysis/fast-and-frugal
images=$(ls $train/images/*.jpg | sed -n 17,128p)
for ratio in 0 0.6; do
    $py $here/layer_refinement.py "$model" 16 8 0.5 0.5 $ratio 2 $images
done 2>&1 | grep --line-buffered -v WARNING | tee $here/layer-refinement.txt
