"""Run a converted model as a spiking network on images, compiling the C++ once.

With the ``cpp_standalone`` device the network is generated and compiled once per (model file,
neuron file, options) into a cached build folder (``$BRAINYOLO_CACHE`` or
``~/.cache/brainyolo/builds``); every image then runs the same binary with its input current
passed through Brian2's ``run_args`` (no code generation, no compilation; the binary started once and fed
image after image: :mod:`brainyolo.spiking.binary_server`), and so are the run's length
and checkpoints (:meth:`brainyolo.readout.recordings.Recorder.run_inputs`): one binary for any ``--steps`` (with
image inputs; event inputs build a bin's steps into the network). A build folder is
locked while it is written, and every run writes its results into a folder of its own, so runs
may happen at once. A run claims its results folder with a lock of its own and removes it when it
ends; a run that was killed (out of memory, a dead Dask worker) leaves its folder unclaimed, and the
next run of that build, or ``brainyolo cache``, removes it. The ``runtime`` device (numpy) rebuilds
per image: for small networks.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from brainyolo.ann.heads import EVAL_THRESHOLD
from brainyolo.convert.model_file import ConvertedModel, load_model
from brainyolo.io.atomic import sha256_of
from brainyolo.io.errors import BrainyoloError
from brainyolo.readout.decoding import Decoder
from brainyolo.readout.recordings import recorded_checkpoints
from brainyolo.spiking import to_neuron_order
from brainyolo.spiking.builder import (
    SpikingNetwork,
    hidden_layers,
    hidden_neuron_model,
    layer_models,
    model_build_options,
    output_layers,
    parameter_defaults,
)
from brainyolo.spiking.counters import cost_terms, sends_weighted_spikes
from brainyolo.spiking.input_kinds import input_kind
from brainyolo.spiking.measure import progress_setting
from brainyolo.spiking.network import LayerGroup
from brainyolo.spiking.parameters import resolve
from brainyolo.spiking.runners import StandaloneRunner, run_runtime
from brainyolo.spiking.settings import DEVICES, SimulationSettings
from brainyolo.spiking.stimulus_rules import Presentation, present
from brainyolo.spiking.synapses import load_synapse_model
from brainyolo.system.timing import count_image, stage


def synaptic_events(network: SpikingNetwork, counts: dict, every_spike: bool = False) -> dict[int, int]:
    """Exact synaptic events per source layer: every spike (either sign; a layer sending weighted spikes: every
    event, :func:`~brainyolo.spiking.counters.cost_per_target`) times its fan-out. ``every_spike``: every spike
    however it was sent (:func:`~brainyolo.spiking.counters.spikes_sent`: what the run would cost without weighted
    spikes)."""

    events = {}
    for index, layer in network.layers.items():
        if not layer.own or not layer.fan_out:
            continue
        events[index] = fanned_out(cost_terms(counts[index], every_spike), layer)
    return events


FANNED_BLOCK_BYTES = 1 << 18
"""Positions summed at a time by :func:`fanned_out`: as many rows of float64 counts as fit in this many bytes (in
the cache, where one float64 copy of a layer's counts was tens of megabytes)."""


def fanned_out(terms: tuple[np.ndarray, ...], layer: LayerGroup) -> int:
    """Each neuron's counts (the sum of ``terms``, a tuple of arrays each the layer's (C, H, W)) times its fan-out,
    summed. Where every channel of a position has the same fan-out, the counts (of at most 32 bits) are summed per
    position first, the terms together, a block of positions at a time (:data:`FANNED_BLOCK_BYTES`): float64 sums of
    integers, exact while below 2**53 (at most terms x C x 2**32 here, bounded), one matrix-vector product a block;
    per neuron otherwise. The products are int64: exact while a block's (or, per neuron, a term's) events stay
    below 2**63, far above any run's."""
    if not isinstance(terms, tuple):
        raise TypeError(f"a tuple of counters is fanned out, not {type(terms).__name__}")
    flats = [to_neuron_order(term) for term in terms]
    channels = layer.shape[0]
    per_position = layer.fan_out_per_position()
    if per_position is None or any(f.dtype.itemsize > 4 for f in flats) or channels * len(flats) > 2 ** 21:
        total = layer.fan_out_total()
        return sum(int(np.dot(f.astype(np.int64), total)) for f in flats)
    rows = [f.reshape(-1, channels) for f in flats]
    step = max(1, FANNED_BLOCK_BYTES // (8 * channels))
    block, ones, events = np.empty((min(step, len(per_position)), channels)), np.ones(channels), 0
    for start in range(0, len(per_position), step):
        part = block[:min(step, len(per_position) - start)]
        np.copyto(part, rows[0][start:start + step])
        for more in rows[1:]:
            part += more[start:start + step]
        events += int(np.dot((part @ ones).astype(np.int64), per_position[start:start + step]))
    return events


@dataclass
class ImageResult:
    """One sample's simulation: its name, letterbox, recordings (``Recorder.collect``) and timing."""

    name: str
    box: object  # brainyolo.ann.letterbox.Letterbox
    data: dict
    timing: dict
    synaptic_events: int
    single_spike_events: int
    """The synaptic events had every spike been an event of its own: ``synaptic_events`` unless the network sends
    weighted spikes."""
    checkpoints: list[int]

    def info(self) -> dict:
        return {"file_name": self.name, **self.timing, "synaptic_events": self.synaptic_events,
                "single_spike_events": self.single_spike_events}


class Simulator:
    """Runs a converted model on images one at a time (with ``cpp_standalone``: compiled once).

    Use as a context manager; :meth:`run` simulates one image. With ``progress`` the binary shows
    each run's steps, ms/step and time left on stderr (:mod:`brainyolo.spiking.measure`): in place on
    a terminal, a line every half minute in a log (``progress_every`` seconds instead: after that
    long on a terminal, between two lines of a log). ``model`` and ``model_sha``: ``model_path``'s model as
    already read (:func:`~brainyolo.convert.model_file.load_model`: a detector's own) and the file's SHA-256 taken
    then, or None for both to read them here.
    """

    def __init__(self, model_path, settings: SimulationSettings, progress: bool = False,
                 progress_every: float | None = None, extra=None, model: ConvertedModel | None = None,
                 model_sha: str | None = None):
        if settings.device not in DEVICES:
            raise ValueError(f"device {settings.device!r} not in {DEVICES}")
        if (model is None) != (model_sha is None):
            raise ValueError("a model as read comes with the checksum of the file it was read from (model_sha)")
        self.model_path = Path(model_path)
        self.model = load_model(model_path) if model is None else model
        # a directly trained network runs its own neuron file and schedule (see model_build_options)
        build = model_build_options(self.model, settings.build)
        if build.normalization is None and not self.model.direct:  # the model file's: named, one build key
            build = dataclasses.replace(build, normalization=self.model.normalization)
        settings = dataclasses.replace(settings, build=build)
        self.settings = settings
        self.model_sha = sha256_of(model_path) if model_sha is None else model_sha
        self.parameters = run_parameters(self.model, settings)  # checked before anything is built
        self._runner = None
        self.progress, self.progress_every = progress, progress_every
        self.extra, self.extra_objects = extra, []
        if settings.device == "cpp_standalone":
            with stage("network construction"):
                self._runner = StandaloneRunner(self.model, self.model_sha, settings, extra)
            self.extra_objects = self._runner.extra_objects

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
            self._runner = None

    def run(self, sample, parameters: dict[int, dict[str, float]] | None = None,
            silenced: dict | None = None, initial: dict | None = None) -> ImageResult:
        """Simulate one sample (an image file, a :mod:`brainyolo.stimuli` stimulus, or an
        :class:`~brainyolo.spiking.event_encoding.EventSample`) for the settings' steps and checkpoints (fixed
        per Simulator: Brian2 keeps the size of a monitor's 2-D array after its first read); ``parameters``
        (:meth:`resolve_parameters`) replace the settings' for this run; ``silenced`` lesions channels or
        neurons for this run (a network built with ``lesions``:
        :meth:`~brainyolo.spiking.builder.SpikingNetwork.lesion_inputs`); ``initial``: the starting values of the
        user's own objects (:func:`~brainyolo.spiking.runners.user_values`)."""
        count_image()
        with stage("inputs"):
            presented = self.present(sample)
        parameters = self.parameters if parameters is None else parameters
        if self._runner is not None:
            show = None
            if self.progress:
                show = progress_setting("tty" if sys.stderr.isatty() else "log", self.settings.steps,
                                        presented.name, self.progress_every)
            network, recorder, data, timing = self._runner.run(presented.data, parameters, show, silenced, initial)
        else:
            network, recorder, data, timing, self.extra_objects = run_runtime(
                self.model, self.settings, presented.data, parameters, self.extra, silenced, initial)
        with stage("recording"):  # counted from the results read
            events = sum(synaptic_events(network, data["layers"]).values())
            weighted = any(sends_weighted_spikes(layer) for layer in data["layers"].values())
            single = sum(synaptic_events(network, data["layers"], every_spike=True).values()) if weighted else events
        if presented.input_events is not None:
            data["input_events"] = presented.input_events
        return ImageResult(presented.name, presented.box, data, timing, events, single,
                           recorded_checkpoints(self.settings.checkpoints, self.settings.steps))

    def present(self, sample):
        """``sample`` as this network receives it (:func:`~brainyolo.spiking.stimulus_rules.present`).

        Raises
        ------
        BrainyoloError
            A stimulus the network's input kind cannot read (an event sample for an image input, say).
        """
        s = self.settings
        return present(sample, Presentation(s.build.input, tuple(self.model.graph.input_shape), s.steps,
                                            s.build.bins, s.build.bin_steps, s.events))

    def resolve_parameters(self, settings) -> dict[int, dict[str, float]]:
        """Every hidden layer's parameters with ``settings`` (:class:`ParameterSettings`) applied."""
        return run_parameters(self.model, dataclasses.replace(self.settings, parameters=settings))

    def decoder(self, decode: str, threshold: float | None = None, parameters: dict | None = None):
        """The :class:`~brainyolo.readout.decoding.Decoder` of this simulation's runs with the read-out ``decode``
        (its normalization, input kind, schedule and synaptic delays; ``parameters``: a run's own, where its
        ``delay`` differs from the settings')."""

        build = self.settings.build
        if decode == "spikes" and build.output != "spikes":
            raise BrainyoloError(None, "the spike-count read-out (decode spikes) needs the spiking output layer "
                                       "(--output spikes)")
        return Decoder.for_model(self.model, build.normalization, decode, spiking_input=input_kind(build.input).spikes,
                                 threshold=EVAL_THRESHOLD if threshold is None else threshold,
                                 schedule=build.schedule,
                                 synaptic_delays=synaptic_delays(self.parameters if parameters is None else parameters))

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
                "threshold_scale": s.threshold_scale,
                "steps": s.steps, "device": s.device,
                "threads": s.threads if s.device == "cpp_standalone" else 1,
                "float32": s.float32, "neuron": s.build.neuron, "output": s.build.output,
                "input": s.build.input, "connectivity": s.build.connectivity, "schedule": s.build.schedule,
                "synapse": s.build.synapse, "max_delay": s.build.max_delay,
                "events": asdict(s.events) if s.events else None,
                "normalization": s.build.normalization or self.model.normalization,
                "parameters": parameter_record(self.parameters), "counts": s.counts}


def run_parameters(model, settings: SimulationSettings) -> dict[int, dict[str, float]]:
    """Every layer's run parameters: the built values with the settings applied.

    Hidden layers: the neuron file's and the synapse file's; output layers: the synapse file's
    (``delay``, ``release``, ``seed``, and e.g. ``tau_syn``). A neuron that declares ``t_run`` gets the run's
    length (:data:`~brainyolo.spiking.parameters.RUN_LENGTH`).

    Raises
    ------
    BrainyoloError
        A setting the neuron file, the synapse file or the graph does not allow (before anything is built).
    """

    options = model_build_options(model, settings.build)
    neuron = hidden_neuron_model(options.neuron)
    synapse = load_synapse_model(options.synapse)
    graph = model.graph
    if settings.parameters.entries and settings.build.connectivity != "shared":
        raise BrainyoloError(None, "neuron parameters per run need the weight-shared convolution "
                                   "(--connectivity shared)")
    own_neurons, own_synapses = layer_models(graph, options)
    defaults = parameter_defaults(graph, neuron, model_values(model, settings.thresholds), synapse, own_neurons,
                                  own_synapses)
    hidden = hidden_layers(graph)
    if settings.threshold_scale != 1 and not model.direct:
        for index in hidden:
            defaults[index] = {**defaults[index], "v_th": defaults[index]["v_th"] * settings.threshold_scale}
    shapes = {i: tuple(graph.shapes()[i]) for i in hidden}
    return resolve(settings.parameters, neuron, hidden, defaults, synapse=synapse, outputs=output_layers(graph),
                   max_delay=options.max_delay, shapes=shapes, channel_parameters=options.channel_parameters,
                   own_neurons=own_neurons, own_synapses=own_synapses,
                   run_steps=settings.steps)


def model_values(model, thresholds: str = "uniform") -> dict[int, dict[str, float]] | None:
    """The parameters a model file holds per layer, which replace the neuron file's: a directly trained
    network's as trained; with ``thresholds`` ``balanced``, a converted one's balanced thresholds."""
    if model.direct:
        return model.spiking.layers
    if thresholds == "balanced" and model.thresholds is not None:
        return {index: {"v_th": value} for index, value in model.thresholds.v_th.items()}
    return None


def parameter_record(parameters: dict) -> dict:
    """Every layer's run parameters as JSON-ready tables (arrays as lists), as recordings and run_info keep them."""
    return {str(k): {name: np.asarray(v).tolist() for name, v in values.items()} for k, values in parameters.items()}


def synaptic_delays(parameters: dict[int, dict[str, float]]) -> dict[int, int]:
    """Per layer, the delay (steps) of the connections into it, from :func:`run_parameters`' values (delays per
    output channel: the longest, by which every channel's input has arrived)."""
    return {int(index): int(np.max(values.get("delay", 0))) for index, values in parameters.items()
            if np.any(values.get("delay", 0))}


