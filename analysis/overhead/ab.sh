#!/usr/bin/env bash
# The same multi-photo detection with an earlier commit's brainyolo and with this checkout's, in turn, twice.
#   analysis/overhead/ab.sh REV MODEL OUT PHOTO [PHOTO ...] [-- DETECT_OPTION ... [-- NOW_OPTION ...]]
# REV is checked out into OUT/before (git worktree) and run from there with this checkout's .venv (PYTHONPATH puts REV's
# brainyolo first on sys.path, also for the binary's wrapper, which Brian2 starts in the build folder);
# each run: brainyolo detect MODEL PHOTOS --mode snn --threshold 0.005 --profile and the options after --
# (default --steps 50), the build cache in OUT/cache, warmed first by both. MODEL: a model file, or a shipped
# detector's name. Options after a second -- are this checkout's runs' only (REV HEAD: the same code with and without
# them). Prints the per-image stages of the four runs (profile.json), their recordings' sizes and content checksums
# side by side.
set -euo pipefail
REV=$1; MODEL=$2; [ -e "$MODEL" ] && MODEL=$(realpath "$MODEL"); mkdir -p "$3"; OUT=$(realpath "$3"); shift 3
ARGS=(); OPTIONS=(--steps 50); NOW_OPTIONS=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do ARGS+=("$1"); shift; done
if [ $# -gt 0 ]; then
  shift; OPTIONS=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do OPTIONS+=("$1"); shift; done
  [ ${#OPTIONS[@]} -gt 0 ] || OPTIONS=(--steps 50)  # (-- -- NOW_OPTION ...: the default for both)
  if [ $# -gt 0 ]; then shift; NOW_OPTIONS=("$@"); fi
fi
set -- "${ARGS[@]}"
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
if [ -d "$OUT/before" ] && [ "$(git -C "$OUT/before" rev-parse HEAD)" != "$(git -C "$REPO" rev-parse "$REV^{commit}")" ]; then
  echo "ab.sh: $OUT/before holds another commit than $REV: give another OUT" >&2; exit 2
fi
[ -d "$OUT/before" ] || git -C "$REPO" worktree add --detach "$OUT/before" "$REV" > /dev/null
trap 'git -C "$REPO" worktree remove --force "$OUT/before"' EXIT  # the checkout of REV goes, the runs stay
export BRAINYOLO_CACHE="$OUT/cache"
run() { local name=$1; shift; "$@" detect "$MODEL" "${PHOTOS[@]}" --mode snn --threshold 0.005 --profile \
        "${OPTIONS[@]}" -o "$OUT/$name" -q > "$OUT/$name.txt"; }
before() { (cd "$OUT/before" && PYTHONPATH="$OUT/before${PYTHONPATH:+:$PYTHONPATH}" python -m brainyolo "$@"); }  # (the binary's wrapper too)
now() { python -m brainyolo "$@" ${NOW_OPTIONS[@]+"${NOW_OPTIONS[@]}"}; }
PHOTOS=("$(realpath "$1")")
run warm-before before; run warm-now now  # the builds, not counted
PHOTOS=()
for photo in "$@"; do PHOTOS+=("$(realpath "$photo")"); done
for round in 1 2; do run "before$round" before; run "now$round" now; done
python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
runs = {n: json.loads((out / n / "profile.json").read_text()) for n in ("before1", "now1", "before2", "now2")}
stages = sorted({s for p in runs.values() for s in p["stages"]}, key=lambda s: -runs["before1"]["stages"].get(s, 0))
print("| seconds per image | " + " | ".join(runs) + " |")
print("| --- |" + " ---: |" * len(runs))
for stage in stages + ["other"]:
    cells = [(p["other_seconds"] if stage == "other" else p["stages"].get(stage, 0.0)) / p["images"] for p in runs.values()]
    print(f"| {stage} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
print("| **wall** (all images) | " + " | ".join(f"**{p['wall_seconds']:.1f}**" for p in runs.values()) + " |")
print("| not simulation | " + " | ".join(f"{1 - p['stages'].get('simulation', 0.0) / p['wall_seconds']:.0%}"
                                       for p in runs.values()) + " |")
files = [out / n / "run" / "recordings.h5" for n in runs]
print("| recordings.h5 (MB) | " + " | ".join(f"{f.stat().st_size / 1e6:.1f}" if f.exists() else "-" for f in files)
      + " |")


def content(path):  # the file's own checksum of its content (root attribute content_sha256), first 16 digits
    import h5py

    with h5py.File(path, "r") as f:
        return str(f.attrs.get("content_sha256", "-"))[:16]


print("| recordings.h5 content_sha256 (first 16 hex digits) | "
      + " | ".join(content(f) if f.exists() else "-" for f in files) + " |")


def same(path_a, path_b):  # every dataset of the images equal, one at a time, integers widened (counts are narrow)
    import h5py
    import numpy as np

    def names(f):
        found = []
        f["images"].visititems(lambda name, item: found.append(name) if isinstance(item, h5py.Dataset) else None)
        return found

    def widened(dataset):
        values = dataset[()]
        return values.astype(np.int64) if values.dtype.kind in "iu" else values

    with h5py.File(path_a, "r") as a, h5py.File(path_b, "r") as b:
        return names(a) == names(b) and all(np.array_equal(widened(a["images"][name]), widened(b["images"][name]))
                                            for name in names(a))


if all(f.exists() for f in files):
    print("| the same datasets as before1's, integers compared as int64 | "
          + " | ".join("yes" if same(files[0], f) else "no" for f in files) + " |")
PY
