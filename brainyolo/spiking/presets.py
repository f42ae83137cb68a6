"""Presets: named simulation configurations, each a small TOML file in ``equations/presets/``.

A preset fixes what a user would otherwise assemble from several options: the hidden-layer neuron,
the schedule, the read-out, the normalization, where the thresholds come from, the neuron parameters
every layer starts from, and the default steps and checkpoints. ``fast`` is the default of every
command that simulates; ``paper`` is Spiking-YOLO as published; ``short`` runs 16 steps of a neuron read at the
run's end. ``brainyolo presets`` lists them.
An explicit option overrides its field; :func:`resolve_simulation` turns a preset and the options into
one :class:`~brainyolo.spiking.simulate.SimulationSettings`. A preset file::

    description = "one line"
    neuron = "if_signed_ibt_tracking"   # a neuron file (name in equations/ or a path)
    schedule = "same-step"              # or "delayed"
    decode = "vmem"                     # or "spikes", "vmem-late"
    normalization = "channel"           # or "layer", "channel-balanced"
    thresholds = "balanced"             # the model file's balanced thresholds, or "uniform"
    threshold_scale = 1.0               # optional: every hidden layer's threshold times this
    steps = 50
    checkpoints = [16, 25, 32]          # the last step is always one
    [parameters.all]                    # as a --params file: [parameters.all], [parameters.LAYER]
    v_init = 0.5
    [short_runs]                        # optional: a run of at most up_to_steps steps runs another preset
    up_to_steps = 24
    preset = "short"

``short_runs`` makes a preset good at every length: ``fast`` (64 steps, read at checkpoints) hands a run of at most
24 steps to ``short``, whose neuron is read at the run's end. The hand-over happens only where the run leaves the
neuron, the schedule, the checkpoints, the thresholds and the parameters to the preset (and does not ask for
``vmem-late``): a run that names one of them is the preset's own. The preset handed to (a name, or a path from this
file's folder) cannot hand over again.

A directly trained network runs as it was trained whatever the preset says about the neuron, the
schedule, the normalization and the thresholds (its own); the preset's steps, checkpoints and read-out
apply to it too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from brainyolo.convert.normalization import NORMALIZATIONS
from brainyolo.io.atomic import read_toml
from brainyolo.io.errors import BrainyoloError
from brainyolo.readout.decoding import DECODERS, late_checkpoints, output_mode
from brainyolo.spiking.neurons import equation_folders, find_model_file, model_names
from brainyolo.spiking.parameters import ParameterSettings, parameter_tables, reads_run_length
from brainyolo.spiking.settings import BuildOptions

DEFAULT_PRESET = "fast"
"""The preset of every command that simulates, unless ``--preset`` names another."""

THRESHOLD_SOURCES = ("balanced", "uniform")
"""``balanced``: each hidden layer's threshold as balanced at conversion (the model file's
``/thresholds``); ``uniform``: the neuron file's one threshold for every layer."""

SCHEDULE_NAMES = ("delayed", "same-step")
"""The schedules as options name them (:data:`brainyolo.spiking.schedule.SCHEDULES` with a hyphen)."""
MAX_STEPS = 1_000_000

_KEYS = {"description", "neuron", "schedule", "decode", "normalization", "thresholds", "threshold_scale", "steps",
         "checkpoints", "parameters", "short_runs"}
_OPTIONAL = {"threshold_scale", "checkpoints", "parameters", "short_runs"}
_SHORT_RUNS_KEYS = {"up_to_steps", "preset"}


@dataclass(frozen=True)
class Preset:
    """A named simulation configuration (see the module docstring for the fields)."""

    name: str
    description: str
    neuron: str
    schedule: str
    decode: str
    normalization: str
    thresholds: str
    steps: int
    checkpoints: tuple[int, ...] = ()
    threshold_scale: float = 1.0
    """Every hidden layer's threshold (balanced or uniform) times this, before the parameters."""
    parameters: ParameterSettings = field(default_factory=ParameterSettings)
    short_runs: ShortRuns | None = None
    """Where shorter runs go: see the module docstring."""
    source: str = ""

    def summary(self) -> str:
        """One line: name, description, and the fields."""
        checkpoints = ",".join(str(c) for c in self.checkpoints) or "-"
        scale = "" if self.threshold_scale == 1 else f" x {self.threshold_scale:g}"
        short = (f"; up to {self.short_runs.up_to_steps} steps: {self.short_runs.preset.name}"
                 if self.short_runs else "")
        return (f"{self.name:8s} {self.description} [neuron {self.neuron}, {self.schedule}, {self.decode}, "
                f"{self.normalization}-norm, {self.thresholds} thresholds{scale}, {self.steps} steps, checkpoints "
                f"{checkpoints}{short}]")


@dataclass(frozen=True)
class ShortRuns:
    """A preset's ``[short_runs]``: a run of at most ``up_to_steps`` steps runs ``preset`` (loaded) instead."""

    up_to_steps: int
    preset: Preset


def preset_folders() -> list[Path]:
    """Where presets are looked up by name: ``presets/`` of every equation folder."""

    return [folder / "presets" for folder in equation_folders() if (folder / "presets").is_dir()]


def available_presets() -> list[str]:
    """The names of the presets found in :func:`preset_folders`, sorted."""

    return model_names(preset_folders())


def _choice(data: dict, key: str, allowed: tuple[str, ...], path) -> str:
    value = data[key]
    if value not in allowed:
        raise BrainyoloError(path, f"{key} = {value!r} is not one of {', '.join(allowed)}")
    return value


def _whole(value, what: str, path, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BrainyoloError(path, f"{what} = {value!r} is not a whole number in {low}..{high}")
    return value


def _short_runs(data, steps: int, path: Path) -> ShortRuns | None:
    """The ``[short_runs]`` table, validated, with its preset loaded (it exists, is valid, is not this file and hands
    over no further: its own file is checked for a ``[short_runs]`` before it is loaded, so two presets naming each
    other are one error, not an endless loop). A relative path is the preset file's folder's."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise BrainyoloError(path, "short_runs must be a table: [short_runs] with up_to_steps and preset")
    missing, unknown = sorted(_SHORT_RUNS_KEYS - set(data)), sorted(set(data) - _SHORT_RUNS_KEYS)
    if missing or unknown:
        what = [f"needs {', '.join(missing)}"] * bool(missing) + [f"has no field {', '.join(unknown)}"] * bool(unknown)
        raise BrainyoloError(path, f"[short_runs] {' and '.join(what)} (fields: preset, up_to_steps)")
    up_to = _whole(data["up_to_steps"], "[short_runs] up_to_steps", path, 1, steps - 1)
    name = data["preset"]
    if not isinstance(name, str) or not name.strip():
        raise BrainyoloError(path, "[short_runs] preset must be a preset's name or file")
    try:
        target = find_model_file(name, preset_folders(), "preset")
    except BrainyoloError as error:
        raise BrainyoloError(path, f"[short_runs] preset = {name!r}: {error.problem}") from None
    if (Path(name).suffix == ".toml" or os.sep in name) and not Path(name).is_absolute():
        target = path.parent / name  # a file named by a path: from this preset file's folder
    if target.resolve() == path.resolve():
        raise BrainyoloError(path, f"[short_runs] preset = {name!r} is this preset itself")
    if "short_runs" in read_toml(target, "preset file", 64 * 1024):
        raise BrainyoloError(path, f"[short_runs] preset = {name!r} hands short runs over again ({target}); one "
                                   "hand-over at most")
    return ShortRuns(up_to, load_preset(target))


def load_preset(name_or_path: str | os.PathLike) -> Preset:
    """A preset by name (``equations/presets/NAME.toml``) or by path, validated.

    Raises
    ------
    BrainyoloError
        No such preset (with the known names), or one line naming the file and what is wrong in it (a
        ``[short_runs]`` preset that does not exist or is wrong names that preset's file).
    """

    path = find_model_file(name_or_path, preset_folders(), "preset")
    data = read_toml(path, "preset file", 64 * 1024)
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise BrainyoloError(path, f"unknown preset field(s) {', '.join(unknown)} (fields: {', '.join(sorted(_KEYS))})")
    missing = sorted(_KEYS - _OPTIONAL - set(data))
    if missing:
        raise BrainyoloError(path, f"a preset needs {', '.join(missing)}")
    for key in ("description", "neuron"):
        if not isinstance(data[key], str) or not data[key].strip():
            raise BrainyoloError(path, f"{key} must be non-empty text")
    steps = _whole(data["steps"], "steps", path, 1, MAX_STEPS)
    checkpoints = data.get("checkpoints", [])
    if not isinstance(checkpoints, list):
        raise BrainyoloError(path, "checkpoints must be a list of steps, e.g. [16, 25]")
    checkpoints = tuple(sorted({_whole(c, "a checkpoint", path, 1, steps) for c in checkpoints}))
    scale = data.get("threshold_scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale < float("inf"):
        raise BrainyoloError(path, f"threshold_scale = {scale!r} is not a positive number")
    parameters = data.get("parameters", {})
    if not isinstance(parameters, dict):
        raise BrainyoloError(path, "parameters must be tables: [parameters.all], [parameters.LAYER]")
    return Preset(name=path.stem, description=data["description"].strip(), neuron=data["neuron"],
                  schedule=_choice(data, "schedule", SCHEDULE_NAMES, path),
                  decode=_choice(data, "decode", DECODERS, path),
                  normalization=_choice(data, "normalization", NORMALIZATIONS, path),
                  thresholds=_choice(data, "thresholds", THRESHOLD_SOURCES, path),
                  steps=steps, checkpoints=checkpoints, threshold_scale=float(scale),
                  parameters=parameter_tables(parameters, path),
                  short_runs=_short_runs(data.get("short_runs"), steps, path), source=str(path))


def preset_checkpoints(preset: Preset, steps: int) -> tuple[int, ...]:
    """The preset's checkpoints that fall within ``steps`` (a run of other steps keeps the earlier ones)."""
    return tuple(c for c in preset.checkpoints if c <= steps)


def short_run_preset(model, preset: Preset, steps: int, *, neuron=None, schedule=None, checkpoints=None,
                     decode=None, thresholds=None, parameters: ParameterSettings = ParameterSettings()) -> Preset:
    """The preset a run of ``steps`` steps runs: ``preset``'s ``[short_runs]`` preset where the run is that short
    and leaves the neuron, the schedule, the checkpoints, the thresholds and the parameters to the preset (and is
    not read with ``vmem-late``); else ``preset`` itself. A directly trained ``model`` keeps ``preset`` (it runs its
    own neuron)."""
    short = preset.short_runs
    if (short is None or model.direct or steps > short.up_to_steps or decode == "vmem-late" or parameters.entries
            or any(choice is not None for choice in (neuron, schedule, checkpoints, thresholds))):
        return preset
    return short.preset


def resolve_simulation(model, preset: Preset, *, steps: int | None = None, checkpoints=None,
                       decode: str | None = None, output: str | None = None, neuron: str | None = None,
                       schedule: str | None = None, normalization: str | None = None,
                       thresholds: str | None = None, parameters: ParameterSettings = ParameterSettings(),
                       build: dict | None = None, **settings):
    """One :class:`~brainyolo.spiking.simulate.SimulationSettings` from ``preset`` and explicit choices.

    Every argument given (not None) overrides the preset's field; ``parameters`` (from ``--params`` and
    ``--set``) come after the preset's own, so they override them. ``checkpoints`` None: the preset's that
    fall within the steps (none but the last for a neuron that reads the run's length, ``t_run``). ``output``
    (the output layer) follows the read-out unless given. The preset's parameters apply to its own neuron only.
    A run of at most the preset's ``[short_runs]`` steps runs that preset instead (:func:`short_run_preset`); the
    settings' ``preset`` names the one that ran.
    A directly trained ``model`` keeps its own neuron, schedule, normalization and thresholds (and takes none of
    the preset's parameters). ``build`` holds the other
    :class:`~brainyolo.spiking.builder.BuildOptions` fields, ``settings`` the other ``SimulationSettings``
    fields (device, threads, events, ...).

    Raises
    ------
    BrainyoloError
        A checkpoint beyond the steps; a neuron that reads the run's length in the delayed schedule or with the
        late-half read-out (it fires at the end of the run only).
    """
    from brainyolo.spiking.simulate import SimulationSettings

    steps = preset.steps if steps is None else steps
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise BrainyoloError(None, f"steps = {steps!r}: a run has a whole number of steps, at least 1")
    preset = short_run_preset(model, preset, steps, neuron=neuron, schedule=schedule, checkpoints=checkpoints,
                              decode=decode, thresholds=thresholds, parameters=parameters)
    checkpoints_defaulted = checkpoints is None
    if checkpoints_defaulted:
        checkpoints = preset_checkpoints(preset, steps)
    elif checkpoints and max(checkpoints) > steps:
        raise BrainyoloError(None, f"checkpoint {max(checkpoints)} is beyond {steps} steps")
    decode = decode or preset.decode
    direct = model.direct
    options = BuildOptions(
        neuron=neuron or (BuildOptions.neuron if direct else preset.neuron),
        output=output or output_mode(decode),
        normalization=normalization or (None if direct else preset.normalization),
        schedule=(schedule or preset.schedule).replace("-", "_"),
        **(build or {}))
    if not direct and reads_run_length(options.neuron):  # quiet, then settled: its network is read at the end
        if options.schedule != "same_step" or decode == "vmem-late":
            raise BrainyoloError(options.neuron, "reads the run's length: its network is read at the run's end, "
                                                 "which needs --schedule same-step and a read-out of the whole run "
                                                 "(--decode vmem or spikes)")
        if checkpoints_defaulted:
            checkpoints = ()
    # the preset's parameters are its neuron's (a run with another neuron starts from that neuron file's)
    own = preset.parameters if not direct and options.neuron == preset.neuron else ParameterSettings()
    return SimulationSettings(steps=steps, checkpoints=late_checkpoints(tuple(checkpoints), steps, decode),
                              decode=decode, build=options, parameters=own + parameters,
                              thresholds=thresholds or preset.thresholds, preset=preset.name,
                              **{"threshold_scale": preset.threshold_scale, **settings})
