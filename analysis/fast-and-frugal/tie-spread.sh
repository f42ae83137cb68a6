#!/bin/bash
# Which way near-ties round, and what it does to the agreement with the ANN on the 128 COCO val photos: each photo as
# it is and copies with every pixel changed by a factor 1 + 1e-6 N(0, 1), through
#   one-step (default): the one-step spiking network (negative_value 0.5, bursts of up to 128, x 0.5; snn_spread.py,
#     REALIZATIONS) and its rounded ANN (negative side on its own grid; negative_grid.py, 2 x REALIZATIONS):
#     tie-spread.txt;
#   short: the default at --steps 16 (the short preset: since 0.13 one firing step of weighted spikes, x 0.2), as
#     brainyolo detect runs it (snn_spread.py, REALIZATIONS): tie-spread-short.txt (the short preset of 0.10-0.12, two
#     firing steps of single spikes, x 0.4: tie-spread-late.txt).
#   bash analysis/fast-and-frugal/tie-spread.sh [OUT_DIR] [REALIZATIONS] [one-step|short]
#   (default runs/short-default, 4, one-step)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/short-default}
count=${2:-4}
what=${3:-one-step}
source analysis/presets/default-model.sh
here=analysis/fast-and-frugal
images=$(ls $val/images/*.jpg)
case $what in
    one-step)
        neuron=$out/late-one-step-half.toml
        sed -e 's/^negative_value = .*/negative_value = 0.5/' -e 's/^burst = .*/burst = 128/' \
            -e 's/^quiet = ".*"/quiet = "0.9375"/' equations/if_signed_ibt_tracking_late.toml > "$neuron"
        grep -q "^negative_value = 0.5$" "$neuron" && grep -q "^burst = 128$" "$neuron" \
            && grep -q '^quiet = "0.9375"$' "$neuron"
        [ -f "$out/x0.5.toml" ] || $py $here/threshold_factor.py "$model" 0.5 > "$out/x0.5.toml"
        {
            echo "## val 128, the spiking network: one firing step, bursts of up to 128, negative_value 0.5, x 0.5"
            $py $here/snn_spread.py "$model" 16 "$neuron" "$out/x0.5.toml" "$count" $images
            echo "## val 128, its rounded ANN (at most 8 spikes a step, M 0.5, x 0.5)"
            $py $here/negative_grid.py "$model" 16 8 0.5:0.5 $((2 * count)) $images
        } 2>&1 | grep --line-buffered -v WARNING | sed -u "s|$out/||g" | tee $here/tie-spread.txt ;;
    short)
        {
            echo "## val 128, the default at --steps 16"
            $py $here/snn_spread.py "$model" 16 - - "$count" $images
        } 2>&1 | grep --line-buffered -v WARNING | tee $here/tie-spread-short.txt ;;
    *) echo "the third argument is one-step or short" >&2; exit 2 ;;
esac
