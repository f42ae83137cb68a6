#!/bin/bash
# Channels balanced too, on the 128 COCO val photos (no choice here has seen them): the rounded ANN over 4
# realizations of its rounding, at most 4 and 8 spikes a step, x 0.35; then the spiking network firing in the last
# step only (bursts of up to 64) at x 0.35: agreement and events (snn_agreement.py).
# The model and files are channels.sh's (run it first).
#   bash analysis/fast-and-frugal/channels-val.sh [OUT_DIR]      (default runs/channels)
set -euo pipefail
cd "$(dirname "$0")/../.."
source analysis/fast-and-frugal/channels-files.sh "$@"
images=$(ls $val/images/*.jpg)
{
    echo "## val 128, channels balanced, the rounded ANN, at most 4 and 8 spikes a step, x 0.35, 4 realizations"
    $py $here/rounding_spread.py "$model" 16 4 0.35 4 $images
    $py $here/rounding_spread.py "$model" 16 8 0.35 4 $images
    echo "## val 128, channels balanced, one firing step, bursts of up to 64, x 0.35"
    $py $here/snn_agreement.py "$model" 16 16 "$out/late-q1-burst64.toml" "$out/x0.35.toml" $images
} 2>&1 | grep --line-buffered -v WARNING | sed -u "s|$out/||g" | tee "$here/channels-val.txt"
