#!/bin/bash
# The paper configuration (300 steps) on two train images with 1 and with 2 OpenMP threads: ms/step of each run,
# and whether the two recordings are the same, dataset by dataset, bit for bit. Needs ../shared; writes
# threads.txt here.   Usage: bash analysis/yolov3-tiny/threads.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
here=analysis/yolov3-tiny
shared=../shared
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
images=("$shared"/data/coco-train2017-first128/images/*.jpg)
.venv/bin/python -c "
from pathlib import Path
from brainyolo.analysis.benchmark import _benchmark_model
_benchmark_model(Path('$shared/models/yolov3-tiny/yolov3-tiny.cfg'), Path('$shared/models/yolov3-tiny/yolov3-tiny.weights'),
                 Path('$shared/data/coco-train2017-first128/images'), '$work')"
for threads in 1 2; do  # (the first run of each builds its binary)
  nice .venv/bin/brainyolo simulate "$work/model.h5" "${images[0]}" --preset paper --threads $threads -q -o "$work/warm$threads"
done
for round in 1 2; do
  for threads in 1 2; do
    nice .venv/bin/brainyolo simulate "$work/model.h5" "${images[0]}" "${images[1]}" --preset paper --threads $threads \
      -q -o "$work/t$threads-$round"
  done
done
.venv/bin/python - "$work" <<'PY' | tee $here/threads.txt
import json
import sys
from pathlib import Path

import h5py
import numpy as np

work = Path(sys.argv[1])
print("paper configuration, 300 steps, 2 train images per run, float32; ms/step of each image")
for run in sorted(work.glob("t*-*")):
    info = json.loads((run / "run_info.json").read_text())
    print(f"  {run.name} (threads-round): " + ", ".join(f"{1e3 * i['run_seconds'] / info['steps']:.1f}"
                                                          for i in info["images"]))
for round in (1, 2):
    one, two = h5py.File(work / f"t1-{round}/recordings.h5"), h5py.File(work / f"t2-{round}/recordings.h5")
    names = []
    one.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
    differ = [name for name in names if not np.array_equal(one[name][()], two[name][()])]
    print(f"  round {round}: {len(names)} datasets of recordings.h5 compared, 1 against 2 threads: "
          f"{len(differ)} differ{' (' + ', '.join(differ[:5]) + ')' if differ else ''}")
PY
