"""The README's directly-trained-vs-converted table from analysis/direct-training/direct-vs-converted.sh's folders.

    python analysis/direct-training/direct_table.py runs/direct-vs-converted

Per row: mAP@0.5 and mAP (pycocotools, the evaluation's metrics.json), synaptic events per image
delivered by the convolutions (the evaluation's per-image records), and the energy per image of the
analysis module's Table 2 accounting (image convolution MACs + synaptic and bias accumulates,
Horowitz 45 nm) over the embedded ANN's (its MACs), int32 and float32.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from brainyolo.ann.letterbox import list_images
from brainyolo.convert.model_file import load_model
from brainyolo.data.embedded import model_file
from brainyolo.experiments.experiment import conv_events_per_image, energy_ratios, operation_costs


def main(out: Path) -> None:
    paths = list_images(out / "scenes" / "images")
    ann_model = load_model(model_file("embedded"))
    ann_macs = operation_costs(ann_model.graph)["ann_macs"]
    metrics = json.loads((out / "converted-delayed" / "metrics.json").read_text())
    ann = metrics["ann"]
    print(f"{len(paths)} scenes ({out / 'scenes'}); embedded ANN: mAP@0.5 {ann['mAP50']:.3f}, mAP {ann['mAP']:.3f}, "
          f"{ann_macs:.3g} MACs per image\n")
    print("| detector | steps | mAP@0.5 | mAP | % of the ANN's mAP@0.5 | synaptic events per image "
          "| int32 / float32 energy vs the ANN |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(f"| embedded ANN | – | {ann['mAP50']:.3f} | {ann['mAP']:.3f} | 100 % | – | 1 / 1 |")
    for folder, label, model in (("converted-delayed", "converted SNN (delayed)", ann_model),
                                 ("converted-same-step", "converted SNN (same-step)", ann_model),
                                 ("direct", "directly trained SNN", load_model(model_file("embedded-direct")))):
        if not (out / folder / "metrics.json").exists():
            continue
        snn = json.loads((out / folder / "metrics.json").read_text())["snn"]
        events = conv_events_per_image(out / folder, paths)
        costs = {**operation_costs(model.graph), "ann_macs": ann_macs}
        for step, m in snn.items():
            ratios = energy_ratios(costs, events.get(step, 0.0), int(step))
            print(f"| {label} | {step} | {m['mAP50']:.3f} | {m['mAP']:.3f} | {m['mAP50'] / ann['mAP50']:.1%} | "
                  f"{events.get(step, float('nan')):.3g} | {ratios['int32']:.2f} / {ratios['float32']:.2f} |")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/direct-vs-converted"))
