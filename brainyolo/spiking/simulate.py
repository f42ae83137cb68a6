"""Run a converted model as a spiking network on images, compiling the C++ once.

With the ``cpp_standalone`` device the network is generated and compiled once per (model file,
neuron file, options) into a cached build folder (``$BRAINYOLO_CACHE`` or
``~/.cache/brainyolo/builds``); every image then runs the same binary with its input current
passed through Brian2's ``run_args`` (no code generation, no compilation), and so are the run's length
and checkpoints (:meth:`brainyolo.readout.recordings.Recorder.run_inputs`): one binary for any ``--steps`` (with
image inputs; event inputs build a bin's steps into the network). A build folder is
locked while it is written, and every run writes its results into a folder of its own, so runs
may happen at once. A run claims its results folder with a lock of its own and removes it when it
ends; a run that was killed (out of memory, a dead Dask worker) leaves its folder unclaimed, and the
next run of that build, or ``brainyolo cache``, removes it. The ``runtime`` device (numpy) rebuilds
per image: for small networks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import gc
import hashlib
import json
import os
import shutil
import sys
import time
import uuid
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import brian2
import numpy as np

from brainyolo import __version__
from brainyolo.ann.heads import EVAL_THRESHOLD
from brainyolo.ann.letterbox import letterbox, load_image
from brainyolo.convert.model_file import load_model
from brainyolo.io.atomic import atomic_path, sha256_of, write_json
from brainyolo.io.errors import BrainyoloError, one_line
from brainyolo.io.integrity import seal
from brainyolo.readout.decoding import Decoder
from brainyolo.readout.recordings import Recorder, checkpoint_slots, open_recordings, recorded_checkpoints, write_image
from brainyolo.spiking import to_neuron_order
from brainyolo.spiking.builder import (
    BuildOptions,
    SpikingNetwork,
    apply_inputs,
    build_network,
    hidden_layers,
    hidden_neuron_model,
    model_build_options,
    output_layers,
    parameter_defaults,
)
from brainyolo.spiking.device import back_to_runtime, use_standalone
from brainyolo.spiking.event_encoding import EventSample, EventSettings, input_event_record, network_input
from brainyolo.spiking.input_kinds import input_kind
from brainyolo.spiking.measure import REPORT_CODE, REPORT_PERIOD_SECONDS, progress_setting
from brainyolo.spiking.neurons import TIME_STEP_MS, load_neuron_model
from brainyolo.spiking.parameters import ParameterSettings, resolve
from brainyolo.spiking.synapses import load_synapse_model
from brainyolo.system.machine import usable_cores
from brainyolo.system.timing import account, count_image, stage

DEVICES = ("cpp_standalone", "runtime")


@dataclass(frozen=True)
class SimulationSettings:
    """Everything that shapes a simulation besides the model and the images."""

    steps: int = 300
    checkpoints: tuple[int, ...] = ()
    device: str = "cpp_standalone"
    threads: int = field(default_factory=usable_cores)
    """OpenMP threads of the C++ binary (default: the cores this process may use)."""
    float32: bool = True
    """Single-precision state variables (the default since 0.3.0; False: float64). Either way the step
    inputs are fixed-point sums, so results do not depend on threads or scatter modes."""
    sample_neurons: int = 20
    build: BuildOptions = field(default_factory=BuildOptions)
    parameters: ParameterSettings = field(default_factory=ParameterSettings)
    """Per-layer neuron parameters of the runs (:mod:`brainyolo.spiking.parameters`): not part of the build."""
    events: EventSettings | None = None
    """How event samples (:class:`~brainyolo.spiking.event_encoding.EventSample`) are read; None: images only."""
    decode: str = "vmem"
    """The read-out the run is decoded with (:data:`brainyolo.readout.decoding.DECODERS`; the build needs only
    ``build.output``, the output layer it reads)."""
    thresholds: str = "uniform"
    """``balanced``: each hidden layer's threshold as the model file balanced it at conversion (its default
    ``v_th``; settings still override it); ``uniform``: the neuron file's. A directly trained network runs
    with its trained thresholds either way."""
    preset: str = ""
    """The preset these settings were resolved from (:mod:`brainyolo.spiking.presets`; recorded, not used)."""
    profile: bool = False
    """cpp_standalone: time every code object (Brian2's ``profile=True``); each image's timing then holds
    ``profile`` {code object: seconds} (a binary of its own: the timers cost a little)."""


def sample_name(sample) -> str:
    """The name a sample goes by in progress lines and detections: an image file's name, or an
    :class:`~brainyolo.spiking.event_encoding.EventSample`'s ``NAME_<t>us``."""
    return sample.name if isinstance(sample, EventSample) else Path(sample).name


@contextlib.contextmanager
def build_lock(directory: Path, exclusive: bool):
    """Reader-writer lock on a build folder: builds are exclusive, runs of the binary shared.

    A build rewrites sources and static arrays, so it must not overlap a run reading them; runs
    write into results folders of their own and may overlap each other.
    """
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(str(directory) + ".lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cache_root() -> Path:
    return Path(os.environ.get("BRAINYOLO_CACHE", Path.home() / ".cache" / "brainyolo")) / "builds"


@dataclass(frozen=True)
class CachedBuild:
    """One compiled network in the build cache."""

    path: Path
    size_bytes: int
    last_used: float  # seconds since the epoch: the latest build or run


def _tree_bytes(path: Path) -> int:
    return sum(_stat(f).st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def cached_builds() -> list[CachedBuild]:
    """The build cache's compiled networks, least recently used first."""
    builds = []
    for path in cache_root().glob("*"):
        if not path.is_dir():
            continue
        # a run creates (then removes) its folder under results/: that folder's time is the last use
        used = [_stat(p).st_mtime for p in (path, path / "results", path / "main") if p.exists()]
        builds.append(CachedBuild(path, _tree_bytes(path), max(used)))
    return sorted(builds, key=lambda b: b.last_used)


CLAIM_SUFFIX = ".claim"


@contextlib.contextmanager
def results_folder(build_dir: Path):
    """A fresh results folder for one run of a build's binary: ``build_dir/results/<uuid>``.

    The run holds an exclusive lock on ``<uuid>.claim`` beside it from before the folder exists
    until it is removed (on success and on errors alike). The kernel drops the lock when the
    process dies, so a folder whose claim can be taken belongs to no living run:
    :func:`remove_abandoned_results` removes those.
    """
    results = build_dir / "results"
    results.mkdir(parents=True, exist_ok=True)
    name = uuid.uuid4().hex
    claim = results / (name + CLAIM_SUFFIX)
    with open(claim, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield results / name
        finally:
            shutil.rmtree(results / name, ignore_errors=True)
            claim.unlink(missing_ok=True)
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_abandoned_results(build_dir: Path) -> int:
    """Remove the results folders of a build that no living run claims; return the bytes freed.

    Such folders are what killed runs leave behind (a float64 1000-step yolov3-tiny run writes
    ~2 GB of monitor arrays there). Folders of runs in progress are claimed and left alone.
    """
    results = build_dir / "results"
    if not results.is_dir():
        return 0
    names = {p.name.removesuffix(CLAIM_SUFFIX) for p in results.iterdir()}
    if not names:
        return 0
    last_used = _stat(results).st_mtime  # cleaning is no use of the build (see cached_builds)
    freed = 0
    for name in sorted(names):
        claim = results / (name + CLAIM_SUFFIX)
        try:
            handle = open(claim, "a+")
        except OSError:  # the build folder went away (``cache --clear``)
            continue
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a run in progress
            try:
                folder = results / name
                if folder.is_dir():
                    freed += _tree_bytes(folder)
                    shutil.rmtree(folder, ignore_errors=True)
                claim.unlink(missing_ok=True)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    with contextlib.suppress(OSError):
        os.utime(results, (last_used, last_used))
    return freed


def remove_run_inputs(build_dir: Path) -> int:
    """Delete the per-run input arrays (``static_arrays/init_*.dat``, Brian2's files of a run's ``run_args``:
    for yolov3-tiny 11 MB per image) when no run of the build is in progress; return the bytes freed.

    Every run holds the build's shared lock from before Brian2 writes its inputs until its binary has
    ended, so with the exclusive lock taken (without waiting) no run needs them; otherwise the last run
    of the build to end removes them.
    """
    with open(str(build_dir) + ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0
        try:
            freed = 0
            for path in (build_dir / "static_arrays").glob("init_*.dat*"):
                freed += _stat(path).st_size
                path.unlink(missing_ok=True)
            return freed
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stat(path: Path) -> os.stat_result:
    """``path.stat()``, or zeros for a file that a concurrent run just removed."""
    try:
        return path.stat()
    except FileNotFoundError:
        return os.stat_result((0,) * 10)


def remove_builds(older_than_days: float = 0.0) -> tuple[list[CachedBuild], list[CachedBuild]]:
    """Delete cached builds not used for ``older_than_days``; return (removed, busy).

    A build that is being compiled or run holds its lock: it is left alone and listed as busy.
    The empty lock files stay (removing one could let two processes lock different files).
    The builds that stay lose the results folders that killed runs left behind.
    """
    limit = time.time() - older_than_days * 86400
    removed, busy = [], []
    for build in cached_builds():
        if build.last_used > limit:
            remove_abandoned_results(build.path)
            continue
        with open(str(build.path) + ".lock", "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                busy.append(build)
                continue
            try:
                shutil.rmtree(build.path)
                removed.append(build)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    return removed, busy


def build_key(model_sha256: str, settings: SimulationSettings) -> str:
    """Identity of a compiled binary: model, neuron file text, options, versions."""

    neuron = load_neuron_model(settings.build.neuron)
    built = {k: v for k, v in asdict(settings).items()  # runs set those
             if k not in ("parameters", "events", "thresholds", "preset", "decode", "steps", "checkpoints")}
    # steps and checkpoints are run-time inputs; only the number of checkpoint slots is built
    built["checkpoint_slots"] = checkpoint_slots(settings.checkpoints, settings.steps)
    parts = {"model": model_sha256, "neuron": Path(neuron.source).read_text() if neuron.source else "",
             "settings": built, "brainyolo": __version__, "brian2": brian2.__version__}
    # options added later count only where they differ from their defaults (earlier builds stay valid)
    for key, default in (("synapse", "instant"), ("max_delay", 0)):
        if built["build"][key] == default:
            del built["build"][key]
    if settings.build.synapse != "instant":
        synapse = load_synapse_model(settings.build.synapse)
        parts["synapse"] = Path(synapse.source).read_text() if synapse.source else ""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def synaptic_events(network: SpikingNetwork, counts: dict) -> dict[int, int]:
    """Exact synaptic events per source layer: every spike (either sign) times its fan-out."""

    events = {}
    for index, layer in network.layers.items():
        if not layer.own or not layer.fan_out:
            continue
        spikes = to_neuron_order(counts[index]["positive_count"] + counts[index]["negative_count"])
        events[index] = int(sum(int(np.dot(spikes.astype(np.int64), fan.astype(np.int64)))
                                for fan in layer.fan_out))
    return events


@contextlib.contextmanager
def _brian2_preferences(settings: SimulationSettings):
    """Brian2's float type and runtime target for building (and, in the runtime, running) a network.

    The preferences are restored afterwards: a user's own Brian2 objects created after a
    simulation keep Brian2's defaults (float64), whatever precision brainyolo simulated in.
    """
    saved = brian2.prefs.core.default_float_dtype, brian2.prefs.codegen.target
    brian2.prefs.core.default_float_dtype = np.float32 if settings.float32 else np.float64
    brian2.prefs.codegen.target = "numpy"
    # brainyolo's OpenMP code paths are tested spike for spike against serial runs
    brian2.BrianLogger.suppress_name("openmp")
    # Brian2 checks set values against 1e50, which overflows a float32 cast: harmless
    warnings.filterwarnings("ignore", message="overflow encountered in cast", category=RuntimeWarning)
    try:
        yield
    finally:
        brian2.prefs.core.default_float_dtype, brian2.prefs.codegen.target = saved


@dataclass
class ImageResult:
    """One image's simulation: its letterbox, recordings (``Recorder.collect``) and timing."""

    path: Path
    box: object  # brainyolo.ann.letterbox.Letterbox
    data: dict
    timing: dict
    synaptic_events: int
    checkpoints: list[int]

    def info(self) -> dict:
        return {"file_name": self.path.name, **self.timing, "synaptic_events": self.synaptic_events}


class Simulator:
    """Runs a converted model on images one at a time (with ``cpp_standalone``: compiled once).

    Use as a context manager; :meth:`run` simulates one image. With ``progress`` the binary shows
    each run's steps, ms/step and time left on stderr (:mod:`brainyolo.spiking.measure`): in place on
    a terminal, a line every half minute in a log (``progress_every`` seconds instead: after that
    long on a terminal, between two lines of a log).
    """

    def __init__(self, model_path, settings: SimulationSettings, progress: bool = False,
                 progress_every: float | None = None):
        if settings.device not in DEVICES:
            raise ValueError(f"device {settings.device!r} not in {DEVICES}")
        self.model_path = Path(model_path)
        self.model = load_model(model_path)
        # a directly trained network runs its own neuron file and schedule (see model_build_options)
        build = model_build_options(self.model, settings.build)
        if build.normalization is None and not self.model.direct:  # the model file's: named, one build key
            build = dataclasses.replace(build, normalization=self.model.normalization)
        settings = dataclasses.replace(settings, build=build)
        self.settings = settings
        self.model_sha = sha256_of(model_path)
        self.parameters = run_parameters(self.model, settings)  # checked before anything is built
        self._runner = None
        self.progress, self.progress_every = progress, progress_every
        if settings.device == "cpp_standalone":
            with stage("network construction"):
                self._runner = _StandaloneRunner(self.model, self.model_sha, settings)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
            self._runner = None

    def run(self, path, parameters: dict[int, dict[str, float]] | None = None) -> ImageResult:
        """Simulate one sample (an image file, or an :class:`~brainyolo.spiking.event_encoding.EventSample`) for the
        settings' steps and checkpoints (fixed per Simulator: Brian2 keeps the size of a monitor's 2-D array
        after its first read); ``parameters`` (:meth:`resolve_parameters`) replace the settings' for this run."""
        count_image()
        with stage("inputs"):
            chw, box = self.sample_input(path)
        parameters = self.parameters if parameters is None else parameters
        if self._runner is not None:
            show = None
            if self.progress:
                show = progress_setting("tty" if sys.stderr.isatty() else "log", self.settings.steps,
                                        sample_name(path), self.progress_every)
            network, recorder, data, timing = self._runner.run(chw, parameters, show)
        else:
            network, recorder, data, timing = _run_runtime(self.model, self.settings, chw, parameters)
        events = sum(synaptic_events(network, data["layers"]).values())
        if isinstance(path, EventSample):
            data["input_events"] = input_event_record(path, self.settings.events, self.settings.steps)
        sample = path if isinstance(path, EventSample) else Path(path)
        return ImageResult(sample, box, data, timing, events,
                           recorded_checkpoints(self.settings.checkpoints, self.settings.steps))

    def sample_input(self, sample):
        """What the network's input kind reads of ``sample``, and the sample's letterbox.

        Raises
        ------
        BrainyoloError
            An event sample for an image input or the other way round.
        """

        reads = input_kind(self.settings.build.input).reads
        if isinstance(sample, EventSample):
            if reads != "events" or self.settings.events is None:
                raise BrainyoloError(sample.td, f"an event recording, but the input is {self.settings.build.input!r} "
                                                "(read events with --events)")
            return network_input(sample, self.settings.events, self.settings.steps, self.model.graph.input_shape)
        if reads != "image":
            raise BrainyoloError(sample, f"an image, but the input {self.settings.build.input!r} reads event "
                                         "recordings")
        _, height, width = self.model.graph.input_shape
        return letterbox(load_image(sample), width, height)

    def resolve_parameters(self, settings) -> dict[int, dict[str, float]]:
        """Every hidden layer's parameters with ``settings`` (:class:`ParameterSettings`) applied."""
        return run_parameters(self.model, dataclasses.replace(self.settings, parameters=settings))

    def decoder(self, decode: str, threshold: float | None = None):
        """The :class:`~brainyolo.readout.decoding.Decoder` of this simulation's runs with the read-out ``decode``
        (its normalization, input kind, schedule and synaptic delays)."""
        from brainyolo.spiking.input_kinds import input_kind

        build = self.settings.build
        if decode == "spikes" and build.output != "spikes":
            raise BrainyoloError(None, "the spike-count read-out (decode spikes) needs the spiking output layer "
                                       "(--output spikes)")
        return Decoder.for_model(self.model, build.normalization, decode, spiking_input=input_kind(build.input).spikes,
                                 threshold=EVAL_THRESHOLD if threshold is None else threshold,
                                 schedule=build.schedule, synaptic_delays=synaptic_delays(self.parameters))

    def threshold_source(self) -> str:
        """Where the hidden layers' default thresholds came from: ``trained``, ``balanced`` or ``uniform``."""
        if self.model.direct:
            return "trained"
        if self.settings.thresholds == "balanced" and self.model.thresholds is not None:
            return "balanced"
        return "uniform"

    def run_info(self) -> dict:
        """The settings part of ``run_info.json`` (timings are added per image)."""
        s = self.settings
        return {"model_file": str(self.model_path), "preset": s.preset, "thresholds": self.threshold_source(),
                "steps": s.steps, "device": s.device,
                "threads": s.threads if s.device == "cpp_standalone" else 1,
                "float32": s.float32, "neuron": s.build.neuron, "output": s.build.output,
                "input": s.build.input, "connectivity": s.build.connectivity, "schedule": s.build.schedule,
                "synapse": s.build.synapse, "max_delay": s.build.max_delay,
                "events": asdict(s.events) if s.events else None,
                "normalization": s.build.normalization or self.model.normalization,
                "parameters": {str(k): v for k, v in self.parameters.items()}}


def simulate(model_path, image_paths, settings: SimulationSettings, run_dir, progress: bool = True,
             on_result=None) -> dict:
    """Simulate every image; write ``run_dir/recordings.h5`` and ``run_dir/run_info.json``.

    ``on_result``: called with the :class:`Simulator` and each image's :class:`ImageResult` (e.g. to decode
    it while its recordings are in memory). Returns the run information (also written to run_info.json).
    """
    from tqdm import tqdm


    run_dir = Path(run_dir)
    with Simulator(model_path, settings, progress=progress) as simulator:
        info = {**simulator.run_info(), "build_seconds": 0.0, "run_seconds": 0.0, "synaptic_events": 0,
                "peak_memory_bytes": 0, "images": [], "layer_spikes": {}}
        attrs = {k: info[k] for k in ("preset", "thresholds", "steps", "device", "neuron", "output", "input",
                                      "normalization", "connectivity", "schedule", "synapse")}
        attrs["parameters"] = json.dumps(info["parameters"], sort_keys=True)
        attrs.update(model_file=str(model_path), model_sha256=simulator.model_sha)
        run_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(run_dir / "recordings.h5") as tmp:
            recordings = None
            bar = tqdm(image_paths, desc="simulate", unit="image", disable=None if progress else True)
            for number, path in enumerate(bar):
                result = simulator.run(path)
                if on_result is not None:
                    on_result(simulator, result)
                if recordings is None:
                    attrs["checkpoints"] = result.checkpoints
                    recordings = open_recordings(tmp, attrs)
                box = result.box
                with stage("recording"):
                    write_image(recordings, number, {"file_name": result.path.name, "image_width": box.image_size[0],
                                                     "image_height": box.image_size[1]}, result.data)
                image_info = result.info()
                info["images"].append(image_info)
                for key in ("build_seconds", "run_seconds", "synaptic_events"):
                    info[key] += image_info[key]
                info["peak_memory_bytes"] = max(info["peak_memory_bytes"], image_info.get("peak_memory_bytes", 0))
                for index, layer in result.data["layers"].items():
                    totals = info["layer_spikes"].setdefault(str(index), {
                        "kind": layer["kind"], "neurons": int(np.prod(layer["shape"])), "positive": 0,
                        "negative": 0})
                    totals["positive"] += int(layer["positive_count"].sum())
                    totals["negative"] += int(layer["negative_count"].sum())
            info["checkpoints"] = attrs.get("checkpoints", [])
            if recordings is not None:
                seal(recordings)
                recordings.close()
    steps_total = settings.steps * max(len(info["images"]), 1)
    info["ms_per_step"] = 1000.0 * info["run_seconds"] / steps_total
    info["synaptic_events_per_second"] = info["synaptic_events"] / max(info["run_seconds"], 1e-9)
    write_json(run_dir / "run_info.json", info)
    return info


def run_parameters(model, settings: SimulationSettings) -> dict[int, dict[str, float]]:
    """Every layer's run parameters: the built values with the settings applied.

    Hidden layers: the neuron file's and the synapse file's; output layers: the synapse file's
    (``delay``, ``release``, ``seed``, and e.g. ``tau_syn``).

    Raises
    ------
    BrainyoloError
        A setting the neuron file, the synapse file or the graph does not allow (before anything is built).
    """
    from brainyolo.spiking.synapses import load_synapse_model

    options = model_build_options(model, settings.build)
    neuron = hidden_neuron_model(options.neuron)
    synapse = load_synapse_model(options.synapse)
    graph = model.graph
    if settings.parameters.entries and settings.build.connectivity != "shared":
        raise BrainyoloError(None, "neuron parameters per run need the weight-shared convolution "
                                   "(--connectivity shared)")
    defaults = parameter_defaults(graph, neuron, model_values(model, settings.thresholds), synapse)
    return resolve(settings.parameters, neuron, hidden_layers(graph), defaults, synapse=synapse,
                   outputs=output_layers(graph), max_delay=options.max_delay)


def model_values(model, thresholds: str = "uniform") -> dict[int, dict[str, float]] | None:
    """The parameters a model file holds per layer, which replace the neuron file's: a directly trained
    network's as trained; with ``thresholds`` ``balanced``, a converted one's balanced thresholds."""
    if model.direct:
        return model.spiking.layers
    if thresholds == "balanced" and model.thresholds is not None:
        return {index: {"v_th": value} for index, value in model.thresholds.v_th.items()}
    return None


def synaptic_delays(parameters: dict[int, dict[str, float]]) -> dict[int, int]:
    """Per layer, the delay (steps) of the connections into it, from :func:`run_parameters`' values."""
    return {int(index): int(values.get("delay", 0)) for index, values in parameters.items() if values.get("delay")}


def _run_runtime(model, settings: SimulationSettings, chw: np.ndarray, parameters: dict):
    brian2.set_device("runtime")
    brian2.start_scope()
    with _brian2_preferences(settings):
        with stage("network construction"):
            network = build_network(model, settings.build)
            recorder = Recorder(network, checkpoint_slots(settings.checkpoints, settings.steps),
                                settings.sample_neurons)
        with stage("inputs"):
            apply_inputs({**network.image_inputs(chw), **network.parameter_inputs(parameters),
                          **recorder.run_inputs(settings.steps, settings.checkpoints)})
        net = brian2.Network(network.objects() + recorder.objects())
        with stage("simulation"):  # the numpy target generates its code in the run
            started = time.perf_counter()
            net.run(settings.steps * brian2.ms)
            elapsed = time.perf_counter() - started
        with stage("recording"):
            data = recorder.collect(settings.steps, settings.checkpoints)
    return network, recorder, data, {"build_seconds": 0.0, "run_seconds": elapsed}


@contextlib.contextmanager
def _environment(**values):
    """Set (a value) or unset (None) environment variables for the ``with`` block."""
    def put(settings: dict) -> None:
        for name, value in settings.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    saved = {name: os.environ.get(name) for name in values}
    try:
        put(values)
        yield
    finally:
        put(saved)


def read_profile(path: Path) -> dict[str, float]:
    """Brian2's ``profiling_info.txt`` (lines ``code_object<TAB>seconds``) as {code object: seconds}."""
    profile = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if len(parts) != 2:
            raise BrainyoloError(path, f"line {number} is not 'code object, seconds'")
        try:
            profile[parts[0]] = float(parts[1])
        except ValueError:
            raise BrainyoloError(path, f"line {number}: {parts[1]!r} is not a number of seconds") from None
    return profile


class _StandaloneRunner:
    """One compiled binary, many images."""

    def __init__(self, model, model_sha: str, settings: SimulationSettings):
        self.settings = settings
        self.directory = cache_root() / build_key(model_sha, settings)
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        # An earlier network of this process, kept alive by reference cycles until the next garbage
        # collection, would keep its names: Brian2 would then suffix this one's ("..._codeobject_1"),
        # the sources would change and the cached build recompile.
        gc.collect()
        use_standalone(settings.threads, measure_memory=True, build_on_run=False)
        try:
            with _brian2_preferences(settings):
                self._build(model, settings)
        except BaseException:
            back_to_runtime()  # a later network must not find this one's objects in the device
            raise

    def _build(self, model, settings: SimulationSettings) -> None:
        self.network = build_network(model, settings.build)
        self.recorder = Recorder(self.network, checkpoint_slots(settings.checkpoints, settings.steps),
                                 settings.sample_neurons)
        net = brian2.Network(self.network.objects() + self.recorder.objects())
        # the report function prints machine-readable progress lines (shown or not per run); the binary
        # runs each run's own length (Recorder.run_inputs), not the one step it is built with
        net.run(TIME_STEP_MS * brian2.ms, report=REPORT_CODE, report_period=REPORT_PERIOD_SECONDS * brian2.second,
                profile=settings.profile)
        # what is not read after a run is not written (for yolov3-tiny some 380 MB per image)
        self.recorder.omit_unread_results(brian2.get_device())
        with build_lock(self.directory, exclusive=True):
            started = time.perf_counter()  # the build's own time, not the wait for the lock
            try:
                brian2.device.build(directory=str(self.directory), compile=True, run=False, with_output=False)
            except Exception as err:  # noqa: BLE001 - Brian2 reports a failed compilation as RuntimeError
                back_to_runtime()
                raise BrainyoloError(settings.build.neuron, "the C++ build of the network failed (the neuron "
                                                            f"file's equations, or the compiler): {one_line(err)}") \
                    from None
            self.build_seconds = time.perf_counter() - started

    def run(self, chw: np.ndarray, parameters: dict, progress: str | None = None):
        """Run the binary on one image; ``progress``: a ``$BRAINYOLO_PROGRESS`` value, or None (silent)."""
        steps, checkpoints = self.settings.steps, self.settings.checkpoints
        with stage("inputs"):
            run_args = {**self.network.image_inputs(chw), **self.network.parameter_inputs(parameters),
                        **self.recorder.run_inputs(steps, checkpoints)}
        with build_lock(self.directory, exclusive=False):
            remove_abandoned_results(self.directory)
            with results_folder(self.directory) as result_dir, _environment(BRAINYOLO_PROGRESS=progress):
                with stage("binary start and results"):
                    started = time.perf_counter()
                    brian2.device.run(directory=str(self.directory),
                                      results_directory=str(result_dir.relative_to(self.directory)),
                                      with_output=False, run_args=run_args)
                    elapsed = time.perf_counter() - started
                with stage("recording"):
                    data = self.recorder.collect(steps, checkpoints)
                peak = result_dir / "peak_memory_bytes"
                # run_seconds: the simulation loop as timed inside the binary; process_seconds adds
                # start-up (loading static arrays) and writing the results
                timing = {"build_seconds": self.build_seconds,
                          "run_seconds": float(getattr(brian2.device, "_last_run_time", elapsed)),
                          "process_seconds": elapsed,
                          "peak_memory_bytes": int(peak.read_text()) if peak.exists() else 0}
                if self.settings.profile:
                    timing["profile"] = read_profile(result_dir / "profiling_info.txt")
                account("simulation", timing["run_seconds"], within="binary start and results")
        remove_run_inputs(self.directory)
        self.build_seconds = 0.0  # later images reuse the binary
        return self.network, self.recorder, data, timing

    def close(self):
        self.network = self.recorder = None
        back_to_runtime()
