"""Conv12's time per step for several gather block sizes against the row bands, two rounds in turn.

    python analysis/yolov3-tiny/gather_blocks.py [VARIANT ...]     (default: bands 64 128 256; e.g. 24)

yolov3-tiny as ``brainyolo benchmark`` converts it (../shared), the ``paper`` configuration, 300 steps, 2 threads,
Brian2's code-object timers; a number sets :data:`brainyolo.spiking.connections.GATHER_BLOCK` (every gathered
convolution), ``bands`` builds every convolution with row bands. Prints per run the loop's ms per step, conv12, 10,
14 and 21, and layer 0's neurons (no convolution of theirs changes: the round's noise).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import brainyolo.spiking.connections as connections
from brainyolo.analysis.benchmark import _benchmark_model, layer_profile
from brainyolo.ann.letterbox import list_images
from brainyolo.detector import SpikingDetector
from brainyolo.spiking.settings import BuildOptions
from brainyolo.spiking.simulate import SimulationSettings

SHARED = Path(__file__).resolve().parents[3] / "shared"
STEPS = 300


def main(variants: list[str]) -> None:
    cfg = SHARED / "models" / "yolov3-tiny" / "yolov3-tiny.cfg"
    weights = SHARED / "models" / "yolov3-tiny" / "yolov3-tiny.weights"
    images = SHARED / "data" / "coco-train2017-first128" / "images"
    path = list_images(images)[0]
    default_block = connections.GATHER_BLOCK
    with tempfile.TemporaryDirectory() as tmp:
        model = _benchmark_model(cfg, weights, images, tmp)
        for round_ in range(2):
            for variant in variants:
                connections.GATHER_BLOCK = default_block if variant == "bands" else int(variant)
                build = BuildOptions(scatter="bands" if variant == "bands" else "auto")
                settings = SimulationSettings(steps=STEPS, device="cpp_standalone", threads=2, profile=True,
                                              build=build)
                with SpikingDetector.from_settings(model, settings) as detector:
                    detector.run(path)  # the build, and a warm-up run
                    result = detector.run(path).result
                layers, _ = layer_profile(result.timing["profile"])
                ms = {i: 1e3 * entry["connection"] / STEPS for i, entry in layers.items()}
                print(f"round {round_} {variant:>5}: loop {1e3 * result.timing['run_seconds'] / STEPS:.1f} ms/step; "
                      f"conv12 {ms[12]:.2f} conv10 {ms[10]:.2f} conv14 {ms[14]:.2f} conv21 {ms[21]:.2f}; "
                      f"layer 0's neurons {1e3 * layers[0]['neurons'] / STEPS:.2f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["bands", "64", "128", "256"])
