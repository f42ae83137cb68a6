#!/bin/bash
# Channels balanced too (convert --balance-channels): yolov3-tiny converted as by default (lambda from COCO train
# images 1-16) with each layer's channels balanced on the same images, then on train images 17-128
#  1. the rounded ANN over 4 realizations of its rounding (rounding_spread.py), at most 4 and 8 spikes a step;
#  2. the spiking network firing in the last step only (bursts of up to 64: 4 a step's worth) at x 0.35, and
#     firing in the last two steps (quiet for 14/16, bursts of up to 64: 8 a step's worth) at x 0.4.
#   bash analysis/fast-and-frugal/channels.sh [OUT_DIR]      (default runs/channels)
set -euo pipefail
cd "$(dirname "$0")/../.."
source analysis/fast-and-frugal/channels-files.sh "$@"
late=equations/if_signed_ibt_tracking_late.toml
sed -e 's/^burst = .*/burst = 64/' -e 's/^quiet = ".*"/quiet = "0.9375"/' -e 's/^negative_value = .*/negative_value = 1/' $late > "$out/late-q1-burst64.toml"
sed -e 's/^burst = .*/burst = 64/' -e 's/^quiet = ".*"/quiet = "0.875"/' -e 's/^negative_value = .*/negative_value = 1/' $late > "$out/late-q2-burst64.toml"
for factor in 0.4 0.35; do $py $here/threshold_factor.py "$model" $factor > "$out/x$factor.toml"; done
images=$(ls $train/images/*.jpg | sed -n 17,128p)
{
    echo "## train images 17-128, channels balanced, the rounded ANN, at most 4 spikes a step, 4 realizations"
    $py $here/rounding_spread.py "$model" 16 4 0.4,0.35 4 $images
    echo "## train images 17-128, channels balanced, the rounded ANN, at most 8 spikes a step, 4 realizations"
    $py $here/rounding_spread.py "$model" 16 8 0.45,0.4,0.35 4 $images
    echo "## train images 17-128, channels balanced, one firing step, bursts of up to 64, x 0.35"
    $py $here/snn_agreement.py "$model" 16 16 "$out/late-q1-burst64.toml" "$out/x0.35.toml" $images
    echo "## train images 17-128, channels balanced, two firing steps, bursts of up to 64, x 0.4"
    $py $here/snn_agreement.py "$model" 16 16 "$out/late-q2-burst64.toml" "$out/x0.4.toml" $images
} 2>&1 | grep --line-buffered -v WARNING | sed -u "s|$out/||g" | tee "$here/channels.txt"
