#!/bin/bash
# The signed neuron's negative side on a grid of its own: the default-converted yolov3-tiny of analysis/presets
# (lambda and the balance of layers and channels from COCO train images 1-16), its rounded ANN at 16 steps with at
# most 8 spikes a step (the default's two firing steps of bursts), the negative side rounded M times as coarse as the
# positive one (M = 1: as the spiking network is now), 3 realizations each.
#   train (default): COCO train images 17-128, first how the negative outputs sit on the grid (train 17-20), then the
#     agreement with the ANN's detections and the events at each M:FACTOR (negative-grid.txt);
#   val: the choice checked on COCO val 128, never used to choose: M = 1 at x 0.4 (the default's factor) and M = 0.5 at
#     x 0.5 (negative-grid-val.txt).
#   bash analysis/fast-and-frugal/negative-grid.sh [OUT_DIR] [train|val]      (default runs/short-default, train)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/short-default}
part=${2:-train}
source analysis/presets/default-model.sh
here=analysis/fast-and-frugal
if [ "$part" = val ]; then
    {
        echo "## val images 1-128, the rounded ANN, 16 steps, at most 8 spikes a step, 3 realizations"
        $py $here/negative_grid.py "$model" 16 8 1:0.4,0.5:0.5 3 $(ls $val/images/*.jpg)
    } 2>&1 | grep --line-buffered -v WARNING | tee "$here/negative-grid-val.txt"
    exit
fi
images=$(ls $train/images/*.jpg | sed -n 17,128p)
{
    echo "## train images 17-20, x 0.4: the negative outputs on the grid v_th / 16"
    $py $here/negative_grid.py --stats "$model" 16 0.4 $(ls $train/images/*.jpg | sed -n 17,20p)
    echo "## train images 17-128, the rounded ANN, 16 steps, at most 8 spikes a step, 3 realizations"
    $py $here/negative_grid.py "$model" 16 8 1:0.4,1:0.35,2:0.4,0.5:0.4,0.5:0.5,0.5:0.6 3 $images
} 2>&1 | grep --line-buffered -v WARNING | tee "$here/negative-grid.txt"
