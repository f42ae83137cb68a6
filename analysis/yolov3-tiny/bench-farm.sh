#!/bin/bash
# Images per hour of a spiking evaluation (README, "A Dask cluster"): val images 2-9 of ../shared at 300
# steps, float32, vmem-late, after a one-image warm-up that builds the binary (timed apart):
# serial (--threads 2) vs --workers 2 --threads 1 vs --workers 1 --threads 2. Run it alone on the machine.
#   bash analysis/yolov3-tiny/bench-farm.sh MODEL.h5      (e.g. runs/yolov3-tiny-precision/model.h5 after that run)
set -euo pipefail
cd "$(dirname "$0")/.."
M=${1:?usage: bash analysis/yolov3-tiny/bench-farm.sh MODEL.h5}
V=../shared/data/coco-val2017-first128
common="--images $V/images --labels $V/labels --mode snn --steps 300 --checkpoints 100,150,200,300 --decode vmem-late --float32 -q"
T=$(mktemp -d /tmp/brainyolo-farmbench-XXXX)
for mode in "serial:--threads 2" "w2t1:--workers 2 --threads 1" "w1t2:--workers 1 --threads 2"; do
  name=${mode%%:*}; opts=${mode#*:}
  s=$(date +%s.%N); .venv/bin/brainyolo evaluate "$M" $common --count 1 $opts -o "$T/$name" > /dev/null
  e=$(date +%s.%N); echo "$name warm-up (build if not cached, 1 image): $(echo "$e - $s" | bc) s"
  s=$(date +%s.%N); .venv/bin/brainyolo evaluate "$M" $common --count 9 $opts -o "$T/$name" > /dev/null
  e=$(date +%s.%N); w=$(echo "$e - $s" | bc)
  echo "$name 8 images (2-9, resumed after image 1): $w s -> $(echo "8 * 3600 / $w" | bc -l | cut -c1-6) images/hour"
done
rm -rf "$T"
