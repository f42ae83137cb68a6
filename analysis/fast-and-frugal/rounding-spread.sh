#!/bin/bash
# Why one firing step agrees less than its rounded ANN at the same counts (one-step.txt: 0.932 against 0.957 on
# train images 17-128), in two measurements:
#  1. one_step_counts.py: one image (train image 17) through the spiking network with one firing step (bursts of up
#     to 64, x 0.35), every layer's net counts against the rounded ANN's, and against the layer computed from the
#     spiking network's own counts below it (what the layer itself does differently);
#  2. rounding_spread.py: the rounded ANN (at most 4 spikes a step) on train images 17-128, the images as they are
#     and 3 copies changed by a factor 1 + 1e-6 N(0, 1) per pixel, at x 0.45 / 0.4 / 0.35 / 0.3; and with at most 8
#     spikes a step (3 realizations) from x 0.35 to x 0.15, to see how far agreement goes with more events.
#   bash analysis/fast-and-frugal/rounding-spread.sh [OUT_DIR] [MODEL.h5]      (default runs/tune-16, OUT_DIR/y3.h5)
set -euo pipefail
cd "$(dirname "$0")/../.."
source analysis/fast-and-frugal/study-16.sh "$@"
source analysis/fast-and-frugal/one-step-files.sh
first=$(ls $train/images/*.jpg | sed -n 17p)
images=$(ls $train/images/*.jpg | sed -n 17,128p)
{
    echo "## train image 17 ($(basename $first)), one firing step, bursts of up to 64, x 0.35: net counts per layer"
    rm -rf "$c/counts-run"
    $py $here/one_step_counts.py "$model" 16 4 "$c/late-q1-burst64.toml" "$c/x0.35.toml" "$first" "$c/counts-run"
    echo "## train images 17-128, the rounded ANN (at most 4 spikes a step), 4 realizations of the rounding"
    $py $here/rounding_spread.py "$model" 16 4 0.45,0.4,0.35,0.3 4 $images
    echo "## train images 17-128, the rounded ANN (at most 8 spikes a step), 3 realizations of the rounding"
    $py $here/rounding_spread.py "$model" 16 8 0.35,0.3,0.25,0.2,0.15 3 $images
} 2>&1 | grep -v WARNING | sed "s|$out/||g" | tee "$here/rounding-spread.txt"
