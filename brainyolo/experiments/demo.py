"""``brainyolo demo``: the whole pipeline on the embedded default detector, no download.

Steps:

1. write the embedded detector (``data/tiny-yolov3.cfg`` + ``.weights``, trained on generated
   scenes by :mod:`brainyolo.training.ann`) as Darknet files; calibrate on 32 generated scenes and
   convert (channel-norm, p99.9, thresholds balanced on 16 of them) to ``model.h5``;
2. detect with the ANN on 8 fresh scenes;
3. simulate the spiking network in Brian2 C++ standalone (compiled once per preset, reused per image)
   with the ``fast`` preset (64 steps) into ``run/`` and with the ``paper`` preset (Spiking-YOLO,
   300 steps) into ``run_paper/`` (recordings.h5, run_info.json);
4. decode the output layer's V at every checkpoint into detections (``checkpoints/``: the fast run's)
   and score both runs (COCO mAP) next to the ANN; simulate the first scene under layer-norm too
   (numpy runtime, 300 steps, ``run_layer_norm/``) so that ``brainyolo analyze`` can compare the
   normalizations;
5. simulate the directly trained detector (``embedded-direct``, :mod:`brainyolo.training.direct_graph`) on the same
   scenes for 8 steps (numpy runtime, ``run_direct/``) and score it at T = 1, 2, 4, 8;
6. draw ANN vs SNN pictures, one mAP-vs-steps figure (fast and paper as curves, the directly trained
   SNN as points) and a short report with each run's synaptic events per image.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from brainyolo.analysis.annotated import annotated, as_rgb, side_by_side
from brainyolo.convert.model_file import load_model
from brainyolo.data import scenes
from brainyolo.data.embedded import EMBEDDED_DIRECT, model_file
from brainyolo.experiments.experiment import prepare_model
from brainyolo.experiments.run_file import RunSpec
from brainyolo.io.atomic import staged_directory, write_json
from brainyolo.pipeline import ann_detections
from brainyolo.readout.decoding import decode_run, write_detections
from brainyolo.readout.evaluation import coco_map, read_yolo_labels
from brainyolo.spiking.presets import load_preset, resolve_simulation
from brainyolo.spiking.settings import BuildOptions

COMPANION_STEPS = 300
DIRECT_STEPS = 8
DIRECT_CHECKPOINTS = (1, 2, 4, 8)
PRESET_CHECKPOINTS = {"fast": (8, 16, 25, 32, 50), "paper": (25, 50, 100, 200)}
"""The demo's presets (each at its own steps) and the checkpoints read before the last step."""
RUN_FOLDERS = {"fast": "run", "paper": "run_paper"}


def _map_table(per_step: dict, ann: dict) -> list[str]:
    """Report lines: mAP@0.5 per step and its fraction of the ANN's."""
    return ["  steps   mAP@0.5   of ANN",
            *[f"  {int(step):5d}   {m['mAP50']:.4f}   " + (f"{m['mAP50'] / ann['mAP50']:6.1%}" if ann["mAP50"] else "-")
              for step, m in per_step.items()]]


def run_demo(out_dir, progress: bool = True) -> dict:
    """Run the demo into ``out_dir``; return the report (also written as report.json)."""
    from brainyolo.analysis.figures import plot_map_vs_steps
    from brainyolo.detector import simulate
    from brainyolo.spiking.simulate import SimulationSettings

    started = time.perf_counter()
    spec = RunSpec()
    out_dir = Path(out_dir)
    with staged_directory(out_dir) as stage:
        model_h5 = prepare_model(spec, stage, progress)
        model = load_model(model_h5)
        names = model.graph.class_names
        paths = scenes.write_scenes(stage / "scenes" / "evaluation", spec.images.scenes, spec.images.seed)
        truths = read_yolo_labels(paths, stage / "scenes" / "evaluation" / "labels", len(names))
        ann = {path.name: dets for path, dets in ann_detections(model.graph, paths)}
        ann_records = [r for path in paths for r in ann[path.name].records(path.name, names)]
        write_json(stage / "detections_ann.json", ann_records)
        runs = {}
        for name, checkpoints in PRESET_CHECKPOINTS.items():
            settings = resolve_simulation(model, load_preset(name), checkpoints=checkpoints, device=spec.device,
                                          threads=spec.threads, float32=spec.float32,
                                          sample_neurons=spec.sample_neurons)
            info = simulate(model_h5, paths, settings, stage / RUN_FOLDERS[name], progress=progress)
            records, found = decode_run(stage / RUN_FOLDERS[name], settings.decode, model_h5)
            runs[name] = (settings, info, records, found,
                          {str(step): coco_map(truths, recs, len(names)) for step, recs in records.items()})
        settings, info, records, found, snn_map = runs["fast"]
        # a layer-norm companion of the first scene, for `brainyolo analyze` (Figs. 3-5 compare the
        # normalizations); numpy runtime, no second compilation
        simulate(model_h5, paths[:1], SimulationSettings(steps=COMPANION_STEPS, device="runtime",
                                                         build=BuildOptions(normalization="layer")),
                 stage / "run_layer_norm", progress=progress)
        # the directly trained detector (brainyolo.training.direct_graph) on the same scenes: T = 1, 2, 4, 8 from one
        # 8-step run (the network is causal), numpy runtime (small network, no second compilation)
        direct_h5 = model_file(EMBEDDED_DIRECT)
        direct_info = simulate(direct_h5, paths, SimulationSettings(
            steps=DIRECT_STEPS, checkpoints=DIRECT_CHECKPOINTS, device="runtime", sample_neurons=spec.sample_neurons),
            stage / "run_direct", progress=progress)
        direct_records, _ = decode_run(stage / "run_direct", "vmem", direct_h5)
        direct_map = {str(step): coco_map(truths, recs, len(names)) for step, recs in direct_records.items()}
        write_detections(stage, records)
        ann_map = coco_map(truths, ann_records, len(names))
        summary = {"name": "demo", "images": len(paths), "ann": ann_map,
                   "configurations": {"fast (balanced thresholds, tracking neuron, same-step)": {"snn": snn_map},
                                      "paper (Spiking-YOLO: IBT, uniform thresholds, delayed)": {
                                          "snn": runs["paper"][4]},
                                      f"directly trained SNN ({EMBEDDED_DIRECT})": {"snn": direct_map,
                                                                                    "points": True}}}
        plot_map_vs_steps(summary, stage / "map_vs_steps.png")
        steps = sorted(records)
        early = steps[min(1, len(steps) - 1)]
        for path in paths[:3]:
            picture = as_rgb(path)
            side_by_side([annotated(picture, ann[path.name], names, 0.25, "ANN"),
                          annotated(picture, found[path.name][early], names, 0.25, f"SNN {early} steps"),
                          annotated(picture, found[path.name][steps[-1]], names, 0.25, f"SNN {steps[-1]} steps")],
                         stage / f"{path.stem}_ann_vs_snn.png")

        def run_report(name: str) -> dict:
            settings, info, _, _, per_step = runs[name]
            final = per_step[str(settings.steps)]["mAP50"]
            return {"preset": name, "steps": settings.steps, "device": info["device"], "threads": info["threads"],
                    "neuron": settings.build.neuron, "schedule": settings.build.schedule,
                    "thresholds": info["thresholds"], "decode": settings.decode,
                    "build_seconds": round(info["build_seconds"], 1), "ms_per_step": round(info["ms_per_step"], 3),
                    "synaptic_events": info["synaptic_events"],
                    "synaptic_events_per_image": round(info["synaptic_events"] / len(paths)),
                    "mAP50_per_step": {s: round(m["mAP50"], 4) for s, m in per_step.items()},
                    "fraction_of_ann_mAP50": round(final / ann_map["mAP50"], 4) if ann_map["mAP50"] else None}

        report = {
            "model": "embedded tiny-yolov3 (1/4 width, 96x96, 4 classes), trained on generated scenes",
            "layers": len(model.graph.layers), "calibration_images": spec.calibration.scenes,
            "images": len(paths), "ann": {k: ann_map[k] for k in ("mAP50", "mAP")},
            "snn": run_report("fast"), "paper": run_report("paper"),
            "direct": {"model": EMBEDDED_DIRECT, "time_steps_trained": load_model(direct_h5).spiking.time_steps,
                       "device": direct_info["device"], "synaptic_events_per_image":
                           round(direct_info["synaptic_events"] / len(paths)),
                       "mAP50_per_step": {s: round(m["mAP50"], 4) for s, m in direct_map.items()},
                       "mAP_per_step": {s: round(m["mAP"], 4) for s, m in direct_map.items()}},
            "seconds": round(time.perf_counter() - started, 1)}
        write_json(stage / "report.json", report)

        def run_lines(name: str, title: str) -> list[str]:
            r = report["snn" if name == "fast" else name]
            return [f"SNN, preset {name} ({title}): {r['neuron']} neurons, {r['schedule']}, {r['thresholds']} "
                    f"thresholds, Vmem read-out, Brian2 {r['device']} ({r['threads']} threads): build "
                    f"{r['build_seconds']:.1f} s, {r['ms_per_step']:.2f} ms/step, {r['synaptic_events_per_image']:.3g} "
                    "synaptic events per image", *_map_table(runs[name][4], ann_map)]

        lines = [
            "brainyolo demo",
            f"model: {report['model']}; {report['layers']} layers; channel-norm, lambda = p{spec.percentile:g} "
            f"of {spec.calibration.scenes} generated scenes, thresholds balanced on 16 of them",
            f"images: {len(paths)} fresh generated scenes (seed {spec.images.seed})",
            f"ANN: mAP@0.5 = {ann_map['mAP50']:.4f}, mAP@[.5:.95] = {ann_map['mAP']:.4f}",
            *run_lines("fast", "the default"), *run_lines("paper", "Spiking-YOLO as published"),
            f"directly trained SNN ({EMBEDDED_DIRECT}: LIF, trained by spikingjelly at T = "
            f"{report['direct']['time_steps_trained']}, same-step, {direct_info['device']}): "
            f"{report['direct']['synaptic_events_per_image']:.3g} synaptic events per image in {DIRECT_STEPS} steps",
            *_map_table(direct_map, ann_map),
            "files: model.h5, run/ (fast: recordings.h5, run_info.json), run_paper/ (paper), run_layer_norm/ (first "
            f"scene, layer-norm, {COMPANION_STEPS} steps, numpy runtime), run_direct/ (the directly trained SNN), "
            "detections_ann.json, detections.json and checkpoints/ (fast), *_ann_vs_snn.png, map_vs_steps.png",
            "next: brainyolo analyze DIR -o DIR/analysis (figures and energy from these recordings)",
            f"total {report['seconds']:.0f} s"]
        (stage / "report.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"-> {out_dir}")
    return json.loads((out_dir / "report.json").read_text())
