"""Rows of evaluations side by side: mAP@0.5 as % of the uncorrected ANN and synaptic events per image (as a
multiple of the ANN's 2.78e9 MACs) at every checkpoint, from each folder's metrics.json and snn_images/.

    python analysis/fast-and-frugal/bias_table.py EVAL_DIR [EVAL_DIR ...] > summary.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ANN_MACS = 2.78e9


def row(folder: Path, reference: float) -> tuple[str, list[str]]:
    metrics = json.loads((folder / "metrics.json").read_text())
    records = [json.loads(p.read_text()) for p in sorted((folder / "snn_images").glob("*.json"))]
    cells = []
    for step, values in metrics["snn"].items():
        events = np.mean([r["conv_events"][step] for r in records])
        cells.append(f"{step}: {values['mAP50']:.4f} ({100 * values['mAP50'] / reference:.1f} %), "
                     f"{events:.3g} ({events / ANN_MACS:.2f}×)")
    return f"{folder.name} (own ANN {metrics['ann']['mAP50']:.4f})", cells


def main(argv: list[str]) -> int:
    folders = [Path(a) for a in argv]
    reference = json.loads((folders[0] / "metrics.json").read_text())["ann"]["mAP50"]
    print(f"mAP@0.5 (% of {folders[0].name}'s ANN, {reference:.4f}), events per image (× the ANN's MACs), "
          f"{len(list((folders[0] / 'snn_images').glob('*.json')))} images\n")
    for name, cells in (row(f, reference) for f in folders):
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
