#!/usr/bin/env bash
# A run's results written to the disk against into memory (BRAINYOLO_SCRATCH=off, then the default /dev/shm),
# two rounds in turn, each an evaluation of COUNT photos at 50 steps with --profile (profile.json in its folder):
#   analysis/overhead/scratch.sh MODEL.h5 OUT IMAGES LABELS [COUNT]
set -euo pipefail
MODEL=$1; OUT=$2; IMAGES=$3; LABELS=$4; COUNT=${5:-16}
rm -rf "$OUT"; mkdir -p "$OUT"
run() { local name=$1 scratch=$2; BRAINYOLO_SCRATCH=$scratch brainyolo evaluate "$MODEL" --images "$IMAGES" \
        --labels "$LABELS" --count "$COUNT" --mode snn --steps 50 --profile -o "$OUT/$name" -q > "$OUT/$name.txt"; }
for round in 1 2; do
    run disk$round off
    run memory$round ""
done
python "$(dirname "$0")/table.py" "$OUT"
