#!/usr/bin/env bash
# How much of the binary's resident memory is in transparent huge pages: one photo's detection (--steps 50), read
# from /proc/PID/smaps_rollup of the running binary 0.7 s after it started, with glibc not asked
# (GLIBC_TUNABLES=glibc.malloc.hugetlb=0) and then with the wrapper's default (GLIBC_TUNABLES unset); the kernel's
# THP settings first.
#   analysis/overhead/resident.sh MODEL.h5 OUT PHOTO
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: resident.sh MODEL.h5 OUT PHOTO" >&2; exit 2; }
MODEL=$1; OUT=$2; PHOTO=$3
mkdir -p "$OUT"
for setting in enabled defrag; do
  echo "/sys/kernel/mm/transparent_hugepage/$setting: $(cat /sys/kernel/mm/transparent_hugepage/$setting)"
done
brainyolo detect "$MODEL" "$PHOTO" --mode snn --steps 50 -o "$OUT/warm" -q > /dev/null  # the build, not read
for tunables in glibc.malloc.hugetlb=0 unset; do
  if [ "$tunables" = unset ]; then
    env -u GLIBC_TUNABLES brainyolo detect "$MODEL" "$PHOTO" --mode snn --steps 50 -o "$OUT/run" -q > /dev/null &
  else
    GLIBC_TUNABLES=$tunables brainyolo detect "$MODEL" "$PHOTO" --mode snn --steps 50 -o "$OUT/run" -q > /dev/null &
  fi
  command=$!
  binary=""
  for _ in $(seq 1 1200); do  # the binary: a child of the wrapper, a child of this detection
    for wrapper in $(pgrep -f brainyolo.spiking.measure -P "$command" || true); do
      binary=$(pgrep -x main -P "$wrapper" || true)
    done
    [ -n "$binary" ] && break
    sleep 0.05
  done
  sleep 0.7
  if [ -z "$binary" ] || [ ! -r "/proc/$binary/smaps_rollup" ]; then
    echo "resident.sh: no running binary found for GLIBC_TUNABLES=$tunables" >&2; wait; exit 1
  fi
  echo "GLIBC_TUNABLES $tunables: $(grep -E '^(Rss|AnonHugePages):' "/proc/$binary/smaps_rollup" | tr -s ' ' \
    | tr '\n' ' ')"
  wait
done
