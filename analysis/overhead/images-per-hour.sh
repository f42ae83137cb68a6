#!/usr/bin/env bash
# Images per hour of a spiking evaluation at 50 steps (the default preset otherwise): COUNT photos serially (one
# process, the OpenMP threads of every usable core) and on a local Dask cluster of 2 workers x 1 thread, each after a
# one-photo warm-up that builds its binary (not counted); prints the table of analysis/overhead/README.md.
#   analysis/overhead/images-per-hour.sh MODEL.h5 OUT IMAGES LABELS [COUNT] [-- EVALUATE_OPTION ...]
# COUNT: default 128. The options after -- go to every evaluate, after --steps 50 (not --workers or --scheduler: the
# script chooses where each run runs). OUT: a new or empty folder; OUT/serial and OUT/dask hold each run's
# metrics.json and profile.json. Run it alone on the machine.
set -euo pipefail
usage() { echo "usage: images-per-hour.sh MODEL.h5 OUT IMAGES LABELS [COUNT] [-- EVALUATE_OPTION ...]" >&2; exit 2; }
[ $# -ge 4 ] || usage
MODEL=$1; OUT=$2; IMAGES=$3; LABELS=$4; shift 4
COUNT=128
if [ $# -gt 0 ] && [ "$1" != "--" ]; then COUNT=$1; shift; fi
[[ $COUNT =~ ^[1-9][0-9]*$ ]] || { echo "images-per-hour.sh: COUNT must be a positive whole number, not $COUNT" >&2; exit 2; }
if [ $# -gt 0 ]; then [ "$1" = "--" ] || usage; shift; fi
OPTIONS=("$@")
for option in ${OPTIONS[@]+"${OPTIONS[@]}"}; do
  case $option in --workers|--workers=*|--scheduler|--scheduler=*)
    echo "images-per-hour.sh: $option is the script's to choose (serial and a local Dask cluster)" >&2; exit 2;; esac
done
if [ -e "$OUT" ] && [ -n "$(ls -A "$OUT")" ]; then echo "images-per-hour.sh: $OUT is not empty" >&2; exit 2; fi
mkdir -p "$OUT"
run() { local name=$1 count=$2; shift 2; brainyolo evaluate "$MODEL" --images "$IMAGES" --labels "$LABELS" \
        --count "$count" --mode snn --steps 50 --profile "$@" ${OPTIONS[@]+"${OPTIONS[@]}"} -o "$OUT/$name" -q \
        > "$OUT/$name.txt"; }
run warm-serial 1
run warm-dask 1 --workers 2 --threads 1
run serial "$COUNT"
run dask "$COUNT" --workers 2 --threads 1
python - "$OUT" <<'PY'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
print("| run | images | wall | per image | images per hour | simulation per image | not simulation | mAP@0.5, SNN / ANN |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for name, label in (("serial", "serial, one process"), ("dask", "local Dask cluster, 2 workers x 1 thread")):
    profile = json.loads((out / name / "profile.json").read_text())
    metrics = json.loads((out / name / "metrics.json").read_text())
    images, wall = metrics["images"], profile["wall_seconds"]
    simulation = profile["stages"].get("simulation")  # (a Dask run's stages ran in its workers: not seen here)
    snn = metrics["snn"][max(metrics["snn"], key=int)]["mAP50"]
    print(f"| {label} | {images} | {wall:.1f} s | {wall / images:.2f} s | {3600 * images / wall:.0f} | "
          + (f"{simulation / images:.2f} s | {1 - simulation / wall:.0%}" if simulation else "- | -")
          + f" | {snn:.3f} / {metrics['ann']['mAP50']:.3f} |")
PY
echo "(the serial run's OpenMP threads, one per usable core: $(python -c \
  'from brainyolo.system.machine import usable_cores; print(usable_cores())'))"
