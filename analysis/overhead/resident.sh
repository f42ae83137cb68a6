#!/usr/bin/env bash
# How much of the binary's resident memory is in transparent huge pages: one photo's detection (--steps 50), read
# from /proc/PID/smaps_rollup of the running binary 0.7 s after it started, without and then with the wrapper's
# default (GLIBC_TUNABLES=glibc.malloc.hugetlb=0, then unset).
#   analysis/overhead/resident.sh MODEL.h5 OUT PHOTO
set -euo pipefail
MODEL=$1; OUT=$2; PHOTO=$3
mkdir -p "$OUT"
brainyolo detect "$MODEL" "$PHOTO" --mode snn --steps 50 -o "$OUT/warm" -q > /dev/null  # the build, not read
for tunables in glibc.malloc.hugetlb=0 ""; do
  GLIBC_TUNABLES=$tunables brainyolo detect "$MODEL" "$PHOTO" --mode snn --steps 50 -o "$OUT/run" -q > /dev/null &
  pid=""
  for _ in $(seq 1 600); do pid=$(pgrep -n -x main || true); [ -n "$pid" ] && break; sleep 0.05; done
  sleep 0.7
  echo "GLIBC_TUNABLES=${tunables:-(unset: the wrapper's default)}: $(grep -E '^(Rss|AnonHugePages):' \
    "/proc/$pid/smaps_rollup" | tr -s ' ' | tr '\n' ' ')"
  wait
done
