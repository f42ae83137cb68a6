"""Running a run file's experiment (:mod:`brainyolo.experiments.run_file`): the model prepared once, every
configuration of the grid simulated and scored at every checkpoint next to the ANN, and the summary
(``summary.md``, ``summary.json``, ``map_vs_steps.png``); interrupted runs resume."""

from __future__ import annotations

import os
import time
from pathlib import Path

from brainyolo.analysis.energy import AC_PJ, MAC_PJ, ann_macs, operations_at_checkpoints
from brainyolo.ann.letterbox import list_images
from brainyolo.convert.conversion import calibration_images, convert_darknet
from brainyolo.convert.model_file import load_model, save_model
from brainyolo.data import scenes
from brainyolo.data.embedded import embedded_model
from brainyolo.experiments.run_file import RunSpec, check_inputs, config_name, grid_settings
from brainyolo.io.atomic import atomic_path, staged_directory, write_json
from brainyolo.io.errors import BrainyoloError
from brainyolo.pipeline import ann_detections, evaluate_snn
from brainyolo.readout.evaluation import read_ground_truth, score
from brainyolo.spiking.parameters import (
    ParameterSettings,
    read_parameter_file,
)
from brainyolo.spiking.presets import load_preset, resolve_simulation


def prepare_model(spec: RunSpec, out_dir: Path, progress: bool = True) -> Path:
    """Convert the run's model (once) into ``out_dir/model.h5``; return its path."""

    model_h5 = out_dir / "model.h5"
    if model_h5.exists():
        return model_h5
    if spec.model.get("embedded"):
        cfg, weights, names = embedded_model(out_dir / "model")
    else:
        cfg, weights, names = spec.model["cfg"], spec.model["weights"], spec.model.get("names")
    if spec.calibration.scenes:

        calib = scenes.write_scenes(out_dir / "scenes" / "calibration", spec.calibration.scenes,
                                    spec.calibration.seed)  # (rewritten in full if a run was cut short)
        source = f"{spec.calibration.scenes} generated scenes (seed {spec.calibration.seed})"
    else:
        calib = calibration_images(spec.calibration.folder, spec.calibration.count or None)
        source = spec.calibration.folder
    model = convert_darknet(cfg, weights, calib, "channel", spec.percentile, names,
                            calibration_source=source, progress=progress)
    with atomic_path(model_h5) as tmp:
        save_model(model, tmp)
    return model_h5


def run_experiment(spec: RunSpec, out_dir: str | os.PathLike, progress: bool = True, farm=None) -> dict:
    """Run every configuration of ``spec`` into ``out_dir``; return the summary.

    ``farm`` (:class:`brainyolo.experiments.farm.Farm`): the images of every configuration as tasks of a Dask cluster.
    """
    from brainyolo.detector import simulate

    preset = load_preset(spec.preset)

    started = time.perf_counter()
    check_inputs(spec)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_h5 = prepare_model(spec, out_dir, progress)
    model = load_model(model_h5)
    names = model.graph.class_names
    generated = out_dir / "scenes" / "evaluation"
    if spec.images.scenes:
        if not (generated / "labels").is_dir():
            with staged_directory(generated) as stage:
                scenes.write_scenes(stage, spec.images.scenes, spec.images.seed)
        paths = list_images(generated / "images")
    else:
        paths = list_images(spec.images.folder)[:spec.images.count or None]
        if not paths:
            raise BrainyoloError(spec.images.folder, "holds no images")
    source = spec.images
    truths = read_ground_truth(paths, names, labels=generated / "labels" if source.scenes else source.labels,
                               coco=source.coco, voc=source.voc)

    def scores(records):
        return score(truths, records, len(names), voc=bool(source.voc))

    ann_records = []
    for path, detections in ann_detections(model.graph, paths):
        ann_records += detections.records(path.name, names)
    summary = {"name": spec.name, "description": spec.description, "images": len(paths),
               "images_folder": str(paths[0].parent), "operations": operation_costs(model.graph),
               "steps": spec.steps, "checkpoints": list(spec.checkpoints), "ann": scores(ann_records),
               "configurations": {}}
    write_json(out_dir / "detections_ann.json", ann_records)
    max_delay = spec.max_delay()
    for normalization, neuron, decode, parameter_file, precision, synapse, setting in spec.configurations():
        name = config_name(normalization, neuron, decode, parameter_file, precision, synapse, setting)
        folder = out_dir / name
        parameters = read_parameter_file(parameter_file) if parameter_file else ParameterSettings()
        settings = resolve_simulation(
            model, preset, steps=spec.steps, checkpoints=spec.checkpoints, decode=decode, neuron=neuron,
            schedule=spec.schedule, normalization=normalization, parameters=parameters + grid_settings(setting),
            device=spec.device, threads=spec.threads, float32=spec.uses_float32(precision),
            sample_neurons=spec.sample_neurons,
            build={"input": spec.input, "synapse": synapse, "max_delay": max_delay})
        if progress:
            print(f"{spec.name}: {name}", flush=True)
        folder.mkdir(parents=True, exist_ok=True)
        records = evaluate_snn(model_h5, paths, settings, folder, decode, progress, farm)
        per_step = {str(step): scores(recs) for step, recs in records.items()}
        events = conv_events_per_image(folder, paths)
        for step, metrics in per_step.items():
            if step in events:
                metrics["conv_events_per_image"] = events[step]
        write_json(folder / "metrics.json", {"ann": summary["ann"], "snn": per_step})
        if spec.record_images and not (folder / "run" / "run_info.json").exists():
            simulate(model_h5, paths[:spec.record_images], settings, folder / "run", progress=progress)
        summary["configurations"][name] = {"normalization": normalization, "neuron": neuron, "decode": decode,
                                           "parameters": parameter_file, "synapse": synapse, "settings": setting,
                                           "series": config_name(normalization, neuron, decode, parameter_file,
                                                                 precision, synapse),
                                           "float32": spec.uses_float32(precision), "snn": per_step,
                                           "steps_to_fraction_of_ann": steps_to_fraction(per_step, summary["ann"])}
    summary["seconds"] = round(time.perf_counter() - started, 1)
    write_json(out_dir / "summary.json", summary)
    (out_dir / "summary.md").write_text(summary_table(summary))
    from brainyolo.analysis.figures import plot_map_vs_steps, plot_sweep, sweep_points

    plot_map_vs_steps(summary, out_dir / "map_vs_steps.png")
    for parameter in sweep_points(summary):  # a [grid] settings sweep: mAP against the swept value
        plot_sweep(summary, parameter, out_dir / f"sweep_{parameter}.png")
    return summary


def conv_events_per_image(folder: Path, paths) -> dict[str, float]:
    """Mean synaptic events delivered by the convolutions per image, at each checkpoint (from the
    evaluation's per-image results; empty for results written before they were kept)."""
    import json

    done = [json.loads((folder / "snn_images" / f"{p.stem}.json").read_text()) for p in paths]
    if not done or any("conv_events" not in d for d in done):
        return {}
    return {step: sum(d["conv_events"][step] for d in done) / len(done) for step in done[0]["conv_events"]}


FRACTIONS = (0.9, 0.95, 0.98)


def steps_to_fraction(per_step: dict, ann: dict, fractions=FRACTIONS, metric: str = "mAP50") -> dict:
    """First checkpoint at which the SNN reaches each fraction of the ANN's mAP (None: not reached)."""
    steps = sorted(int(s) for s in per_step)
    return {f"{f:g}": next((s for s in steps if ann[metric] > 0 and per_step[str(s)][metric] >= f * ann[metric]),
                           None) for f in fractions}


def summary_table(summary: dict) -> str:
    """Markdown table: mAP@0.5 per configuration and checkpoint, the ANN beside it."""
    steps = summary["checkpoints"] or [summary["steps"]]
    steps = sorted(set(steps) | {summary["steps"]})
    ann = summary["ann"]["mAP50"]
    lines = [f"# {summary['name']}: mAP@0.5 (ANN {ann:.4f}) on {summary['images']} images", "",
             "| configuration | " + " | ".join(f"{s} steps" for s in steps) + " |",
             "|---|" + "---:|" * len(steps)]
    for name, config in summary["configurations"].items():
        cells = [f"{config['snn'][str(s)]['mAP50']:.4f}" for s in steps]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| ANN | " + " | ".join(f"{ann:.4f}" for _ in steps) + " |")
    if any("conv_events_per_image" in c["snn"][str(s)] for c in summary["configurations"].values() for s in steps):
        lines += ["", "Synaptic events delivered by the convolutions per image (accumulate operations) by each "
                  "checkpoint:", "", "| configuration | " + " | ".join(f"{s} steps" for s in steps) + " |",
                  "|---|" + "---:|" * len(steps)]
        for name, config in summary["configurations"].items():
            cells = [f"{config['snn'][str(s)].get('conv_events_per_image', float('nan')):.3g}" for s in steps]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Checkpoint at which the SNN first reaches a fraction of the ANN's mAP@0.5 (- : not within "
              f"{summary['steps']} steps):", "",
              "| configuration | " + " | ".join(f"{f:.0%}" for f in FRACTIONS) + " |",
              "|---|" + "---:|" * len(FRACTIONS)]
    for name, config in summary["configurations"].items():
        reached = steps_to_fraction(config["snn"], summary["ann"])
        lines.append(f"| {name} | " + " | ".join(str(reached[f"{f:g}"] or "-") for f in FRACTIONS) + " |")
    costs = summary.get("operations")
    if costs and any("conv_events_per_image" in c["snn"][str(s)] for c in summary["configurations"].values()
                     for s in steps):
        lines += ["", "At the first checkpoint reaching each fraction: synaptic events per image and the energy "
                  "per image against the ANN's (float32 / int32; SNN: synaptic and bias accumulates plus the "
                  f"image convolution's MACs; ANN: {costs['ann_macs']:.3g} MACs):", "",
                  "| configuration | " + " | ".join(f"{f:.0%}: events, energy" for f in FRACTIONS) + " |",
                  "|---|" + "---:|" * len(FRACTIONS)]
        for name, config in summary["configurations"].items():
            reached = steps_to_fraction(config["snn"], summary["ann"])
            cells = []
            for f in FRACTIONS:
                step = reached[f"{f:g}"]
                events = config["snn"][str(step)].get("conv_events_per_image") if step else None
                if events is None:
                    cells.append("-")
                    continue
                ratios = energy_ratios(costs, events, step)
                cells.append(f"{events:.3g}, {ratios['float32']:.2f}× / {ratios['int32']:.2f}×")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def operation_costs(graph) -> dict:
    """What the energy of an image needs besides its synaptic events: the ANN's MACs, the SNN's image
    convolution MACs (once) and its neurons that add a bias every step (see :mod:`brainyolo.analysis.spikes`)."""

    layers = {index: {"input_events": [0, 0]} for index in range(len(graph.layers))}
    zero, one = operations_at_checkpoints(graph, layers, [0, 1])  # no synaptic events: bias ACs only
    return {"ann_macs": int(sum(ann_macs(graph).values())), "image_macs": int(one["macs"]),
            "bias_acs_per_step": int(one["acs"] - zero["acs"])}


def energy_ratios(costs: dict, events: float, steps: int) -> dict[str, float]:
    """SNN energy over ANN energy per image, float32 and int32 (Horowitz costs of :mod:`brainyolo.analysis.spikes`)."""

    acs = events + costs["bias_acs_per_step"] * steps
    return {kind: (costs["image_macs"] * MAC_PJ[kind] + acs * AC_PJ[kind]) / (costs["ann_macs"] * MAC_PJ[kind])
            for kind in MAC_PJ}


def configuration_records(run_dir, spec: str) -> tuple[str, list[dict], list[str]]:
    """A run's detections named ``CONFIG@STEP`` (or ``ANN``): (label, records, file names of its images).

    ``CONFIG`` is a configuration folder of ``run_dir`` (its per-image results); ``STEP`` one of its
    checkpoints. Also works on an ``evaluate --mode snn`` output folder with ``.`` as ``CONFIG``.
    """
    import json

    run_dir = Path(run_dir)
    if spec == "ANN":
        path = run_dir / "detections_ann.json"
        if not path.is_file():
            raise BrainyoloError(path, "not found: is this a run's (or an evaluation's) output folder?")
        records = json.loads(path.read_text())
        return "ANN", records, sorted({r["file_name"] for r in records})
    name, _, step = spec.rpartition("@")
    if not name or not step.isdigit():
        raise BrainyoloError(None, f"{spec!r}: name a configuration and a checkpoint as CONFIG@STEP (or ANN)")
    folder = run_dir / name / "snn_images"
    done = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not done:
        raise BrainyoloError(folder, "holds no per-image SNN results")
    records, files = [], []
    for path in done:
        image = json.loads(path.read_text())
        if step not in image.get("detections", {}):
            raise BrainyoloError(path, f"has no checkpoint {step} (it has {', '.join(image['detections'])})")
        records += image["detections"][step]
        files.append(image["file_name"])
    return spec, records, files
