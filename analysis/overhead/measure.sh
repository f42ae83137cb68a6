#!/usr/bin/env bash
# Where a spiking detection's wall time goes (issue: compile once, no overhead around the simulation).
#   analysis/overhead/measure.sh MODEL.h5 OUT PHOTO1 PHOTO2 PHOTO3 [PHOTO ...]
# An empty build cache in OUT/cache; then, each with --profile (profile.json in its folder):
#   steps40: one photo at 40 steps (the build), steps50: the same at 50 steps (one binary for both),
#   three: three photos at 50 steps (warm cache), all: every photo given at 50 steps (a multi-image run).
set -euo pipefail
MODEL=$1; OUT=$2; shift 2
rm -rf "$OUT"; mkdir -p "$OUT"
export BRAINYOLO_CACHE="$OUT/cache"
run() { local name=$1; shift; brainyolo detect "$MODEL" "$@" --mode snn --threshold 0.005 --profile -o "$OUT/$name" -q \
        > "$OUT/$name.txt"; }
run steps40 "$1" --steps 40
run steps50 "$1" --steps 50
run three "$1" "$2" "$3" --steps 50
run all "$@" --steps 50
python "$(dirname "$0")/table.py" "$OUT"
