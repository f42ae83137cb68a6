"""The layout of ``recordings.h5`` and its checker (:func:`check_recordings`), which every reader runs before it
reads; the writer is :mod:`brainyolo.readout.recordings`.

Schema version 4 (arrays in ``(C, H, W)`` layout, steps counted from 1; version 1 lacked the
population datasets, version 2 the events at checkpoints, version 3 the ``counts`` attribute; all are still
read)::

    /                         attrs: format="brainyolo-recordings", schema_version=4, steps,
                                     checkpoints, time_step_ms, neuron, output, input,
                                     normalization, connectivity, device, model_file, model_sha256,
                                     counts ("neurons", or "channels": every layer's four counters
                                     below summed per channel, shape (C,) int64; "neurons" where
                                     absent), content_sha256 (:mod:`brainyolo.io.integrity`)
    /images/NNNN              attrs: file_name, image_width, image_height
    /images/NNNN/layers/LL    attrs: kind, shape, negative_value (what one -1 spike of the layer's
                              group stands for, as a fraction 1/n of a +1 spike: the hidden neuron
                              file's ``negative_value``, a pool's or relay's sources', an output
                              layer's own neuron's; 1 where absent, as in files written before 0.12);
                              datasets positive_count, negative_count; where the layer
                              sends weighted spikes (its neuron file's ``weighted_spikes``) also
                              positive_events, negative_events (the events it sent, each one
                              synaptic event per target); these four int8 where every count is
                              at most 63, else int16 where at most 16383 (a sum or difference of
                              two is then of the type too), else int32 (int32 in files before
                              0.13.1, int16 or int32 before 0.15.1), read back as int32 (widen
                              them before other arithmetic: a product wraps in int8);
                              sample_neuron (n, 3: c, y, x); sample_spike_neuron (row in the
                              sample), sample_spike_step, sample_spike_sign (+1 / -1);
                              population_positive, population_negative (steps,) int32;
                              for a convolution layer built weight-shared: input_events
                              (checkpoints,) int64, events delivered into the layer by then
    /images/NNNN/output/LL    datasets v (checkpoints, C, H, W) and, for the spike read-out,
                              net_count (checkpoints, C, H, W)
    /images/NNNN/input_events (event samples) attrs width, height; datasets step, neuron
    /images/NNNN/recorded/OBJ (runs of the Python API with objects of the user's) one dataset per
                              variable an added Brian2 object holds (a StateMonitor's t and v as
                              (neurons, steps), a SpikeMonitor's i, t and count, a Synapses' w...),
                              in Brian2's units (SI) without them
"""

from __future__ import annotations

import h5py
import numpy as np

from brainyolo.convert.normalization import NORMALIZATIONS
from brainyolo.spiking.counters import COUNT_RESOLUTIONS, EVENT_COUNTERS, SPIKE_COUNTERS
from brainyolo.spiking.input_kinds import INPUT_KINDS
from brainyolo.spiking.neurons import MAX_NEGATIVE_DIVISIONS, NEGATIVE_DIVISIONS

FORMAT = "brainyolo-recordings"
SCHEMA_VERSION = 4
READABLE_SCHEMA_VERSIONS = (1, 2, 3, 4)
LAYER_ATTRIBUTES = ("kind", "shape", "negative_value")
"""A recorded layer's attributes (its other entries are datasets)."""
_NEGATIVE_VALUES = {1 / n for n in NEGATIVE_DIVISIONS}


MAX_STEPS = 10_000_000
"""Most time steps a recordings file may claim."""

_ROOT_TEXT = {"neuron": None, "output": ("vmem", "spikes"), "input": tuple(INPUT_KINDS),
              "normalization": (*NORMALIZATIONS, "none"), "model_file": None, "model_sha256": None}
_ROOT_OPTIONAL = {"connectivity": ("shared", "unrolled"), "device": ("cpp_standalone", "runtime"),
                  "schedule": ("delayed", "same_step"), "synapse": None,  # (files before the schedule option: delayed)
                  "counts": COUNT_RESOLUTIONS}  # (files before schema 4: neurons)


def _scalar_int(value, what: str, low: int, high: int) -> int:
    array = np.asarray(value)
    if array.shape not in ((), (1,)) or array.dtype.kind not in "iu":
        raise ValueError(f"{what} is not a whole number")
    number = int(array.reshape(-1)[0])
    if not low <= number <= high:
        raise ValueError(f"{what} = {number} is outside {low}..{high}")
    return number


def _whole_numbers(layer, name: str, where: str, shape: tuple, low=None, high=None) -> np.ndarray:
    data = layer[name] if name in layer else None
    if not isinstance(data, h5py.Dataset) or data.shape != shape or data.dtype.kind not in "iu":
        raise ValueError(f"{where}/{name} is missing or not whole numbers of shape {shape}")
    values = data[()]
    if values.size and ((low is not None and values.min() < low) or (high is not None and values.max() > high)):
        raise ValueError(f"{where}/{name} holds values outside {low}..{high}")
    return values


def _check_layer_datasets(layer, where: str, shape: tuple, steps: int, checkpoints: int,
                          per_channel: bool = False) -> None:
    """Spike counts (per neuron, or per channel: shape (C,)), population series, spike samples and delivered
    events of one recorded layer."""
    counted = shape[:1] if per_channel else shape
    sent_spikes = [_whole_numbers(layer, counts, where, counted, 0) for counts in SPIKE_COUNTERS]
    if any(name in layer for name in EVENT_COUNTERS):  # weighted spikes: a neuron's events carry its spikes
        for name, sent in zip(EVENT_COUNTERS, sent_spikes, strict=True):
            events = _whole_numbers(layer, name, where, counted, 0)
            if np.any(events > sent) or np.any((events == 0) != (sent == 0)):
                raise ValueError(f"{where}/{name} does not fit the spikes it sent: more events than spikes, or events "
                                 "without spikes or spikes without events")
    series = [name in layer for name in ("population_positive", "population_negative")]
    if any(series):  # (schema 1 has neither)
        for name in ("population_positive", "population_negative"):
            _whole_numbers(layer, name, where, (steps,), 0)
    if "sample_neuron" in layer:
        n = layer["sample_neuron"].shape[0] if layer["sample_neuron"].ndim == 2 else -1
        sample = _whole_numbers(layer, "sample_neuron", where, (max(n, 0), 3), 0)
        if sample.size and np.any(sample >= np.asarray(shape)[None, :]):
            raise ValueError(f"{where}/sample_neuron names neurons outside the layer's shape {shape}")
        spikes = layer["sample_spike_step"].shape if "sample_spike_step" in layer else None
        if spikes is None or len(spikes) != 1:
            raise ValueError(f"{where}/sample_spike_step is missing or not a list of steps")
        _whole_numbers(layer, "sample_spike_neuron", where, spikes, 0, max(n - 1, 0))
        _whole_numbers(layer, "sample_spike_step", where, spikes, 1, steps)
        _whole_numbers(layer, "sample_spike_sign", where, spikes, -1, 1)
    if "input_events" in layer:
        _whole_numbers(layer, "input_events", where, (checkpoints,), 0)


def _check_input_events(group, where: str, steps: int) -> None:
    """An event run's input events: ``step`` in 1..steps and ``neuron`` in 0..2WH-1, as many of each."""
    if not isinstance(group, h5py.Group) or not all(isinstance(group.get(k), h5py.Dataset) for k in ("step", "neuron")):
        raise ValueError(f"{where}: datasets step and neuron are missing")
    width = _scalar_int(group.attrs.get("width"), f"{where}: attribute width", 1, 1 << 20)
    height = _scalar_int(group.attrs.get("height"), f"{where}: attribute height", 1, 1 << 20)
    step, neuron = group["step"], group["neuron"]
    if step.shape != neuron.shape or step.ndim != 1 or step.dtype.kind not in "iu" or neuron.dtype.kind not in "iu":
        raise ValueError(f"{where}: step and neuron are not two whole-number lists of one length")
    if len(step) and (step[()].min() < 1 or step[()].max() > steps or neuron[()].min() < 0
                      or neuron[()].max() >= 2 * width * height):
        raise ValueError(f"{where}: a step outside 1..{steps} or a neuron outside the {width}x{height} sensor")


def _check_recorded(group, where: str) -> None:
    if not isinstance(group, h5py.Group):
        raise ValueError(f"{where} is not a group of recorded objects")
    for name, obj in group.items():
        if not isinstance(obj, h5py.Group):
            raise ValueError(f"{where}/{name} is not a group of variables")
        for key, data in obj.items():
            if not isinstance(data, h5py.Dataset) or data.dtype.kind not in "biuf":
                raise ValueError(f"{where}/{name}/{key} is not an array of numbers")


def check_recordings(f: h5py.File) -> None:
    """Check a recordings file's structure before anything reads it (schema versions 1-4).

    Root attributes (types, allowed values, ``1 <= checkpoints <= steps``), every image's
    attributes (file name, positive image size), every layer's (kind, shape, ``negative_value`` 1/n where
    given) and datasets: spike counts of the layer's shape (per channel, shape (C,), where the file's ``counts``
    attribute says ``channels``; the attribute is there exactly from schema 4 on) and ``v`` of the layer's
    shape, one ``v`` row per checkpoint, finite numbers. The model-dependent part (which layers
    feed the heads, their shapes) is checked by the decoder that knows the model.

    Raises
    ------
    ValueError
        One line naming the offending attribute or dataset.
    """
    attrs = f.attrs
    steps = _scalar_int(attrs.get("steps"), "attribute steps", 1, MAX_STEPS)
    version = attrs.get("schema_version")
    if isinstance(version, (int, np.integer)) and ("counts" in attrs) != (version >= 4):
        raise ValueError(f"attribute counts is {'missing' if version >= 4 else 'there'} in a schema {version} file "
                         "(it came with schema 4)")
    checkpoints = np.asarray(attrs.get("checkpoints"))
    if checkpoints.ndim != 1 or checkpoints.dtype.kind not in "iu" or len(checkpoints) == 0:
        raise ValueError("attribute checkpoints is not a list of steps")
    if np.any(np.diff(checkpoints) <= 0) or checkpoints[0] < 1 or checkpoints[-1] != steps:
        raise ValueError(f"attribute checkpoints must rise within 1..steps and end at steps ({steps})")
    for key, allowed in [*_ROOT_TEXT.items(), *((k, a) for k, a in _ROOT_OPTIONAL.items() if k in attrs)]:
        value = attrs.get(key)
        if not isinstance(value, str) or (allowed is not None and value not in allowed):
            raise ValueError(f"attribute {key} is {value!r}" + (f", not one of {allowed}" if allowed else ", not text"))
    if "images" not in f or not isinstance(f["images"], h5py.Group):
        raise ValueError("the group /images is missing")
    for name in f["images"]:
        image = f["images"][name]
        where = f"/images/{name}"
        if not isinstance(image, h5py.Group) or not isinstance(image.attrs.get("file_name"), str):
            raise ValueError(f"{where}: attribute file_name is missing")
        for key in ("image_width", "image_height"):
            _scalar_int(image.attrs.get(key), f"{where}: attribute {key}", 1, 1 << 20)
        for part in ("layers", "output"):
            if part not in image or not isinstance(image[part], h5py.Group):
                raise ValueError(f"{where}/{part} is missing")
        for key, layer in image["layers"].items():
            shape = np.asarray(layer.attrs.get("shape"))
            if not key.isdigit() or shape.shape != (3,) or shape.dtype.kind not in "iu" or np.any(shape < 1) \
                    or not isinstance(layer.attrs.get("kind"), str):
                raise ValueError(f"{where}/layers/{key}: attributes kind and shape (C, H, W) are missing or wrong")
            negative = layer.attrs.get("negative_value", 1.0)
            negative = negative.item() if isinstance(negative, np.generic) else negative
            if isinstance(negative, bool) or not isinstance(negative, (int, float)) or negative not in _NEGATIVE_VALUES:
                raise ValueError(f"{where}/layers/{key}: attribute negative_value is {negative!r}, not 1/n for n = 1, "
                                 f"2, 4, ... {MAX_NEGATIVE_DIVISIONS}")
            _check_layer_datasets(layer, f"{where}/layers/{key}", tuple(int(v) for v in shape), steps,
                                  len(checkpoints), attrs.get("counts") == "channels")
        if "input_events" in image:
            _check_input_events(image["input_events"], f"{where}/input_events", steps)
        if "recorded" in image:
            _check_recorded(image["recorded"], f"{where}/recorded")
        for key, output in image["output"].items():
            if not key.isdigit() or not isinstance(output, h5py.Group) or "v" not in output:
                raise ValueError(f"{where}/output/{key}: dataset v is missing")
            for variable in output:
                data = output[variable]
                if not isinstance(data, h5py.Dataset) or data.ndim != 4 or data.shape[0] != len(checkpoints) \
                        or data.dtype.kind not in "fiu":
                    raise ValueError(f"{where}/output/{key}/{variable}: not one (C, H, W) map per checkpoint "
                                     f"({len(checkpoints)})")
                if not np.all(np.isfinite(data[()])):
                    raise ValueError(f"{where}/output/{key}/{variable} holds values that are not finite")
