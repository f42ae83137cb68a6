"""Is a dip of the mAP-vs-steps curve real, or the images' noise? mAP@0.5 at every checkpoint of a
``brainyolo evaluate --mode snn`` run, and a paired bootstrap (:func:`brainyolo.readout.evaluation.paired_bootstrap`,
images drawn with replacement, the same draw for both checkpoints) of each pair of checkpoints named.

    python analysis/presets/curve.py MODEL EVAL_DIR IMAGES LABELS [A:B ...] [--resamples N]

MODEL: the model file evaluated; EVAL_DIR: the evaluate output (``snn_images/*.json``, ``metrics.json``);
IMAGES and LABELS: its images and YOLO labels. ``A:B``: compare checkpoint A with checkpoint B (default:
each with the next).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from brainyolo.ann.letterbox import list_images
from brainyolo.convert.model_file import load_model
from brainyolo.readout.evaluation import coco_map, paired_bootstrap, read_yolo_labels


def checkpoint_records(eval_dir: Path) -> dict[int, list[dict]]:
    """Every image's detections per checkpoint, from ``snn_images/*.json``."""
    records: dict[int, list[dict]] = {}
    for path in sorted((eval_dir / "snn_images").glob("*.json")):
        for step, found in json.loads(path.read_text())["detections"].items():
            records.setdefault(int(step), []).extend(found)
    return dict(sorted(records.items()))


def main(model: str, eval_dir: str, images: str, labels: str, *pairs: str, resamples: int = 100) -> None:
    folder = Path(eval_dir)
    metrics = json.loads((folder / "metrics.json").read_text())
    records = checkpoint_records(folder)
    done = {json.loads(p.read_text())["file_name"] for p in (folder / "snn_images").glob("*.json")}
    paths = [p for p in list_images(Path(images)) if p.name in done]
    classes = len(load_model(model).graph.class_names)
    truths = read_yolo_labels(paths, labels, classes)
    ann = metrics["ann"]["mAP50"]
    print(f"{len(paths)} images, ANN mAP@0.5 {ann:.4f}")
    for step, found in records.items():
        value = coco_map(truths, found, classes)["mAP50"]
        print(f"  {step:>4} steps: mAP@0.5 {value:.4f} ({value / ann:.1%} of the ANN's)")
    steps = list(records)
    chosen = [tuple(int(s) for s in pair.split(":")) for pair in pairs] or list(zip(steps, steps[1:], strict=False))
    for a, b in chosen:
        result = paired_bootstrap(truths, records[b], records[a], classes, resamples)
        inside = result["low"] <= 0 <= result["high"]
        print(f"  {b} - {a} steps: {result['difference']:+.4f} (95 % interval {result['low']:+.4f} .. "
              f"{result['high']:+.4f}, {resamples} paired resamples): "
              + ("within the images' noise" if inside else "beyond the images' noise"))


if __name__ == "__main__":
    arguments = sys.argv[1:]
    count = 100
    if "--resamples" in arguments:
        at = arguments.index("--resamples")
        count = int(arguments[at + 1])
        del arguments[at:at + 2]
    main(*arguments, resamples=count)
