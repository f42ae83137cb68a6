#!/bin/bash
# What a burst costs, as one Brian2 event per level (the code at e0267c9) and as binary-weighted events (this
# tree): the channel-balanced yolov3-tiny firing in its last two steps with bursts of up to 64, x 0.4 (channels.sh's
# files), and the default-converted model with the late neuron as short ran it before 0.10 (bursts of up to 8, quiet
# for 3/4, x 0.45), on COCO train images 17-20. Per image: a hash of every layer's spike counts (equal: the same
# spikes), events, detections, wall and simulated time; the peak memory of the simulation. Each tree runs once to
# build, then again to measure (burst_cost.py). Timings need a quiet machine.
#   bash analysis/fast-and-frugal/burst-cost.sh [OUT_DIR]      (default runs/channels)
set -euo pipefail
cd "$(dirname "$0")/../.."
source analysis/fast-and-frugal/channels-files.sh "$@"
levels=$out/tree-e0267c9
if [ ! -d "$levels" ]; then
    mkdir -p "$levels"
    git archive e0267c9 brainyolo equations | tar -x -C "$levels"
fi
images=$(ls $train/images/*.jpg | sed -n '17,20p')
measure() {  # TREE TITLE MODEL NEURON PARAMS
    PYTHONPATH=$1 $py $here/burst_cost.py "$3" "$4" "$5" $images > /dev/null 2>&1
    echo "## $2"
    PYTHONPATH=$1 $py $here/burst_cost.py "$3" "$4" "$5" $images 2>&1 | grep --line-buffered -v WARNING \
        | sed -u "s|$PWD/||"
}
$py $here/threshold_factor.py "$out/y3.h5" 0.45 > "$out/y3-x0.45.toml"
two_step=("$model" "$out/late-q2-burst64.toml" "$out/x0.4.toml")
burst8=("$out/y3.h5" "$late8" "$out/y3-x0.45.toml")
{
    measure "$levels" "bursts of 64, two firing steps, x 0.4: one event per burst level (e0267c9)" "${two_step[@]}"
    measure "$PWD" "bursts of 64, two firing steps, x 0.4: binary-weighted events (this tree)" "${two_step[@]}"
    measure "$levels" "bursts of 8, four firing steps, x 0.45: one event per burst level (e0267c9)" "${burst8[@]}"
    measure "$PWD" "bursts of 8, four firing steps, x 0.45: binary-weighted events (this tree)" "${burst8[@]}"
} | tee "$here/burst-cost.txt"
