#!/usr/bin/env bash
# A serial spiking evaluation with an earlier commit's brainyolo and with this checkout's, in turn, twice (before,
# now, now, before), each commit's binary built first by a one-photo warm-up (not counted); prints images per hour
# and the time outside the simulation per image of the four runs.
#   analysis/overhead/evaluate-ab.sh REV MODEL OUT IMAGES LABELS [COUNT] [-- EVALUATE_OPTION ...]
# COUNT: default 128. Each run: brainyolo evaluate MODEL --images IMAGES --labels LABELS --count COUNT --mode snn
# --steps 50 --profile and the options after -- (both commits; not --workers or --scheduler: the runs are serial).
# REV is checked out into OUT/before (git worktree, removed at the end) and run from there with this checkout's
# .venv; the build cache is OUT/cache. OUT: a new or empty folder; OUT/<run> holds each run's metrics.json and
# profile.json. Run it alone on the machine.
set -euo pipefail
usage() { echo "usage: evaluate-ab.sh REV MODEL OUT IMAGES LABELS [COUNT] [-- EVALUATE_OPTION ...]" >&2; exit 2; }
[ $# -ge 5 ] || usage
REV=$1; MODEL=$2; OUT=$3; IMAGES=$4; LABELS=$5; shift 5
COUNT=128
if [ $# -gt 0 ] && [ "$1" != "--" ]; then COUNT=$1; shift; fi
[[ $COUNT =~ ^[1-9][0-9]*$ ]] || { echo "evaluate-ab.sh: COUNT must be a positive whole number, not $COUNT" >&2; exit 2; }
if [ $# -gt 0 ]; then [ "$1" = "--" ] || usage; shift; fi
OPTIONS=("$@")
for option in ${OPTIONS[@]+"${OPTIONS[@]}"}; do
  case $option in --workers|--workers=*|--scheduler|--scheduler=*)
    echo "evaluate-ab.sh: $option: the runs are serial" >&2; exit 2;; esac
done
if [ -e "$OUT" ] && [ -n "$(ls -A "$OUT")" ]; then echo "evaluate-ab.sh: $OUT is not empty" >&2; exit 2; fi
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
git -C "$REPO" rev-parse --verify --quiet "$REV^{commit}" > /dev/null || { echo "evaluate-ab.sh: $REV is no commit" >&2; exit 2; }
[ -e "$MODEL" ] && MODEL=$(realpath "$MODEL")
mkdir -p "$OUT"; OUT=$(realpath "$OUT"); IMAGES=$(realpath "$IMAGES"); LABELS=$(realpath "$LABELS")
git -C "$REPO" worktree add --detach "$OUT/before" "$REV" > /dev/null
trap 'git -C "$REPO" worktree remove --force "$OUT/before"' EXIT  # the checkout of REV goes, the runs stay
export BRAINYOLO_CACHE="$OUT/cache"
before() { (cd "$OUT/before" && PYTHONPATH="$OUT/before${PYTHONPATH:+:$PYTHONPATH}" python -m brainyolo "$@"); }
now() { python -m brainyolo "$@"; }
run() { local name=$1 count=$2; shift 2; "$@" evaluate "$MODEL" --images "$IMAGES" --labels "$LABELS" \
        --count "$count" --mode snn --steps 50 --profile ${OPTIONS[@]+"${OPTIONS[@]}"} -o "$OUT/$name" -q \
        > "$OUT/$name.txt"; }
run warm-before 1 before; run warm-now 1 now  # the builds, not counted
run before1 "$COUNT" before; run now1 "$COUNT" now; run now2 "$COUNT" now; run before2 "$COUNT" before
python - "$OUT" <<'PY'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
print("| run | images | wall | images per hour | simulation per image | not simulation per image | not simulation "
      "| mAP@0.5, SNN / ANN |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for name in ("before1", "now1", "now2", "before2"):
    profile = json.loads((out / name / "profile.json").read_text())
    metrics = json.loads((out / name / "metrics.json").read_text())
    images, wall, simulation = metrics["images"], profile["wall_seconds"], profile["stages"]["simulation"]
    snn = metrics["snn"][max(metrics["snn"], key=int)]["mAP50"]
    print(f"| {name} | {images} | {wall:.1f} s | {3600 * images / wall:.0f} | {simulation / images:.2f} s | "
          f"{(wall - simulation) / images:.2f} s | {1 - simulation / wall:.0%} | {snn:.3f} / {metrics['ann']['mAP50']:.3f} |")
PY
