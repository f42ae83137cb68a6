#!/bin/bash
# Quiet, then bursts, then settled (equations/if_signed_ibt_tracking_late.toml): the holding tracking neuron with
# bursts of up to 8 spikes, quiet for the first 3/4 of the run and settled in its last step, with thresholds
# balanced for it at 16 steps (brainyolo balance on train images 1-16: T = 16, its 4 firing steps of up to 8 spikes
# modelled as bursts of 2 a step, base 1.25 = the uniform 2.5 x 0.5, budget 1.0) and with the model's balanced
# thresholds x 0.5 and x 0.45, on the 128 val images. Its detections are read at the run's end only, so every step
# count is an evaluation of its own (8 / 16 / 25 / 32 / 50 steps). Then the issue's check: agreement with the ANN's
# detections on the first 16 val photos at 16 steps (the burst study's rows beside it: burst-16.sh). The quiet
# fraction, the factors and the balancing's budget were chosen on COCO train images 17-96
# (analysis/fast-and-frugal/README.md, "Quiet, then bursts").
#   bash analysis/fast-and-frugal/late-16.sh [OUT_DIR] [MODEL.h5]      (default runs/tune-16, OUT_DIR/y3.h5)
set -euo pipefail
cd "$(dirname "$0")/../.."
source analysis/fast-and-frugal/study-16.sh "$@"
late=$late8
for factor in 0.5 0.45; do
    .venv/bin/python analysis/fast-and-frugal/threshold_factor.py "$model" $factor > "$out/params-x$factor.toml"
done
[ -f "$out/params-late-16.toml" ] || $by balance "$model" --images $train/images --count 16 --steps 16 --burst 2 \
    --v-th 1.25 --budget 1.0 --low 0.25 -q -o "$out/params-late-16.toml" > "$out/balance-late-16.txt"
evaluate() {  # NAME STEPS OPTIONS...
    [ -f "$out/eval-$1/metrics.json" ] || $by evaluate "$model" --mode snn --images $val/images \
        --labels $val/labels --steps "$2" --checkpoints "$2" --threads 2 -q "${@:3}" -o "$out/eval-$1"
}
evaluate late-16 16 --neuron $late --params "$out/params-late-16.toml"
evaluate late-x0.5-16 16 --neuron $late --params "$out/params-x0.5.toml"
evaluate late-x0.45-16 16 --neuron $late --params "$out/params-x0.45.toml"
evaluate preset-short 16 --preset short  # the x 0.45 row as the preset short runs it: the same numbers
for steps in 8 25 32 50; do
    evaluate late-16-$steps "$steps" --neuron $late --params "$out/params-late-16.toml"
done
.venv/bin/python analysis/fast-and-frugal/bias_table.py "$out/eval-late-16" "$out/eval-late-x0.5-16" \
    "$out/eval-late-x0.45-16" "$out/eval-preset-short" "$out"/eval-late-16-{8,25,32,50} > "$out/late-summary.md"
cat "$out/late-summary.md"
photos=$(ls $val/images/*.jpg | sed -n 1,16p | tr '\n' ' ')
[ -d "$out/agree-ann" ] || $by detect "$model" $photos --threshold 0.005 -q -o "$out/agree-ann"
agree() {  # NAME OPTIONS...
    [ -d "$out/agree-$1" ] || $by detect "$model" $photos --mode snn --steps 16 --checkpoints 16 --threshold 0.005 \
        -q "${@:2}" -o "$out/agree-$1" > /dev/null
    echo "$1: ${*:2}" | sed "s|$out/||g"
    .venv/bin/python analysis/presets/agreement.py "$out/agree-ann" "$out/agree-$1" $photos
}
{
    agree late-16 --neuron $late --params "$out/params-late-16.toml"
    agree late-x0.5 --neuron $late --params "$out/params-x0.5.toml"
    agree late-x0.45 --neuron $late --params "$out/params-x0.45.toml"
} | tee "$out/late-agreement.txt"
