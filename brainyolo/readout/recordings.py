"""Monitors of a spiking run and the ``recordings.h5`` file they are written to.

What is recorded, per image:

* every layer's per-neuron count of +1 spikes and of -1 spikes (``negative_spike`` events; a burst of
  k spikes counts k, here and below);
* the spike trains (step and sign) of a sample of neurons per layer, for rasters;
* every layer's population count of +1 and of -1 spikes at every step, for population statistics over time
  (the sampled spikes and these counts: one :class:`~brainyolo.spiking.event_record.LayerEventRecord` per layer);
* the output layers' membrane ``v`` (and, with the spike-count read-out, their net spike count
  ``net_count``) at every checkpoint step, so that one run yields the whole accuracy-vs-time curve;
* for every weight-shared convolution, the synaptic events it has delivered (each source spike times
  its real fan-out) by every checkpoint step, so that energy is known at every checkpoint too.

The file's layout and its checker: :mod:`brainyolo.readout.recordings_schema`.
"""

from __future__ import annotations

from dataclasses import dataclass

import brian2
import h5py
import numpy as np
from brian2.core.variables import ArrayVariable, DynamicArrayVariable

from brainyolo.io.deflate import DeflatedWriter
from brainyolo.io.integrity import GroupDigest
from brainyolo.readout.recordings_schema import FORMAT, LAYER_ATTRIBUTES, SCHEMA_VERSION
from brainyolo.spiking import from_neuron_order
from brainyolo.spiking.checkpoints import CheckpointStore
from brainyolo.spiking.connections import SharedConvolution
from brainyolo.spiking.counters import COUNT_RESOLUTIONS, EVENT_COUNTERS, SPIKE_COUNTERS, channel_counts, stored_counts
from brainyolo.spiking.device import RUN_CONTROL
from brainyolo.spiking.event_record import LayerEventRecord
from brainyolo.spiking.event_spaces import negative_divisions
from brainyolo.spiking.network import SpikingNetwork
from brainyolo.spiking.neurons import spike_events


def sample_slice(n_neurons: int, shape, size: int) -> slice:
    """A contiguous block of up to ``size`` neurons around the map's centre (neuron order)."""
    c, h, w = shape
    start = min(((h // 2) * w + w // 2) * c, max(n_neurons - size, 0))
    return slice(start, min(start + size, n_neurons))


@dataclass
class _LayerRecording:
    group: object
    sample: slice
    record: LayerEventRecord | None  # None for a group that does not spike


def recorded_checkpoints(checkpoints, steps: int) -> list[int]:
    """The steps at which a run's output layers are read: ``checkpoints`` within 1..steps, and ``steps``.

    >>> recorded_checkpoints((), 50), recorded_checkpoints((50, 10, 80), 50)
    ([50], [10, 50])
    """
    return sorted({int(c) for c in checkpoints if 0 < int(c) <= steps} | {steps})


CHECKPOINT_SLOTS = 8
"""Checkpoints before the last step a compiled network can keep per run (a run with more builds a
network with more: :func:`checkpoint_slots`)."""


def checkpoint_slots(checkpoints, steps: int) -> int:
    """The slots a network needs for ``checkpoints`` of a ``steps``-step run: :data:`CHECKPOINT_SLOTS`, or
    the next multiple of it that holds every checkpoint before the last step.

    >>> checkpoint_slots((8, 16, 25, 32), 50), checkpoint_slots(range(1, 51), 50)
    (8, 56)
    """
    early = len(recorded_checkpoints(checkpoints, steps)) - 1
    return max(CHECKPOINT_SLOTS, -(-early // CHECKPOINT_SLOTS) * CHECKPOINT_SLOTS)


class RunControl(brian2.NeuronGroup):
    """One neuron whose shared ``run_steps`` is the length of the run, set per run like any other input
    (a standalone binary runs ``run_steps`` steps, whatever duration it was built with: see
    :class:`brainyolo.spiking.device.BrainyoloStandaloneDevice`)."""

    def __init__(self, clock):
        super().__init__(1, "run_steps : integer (shared, constant)", clock=clock, name=RUN_CONTROL)


def _not_checked() -> None:
    """In place of Brian2's check of a group's integrated variables when they are not written."""


class Recorder:
    """Creates the monitors for ``network`` and reads them back after a run.

    Spike counts are the groups' own counters (:data:`~brainyolo.spiking.builder.SPIKE_COUNTERS`,
    kept by the neurons' resets); sampled spike trains and population counts are one
    :class:`~brainyolo.spiking.event_record.LayerEventRecord` per layer. The
    run's length and checkpoints are inputs of each run (:meth:`run_inputs`), not of the built network:
    one compiled binary runs any step count and up to ``slots`` checkpoints before the last step.

    Parameters
    ----------
    network : SpikingNetwork
    slots : int
        Checkpoints before the last step a run may ask for (:func:`checkpoint_slots`).
    sample_neurons : int
        Neurons per layer whose spike trains are kept.
    """

    def __init__(self, network: SpikingNetwork, slots: int = CHECKPOINT_SLOTS, sample_neurons: int = 20):
        self.network, self.slots = network, slots
        self.layers: dict[int, _LayerRecording] = {}
        self.control = RunControl(network.clock)
        self._objects = [self.control]
        for index in network.own_layers():
            group = network.layers[index].group
            block = sample_slice(len(group), network.layers[index].shape, sample_neurons)
            spiking = bool(spike_events(group.events))
            record = LayerEventRecord(group, block, name=f"eventrecord{index:02d}") if spiking else None
            self.layers[index] = _LayerRecording(group, block, record)
            self._objects += [record] if record is not None else []
        # The output layers at the checkpoints before the last step: a store per layer; the last
        # checkpoint is the final state.
        self.outputs = {}
        for index in network.output_layers:
            group = network.layers[index].group
            variables = ["v"] + (["net_count"] if "net_count" in group.variables else [])
            store = CheckpointStore(group, variables, slots, name=f"checkpoints{index:02d}")
            self._objects.append(store)
            self.outputs[index] = (group, variables, store)
        # Synaptic events delivered by each weight-shared convolution (into a layer: summed over its
        # convolutions, e.g. a membrane shortcut's two) by the end of every step.
        self.events = {}
        for index in network.own_layers():
            for k, connection in enumerate(network.layers[index].connections):
                if isinstance(connection, SharedConvolution):
                    name = f"events{index:02d}" + (f"_{k}" if k else "")
                    monitor = brian2.StateMonitor(connection, "synaptic_events", record=0, when="end", order=1000,
                                                  clock=network.clock, name=name)
                    self._objects.append(monitor)
                    self.events.setdefault(index, []).append((connection, monitor))

    def objects(self) -> list:
        return list(self._objects)

    def read_variables(self) -> list:
        """The Brian2 variables of the network's groups that :meth:`collect` reads after a run, besides its
        monitors: every layer's spike counters (and event counters), the output layers' state, the checkpoint
        stores."""
        read = [m.group.variables[name] for m in self.layers.values() for name in SPIKE_COUNTERS + EVENT_COUNTERS
                if name in m.group.variables]
        for group, variables, store in self.outputs.values():
            read += [group.variables[name] for name in variables]
            read += [store.variables[f"{name}_{k}"] for name in variables for k in range(self.slots)]
        return read

    def omit_unread_results(self, device) -> None:
        """Let the C++ standalone ``device`` leave out of a run's results the arrays of the network's own
        objects that no one reads after a run (kernels, index arrays, hidden membranes; see
        :class:`~brainyolo.spiking.device.BrainyoloStandaloneDevice`): monitors, a user's own objects and
        what :meth:`read_variables` names are still written. Brian2 reads every integrated variable
        after a run to warn of NaN or huge values; a group whose such variables are left out is not
        checked."""
        read = {id(variable) for variable in self.read_variables()}
        names = set()
        for obj in self.network.objects():
            if not hasattr(obj, "variables"):  # e.g. an input's operation: no arrays of its own
                continue
            unread = {name for name, variable in obj.variables.items()
                      if isinstance(variable, ArrayVariable) and not isinstance(variable, DynamicArrayVariable)
                      and variable.owner is not None and variable.owner.name == obj.name
                      and id(variable) not in read and variable in device.arrays}
            names |= {device.arrays[obj.variables[name]] for name in unread}
            equations = getattr(obj, "equations", None)
            if equations is not None and unread & set(equations.diff_eq_names):
                obj._check_for_invalid_states = _not_checked
        device.unwritten_arrays = frozenset(names)

    def run_inputs(self, steps: int, checkpoints=()) -> dict:
        """A run's length and checkpoints as per-run values (``{VariableView: value}``, Brian2's
        ``run_args`` in a standalone run).

        Raises
        ------
        ValueError
            More checkpoints before the last step than the network has slots for.
        """
        early = recorded_checkpoints(checkpoints, steps)[:-1]
        if len(early) > self.slots:
            raise ValueError(f"{len(early)} checkpoints before the last step, but the network keeps {self.slots}")
        inputs = {self.control.run_steps: int(steps)}
        for _, _, store in self.outputs.values():
            for k in range(self.slots):
                inputs[getattr(store, f"checkpoint_{k}")] = early[k] if k < len(early) else -1
        return inputs

    def collect(self, steps: int, checkpoints=()) -> dict:
        """Read every monitor of a run of ``steps`` steps with ``checkpoints`` into plain numpy arrays in
        ``(C, H, W)`` layout."""
        net = self.network
        recorded = recorded_checkpoints(checkpoints, steps)
        data = {"layers": {}, "output": {}}
        for index, m in self.layers.items():
            shape = net.layers[index].shape
            n = int(np.prod(shape))
            pos, neg = (np.asarray(m.group.variables[name].get_value(), np.int32)
                        if name in m.group.variables else np.zeros(n, np.int32) for name in SPIKE_COUNTERS)
            if m.record is not None:
                ids, spike_steps, signs = (m.record.values(name) for name in ("sample_neuron", "sample_step",
                                                                              "sample_sign"))
                populations = {name: m.record.values(f"population_{name}") for name in ("positive", "negative")}
            else:
                ids = spike_steps = signs = np.zeros(0, np.int32)
                populations = {name: np.zeros(steps, np.int32) for name in ("positive", "negative")}
            order = np.lexsort((ids, spike_steps))
            flat = np.arange(m.sample.start, m.sample.stop)
            c, h, w = shape
            sample = np.stack([flat % c, (flat // c) // w, (flat // c) % w], axis=1).astype(np.int32)
            sent = {name: from_neuron_order(np.asarray(m.group.variables[name].get_value(), np.int32), shape)
                    for name in EVENT_COUNTERS if name in m.group.variables}
            data["layers"][index] = {
                "kind": net.graph.layers[index].kind, "shape": shape, **sent,
                "negative_value": 1 / negative_divisions(m.group),
                "positive_count": from_neuron_order(pos, shape), "negative_count": from_neuron_order(neg, shape),
                "sample_neuron": sample,
                "sample_spike_neuron": ids[order], "sample_spike_step": spike_steps[order],
                "sample_spike_sign": signs[order].astype(np.int8),
                **{f"population_{name}": counts for name, counts in populations.items()}}
        for index, (group, variables, store) in self.outputs.items():
            shape = net.layers[index].shape
            out = {}
            for name in variables:
                rows = [np.asarray(store.variables[f"{name}_{k}"].get_value()) for k in range(len(recorded) - 1)]
                rows.append(np.asarray(group.variables[name].get_value()))
                out[name] = np.stack([from_neuron_order(r, shape) for r in rows])
            data["output"][index] = out
        for index, connections in self.events.items():
            # the monitor's row k: the events by the end of step k + 1
            data["layers"][index]["input_events"] = np.array(
                [sum(int(np.asarray(monitor.variables["synaptic_events"].get_value())[step - 1, 0])
                     for _, monitor in connections) for step in recorded], np.int64)
        return data


def open_recordings(path, attrs: dict) -> h5py.File:
    """Create ``recordings.h5`` (the caller writes images into it with :func:`write_image`, then closes it);
    ``attrs["counts"]`` (default ``neurons``) says what :func:`write_image` keeps of the counters."""
    attrs = {"counts": "neurons", **attrs}
    if attrs["counts"] not in COUNT_RESOLUTIONS:
        raise ValueError(f"counts = {attrs['counts']!r}, not one of {COUNT_RESOLUTIONS}")
    f = h5py.File(path, "w")
    f.attrs.update({"format": FORMAT, "schema_version": SCHEMA_VERSION, "time_step_ms": 1.0, **attrs})
    f.create_group("images")
    return f


COMPRESSED_SIZE = 4096
"""Arrays of more numbers than this are byte-shuffled and gzipped (:class:`brainyolo.io.deflate.DeflatedWriter`)."""


def write_image(f: h5py.File, number: int, info: dict, data: dict, digest: GroupDigest | None = None
                ) -> tuple[str, dict[str, np.ndarray]]:
    """Add one image's recordings to an open recordings file: ``(the image's group name, {HDF5 name of each
    dataset: the array written})`` (what :class:`brainyolo.io.integrity.GroupDigest` feeds). The counters are kept
    per neuron or per channel as the file's ``counts`` attribute says (:func:`open_recordings`). ``digest``: the
    file's :class:`~brainyolo.io.integrity.GroupDigest`, fed the image (from the arrays written) while the large
    arrays' chunks are still compressed."""
    name = f"{number:04d}"
    per_channel = f.attrs.get("counts", "neurons") == "channels"
    group = f["images"].create_group(name)
    group.attrs.update(info)
    written = {}

    def dataset(parent, key, value) -> None:
        value = np.asarray(value)
        large = value.size > COMPRESSED_SIZE and value.dtype.kind in "biuf"  # (text stays as h5py stores it)
        stored = deflater.add(parent, key, value) if large else parent.create_dataset(key, data=value)
        written[stored.name] = value

    with DeflatedWriter() as deflater:  # the large arrays' chunks compressed together, written at its end
        layers = group.create_group("layers")
        for index, layer in data["layers"].items():
            g = layers.create_group(f"{index:02d}")
            g.attrs["kind"], g.attrs["shape"] = layer["kind"], np.asarray(layer["shape"])
            g.attrs["negative_value"] = float(layer["negative_value"])
            for key, value in layer.items():
                if key not in LAYER_ATTRIBUTES:
                    if key in SPIKE_COUNTERS + EVENT_COUNTERS:
                        value = channel_counts(value) if per_channel else stored_counts(value)
                    dataset(g, key, value)
        outputs = group.create_group("output")
        for index, values in data["output"].items():
            g = outputs.create_group(f"{index:02d}")
            for key, value in values.items():
                dataset(g, key, value)
        if "input_events" in data:  # an event sample: the events the input delivered (step, neuron)
            record = data["input_events"]
            g = group.create_group("input_events")
            g.attrs["width"], g.attrs["height"] = int(record["width"]), int(record["height"])
            for key in ("step", "neuron"):
                dataset(g, key, record[key])
        if data.get("extra"):  # what a user's own Brian2 objects recorded (the Python API's add / record_*)
            recorded = group.create_group("recorded")
            for object_name, variables in data["extra"].items():
                g = recorded.create_group(object_name)
                for key, value in variables.items():
                    value = np.asarray(value)
                    if value.dtype.kind in "biuf":
                        dataset(g, key, value)
        if digest is not None:  # (every node and attribute is there; the values are fed from the arrays)
            digest.add(name, written)
    return name, written
