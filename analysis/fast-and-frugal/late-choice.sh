#!/bin/bash
# How the quiet, settling burst neuron (equations/if_signed_ibt_tracking_late.toml) was chosen, on COCO train images
# only, at 16 steps: agreement with the ANN's detections and synaptic events per image (x the ANN's MACs).
#   1. train images 17-32, the model's balanced thresholds x 0.6 / 0.5 (/ 0.4): the holding burst neuron (quiet 0,
#      settle 0), quiet for the first half, quiet without holding, quiet and settled, quiet for 3/4 and settled, with
#      bursts of up to 4 (a copy of the file with burst = 4) and of up to 8 (the file);
#   2. train images 33-96: the file (bursts of 8, quiet 3/4, settled) at x 0.5 and x 0.45, quiet 11/16 and 13/16,
#      and thresholds balanced for it at 16 steps (brainyolo balance, bursts of 2 a step modelled, budget 1.0 and 0.85);
#   3. the rounded ANN on the same images (what the neuron's net counts at the end compute; no spiking run);
# and first, on train images 1-2, where the spikes of three of these go, layer by layer (spike_surplus.py).
#   bash analysis/fast-and-frugal/late-choice.sh [OUT_DIR] [MODEL.h5]      (default runs/tune-16, OUT_DIR/y3.h5)
set -euo pipefail
cd "$(dirname "$0")/../.."
source analysis/fast-and-frugal/study-16.sh "$@"
here=analysis/fast-and-frugal
train=$train/images
py=.venv/bin/python
mkdir -p "$out/choice"
c=$out/choice
sed -e 's/^burst = .*/burst = 4/' -e 's/^quiet = ".*"/quiet = "0.75"/' -e 's/^negative_value = .*/negative_value = 1/' equations/if_signed_ibt_tracking_late.toml > "$c/late-burst4.toml"
params() {  # NAME FACTOR [all] LINES...: balanced thresholds x FACTOR with more [all] entries
    $py $here/threshold_factor.py "$model" "$2" | awk -v extra="$(printf '%s\n' "${@:3}")" '
        BEGIN { n = split(extra, lines, "\n"); for (i = 1; i <= n; i++) { split(lines[i], kv, " = "); given[kv[1]] = 1 } }
        /^\[/ { section = $0 }
        section == "[all]" && ($1 in given) { next }
        { print }
        /^\[all\]$/ && extra != "" { print extra }' > "$c/$1.toml"
}
for f in 0.6 0.5 0.4 0.45; do
    params x$f-burst $f "quiet = 0.0" "settle = 0.0"
    params x$f-half $f "quiet = 0.5" "settle = 0.0"
    params x$f-half-free $f "quiet = 0.5" "settle = 0.0" "hold_positive = 0.0"
    params x$f-half-settled $f "quiet = 0.5"
    params x$f-late $f
done
for q in 0.6875 0.8125; do params x0.5-q$q 0.5 "quiet = $q"; done
for b in 1.0 0.85; do
    [ -f "$c/balanced-b$b.toml" ] || .venv/bin/python -m brainyolo balance "$model" --images $train --count 16 \
        --steps 16 --burst 2 --v-th 1.25 --budget $b --low 0.25 -q -o "$c/balanced-b$b.toml" > /dev/null
done
first=$(ls $train/*.jpg | sed -n 17,32p)
second=$(ls $train/*.jpg | sed -n 33,96p)
list() { local IFS=,; echo "$*"; }
{
    pair=$(ls $train/*.jpg | sed -n 1,2p)
    echo "## where the spikes go, train images 1-2: the holding burst neuron (bursts of 4), x 0.6"
    $py $here/spike_surplus.py "$model" "$c/x0.6-burst.toml" 16 "$c/late-burst4.toml" $pair
    echo "## the same, quiet for the first half, without holding"
    $py $here/spike_surplus.py "$model" "$c/x0.6-half-free.toml" 16 "$c/late-burst4.toml" $pair
    echo "## the file (bursts of 8, quiet 3/4, settled), x 0.5"
    $py $here/spike_surplus.py "$model" "$c/x0.5-late.toml" 16 "$late8" $pair
    echo "## train images 17-32, bursts of up to 4"
    $py $here/snn_agreement.py "$model" 16 16 "$c/late-burst4.toml" "$(list "$c"/x0.6-{burst,half,half-free,half-settled,late}.toml "$c"/x0.5-{burst,half,half-free,half-settled,late}.toml)" $first
    echo "## train images 17-32, bursts of up to 8 (the file)"
    $py $here/snn_agreement.py "$model" 16 16 "$late8" "$(list "$c"/x0.6-late.toml "$c"/x0.5-late.toml "$c"/x0.4-late.toml)" $first
    echo "## train images 17-32, the rounded ANN (bursts of 2 a step: 8 in each of the 4 firing steps)"
    $py $here/rounded_agreement.py "$model" 16 2 0.6,0.5,0.4 $first
    echo "## train images 33-96, the file"
    $py $here/snn_agreement.py "$model" 16 16 "$late8" "$(list "$c"/x0.5-late.toml "$c"/x0.45-late.toml "$c"/x0.5-q0.6875.toml "$c"/x0.5-q0.8125.toml "$c"/balanced-b1.0.toml "$c"/balanced-b0.85.toml)" $second
    echo "## train images 33-96, the rounded ANN"
    $py $here/rounded_agreement.py "$model" 16 2 "0.5,0.45,0.4,$c/balanced-b1.0.toml,$c/balanced-b0.85.toml" $second
} 2>&1 | grep -v WARNING | sed "s|$out/||g" | tee "$out/late-choice.txt"
