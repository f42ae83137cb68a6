"""The ``brainyolo`` command: convert, detect, decode, evaluate, simulate, tune, balance, analyze, demo, run,
fetch, presets, cache, check, benchmark.

Bad input ends with one line ``brainyolo: error: FILE: PROBLEM`` on stderr, exit status 2, and no
partial output (everything is written to temporary files first).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

from brainyolo import __version__
from brainyolo.errors import BrainyoloError, one_line
from brainyolo.machine import usable_cores
from brainyolo.presets import DEFAULT_PRESET


def _percentile(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"percentile {value} is outside (0, 100]")
    return value


def _truth_options(p, voc: bool = True, events: bool = False) -> None:
    """The ground-truth source of an image folder: exactly one of --labels, --coco (and --voc); with
    ``events`` none when --events reads Gen1 pairs (their ``_bbox.npy`` files are the truth)."""
    truth = p.add_mutually_exclusive_group(required=not events)
    truth.add_argument("--labels", help="folder of YOLO txt labels (class cx cy w h, normalized)")
    truth.add_argument("--coco", help="COCO instances JSON")
    if voc:
        truth.add_argument("--voc", help="folder of Pascal VOC XML annotations (adds VOC07 11-point and all-point AP)")


def _ground_truth(args, paths, names):
    """The ground truth of ``paths`` from whichever of --labels / --coco / --voc was given (event
    samples: their ``_bbox.npy`` boxes at their times)."""
    from brainyolo.evaluation import read_ground_truth

    voc = getattr(args, "voc", None)
    if getattr(args, "events", None):
        from brainyolo.event_inputs import sample_truths

        if args.labels or args.coco or voc:
            raise BrainyoloError(None, "with --events the truth is the Gen1 _bbox.npy files: no --labels/--coco/--voc")
        return sample_truths(paths, len(names))
    if not (args.labels or args.coco or voc):
        raise BrainyoloError(None, "give the ground truth: one of --labels, --coco" + (", --voc" if hasattr(args, "voc")
                                                                                      else ""))
    source = _existing(args.labels or args.coco or voc)
    return read_ground_truth(paths, names, labels=args.labels and source, coco=args.coco and source,
                             voc=voc and source)


def _annotation_ms(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 1 <= value <= 60_000:
        raise argparse.ArgumentTypeError(f"{value} ms is outside 1..60000 ms")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not positive")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"{value} is outside 0..1000")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{value} is not a positive finite number")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _existing(text: str) -> Path:
    path = Path(text)
    if not path.exists():
        raise BrainyoloError(path, "no such file or folder")
    return path


MODEL_HELP = ("model file (.h5) from 'brainyolo convert', or a shipped detector: embedded (the embedded ANN "
              "converted as the demo does), embedded-direct (the directly trained SNN), embedded-events / "
              "embedded-direct-events (the same two trained on event scenes; use with --events)")


def _no_ann_of_direct(model, model_path, mode: str) -> None:
    if model.direct and mode == "ann":
        raise BrainyoloError(model_path, "is a directly trained spiking network: it has no ANN (use --mode snn)")


def _model_file(text: str) -> Path:
    """A model argument: a model file, or ``embedded`` / ``embedded-direct`` (the shipped detectors)."""
    from brainyolo.embedded import model_file

    return _existing(str(model_file(text)))


def cmd_convert(args) -> int:
    from brainyolo.modelfile import save_model
    from brainyolo.pipeline import calibration_images, convert_darknet

    cfg, weights = _existing(args.cfg), _existing(args.weights)
    images = calibration_images(_existing(args.calib), args.calib_count)
    started = time.perf_counter()
    model = convert_darknet(cfg, weights, images, args.norm, args.percentile, args.names,
                            calibration_source=args.calib, progress=not args.quiet)
    save_model(model, args.output)
    print(f"wrote {args.output}: {len(model.graph.layers)} layers, {args.norm}-norm, "
          f"lambda = p{args.percentile:g} of {len(images)} calibration images "
          f"({time.perf_counter() - started:.1f} s)")
    return 0


def _simulation_settings(args, model):
    """SimulationSettings from the preset and the shared simulation options of simulate / detect /
    evaluate / tune (each given option overrides its preset field), checked against ``model`` (a
    ConvertedModel) before anything is built or written."""
    from brainyolo.parameters import ParameterSettings, largest_delay, parse_setting, read_parameter_file
    from brainyolo.presets import load_preset, resolve_simulation
    from brainyolo.spiking.simulate import run_parameters

    preset = load_preset(args.preset)
    parameters = read_parameter_file(_existing(args.params)) if args.params else ParameterSettings()
    for text in args.settings:
        parameters = parameters + parse_setting(text)
    steps = args.steps or preset.steps
    input_name, bins, bin_steps, events = args.input, 1, 1, None
    if getattr(args, "events", None):
        if args.input != "current":
            raise BrainyoloError(None, f"--events {args.events} is the input: no --input {args.input}")
        if steps % args.bins:
            raise BrainyoloError(None, f"{steps} steps is not a whole number of steps per bin (--bins {args.bins})")
        input_name = "spikes" if args.events == "spikes" else "frames"
        bins, bin_steps = args.bins, steps // args.bins
        events = _event_settings(args)
    settings = resolve_simulation(
        model, preset, steps=steps, checkpoints=args.checkpoints, decode=getattr(args, "decode", None),
        output=getattr(args, "output_layer", None), neuron=args.neuron, schedule=args.schedule,
        normalization=args.norm, parameters=parameters, device=args.device, threads=args.threads or usable_cores(),
        float32=args.float32, sample_neurons=args.sample_neurons, events=events,
        build={"connectivity": args.connectivity, "input": input_name, "bins": bins, "bin_steps": bin_steps,
               "synapse": args.synapse, "max_delay": max(args.max_delay or 0, largest_delay(parameters))})
    if settings.thresholds == "balanced" and not model.direct and model.thresholds is None:
        _note(f"{args.model}: no balanced thresholds in this model file (converted before brainyolo 0.4): uniform "
              "thresholds; convert it again, or pass --params from 'brainyolo balance'")
    run_parameters(model, settings)  # the neuron file (tried by Brian2) and the settings fail here, before any work
    return settings


def _note(text: str) -> None:
    print(f"brainyolo: note: {text}", file=sys.stderr)


def cmd_detect(args) -> int:
    from brainyolo.fileio import staged_directory, write_json
    from brainyolo.modelfile import load_model
    from brainyolo.pictures import draw_detections
    from brainyolo.pipeline import ann_detections, sample_picture, snn_detect

    model_path = _model_file(args.model)
    model = load_model(model_path)
    paths = _samples(args, [_existing(p) for p in args.images])
    _no_ann_of_direct(model, model_path, args.mode)
    if args.mode == "snn":
        settings = _simulation_settings(args, model)
        with staged_directory(args.output_dir) as stage:
            records = snn_detect(model_path, paths, settings, stage, settings.decode, args.threshold,
                                 args.show_threshold, progress=not args.quiet)
        last = max(records)
        print(f"{len(records[last])} detections in {len(paths)} images after {last} steps ({settings.decode} "
              f"read-out; checkpoints {', '.join(map(str, records))}) -> {args.output_dir}/detections.json")
        return 0
    records, events = [], _event_settings(args)
    with staged_directory(args.output_dir) as stage:
        for path, detections in ann_detections(model.graph, paths, args.threshold, events):
            records += detections.records(path.name, model.graph.class_names)
            draw_detections(sample_picture(path, events), detections, model.graph.class_names,
                            stage / f"{path.stem}_ann.png", args.show_threshold, "ANN")
        write_json(stage / "detections.json", records)
    print(f"{len(records)} detections in {len(paths)} images -> {args.output_dir}/detections.json")
    return 0


def cmd_decode(args) -> int:
    from brainyolo.decoding import decode_run, write_detections
    from brainyolo.fileio import staged_directory

    run_dir = _existing(args.run_dir)
    records, _ = decode_run(run_dir, args.decode, args.model, args.threshold)
    with staged_directory(args.output_dir) as stage:
        write_detections(stage, records)
    last = max(records)
    print(f"decoded {run_dir} ({args.decode}): {len(records[last])} detections after {last} steps, "
          f"{len(records)} checkpoints -> {args.output_dir}")
    return 0


def cmd_evaluate(args) -> int:
    from tqdm import tqdm

    from brainyolo.decoding import write_detections
    from brainyolo.evaluation import score
    from brainyolo.fileio import staged_directory, write_json
    from brainyolo.images import list_images
    from brainyolo.modelfile import load_model
    from brainyolo.pipeline import ann_detections, evaluate_snn

    model_path = _model_file(args.model)
    model = load_model(model_path)
    names = model.graph.class_names
    if args.events:
        from brainyolo.event_inputs import event_samples

        paths = event_samples(_existing(args.images))
        if args.workers or args.scheduler:
            raise BrainyoloError(None, "--events runs on this machine: --workers/--scheduler take image folders")
    else:
        paths = list_images(_existing(args.images))
    if args.count:
        paths = paths[:args.count]
    if not paths:
        raise BrainyoloError(args.images, "holds no Gen1 pairs with boxes" if args.events else "holds no images")
    _no_ann_of_direct(model, model_path, args.mode)
    settings = _simulation_settings(args, model) if args.mode == "snn" else None
    truths = _ground_truth(args, paths, names)

    def scores(records):
        return score(truths, records, len(names), voc=bool(args.voc))

    records = []
    progress = tqdm(ann_detections(model.graph, paths, events=_event_settings(args)) if not model.direct else [],
                    total=len(paths), desc="ANN",
                    unit="image", disable=True if args.quiet or model.direct else None)
    for path, detections in progress:
        records += detections.records(path.name, names)
    metrics = {"ann": None if model.direct else scores(records), "images": len(paths)}
    if args.mode == "snn":
        out = Path(args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        snn_records = evaluate_snn(model_path, paths, settings, out, settings.decode, progress=not args.quiet,
                                   farm=_farm(args))
        metrics["snn"] = {str(step): scores(recs) for step, recs in snn_records.items()}
        metrics["snn_settings"] = {"preset": settings.preset, "steps": settings.steps, "decode": settings.decode,
                                   "neuron": model.spiking.neuron if model.direct else settings.build.neuron,
                                   "schedule": settings.build.schedule, "thresholds": settings.thresholds,
                                   "normalization": settings.build.normalization or model.normalization,
                                   "input": settings.build.input,
                                   "events": args.events, "window_ms": args.window_ms if args.events else None,
                                   "bins": args.bins if args.events else None}
        write_json(out / "detections_ann.json", records)
        write_detections(out, snn_records)
        write_json(out / "metrics.json", metrics)
    else:
        with staged_directory(args.output_dir) as stage:
            write_json(stage / "detections_ann.json", records)
            write_json(stage / "metrics.json", metrics)
    ann = metrics["ann"]
    if ann is not None:
        print(f"ANN on {len(paths)} images: mAP@0.5 = {ann['mAP50']:.4f}, mAP@[.5:.95] = {ann['mAP']:.4f}"
              + (f", VOC07 mAP = {ann['mAP_voc07']:.4f}" if args.voc else ""))
    for step, m in metrics.get("snn", {}).items():
        ratio = ("directly trained" if ann is None else
                 f"{m['mAP50'] / ann['mAP50']:6.1%} of the ANN" if ann["mAP50"] > 0 else "ANN at 0")
        print(f"SNN {int(step):6d} steps: mAP@0.5 = {m['mAP50']:.4f} ({ratio}), mAP@[.5:.95] = {m['mAP']:.4f}")
    print(f"-> {args.output_dir}/metrics.json")
    return 0


def _event_settings(args):
    """The :class:`~brainyolo.event_inputs.EventSettings` of --events (None without)."""
    if not getattr(args, "events", None):
        return None
    from brainyolo.event_inputs import EventSettings

    return EventSettings(args.events, args.window_ms, args.bins)


def _samples(args, paths: list[Path]) -> list:
    """``paths`` as given (images), or with --events the samples of those ``_td.dat`` recordings."""
    if not getattr(args, "events", None):
        return paths
    from brainyolo.event_inputs import recording_samples

    samples = recording_samples(paths)
    if not samples:
        raise BrainyoloError(paths[0], "its box file holds no boxes: no box time to detect at")
    return samples


def _checkpoints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(v) for v in text.split(",") if v.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of steps") from None
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError("checkpoints are positive step numbers")
    return values


def cmd_simulate(args) -> int:
    from brainyolo.fileio import staged_directory
    from brainyolo.images import load_image
    from brainyolo.modelfile import load_model
    from brainyolo.spiking.simulate import simulate

    model = _model_file(args.model)
    converted = load_model(model)  # checked before anything is built or written
    images = _samples(args, [_existing(p) for p in args.images])
    if not args.events:
        for image in images:
            load_image(image)
    settings = _simulation_settings(args, converted)
    with staged_directory(args.output_dir) as stage:
        info = simulate(model, images, settings, stage, progress=not args.quiet)
    print(f"{len(images)} images x {settings.steps} steps on {args.device}: build {info['build_seconds']:.1f} s, "
          f"run {info['run_seconds']:.1f} s ({info['ms_per_step']:.1f} ms/step), "
          f"{info['synaptic_events']:.3g} synaptic events -> {args.output_dir}/recordings.h5")
    return 0


def _refuse_evaluation_images(folder: Path, paths: list[Path], evaluation_images) -> None:
    """Tuning images must not be evaluation images: the same folder, or the same pictures elsewhere."""
    if not evaluation_images:
        return
    from brainyolo.images import list_images
    from brainyolo.tuning import same_images

    evaluation = _existing(evaluation_images)
    if evaluation.resolve() == folder.resolve():
        raise BrainyoloError(folder, "is the evaluation folder: tune on other images (the calibration images)")
    shared = same_images(paths, list_images(evaluation))
    if shared:
        raise BrainyoloError(folder, f"holds {len(shared)} of the evaluation images ({shared[0]}, ...): tune on "
                                     "other images")


def cmd_tune(args) -> int:
    from brainyolo.modelfile import load_model
    from brainyolo.tuning import TuneSettings, run_tune, tuning_images

    if args.events:
        raise BrainyoloError(None, "tune searches on images: --events is for simulate, detect and evaluate")
    model_path = _model_file(args.model)
    model = load_model(model_path)
    if model.direct and not args.labels:
        raise BrainyoloError(model_path, "is a directly trained spiking network: it has no ANN to agree with "
                                         "(tune it against ground truth with --labels)")
    folder, paths = tuning_images(model, args.images, args.count)
    _refuse_evaluation_images(folder, paths, args.evaluation_images)
    labels = _existing(args.labels) if args.labels else None
    settings = _simulation_settings(args, model)  # (run_tune checks the search space)
    tune = TuneSettings(steps=settings.steps, trials=args.trials, space=tuple(args.space.split(",")),
                        pick=args.pick, keep=args.keep, seed=args.seed)
    summary = run_tune(model_path, paths, tune, settings, args.output_dir, labels, progress=not args.quiet,
                       farm=_farm(args), decode=settings.decode)
    chosen, base = summary["chosen"], summary["baseline"]
    print(f"{summary['trials']} trials on {len(paths)} images of {folder}, {settings.steps} steps: chosen trial "
          f"{summary['chosen_trial']}: {summary['metric']} {chosen['accuracy']:.4f} (baseline {base['accuracy']:.4f}), "
          f"{chosen['events_per_image']:.4g} synaptic events per image ({summary['events_ratio']:.2f}x the "
          f"baseline's) -> {args.output_dir}/params.toml, trials.csv, pareto.png")
    return 0


def cmd_balance(args) -> int:
    from tqdm import tqdm

    from brainyolo.balancing import balance, measure, rounded_forward, rounded_totals
    from brainyolo.evaluation import score
    from brainyolo.graph import YoloHead
    from brainyolo.heads import detect_from_heads
    from brainyolo.images import iterate_letterboxed
    from brainyolo.modelfile import load_model
    from brainyolo.parameters import ParameterSettings, write_parameter_file
    from brainyolo.spiking.builder import hidden_layers
    from brainyolo.tuning import labelled_truths, tuning_images

    model_path = _model_file(args.model)
    model = load_model(model_path)
    if model.direct:
        raise BrainyoloError(model_path, "is a directly trained spiking network: it has no ANN to balance from")
    graph, lambdas = model.normalized_graph(), model.lambdas()
    if not all(isinstance(graph.layers[h], YoloHead) for h in graph.heads()):
        raise BrainyoloError(model_path, "has a [region] head: balancing reads [yolo] heads only")
    if not args.low <= args.v_th <= args.high:
        raise BrainyoloError(None, f"--v-th {args.v_th} is outside --low {args.low} .. --high {args.high}")
    folder, paths = tuning_images(model, args.images, args.count)
    _refuse_evaluation_images(folder, paths, args.evaluation_images)
    truths = None
    if args.labels:
        truths = labelled_truths(paths, graph.class_names, _existing(args.labels))
    hidden, steps = hidden_layers(graph), args.steps
    _, height, width = graph.input_shape

    def images(what: str):
        letterboxed = iterate_letterboxed(paths, width, height)
        return (chw for _, chw, _ in tqdm(letterboxed, total=len(paths), desc=what, unit="image", leave=False,
                                          disable=True if args.quiet else None))

    measured = measure(graph, lambdas, images("measuring"), steps, args.v_th, hidden)
    base = dict.fromkeys(hidden, args.v_th)
    budget = args.budget * sum(c / args.v_th for c in measured.cost.values())
    try:
        chosen = balance(measured.cost, measured.error, budget, args.low, args.high)
    except ValueError as err:
        raise BrainyoloError(None, f"--budget {args.budget}: {err}") from None
    base_error, base_events = rounded_totals(graph, lambdas, images("checking"), base, steps)
    error, events = rounded_totals(graph, lambdas, images("checking"), chosen, steps)
    print(f"{len(paths)} images of {folder}, {steps} steps, base v_th {args.v_th}, budget {args.budget}x its events")
    print("| layer | events per image at v_th 1 (C) | error per grid step² (e) | share of the base's events | "
          "share of the base's error | balanced v_th |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    cost_sum, error_sum = sum(measured.cost.values()), sum(measured.error.values())
    for layer in hidden:
        print(f"| {layer} | {measured.cost[layer]:.4g} | {measured.error[layer]:.4g} | "
              f"{100 * measured.cost[layer] / cost_sum:.1f} % | {100 * measured.error[layer] / error_sum:.1f} % | "
              f"{chosen[layer]:.4f} |")
    modelled = sum(measured.error[i] * chosen[i] ** 2 for i in hidden) / (error_sum * args.v_th ** 2)
    spent = sum(measured.cost[i] / chosen[i] for i in hidden) / (cost_sum / args.v_th)
    print(f"additive model: balanced error {modelled:.3f}x the base's at {spent:.3f}x its events")
    print(f"every layer rounded at once: base error {base_error:.4g}, events {base_events:.4g}; balanced error "
          f"{error:.4g} ({error / base_error if base_error else float('nan'):.3f}x), events {events:.4g} "
          f"({events / base_events if base_events else float('nan'):.3f}x)")
    if truths is not None:
        def map50(thresholds) -> float:
            found = []
            for path, chw, box in iterate_letterboxed(paths, width, height):
                _, maps = rounded_forward(graph, lambdas, chw, thresholds, steps)
                found.extend(detect_from_heads(graph, maps, box).records(path.name, graph.class_names))
            return score(truths, found, len(graph.class_names))["mAP50"]

        ann = map50({})
        print(f"rounded ANN mAP@0.5 (a model of the SNN, not the SNN): ANN {ann:.4f}, uniform {map50(base):.4f}, "
              f"balanced {map50(chosen):.4f}")
    entries = [("all", "v_init", 0.5), ("all", "hold_positive", 1.0)]
    entries += [(str(i), "v_th", round(chosen[i], 4)) for i in hidden]
    header = (f"Thresholds balanced by brainyolo balance: {len(paths)} images of {folder}, T = {steps}, base v_th "
              f"{args.v_th}, budget {args.budget}, bounds [{args.low}, {args.high}].\n"
              "Use with --neuron if_signed_ibt_tracking --schedule same-step --decode vmem.")
    write_parameter_file(args.output, ParameterSettings(tuple(entries)), header)
    print(f"-> {args.output}")
    return 0


def cmd_demo(args) -> int:
    from brainyolo.demo import run_demo

    run_demo(args.output, progress=not args.quiet)
    return 0


def cmd_run(args) -> int:
    from brainyolo.experiment import load_run_file, run_experiment, summary_table

    run_file = _existing(args.run_file)
    spec = load_run_file(run_file)
    if args.threads:
        spec = dataclasses.replace(spec, threads=args.threads)
    out = Path(args.output_dir) if args.output_dir else run_file.resolve().parent / spec.name
    summary = run_experiment(spec, out, progress=not args.quiet, farm=_farm(args))
    print(summary_table(summary), end="")
    print(f"-> {out} (summary.md, summary.json, map_vs_steps.png) in {summary['seconds']:.0f} s")
    return 0


def cmd_fetch(args) -> int:
    from brainyolo.fetch import fetch

    for entry in fetch(args.model_name, args.output_dir, args.mirror, progress=not args.quiet):
        pinned = "verified" if entry["pinned"] else "NOT PINNED (no published value known): record it"
        print(f"{entry['file']}  sha256 {entry['sha256']}  {pinned}")
    return 0


def cmd_compare(args) -> int:
    from brainyolo.evaluation import paired_bootstrap
    from brainyolo.experiment import configuration_records
    from brainyolo.images import list_images
    from brainyolo.modelfile import load_model

    run_dir = _existing(args.run_dir)
    names = load_model(_existing(args.model or Path(run_dir) / "model.h5")).graph.class_names
    (label_a, a, files_a), (label_b, b, files_b) = (configuration_records(run_dir, s) for s in (args.a, args.b))
    common = sorted(set(files_a) & set(files_b))
    if not common:
        raise BrainyoloError(run_dir, f"{label_a} and {label_b} share no image")
    paths = [p for p in list_images(_existing(args.images)) if p.name in set(common)]
    if len(paths) != len(common):
        raise BrainyoloError(args.images, f"lacks {len(common) - len(paths)} of the compared images")
    truths = _ground_truth(args, paths, names)
    result = paired_bootstrap(truths, a, b, len(names), args.resamples, args.seed)
    verdict = "within the images' noise" if result["low"] <= 0 <= result["high"] else "beyond the images' noise"
    print(f"{label_a} - {label_b}: mAP@0.5 {result['difference']:+.4f} (95 % interval {result['low']:+.4f} .. "
          f"{result['high']:+.4f}, {args.resamples} paired bootstrap resamples of {len(paths)} images): {verdict}")
    return 0


def cmd_scenes(args) -> int:
    from brainyolo import scenes
    from brainyolo.fileio import staged_directory

    out = Path(args.output_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BrainyoloError(out, "is not an empty folder: scenes go into a new or empty one (never mixed "
                                  "with other scenes)")
    if args.events:
        from brainyolo.event_scenes import SENSOR, write_event_scenes

        with staged_directory(out) as stage:
            write_event_scenes(stage, args.count, args.seed, (args.annotation_ms,))
        print(f"{args.count} event scenes (seed {args.seed}, {SENSOR[0]}x{SENSOR[1]} sensor, boxes at "
              f"{args.annotation_ms:g} ms): {out}/sceneNNNN_td.dat + sceneNNNN_bbox.npy (Gen1 layout), "
              f"class names in {out / 'classes.names'}")
        return 0
    with staged_directory(out) as stage:
        scenes.write_scenes(stage, args.count, args.seed)
        (stage / "classes.names").write_text("\n".join(scenes.CLASS_NAMES) + "\n")
    print(f"{args.count} scenes (seed {args.seed}): {out / 'images'}, YOLO labels in {out / 'labels'}, "
          f"class names in {out / 'classes.names'}")
    return 0


def cmd_analyze(args) -> int:
    from brainyolo.analysis import analyze

    index = analyze([_existing(p) for p in args.inputs], args.output_dir, args.layer, args.channel, args.images,
                    progress=not args.quiet)
    made = [f for f in index["figures"].values() if f]
    print(f"{len(made)} figures ({', '.join(k for k, f in index['figures'].items() if f)}), table 2, population "
          f"statistics for layer {index['layer']} channel {index['channel']} -> {args.output_dir}")
    for note in index.get("notes", []):
        print(f"note: {note}")
    return 0


def cmd_presets(args) -> int:
    from brainyolo.presets import available_presets, load_preset

    if args.name:
        preset = load_preset(args.name)
        print(f"# {preset.source}")
        print(Path(preset.source).read_text(encoding="utf-8"), end="")
        return 0
    for name in available_presets():
        preset = load_preset(name)
        print(preset.summary() + (" (default)" if name == DEFAULT_PRESET else ""))
    return 0


def cmd_cache(args) -> int:
    from brainyolo.spiking.simulate import cache_root, cached_builds, remove_abandoned_results, remove_builds

    def describe(build) -> str:
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(build.last_used))
        return f"{build.path.name}  {build.size_bytes / 2**20:8.1f} MiB  last used {used}"

    if args.clear or args.older_than is not None:
        removed, busy = remove_builds(args.older_than or 0.0)
        for build in removed:
            print(f"removed {describe(build)}")
        for build in busy:
            print(f"kept (in use) {describe(build)}")
        print(f"{len(removed)} builds removed, {sum(b.size_bytes for b in removed) / 2**20:.1f} MiB freed "
              f"from {cache_root()}")
        return 0
    freed = sum(remove_abandoned_results(build.path) for build in cached_builds())
    if freed:
        print(f"removed {freed / 2**20:.1f} MiB of results folders left by killed runs")
    builds = cached_builds()
    for build in builds:
        print(describe(build))
    print(f"{len(builds)} builds, {sum(b.size_bytes for b in builds) / 2**20:.1f} MiB in {cache_root()}")
    return 0


def _check_one(path: Path, cfg: Path | None) -> str:
    """Validate one file with the reader brainyolo uses for its kind; return a one-line description."""
    from brainyolo.images import IMAGE_SUFFIXES

    suffix = path.suffix.lower()
    if path.is_dir() or path.name == "recordings.h5":
        from brainyolo.decoding import reading_recordings

        with reading_recordings(path if path.is_dir() else path.parent) as f:
            return f"recordings, {len(f['images'])} images x {int(f.attrs['steps'])} steps"
    if suffix == ".cfg":
        from brainyolo.darknet import graph_from_sections, read_cfg

        graph = graph_from_sections(read_cfg(path), path)
        return f"Darknet cfg, {len(graph.layers)} layers, input {'x'.join(map(str, graph.input_shape))}"
    if suffix == ".weights":
        from brainyolo.darknet import load_darknet

        if cfg is None:
            raise BrainyoloError(path, "checking weights needs their cfg (--cfg)")
        darknet = load_darknet(cfg, path)
        header = darknet.header
        return f"Darknet weights {header.major}.{header.minor}.{header.revision}, {len(darknet.params)} convolutions"
    if path.name.endswith("_td.dat"):
        from brainyolo.gen1 import read_td

        events, width, height = read_td(path)
        span = f", {events['t'][0]}..{events['t'][-1]} us" if len(events) else ""
        return f"Gen1 events (Prophesee DAT), {width}x{height} sensor, {len(events)} events{span}"
    if path.name.endswith("_bbox.npy"):
        from brainyolo.gen1 import read_bbox

        boxes = read_bbox(path)
        return f"Gen1 boxes, {len(boxes)} boxes at {len(set(boxes['ts'].tolist()))} times"
    if suffix in (".h5", ".hdf5"):
        from brainyolo.modelfile import load_model

        model = load_model(path)
        if model.direct:
            return (f"model file, {len(model.graph.layers)} layers, directly trained SNN (T = "
                    f"{model.spiking.time_steps}, {model.spiking.neuron}, {model.spiking.framework})")
        return f"model file, {len(model.graph.layers)} layers, {model.normalization}-norm"
    if suffix == ".toml":
        from brainyolo.experiment import load_run_file
        from brainyolo.fileio import read_toml
        from brainyolo.spiking.builder import hidden_neuron_model

        data = read_toml(path, "neuron model, synapse model, run or parameter file")
        synapse_like = "target" in data or not str(data.get("model", "x")).strip()
        if isinstance(data.get("model"), str) and "threshold" not in data and synapse_like:
            from brainyolo.synapses import load_synapse_model

            synapse = load_synapse_model(path)
            return (f"synapse model ({'instant' if synapse.instant else 'into ' + synapse.target}), parameters "
                    f"{', '.join([*synapse.parameters, 'delay', 'release', 'seed'])}")
        if isinstance(data.get("model"), str):
            model = hidden_neuron_model(path)
            return f"neuron model{' (signed)' if model.signed else ''}, parameters {', '.join(model.parameters)}"
        if data and all(key == "all" or key.isdigit() for key in data):
            from brainyolo.parameters import read_parameter_file

            settings = read_parameter_file(path)
            return f"parameter file, {len(settings.entries)} settings (checked against a model when used)"
        spec = load_run_file(path)
        return f"run file {spec.name!r}, {len(spec.configurations())} configurations x {spec.steps} steps"
    if suffix in IMAGE_SUFFIXES:
        from brainyolo.images import load_image

        height, width, _ = load_image(path).shape
        return f"image {width}x{height}"
    raise BrainyoloError(path, "unknown kind of file (cfg, weights, .h5, .toml, an image or a run directory)")


def cmd_check(args) -> int:
    cfg = _existing(args.cfg) if args.cfg else None
    for text in args.paths:
        path = _existing(text)
        print(f"{path}: ok: {_check_one(path, cfg)}")
    return 0


def cmd_benchmark(args) -> int:
    from brainyolo.benchmark import run_benchmark

    run_benchmark(args)
    return 0


def _farm_options(p: argparse.ArgumentParser, what: str) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--workers", type=_positive_int, help=f"run {what} on a local Dask cluster of N worker "
                                                             "processes (OpenMP threads of each: --threads)")
    group.add_argument("--scheduler", metavar="ADDRESS", help=f"run {what} on an existing Dask cluster "
                                                              "(e.g. tcp://host:8786)")


def _farm(args):
    from brainyolo.farm import Farm

    return Farm(workers=getattr(args, "workers", None) or 0, scheduler=getattr(args, "scheduler", None))


def _event_options(p: argparse.ArgumentParser) -> None:
    """--events and its window: the samples are Gen1 recordings (``NAME_td.dat`` + ``NAME_bbox.npy``)."""
    p.add_argument("--events", choices=("frames", "counts", "spikes"),
                   help="read Gen1 event recordings (NAME_td.dat with NAME_bbox.npy beside it; one sample per box "
                        "time): EMS-YOLO frames, tonic ON/OFF counts, or the events as spikes at their own steps "
                        "(the window spread over --steps)")
    p.add_argument("--window-ms", type=_annotation_ms, default=250.0,
                   help="events before each box time (default 250 ms, Gen1 as EMS-YOLO)")
    p.add_argument("--bins", type=_positive_int, default=5, help="time bins of the window (default 5; --steps is a "
                                                                 "multiple)")


def _simulation_options(p: argparse.ArgumentParser, decode: bool) -> None:
    """The simulation options shared by simulate, detect --mode snn and evaluate --mode snn."""
    p.add_argument("--preset", default=DEFAULT_PRESET,
                   help=f"named configuration (default {DEFAULT_PRESET}; 'brainyolo presets' lists them): neuron, "
                        "schedule, read-out, normalization, thresholds, steps and checkpoints; each option below "
                        "overrides its field")
    p.add_argument("--steps", type=_positive_int, help="time steps (1 step = 1 ms; default: the preset's)")
    p.add_argument("--checkpoints", type=_checkpoints, help="steps at which the output layer is read, e.g. "
                                                            "100,300,1000 (the last step always is; default: the "
                                                            "preset's within --steps)")
    if decode:
        p.add_argument("--decode", choices=("vmem", "spikes", "vmem-late"),
                       help="read-out: accumulated output V (vmem), output spike counts (spikes), or V over the "
                            "late half of the run (vmem-late: the start-up transient discarded; records half-way "
                            "checkpoints too); default: the preset's")
    else:
        p.add_argument("--output", dest="output_layer", choices=("vmem", "spikes"),
                       help="output layer: integrate-only (vmem) or signed spiking (spikes); default: the one the "
                            "preset's read-out needs")
    p.add_argument("--neuron",
                   help="hidden-layer neuron model: a name in equations/ or a .toml path (default: the preset's)")
    p.add_argument("--synapse", default="instant",
                   help="synapse model of every convolution: a name in equations/synapses/ (instant, exponential, "
                        "alpha) or a .toml path (default instant: a spike adds its weight to the membrane at once)")
    p.add_argument("--max-delay", type=_non_negative_int, default=0, metavar="STEPS",
                   help="largest synaptic delay (steps) runs of the compiled network may set (default: the largest "
                        "delay the --set/--params settings ask for)")
    p.add_argument("--device", choices=("cpp_standalone", "runtime"), default="cpp_standalone")
    p.add_argument("--threads", type=_positive_int, help="OpenMP threads (cpp_standalone; default: the cores this "
                                                          "process may use)")
    p.add_argument("--connectivity", choices=("shared", "unrolled"), default="shared",
                   help="weight-shared convolution objects, or one Brian2 synapse per weight (small nets)")
    p.add_argument("--input", choices=("current", "poisson"), default="current",
                   help="image as constant current into layer 0, or as Poisson spikes")
    _event_options(p)
    p.add_argument("--norm", choices=("channel", "layer"), help="normalization (default: the preset's)")
    p.add_argument("--schedule", choices=("delayed", "same-step"),
                   help="delayed: a spike reaches the next layer one step later per layer (Spiking-YOLO); "
                        "same-step: layer by layer within each step (spikingjelly, snnTorch); default: the preset's")
    _precision_options(p, "state variables")
    p.add_argument("--sample-neurons", type=_positive_int, default=20, help="spike trains kept per layer")
    p.add_argument("--profile", action="store_true",
                   help="print where the wall time went (start-up, model load, network construction, inputs, "
                        "binary start and results, simulation, recording, decoding, writing) and write it to "
                        "profile.json in the output folder")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="LAYER.NAME=VALUE",
                   help="a neuron or synapse parameter of one layer (or 'all' / '*': every layer that has it) for "
                        "this run, without recompiling: e.g. all.v_init=0.5, 3.v_th=0.8, '*.delay=2', "
                        "'*.tau_syn=5*ms' (repeatable; after --params)")
    p.add_argument("--params", metavar="FILE.toml", help="neuron parameters per layer ([all], [LAYER] tables), "
                                                         "e.g. runs/yolov3-tiny-tuned.toml")


def _precision_options(p: argparse.ArgumentParser, what: str) -> None:
    """``--float64`` (one flag away) and ``--float32`` (the default since 0.3.0; accepted as before)."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--float32", dest="float32", action="store_true",
                       help=f"{what} in single precision (the default: within noise of float64 on the 128 "
                            "COCO val images, and faster; see the README)")
    group.add_argument("--float64", dest="float32", action="store_false",
                       help=f"{what} in double precision (the default before 0.3.0)")
    p.set_defaults(float32=True)


def _tuning_image_options(p: argparse.ArgumentParser, count_help: str, count_default=None) -> None:
    p.add_argument("--images", help="tuning images (default: the model's calibration folder); never the "
                                    "evaluation images")
    p.add_argument("--count", type=_positive_int, default=count_default, help=count_help)
    p.add_argument("--evaluation-images", help="the folder you evaluate on: refused if it shares images with the "
                                                "tuning images")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brainyolo", description="Spiking-YOLO in Brian2: Darknet Tiny YOLO -> spiking network.")
    parser.add_argument("--version", action="version", version=f"brainyolo {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("convert", help="Darknet cfg + weights + calibration -> model.h5",
                            description="Fold batch-norm, measure activation percentiles on "
                                        "calibration images, write the HDF5 model file.")
    p.add_argument("--cfg", required=True, help="Darknet .cfg")
    p.add_argument("--weights", required=True, help="Darknet .weights")
    p.add_argument("--names", help="class names file (default: a *.names beside the cfg)")
    p.add_argument("--calib", required=True, help="folder of calibration (training) images")
    p.add_argument("--calib-count", type=_positive_int, help="use the first N images (by name)")
    p.add_argument("--norm", choices=("channel", "layer"), default="channel",
                   help="normalization (default: channel)")
    p.add_argument("--percentile", type=_percentile, default=99.9,
                   help="lambda percentile in (0, 100] (default: 99.9)")
    p.add_argument("-o", "--output", required=True, help="model file to write (.h5)")
    p.set_defaults(run=cmd_convert)

    p = commands.add_parser("detect", help="detections of a model on images (ANN or SNN)",
                            description="Detect objects; writes OUT_DIR/detections.json and annotated pictures. "
                                        "--mode snn simulates the spiking network (OUT_DIR/run/), decodes the "
                                        "output layer at every checkpoint (OUT_DIR/checkpoints/) and draws ANN "
                                        "and SNN side by side.")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--mode", choices=("ann", "snn"), default="ann",
                   help="ann: the numpy reference network; snn: the Brian2 spiking network")
    p.add_argument("--threshold", type=float, default=0.25, help="score threshold (default 0.25)")
    p.add_argument("--show-threshold", type=float, default=0.25,
                   help="smallest score drawn on the pictures (default 0.25)")
    _simulation_options(p, decode=True)
    p.add_argument("-o", "--output", dest="output_dir", required=True, help="output folder")
    p.set_defaults(run=cmd_detect)

    p = commands.add_parser("decode", help="detections from a run directory's recordings",
                            description="Decode RUN_DIR/recordings.h5 offline: output-layer V (vmem) or net spike "
                                        "counts (spikes) at every checkpoint -> OUT_DIR/detections.json (last "
                                        "step) and OUT_DIR/checkpoints/detections_t{STEP}.json.")
    p.add_argument("run_dir", help="run directory of 'brainyolo simulate'")
    p.add_argument("--decode", choices=("vmem", "spikes", "vmem-late"), default="vmem",
                   help="read-out (default vmem)")
    p.add_argument("--model", help="the run's model file, if it moved")
    p.add_argument("--threshold", type=float, default=0.005, help="score threshold (default 0.005)")
    p.add_argument("-o", "--output", dest="output_dir", required=True, help="output folder")
    p.set_defaults(run=cmd_decode)

    p = commands.add_parser("evaluate", help="mAP of a model on a labelled image folder (ANN, SNN)",
                            description="Evaluate with pycocotools (and VOC AP with --voc); writes "
                                        "OUT_DIR/metrics.json and the detections. --mode snn adds the SNN's "
                                        "mAP at every checkpoint; per-image results are kept as each image "
                                        "finishes, so an interrupted evaluation resumes where it stopped.")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--images", required=True, help="folder of images (with --events: of Gen1 pairs)")
    _truth_options(p, events=True)
    p.add_argument("--count", type=_positive_int, help="evaluate the first N images only")
    p.add_argument("--mode", choices=("ann", "snn"), default="ann")
    _simulation_options(p, decode=True)
    _farm_options(p, "the SNN's images")
    p.add_argument("-o", "--output", dest="output_dir", required=True, help="output folder")
    p.set_defaults(run=cmd_evaluate)

    p = commands.add_parser("simulate", help="run a model as a Brian2 spiking network",
                            description="Simulate the converted model as signed IF neurons in Brian2; writes "
                                        "RUN_DIR/recordings.h5 and RUN_DIR/run_info.json.")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("images", nargs="+", help="image files")
    _simulation_options(p, decode=False)
    p.add_argument("-o", "--output-dir", required=True, help="run directory")
    p.set_defaults(run=cmd_simulate)

    p = commands.add_parser("tune", help="threshold balancing by Bayesian optimization (accuracy vs synaptic events)",
                            description="Search per-layer neuron parameters (thresholds; --space adds v_init and "
                                        "two-phase thresholds) with optuna's multi-objective TPE sampler: accuracy "
                                        "at step T (agreement AP@0.5 with the ANN's own detections, or mAP@0.5 with "
                                        "--labels) against synaptic events per image. Every trial runs the compiled "
                                        "network; the study (TUNE_DIR/study.db) resumes where it stopped. Writes "
                                        "params.toml (for --params), trials.csv, pareto.png, summary.json.")
    p.add_argument("model", help=MODEL_HELP)
    _tuning_image_options(p, "the first N tuning images")
    p.add_argument("--labels", help="ground truth of the tuning images (a folder of YOLO labels or a COCO "
                                    "instances .json): score mAP@0.5 instead of the agreement")
    p.add_argument("--trials", type=_positive_int, required=True, help="trials in all (a resumed study counts its "
                                                                       "finished ones)")
    p.add_argument("--space", default="thresholds", help="comma-separated: thresholds (per layer) or scale (one v_th "
                                                        "for all layers), init, two_phase")
    p.add_argument("--pick", choices=("frugal", "accuracy"), default="frugal",
                   help="frugal: fewest events within --keep of the best accuracy; accuracy: the most accurate")
    p.add_argument("--keep", type=float, default=0.98, help="fraction of the best accuracy kept by --pick frugal")
    p.add_argument("--seed", type=int, default=2021, help="sampler seed")
    _simulation_options(p, decode=True)
    _farm_options(p, "the trials (one per worker at a time)")
    p.add_argument("-o", "--output", dest="output_dir", required=True, help="tuning folder")
    p.set_defaults(run=cmd_tune)

    p = commands.add_parser("balance", help="per-layer thresholds balanced from the ANN alone (no spiking run)",
                            description="Per-layer thresholds for a short run of the holding tracking neuron, "
                                        "from the ANN alone: a T-step run is modelled as the ANN with every hidden "
                                        "convolution rounded to multiples of v_th/T; per layer, the synaptic events "
                                        "its spikes cause and the detection error its rounding adds; the thresholds "
                                        "minimizing the modelled error for the uniform threshold's events, v_l ~ "
                                        "(C_l/e_l)^(1/3). Writes a --params file (V(0) = v_th/2, hold_positive, "
                                        "v_th per layer) for --neuron if_signed_ibt_tracking --schedule same-step.")
    p.add_argument("model", help=MODEL_HELP)
    _tuning_image_options(p, "the first N tuning images (default 32)", 32)
    p.add_argument("--labels", help="ground truth of the tuning images (YOLO labels folder or COCO .json): also "
                                    "score the rounded ANN's mAP@0.5")
    p.add_argument("--steps", type=_positive_int, required=True, help="the run's time steps T")
    from brainyolo.balancing import BalanceSettings

    defaults = BalanceSettings()  # what convert balances with
    p.add_argument("--v-th", type=_positive, default=defaults.base,
                   help=f"the uniform base threshold (default {defaults.base:g})")
    p.add_argument("--budget", type=_positive, default=defaults.budget,
                   help=f"events as a multiple of the base's (default {defaults.budget:g})")
    p.add_argument("--low", type=_positive, default=defaults.low, help=f"smallest threshold (default {defaults.low:g})")
    p.add_argument("--high", type=_positive, default=defaults.high,
                   help=f"largest threshold (default {defaults.high:g})")
    p.add_argument("-o", "--output", type=Path, required=True, help="parameter file to write (.toml)")
    p.set_defaults(run=cmd_balance)

    p = commands.add_parser("demo", help="the whole pipeline on the embedded default model",
                            description="Convert the embedded default model with generated "
                                        "calibration scenes and detect on a generated picture.")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.set_defaults(run=cmd_demo)

    p = commands.add_parser("run", help="run an experiment described by a TOML run file",
                            description="Run every configuration of a run file (model, calibration, images, "
                                        "simulation, normalization x neuron x read-out grid) and score it at "
                                        "every checkpoint next to the ANN; writes RUN_FILE's folder/NAME/ "
                                        "(summary.md, summary.json, map_vs_steps.png). Resumes if interrupted.")
    p.add_argument("run_file", help="TOML run file, e.g. runs/demo.toml")
    _farm_options(p, "every configuration's images")
    p.add_argument("--threads", type=_positive_int, help="OpenMP threads per simulation (default: the run file's)")
    p.add_argument("-o", "--output", dest="output_dir", help="output folder (default: beside the run file, "
                                                             "named after the run)")
    p.set_defaults(run=cmd_run)

    p = commands.add_parser("analyze", help="figures and tables from recorded runs (Spiking-YOLO Figs. 1-9, Table 2)",
                            description="Firing rates, rasters, mAP vs time steps, detections over time, energy "
                                        "and population statistics from run directories (or experiment / demo "
                                        "folders); each figure as PNG with its data as CSV or JSON.")
    p.add_argument("inputs", nargs="+", help="run directories, experiment folders (brainyolo run) or demo folders")
    p.add_argument("--layer", type=int, help="convolution for Figs. 3-5 (default: the second hidden one)")
    p.add_argument("--channel", type=int, help="channel for Fig. 3 (default: the one layer-norm starves most)")
    p.add_argument("--images", help="folder holding the runs' pictures (Fig. 8), if not found by itself")
    p.add_argument("-o", "--output", dest="output_dir", required=True, help="output folder")
    p.set_defaults(run=cmd_analyze)

    p = commands.add_parser("fetch", help="download a real Darknet model (sha256-checked)",
                            description="Download cfg, weights and class names from the official addresses; "
                                        "every file's sha256 is checked before it is saved.")
    p.add_argument("model_name", choices=("yolov3-tiny", "yolov2-tiny-voc", "yolov2-tiny"))
    p.add_argument("--mirror", help="URL prefix holding the same file names, instead of the official addresses")
    p.add_argument("-o", "--output", dest="output_dir", required=True, help="output folder")
    p.set_defaults(run=cmd_fetch)

    p = commands.add_parser("compare", help="is one configuration's mAP@0.5 above another's beyond image noise?",
                            description="Paired bootstrap over the images of two detectors' mAP@0.5 difference, "
                                        "from a run's (or an SNN evaluation's) per-image results: A and B are "
                                        "CONFIG@STEP (a configuration folder and a checkpoint) or ANN.")
    p.add_argument("run_dir", help="brainyolo run's output folder (or evaluate --mode snn's, CONFIG '.')")
    p.add_argument("a", help="CONFIG@STEP or ANN")
    p.add_argument("b", help="CONFIG@STEP or ANN")
    p.add_argument("--images", required=True, help="folder of the evaluated images")
    _truth_options(p, voc=False)
    p.add_argument("--model", help="model file for the class names (default: RUN_DIR/model.h5)")
    p.add_argument("--resamples", type=_positive_int, default=200, help="bootstrap resamples (default 200)")
    p.add_argument("--seed", type=int, default=0, help="resampling seed")
    p.set_defaults(run=cmd_compare)

    p = commands.add_parser("scenes", help="write generated scenes with YOLO labels (fresh test data)",
                            description="The seeded scene generator the demo, calibration and training use: "
                                        "DIR/images/sceneNNNN.png, DIR/labels/sceneNNNN.txt (class cx cy w h, "
                                        "normalized) and DIR/classes.names. The same seed gives the same scenes.")
    p.add_argument("--count", type=_positive_int, required=True, help="number of scenes")
    p.add_argument("--seed", type=int, required=True, help="generator seed (training used 7; pick another)")
    p.add_argument("--events", action="store_true",
                   help="moving scenes seen by an emulated event camera (brainyolo.dvs): DIR/sceneNNNN_td.dat "
                        "(Prophesee DAT events) and DIR/sceneNNNN_bbox.npy (Gen1 boxes), Gen1's layout")
    p.add_argument("--annotation-ms", type=_annotation_ms, default=250.0,
                   help="with --events: the time of the boxes; the events run from 0 to it (default 250)")
    p.add_argument("-o", "--output", dest="output_dir", required=True, help="a new or empty folder")
    p.set_defaults(run=cmd_scenes)

    p = commands.add_parser("presets", help="list the named simulation configurations (--preset NAME)",
                            description="One line per preset: its name, what it is for, and its fields (neuron, "
                                        "schedule, read-out, normalization, thresholds, steps, checkpoints). "
                                        f"detect, evaluate, simulate, tune, run and demo use {DEFAULT_PRESET} "
                                        "unless --preset names another (or a preset .toml file).")
    p.add_argument("name", nargs="?", help="show this preset's file")
    p.set_defaults(run=cmd_presets)

    p = commands.add_parser("cache", help="list or remove compiled networks in the build cache",
                            description="The C++ standalone builds kept in $BRAINYOLO_CACHE (default "
                                        "~/.cache/brainyolo/builds), least recently used first. A build "
                                        "being compiled or run is never removed. Every call also removes "
                                        "the results folders that killed runs left in the builds (as "
                                        "every run of a build does).")
    p.add_argument("--clear", action="store_true", help="remove every build")
    p.add_argument("--older-than", type=_non_negative, metavar="DAYS", help="remove builds unused for DAYS days")
    p.set_defaults(run=cmd_cache)

    p = commands.add_parser("check", help="validate input files without running anything",
                            description="Read each file with the reader brainyolo uses for its kind and report "
                                        "'ok' or the first problem: Darknet cfg and weights (--cfg), model files, "
                                        "run directories (recordings), neuron and run files (.toml), images. "
                                        "Exit status 2 at the first bad file.")
    p.add_argument("paths", nargs="+", help="files or run directories")
    p.add_argument("--cfg", help="the cfg that .weights files belong to")
    p.set_defaults(run=cmd_check)

    p = commands.add_parser("benchmark", help="speed and memory figures",
                            description="ANN: numpy forward vs OpenCV, calibration memory vs images. "
                                        "conv: weight-shared vs unrolled conv layer. snn: whole network.")
    p.add_argument("--cfg", help="Darknet cfg (default: ../shared yolov3-tiny if present)")
    p.add_argument("--weights", help="Darknet weights")
    p.add_argument("--images", help="folder of images (default: ../shared calibration set)")
    p.add_argument("--repeat", type=_positive_int, default=10, help="timed forward passes")
    p.add_argument("--threads", type=_positive_int, default=2, help="BLAS / OpenCV / OpenMP threads")
    p.add_argument("--only", help="comma-separated parts: ann, conv, snn, busy, profile (default: all)")
    p.add_argument("--conv-size", type=_positive_int, default=52, help="map size of the conv comparison")
    p.add_argument("--conv-steps", type=_positive_int, default=200, help="steps of the conv comparison")
    p.add_argument("--snn-steps", type=_positive_int, default=100, help="steps of the whole-network run")
    p.add_argument("--snn-repeat", type=_positive_int, default=2,
                   help="runs of each of the two images through the compiled network")
    _precision_options(p, "whole network")
    p.add_argument("--synapse", default="instant", help="snn: the synapse file of every convolution (default instant)")
    p.set_defaults(run=cmd_benchmark)

    for sub in commands.choices.values():
        sub.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return parser


def _profiled(args, whole_process: bool) -> int:
    """Run the command under a stopwatch (:mod:`brainyolo.timing`); print the table, write profile.json.
    ``whole_process``: the command is the process (``brainyolo ...``), so its start-up counts."""
    from brainyolo.fileio import write_json
    from brainyolo.timing import as_dict, report, stage, stopwatch

    with stopwatch(since_process_start=whole_process) as watch:
        with stage("start-up"):  # the imports every spiking command makes (Brian2 and its code generation)
            import brainyolo.pipeline  # noqa: F401
            import brainyolo.spiking.simulate  # noqa: F401
        code = args.run(args)
    print("\n".join(report(watch)))
    out = getattr(args, "output_dir", None)
    if code == 0 and out is not None and Path(out).is_dir():
        write_json(Path(out) / "profile.json", as_dict(watch))
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status.

    0: done. 2: bad input (one line ``brainyolo: error: FILE: PROBLEM`` on stderr; nothing
    half-written). 130: interrupted. 1: an unexpected failure inside brainyolo, also one line
    (``BRAINYOLO_DEBUG=1`` shows the traceback): it is a bug, please report it.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "profile", False):
            return _profiled(args, whole_process=argv is None)
        return args.run(args)
    except BrainyoloError as err:
        print(f"brainyolo: error: {one_line(str(err), 2000)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("brainyolo: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("brainyolo: error: out of memory", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - one line instead of a traceback, the traceback on request
        if os.environ.get("BRAINYOLO_DEBUG"):
            raise
        print(f"brainyolo: error: internal error {type(err).__name__}: {one_line(str(err))} (a bug in brainyolo: "
              "please report it; BRAINYOLO_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1
