#!/bin/bash
# The quiet, settling neuron with bursts of up to 16 spikes a step (a copy of equations/if_signed_ibt_tracking_late.toml
# with burst = 16) at 16 steps: chosen on COCO train images 33-96 (agreement with the ANN's detections and synaptic
# events per image x the ANN's MACs, against the file's bursts of 8), then checked on the first 16 val photos and on
# the 128 val images (mAP@0.5; a preset file: short with this neuron and the balanced thresholds x 0.4).
#   bash analysis/fast-and-frugal/late-burst16.sh [OUT_DIR] [MODEL.h5]      (default runs/tune-16, OUT_DIR/y3.h5)
set -euo pipefail
cd "$(dirname "$0")/../.."
source analysis/fast-and-frugal/study-16.sh "$@"
source analysis/fast-and-frugal/burst16-files.sh
sed -e "s|^neuron = .*|neuron = \"$PWD/$c/late-burst16.toml\"|" -e 's|^threshold_scale = .*|threshold_scale = 0.4|' \
    equations/presets/short.toml > "$c/short-burst16.toml"
second=$(ls $train/images/*.jpg | sed -n 33,96p)
photos=$(ls $val/images/*.jpg | head -16)
[ -f "$c/val128/metrics.json" ] || $by evaluate "$model" --images $val/images --labels $val/labels --mode snn \
    --preset "$c/short-burst16.toml" -q -o "$c/val128"
{
    echo "## train images 33-96, bursts of up to 16, x 0.45 / x 0.4"
    $py $here/snn_agreement.py "$model" 16 16 "$c/late-burst16.toml" "$c/x0.45.toml,$c/x0.4.toml" $second
    echo "## train images 33-96, bursts of up to 8 (the file), x 0.4"
    $py $here/snn_agreement.py "$model" 16 16 "$late8" "$c/x0.4.toml" $second
    echo "## the first 16 val photos, bursts of up to 16, x 0.4 / x 0.45"
    $py $here/snn_agreement.py "$model" 16 16 "$c/late-burst16.toml" "$c/x0.4.toml,$c/x0.45.toml" $photos
    echo "## val 128, bursts of up to 16, x 0.4 (brainyolo evaluate --preset short-burst16.toml)"
    $py analysis/fast-and-frugal/bias_table.py "$c/val128"
} 2>&1 | grep -v WARNING | sed "s|$out/||g" | tee "$out/late-burst16.txt"
