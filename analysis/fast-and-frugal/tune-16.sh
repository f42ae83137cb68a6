#!/bin/bash
# Multi-objective optuna (mAP@0.5 against synaptic events per image) at 16 steps on the fast configuration:
# per-layer thresholds as factors (0.5-2, log) of the model file's balanced ones and one V(0) for every layer,
# started from the fast preset itself (factor 1, V(0) = 0.5 v_th); tuned on COCO train images 1-16 with their
# labels (never the val images). Then the fast preset and the study's two picks (the most accurate; the fewest
# events within 98 % of it) evaluated side by side on the 128 val images at 8 / 16 / 25 / 32 / 50 steps.
#   bash analysis/fast-and-frugal/tune-16.sh [OUT_DIR] [MODEL.h5]      (default runs/tune-16, OUT_DIR/y3.h5)
# The model: yolov3-tiny converted with lambda from train images 1-16, as bias-correction-16.sh converts it (made
# here when OUT_DIR/y3.h5 is missing), so that its fast row is that study's uncorrected row.
set -euo pipefail
cd "$(dirname "$0")/../.."
source analysis/fast-and-frugal/study-16.sh "$@"
tune() {
    $by tune "$model" --images $train/images --labels $train/instances_train2017_first128.json --count 16 \
        --steps 16 --checkpoints 16 --trials 24 --space relative,init --preset fast --pick "$1" -q -o "$out/tune"
    cp "$out/tune/params.toml" "$out/params-$1.toml"
}
tune accuracy
tune frugal   # the same 24 trials (the study resumes), the other pick
evaluate() {
    $by evaluate "$model" --mode snn --images $val/images --labels $val/labels --steps 50 \
        --checkpoints 8,16,25,32,50 --threads 2 -q "${@:2}" -o "$out/eval-$1"
}
evaluate fast
evaluate tuned-accuracy --params "$out/params-accuracy.toml"
evaluate tuned-frugal --params "$out/params-frugal.toml"
.venv/bin/python analysis/fast-and-frugal/bias_table.py "$out/eval-fast" "$out/eval-tuned-accuracy" \
    "$out/eval-tuned-frugal" > "$out/summary.md"
cat "$out/summary.md"
# the issue's check: agreement with the ANN's own detections on the first 16 val photos (analysis/presets)
photos=$(ls $val/images/*.jpg | sed -n 1,16p | tr '\n' ' ')
$by detect "$model" $photos --threshold 0.005 -q -o "$out/agree-ann"
$by detect "$model" $photos --mode snn --steps 32 --checkpoints 16,25 --threshold 0.005 -q -o "$out/agree-fast"
$by detect "$model" $photos --mode snn --steps 32 --checkpoints 16,25 --threshold 0.005 \
    --params "$out/params-frugal.toml" -q -o "$out/agree-x0.8"
for run in fast x0.8; do
    .venv/bin/python analysis/presets/agreement.py "$out/agree-ann" "$out/agree-$run" $photos
done | tee "$out/agreement.txt"
