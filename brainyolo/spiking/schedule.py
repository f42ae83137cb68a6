"""When spikes travel: the schedule of a step, and the steps before each layer can first spike.

``delayed`` is Spiking-YOLO's simulation (every layer's state update, then thresholds, then connections:
one step per spiking layer); ``same_step`` computes layer by layer within each step, as spikingjelly and
snnTorch do. The builder orders a network's objects by it; the read-out needs it to know when the output
layers start to integrate synaptic input.
"""

from __future__ import annotations

from brainyolo.ann.graph import INPUT, Conv, ConvAdd, Graph, MaxPool, Route, Upsample
from brainyolo.convert.model_file import ConvertedModel

SCHEDULES = ("delayed", "same_step")
"""How a step's spikes travel (:class:`brainyolo.spiking.builder.BuildOptions`): ``delayed`` (one step per
spiking layer, Spiking-YOLO's simulation) or ``same_step`` (layer by layer within the step)."""


SYNAPSE_UPDATE = "_synapse"


def model_schedule(model: ConvertedModel, schedule: str) -> str:
    """The schedule ``model`` runs with: ``schedule`` for a converted network; ``same_step`` for a
    directly trained one, which its framework computed layer by layer within each step."""
    return "same_step" if model.direct else schedule


def spike_delays(graph: Graph, spiking_input: bool = False, schedule: str = "delayed",
                 synaptic_delays: dict[int, int] | None = None) -> list[int]:
    """Per layer, the number of steps before its neurons can first spike.

    A convolution fed by the image as a current spikes from the first step (delay 0; 1 with
    input spikes: Poisson or events, :attr:`brainyolo.spiking.input_kinds.InputKind.spikes`). Every spiking
    layer adds one step to its inputs' largest delay; a single-input route and the heads have their
    input's delay. With the ``same_step`` schedule a spike reaches every later layer within its step.
    ``synaptic_delays[l]`` (a synapse file's ``delay`` of the connections into convolution ``l``, in
    steps) adds to the delay of the spikes that reach ``l`` from other layers (not of the image's current).
    """
    synaptic_delays = synaptic_delays or {}
    delays: list[int] = []
    for index, layer in enumerate(graph.layers):
        sources = [(0 if spiking_input else -1) if i == INPUT else delays[i] for i in layer.inputs]
        spiking = isinstance(layer, (Conv, ConvAdd, MaxPool, Upsample)) or (
            isinstance(layer, Route) and len(sources) > 1)
        extra = synaptic_delays.get(index, 0) if any(i != INPUT for i in layer.inputs) else 0
        if schedule == "same_step":  # a spike crosses every layer within its step: only synaptic delays count
            delays.append(max([0, *sources]) + extra)
        else:
            delays.append(max(sources) + extra + (1 if spiking else 0))
    return delays






