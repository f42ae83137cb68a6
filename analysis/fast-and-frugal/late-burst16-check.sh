#!/bin/bash
# Bursts of up to 16 at x 0.4 against short (bursts of 8, x 0.45) at 16 steps, on more images: every COCO train
# image that calibration does not use (17-128: 112, where late-burst16.sh chose on 33-96), then agreement with the
# ANN's detections on all 128 val photos (where late-burst16.sh used the first 16); then the rounded ANN (the counts
# a neuron without swings would send) on the same train images, for the grid and the clipping alone.
#   bash analysis/fast-and-frugal/late-burst16-check.sh [OUT_DIR] [MODEL.h5]      (default runs/tune-16, OUT_DIR/y3.h5)
set -euo pipefail
cd "$(dirname "$0")/../.."
source analysis/fast-and-frugal/study-16.sh "$@"
source analysis/fast-and-frugal/burst16-files.sh
train_rest=$(ls $train/images/*.jpg | sed -n 17,128p)
photos=$(ls $val/images/*.jpg)
{
    echo "## train images 17-128, bursts of up to 8 (the file), x 0.45 (short)"
    $py $here/snn_agreement.py "$model" 16 16 "$late8" "$c/x0.45.toml" $train_rest
    echo "## train images 17-128, bursts of up to 16, x 0.4"
    $py $here/snn_agreement.py "$model" 16 16 "$c/late-burst16.toml" "$c/x0.4.toml" $train_rest
    echo "## the 128 val photos, bursts of up to 8 (the file), x 0.45 (short)"
    $py $here/snn_agreement.py "$model" 16 16 "$late8" "$c/x0.45.toml" $photos
    echo "## the 128 val photos, bursts of up to 16, x 0.4"
    $py $here/snn_agreement.py "$model" 16 16 "$c/late-burst16.toml" "$c/x0.4.toml" $photos
    echo "## train images 17-128, the rounded ANN at 16 steps, at most 2 spikes a step (bursts of 8 in 4 steps)"
    $py $here/rounded_agreement.py "$model" 16 2 0.45,0.4,0.35,0.3,0.25 $train_rest
    echo "## train images 17-128, the rounded ANN at 16 steps, at most 4 spikes a step (bursts of 16 in 4 steps)"
    $py $here/rounded_agreement.py "$model" 16 4 0.45,0.4,0.35,0.3 $train_rest
    echo "## train images 17-128, the rounded ANN at 16 steps, at most 1 spike a step (bursts of 16 in 1 step)"
    $py $here/rounded_agreement.py "$model" 16 1 0.6,0.8,1.0 $train_rest
    echo "## train images 17-128, the rounded ANN at 16 steps, at most 8 spikes a step (no clipping to speak of)"
    $py $here/rounded_agreement.py "$model" 16 8 0.35,0.3 $train_rest
    echo "## train images 17-128, quiet for 14/16 (2 firing steps), bursts of up to 16, x 0.45"
    sed 's/^quiet = "0.75"/quiet = "0.875"/' "$c/late-burst16.toml" > "$c/late-q2-burst16.toml"
    $py $here/snn_agreement.py "$model" 16 16 "$c/late-q2-burst16.toml" "$c/x0.45.toml" $train_rest
} 2>&1 | grep -v WARNING | sed "s|$out/||g" | tee "$out/late-burst16-check.txt"
