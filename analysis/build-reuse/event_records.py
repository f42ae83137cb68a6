"""The build of a burst network with two Brian2 monitors per event space against one record per layer.

A run of the default configuration at 16 steps runs the preset ``short``, whose neuron sends bursts of up to 8
spikes a step: 16 event spaces per layer. Recorded by an ``EventMonitor`` of the sampled neurons and a
``PopulationRateMonitor`` of each space, that is 32 code objects per layer to generate and compile; one
``LayerEventRecord`` per layer reads them all. This script runs the same ``brainyolo detect`` (one image,
``--steps 16``) from two source trees, one after the other, each into an empty build cache without the object
cache, and prints the build seconds, the C++ sources built and whether the two recordings are equal.

    git worktree add /tmp/before BEFORE_COMMIT
    python analysis/build-reuse/event_records.py /tmp/before OUT_DIR [MODEL.h5 IMAGE]...

(It also times any other change to the default at 16 steps: bursts as binary-weighted events, 0.10.)

Without MODEL/IMAGE pairs it builds the embedded detector on a generated scene.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

HERE = Path(__file__).resolve().parents[2]
STEPS = 16


COUNTS = ("positive_count", "negative_count", "positive_events", "negative_events")
"""Per-neuron counts: int8 or int16 where they fit (int16 from 0.13.1 to 0.15.0), int32 before; compared as int32."""


def datasets(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of a recordings file by its path (counts as int32, whatever their stored type)."""
    found = {}

    def keep(name, item) -> None:
        if isinstance(item, h5py.Dataset):
            found[name] = item[()].astype(np.int32) if name.rsplit("/", 1)[-1] in COUNTS else item[()]

    with h5py.File(path) as f:
        f.visititems(keep)
    return found


def detect(tree: Path, model: str, image: str, out: Path) -> dict:
    """``brainyolo detect`` run from ``tree`` (its own package: ``python -m`` imports from the working folder)."""
    cache = out / "cache"
    env = {**os.environ, "BRAINYOLO_CACHE": str(cache), "BRAINYOLO_OBJECT_CACHE": "off"}
    subprocess.run([sys.executable, "-m", "brainyolo", "detect", str(Path(model).resolve()) if model != "embedded"
                    else model, str(Path(image).resolve()), "--mode", "snn", "--steps", str(STEPS), "-q",
                    "-o", str(out / "detect")], cwd=tree, env=env, check=True)
    info = json.loads((out / "detect" / "run" / "run_info.json").read_text())
    sources = sum(1 for _ in (cache / "builds").glob("*/code_objects/*.cpp"))
    return {"build_seconds": info["build_seconds"], "sources": sources, "preset": info["preset"],
            "recordings": out / "detect" / "run" / "recordings.h5"}


def main(before: str, out: str, *pairs: str) -> None:
    out = Path(out)
    if not pairs:
        from brainyolo.data.scenes import write_scenes

        (scene,) = write_scenes(out / "scenes", count=1, seed=11)
        pairs = ("embedded", str(scene))
    print(f"brainyolo detect MODEL IMAGE --mode snn --steps {STEPS}; empty build cache, no object cache; "
          f"before: {Path(before).name}")
    print("| model | preset (now) | build s, before | build s, now | ratio | C++ sources (before / now) | "
          "recordings equal |")
    print("| --- | --- | ---: | ---: | ---: | --- | --- |")
    for model, image in zip(pairs[::2], pairs[1::2], strict=True):
        tag = Path(model).stem
        old = detect(Path(before), model, image, out / tag / "before")
        new = detect(HERE, model, image, out / tag / "now")
        a, b = datasets(old["recordings"]), datasets(new["recordings"])
        equal = a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
        print(f"| {tag} | {new['preset']} | {old['build_seconds']:.1f} | {new['build_seconds']:.1f} | "
              f"{new['build_seconds'] / old['build_seconds']:.2f} | {old['sources']} / {new['sources']} | "
              f"{'yes' if equal else 'NO'} ({len(a)} datasets) |", flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 3 or len(sys.argv) % 2 == 0:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
