"""The README's event-camera table from analysis/event-cameras/events-table.sh's folders.

    python analysis/event-cameras/events_table.py runs/events-table

Per row: mAP@0.5 and mAP (pycocotools, Gen1 protocol: each box time is one sample, detected from the
250 ms before it), synaptic events per sample delivered by the convolutions (input spikes included),
and the energy per sample in the analysis module's Table 2 accounting (Horowitz 45 nm) over the
event ANN's: the first convolution's MACs are paid once per bin with frames (a new picture per bin),
never with spikes (the events reach it as synaptic events).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from brainyolo.convert.model_file import load_model
from brainyolo.data.embedded import model_file
from brainyolo.experiments.experiment import conv_events_per_image, energy_ratios, operation_costs
from brainyolo.spiking.event_encoding import event_samples

ROWS = (("direct-frames", "directly trained", "frames", "embedded-direct-events"),
        ("direct-counts", "directly trained", "tonic counts", "embedded-direct-events"),
        ("direct-spikes-5", "directly trained", "spikes, 1 step per bin", "embedded-direct-events"),
        ("direct-spikes-250", "directly trained", "spikes, 1 ms steps", "embedded-direct-events"),
        ("converted-frames-300", "converted", "frames, 60 steps per bin", "embedded-events"),
        ("converted-spikes-250", "converted", "spikes, 1 ms steps", "embedded-events"),
        ("converted-spikes-300", "converted", "spikes, 0.83 ms steps", "embedded-events"))


def main(out: Path) -> None:
    samples = event_samples(out / "scenes")
    ann_model = load_model(model_file("embedded-events"))
    ann_macs = operation_costs(ann_model.graph)["ann_macs"]
    ann = None
    for folder, *_ in ROWS:
        path = out / folder / "metrics.json"
        if path.exists() and json.loads(path.read_text())["ann"] is not None:
            ann = json.loads(path.read_text())["ann"]
            break
    print(f"{len(samples)} samples of {out / 'scenes'} (Gen1 protocol: 250 ms window, 5 bins); event ANN (mean of "
          f"the frames): " + (f"mAP@0.5 {ann['mAP50']:.3f}, mAP {ann['mAP']:.3f}, " if ann else "")
          + f"{ann_macs:.3g} MACs per sample\n")
    print("| detector | input | steps | mAP@0.5 | mAP | synaptic events per sample | int32 / float32 energy vs the "
          "event ANN |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    if ann:
        print(f"| event ANN | mean of the frames | – | {ann['mAP50']:.3f} | {ann['mAP']:.3f} | – | 1 / 1 |")
    for folder, detector, encoding, name in ROWS:
        if not (out / folder / "metrics.json").exists():
            continue
        metrics = json.loads((out / folder / "metrics.json").read_text())
        bins = metrics["snn_settings"]["bins"]
        model = load_model(model_file(name))
        costs = {**operation_costs(model.graph), "ann_macs": ann_macs}
        costs["image_macs"] *= 0 if metrics["snn_settings"]["input"] == "spikes" else bins
        events = conv_events_per_image(out / folder, samples)
        for step, m in metrics["snn"].items():
            ratios = energy_ratios(costs, events.get(step, 0.0), int(step))
            print(f"| {detector} | {encoding} | {step} | {m['mAP50']:.3f} | {m['mAP']:.3f} | "
                  f"{events.get(step, float('nan')):.3g} | {ratios['int32']:.2f} / {ratios['float32']:.2f} |")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/events-table"))
