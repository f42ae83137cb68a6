#!/bin/bash
# Short runs of the default preset: how many steps a run needs before fast beats short (the up_to_steps of fast's
# [short_runs]), chosen on images calibration and evaluation do not use, then the default command at --steps 16 on
# the evaluation images.
#   1. COCO train images 33-96 (yolov3-tiny converted with the defaults, lambda and balancing from train 1-16):
#      agreement with the ANN and events of fast and short at 16 / 20 / 25 / 32 steps (short_runs.py);
#   2. the embedded detector on 48 generated scenes (seed 2024: not the calibration's 2020, the training's 7 or the
#      demo's) at 8 / 16 / 24 / 32 steps;
#   3. COCO val 128: `brainyolo evaluate ... --mode snn --steps 16` (the default preset, which runs short), and the
#      agreement of `brainyolo detect ... --mode snn --steps 16` with the ANN on the first 16 val photos.
#   bash analysis/presets/short-runs.sh [OUT_DIR]      (default runs/short-runs; OUT_DIR/y3.h5 made when missing)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/short-runs}
source analysis/presets/default-model.sh
[ -d "$out/scenes" ] || $by scenes --count 48 --seed 2024 -o "$out/scenes" -q
photos=$(ls $val/images/*.jpg | head -16)
{
    echo "## yolov3-tiny, COCO train images 33-96"
    $py analysis/presets/short_runs.py "$model" 16,20,25,32 $(ls $train/images/*.jpg | sed -n 33,96p)
    echo "## the embedded detector, 48 generated scenes (seed 2024)"
    $py analysis/presets/short_runs.py embedded 8,16,24,32 "$out"/scenes/images/*.png
} 2>&1 | grep -v WARNING | tee "$out/short-runs-choice.txt"
[ -f "$out/val16/metrics.json" ] || $by evaluate "$model" --images $val/images --labels $val/labels --mode snn \
    --steps 16 -o "$out/val16"
[ -f "$out/ann/detections.json" ] || $by detect "$model" $photos --threshold 0.005 -q -o "$out/ann"
[ -f "$out/photos16/detections.json" ] || $by detect "$model" $photos --mode snn --steps 16 --threshold 0.005 \
    -o "$out/photos16"
{
    echo "## COCO val 128, brainyolo evaluate --mode snn --steps 16 (the default preset)"
    $py analysis/fast-and-frugal/bias_table.py "$out/val16"
    echo "## the first 16 val photos, brainyolo detect --mode snn --steps 16, agreement with the ANN"
    $py analysis/presets/agreement.py "$out/ann" "$out/photos16" $photos
} 2>&1 | grep -v WARNING | tee "$out/short-runs-val.txt"
