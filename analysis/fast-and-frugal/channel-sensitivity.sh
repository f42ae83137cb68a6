#!/bin/bash
# Which channel sensitivity balances a layer's channels better: the squared weights that read a channel (convert's)
# or the detection error through the rest of the network (the detection error's Gauss-Newton matrix pulled back to
# every neuron; brainyolo.convert.balancing.channel_sensitivity)? The default-converted yolov3-tiny of
# analysis/presets (lambda and the balance from COCO train images 1-16), its channel scales found again by each rule
# on the same images; then the rounded ANN of both on train images 17-128 (4 realizations of its rounding, at most
# 8 spikes a step, the balanced thresholds x 0.4, 16 steps).
#   bash analysis/fast-and-frugal/channel-sensitivity.sh [OUT_DIR]      (default runs/channel-sensitivity)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/channel-sensitivity}
source analysis/presets/default-model.sh
here=analysis/fast-and-frugal
mkdir -p "$out"
images=$(ls $train/images/*.jpg | sed -n 17,128p)
{
    for rule in weights detection; do
        echo "## channel scales by $rule, COCO train 1-16"
        $py $here/rebalanced_channels.py "$model" $rule $train/images 16 "$out/y3-$rule.h5"
    done
    for rule in weights detection; do
        echo "## channels balanced by $rule: the rounded ANN on train 17-128, at most 8 spikes a step, 4 realizations"
        $py $here/rounding_spread.py "$out/y3-$rule.h5" 16 8 0.4 4 $images
    done
} 2>&1 | grep --line-buffered -v WARNING | tee "$here/channel-sensitivity.txt"
