#!/bin/bash
# The finer negative grid in the spiking network: the default-converted yolov3-tiny of analysis/presets, the late neuron
# with negative_value = 0.5 (a negative spike stands for half a threshold), channels balanced; firing in the last two
# steps of 16 with bursts of up to 64 (as the file fires), or with FIRING=one (negative-grid-one-step.sh) in the last
# step only with bursts of up to 128 (no spike taken back, every max-pool exact).
# Without VAL_FACTOR: COCO train images 17-128, agreement with the ANN's detections and events at each factor of
# FACTORS (negative-grid-snn.txt, negative-grid-one-step.txt); with VAL_FACTOR (chosen on them): the 128 COCO val
# photos (the same names with -val).
#   bash analysis/fast-and-frugal/negative-grid-snn.sh [OUT_DIR] [FACTORS] [VAL_FACTOR]
#   (default runs/short-default and 0.45,0.5,0.52,0.55; FIRING=one: 0.5,0.55,0.6)
set -euo pipefail
cd "$(dirname "$0")/../.."
firing=${FIRING:-two}
case $firing in
    two) name=negative-grid-snn; default_factors=0.45,0.5,0.52,0.55; neuron=late-negative-half.toml
         edits=(); what="two firing steps, bursts of up to 64" ;;
    one) name=negative-grid-one-step; default_factors=0.5,0.55,0.6; neuron=late-one-step-half.toml
         edits=(-e 's/^burst = .*/burst = 128/' -e 's/^quiet = ".*"/quiet = "0.9375"/'); what="one firing step, bursts of up to 128" ;;
    *) echo "FIRING is one or two" >&2; exit 2 ;;
esac
out=${1:-runs/short-default}
factors=${2:-$default_factors}
chosen=${3:-}
source analysis/presets/default-model.sh
here=analysis/fast-and-frugal
sed -e 's/^negative_value = .*/negative_value = 0.5/' "${edits[@]}" equations/if_signed_ibt_tracking_late.toml \
    > "$out/$neuron"
grep -q "^negative_value = 0.5$" "$out/$neuron"
for factor in ${factors//,/ } $chosen; do
    [ -f "$out/x$factor.toml" ] || $py $here/threshold_factor.py "$model" "$factor" > "$out/x$factor.toml"
done
if [ -z "$chosen" ]; then
    images=$(ls $train/images/*.jpg | sed -n 17,128p)
    params=$(for f in ${factors//,/ }; do printf "%s," "$out/x$f.toml"; done)
    title="train images 17-128"
    file=$here/$name.txt
else
    images=$(ls $val/images/*.jpg)
    params="$out/x$chosen.toml,"
    title="val 128, x $chosen"
    file=$here/$name-val.txt
fi
{
    echo "## $title, negative_value 0.5, $what"
    $py $here/snn_agreement.py "$model" 16 16 "$out/$neuron" "${params%,}" $images
} 2>&1 | grep --line-buffered -v WARNING | sed -u "s|$out/||g" | tee "$file"
