"""``brainyolo demo``: the pipeline end to end on the embedded default model, no download.

Steps: write the embedded model as Darknet files, calibrate on generated scenes, convert to the
HDF5 model file, detect with the ANN, and run the spiking network for a few steps (numpy runtime,
no compiler needed), reporting each layer's firing rates.

Until the trained embedded detector exists (it comes with the spiking decoding work), the embedded
model is the reduced yolov3-tiny architecture of ``data/tiny-yolov3.cfg`` with seeded random
weights: the demo then shows the machinery (Darknet files written and read back, calibration,
conversion, HDF5, detection), not meaningful detections, and its report says so.
"""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path

import numpy as np

from brainyolo import darknet, scenes
from brainyolo.fileio import staged_directory
from brainyolo.modelfile import load_model, save_model
from brainyolo.pictures import draw_detections
from brainyolo.pipeline import ann_detections, convert_darknet

SEED = 2020
SNN_STEPS = 60


def embedded_model(folder: Path) -> tuple[Path, Path, Path]:
    """Write the embedded default model's cfg, weights and names into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "tiny-yolov3.cfg"
    cfg.write_text(resources.files("brainyolo").joinpath("data/tiny-yolov3.cfg").read_text())
    names = folder / "scenes.names"
    names.write_text("\n".join(scenes.CLASS_NAMES) + "\n")
    sections = darknet.read_cfg(cfg)
    graph = darknet.graph_from_sections(sections, cfg)
    flags = darknet.batch_normalize_flags(sections, cfg)
    params = darknet.random_parameters(graph, flags, np.random.default_rng(SEED))
    weights = folder / "tiny-yolov3.weights"
    darknet.write_weights(weights, darknet.WeightsHeader(0, 2, 0, 0), params)
    return cfg, weights, names


def run_demo(out_dir, progress: bool = True) -> dict:
    """Run the demo into ``out_dir``; return the report as a dict (also written as report.json)."""
    started = time.perf_counter()
    with staged_directory(out_dir) as stage:
        cfg, weights, names = embedded_model(stage / "model")
        calib = scenes.write_scenes(stage / "calibration", 16, SEED)
        (picture,) = scenes.write_scenes(stage / "scene", 1, SEED + 1)
        model = convert_darknet(cfg, weights, calib, "channel", 99.9, names,
                                calibration_source="generated scenes", progress=progress)
        save_model(model, stage / "model.h5")
        model = load_model(stage / "model.h5")
        records = []
        for path, detections in ann_detections(model.graph, [picture], threshold=0.25):
            records += detections.records(path.name, model.graph.class_names)
            draw_detections(path, detections, model.graph.class_names, stage / "scene_ann.png",
                            0.25, "ANN (random weights)")
        (stage / "detections.json").write_text(json.dumps(records, indent=2) + "\n")
        from brainyolo.spiking.simulate import SimulationSettings, simulate

        info = simulate(stage / "model.h5", [picture], SimulationSettings(steps=SNN_STEPS, device="runtime"),
                        stage / "run", progress=progress)
        rates = {f"{int(k):02d} {v['kind']}": {
            "positive_rate": round(v["positive"] / v["neurons"] / SNN_STEPS, 4),
            "negative_rate": round(v["negative"] / v["neurons"] / SNN_STEPS, 4)}
            for k, v in info["layer_spikes"].items()}
        report = {"model": f"embedded tiny-yolov3 (random weights, seed {SEED})",
                  "layers": len(model.graph.layers), "calibration_images": len(calib),
                  "detections": len(records),
                  "snn": {"steps": SNN_STEPS, "device": "runtime", "synaptic_events": info["synaptic_events"],
                          "firing_rates_per_step": rates},
                  "seconds": round(time.perf_counter() - started, 2)}
        (stage / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        (stage / "report.txt").write_text(
            "brainyolo demo\n"
            f"model: {report['model']}, {report['layers']} layers, channel-norm, "
            f"lambda = p99.9 of {len(calib)} generated scenes\n"
            f"ANN detections on scene/images/{picture.name}: {len(records)} (score >= 0.25)\n"
            f"spiking network, {SNN_STEPS} steps (Brian2 numpy runtime): run/recordings.h5, "
            f"{info['synaptic_events']:.3g} synaptic events; +1 / -1 spikes per neuron per step:\n"
            + "".join(f"  layer {name:14s} {r['positive_rate']:.4f} / {r['negative_rate']:.4f}\n"
                      for name, r in rates.items())
            + "The embedded model is untrained until the trained default detector lands: these "
            "detections show the pipeline, not accuracy.\n")
    print(f"demo written to {out_dir} in {report['seconds']} s: model.h5, scene_ann.png, "
          f"detections.json, run/recordings.h5, report.txt")
    return report
