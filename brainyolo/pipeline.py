"""The pipeline's steps as functions the command line (and users' scripts) call."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from brainyolo import __version__
from brainyolo.analysis.annotated import annotated, as_rgb, draw_detections, side_by_side
from brainyolo.ann.graph import Graph
from brainyolo.ann.heads import EVAL_THRESHOLD, Detections, detect_from_heads
from brainyolo.ann.letterbox import iterate_letterboxed
from brainyolo.ann.reference import head_maps
from brainyolo.convert.model_file import load_model
from brainyolo.experiments import farm
from brainyolo.experiments.farm import client_for, run_tasks, share
from brainyolo.io.atomic import sha256_of, write_json
from brainyolo.io.errors import BrainyoloError, one_line
from brainyolo.readout.decoding import write_detections
from brainyolo.spiking.event_encoding import ann_input, event_picture
from brainyolo.system.timing import stage


def ann_detections(graph: Graph, image_paths: Iterable[Path], threshold: float = EVAL_THRESHOLD,
                   events=None) -> Iterator[tuple[Path, Detections]]:
    """Run the numpy ANN on each image, one at a time; yield ``(path, detections)``.

    ``events`` (:class:`~brainyolo.spiking.event_encoding.EventSettings`): the samples are event samples, read
    as the mean of their frames (:func:`~brainyolo.spiking.event_encoding.ann_input`).
    """
    if events is not None:

        for sample in image_paths:
            chw, box = ann_input(sample, events, graph.input_shape)
            yield sample, detect_from_heads(graph, head_maps(graph, chw), box, threshold)
        return
    _, height, width = graph.input_shape
    for path, chw, box in iterate_letterboxed(image_paths, width, height):
        yield path, detect_from_heads(graph, head_maps(graph, chw), box, threshold)


def sample_picture(sample, events=None):
    """What detections of ``sample`` are drawn on: the image file, or an event sample's picture."""
    if events is None:
        return sample

    return event_picture(sample, events)


def snn_detect(model_path, image_paths: list[Path], settings, out_dir: Path, decode: str = "vmem",
               threshold: float = EVAL_THRESHOLD, show_threshold: float = 0.25, progress: bool = True) -> dict:
    """Simulate, decode and draw: ``out_dir/run/``, ``detections.json``, ``checkpoints/``, pictures.

    Each picture shows the ANN's detections and the SNN's (last step) side by side.
    Returns ``{step: records}``.
    """
    from brainyolo.detector import SpikingDetector

    found, records = {}, {}
    settings = dataclasses.replace(settings, decode=decode)
    with SpikingDetector.from_settings(model_path, settings, progress=progress) as detector:
        model = detector.model  # (the file read once, by the detector)
        graph, names = model.graph, model.graph.class_names

        def decoded(run) -> None:  # while the run's recordings are in memory (the file has them too)
            found[run.name] = run.detections
            for step, detections in run.detections.items():
                records.setdefault(step, []).extend(detections.records(run.name, names))

        detector.record(image_paths, out_dir / "run", on_run=decoded, threshold=threshold)
    records, last = dict(sorted(records.items())), max(records)
    with stage("writing"):
        write_detections(out_dir, records)
    if model.direct:  # a directly trained network has no ANN to draw beside it
        for path in image_paths:
            with stage("writing"):
                draw_detections(sample_picture(path, settings.events), found[path.name][last], names,
                                out_dir / f"{path.stem}_snn.png", show_threshold,
                                f"directly trained SNN, {last} steps")
        return records
    ann = ann_detections(graph, image_paths, threshold, settings.events)
    for path in image_paths:
        with stage("ANN (pictures)"):
            _, ann_found = next(ann)
        with stage("writing"):  # composed in memory, one file written
            picture = as_rgb(sample_picture(path, settings.events))
            side_by_side([annotated(picture, ann_found, names, show_threshold, "ANN"),
                          annotated(picture, found[path.name][last], names, show_threshold,
                                    f"SNN {decode}, {last} steps")],
                         out_dir / f"{path.stem}_ann_vs_snn.png")
    return records


def checkpoint_conv_events(data: dict, checkpoints) -> dict[str, int]:
    """Synaptic events delivered by the weight-shared convolutions up to each checkpoint (recordings'
    ``input_events``, summed over layers): the accumulate operations of an image by then."""
    layers = [layer["input_events"] for layer in data["layers"].values() if "input_events" in layer]
    return {str(step): int(sum(int(events[k]) for events in layers)) for k, step in enumerate(checkpoints)}


def image_record(run, names: list[str]) -> dict:
    """One image's evaluation result (``snn_images/<stem>.json``) of a :class:`~brainyolo.detector.DetectorRun`:
    detections at every checkpoint, synaptic events, timings."""
    result = run.result
    return {"file_name": run.name, "synaptic_events": result.synaptic_events,
            "single_spike_events": result.single_spike_events, **result.timing,
            "conv_events": checkpoint_conv_events(result.data, result.checkpoints),
            "detections": {str(step): d.records(run.name, names) for step, d in run.detections.items()}}


def snn_image_task(model_data, model_sha256: str, version: str, settings, decode: str, item) -> dict:
    """A cluster task: simulate and decode one image ``item = (file name, bytes)`` on a worker."""

    farm.check_version(version)
    name, data = item
    with farm.worker_lock():
        detector, names = farm.worker_detector(model_data, model_sha256, settings, decode)
        with farm.image_file(name, data) as path:
            return image_record(detector.run(path), names)


def _evaluate_on_farm(model_path, paths: list[Path], settings, per_image: Path, decode: str, farm, bar) -> None:
    """The images ``paths`` as cluster tasks; each result written here (atomically) as it arrives."""

    model_data = Path(model_path).read_bytes()
    sha = hashlib.sha256(model_data).hexdigest()
    failed = []
    with client_for(farm) as client:
        model = share(client, model_data)
        items = [(path.name, path.read_bytes()) for path in paths]
        stems = {path.name: path.stem for path in paths}
        for (name, _), record, error in run_tasks(client, snn_image_task, items, model, sha, __version__,
                                                  settings, decode, progress=lambda _: bar.update(1),
                                                  key="brainyolo-image"):
            if error is None:
                write_json(per_image / f"{stems[name]}.json", record)
            else:
                failed.append((name, error))
    if failed:
        name, error = failed[0]
        raise BrainyoloError(None, f"{len(failed)} of {len(paths)} images failed on the cluster ({name}: "
                                   f"{one_line(error)}); the others are saved: run again to retry them")


PINNED_DEFAULTS = {"schedule": "delayed", "bins": 1, "bin_steps": 1, "synapse": "instant", "max_delay": 0,
                   "lesions": False, "channel_parameters": False, "layer_neurons": [], "layer_synapses": []}
"""Build options added since evaluations were first pinned, with the value older ones ran with."""


def _comparable_pin(pinned: dict) -> dict:
    """Pinned evaluation settings less the thread count, profiling and what recordings keep: spikes do not depend
    on them (deterministic by construction), so an evaluation may resume with other threads; options newer
    than the pinned file count as their former behaviour."""
    settings = {k: v for k, v in pinned.get("settings", {}).items() if k not in ("threads", "profile", "counts")}
    if isinstance(settings.get("build"), dict):
        settings["build"] = {**PINNED_DEFAULTS, **settings["build"]}
    settings.setdefault("events", None)
    return {**pinned, "settings": settings}


def evaluate_snn(model_path, image_paths: list[Path], settings, out_dir: Path, decode: str = "vmem",
                 progress: bool = True, farm=None) -> dict[int, list[dict]]:
    """Simulate and decode every image, resumably; return ``{step: records of all images}``.

    With an active ``farm`` (:class:`brainyolo.experiments.farm.Farm`) the images are tasks of a Dask cluster;
    the results are the serial ones, written here as they arrive.

    Each image's detections at every checkpoint go to ``out_dir/snn_images/<stem>.json`` (written
    atomically) as soon as the image is done; a later call with the same settings skips them, so an
    interrupted evaluation resumes with no image lost or done twice. ``out_dir/snn_settings.json``
    pins the settings; another evaluation in the same folder is refused.
    """
    import json
    from dataclasses import asdict

    from tqdm import tqdm

    from brainyolo.detector import SpikingDetector

    model = load_model(model_path)
    names = model.graph.class_names
    pinned = {"model_sha256": sha256_of(model_path), "decode": decode, "settings": asdict(settings)}
    pinned = json.loads(json.dumps(pinned, default=str))
    per_image = out_dir / "snn_images"
    settings_file = out_dir / "snn_settings.json"
    if settings_file.exists():
        if _comparable_pin(json.loads(settings_file.read_text())) != _comparable_pin(pinned):
            raise BrainyoloError(out_dir, "holds an SNN evaluation with other settings (model, steps, "
                                          "decoding or simulation options): use another output folder")
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json(settings_file, pinned)
    per_image.mkdir(parents=True, exist_ok=True)
    stems = [p.stem for p in image_paths]
    if len(set(stems)) != len(stems):
        raise BrainyoloError(None, "image names must be unique (per-image results are kept by name)")
    todo = [p for p in image_paths if not (per_image / f"{p.stem}.json").exists()]
    if todo:
        bar = tqdm(total=len(image_paths), initial=len(image_paths) - len(todo), desc="SNN", unit="image",
                   disable=None if progress else True)
        if farm is not None and farm.active:
            _evaluate_on_farm(model_path, todo, settings, per_image, decode, farm, bar)
        else:
            with SpikingDetector.from_settings(model_path, dataclasses.replace(settings, decode=decode),
                                               progress=progress) as detector:
                for path in todo:
                    record = image_record(detector.run(path), names)
                    with stage("writing"):
                        write_json(per_image / f"{path.stem}.json", record)
                    bar.update(1)
        bar.close()
    records: dict[int, list[dict]] = {}
    for path in image_paths:
        done = json.loads((per_image / f"{path.stem}.json").read_text())
        for step, recs in done["detections"].items():
            records.setdefault(int(step), []).extend(recs)
    return dict(sorted(records.items()))
