#!/bin/bash
# Weighted spikes (equations/if_signed_ibt_tracking_weighted.toml: the late neuron firing in the last of 16 steps, its
# burst of up to 512 sent as one event per binary digit, each one synaptic event per target) on the default-converted
# yolov3-tiny of analysis/presets (lambda and the balance of layers and channels from COCO train images 1-16), COCO
# train images 17-128:
#   rounded: the rounded ANN (one firing step, at most 64 a step's worth), agreement with the ANN's detections and the
#     events counted as spikes and as weighted spikes, per threshold factor (weighted-spikes-rounded.txt);
#   cap: the same at x 0.25 with at most 128, 256 and 1024 spikes in the one step, and at x 0.2 (short's) with at most
#     512 (its neuron file's cap; weighted-spikes-cap.txt);
#   snn (default): the spiking network, agreement and events at each factor of FACTORS (weighted-spikes-snn.txt).
#   bash analysis/fast-and-frugal/weighted-spikes.sh [OUT_DIR] [rounded|cap|snn] [FACTORS]
#   (default runs/short-default, snn, 0.2,0.25,0.3)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/short-default}
part=${2:-snn}
factors=${3:-0.2,0.25,0.3}
source analysis/presets/default-model.sh
here=analysis/fast-and-frugal
images=$(ls $train/images/*.jpg | sed -n 17,128p)
if [ "$part" = rounded ]; then
    {
        echo "## train images 17-128, the rounded ANN, 16 steps, one firing step (at most 64 a step's worth), 1 rounding"
        $py $here/weighted_spikes.py "$model" 16 64 1:0.4,1:0.3,1:0.2,1:0.15,1:0.1,0.5:0.2,0.5:0.1 1 $images
    } 2>&1 | grep --line-buffered -v WARNING | tee "$here/weighted-spikes-rounded.txt"
    exit
fi
if [ "$part" = cap ]; then
    for pair in 8:0.25 16:0.25 64:0.25 32:0.2; do
        burst=${pair%:*}
        echo "## x ${pair#*:}, at most $burst a step's worth ($((16 * burst)) spikes in the one step)"
        $py $here/weighted_spikes.py "$model" 16 $burst "1:${pair#*:}" 1 $images
    done 2>&1 | grep --line-buffered -v WARNING | tee "$here/weighted-spikes-cap.txt"
    exit
fi
for factor in ${factors//,/ }; do
    [ -f "$out/x$factor.toml" ] || $py $here/threshold_factor.py "$model" "$factor" > "$out/x$factor.toml"
done
params=$(for f in ${factors//,/ }; do printf "%s," "$out/x$f.toml"; done)
{
    echo "## train images 17-128, weighted spikes, one firing step of 16, bursts of up to 512"
    $py $here/snn_agreement.py "$model" 16 16 equations/if_signed_ibt_tracking_weighted.toml "${params%,}" $images
} 2>&1 | grep --line-buffered -v WARNING | sed -u "s|$out/||g" | tee "$here/weighted-spikes-snn.txt"
