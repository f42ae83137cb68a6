"""The same-step schedule of a built network: every layer's objects in one scheduling slot, layer by layer in
graph order (:func:`same_step_schedule`), so that a spike crosses the whole network within its step."""

from __future__ import annotations

from brainyolo.spiking.network import SpikingNetwork
from brainyolo.spiking.schedule import SYNAPSE_UPDATE
from brainyolo.spiking.thresholder import SignedThresholder

_STAGES = {"connection": 0, "synapse": 1, "update": 2, "threshold": 3, "reset": 4}


def _stage(obj) -> int:
    from brian2.groups.neurongroup import Resetter, StateUpdater, Thresholder


    if isinstance(obj, StateUpdater):
        return _STAGES["update"]
    if isinstance(obj, (Thresholder, SignedThresholder)):  # (the fused one also updates the state first)
        return _STAGES["threshold"]
    if isinstance(obj, Resetter):
        return _STAGES["reset"]
    if obj.name.endswith(SYNAPSE_UPDATE):
        return _STAGES["synapse"]
    return _STAGES["update"]  # anything else a group runs every step (e.g. run_regularly)


def same_step_schedule(net: SpikingNetwork) -> None:
    """Run every layer's objects in one scheduling slot, layer by layer in graph (topological) order.

    Graph order is topological (a layer reads only earlier layers), so when layer ``l``'s
    connections run, the spikes of their sources in this step are already in the event spaces.
    The input kind's objects (spike sources, per-bin currents) come first. Monitors are not part of
    the network: the recorder, made afterwards, puts each layer's
    :class:`~brainyolo.spiking.event_record.LayerEventRecord` at the end of a step (order 999, when every
    event space of the step is filled) and its checkpoint stores and event monitors after it (order 1000).
    """
    slot, stride = "groups", len(_STAGES)
    for source in net.inputs:
        for obj in [source, *source.contained_objects]:
            obj.when, obj.order = slot, -stride
    for index, layer in net.layers.items():
        if not layer.own:
            continue
        base = index * stride
        for connection in layer.connections:
            for obj in [connection, *getattr(connection, "contained_objects", [])]:
                obj.when, obj.order = slot, base + _STAGES["connection"]
        for obj in layer.group.contained_objects:
            obj.when, obj.order = slot, base + _stage(obj)
