"""Spike analysis of recorded runs: firing statistics and energy, from recordings and the model file.

Everything here is a small pure function of arrays read from ``RUN_DIR/recordings.h5`` and the
run's model file (:func:`load_run`), so that figures and tables (:mod:`brainyolo.analysis.figures`,
``brainyolo analyze``) can be recomputed from the data they show.

Energy (Spiking-YOLO Fig. 9 and Table 2)
----------------------------------------
* ANN: one multiply-accumulate (MAC) per weight use: ``H_out * W_out * F * C * k * k`` per
  convolution (FLOPs = 2 x MACs).
* SNN: one accumulate (AC) per synaptic event into a convolution, counted exactly from the recorded
  spike counts (+1 and -1 spikes alike) times each neuron's real fan-out (borders included); one AC
  per neuron and step for the constant bias current; the convolution that reads the image is
  computed once per image as MACs (the analog input current). Max-pool and relay events carry no
  weight and are reported, not priced.
* Energy per operation (Horowitz 2014, 45 nm): 32-bit float MAC 4.6 pJ, AC 0.9 pJ; 32-bit int MAC
  3.2 pJ, AC 0.1 pJ.
* Table 2: GPU energy = 250 W x FLOPs / 14 TFLOPS; TrueNorth energy = operations / (400 GFLOPS/W),
  its 1 ms per time step giving the latency (steps x 1 ms).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from brainyolo.analysis.annotated import annotated, as_rgb, side_by_side
from brainyolo.analysis.energy import (
    PAPER,
    energy_markdown,
    energy_over_steps,
    energy_table,
    operations_at_checkpoints,
    snn_operations,
)
from brainyolo.ann.graph import CONV_KINDS
from brainyolo.convert.model_file import load_model
from brainyolo.io.atomic import atomic_path, staged_directory, write_json
from brainyolo.io.errors import BrainyoloError
from brainyolo.pipeline import ann_detections
from brainyolo.readout.decoding import decode_run, find_model_file, reading_recordings
from brainyolo.spiking.counters import EVENT_COUNTERS, SPIKE_COUNTERS, read_counts

COUNTS = SPIKE_COUNTERS + EVENT_COUNTERS
"""The per-neuron counts of a recorded layer (stored int8 or int16 where they fit: read back as int32)."""


@dataclass
class ImageRecording:
    """One image of a run: per-layer counts (C, H, W), sampled trains, population counts per step."""

    file_name: str
    layers: dict[int, dict]
    input_events: dict | None = None  # an event run: {"step", "neuron", "width", "height"}
    recorded: dict = field(default_factory=dict)  # the Python API's objects: {object name: {variable: array}}


@dataclass
class Run:
    """A run directory read back: its attributes, model and images."""

    path: Path
    attrs: dict
    model: object  # ConvertedModel
    images: list[ImageRecording]

    @property
    def steps(self) -> int:
        return int(self.attrs["steps"])

    @property
    def normalization(self) -> str:
        return str(self.attrs["normalization"])

    @property
    def label(self) -> str:
        return f"{self.normalization}-norm, {Path(str(self.attrs['neuron'])).stem}, {self.attrs['output']}"


def load_run(run_dir: str | os.PathLike, model_path: str | os.PathLike | None = None) -> Run:
    """Read ``RUN_DIR/recordings.h5`` (every dataset of every layer) and the run's model file. A run recorded with
    counts per channel (``attrs["counts"] == "channels"``) holds its layers' counts as shape (C,)."""

    with reading_recordings(run_dir) as f:
        attrs = dict(f.attrs)
        images = []
        for name in sorted(f["images"]):
            group = f["images"][name]
            layers = {}
            for key, layer in group["layers"].items():
                shape = tuple(int(v) for v in layer.attrs["shape"])
                layers[int(key)] = {"kind": str(layer.attrs["kind"]), "shape": shape,
                                    "negative_value": float(layer.attrs.get("negative_value", 1.0)),
                                    **{k: read_counts(layer[k][()]) if k in COUNTS else layer[k][()] for k in layer}}
            events = None
            if "input_events" in group:
                g = group["input_events"]
                events = {"step": g["step"][()], "neuron": g["neuron"][()], "width": int(g.attrs["width"]),
                          "height": int(g.attrs["height"])}
            recorded = {name: {k: obj[k][()] for k in obj} for name, obj in group.get("recorded", {}).items()}
            images.append(ImageRecording(str(group.attrs["file_name"]), layers, events, recorded))
    model = load_model(find_model_file(run_dir, attrs, model_path))
    shapes = model.graph.shapes()
    for image in images:
        for index, layer in image.layers.items():
            if not 0 <= index < len(shapes) or layer["shape"] != shapes[index]:
                raise BrainyoloError(Path(run_dir) / "recordings.h5", f"image {image.file_name!r}: recorded layer "
                                     f"{index} does not match the model's layers (shape {layer['shape']})")
    return Run(Path(run_dir), attrs, model, images)


# ---------------------------------------------------------------- firing statistics


def firing_rates(layer: dict, steps: int) -> np.ndarray:
    """Spikes (either sign) per neuron per step, shape (C, H, W)."""
    return (layer["positive_count"].astype(np.float64) + layer["negative_count"]) / steps


def net_spike_counts(layer: dict) -> np.ndarray:
    """What each neuron's spikes carried in all, in thresholds, shape (C, H, W): its +1 spikes less its -1 spikes,
    each worth the layer's ``negative_value`` (``1 / n``: a finer negative grid; 1 in most neuron files). ``layer``:
    a recorded layer as :func:`load_run` or a run's ``result.data["layers"]`` hold it."""
    return layer["positive_count"].astype(np.float64) - layer["negative_value"] * layer["negative_count"]


def layer_statistics(layer: dict, steps: int) -> dict:
    """Mean firing rate, fraction of negative spikes, fraction of silent neurons of one layer."""
    positive, negative = int(layer["positive_count"].sum()), int(layer["negative_count"].sum())
    total = layer["positive_count"].astype(np.int64) + layer["negative_count"]
    return {"kind": layer["kind"], "neurons": int(total.size),
            "mean_rate": float(total.mean() / steps),
            "negative_fraction": negative / (positive + negative) if positive + negative else 0.0,
            "silent_fraction": float((total == 0).mean())}


def population_over_time(layer: dict, window: int = 1) -> dict | None:
    """Per step (averaged over ``window`` steps): mean rate and fraction of negative spikes.

    None for recordings without population counts (schema version 1).
    """
    if "population_positive" not in layer:
        return None
    n = int(np.prod(layer["shape"]))
    positive = layer["population_positive"].astype(np.float64)
    negative = layer["population_negative"].astype(np.float64)
    if window > 1:
        usable = len(positive) // window * window
        positive = positive[:usable].reshape(-1, window).sum(axis=1)
        negative = negative[:usable].reshape(-1, window).sum(axis=1)
    total = positive + negative
    return {"rate": total / n / window,
            "negative_fraction": np.divide(negative, total, out=np.zeros_like(total), where=total > 0)}


# ---------------------------------------------------------------- layer-norm diagnostics (Fig. 1)


def normalized_channel_maxima(model, layer_index: int, statistic: str = "max") -> np.ndarray:
    """A convolution's per-channel activation maximum (or percentile) divided by its layer-norm lambda."""
    stats = model.calibration.layers[layer_index]
    per_channel = np.asarray(stats.channel_max if statistic == "max" else stats.channel_percentile, np.float64)
    layer_lambda = float(np.max(model.lambdas("layer")[layer_index]))
    return per_channel / layer_lambda


# ---------------------------------------------------------------- operations and energy
















# ---------------------------------------------------------------- brainyolo analyze



def collect_inputs(paths) -> tuple[list[Path], list[dict], list[Path]]:
    """Run directories, mAP summaries and picture folders found in ``paths``.

    A path may be a run directory (``recordings.h5``), an experiment folder of ``brainyolo run``
    (``summary.json``: its configurations' ``run/`` folders) or a demo folder (``report.json`` and
    ``run/``, plus ``run_layer_norm/`` when present).
    """
    runs, summaries, pictures = [], [], []
    for path in map(Path, paths):
        if (path / "recordings.h5").exists():
            runs.append(path)
        elif (path / "summary.json").exists():
            import json

            summary = json.loads((path / "summary.json").read_text())
            summaries.append(summary)
            runs += [path / name / "run" for name in summary["configurations"]
                     if (path / name / "run" / "recordings.h5").exists()]
            pictures.append(Path(summary.get("images_folder", path / "scenes" / "evaluation" / "images")))
        elif (path / "report.json").exists() and (path / "run" / "recordings.h5").exists():
            import json

            report = json.loads((path / "report.json").read_text())
            runs += [p for p in (path / "run", path / "run_layer_norm") if (p / "recordings.h5").exists()]
            summaries.append({"name": "demo", "images": report["images"], "ann": report["ann"],
                              "configurations": {"channel-norm, IBT, Vmem": {"snn": {
                                  s: {"mAP50": v} for s, v in report["snn"]["mAP50_per_step"].items()}}}})
            pictures.append(path / "scenes" / "evaluation" / "images")
        else:
            raise BrainyoloError(path, "is not a run directory (recordings.h5), an experiment folder "
                                       "(summary.json) or a demo folder")
    if not runs:
        raise BrainyoloError(None, "no run directory with recordings.h5 among the inputs")
    return runs, summaries, pictures


def _write_csv(path: Path, header: list[str], rows) -> None:

    with atomic_path(path) as tmp:
        tmp.write_text(",".join(header) + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows))


def analyze(paths, out_dir, layer: int | None = None, channel: int | None = None,
            images_dir: str | os.PathLike | None = None, progress: bool = True) -> dict:
    """Write every figure (PNG) with its data (CSV / JSON) into ``out_dir``; return the index."""
    from brainyolo.analysis import figures

    run_dirs, summaries, pictures = collect_inputs(paths)
    runs = [load_run(d) for d in run_dirs]
    for run in runs:
        if run.attrs.get("counts", "neurons") != "neurons":
            raise BrainyoloError(run.path / "recordings.h5", "holds spike counts per channel (recorded with "
                                 "--counts channels or counts=\"channels\"); the figures need every neuron's")
    by_norm: dict[str, Run] = {}
    for run in runs:
        by_norm.setdefault(run.normalization, run)
    main = by_norm.get("channel", runs[0])
    graph = main.model.graph
    hidden = [i for i, lay in enumerate(graph.layers) if isinstance(lay, CONV_KINDS)
              and lay.activation in ("leaky", "spike")]
    layer = hidden[min(1, len(hidden) - 1)] if layer is None else layer
    if layer not in main.images[0].layers or layer not in hidden:
        raise BrainyoloError(None, f"--layer {layer} is not a recorded convolution (choose from {hidden})")
    converted = main.model.calibration is not None  # (a directly trained network has no normalization)
    fig1_rows = [{"layer": i, "values": normalized_channel_maxima(main.model, i).tolist()} for i in hidden
                 ] if converted else []
    for row in fig1_rows:
        row["mean"], row["min"] = float(np.mean(row["values"])), float(np.min(row["values"]))
    if channel is None:  # the channel that layer-norm starves most (a direct SNN's: the busiest)
        channel = (int(np.argmin(normalized_channel_maxima(main.model, layer))) if converted else
                   int(np.argmax(main.images[0].layers[layer]["positive_count"].sum(axis=(1, 2)))))
    index = {"inputs": [str(r.path) for r in runs], "layer": layer, "channel": channel, "figures": {}}
    compared = {(f"{run.normalization}-norm" if run.model.calibration is not None else "directly trained"): run
                for run in by_norm.values()}
    with staged_directory(out_dir) as stage:
        if converted:
            figures.plot_layer_norm_channel_maxima(fig1_rows, stage / "fig1_layer_norm_channel_maxima.png")
            write_json(stage / "fig1_layer_norm_channel_maxima.json", fig1_rows)
        index["figures"]["fig1"] = "fig1_layer_norm_channel_maxima.png" if converted else None

        rates = {label: firing_rates(run.images[0].layers[layer], run.steps) for label, run in compared.items()}
        figures.plot_rate_distributions(
            {label: r[channel].ravel() for label, r in rates.items()},
            f"Firing-rate distribution, layer {layer}, channel {channel} ({main.images[0].file_name})",
            stage / "fig3_rate_distribution.png")
        edges = np.linspace(0, 1, 21)
        write_json(stage / "fig3_rate_distribution.json", {
            "layer": layer, "channel": channel, "bin_edges": edges.tolist(),
            "counts": {label: np.histogram(np.clip(r[channel], 0, 1), edges)[0].tolist()
                       for label, r in rates.items()}})
        index["figures"]["fig3"] = "fig3_rate_distribution.png"

        channel_rates = {label: r.mean(axis=(1, 2)) for label, r in rates.items()}
        figures.plot_channel_rates(channel_rates, f"Mean firing rate per channel, layer {layer}",
                                   stage / "fig4_channel_rates.png")
        _write_csv(stage / "fig4_channel_rates.csv", ["channel", *channel_rates],
                   [[c, *(f"{v[c]:.6g}" for v in channel_rates.values())] for c in range(len(next(iter(
                       channel_rates.values()))))])
        index["figures"]["fig4"] = "fig4_channel_rates.png"

        panels = {}
        for label, run in compared.items():
            rec = run.images[0].layers[layer]
            panels[label] = {"neuron": rec["sample_spike_neuron"], "step": rec["sample_spike_step"],
                             "sign": rec["sample_spike_sign"], "steps": run.steps}
        figures.plot_rasters(panels, f"Sampled neurons of layer {layer} ({main.images[0].file_name})",
                             stage / "fig5_raster.png")
        write_json(stage / "fig5_raster.json", {label: {k: np.asarray(v).tolist() if k != "steps" else v
                                                        for k, v in p.items()} for label, p in panels.items()})
        index["figures"]["fig5"] = "fig5_raster.png"

        if main.images[0].input_events is not None:
            index["figures"]["events"] = _event_rasters(main, stage)

        if summaries:
            merged = {"name": " + ".join(s["name"] for s in summaries), "images": summaries[0]["images"],
                      "ann": summaries[0]["ann"],
                      "configurations": {(f"{s['name']}: {k}" if len(summaries) > 1 else k): v
                                         for s in summaries for k, v in s["configurations"].items()}}
            figures.plot_map_vs_steps(merged, stage / "fig7_map_vs_steps.png")
            write_json(stage / "fig7_map_vs_steps.json", merged)
            index["figures"]["fig7"] = "fig7_map_vs_steps.png"
        else:
            index["figures"]["fig7"] = None
            index["notes"] = ["fig7 needs mAP per checkpoint: pass an experiment or demo folder"]

        picture_dirs = [Path(images_dir)] if images_dir else pictures
        fig8 = _fig8(main, picture_dirs, stage)
        index["figures"]["fig8"] = fig8

        ops = snn_operations(graph, main.images[0].layers, main.steps)
        table = {**energy_table(graph, ops, main.steps), "image": main.images[0].file_name,
                 "run": str(main.path), "per_layer": {str(k): v for k, v in ops["per_layer"].items()},
                 "other_events": ops["other_events"], "paper": PAPER}
        checkpoints = [int(c) for c in np.atleast_1d(main.attrs.get("checkpoints", [main.steps]))]
        rows = operations_at_checkpoints(graph, main.images[0].layers, checkpoints)
        if rows is not None:
            table["over_steps"] = energy_over_steps(rows)
            accuracy = _map_of_run(main, summaries)
            if accuracy is not None:
                table["accuracy"] = accuracy
                for row in table["over_steps"]:
                    row["mAP50"] = accuracy["snn"].get(str(row["steps"]), {}).get("mAP50")
        figures.plot_energy(table, f"Energy per image: ANN vs SNN ({main.images[0].file_name}, {main.steps} steps)",
                            stage / "fig9_energy.png")
        write_json(stage / "fig9_table2_energy.json", table)
        (stage / "table2_energy.md").write_text(energy_markdown(table))
        index["figures"]["fig9"] = "fig9_energy.png"
        index["tables"] = {"table2": "table2_energy.md"}

        stats_rows, series = [], {}
        for number, lay in sorted(main.images[0].layers.items()):
            s = layer_statistics(lay, main.steps)
            stats_rows.append([number, s["kind"], s["neurons"], f"{s['mean_rate']:.6g}",
                               f"{s['negative_fraction']:.6g}", f"{s['silent_fraction']:.6g}"])
            over = population_over_time(lay, window=max(1, main.steps // 100))
            if over is not None and over["rate"].any():  # (integrate-only output layers never spike)
                window = max(1, main.steps // 100)
                series[f"{number:02d} {s['kind']}"] = {"step": (np.arange(len(over["rate"])) + 1) * window, **over}
        _write_csv(stage / "population_statistics.csv",
                   ["layer", "kind", "neurons", "mean_rate", "negative_fraction", "silent_fraction"], stats_rows)
        if series:
            figures.plot_population(series, stage / "population_over_time.png")
            write_json(stage / "population_over_time.json",
                       {k: {kk: np.asarray(vv).tolist() for kk, vv in v.items()} for k, v in series.items()})
            index["figures"]["population"] = "population_over_time.png"
        write_json(stage / "index.json", index)
    return index


def _event_rasters(run: Run, stage: Path, neurons: int = 20) -> str:
    """An event run's input events (ON and OFF) beside the first spiking layers' sampled trains.

    The input panel shows the ``neurons`` pixels with the most events, the layer panels their
    sampled neurons, all over the run's steps.
    """
    from brainyolo.analysis import figures

    image = run.images[0]
    events = image.input_events
    pixel = events["neuron"] // 2
    busiest = np.argsort(-np.bincount(pixel, minlength=events["width"] * events["height"]), kind="stable")[:neurons]
    row = {int(p): k for k, p in enumerate(busiest)}
    keep = np.isin(pixel, busiest)
    panels = {f"input events, {neurons} busiest pixels (ON +1, OFF -1)": {
        "neuron": np.array([row[int(p)] for p in pixel[keep]], np.int64), "step": events["step"][keep],
        "sign": np.where(events["neuron"][keep] % 2 == 1, 1, -1), "steps": run.steps}}
    spiking = [i for i, layer in sorted(image.layers.items()) if layer["sample_spike_step"].size][:2]
    for index in spiking:
        rec = image.layers[index]
        panels[f"layer {index} ({rec['kind']})"] = {"neuron": rec["sample_spike_neuron"],
                                                   "step": rec["sample_spike_step"],
                                                   "sign": rec["sample_spike_sign"], "steps": run.steps}
    figures.plot_rasters(panels, f"Input events and the first layers ({image.file_name})",
                         stage / "input_events_raster.png", neurons=neurons, window=run.steps)
    write_json(stage / "input_events_raster.json", {label: {k: np.asarray(v).tolist() if k != "steps" else v
                                                            for k, v in p.items()} for label, p in panels.items()})
    return "input_events_raster.png"


def _fig8(run: Run, picture_dirs: list[Path], stage: Path) -> str | None:
    """Fig. 8: the first image's detections at several checkpoints beside the ANN's."""

    name = run.images[0].file_name
    found = next((d / name for d in picture_dirs if (d / name).exists()), None)
    if found is None:
        return None
    decode = "spikes" if str(run.attrs["output"]) == "spikes" else "vmem"
    _, detections = decode_run(run.path, decode)
    steps = sorted(detections[name])
    chosen = sorted({steps[0], steps[len(steps) // 2], steps[-1]})
    names = run.model.graph.class_names
    (_, ann), = list(ann_detections(run.model.graph, [found]))
    picture = as_rgb(found)
    panels = [annotated(picture, ann, names, 0.25, "ANN")]
    panels += [annotated(picture, detections[name][step], names, 0.25, f"SNN {step} steps") for step in chosen]
    side_by_side(panels, stage / "fig8_detections_over_time.png")

    write_json(stage / "fig8_detections_over_time.json", {
        "image": name, "ann": ann.records(name, names),
        **{f"snn_t{step}": detections[name][step].records(name, names) for step in chosen}})
    return "fig8_detections_over_time.png"


def _map_of_run(run: Run, summaries: list[dict]) -> dict | None:
    """mAP per checkpoint of the experiment configuration ``run`` belongs to (``NAME/run``), if known."""
    for summary in summaries:
        config = summary["configurations"].get(run.path.parent.name)
        if config is not None and run.path.name == "run":
            return {"ann_mAP50": summary["ann"]["mAP50"], "images": summary["images"], "snn": config["snn"],
                    "configuration": run.path.parent.name}
    return None


