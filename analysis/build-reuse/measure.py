"""How much of a new build the object cache saves: the embedded detector built as five networks in turn
(two input kinds, the paper preset, lesion inputs, float64 membranes), each into an empty build cache,
once with the object cache and once without (``BRAINYOLO_OBJECT_CACHE=off``), at Brian2's own compiler
flags (as users build).

    python analysis/build-reuse/measure.py OUT_DIR

prints the table and writes ``OUT_DIR/build-reuse.json``. Run it alone on the machine: it times builds.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

CASES = (
    ("fast, current input", {}),
    ("fast, poisson input", {"input": "poisson"}),
    ("paper preset", {"preset": "paper"}),
    ("fast, lesion inputs", {"lesions": True}),
    ("fast, float64 membranes", {"float32": False}),
)


def build(options: dict) -> dict:
    import brian2

    from brainyolo import SpikingDetector

    options = dict(options)
    preset = options.pop("preset", "fast")
    # checkpoints given: a 2-step run keeps fast's own network (without them fast hands it to short)
    with SpikingDetector("embedded", preset, steps=2, checkpoints=(), threads=2, **options) as detector:
        started = time.perf_counter()
        detector.build()
        seconds = time.perf_counter() - started
        cache = brian2.get_device().last_object_cache
        return {"build_seconds": detector._simulator._runner.build_seconds, "network_seconds": seconds,
                "sources": len(cache.sources) if cache is not None else 0,
                "restored": len(cache.restored) if cache is not None else 0}


def sequence(object_cache: bool, root: Path, cases) -> list[dict]:
    os.environ["BRAINYOLO_CACHE"] = str(root)
    if object_cache:
        os.environ.pop("BRAINYOLO_OBJECT_CACHE", None)
    else:
        os.environ["BRAINYOLO_OBJECT_CACHE"] = "off"
    from brainyolo.data.embedded import converted_embedded

    converted_embedded()  # the model conversion is not part of any build
    return [build(options) for _, options in cases]


def main(out: Path, cases=CASES, baseline=None) -> list[dict]:
    """Build ``cases`` in turn with the object cache, then the ``baseline`` ones (default: all) without it."""
    baseline = cases if baseline is None else baseline
    out.mkdir(parents=True, exist_ok=True)
    saved = {name: os.environ.get(name) for name in ("BRAINYOLO_CACHE", "BRAINYOLO_OBJECT_CACHE")}
    try:
        with tempfile.TemporaryDirectory() as work:
            on = sequence(True, Path(work) / "on", cases)
            off = dict(zip([name for name, _ in baseline], sequence(False, Path(work) / "off", baseline), strict=True))
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)
    rows = [{"case": name, "with": a, "without": off.get(name)} for (name, _), a in zip(cases, on, strict=True)]
    (out / "build-reuse.json").write_text(json.dumps(rows, indent=1) + "\n")
    print("| build (in turn, empty build cache) | sources | restored | build s, object cache | build s, without "
          "| ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        a, b = row["with"], row["without"]
        without = f"{b['build_seconds']:.1f} | {a['build_seconds'] / b['build_seconds']:.2f}" if b else "– | –"
        print(f"| {row['case']} | {a['sources']} | {a['restored']} | {a['build_seconds']:.1f} | {without} |")
    if all(row["without"] for row in rows):
        total_on = sum(r["with"]["build_seconds"] for r in rows)
        total_off = sum(r["without"]["build_seconds"] for r in rows)
        print(f"| all {len(rows)} | | | {total_on:.1f} | {total_off:.1f} | {total_on / total_off:.2f} |")
    return rows


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
