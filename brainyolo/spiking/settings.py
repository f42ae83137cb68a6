"""A simulation's settings, resolved once (preset, then options; :func:`brainyolo.spiking.presets.resolve_simulation`)
into one immutable object that every step below receives."""

from __future__ import annotations

from dataclasses import dataclass, field

from brainyolo.spiking.counters import COUNT_RESOLUTIONS
from brainyolo.spiking.event_encoding import EventSettings
from brainyolo.spiking.input_kinds import INPUT_KINDS
from brainyolo.spiking.parameters import ParameterSettings
from brainyolo.spiking.schedule import SCHEDULES
from brainyolo.system.machine import usable_cores

DEVICES = ("cpp_standalone", "runtime")


OUTPUT_MODES = ("vmem", "spikes")


CONNECTIVITIES = ("shared", "unrolled")


INPUT_MODES = tuple(INPUT_KINDS)


SCATTER_ORDERS = ("auto", "bands", "rows", "row_channels", "channels", "gather", "tiles")
"""How a weight-shared convolution may sum a step's spikes in C++
(:class:`~brainyolo.spiking.connections.SharedConvolution`)."""


@dataclass(frozen=True)
class BuildOptions:
    """How the spiking network is built.

    Attributes
    ----------
    neuron : str
        Neuron model of the hidden layers: a name in ``equations/`` or a path.
    output : {"vmem", "spikes"}
        Output layer read-out.
    connectivity : {"shared", "unrolled"}
        Weight-shared convolution objects, or one Brian2 synapse per weight use (small networks).
    input : {"current", "poisson", "frames", "spikes"}
        How a sample reaches the first convolution (:mod:`brainyolo.spiking.input_kinds`): the image as a
        constant current or as Poisson spikes (rate = pixel value per step); event frames as a
        current per time bin; events as ON/OFF spikes at their own steps.
    bins : int
        ``frames`` and ``spikes``: time bins of the event window (EMS-YOLO's T); each input neuron of
        ``spikes`` fires at most once per bin (the event its pixel's frame keeps).
    bin_steps : int
        ``frames`` and ``spikes``: simulation steps per bin (a run has ``bins * bin_steps`` steps).
        A ``spikes`` input spike delivers its bin's frame value for the whole bin at once (weight
        ``bin_steps``): frames and spikes give the first layer the same total input, at other times.
    normalization : {"channel", "layer", "channel-balanced"} or None
        None: the model file's own; ``channel-balanced``: the model's own with its channel balance.
    fused_thresholds : bool
        Test both events of a signed neuron in one pass (:class:`SignedThresholder`; the same
        events, one scan of ``v`` instead of two), and in C++ run their resets in that pass wherever this
        changes no number (:func:`~brainyolo.spiking.thresholder.fuse_resets`); False keeps Brian2's two
        thresholders and its resetters.
    schedule : {"delayed", "same_step"}
        ``delayed`` (Brian2's slots: every layer's state update, then thresholds, then connections,
        then resets): a spike reaches the next layer's membrane in its step and can make it fire in
        the next, one step per spiking layer (Spiking-YOLO). ``same_step``: layer by layer in
        topological order, each layer's incoming connections, state update, threshold and reset
        before the next layer's (:func:`same_step_schedule`): a spike crosses the whole network
        within its step, as layer-by-layer SNN frameworks (spikingjelly, snnTorch) compute it.
    synapse : str
        Synapse model of every convolution's connections (:mod:`brainyolo.spiking.synapses`): a name in
        ``equations/synapses/`` or a path; ``instant`` (Spiking-YOLO's) adds a spike's weight to the
        membrane at once.
    max_delay : int
        Largest synaptic ``delay`` (steps) a run of the built network may set (the connections'
        ring buffers); 0: no delays.
    lesions : bool
        Every spiking neuron gets a per-run switch :data:`LESION` (1: it fires no event, a lesion):
        :meth:`SpikingNetwork.lesion_inputs` silences channels or single neurons per run, without
        recompiling. Off by default (it costs one read per neuron and step).
    channel_parameters : bool
        The neuron file's shared parameters (``v_th``, ``alpha``, a leak ``tau``, a noise ``sigma``, ...)
        become per-neuron constants of every hidden layer: a run may give them a value per channel or per
        neuron (:func:`~brainyolo.spiking.parameters.resolve`), without recompiling. Off by default.
    layer_neurons : tuple of (int, str)
        ``(layer, neuron file)`` pairs: hidden layers built of another neuron model than ``neuron`` (a name in
        ``equations/`` or a path); their run parameters are that file's.
    layer_synapses : tuple of (int, str)
        ``(layer, synapse file)`` pairs: convolutions whose incoming connections use another synapse model
        than ``synapse``.
    scatter : str
        The order in which every weight-shared convolution sums a step's spikes in C++
        (:class:`~brainyolo.spiking.connections.SharedConvolution`): ``auto`` (default), ``bands``, ``rows``,
        ``row_channels``, ``channels``, ``gather`` or ``tiles``. All give the same sums, bit for bit; only the time
        differs (``brainyolo benchmark --only scatter``).
    """

    neuron: str = "if_signed_ibt"
    output: str = "vmem"
    connectivity: str = "shared"
    input: str = "current"
    normalization: str | None = None
    fused_thresholds: bool = True
    schedule: str = "delayed"
    bins: int = 1
    bin_steps: int = 1
    synapse: str = "instant"
    max_delay: int = 0
    lesions: bool = False
    channel_parameters: bool = False
    layer_neurons: tuple = ()
    layer_synapses: tuple = ()
    scatter: str = "auto"

    def __post_init__(self):
        for value, allowed in ((self.output, OUTPUT_MODES), (self.connectivity, CONNECTIVITIES),
                               (self.input, INPUT_MODES), (self.schedule, SCHEDULES), (self.scatter, SCATTER_ORDERS)):
            if value not in allowed:
                raise ValueError(f"{value!r} is not one of {allowed}")
        if self.bins < 1 or self.bin_steps < 1:
            raise ValueError("bins and bin_steps are at least 1")
        if self.max_delay < 0:
            raise ValueError("max_delay is at least 0")
        for name in ("layer_neurons", "layer_synapses"):
            pairs = tuple(sorted((int(k), str(v)) for k, v in (dict(getattr(self, name)).items())))
            if any(k < 0 for k, _ in pairs):
                raise ValueError(f"{name}: layers are indices, at least 0")
            object.__setattr__(self, name, pairs)


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
    threshold_scale: float = 1.0
    """Every hidden layer's default threshold (balanced or uniform) times this, before the settings; not for a
    directly trained network."""
    preset: str = ""
    """The preset these settings were resolved from (:mod:`brainyolo.spiking.presets`; recorded, not used)."""
    profile: bool = False
    """cpp_standalone: time every code object (Brian2's ``profile=True``); each image's timing then holds
    ``profile`` {code object: seconds} (a binary of its own: the timers cost a little)."""
    counts: str = "neurons"
    """What ``recordings.h5`` keeps of the layers' spike counts (:data:`~brainyolo.spiking.counters.COUNT_RESOLUTIONS`):
    ``neurons``, every neuron's; ``channels``, their sums per channel (a run's detections, totals and synaptic events
    are the same either way; the per-neuron figures of ``analyze`` need ``neurons``)."""

    def __post_init__(self):
        if self.counts not in COUNT_RESOLUTIONS:
            raise ValueError(f"counts = {self.counts!r}, not one of {COUNT_RESOLUTIONS}")
