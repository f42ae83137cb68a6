#!/bin/bash
# Issue 15 (README, "Event cameras"): on the same fresh event scenes (Gen1 layout, boxes at 250 ms), the
# event detectors under the Gen1 protocol (the 250 ms before each box time, 5 bins):
#   * embedded-direct-events (directly trained on EMS frames, T = 5): frames, tonic counts, and the events as
#     spikes with one step per bin (5 steps) and at 1 ms steps (250 steps, 50 per bin);
#   * embedded-events (an ANN trained on the mean of the 5 frames, converted): the ANN, frames at 300 steps
#     (60 per bin), the events as spikes at 1 ms steps (250 steps) and at 300 steps.
# mAP@0.5, mAP (pycocotools), synaptic events and energy per sample: analysis/event-cameras/events_table.py.
#   bash analysis/event-cameras/events-table.sh [OUT_DIR] [COUNT] [SEED]      (default runs/events-table 32 4343)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/events-table}; count=${2:-32}; seed=${3:-4343}
by=.venv/bin/brainyolo
[ -f "$out/scenes/classes.names" ] || $by scenes --events --count "$count" --seed "$seed" -o "$out/scenes"
ev="--images $out/scenes --mode snn -q"
$by evaluate embedded-direct-events $ev --events frames --steps 5 --checkpoints 1,2,3,4,5 -o "$out/direct-frames"
$by evaluate embedded-direct-events $ev --events counts --steps 5 -o "$out/direct-counts"
$by evaluate embedded-direct-events $ev --events spikes --steps 5 --checkpoints 1,2,3,4,5 -o "$out/direct-spikes-5"
$by evaluate embedded-direct-events $ev --events spikes --steps 250 --checkpoints 50,100,150,200,250 \
    -o "$out/direct-spikes-250"
$by evaluate embedded-events $ev --events frames --steps 300 --checkpoints 60,120,180,240,300 \
    -o "$out/converted-frames-300"
$by evaluate embedded-events $ev --events spikes --steps 250 --checkpoints 50,100,150,200,250 \
    -o "$out/converted-spikes-250"
$by evaluate embedded-events $ev --events spikes --steps 300 --checkpoints 60,120,180,240,300 \
    -o "$out/converted-spikes-300"
.venv/bin/python analysis/event-cameras/events_table.py "$out"
