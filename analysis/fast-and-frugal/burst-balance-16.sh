#!/bin/bash
# Thresholds balanced for bursts at 16 steps: `brainyolo balance --steps 16 --burst 4` models the burst neuron
# (equations/if_signed_ibt_tracking_burst.toml: up to 4 spikes a step, so thresholds down to 1/4 of the largest
# normalized activation no longer clip) on COCO train images 1-16, for several event budgets (multiples of the
# uniform v_th 2.5's events); each is run on train images 17-32 at 16 steps (agreement with the ANN, events), and
# the most agreeing within 1.5x the ANN's MACs is evaluated on the 128 val images (8 / 16 / 25 / 32 / 50 steps)
# and on the first 16 val photos (the issue's agreement check).
#   bash analysis/fast-and-frugal/burst-balance-16.sh [OUT_DIR] [MODEL.h5]   (default runs/tune-16, OUT_DIR/y3.h5)
set -euo pipefail
cd "$(dirname "$0")/../.."
source analysis/fast-and-frugal/study-16.sh "$@"
budgets=${BUDGETS:-1.2 1.5 1.8 2.2}
burst=if_signed_ibt_tracking_burst
macs=2.78e9
for budget in $budgets; do
    [ -f "$out/params-bb$budget.toml" ] || $by balance "$model" --images $train/images --count 16 --steps 16 \
        --burst 4 --budget "$budget" -q -o "$out/params-bb$budget.toml" > "$out/balance-bb$budget.txt"
done
choice=$(ls $train/images/*.jpg | sed -n 17,32p | tr '\n' ' ')
[ -d "$out/choice-ann" ] || $by detect "$model" $choice --threshold 0.005 -q -o "$out/choice-ann"
for budget in $budgets; do
    [ -d "$out/choice-bb$budget" ] || $by detect "$model" $choice --mode snn --steps 20 --checkpoints 16 --threshold 0.005 \
        --neuron $burst --params "$out/params-bb$budget.toml" -q -o "$out/choice-bb$budget" > /dev/null
    echo "budget $budget"
    .venv/bin/python analysis/presets/agreement.py "$out/choice-ann" "$out/choice-bb$budget" $choice
done | tee "$out/burst-balance-choice.txt"
# the most agreeing budget within 1.5x the ANN's MACs on the train images
best=$(.venv/bin/python analysis/fast-and-frugal/pick_budget.py "$out/burst-balance-choice.txt" $macs 1.5)
echo "chosen on train images 17-32: budget $best"
$by evaluate "$model" --mode snn --images $val/images --labels $val/labels --steps 50 --checkpoints 8,16,25,32,50 \
    --threads 2 -q --neuron $burst --params "$out/params-bb$best.toml" -o "$out/eval-burst-balanced"
# beside the burst study's rows where this folder holds them (burst-16.sh)
.venv/bin/python analysis/fast-and-frugal/bias_table.py $(ls -d "$out"/eval-fast "$out"/eval-burst-x0.6 \
    "$out"/eval-burst-x0.5 2>/dev/null) "$out/eval-burst-balanced" > "$out/burst-balance-summary.md"
cat "$out/burst-balance-summary.md"
photos=$(ls $val/images/*.jpg | sed -n 1,16p | tr '\n' ' ')
[ -d "$out/agree-ann" ] || $by detect "$model" $photos --threshold 0.005 -q -o "$out/agree-ann"
[ -d "$out/agree-burst-balanced" ] || $by detect "$model" $photos --mode snn --steps 32 --checkpoints 16,25 \
    --threshold 0.005 -q --neuron $burst --params "$out/params-bb$best.toml" -o "$out/agree-burst-balanced" > /dev/null
{
    echo "burst-balanced: --neuron $burst --params params-bb$best.toml"
    .venv/bin/python analysis/presets/agreement.py "$out/agree-ann" "$out/agree-burst-balanced" $photos
} | tee "$out/burst-balance-agreement.txt"
