"""The Python API: a detector as a Brian2 network for experiments.

::

    import brainyolo

    detector = brainyolo.SpikingDetector("embedded", steps=100, lesions=True)
    trace = detector.record_v(2, [(0, 5, 5), (3, 10, 2)])   # a Brian2 StateMonitor on v of chosen neurons
    spikes = detector.record_spikes(4)                      # a Brian2 SpikeMonitor on a whole layer
    first = detector.run("scene.png")                       # builds, compiles once, runs
    second = detector.run("scene.png", silenced={2: [5]})   # channel 5 of layer 2 silent: the same binary
    first.recorded(trace)["v"], second.recorded(spikes)["count"], first.detections[100]

Monitors and a user's own Brian2 objects (:meth:`SpikingDetector.add`) join the network before it is
built: attach them first, then run. After the build, :meth:`SpikingDetector.layer` gives each layer's
Brian2 ``NeuronGroup`` and connection objects. Neurons are addressed as ``(channel, y, x)`` of a
layer's output map; :func:`neuron_index` turns that into the group's index (position-major,
channel-minor).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from brainyolo.convert.model_file import load_model
from brainyolo.data.embedded import model_file
from brainyolo.spiking.parameters import ParameterSettings, parse_setting
from brainyolo.spiking.presets import DEFAULT_PRESET, load_preset, resolve_simulation
from brainyolo.system.machine import usable_cores


def neuron_index(shape: tuple[int, int, int], channel: int, y: int, x: int) -> int:
    """The index in its layer's NeuronGroup of neuron ``(channel, y, x)`` of a layer of ``shape`` (C, H, W).

    >>> neuron_index((4, 3, 5), 2, 1, 3)
    34
    """
    c, h, w = shape
    if not (0 <= channel < c and 0 <= y < h and 0 <= x < w):
        raise ValueError(f"neuron ({channel}, {y}, {x}) lies outside a layer of shape {shape}")
    return (y * w + x) * c + channel


def parameter_settings(values: dict) -> ParameterSettings:
    """``{layer: {name: value}}`` (a layer number, or ``"all"``) as the settings ``--set`` would make."""
    settings = ParameterSettings()
    for layer, named in values.items():
        for name, value in named.items():
            settings = settings + parse_setting(f"{layer}.{name}={value}")
    return settings


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


@dataclass
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
    """One run: detections at every checkpoint, the run's recordings, and what the user's objects recorded."""

    detections: dict  # {step: brainyolo.ann.heads.Detections}
    result: object  # brainyolo.spiking.simulate.ImageResult
    states: dict = field(default_factory=dict)  # {object name: {variable: array}}

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
        The named configuration (``fast``, ``paper``, or a preset file); the other arguments override it.
    steps, checkpoints : int, sequence of int
        The run's length and the steps at which detections are read (default: the preset's).
    device : {"cpp_standalone", "runtime"}
        Brian2's C++ standalone mode (compiled once, every run after that reuses the binary), or its
        numpy runtime (built anew for every run).
    threads : int
        OpenMP threads of the binary (default: the cores this process may use).
    lesions : bool
        Build every spiking neuron with a per-run switch, so that :meth:`run` may silence channels or
        single neurons without recompiling.
    **options
        Further :func:`~brainyolo.spiking.presets.resolve_simulation` choices (``decode``, ``neuron``,
        ``schedule``, ``parameters``, ...).
    """

    def __init__(self, model="embedded", preset: str = DEFAULT_PRESET, *, steps: int | None = None,
                 checkpoints=None, device: str = "cpp_standalone", threads: int | None = None,
                 lesions: bool = False, **options):
        if device not in ("cpp_standalone", "runtime"):
            raise ValueError(f"device {device!r} is not cpp_standalone or runtime")
        self.model_path = Path(model_file(str(model)))
        self.model = load_model(self.model_path)
        build = {"lesions": lesions, **options.pop("build", {})}
        if isinstance(options.get("parameters"), dict):
            options["parameters"] = parameter_settings(options["parameters"])
        self.settings = resolve_simulation(self.model, load_preset(preset), steps=steps, checkpoints=checkpoints,
                                           device=device, threads=threads or usable_cores(), build=build, **options)
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
        indices = [neuron_index(shape, *n) for n in neurons]
        name = f"trace{layer:02d}_{len(self._recordings)}"
        return self.add(lambda net: brian2.StateMonitor(net.layers[layer].group, variable, record=indices, name=name,
                                                        clock=net.clock), name)

    def record_spikes(self, layer: int) -> Recording:
        """A Brian2 ``SpikeMonitor`` of every neuron of ``layer`` (positive spikes; ``i``, ``t``, ``count``)."""
        import brian2

        self._shape(layer)
        name = f"spikes{layer:02d}_{len(self._recordings)}"
        return self.add(lambda net: brian2.SpikeMonitor(net.layers[layer].group, name=name), name)

    def record_rate(self, layer: int) -> Recording:
        """A Brian2 ``PopulationRateMonitor`` of ``layer`` (``t``, ``rate`` in Hz of Brian2 time: 1 step = 1 ms)."""
        import brian2

        self._shape(layer)
        name = f"rate{layer:02d}_{len(self._recordings)}"
        return self.add(lambda net: brian2.PopulationRateMonitor(net.layers[layer].group, name=name), name)

    # --- the build and the runs ------------------------------------------------------------------------

    def build(self) -> None:
        """Build the network with everything added (C++ standalone: compile it); :meth:`run` does it first."""
        from brainyolo.spiking.simulate import Simulator

        if self._simulator is None:
            recordings = list(self._recordings)
            self._simulator = Simulator(self.model_path, self.settings,
                                        extra=lambda net: [obj for r in recordings for obj in r.objects(net)])

    def layer(self, index: int) -> Layer:
        """Layer ``index`` of the compiled network (``cpp_standalone``; builds it). With ``runtime`` the
        network is made for each run: reach its objects through :meth:`add`'s ``make(network)``."""
        if self.settings.device != "cpp_standalone":
            raise RuntimeError("runtime device: the network is made for each run; reach it through add(make)")
        self.build()
        network = self._network()
        if index not in network.layers:
            raise KeyError(f"layer {index} is not one of the network's layers {sorted(network.layers)}")
        built = network.layers[index]
        return Layer(index, type(network.graph.layers[index]).__name__, tuple(built.shape), built.group,
                     tuple(built.connections))

    def run(self, image, parameters: dict | None = None, silenced: dict | None = None,
            threshold: float | None = None) -> DetectorRun:
        """Run one image (a path); ``parameters``: per-layer neuron parameters for this run
        (``{layer: {name: value}}``, e.g. ``{3: {"v_th": 0.8}}``; see ``--set``); ``silenced``:
        ``{layer: [channel or (channel, y, x), ...]}`` (needs ``lesions=True``). Returns the detections
        at every checkpoint with the run's recordings."""
        self.build()
        simulator = self._simulator
        resolved = None
        if parameters:
            resolved = simulator.resolve_parameters(self.settings.parameters + parameter_settings(parameters))
        result = simulator.run(Path(image), resolved, silenced=silenced)
        if resolved is None:  # the same read-out every run: made once (0.2 s for yolov3-tiny)
            key = (self.settings.decode, threshold)
            if key not in self._decoders:
                self._decoders[key] = simulator.decoder(*key)
            decoder = self._decoders[key]
        else:  # a run's own parameters may move its read-out (delays)
            decoder = simulator.decoder(self.settings.decode, threshold, resolved)
        detections = decoder.detections(result.data["output"], result.checkpoints, result.box)
        return DetectorRun(detections, result, result.data.get("extra", {}))

    def close(self) -> None:
        """Give the device back (a later detector starts afresh)."""
        if self._simulator is not None:
            self._simulator.close()
            self._simulator = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

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
