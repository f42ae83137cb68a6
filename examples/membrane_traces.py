"""Membrane traces and a spike raster of hidden neurons for one image (brainyolo's Python API).

    .venv/bin/python examples/membrane_traces.py -o traces.png

The embedded detector in C++ standalone, one generated scene, 100 steps: the membranes of 5 neurons of
its second convolution (layer 2), the spikes of 160 of its neurons, and the same after silencing
channel 3 of the layer for a second run of the same binary.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after the backend
import numpy as np  # noqa: E402

import brainyolo  # noqa: E402
from brainyolo.data.scenes import write_scenes  # noqa: E402

LAYER, CHANNEL, STEPS = 2, 3, 100
NEURONS = [(0, 5, 5), (1, 10, 20), (2, 20, 10), (CHANNEL, 30, 30), (7, 12, 40)]


def main(output: str, device: str = "cpp_standalone") -> Path:
    with tempfile.TemporaryDirectory() as folder:
        (scene,) = write_scenes(folder, 1, seed=41)
        with brainyolo.SpikingDetector("embedded", steps=STEPS, device=device, lesions=True) as detector:
            trace = detector.record_v(LAYER, NEURONS)
            spikes = detector.record_spikes(LAYER)
            runs = {"intact": detector.run(scene), f"channel {CHANNEL} silenced": detector.run(
                scene, silenced={LAYER: [CHANNEL]})}
    figure, axes = plt.subplots(2, 2, figsize=(11, 6), sharex=True)
    for column, (label, run) in enumerate(runs.items()):
        v = run.recorded(trace)
        for row, neuron in enumerate(NEURONS):
            axes[0, column].plot(np.arange(1, STEPS + 1), v["v"][row], lw=0.8, label=f"(c, y, x) = {neuron}")
        axes[0, column].set(title=f"layer {LAYER}, {label}: membranes", ylabel="v (thresholds)")
        fired = run.recorded(spikes)
        shown = fired["i"] < 160  # the first 10 positions, each with its 16 channels
        axes[1, column].plot(np.round(fired["t"][shown] * 1000) + 1, fired["i"][shown], "|k", ms=3)
        axes[1, column].set(title="spikes of its first 160 neurons", xlabel="time step", ylabel="neuron")
    axes[0, 0].legend(fontsize=7)
    figure.tight_layout()
    out = Path(output)
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--output", default="traces.png")
    parser.add_argument("--device", default="cpp_standalone", choices=("cpp_standalone", "runtime"))
    args = parser.parse_args()
    print(main(args.output, args.device))
