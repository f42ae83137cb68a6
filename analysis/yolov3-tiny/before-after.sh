#!/bin/bash
# ms/step by kind of code object (and per convolution) on two commits of the code, in turn: two rounds of each
# schedule (delayed: the paper configuration at 300 steps; same_step at 100). Needs ../shared.
# Usage: bash analysis/yolov3-tiny/before-after.sh BEFORE AFTER OUTPUT   (OUTPUT: a file name in this folder)
#   bash analysis/yolov3-tiny/before-after.sh f0e7f2d 7ff88ef fused-resets.txt   (resets in the thresholders)
#   bash analysis/yolov3-tiny/before-after.sh ff22beb HEAD tiles.txt            (convolutions in tiles)
set -euo pipefail
cd "$(dirname "$0")/../.."
here=analysis/yolov3-tiny
before=$1 after=$2 output=$here/$3
work=$(mktemp -d)
trap 'git worktree remove --force "$work/before" 2>/dev/null || true; git worktree remove --force "$work/after" 2>/dev/null || true; rm -rf "$work"' EXIT
git worktree add -q --detach "$work/before" "$before"
git worktree add -q --detach "$work/after" "$after"
shared=../shared
images=("$shared"/data/coco-train2017-first128/images/*.jpg)
image=${images[0]}
.venv/bin/python -c "
from pathlib import Path
from brainyolo.analysis.benchmark import _benchmark_model
_benchmark_model(Path('$shared/models/yolov3-tiny/yolov3-tiny.cfg'), Path('$shared/models/yolov3-tiny/yolov3-tiny.weights'),
                 Path('$shared/data/coco-train2017-first128/images'), '$work')"
{
  for round in 1 2; do
    for schedule in delayed same_step; do
      steps=$([ $schedule = delayed ] && echo 300 || echo 100)
      for side in before after; do
        echo "round $round, $side ($([ $side = before ] && echo "$before" || echo "$after")), $schedule, $steps steps:"
        PYTHONPATH=$work/$side nice .venv/bin/python $here/code_objects.py "$work/model.h5" "$image" \
          --schedule $schedule --steps $steps --repeat 2 2>/dev/null
      done
    done
  done
} | tee "$output"
