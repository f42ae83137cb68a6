#!/bin/bash
# Channels balanced too, on the 128 COCO val photos: the spiking network firing in the last two steps (quiet for
# 14/16, bursts of up to 64) at x 0.4, the point that met the bar on train images 17-128 (channels.txt), or at another
# factor: agreement and events (snn_agreement.py). The model and files are channels.sh's (run it first).
#   bash analysis/fast-and-frugal/channels-val-two-step.sh [OUT_DIR] [FACTOR]
#   (default runs/channels and 0.4: channels-val-two-step.txt; another factor F: channels-val-two-step-xF.txt)
set -euo pipefail
cd "$(dirname "$0")/../.."
factor=${2:-0.4}
source analysis/fast-and-frugal/channels-files.sh "${1:-runs/channels}"
[ -f "$out/x$factor.toml" ] || $py $here/threshold_factor.py "$model" "$factor" > "$out/x$factor.toml"
name=channels-val-two-step$([ "$factor" = 0.4 ] || echo "-x$factor")
{
    echo "## val 128, channels balanced, two firing steps, bursts of up to 64, x $factor"
    $py $here/snn_agreement.py "$model" 16 16 "$out/late-q2-burst64.toml" "$out/x$factor.toml" $(ls $val/images/*.jpg)
} 2>&1 | grep --line-buffered -v WARNING | sed -u "s|$out/||g" | tee "$here/$name.txt"
