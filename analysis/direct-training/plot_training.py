"""Training curves of the two embedded detectors (brainyolo/data/training.json, training-direct.json).

    .venv/bin/python analysis/direct-training/plot_training.py [-o analysis/direct-training/training-curves.png]

Loss per 50 iterations (mean over the batch's images) of the ANN and of the directly trained SNN,
and the SNN's mean spike rate (spikes per neuron and step, all spiking layers).
"""

from __future__ import annotations

import argparse
import json
from importlib import resources
from pathlib import Path


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parser = argparse.ArgumentParser()
    parser.add_argument("-o", "--output", default=str(Path(__file__).parent / "training-curves.png"))
    args = parser.parse_args()
    data = resources.files("brainyolo").joinpath("data")
    ann = json.loads(data.joinpath("training.json").read_text())
    direct = json.loads(data.joinpath("training-direct.json").read_text())
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for report, label in ((ann, "ANN (embedded)"), (direct, f"directly trained SNN (T = {direct['time_steps']})")):
        losses = report["loss_every_50"]
        left.plot([50 * k for k in range(len(losses))], losses, label=f"{label}: {report['seconds'] / 60:.0f} min, "
                  f"mAP@0.5 {report['eval']['mAP50']:.3f}")
    left.set_yscale("log")
    left.set_xlabel("iteration")
    left.set_ylabel("YOLOv3 loss per image")
    left.legend(fontsize=8)
    rates = direct["spike_rate_every_50"]
    right.plot([50 * k for k in range(len(rates))], rates, color="C1")
    right.set_xlabel("iteration")
    right.set_ylabel("spikes per neuron and step")
    right.set_title("directly trained SNN: mean spike rate", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"-> {args.output}")


if __name__ == "__main__":
    main()
