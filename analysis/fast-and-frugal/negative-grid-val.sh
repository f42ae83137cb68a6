#!/bin/bash
# negative-grid.sh's choice checked on COCO val 128 (never used to choose): the rounded ANN of the default-converted
# yolov3-tiny at 16 steps, at most 8 spikes a step, 3 realizations, the negative side as the spiking network rounds
# it now (M = 1, x 0.4: the default's factor) and on a grid twice as fine as the positive side's (M = 0.5, x 0.5).
#   bash analysis/fast-and-frugal/negative-grid-val.sh [OUT_DIR]      (default runs/short-default)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/short-default}
source analysis/presets/default-model.sh
here=analysis/fast-and-frugal
{
    echo "## val images 1-128, the rounded ANN, 16 steps, at most 8 spikes a step, 3 realizations"
    $py $here/negative_grid.py "$model" 16 8 1:0.4,0.5:0.5 3 $(ls $val/images/*.jpg)
} 2>&1 | grep --line-buffered -v WARNING | tee "$here/negative-grid-val.txt"
