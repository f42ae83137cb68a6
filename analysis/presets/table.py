"""The presets table: mAP@0.5 as % of the ANN's at every checkpoint, and synaptic events per image
against the ANN's multiply-accumulates, from ``brainyolo evaluate --mode snn`` output folders.

    python analysis/presets/table.py NAME=EVALUATE_DIR ... [--macs 2.78e9]

Prints one markdown row per folder (its metrics.json and snn_images/*.json).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def row(name: str, folder: Path, macs: float) -> str:
    metrics = json.loads((folder / "metrics.json").read_text())
    ann = metrics["ann"]["mAP50"]
    done = [json.loads(p.read_text()) for p in sorted((folder / "snn_images").glob("*.json"))]
    cells = []
    for step, scores in sorted(metrics["snn"].items(), key=lambda item: int(item[0])):
        events = sum(d["conv_events"][step] for d in done) / len(done)
        cells.append(f"{step}: {100 * scores['mAP50'] / ann:.1f} % ({events / macs:.2f}× MACs)")
    return f"| {name} | {metrics['images']} | {ann:.4f} | " + " · ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="NAME=EVALUATE_DIR")
    parser.add_argument("--macs", type=float, default=2.78e9, help="the ANN's MACs per image (yolov3-tiny: 2.78e9)")
    args = parser.parse_args()
    print("| preset | images | ANN mAP@0.5 | steps: SNN mAP@0.5 as % of the ANN's (events per image / ANN MACs) |")
    print("| --- | ---: | ---: | --- |")
    for run in args.runs:
        name, _, folder = run.partition("=")
        print(row(name, Path(folder), args.macs))


if __name__ == "__main__":
    main()
