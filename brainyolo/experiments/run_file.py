"""Experiments described by TOML run files: ``brainyolo run runs/NAME.toml`` -> ``runs/NAME/``.

A run file names the model, the calibration and evaluation images, the simulation and one or
more spiking configurations (normalization x neuron file x read-out); every configuration is
evaluated on every image at every checkpoint, next to the ANN. Paths are relative to the run
file. Example (``runs/demo.toml``)::

    name = "demo"
    description = "The embedded detector on generated scenes"

    [model]
    embedded = true            # or: cfg = "...", weights = "...", names = "..."

    [calibration]
    scenes = 32                # generated scenes (brainyolo.data.scenes), or: folder = "...", count = N
    seed = 2020
    percentile = 99.9

    [images]
    scenes = 8                 # or: folder = "...", with labels = "..." | coco = "..." | voc = "..."
    seed = 2021
    count = 8                  # (with a folder: the first N images by name)

    [simulation]
    steps = 1000
    checkpoints = [50, 100, 200, 300, 500, 750, 1000]
    device = "cpp_standalone"
    threads = 2                # default: the cores this process may use
    float32 = true             # the default; false: float64 membranes
    input = "current"
    schedule = "delayed"       # or "same_step": spikes cross every layer within their step

    [monitors]
    record_images = 1          # images also simulated into CONFIG/run/ (recordings.h5) for analysis
    sample_neurons = 20

    [grid]                     # every combination is one configuration
    normalization = ["channel"]
    neuron = ["if_signed_ibt"]
    decode = ["vmem"]
    parameters = [""]          # --params files swept with one compilation ("": the neuron file's values)
    settings = [""]            # --set settings swept with one compilation, e.g. ["", "*.delay=2", "*.sigma=0.1"]
                               # (several in one entry: separated by spaces)
    synapse = ["instant"]      # synapse files (one compilation each)
    precision = ["float64", "float32"]  # optional: overrides [simulation] float32, adds -float64 / -float32

Outputs (``runs/NAME/``): ``model/`` (Darknet files of an embedded model), ``model.h5``,
``scenes/`` (generated images), one folder per configuration (``CONFIG/metrics.json``, per-image
results, ``CONFIG/run/``), ``summary.json``, ``summary.md``, ``map_vs_steps.png`` and, for a ``[grid] settings``
sweep, ``sweep_PARAMETER.png`` (mAP against each swept parameter). An interrupted
run resumes: finished images and configurations are not simulated again.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from brainyolo.ann.darknet import load_darknet
from brainyolo.ann.letterbox import list_images
from brainyolo.convert.normalization import NORMALIZATIONS
from brainyolo.data.embedded import CALIBRATION_SCENES, CALIBRATION_SEED, PERCENTILE, embedded_model
from brainyolo.io.atomic import read_toml
from brainyolo.io.errors import BrainyoloError
from brainyolo.spiking.neurons import load_neuron_model
from brainyolo.spiking.parameters import (
    ParameterSettings,
    largest_delay,
    parse_setting,
    read_parameter_file,
    runtime_names,
    synapse_names,
)
from brainyolo.spiking.parameters import resolve as resolve_parameters
from brainyolo.spiking.presets import DEFAULT_PRESET, load_preset
from brainyolo.spiking.synapses import load_synapse_model
from brainyolo.system.machine import usable_cores

_SECTIONS = {"name", "description", "preset", "model", "calibration", "images", "simulation", "monitors", "grid"}


@dataclass(frozen=True)
class ImageSource:
    """Generated scenes (``scenes`` > 0) or a folder of images with ground truth."""

    scenes: int = 0
    seed: int = 0
    folder: str = ""
    count: int = 0
    labels: str = ""
    coco: str = ""
    voc: str = ""


@dataclass(frozen=True)
class RunSpec:
    """A parsed run file (paths already resolved against the file's folder)."""

    name: str = "demo"
    description: str = "The embedded detector on generated scenes"
    preset: str = "paper"
    """The preset (:mod:`brainyolo.spiking.presets`) whose fields the file leaves out, and whose thresholds and
    parameters the configurations start from (``fast`` where a run file names none)."""
    model: dict = field(default_factory=lambda: {"embedded": True})
    calibration: ImageSource = ImageSource(scenes=CALIBRATION_SCENES, seed=CALIBRATION_SEED)
    percentile: float = PERCENTILE
    images: ImageSource = ImageSource(scenes=8, seed=2021, count=8)
    steps: int = 1000
    checkpoints: tuple[int, ...] = (50, 100, 200, 300, 500, 750, 1000)
    device: str = "cpp_standalone"
    threads: int = field(default_factory=usable_cores)
    float32: bool = True
    input: str = "current"
    schedule: str = "delayed"
    record_images: int = 1
    sample_neurons: int = 20
    normalization: tuple[str, ...] = ("channel",)
    neuron: tuple[str, ...] = ("if_signed_ibt",)
    decode: tuple[str, ...] = ("vmem",)
    parameters: tuple[str, ...] = ("",)
    precision: tuple[str, ...] = ()
    """``[grid] precision`` ("float32", "float64"); empty: ``[simulation] float32`` for every configuration."""
    synapse: tuple[str, ...] = ("instant",)
    settings: tuple[str, ...] = ("",)
    """``[grid] settings``: ``--set`` settings per configuration (space-separated), ``""`` for none."""

    def configurations(self) -> list[tuple[str, str, str, str, str, str, str]]:
        """Every (normalization, neuron, decode, parameter file, precision, synapse, settings) of the grid
        (parameter file ``""``: the neuron file's own; precision ``""``: ``[simulation] float32``;
        settings ``""``: none) whose neuron and synapse files have the parameters its settings name
        (``settings = ["", "*.tau_syn=5*ms"]`` with ``synapse = ["instant", "exponential"]``: the
        instant synapse runs without settings only)."""
        return [c for c in itertools.product(self.normalization, self.neuron, self.decode, self.parameters,
                                             self.precision or ("",), self.synapse, self.settings)
                if _settings_apply(c[1], c[5], c[6])]

    def max_delay(self) -> int:
        """The largest synaptic delay any configuration sets: every build has room for it (one
        compilation per neuron and synapse file, whatever the delays)."""
        found = [largest_delay(grid_settings(text)) for text in self.settings]
        found += [largest_delay(read_parameter_file(f)) for f in self.parameters if f]
        return max([0, *found])

    def uses_float32(self, precision: str) -> bool:
        """Whether a configuration of this precision (``""``: the simulation's own) runs in float32."""
        return precision == "float32" if precision else self.float32


PRECISIONS = ("float32", "float64")


def config_name(normalization: str, neuron: str, decode: str, parameters: str = "", precision: str = "",
                synapse: str = "instant", settings: str = "") -> str:
    """A configuration's folder name; a parameter file adds its stem, a ``[grid] precision`` its name, a
    synapse other than ``instant`` its stem, ``[grid] settings`` their text (``*.sigma=0.1`` -> ``sigma=0.1``)."""
    setting = "_".join(t.removeprefix("*.").removeprefix("all.").replace("*", "") for t in settings.split())
    setting = re.sub(r"[^A-Za-z0-9._=-]", "-", setting)
    return (f"{normalization}-{Path(neuron).stem}-{decode}" + (f"-{Path(parameters).stem}" if parameters else "")
            + (f"-{precision}" if precision else "")
            + (f"-{Path(synapse).stem}" if synapse != "instant" else "") + (f"-{setting}" if setting else ""))


def _settings_apply(neuron: str, synapse: str, text: str) -> bool:
    """Whether every parameter ``text`` (a ``[grid] settings`` entry) sets is one of the neuron's or synapse's."""

    names = {**runtime_names(load_neuron_model(neuron)), **synapse_names(load_synapse_model(synapse))}
    return all(name in names for _, name, _ in grid_settings(text).entries)


def grid_settings(text: str):
    """One ``[grid] settings`` entry (space-separated ``LAYER.NAME=VALUE``) as :class:`ParameterSettings`."""

    settings = ParameterSettings()
    for part in text.split():
        settings = settings + parse_setting(part)
    return settings


MAX_RUN_FILE_BYTES = 256 * 1024
"""Largest run file read."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")
"""A run's name: one plain folder name (the outputs go to RUN_FILE's folder/NAME/)."""

_KINDS = {int: "a whole number", float: "a number", bool: "true or false", str: "text", list: "a list"}


def _typed(path, section: str, table: dict, key: str, kind: type, default, low=None, high=None):
    """``table[key]`` (or ``default``) if it is of ``kind`` and within ``low..high``, else one error."""
    if key not in table:
        return default
    value = table[key]
    where = f"[{section}] {key}" if section else key
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if kind is float and ok and not math.isfinite(value):
        ok = False
    if not ok:
        raise BrainyoloError(path, f"{where} = {value!r} must be {_KINDS[kind]}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise BrainyoloError(path, f"{where} = {value!r} is outside {low}..{high}")
    return value


def _text_list(path, section: str, table: dict, key: str, default: tuple) -> tuple:
    value = table.get(key, list(default))
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise BrainyoloError(path, f"[{section}] {key} must be a non-empty list of text entries")
    return tuple(value)


def _parameter_files(path, grid: dict, resolve) -> tuple[str, ...]:
    """``[grid] parameters``: parameter files (``--params`` format, relative to the run file), ``""`` for
    none; each file is read and checked now."""

    files = grid.get("parameters", [""])
    if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
        raise BrainyoloError(path, "[grid] parameters must be a non-empty list of parameter files (\"\" for none)")
    resolved = tuple(resolve(f) for f in files)
    for file in resolved:
        if file:
            if not Path(file).is_file():
                raise BrainyoloError(path, f"[grid] parameters: {file} is not a file")
            read_parameter_file(file)
    return resolved


def load_run_file(path: str | os.PathLike) -> RunSpec:
    """Read and check a run file; every problem is one :class:`BrainyoloError` naming the file.

    Every entry is checked for its type (a whole number is not a float, ``true`` is not
    ``"true"``) and range before anything runs; ``name`` must be a plain folder name, so that the
    outputs stay inside the run file's folder.
    """
    path = Path(path)
    data = read_toml(path, "run file", MAX_RUN_FILE_BYTES)
    unknown = set(data) - _SECTIONS
    if unknown:
        raise BrainyoloError(path, f"unknown entries {sorted(unknown)} (allowed: {sorted(_SECTIONS)})")
    base = path.resolve().parent

    def resolve(value: str) -> str:
        return str((base / value).resolve()) if value else ""

    def table(name: str, allowed: set[str]) -> dict:
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise BrainyoloError(path, f"[{name}] must be a table")
        extra = set(value) - allowed
        if extra:
            raise BrainyoloError(path, f"[{name}] has unknown keys {sorted(extra)} (allowed: {sorted(allowed)})")
        return value

    def source(name: str, allowed: set[str]) -> ImageSource:
        t = table(name, allowed)
        scenes = _typed(path, name, t, "scenes", int, 0, 0, 100_000)
        folder = _typed(path, name, t, "folder", str, "")
        if bool(scenes) == bool(folder):
            raise BrainyoloError(path, f"[{name}] needs either scenes = N or folder = \"...\"")
        truths = {k: _typed(path, name, t, k, str, "") for k in ("labels", "coco", "voc") if k in allowed}
        if name == "images" and folder and sum(bool(v) for v in truths.values()) != 1:
            raise BrainyoloError(path, "[images] with a folder needs exactly one of labels, coco, voc")
        return ImageSource(scenes, _typed(path, name, t, "seed", int, 0, 0, 2**32 - 1), resolve(folder),
                           _typed(path, name, t, "count", int, 0, 0, 10_000_000),
                           *(resolve(truths.get(k, "")) for k in ("labels", "coco", "voc")))

    name = _typed(path, "", data, "name", str, path.stem)
    if not _NAME.match(name) or ".." in name:
        raise BrainyoloError(path, f"name = {name!r} must be a plain folder name (letters, digits, . _ -): the "
                                   "outputs go beside the run file, or where -o says")
    description = _typed(path, "", data, "description", str, "")

    preset_name = _typed(path, "", data, "preset", str, DEFAULT_PRESET)
    try:
        preset = load_preset(preset_name if os.sep not in preset_name and not preset_name.endswith(".toml")
                             else resolve(preset_name))
    except BrainyoloError as err:
        raise BrainyoloError(path, f"preset: {err}") from None
    model = table("model", {"embedded", "cfg", "weights", "names"})
    embedded = _typed(path, "model", model, "embedded", bool, False)
    files = {k: _typed(path, "model", model, k, str, "") for k in ("cfg", "weights", "names")}
    if not embedded and not (files["cfg"] and files["weights"]):
        raise BrainyoloError(path, "[model] needs embedded = true, or cfg and weights")
    model = {"embedded": True} if embedded else {k: resolve(v) for k, v in files.items() if v}
    calibration = table("calibration", {"scenes", "seed", "folder", "count", "percentile"})
    sim = table("simulation", {"steps", "checkpoints", "device", "threads", "float32", "input", "schedule"})
    monitors = table("monitors", {"record_images", "sample_neurons"})
    grid = table("grid", {"normalization", "neuron", "decode", "parameters", "precision", "synapse", "settings"})
    defaults = RunSpec(steps=preset.steps, checkpoints=preset.checkpoints,
                       schedule=preset.schedule.replace("-", "_"), normalization=(preset.normalization,),
                       neuron=(preset.neuron,), decode=(preset.decode,))
    percentile = _typed(path, "calibration", calibration, "percentile", float, defaults.percentile)
    if not 0 < percentile <= 100:
        raise BrainyoloError(path, f"[calibration] percentile = {percentile!r} is outside (0, 100]")
    steps = _typed(path, "simulation", sim, "steps", int, defaults.steps, 1, 10_000_000)
    checkpoints = sim.get("checkpoints", list(defaults.checkpoints))
    if not isinstance(checkpoints, list) or not all(isinstance(c, int) and not isinstance(c, bool)
                                                    and 0 < c <= steps for c in checkpoints):
        raise BrainyoloError(path, f"[simulation] checkpoints must be a list of steps within 1..{steps}")
    spec = RunSpec(
        name=name, description=description, preset=preset_name if preset_name == preset.name else preset.source,
        model=model,
        calibration=source("calibration", {"scenes", "seed", "folder", "count", "percentile"}),
        percentile=percentile,
        images=source("images", {"scenes", "seed", "folder", "count", "labels", "coco", "voc"}),
        steps=steps, checkpoints=tuple(sorted(set(checkpoints))),
        device=_typed(path, "simulation", sim, "device", str, defaults.device),
        threads=_typed(path, "simulation", sim, "threads", int, defaults.threads, 1, 1024),
        float32=_typed(path, "simulation", sim, "float32", bool, defaults.float32),
        input=_typed(path, "simulation", sim, "input", str, defaults.input),
        schedule=_typed(path, "simulation", sim, "schedule", str, defaults.schedule),
        record_images=_typed(path, "monitors", monitors, "record_images", int, defaults.record_images, 0, 10_000),
        sample_neurons=_typed(path, "monitors", monitors, "sample_neurons", int, defaults.sample_neurons, 1,
                              100_000),
        normalization=_text_list(path, "grid", grid, "normalization", defaults.normalization),
        neuron=tuple(n if os.sep not in n and not n.endswith(".toml") else resolve(n)
                     for n in _text_list(path, "grid", grid, "neuron", defaults.neuron)),
        decode=_text_list(path, "grid", grid, "decode", defaults.decode),
        parameters=_parameter_files(path, grid, resolve),
        precision=_text_list(path, "grid", grid, "precision", ()) if "precision" in grid else (),
        synapse=tuple(n if os.sep not in n and not n.endswith(".toml") else resolve(n)
                      for n in _text_list(path, "grid", grid, "synapse", defaults.synapse)),
        settings=_grid_settings(path, grid))
    for key, allowed in (("normalization", NORMALIZATIONS), ("decode", ("vmem", "spikes", "vmem-late")),
                         ("precision", PRECISIONS)):
        bad = [v for v in getattr(spec, key) if v not in allowed]
        if bad:
            raise BrainyoloError(path, f"[grid] {key} {bad[0]!r} is not one of {allowed}")
    if spec.device not in ("cpp_standalone", "runtime") or spec.input not in ("current", "poisson") \
            or spec.schedule not in ("delayed", "same_step"):
        raise BrainyoloError(path, "[simulation] device is cpp_standalone or runtime; input current or poisson; "
                                   "schedule delayed or same_step")
    from brainyolo.spiking.layer_models import hidden_neuron_model

    for neuron in spec.neuron:
        try:
            hidden_neuron_model(neuron)
        except BrainyoloError as err:
            raise BrainyoloError(path, f"[grid] neuron: {err}") from None
    for synapse in spec.synapse:
        try:
            load_synapse_model(synapse)
        except BrainyoloError as err:
            raise BrainyoloError(path, f"[grid] synapse: {err}") from None
    _check_settings_apply(path, spec)
    return spec


def _grid_settings(path, grid: dict) -> tuple[str, ...]:
    """``[grid] settings``: a non-empty list of texts, each parsed now (one error naming the run file)."""
    entries = grid.get("settings", [""])
    if not isinstance(entries, list) or not entries or not all(isinstance(e, str) and len(e) < 1000 for e in entries):
        raise BrainyoloError(path, "[grid] settings must be a non-empty list of texts such as \"*.delay=2\" "
                                   "(\"\" for none)")
    for entry in entries:
        try:
            grid_settings(entry)
        except BrainyoloError as err:
            raise BrainyoloError(path, f"[grid] settings: {err.problem}") from None
    if len(set(entries)) != len(entries):
        raise BrainyoloError(path, "[grid] settings holds an entry twice")
    return tuple(entries)


def _check_settings_apply(path, spec: RunSpec) -> None:
    """Every ``[grid] settings`` entry applies to some neuron and synapse file of the grid (no silent typo)."""
    for text in spec.settings:
        if not any(_settings_apply(n, s, text) for n in spec.neuron for s in spec.synapse):
            raise BrainyoloError(path, f"[grid] settings {text!r}: no neuron or synapse file of the grid has "
                                       "every parameter it sets")


def check_inputs(spec: RunSpec) -> None:
    """Read every input a run names (model files, image folders, ground truth) before any output exists.

    Raises
    ------
    BrainyoloError
        Naming the first file or folder that cannot be used.
    """
    import tempfile

    from brainyolo.spiking.builder import hidden_layers, parameter_defaults
    from brainyolo.spiking.layer_models import hidden_neuron_model
    if spec.model.get("embedded"):

        with tempfile.TemporaryDirectory() as tmp:
            graph = load_darknet(*embedded_model(Path(tmp))).graph
    else:
        graph = load_darknet(spec.model["cfg"], spec.model["weights"], spec.model.get("names")).graph
    from brainyolo.spiking.builder import output_layers

    for neuron, synapse_name in itertools.product(spec.neuron, spec.synapse):
        model, synapse = hidden_neuron_model(neuron), load_synapse_model(synapse_name)
        defaults = parameter_defaults(graph, model, synapse=synapse)
        for file, text in itertools.product(spec.parameters, spec.settings):
            if not _settings_apply(neuron, synapse_name, text):
                continue
            settings = (read_parameter_file(file) if file else grid_settings("")) + grid_settings(text)
            resolve_parameters(settings, model, hidden_layers(graph), defaults, file or text or None, synapse=synapse,
                    outputs=output_layers(graph), max_delay=spec.max_delay())
    for source in (spec.calibration, spec.images):
        if source.folder and not list_images(source.folder):
            raise BrainyoloError(source.folder, "holds no images")
    for truth in (spec.images.labels, spec.images.coco, spec.images.voc):
        if truth and not Path(truth).exists():
            raise BrainyoloError(truth, "no such file or folder")


















