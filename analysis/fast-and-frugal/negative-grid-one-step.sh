#!/bin/bash
# The finer negative grid with one firing step: the default-converted yolov3-tiny of analysis/presets, the late neuron
# firing in the last step only (quiet 15/16, bursts of up to 128: no spike taken back, every max-pool exact) with
# negative_value = 0.5 (a negative spike stands for half a threshold), channels balanced.
# Without VAL_FACTOR: COCO train images 17-128, agreement with the ANN's detections and events at each factor of
# FACTORS (negative-grid-one-step.txt); with VAL_FACTOR (chosen on them): the 128 COCO val photos
# (negative-grid-one-step-val.txt).
#   bash analysis/fast-and-frugal/negative-grid-one-step.sh [OUT_DIR] [FACTORS] [VAL_FACTOR]
#   (default runs/short-default and 0.5,0.55,0.6)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/short-default}
factors=${2:-0.5,0.55,0.6}
chosen=${3:-}
source analysis/presets/default-model.sh
here=analysis/fast-and-frugal
late=equations/if_signed_ibt_tracking_late.toml
sed -e 's/^negative_value = .*/negative_value = 0.5/' -e 's/^burst = .*/burst = 128/' -e 's/^quiet = ".*"/quiet = "0.9375"/' $late \
    > "$out/late-one-step-half.toml"
grep -q "^negative_value = 0.5$" "$out/late-one-step-half.toml"
for factor in ${factors//,/ } $chosen; do
    [ -f "$out/x$factor.toml" ] || $py $here/threshold_factor.py "$model" "$factor" > "$out/x$factor.toml"
done
if [ -z "$chosen" ]; then
    train_params=$(for f in ${factors//,/ }; do printf "%s," "$out/x$f.toml"; done)
    {
        echo "## train images 17-128, negative_value 0.5, one firing step, bursts of up to 128"
        $py $here/snn_agreement.py "$model" 16 16 "$out/late-one-step-half.toml" "${train_params%,}" \
            $(ls $train/images/*.jpg | sed -n 17,128p)
    } 2>&1 | grep --line-buffered -v WARNING | sed -u "s|$out/||g" | tee "$here/negative-grid-one-step.txt"
else
    {
        echo "## val 128, negative_value 0.5, one firing step, bursts of up to 128, x $chosen"
        $py $here/snn_agreement.py "$model" 16 16 "$out/late-one-step-half.toml" "$out/x$chosen.toml" \
            $(ls $val/images/*.jpg)
    } 2>&1 | grep --line-buffered -v WARNING | sed -u "s|$out/||g" | tee "$here/negative-grid-one-step-val.txt"
fi
