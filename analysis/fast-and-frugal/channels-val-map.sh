#!/bin/bash
# Channels balanced too, on the 128 COCO val photos: mAP@0.5 against the labels (brainyolo evaluate) of the
# spiking network firing in the last two steps (quiet for 14/16, bursts of up to 64) at x 0.4. The model and files
# are channels.sh's (run it first).
#   bash analysis/fast-and-frugal/channels-val-map.sh [OUT_DIR]      (default runs/channels)
set -euo pipefail
cd "$(dirname "$0")/../.."
source analysis/fast-and-frugal/channels-files.sh "$@"
{
    echo "## val 128, channels balanced, two firing steps, bursts of up to 64, x 0.4: mAP@0.5 against the labels"
    rm -rf "$out/val-map"
    $by evaluate "$model" --images $val/images --labels $val/labels --mode snn --steps 16 --schedule same-step \
        --neuron "$out/late-q2-burst64.toml" --params "$out/x0.4.toml" -o "$out/val-map" -q
} 2>&1 | grep --line-buffered -v WARNING | sed -u "s|$out/||g" | tee "$here/channels-val-map.txt"
