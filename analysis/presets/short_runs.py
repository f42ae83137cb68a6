"""How many steps a run needs before ``fast`` beats ``short``: agreement with the ANN's detections (AP@0.5 against its
own detections of score >= 0.25, as ``brainyolo tune`` does) and synaptic events per image (x the ANN's MACs) of both
presets at each step count, on the same images.

``fast`` runs once for the most steps and is read at every step count (its checkpoints); ``short`` is read at its
run's end only, so it runs once per step count (the same binary: the run's length is a run-time input).

    python analysis/presets/short_runs.py MODEL.h5|embedded STEPS[,STEPS...] IMAGE...
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from brainyolo.convert.model_file import load_model
from brainyolo.convert.tuning import ann_agreement_truths
from brainyolo.data.embedded import model_file
from brainyolo.readout.evaluation import score


def ann_macs(graph) -> float:
    """The ANN's multiply-accumulates per image (its convolutions)."""
    from brainyolo.experiments.experiment import operation_costs

    return float(operation_costs(graph)["ann_macs"])


def runs(model_path: str, preset: str, steps: int, checkpoints: tuple[int, ...], paths: list[Path], names,
         device: str = "cpp_standalone"):
    """Per checkpoint: the records of every image and the synaptic events per image."""
    import brainyolo

    found = {c: [] for c in checkpoints}
    events = np.zeros(len(checkpoints))
    with brainyolo.SpikingDetector(model_path, preset, steps=steps, checkpoints=checkpoints, threads=2,
                                   device=device) as detector:
        for path in paths:
            run = detector.run(path)
            for step, detections in run.detections.items():
                found[step].extend(detections.records(path.name, names))
            events += sum(np.asarray(layer["input_events"], float) for layer in run.result.data["layers"].values()
                          if "input_events" in layer)
    return found, events / len(paths)


def main(model_path: str, step_list: str, *images: str, device: str = "cpp_standalone") -> None:
    paths = [Path(p) for p in images]
    counts = sorted({int(s) for s in step_list.split(",")})
    model_path = str(model_file(model_path))  # a shipped detector's name, or a file
    graph = load_model(model_path).graph
    names, classes, macs = graph.class_names, len(graph.class_names), ann_macs(graph)
    truths = ann_agreement_truths(graph, paths)
    rows = {}
    found, events = runs(model_path, "fast", counts[-1], tuple(counts), paths, names, device)
    rows["fast"] = [(score(truths, found[c], classes)["mAP50"], events[k] / macs) for k, c in enumerate(counts)]
    rows["short"] = []
    for steps in counts:
        found, events = runs(model_path, "short", steps, (steps,), paths, names, device)
        rows["short"].append((score(truths, found[steps], classes)["mAP50"], events[-1] / macs))
    print(f"{len(paths)} images, agreement with the ANN (events per image x its {macs:.3g} MACs)")
    print("| preset | " + " | ".join(f"{c} steps" for c in counts) + " |")
    print("| --- |" + " ---: |" * len(counts))
    for preset, cells in rows.items():
        print(f"| {preset} | " + " | ".join(f"{a:.3f} ({e:.2f}x)" for a, e in cells) + " |", flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
