#!/bin/bash
# Bias correction (Li et al., ICML 2021) for few steps, on the fast configuration: each hidden convolution's
# per-channel mean local error of a 16-step run on COCO train images 1-16 (never the val images) subtracted
# from its normalized bias, then the corrected and the uncorrected model evaluated side by side on the 128
# val images at 8 / 16 / 25 / 32 / 50 steps (fast preset: balanced thresholds, holding tracking neuron,
# same-step, Vmem); and the potential correction (each channel's V(0) lowered by its error, scale 1 and 0.25:
# analysis/fast-and-frugal/potential_correction.py). The table: analysis/fast-and-frugal/bias_table.py -> OUT/summary.md.
#   bash analysis/fast-and-frugal/bias-correction-16.sh [OUT_DIR]      (default runs/bias-correction-16)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/bias-correction-16}
shared=../shared
train=$shared/data/coco-train2017-first128/images
val=$shared/data/coco-val2017-first128
py=.venv/bin/python
mkdir -p "$out"
[ -f "$out/y3.h5" ] || $py -m brainyolo convert --cfg $shared/models/yolov3-tiny/yolov3-tiny.cfg \
    --weights $shared/models/yolov3-tiny/yolov3-tiny.weights --calib $train --calib-count 16 --no-balance-channels -o "$out/y3.h5" -q
$py analysis/fast-and-frugal/layer_error.py "$out/y3.h5" --images $train --count 16 --steps 16 \
    --params runs/params/yolov3-tiny-balanced.toml --neuron if_signed_ibt_tracking --schedule same-step \
    --threads 2 --save "$out/errors16.npz" | tee "$out/layer-error-16.txt"
$py analysis/fast-and-frugal/bias_correction.py "$out/y3.h5" "$out/errors16.npz" "$out/y3-bc16.h5"
for name in y3 y3-bc16; do
    $py -m brainyolo evaluate "$out/$name.h5" --mode snn --images $val/images --labels $val/labels \
        --steps 50 --checkpoints 8,16,25,32,50 --threads 2 -q -o "$out/eval-$name"
done
# the potential correction instead: each channel's start lowered by its error (the Python API, one build)
for scale in 1 0.25; do
    $py analysis/fast-and-frugal/potential_correction.py "$out/y3.h5" "$out/errors16.npz" --images $val/images \
        --labels $val/labels --error-steps 16 --scale $scale -o "$out/eval-y3-v_init16-$scale"
done
$py analysis/fast-and-frugal/bias_table.py "$out/eval-y3" "$out/eval-y3-bc16" "$out/eval-y3-v_init16-1" \
    "$out/eval-y3-v_init16-0.25" > "$out/summary.md"
cat "$out/summary.md"
