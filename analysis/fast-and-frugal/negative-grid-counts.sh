#!/bin/bash
# The one-step candidate of negative-grid-one-step.sh (x 0.5) on the first COCO val photo, layer by layer: every
# neuron's net count (a negative spike worth half) against the layer rounded from the spiking counts below it, and
# against the rounded ANN of the whole image (one_step_counts.py with NEGATIVE 0.5). Run negative-grid-one-step.sh first.
#   bash analysis/fast-and-frugal/negative-grid-counts.sh [OUT_DIR]      (default runs/short-default)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/short-default}
source analysis/presets/default-model.sh
here=analysis/fast-and-frugal
{
    echo "## val image 1, one firing step, bursts of up to 128 (8 a step's worth), negative_value 0.5, x 0.5"
    $py $here/one_step_counts.py "$model" 16 8 "$out/late-one-step-half.toml" "$out/x0.5.toml" \
        $(ls $val/images/*.jpg | head -1) "$out/one-step-counts" 0.5
} 2>&1 | grep --line-buffered -v WARNING | tee "$here/negative-grid-counts.txt"
