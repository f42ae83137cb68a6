#!/bin/bash
# ms/step by kind of code object, before (f0e7f2d) and after (7ff88ef) the resets moved into the thresholders,
# in turn: two rounds of each schedule. Needs ../shared; writes fused-resets.txt here.
# Usage: bash analysis/yolov3-tiny/fused-resets.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
here=analysis/yolov3-tiny
work=$(mktemp -d)
trap 'git worktree remove --force "$work/before" 2>/dev/null || true; rm -rf "$work"' EXIT
git worktree add -q --detach "$work/before" f0e7f2d
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
        path=$([ $side = before ] && echo "$work/before" || echo "$PWD")
        echo "round $round, $side, $schedule, $steps steps:"
        PYTHONPATH=$path nice .venv/bin/python $here/fused_resets.py "$work/model.h5" "$image" \
          --schedule $schedule --steps $steps --repeat 2 2>/dev/null
      done
    done
  done
} | tee $here/fused-resets.txt
