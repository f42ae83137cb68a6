#!/bin/bash
# Channels balanced, two firing steps (quiet for 14/16, bursts of up to 64) at x 0.35 instead of x 0.4, on the 128
# COCO val photos: agreement and events (snn_agreement.py). The model and files are channels.sh's (run it first).
#   bash analysis/fast-and-frugal/channels-val-two-step-x0.35.sh [OUT_DIR]      (default runs/channels)
set -euo pipefail
cd "$(dirname "$0")/../.."
source analysis/fast-and-frugal/channels-files.sh "$@"
{
    echo "## val 128, channels balanced, two firing steps, bursts of up to 64, x 0.35"
    $py $here/snn_agreement.py "$model" 16 16 "$out/late-q2-burst64.toml" "$out/x0.35.toml" $(ls $val/images/*.jpg)
} 2>&1 | grep --line-buffered -v WARNING | sed -u "s|$out/||g" | tee "$here/channels-val-two-step-x0.35.txt"
