"""Score an evaluate folder's per-image detections (``snn_images/*.json``) at every checkpoint, keeping per
image and class the 100 highest-scoring detections — exactly what pycocotools scores (maxDets 100 per
image and category) — so that a run whose early checkpoints hold ~10^5 low-score boxes per image (the
``paper`` preset at 16 steps: its output layer holds only the bias yet) is scored in bounded memory.
Writes ``OUT`` in the form of ``metrics.json`` (``images``, ``ann`` copied from ``ANN_METRICS``, ``snn``).

    python analysis/presets/rescore.py EVAL_DIR IMAGES LABELS MODEL ANN_METRICS OUT
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

from brainyolo.ann.letterbox import list_images
from brainyolo.convert.model_file import load_model
from brainyolo.readout.evaluation import coco_map, read_yolo_labels

KEEP = 100


def capped(records: list[dict]) -> list[dict]:
    """The ``KEEP`` highest-scoring records per (image, class)."""
    groups = defaultdict(list)
    for record in records:
        groups[(record["file_name"], record["category_id"])].append(record)
    return [r for group in groups.values() for r in sorted(group, key=lambda r: -r["score"])[:KEEP]]


def main(eval_dir: str, images: str, labels: str, model: str, ann_metrics: str, out: str) -> None:
    per_step: dict[str, list[dict]] = defaultdict(list)
    files = sorted(Path(eval_dir, "snn_images").glob("*.json"))
    names = set()
    for path in files:
        image = json.loads(path.read_text())
        names.add(image["file_name"])
        for step, found in image["detections"].items():
            per_step[step].extend(capped(found))
    classes = len(load_model(model).graph.class_names)
    truths = read_yolo_labels([p for p in list_images(Path(images)) if p.name in names], labels, classes)
    snn = {step: coco_map(truths, found, classes) for step, found in sorted(per_step.items(), key=lambda i: int(i[0]))}
    ann = json.loads(Path(ann_metrics).read_text())["ann"]
    Path(out).write_text(json.dumps({"images": len(files), "ann": ann, "snn": snn}, indent=1))
    for step, scores in snn.items():
        print(f"{step:>4} steps: mAP@0.5 {scores['mAP50']:.4f} ({scores['mAP50'] / ann['mAP50']:.1%} of the ANN's)")


if __name__ == "__main__":
    main(*sys.argv[1:])
