"""Argument types and the option groups several commands share; the run's settings resolved from them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from brainyolo.convert.normalization import NORMALIZATIONS
from brainyolo.io.errors import BrainyoloError
from brainyolo.spiking.counters import COUNT_RESOLUTIONS
from brainyolo.spiking.presets import DEFAULT_PRESET
from brainyolo.spiking.settings import SimulationSettings
from brainyolo.system.machine import usable_cores


def _number(kind: type, accepts: Callable[[float], bool], problem: str, name: str) -> Callable[[str], float]:
    """An argument type: the text read as ``kind`` (int or float), refused with ``problem`` (``{value}`` in it)
    where ``accepts`` says no; argparse shows the refusal as the option's error."""
    noun = "a whole number" if kind is int else "a number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not accepts(value):
            raise argparse.ArgumentTypeError(problem.format(value=value))
        return value

    parse.__name__ = name
    return parse


percentile = _number(float, lambda v: 0 < v <= 100, "percentile {value} is outside (0, 100]", "percentile")
annotation_ms = _number(float, lambda v: 1 <= v <= 60_000, "{value} ms is outside 1..60000 ms", "annotation_ms")
positive_int = _number(int, lambda v: v >= 1, "{value} is not positive", "positive_int")
non_negative_int = _number(int, lambda v: 0 <= v <= 1000, "{value} is outside 0..1000", "non_negative_int")
positive = _number(float, lambda v: 0 < v < float("inf"), "{value} is not a positive finite number", "positive")
non_negative = _number(float, lambda v: v >= 0, "{value} is negative", "non_negative")


def truth_options(p, voc: bool = True, events: bool = False) -> None:
    """The ground-truth source of an image folder: exactly one of --labels, --coco (and --voc); with
    ``events`` none when --events reads Gen1 pairs (their ``_bbox.npy`` files are the truth)."""
    truth = p.add_mutually_exclusive_group(required=not events)
    truth.add_argument("--labels", help="folder of YOLO txt labels (class cx cy w h, normalized)")
    truth.add_argument("--coco", help="COCO instances JSON")
    if voc:
        truth.add_argument("--voc", help="folder of Pascal VOC XML annotations (adds VOC07 11-point and all-point AP)")


def ground_truth(args, paths, names):
    """The ground truth of ``paths`` from whichever of --labels / --coco / --voc was given (event
    samples: their ``_bbox.npy`` boxes at their times)."""
    from brainyolo.readout.evaluation import read_ground_truth

    voc = getattr(args, "voc", None)
    if getattr(args, "events", None):
        from brainyolo.spiking.event_encoding import sample_truths

        if args.labels or args.coco or voc:
            raise BrainyoloError(None, "with --events the truth is the Gen1 _bbox.npy files: no --labels/--coco/--voc")
        return sample_truths(paths, len(names))
    if not (args.labels or args.coco or voc):
        raise BrainyoloError(None, "give the ground truth: one of --labels, --coco" + (", --voc" if hasattr(args, "voc")
                                                                                      else ""))
    source = existing(args.labels or args.coco or voc)
    return read_ground_truth(paths, names, labels=args.labels and source, coco=args.coco and source,
                             voc=voc and source)


def existing(text: str) -> Path:
    path = Path(text)
    if not path.exists():
        raise BrainyoloError(path, "no such file or folder")
    return path


MODEL_HELP = ("model file (.h5) from 'brainyolo convert', or a shipped detector: embedded (the embedded ANN "
              "converted as the demo does), embedded-direct (the directly trained SNN), embedded-events / "
              "embedded-direct-events (the same two trained on event scenes; use with --events)")


def no_ann_of_direct(model, model_path, mode: str) -> None:
    if model.direct and mode == "ann":
        raise BrainyoloError(model_path, "is a directly trained spiking network: it has no ANN (use --mode snn)")


def model_file(text: str) -> Path:
    """A model argument: a model file, or ``embedded`` / ``embedded-direct`` (the shipped detectors)."""
    from brainyolo.data.embedded import model_file

    return existing(str(model_file(text)))


def simulation_settings(args, model):
    """SimulationSettings from the preset and the shared simulation options of simulate / detect /
    evaluate / tune (each given option overrides its preset field), checked against ``model`` (a
    ConvertedModel) before anything is built or written."""
    from brainyolo.spiking.parameters import ParameterSettings, largest_delay, parse_setting, read_parameter_file
    from brainyolo.spiking.presets import load_preset, resolve_simulation
    from brainyolo.spiking.simulate import run_parameters

    preset = load_preset(args.preset)
    parameters = read_parameter_file(existing(args.params)) if args.params else ParameterSettings()
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
        events = event_settings(args)
    settings = resolve_simulation(
        model, preset, steps=steps, checkpoints=args.checkpoints, decode=getattr(args, "decode", None),
        output=getattr(args, "output_layer", None), neuron=args.neuron, schedule=args.schedule,
        normalization=args.norm, parameters=parameters, device=args.device, threads=args.threads or usable_cores(),
        float32=args.float32, events=events,
        **{name: getattr(args, name) for name in ("sample_neurons", "counts") if hasattr(args, name)},
        build={"connectivity": args.connectivity, "input": input_name, "bins": bins, "bin_steps": bin_steps,
               "synapse": args.synapse, "max_delay": max(args.max_delay or 0, largest_delay(parameters))})
    if settings.preset != preset.name:
        note(f"{settings.steps} steps: the {preset.name} preset hands runs of at most {preset.short_runs.up_to_steps} "
             f"steps to the {settings.preset} preset; give --checkpoints (e.g. --checkpoints {settings.steps}) to "
             f"keep {preset.name}")
    if settings.thresholds == "balanced" and not model.direct and model.thresholds is None:
        note(f"{args.model}: no balanced thresholds in this model file (converted before brainyolo 0.4): uniform "
              "thresholds; convert it again, or pass --params from 'brainyolo balance'")
    if settings.build.normalization == "channel-balanced" and model.thresholds is not None \
            and not model.channel_balanced:
        note(f"{args.model}: no channel balance in this model file (converted with --no-balance-channels or before "
             "0.10): its own normalization alone")
    run_parameters(model, settings)  # the neuron file (tried by Brian2) and the settings fail here, before any work
    return settings


def note(text: str) -> None:
    print(f"brainyolo: note: {text}", file=sys.stderr)


def event_settings(args):
    """The :class:`~brainyolo.spiking.event_encoding.EventSettings` of --events (None without)."""
    if not getattr(args, "events", None):
        return None
    from brainyolo.spiking.event_encoding import EventSettings

    return EventSettings(args.events, args.window_ms, args.bins)


def samples(args, paths: list[Path]) -> list:
    """``paths`` as given (images), or with --events the samples of those ``_td.dat`` recordings."""
    if not getattr(args, "events", None):
        return paths
    from brainyolo.spiking.event_encoding import recording_samples

    samples = recording_samples(paths)
    if not samples:
        raise BrainyoloError(paths[0], "its box file holds no boxes: no box time to detect at")
    return samples


def checkpoints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(v) for v in text.split(",") if v.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of steps") from None
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError("checkpoints are positive step numbers")
    return values


def refuse_evaluation_images(folder: Path, paths: list[Path], evaluation_images) -> None:
    """Tuning images must not be evaluation images: the same folder, or the same pictures elsewhere."""
    if not evaluation_images:
        return
    from brainyolo.ann.letterbox import list_images
    from brainyolo.convert.tuning import same_images

    evaluation = existing(evaluation_images)
    if evaluation.resolve() == folder.resolve():
        raise BrainyoloError(folder, "is the evaluation folder: tune on other images (the calibration images)")
    shared = same_images(paths, list_images(evaluation))
    if shared:
        raise BrainyoloError(folder, f"holds {len(shared)} of the evaluation images ({shared[0]}, ...): tune on "
                                     "other images")


def farm_options(p: argparse.ArgumentParser, what: str) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--workers", type=positive_int, help=f"run {what} on a local Dask cluster of N worker "
                                                             "processes (OpenMP threads of each: --threads)")
    group.add_argument("--scheduler", metavar="ADDRESS", help=f"run {what} on an existing Dask cluster "
                                                              "(e.g. tcp://host:8786)")


def farm(args):
    from brainyolo.experiments.farm import Farm

    return Farm(workers=getattr(args, "workers", None) or 0, scheduler=getattr(args, "scheduler", None))


def event_options(p: argparse.ArgumentParser) -> None:
    """--events and its window: the samples are Gen1 recordings (``NAME_td.dat`` + ``NAME_bbox.npy``)."""
    p.add_argument("--events", choices=("frames", "counts", "spikes"),
                   help="read Gen1 event recordings (NAME_td.dat with NAME_bbox.npy beside it; one sample per box "
                        "time): EMS-YOLO frames, tonic ON/OFF counts, or the events as spikes at their own steps "
                        "(the window spread over --steps)")
    p.add_argument("--window-ms", type=annotation_ms, default=250.0,
                   help="events before each box time (default 250 ms, Gen1 as EMS-YOLO)")
    p.add_argument("--bins", type=positive_int, default=5, help="time bins of the window (default 5; --steps is a "
                                                                 "multiple)")


def simulation_options(p: argparse.ArgumentParser, decode: bool, records: bool = True) -> None:
    """The simulation options shared by simulate, detect --mode snn, evaluate --mode snn and tune (``records``:
    the command writes recordings, and takes the options of what they keep: simulate and detect)."""
    p.add_argument("--preset", default=DEFAULT_PRESET,
                   help=f"named configuration (default {DEFAULT_PRESET}; 'brainyolo presets' lists them): neuron, "
                        "schedule, read-out, normalization, thresholds, steps and checkpoints; each option below "
                        "overrides its field")
    p.add_argument("--steps", type=positive_int, help="time steps (1 step = 1 ms; default: the preset's; a preset "
                                                      "with [short_runs], as fast, runs another preset for a run "
                                                      "that short unless --checkpoints, --neuron, --schedule, "
                                                      "--params or --set is given: fast runs short for 24 steps or "
                                                      "fewer)")
    p.add_argument("--checkpoints", type=checkpoints, help="steps at which the output layer is read, e.g. "
                                                            "100,300,1000 (the last step always is; default: the "
                                                            "preset's within --steps, none but the last for a "
                                                            "neuron that reads the run's length, t_run)")
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
    p.add_argument("--max-delay", type=non_negative_int, default=0, metavar="STEPS",
                   help="largest synaptic delay (steps) runs of the compiled network may set (default: the largest "
                        "delay the --set/--params settings ask for)")
    p.add_argument("--device", choices=("cpp_standalone", "runtime"), default="cpp_standalone")
    p.add_argument("--threads", type=positive_int, help="OpenMP threads (cpp_standalone; default: the cores this "
                                                          "process may use)")
    p.add_argument("--connectivity", choices=("shared", "unrolled"), default="shared",
                   help="weight-shared convolution objects, or one Brian2 synapse per weight (small nets)")
    p.add_argument("--input", choices=("current", "poisson"), default="current",
                   help="image as constant current into layer 0, or as Poisson spikes")
    event_options(p)
    p.add_argument("--norm", choices=NORMALIZATIONS,
                   help="normalization (default: the preset's); channel-balanced: channel and the model's channel "
                        "balance (convert --balance-channels)")
    p.add_argument("--schedule", choices=("delayed", "same-step"),
                   help="delayed: a spike reaches the next layer one step later per layer (Spiking-YOLO); "
                        "same-step: layer by layer within each step (spikingjelly, snnTorch); default: the preset's")
    precision_options(p, "state variables")
    if records:
        p.add_argument("--sample-neurons", type=positive_int, default=SimulationSettings.sample_neurons,
                       help="spike trains kept per layer")
        p.add_argument("--counts", choices=COUNT_RESOLUTIONS, default=SimulationSettings.counts,
                       help="what recordings.h5 keeps of the spike counts: every neuron's (default; analyze's "
                            "figures need them) or their sums per channel (less than half the file and of the "
                            "recording stage for yolov3-tiny: for runs of many images; detections, spike totals and "
                            "synaptic events are the same)")
    p.add_argument("--profile", action="store_true",
                   help="print where the wall time went (start-up, model load, network construction, inputs, "
                        "binary start and results, simulation, recording, decoding, the ANN, scoring, writing) "
                        "and write it to profile.json in the output folder")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="LAYER.NAME=VALUE",
                   help="a neuron or synapse parameter of one layer (or 'all' / '*': every layer that has it) for "
                        "this run, without recompiling: e.g. all.v_init=0.5, 3.v_th=0.8, '*.delay=2', "
                        "'*.tau_syn=5*ms' (repeatable; after --params)")
    p.add_argument("--params", metavar="FILE.toml", help="neuron parameters per layer ([all], [LAYER] tables), "
                                                         "e.g. runs/params/yolov3-tiny-tuned.toml")


def precision_options(p: argparse.ArgumentParser, what: str) -> None:
    """``--float64`` (one flag away) and ``--float32`` (the default since 0.3.0; accepted as before)."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--float32", dest="float32", action="store_true",
                       help=f"{what} in single precision (the default: within noise of float64 on the 128 "
                            "COCO val images, and faster; see the README)")
    group.add_argument("--float64", dest="float32", action="store_false",
                       help=f"{what} in double precision (the default before 0.3.0)")
    p.set_defaults(float32=True)


def tuning_image_options(p: argparse.ArgumentParser, count_help: str, count_default=None) -> None:
    p.add_argument("--images", help="tuning images (default: the model's calibration folder); never the "
                                    "evaluation images")
    p.add_argument("--count", type=positive_int, default=count_default, help=count_help)
    p.add_argument("--evaluation-images", help="the folder you evaluate on: refused if it shares images with the "
                                                "tuning images")
