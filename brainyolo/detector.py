"""The Python API: a detector as a Brian2 network for experiments.

::

    import brainyolo

    detector = brainyolo.SpikingDetector("embedded", steps=100, lesions=True)
    trace = detector.record_v(2, [(0, 5, 5), (3, 10, 2)])   # a Brian2 StateMonitor on v of chosen neurons
    spikes = detector.record_spikes(4)                      # a Brian2 SpikeMonitor on a whole layer
    first = detector.run("scene.png")                       # builds, compiles once, runs
    second = detector.run("scene.png", silenced={2: [5]})   # channel 5 of layer 2 silent: the same binary
    first.recorded(trace)["v"], second.recorded(spikes)["count"], first.detections[100]
    detector.save([first, second], "session")               # recordings.h5 + run_info.json, as the CLI writes

A run shows the network one stimulus: an image file, or a :mod:`brainyolo.stimuli` object (an image array
with an occlusion mask, an image sequence, Poisson rates, an event stream). The command line's ``detect``,
``simulate`` and ``evaluate`` run through this class too (:func:`simulate`).

Monitors and a user's own Brian2 objects (:meth:`SpikingDetector.add`) join the network before it is
built: attach them first, then run. After the build, :meth:`SpikingDetector.layer` gives each layer's
Brian2 ``NeuronGroup`` and connection objects. Neurons are addressed as ``(channel, y, x)`` of a
layer's output map; :func:`neuron_index` turns that into the group's index (position-major,
channel-minor).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from brainyolo.ann.graph import HEAD_KINDS
from brainyolo.convert.model_file import load_model
from brainyolo.data.embedded import model_file
from brainyolo.io.atomic import atomic_path, sha256_of, write_json
from brainyolo.io.errors import BrainyoloError
from brainyolo.io.integrity import GroupDigest
from brainyolo.io.quantities import parse_quantity
from brainyolo.readout.recordings import open_recordings, write_image
from brainyolo.spiking.builder import output_layers
from brainyolo.spiking.counters import EVENT_COUNTERS, sends_weighted_spikes
from brainyolo.spiking.parameters import ParameterSettings, largest_delay
from brainyolo.spiking.presets import DEFAULT_PRESET, load_preset, resolve_simulation
from brainyolo.spiking.settings import BuildOptions
from brainyolo.spiking.simulate import Simulator, parameter_record, synaptic_delays
from brainyolo.system.machine import usable_cores
from brainyolo.system.timing import stage


def neuron_index(shape: tuple[int, int, int], channel: int, y: int, x: int) -> int:
    """The index in its layer's NeuronGroup of neuron ``(channel, y, x)`` of a layer of ``shape`` (C, H, W).

    >>> neuron_index((4, 3, 5), 2, 1, 3)
    34
    """
    c, h, w = shape
    if not (0 <= channel < c and 0 <= y < h and 0 <= x < w):
        raise ValueError(f"neuron ({channel}, {y}, {x}) lies outside a layer of shape {shape}")
    return (y * w + x) * c + channel


def neuron_at(shape: tuple[int, int, int], index) -> tuple:
    """The ``(channel, y, x)`` of group index ``index`` (or of each of an array of indices, as three arrays) of a
    layer of ``shape`` (C, H, W): the inverse of :func:`neuron_index` (a ``SpikeMonitor``'s ``i`` to map places).

    >>> neuron_at((4, 3, 5), 34)
    (2, 1, 3)
    """
    c, h, w = shape
    index = np.asarray(index)
    if np.any(index < 0) or np.any(index >= c * h * w):
        raise ValueError(f"index outside a layer of shape {shape} ({c * h * w} neurons)")
    position, channel = np.divmod(index, c)
    y, x = np.divmod(position, w)
    if index.ndim == 0:
        return int(channel), int(y), int(x)
    return channel, y, x


def parameter_settings(values: dict) -> ParameterSettings:
    """``{layer: {name: value}}`` (a layer number, or ``"all"``) as the settings ``--set`` would make.

    A value is a number, a quantity's text (``"20*ms"``), or an array: one value per channel ``(C,)`` or per
    neuron ``(C, H, W)`` (a network built with ``channel_parameters``).
    """
    entries = []
    for layer, named in values.items():
        if str(layer) in ("all", "*"):
            selector = "all"
        elif isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
            selector = str(int(layer))
        else:
            raise BrainyoloError(None, f"parameters: {layer!r} is not a layer index or 'all'")
        for name, value in named.items():
            if isinstance(value, str):
                try:
                    value = parse_quantity(value)
                except ValueError as err:
                    raise BrainyoloError(None, f"parameters: layer {layer}: {name} = {value!r}: {err}") from None
            entries.append((selector, name, value if np.ndim(value) else float(np.asarray(value))))
    return ParameterSettings(tuple(entries))


@dataclass(frozen=True)
class Layer:
    """One layer of a built network: its Brian2 objects and its shape."""

    index: int
    kind: str
    shape: tuple[int, int, int]
    group: object  # brian2.NeuronGroup
    connections: tuple  # the Brian2 objects that feed it (SharedConvolution, SpikingMaxPool, IndexRelay, ...)

    def neuron(self, channel: int, y: int, x: int) -> int:
        """The group index of neuron ``(channel, y, x)``."""
        return neuron_index(self.shape, channel, y, x)


@dataclass(eq=False)
class Recording:
    """What :meth:`SpikingDetector.add` adds: ``make(network)`` returns a Brian2 object or a list of them;
    ``names`` are their Brian2 names (known once the network is built)."""

    name: str
    make: Callable  # (SpikingNetwork) -> Brian2 object or list of Brian2 objects
    names: list = field(default_factory=list)

    def objects(self, network) -> list:
        made = self.make(network)
        made = list(made) if isinstance(made, (list, tuple)) else [made]
        self.names = [obj.name for obj in made]
        return made


@dataclass
class DetectorRun:
    """One run: its recordings, what the user's objects recorded, and (decoded when first read) the detections
    at every checkpoint."""

    result: object  # brainyolo.spiking.simulate.ImageResult
    states: dict = field(default_factory=dict)  # {object name: {variable: array}}
    decoder: object = field(default=None, repr=False)  # brainyolo.readout.decoding.Decoder
    parameters: dict | None = None  # the run's own resolved parameters (None: the detector's)

    @property
    def name(self) -> str:
        """The stimulus's name (an image file's name)."""
        return self.result.name

    @cached_property
    def detections(self) -> dict:
        """``{checkpoint step: brainyolo.ann.heads.Detections}`` (in the stimulus's own coordinates)."""
        result = self.result
        with stage("decoding"):
            return self.decoder.detections(result.data["output"], result.checkpoints, result.box)

    def spike_counts(self, layer: int) -> tuple[np.ndarray, np.ndarray]:
        """Layer ``layer``'s +1 and -1 spike counts per neuron, each ``(C, H, W)`` (the network's own counters; a -1
        spike stands for the layer's ``negative_value`` of a +1 spike: ``result.data["layers"][layer]``)."""
        counts = self.result.data["layers"][layer]
        return counts["positive_count"], counts["negative_count"]

    def recorded(self, recording: Recording | str) -> dict[str, np.ndarray]:
        """The variables an added object recorded in this run (a monitor's ``t``, ``v``, ``i``, ``count``...;
        an ``add`` that made several objects: ``{object name: variables}``). ``recording``: what ``add`` or a
        ``record_*`` method returned, or a Brian2 object's name."""
        if isinstance(recording, str):
            return self.states[recording]
        if len(recording.names) == 1:
            return self.states[recording.names[0]]
        return {name: self.states[name] for name in recording.names}


class SpikingDetector:
    """A converted (or directly trained) detector as a Brian2 spiking network, for experiments.

    Parameters
    ----------
    model : str or path
        A model file, or a shipped detector's name (``embedded``, ``embedded-direct``, ...).
    preset : str
        The named configuration (``fast``, ``paper``, ``short``, or a preset file); the other arguments override it.
    steps, checkpoints : int, sequence of int
        The run's length and the steps at which detections are read (default: the preset's). A preset with
        ``[short_runs]`` (``fast``: 24 steps or fewer) runs its short-run preset (``short``) unless
        ``checkpoints`` (``()`` too), ``neuron``, ``schedule``, ``thresholds`` or ``parameters`` is given;
        ``settings.preset`` names the one that runs.
    device : {"cpp_standalone", "runtime"}
        Brian2's C++ standalone mode (compiled once, every run after that reuses the binary), or its
        numpy runtime (built anew for every run).
    threads : int
        OpenMP threads of the binary (default: the cores this process may use).
    lesions : bool
        Build every spiking neuron with a per-run switch, so that :meth:`run` may silence channels or
        single neurons without recompiling.
    channel_parameters : bool
        Build the hidden layers' neuron parameters per neuron, so that :meth:`run` may give ``v_th``,
        ``alpha``, a leak ``tau``, a noise ``sigma``... one value per channel (or per neuron) without
        recompiling.
    progress : bool
        Show each run's steps, ms/step and time left on stderr (C++ standalone).
    **options
        Further :func:`~brainyolo.spiking.presets.resolve_simulation` choices (``decode``, ``neuron``,
        ``schedule``, ``parameters``, ``events``, ``counts``: ``"channels"`` keeps the layers' spike counts
        summed per channel in what :meth:`save` writes...) and :class:`~brainyolo.spiking.settings.BuildOptions`
        fields (``input``, ``bins``, ``bin_steps``, ``synapse``, ``max_delay``...).
    """

    def __init__(self, model="embedded", preset: str = DEFAULT_PRESET, *, steps: int | None = None,
                 checkpoints=None, device: str = "cpp_standalone", threads: int | None = None,
                 lesions: bool = False, channel_parameters: bool = False, progress: bool = False, **options):
        if device not in ("cpp_standalone", "runtime"):
            raise ValueError(f"device {device!r} is not cpp_standalone or runtime")
        model_path = Path(model_file(str(model)))
        loaded = load_model(model_path)
        build = {"lesions": lesions, "channel_parameters": channel_parameters, **options.pop("build", {})}
        handled = ("neuron", "output", "normalization", "schedule")  # resolve_simulation's own
        for name in [f.name for f in dataclasses.fields(BuildOptions) if f.name not in handled]:
            if name in options:
                build[name] = options.pop(name)
        if isinstance(options.get("parameters"), dict):
            options["parameters"] = parameter_settings(options["parameters"])
        if "parameters" in options:  # delays of every run: the ring they need (as --set does)
            build["max_delay"] = max(build.get("max_delay", 0), largest_delay(options["parameters"]))
        settings = resolve_simulation(loaded, load_preset(preset), steps=steps, checkpoints=checkpoints,
                                      device=device, threads=threads or usable_cores(), build=build, **options)
        self._start(model_path, loaded, settings, progress)

    @classmethod
    def from_settings(cls, model, settings, progress: bool = False) -> SpikingDetector:
        """A detector of resolved :class:`~brainyolo.spiking.settings.SimulationSettings` (what the commands
        build from their options)."""
        detector = cls.__new__(cls)
        model_path = Path(model_file(str(model)))
        detector._start(model_path, load_model(model_path), settings, progress)
        return detector

    def _start(self, model_path: Path, model, settings, progress: bool) -> None:
        self.model_path, self.model, self.settings, self.progress = model_path, model, settings, progress
        self.model_sha = sha256_of(model_path)  # the file as it was read (its runs record it)
        self._recordings: list[Recording] = []
        self._simulator = None
        self._decoders: dict = {}

    # --- before the build: what joins the network -------------------------------------------------------

    def add(self, make: Callable, name: str | None = None) -> Recording:
        """Add Brian2 objects of your own: ``make(network)`` builds them from the
        :class:`~brainyolo.spiking.network.SpikingNetwork` (``network.layers[i].group``, ``network.clock``) and
        returns one object or a list. With ``cpp_standalone`` they are compiled into the binary with the
        network; with ``runtime`` they are made anew for every run. :meth:`DetectorRun.recorded` reads them
        back with the returned recording."""
        if self._simulator is not None:
            raise RuntimeError("the network is built: add objects before the first run (or build())")
        recording = Recording(name or f"user{len(self._recordings)}", make)
        self._recordings.append(recording)
        return recording

    def record_v(self, layer: int, neurons, variable: str = "v") -> Recording:
        """A Brian2 ``StateMonitor`` of ``variable`` (default the membrane) of the given neurons of ``layer``,
        each ``(channel, y, x)``, every step."""
        import brian2

        shape = self._shape(layer)
        indices = []
        for n in neurons:
            if np.ndim(n) != 1 or len(n) != 3:
                raise ValueError(f"a neuron is (channel, y, x), not {n!r}")
            indices.append(neuron_index(shape, *(int(v) for v in n)))
        name = f"trace{layer:02d}_{len(self._recordings)}"
        return self.add(lambda net: brian2.StateMonitor(net.layers[layer].group, variable, record=indices, name=name,
                                                        clock=net.clock), name)

    def record_spikes(self, layer: int) -> Recording:
        """A Brian2 ``SpikeMonitor`` of every neuron of ``layer`` (positive spikes; ``i``, ``t``, ``count``)."""
        import brian2

        self._spiking(layer)
        name = f"spikes{layer:02d}_{len(self._recordings)}"
        return self.add(lambda net: brian2.SpikeMonitor(net.layers[layer].group, name=name), name)

    def record_rate(self, layer: int) -> Recording:
        """A Brian2 ``PopulationRateMonitor`` of ``layer`` (``t``, ``rate`` in Hz of Brian2 time: 1 step = 1 ms)."""
        import brian2

        self._spiking(layer)
        name = f"rate{layer:02d}_{len(self._recordings)}"
        return self.add(lambda net: brian2.PopulationRateMonitor(net.layers[layer].group, name=name), name)

    # --- the build and the runs ------------------------------------------------------------------------

    def build(self) -> None:
        """Build the network with everything added (C++ standalone: compile it); :meth:`run` does it first."""
        if self._simulator is None:
            recordings = list(self._recordings)
            extra = (lambda net: [obj for r in recordings for obj in r.objects(net)]) if recordings else None
            self._simulator = Simulator(self.model_path, self.settings, progress=self.progress, extra=extra,
                                        model=self.model, model_sha=self.model_sha)

    def layer(self, index: int | str) -> Layer:
        """Layer ``index`` (a number, or its group's name ``layerNN``) of the compiled network (``cpp_standalone``;
        builds it). With ``runtime`` the network is made for each run: reach its objects through :meth:`add`'s
        ``make(network)``."""
        if self.settings.device != "cpp_standalone":
            raise RuntimeError("runtime device: the network is made for each run; reach it through add(make)")
        if isinstance(index, str):  # a group's name: "layer02"
            match = re.fullmatch(r"layer(\d+)", index)
            if match is None:
                raise KeyError(f"{index!r} is not a layer's name (layerNN) or number")
            index = int(match.group(1))
        self.build()
        network = self._network()
        if index not in network.layers:
            raise KeyError(f"layer {index} is not one of the network's layers {sorted(network.layers)}")
        built = network.layers[index]
        return Layer(index, type(network.graph.layers[index]).__name__, tuple(built.shape), built.group,
                     tuple(built.connections))

    def run(self, stimulus, parameters: dict | None = None, silenced: dict | None = None,
            threshold: float | None = None, initial: dict | None = None) -> DetectorRun:
        """Show the network one stimulus and run it for the detector's steps.

        Parameters
        ----------
        stimulus : path or stimulus
            An image file, or a :mod:`brainyolo.stimuli` object (``Image`` with an occlusion, ``ImageSequence``,
            ``PoissonRates``, ``EventStream``) that the network's input kind reads.
        parameters : dict or ParameterSettings, optional
            This run's neuron and synapse parameters, ``{layer: {name: value}}`` (a layer index or
            ``"all"``; e.g. ``{3: {"v_th": 0.8}}``, see ``--set``); a value may be an array of one value per
            channel (or neuron) where the network is built with ``channel_parameters``.
        silenced : dict, optional
            ``{layer: [channel or (channel, y, x), ...]}``: neurons that fire no event in this run (needs
            ``lesions=True``).
        threshold : float, optional
            The detections' score threshold (default: the evaluation's, 0.005).
        initial : dict, optional
            Starting values of added objects for this run, ``{object name or recording: {variable: values}}``:
            e.g. the weights a plastic ``Synapses`` reached in the run before (``run.recorded(...)["w"]``), or a
            teacher signal per run. Every run otherwise starts from the values the objects were made with.

        Returns
        -------
        DetectorRun
            Detections at every checkpoint, the run's recordings and what the added objects recorded.
        """
        self.build()
        simulator = self._simulator
        resolved = simulator.parameters
        if parameters:
            if not isinstance(parameters, ParameterSettings):
                parameters = parameter_settings(parameters)
            resolved = simulator.resolve_parameters(self.settings.parameters + parameters)
        if initial:
            initial = {key if isinstance(key, str) else self._one_name(key): values for key, values in initial.items()}
        result = simulator.run(stimulus, resolved, silenced=silenced, initial=initial)
        # a read-out per synaptic delays (a run's own may move it), made once (0.2 s for yolov3-tiny)
        key = (self.settings.decode, threshold, tuple(sorted(synaptic_delays(resolved).items())))
        if key not in self._decoders:
            self._decoders[key] = simulator.decoder(self.settings.decode, threshold, resolved)
        return DetectorRun(result, result.data.get("extra", {}), self._decoders[key],
                           resolved if resolved is not simulator.parameters else None)

    @property
    def parameters(self) -> dict[int, dict[str, float]]:
        """Every layer's run parameters as the detector's settings resolve them (a run's own replace them)."""
        self.build()
        return self._simulator.parameters

    def record(self, stimuli: Iterable, run_dir, on_run: Callable | None = None,
               threshold: float | None = None) -> dict:
        """Run every stimulus and write each run's recordings as it ends (``recordings.h5``, ``run_info.json``,
        as :meth:`save`); ``on_run(run)`` sees each :class:`DetectorRun` while it is in memory (its detections
        with the score ``threshold``). Returns the run information."""
        from tqdm import tqdm

        stimuli = list(stimuli)
        bar = tqdm(stimuli, desc="simulate", unit="image", disable=None if self.progress else True)

        def runs():
            for stimulus in bar:
                run = self.run(stimulus, threshold=threshold)
                if on_run is not None:
                    on_run(run)
                yield run

        return self.save(runs(), run_dir)

    def save(self, runs: Iterable[DetectorRun], run_dir) -> dict:
        """Write runs in the project's run folder: ``run_dir/recordings.h5`` (one ``/images/NNNN`` group per run,
        with what the added objects recorded under ``recorded/``; :mod:`brainyolo.readout.recordings_schema`) and
        ``run_dir/run_info.json``, which ``brainyolo analyze`` and ``brainyolo decode`` read. Returns the run
        information (also written to run_info.json)."""
        self.build()
        return write_run_folder(run_dir, self._simulator, runs, self.settings.steps)

    def close(self) -> None:
        """Give the device back (a later detector starts afresh)."""
        if self._simulator is not None:
            self._simulator.close()
            self._simulator = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @staticmethod
    def _one_name(recording: Recording) -> str:
        if len(recording.names) != 1:
            raise ValueError(f"{recording.name} made {len(recording.names)} objects: name the one to set")
        return recording.names[0]

    def _spiking(self, layer: int) -> None:
        """``layer`` has spiking neurons (not a read-out layer that integrates only, nor a head)."""
        self._shape(layer)
        graph = self.model.graph
        kind = graph.layers[layer]
        integrating = layer in output_layers(graph) and self.settings.build.output != "spikes"
        if integrating or isinstance(kind, HEAD_KINDS):
            raise ValueError(f"layer {layer} ({type(kind).__name__}) does not spike: its neurons integrate "
                             "(record_v their membrane)")

    def _shape(self, layer: int) -> tuple[int, int, int]:
        shapes = self.model.graph.shapes()
        if not 0 <= layer < len(shapes):
            raise KeyError(f"layer {layer} is not one of the model's {len(shapes)} layers")
        return tuple(shapes[layer])

    def _network(self):
        runner = self._simulator._runner  # noqa: SLF001 - the simulator's own network
        if runner is None:
            raise RuntimeError("runtime device: the network exists during a run only")
        return runner.network


def write_run_folder(run_dir, simulator, runs: Iterable[DetectorRun], steps: int) -> dict:
    """``run_dir/recordings.h5`` (atomically: a folder never holds half a file) and ``run_dir/run_info.json`` of
    ``runs`` of ``simulator`` (:class:`~brainyolo.spiking.simulate.Simulator`)."""
    run_dir = Path(run_dir)
    info = {**simulator.run_info(), "build_seconds": 0.0, "run_seconds": 0.0, "synaptic_events": 0,
            "single_spike_events": 0,
            "peak_memory_bytes": 0, "images": [], "layer_spikes": {}}
    attrs = {k: info[k] for k in ("preset", "thresholds", "steps", "device", "neuron", "output", "input",
                                  "normalization", "connectivity", "schedule", "synapse", "counts")}
    attrs["parameters"] = json.dumps(info["parameters"], sort_keys=True)  # (run_info's: lists for arrays)
    attrs.update(model_file=str(simulator.model_path), model_sha256=simulator.model_sha)
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(run_dir / "recordings.h5") as tmp:
        recordings = None
        for number, run in enumerate(runs):
            result = run.result
            if recordings is None:
                attrs["checkpoints"] = result.checkpoints
                recordings = open_recordings(tmp, attrs)
                digest = GroupDigest(recordings, "images")  # its checksum, fed as the images are written
            box = result.box
            image = {"file_name": result.name, "image_width": box.image_size[0], "image_height": box.image_size[1]}
            if run.parameters is not None:  # the run's own (a decoder reads its delays)
                image["parameters"] = json.dumps(parameter_record(run.parameters), sort_keys=True)
            with stage("recording"):
                write_image(recordings, number, image, result.data, digest)
            image_info = result.info()
            info["images"].append(image_info)
            for key in ("build_seconds", "run_seconds", "synaptic_events", "single_spike_events"):
                info[key] += image_info[key]
            info["peak_memory_bytes"] = max(info["peak_memory_bytes"], image_info.get("peak_memory_bytes", 0))
            for index, layer in result.data["layers"].items():
                totals = info["layer_spikes"].setdefault(str(index), {
                    "kind": layer["kind"], "neurons": int(np.prod(layer["shape"])), "positive": 0, "negative": 0,
                    "negative_value": float(layer["negative_value"])})
                totals["positive"] += int(layer["positive_count"].sum())
                totals["negative"] += int(layer["negative_count"].sum())
                if sends_weighted_spikes(layer):  # the events that carried its spikes
                    for name in EVENT_COUNTERS:
                        totals[name] = totals.get(name, 0) + int(layer[name].sum())
        info["checkpoints"] = attrs.get("checkpoints", [])
        if recordings is not None:
            digest.seal()
            recordings.close()
    steps_total = steps * max(len(info["images"]), 1)
    info["ms_per_step"] = 1000.0 * info["run_seconds"] / steps_total
    info["synaptic_events_per_second"] = info["synaptic_events"] / max(info["run_seconds"], 1e-9)
    write_json(run_dir / "run_info.json", info)
    return info


def simulate(model, stimuli: Iterable, settings, run_dir, progress: bool = True, on_run: Callable | None = None
             ) -> dict:
    """Simulate every stimulus with ``settings`` and write the run folder (``brainyolo simulate``;
    :meth:`SpikingDetector.record`); ``on_run(run)`` sees each :class:`DetectorRun`. Returns the run information."""
    with SpikingDetector.from_settings(model, settings, progress=progress) as detector:
        return detector.record(stimuli, run_dir, on_run)
