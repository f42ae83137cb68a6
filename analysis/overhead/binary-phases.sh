#!/usr/bin/env bash
# The binary's phases per image, from strace's timestamps of its execve, openat and exit_group calls: a 3-photo
# evaluate at 50 steps (the binary built by a one-photo warm-up first, not traced). Per binary run: its start to the
# first static array it opens (allocating and zeroing the arrays), the static arrays, their end to the first result
# file (the run's arguments and the simulation), the result files; and the binary's wrapper's start to the binary's.
# strace slows the run (the simulation most): read the phases against each other, not against other tables.
#   analysis/overhead/binary-phases.sh MODEL.h5 OUT IMAGES LABELS
set -euo pipefail
MODEL=$1; OUT=$2; IMAGES=$3; LABELS=$4
mkdir -p "$OUT"
common=(--images "$IMAGES" --labels "$LABELS" --mode snn --steps 50 -q)
brainyolo evaluate "$MODEL" "${common[@]}" --count 1 -o "$OUT/warm" > /dev/null
strace -f -tt -s 4096 -e trace=execve,exit_group,openat,clone,clone3,vfork -o "$OUT/strace.txt" \
  brainyolo evaluate "$MODEL" "${common[@]}" --count 3 -o "$OUT/traced" > /dev/null
python - "$OUT/strace.txt" <<'PY'
import re
import sys

lines = open(sys.argv[1]).read().splitlines()


def seconds(line):
    hours, minutes, secs = line.split()[1].split(":")
    return 3600 * int(hours) + 60 * int(minutes) + float(secs)


parents = {}  # a child's pid -> the pid that cloned it (the call's line, or its "resumed" line)
for line in lines:
    found = re.search(r" (?:clone3?|vfork)(?:\(| resumed>).*= (\d+)$", line)
    if found:
        parents[found.group(1)] = line.split()[0]
wrappers = {line.split()[0]: seconds(line) for line in lines
            if "execve(" in line and "brainyolo.spiking.measure" in line}
binaries = [line.split()[0] for line in lines if 'execve("./main"' in line]
print("| seconds (under strace) | wrapper to binary | binary start to first static array | static arrays | "
      "run's arguments and simulation | result files |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for k, pid in enumerate(binaries):
    own = [line for line in lines if line.startswith(pid + " ")]
    start = seconds(next(line for line in own if 'execve("./main"' in line))
    static = [seconds(line) for line in own if "openat(" in line and '"static_arrays/' in line]
    # (since 0.15.1 the run's input arrays are read from inputs/ of its results folder: not results)
    results = [seconds(line) for line in own if "openat(" in line and "/results/" in line and "/inputs/" not in line]
    wrapper = wrappers[parents[pid]]
    print(f"| image {k + 1} | {start - wrapper:.3f} | {static[0] - start:.3f} | {static[-1] - static[0]:.3f} | "
          f"{results[0] - static[-1]:.3f} | {results[-1] - results[0]:.3f} |")
PY
