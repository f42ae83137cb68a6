"""The tables of analysis/overhead/README.md from the profile.json files ``measure.sh`` and ``scratch.sh`` write.

    python analysis/overhead/table.py OUT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from brainyolo.system.timing import STAGES

RUNS = {"steps40": "1 photo, 40 steps, empty cache", "steps50": "1 photo, 50 steps (after 40)",
        "three": "3 photos, 50 steps", "all": "all photos, 50 steps",
        **{f"{where}{k}": f"evaluate, results {label}, round {k}" for k in (1, 2)
           for where, label in (("disk", "on disk"), ("memory", "in memory"))}}


def main(out: str) -> None:
    profiles = {name: json.loads((Path(out) / name / "profile.json").read_text()) for name in RUNS
                if (Path(out) / name / "profile.json").exists()}
    stages = [s for s in STAGES if any(s in p["stages"] for p in profiles.values())] + ["other"]
    print("| stage (seconds per image) | " + " | ".join(f"{RUNS[n]} ({p['images']})" for n, p in profiles.items())
          + " |")
    print("| --- |" + " ---: |" * len(profiles))
    for stage in stages:
        cells = []
        for p in profiles.values():
            seconds = p["other_seconds"] if stage == "other" else p["stages"].get(stage, 0.0)
            cells.append(f"{seconds / p['images']:.2f}")
        print(f"| {stage} | " + " | ".join(cells) + " |")
    print("| **wall** (all images) | " + " | ".join(f"**{p['wall_seconds']:.1f}**" for p in profiles.values()) + " |")
    print("| not simulation | " + " | ".join(
        f"{1 - p['stages'].get('simulation', 0.0) / p['wall_seconds']:.0%}" for p in profiles.values()) + " |")


if __name__ == "__main__":
    main(*sys.argv[1:])
