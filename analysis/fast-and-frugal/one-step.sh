#!/bin/bash
# One firing step: the quiet, settling neuron (equations/if_signed_ibt_tracking_late.toml) quiet for 15/16 of a 16-step
# run, so that it fires in the last step only, with bursts of up to 64 (a copy of the file), at the balanced
# thresholds x 0.35: every layer sends its rounded count at once, with at most 4 spikes a step's worth of the run.
# Against the rounded ANN with the same cap (rounded_agreement.py ... 16 4 0.35), on COCO train images 17-64 and
# 17-128 (calibration uses 1-16).
#   bash analysis/fast-and-frugal/one-step.sh [OUT_DIR] [MODEL.h5]      (default runs/tune-16, OUT_DIR/y3.h5)
set -euo pipefail
cd "$(dirname "$0")/../.."
source analysis/fast-and-frugal/study-16.sh "$@"
source analysis/fast-and-frugal/one-step-files.sh
{
    for range in 17,64 17,128; do
        images=$(ls $train/images/*.jpg | sed -n ${range}p)
        echo "## train images ${range/,/-}, one firing step, bursts of up to 64, x 0.35"
        $py $here/snn_agreement.py "$model" 16 16 "$c/late-q1-burst64.toml" "$c/x0.35.toml" $images
        echo "## train images ${range/,/-}, the rounded ANN, at most 4 spikes a step, x 0.45 / x 0.35"
        $py $here/rounded_agreement.py "$model" 16 4 0.45,0.35 $images
    done
} 2>&1 | grep -v WARNING | sed "s|$out/||g" | tee "$out/one-step.txt"
