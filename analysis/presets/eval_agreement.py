"""Agreement of an evaluation's spiking run with its own ANN: AP@0.5 of the SNN's detections at every checkpoint
against the ANN's (score >= 0.25 taken as the truth, as ``brainyolo tune`` does), with the synaptic events per image
by then (x the ANN's 2.78e9 MACs), from one ``brainyolo evaluate --mode snn`` folder (no second run); and at the end
the events into every layer as sent and as they would be with every spike an event of its own (weighted spikes).

    python analysis/presets/eval_agreement.py MODEL.h5 EVAL_DIR IMAGES_DIR
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from brainyolo.convert.model_file import load_model
from brainyolo.convert.tuning import agreement_truths
from brainyolo.readout.evaluation import score

ANN_MACS = 2.78e9


def main(model_path: str, eval_dir: str, images_dir: str) -> None:
    folder = Path(eval_dir)
    records = {p.stem: json.loads(p.read_text()) for p in sorted((folder / "snn_images").glob("*.json"))}
    paths = sorted(p for p in Path(images_dir).iterdir() if p.stem in records)
    by_image = defaultdict(list)
    for record in json.loads((folder / "detections_ann.json").read_text()):
        by_image[record["file_name"]].append(record)
    ann = {}
    for path in paths:
        with Image.open(path) as picture:
            ann[path.name] = (by_image[path.name], picture.size)
    settings = json.loads((folder / "snn_settings.json").read_text())["settings"]
    classes = len(load_model(model_path).graph.class_names)
    truths = agreement_truths(ann, paths, classes)
    print(f"{len(paths)} images, preset {settings['preset']}, {settings['steps']} steps")
    for found in sorted((folder / "checkpoints").glob("detections_t*.json"), key=lambda p: int(p.stem.split("_t")[1])):
        step = found.stem.split("_t")[1]
        events = np.mean([r["conv_events"][step] for r in records.values()])
        ap = score(truths, json.loads(found.read_text()), classes)["mAP50"]
        print(f"  {step:>4} steps: AP@0.5 against the ANN = {ap:.3f}, {events:.3g} synaptic events per image "
              f"({events / ANN_MACS:.2f}x the ANN's MACs)")
    if all("single_spike_events" in r for r in records.values()):  # (runs of 0.13 on)
        sent, single = (np.mean([r[key] for r in records.values()]) for key in ("synaptic_events",
                                                                                  "single_spike_events"))
        print(f"  at the end, into every layer (convolutions, max-pools, relays): {sent:.3g} synaptic events per "
              f"image ({sent / ANN_MACS:.2f}x); with every spike an event of its own {single:.3g} "
              f"({single / ANN_MACS:.2f}x)")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
