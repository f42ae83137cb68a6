"""A lesion study: silence each channel of one hidden layer in turn and plot the drop of mAP@0.5.

    .venv/bin/python examples/lesion_study.py -o lesions.png            # 16 scenes, layer 2, 64 steps

The embedded detector in C++ standalone, built once with lesion switches: every run of the study (the
intact network and one per silenced channel, on every scene) reuses that one binary.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after the backend

import brainyolo  # noqa: E402
from brainyolo.data import scenes  # noqa: E402
from brainyolo.readout.evaluation import read_ground_truth, score  # noqa: E402


def map50(detector, paths, truths, silenced=None) -> float:
    """mAP@0.5 of the detector's last checkpoint on ``paths``, with ``silenced`` lesions."""
    records = []
    for path in paths:
        run = detector.run(path, silenced=silenced)
        records += run.detections[max(run.detections)].records(Path(path).name, scenes.CLASS_NAMES)
    return score(truths, records, len(scenes.CLASS_NAMES))["mAP50"]


def main(output: str, count: int = 16, layer: int = 2, steps: int = 64, channels: int | None = None,
         device: str = "cpp_standalone") -> dict:
    """Run the study; write the figure to ``output``; return ``{"intact": mAP, channel: mAP, ...}``."""
    with tempfile.TemporaryDirectory() as folder:
        paths = scenes.write_scenes(folder, count, seed=4343)
        truths = read_ground_truth(paths, scenes.CLASS_NAMES, labels=Path(folder) / "labels")
        with brainyolo.SpikingDetector("embedded", steps=steps, checkpoints=(), device=device,
                                       lesions=True) as detector:
            shape = detector.model.graph.shapes()[layer]
            result = {"intact": map50(detector, paths, truths)}
            for channel in range(shape[0] if channels is None else channels):
                result[channel] = map50(detector, paths, truths, {layer: [channel]})
    drops = [result["intact"] - result[c] for c in result if c != "intact"]
    figure, axis = plt.subplots(figsize=(7, 3.5))
    axis.bar(range(len(drops)), drops, color="tab:red")
    axis.set(xlabel=f"channel of layer {layer} silenced", ylabel="mAP@0.5 drop",
             title=f"lesions, {count} scenes, {steps} steps (intact mAP@0.5 {result['intact']:.3f})")
    figure.tight_layout()
    figure.savefig(output, dpi=100)
    plt.close(figure)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--output", default="lesions.png")
    parser.add_argument("--scenes", type=int, default=16)
    parser.add_argument("--layer", type=int, default=2)
    parser.add_argument("--steps", type=int, default=64)
    args = parser.parse_args()
    print(main(args.output, args.scenes, args.layer, args.steps))
