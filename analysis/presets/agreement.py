"""Agreement of a spiking run with its ANN: AP@0.5 of the SNN's detections against the ANN's own
(score >= 0.25 taken as the truth, as ``brainyolo tune`` does), and synaptic events per image.

    python analysis/presets/agreement.py DETECT_ANN_DIR DETECT_SNN_DIR PHOTO ...

DETECT_ANN_DIR: ``brainyolo detect MODEL PHOTO ... --threshold 0.005 -o DIR`` (the ANN);
DETECT_SNN_DIR: ``brainyolo detect MODEL PHOTO ... --mode snn --threshold 0.005 -o DIR`` (a preset).
Prints AP@0.5 at every checkpoint of the SNN run and its synaptic events per image by then.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from brainyolo.convert.model_file import load_model
from brainyolo.convert.tuning import agreement_truths
from brainyolo.readout.evaluation import score


def main(ann_dir: str, snn_dir: str, *photos: str) -> None:
    paths = [Path(p) for p in photos]
    by_image = defaultdict(list)
    for record in json.loads((Path(ann_dir) / "detections.json").read_text()):
        by_image[record["file_name"]].append(record)
    ann = {}
    for path in paths:
        with Image.open(path) as picture:
            ann[path.name] = (by_image[path.name], picture.size)
    info = json.loads((Path(snn_dir) / "run" / "run_info.json").read_text())
    classes = len(load_model(info["model_file"]).graph.class_names)
    truths = agreement_truths(ann, paths, classes)
    print(f"{len(paths)} photos, preset {info['preset']}, {info['steps']} steps, "
          f"{info['synaptic_events'] / len(paths):.3g} synaptic events per image")
    with h5py.File(Path(snn_dir) / "run" / "recordings.h5", "r") as f:
        checkpoints = [int(c) for c in f.attrs["checkpoints"]]
        events = sum(np.asarray(layer["input_events"][:], np.float64) for image in f["images"].values()
                     for layer in image["layers"].values() if "input_events" in layer) / len(f["images"])
    by_step = dict(zip(checkpoints, events, strict=True))
    for found in sorted((Path(snn_dir) / "checkpoints").glob("detections_t*.json"),
                        key=lambda p: int(p.stem.split("_t")[1])):
        step = found.stem.split("_t")[1]
        ap = score(truths, json.loads(found.read_text()), classes)["mAP50"]
        print(f"  {step:>4} steps: AP@0.5 against the ANN = {ap:.3f}, "
              f"{by_step[int(step)]:.3g} synaptic events per image")


if __name__ == "__main__":
    main(*sys.argv[1:])
