"""The converted (or directly trained) model as one versioned, self-describing HDF5 file.

Schema version 3 (every name below is fixed; see README "Model file"); version 2 files (no
``/thresholds``) and version 1 files (no ``/spiking``, no ``ConvAdd`` layers) still read::

    /                     attrs: format="brainyolo-model", schema_version=1, brainyolo_version,
                                 created_utc, normalization ("channel" | "layer"),
                                 content_sha256 (:mod:`brainyolo.io.integrity`; absent in older files)
    /network              attrs: input_shape (C, H, W); dataset class_names (UTF-8 strings)
    /network/layers/NNN   one group per layer, in order: attrs kind and the layer's scalar fields
                          (inputs, size, stride, pad, activation, alpha, classes, mask, ...);
                          datasets for its arrays (weight (F, C, k, k) and bias (F,), batch-norm
                          folded, not normalized; anchors; a ConvAdd's shortcut_weight)
    /calibration          a converted ANN only. attrs: percentile, images, histogram_low,
                                 histogram_high, histogram_resolution
    /calibration/NNN      per convolution: datasets channel_percentile, channel_max (per output
                          channel, of |activation|); attrs layer_percentile, layer_max
    /spiking              a directly trained SNN only (its layers' activation is "spike"). attrs:
                                 time_steps (T of training), neuron (a neuron file name),
                                 framework (what trained it)
    /spiking/NNN          per spiking layer: attrs with its neuron parameters as trained (tau,
                          v_th, v_reset, hard_reset, ...: shared variables of the neuron file)
/thresholds           a converted ANN, schema 3: per-layer thresholds balanced at conversion
                          (:mod:`brainyolo.convert.balancing`; the ``fast`` preset runs with them). attrs:
                                 steps, base_v_th, budget, low, high, images; datasets layers
                                 (int64, the hidden layers) and v_th (float64, one per layer)
    /thresholds/channel_scale/NNN   optional (``convert --balance-channels``): per hidden layer, a factor per
                          output channel on its lambda (float64, positive; :func:`channel_scales`), applied by the
                          normalization ``channel-balanced``
    /provenance           attrs: cfg_name, cfg_sha256, weights_name, weights_sha256,
                                 darknet_version, darknet_seen, calibration_source, ...

lambda under either normalization is derived from /calibration by :mod:`brainyolo.convert.normalization`
(the file stores what was measured, never a derived copy that could disagree with it). A
directly trained network is not normalized: its lambdas are 1 and its normalization ``none``.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import typing
from dataclasses import dataclass, field

import h5py
import numpy as np

from brainyolo import __version__
from brainyolo.ann.graph import (
    CONV_KINDS,
    Conv,
    ConvAdd,
    Graph,
    MaxPool,
    RegionHead,
    Route,
    Upsample,
    YoloHead,
    validate_graph,
)
from brainyolo.convert.calibration import Calibration, HistogramSpec, LayerStatistics
from brainyolo.convert.normalization import MODEL_NORMALIZATIONS, normalize_graph, output_lambdas
from brainyolo.convert.thresholds import BalancedThresholds
from brainyolo.io.atomic import atomic_path
from brainyolo.io.errors import BrainyoloError
from brainyolo.io.integrity import open_sealed, seal, text_attribute, whole_attribute
from brainyolo.spiking.neurons import available_neuron_models
from brainyolo.system.timing import stage

FORMAT = "brainyolo-model"
SCHEMA_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
FOREIGN_FORMATS = {"brainyolo-snn": "a spiking model file (brainyolo import-nir), not a detector's: run it with "
                                    "brainyolo.run_spiking_model (docs/nir.md)"}
"""What :func:`read_model` says of brainyolo's other sealed files."""
LAYER_CLASSES = {cls.__name__: cls for cls in (Conv, ConvAdd, MaxPool, Upsample, Route, YoloHead,
                                               RegionHead)}
DIRECT = "none"
"""The normalization of a directly trained network (nothing to normalize: lambda = 1)."""

MAX_TIME_STEPS = 1_000_000


@dataclass
class SpikingSpec:
    """What a directly trained spiking network was trained with.

    Attributes
    ----------
    time_steps : int
        T of training (the network may be run for any number of steps).
    neuron : str
        The neuron file (``equations/NAME.toml``) whose update equals the training framework's.
    layers : {layer index: {parameter: value}}
        Every spiking layer's neuron parameters as trained (shared variables of the neuron file).
    framework : str
        What trained it (e.g. ``spikingjelly 2.0.0``).
    """

    time_steps: int
    neuron: str
    layers: dict[int, dict[str, float]]
    framework: str = ""


@dataclass
class ConvertedModel:
    """A Darknet model made ready for spiking: folded graph, calibration, chosen normalization.

    Attributes
    ----------
    graph : Graph
        Batch-norm folded, not normalized.
    calibration : Calibration
    normalization : {"channel", "layer"}
    provenance : dict
        Where the model came from (file names and sha256, Darknet version, calibration source).
    """

    graph: Graph
    calibration: Calibration | None
    normalization: str = "channel"
    provenance: dict = field(default_factory=dict)
    spiking: SpikingSpec | None = None
    thresholds: BalancedThresholds | None = None
    """Balanced thresholds (a converted ANN, schema 3); None in older files and directly trained networks."""

    @property
    def direct(self) -> bool:
        """Whether this is a directly trained spiking network (not a converted ANN)."""
        return self.spiking is not None

    @property
    def channel_balanced(self) -> bool:
        """Whether the model holds a channel balance (``convert --balance-channels``), which the normalization
        ``channel-balanced`` applies."""
        return self.thresholds is not None and bool(self.thresholds.channel_scale)

    def lambdas(self, norm: str | None = None) -> list[np.ndarray]:
        """Per-layer output lambda vectors (default: the model's own normalization; 1 for a direct SNN); with
        ``channel-balanced``, the model's own with its channel balance applied (what it was measured under)."""
        if self.direct:
            return [np.ones(shape[0]) for shape in self.graph.shapes()]
        norm, scales = norm or self.normalization, None
        if norm == "channel-balanced":
            norm, scales = self.normalization, self.thresholds.channel_scale if self.thresholds is not None else None
        return output_lambdas(self.graph, self.calibration, norm, scales)

    def normalized_graph(self, norm: str | None = None) -> Graph:
        """The graph rescaled so that activations are divided by lambda (a direct SNN's own graph)."""
        if self.direct:
            return self.graph
        return normalize_graph(self.graph, self.lambdas(norm))


def _write_fields(group: h5py.Group, obj) -> None:
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is None:
            continue
        if isinstance(value, np.ndarray):
            group.create_dataset(f.name, data=value)
        elif isinstance(value, (tuple, list)):
            group.attrs[f.name] = np.asarray(value, np.int64)
        else:
            group.attrs[f.name] = value


def _read_layer(group: h5py.Group):
    kind = group.attrs["kind"]
    cls = LAYER_CLASSES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise KeyError(f"unknown layer kind {kind!r} in {group.name}")
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        hint = str(hints[f.name])
        if f.name in group.attrs:
            raw = group.attrs[f.name]
            array = np.atleast_1d(np.asarray(raw))
            if "tuple" in hint:
                if array.dtype.kind not in "iu" or array.ndim != 1:
                    raise ValueError(f"{group.name}: {f.name} is not a list of whole numbers")
                values[f.name] = tuple(int(v) for v in array)
            elif hint in ("<class 'bool'>", "<class 'int'>", "<class 'float'>"):
                if array.shape != (1,) or array.dtype.kind not in ("iub" if hint != "<class 'float'>" else "iubf"):
                    raise ValueError(f"{group.name}: {f.name} is not a single {hint[8:-2]}")
                values[f.name] = {"<class 'bool'>": bool, "<class 'int'>": int, "<class 'float'>": float}[hint](
                    array[0])
            elif isinstance(raw, str):
                values[f.name] = raw
            else:
                raise ValueError(f"{group.name}: {f.name} is not text")
        elif f.name in group:
            values[f.name] = np.asarray(group[f.name][()])
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise KeyError(f"{group.name}/{f.name} is missing")
    return cls(**values)


def save_model(model: ConvertedModel, path: str | os.PathLike) -> None:
    """Write ``model`` to ``path`` (atomically: a temporary file, then a rename)."""
    validate_model(model)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update({"format": FORMAT, "schema_version": SCHEMA_VERSION,
                        "brainyolo_version": __version__, "normalization": model.normalization,
                        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(
                            timespec="seconds")})
        network = f.create_group("network")
        network.attrs["input_shape"] = np.asarray(model.graph.input_shape, np.int64)
        network.create_dataset("class_names", data=np.asarray(model.graph.class_names, dtype=object),
                                dtype=h5py.string_dtype())
        layers = network.create_group("layers")
        for index, layer in enumerate(model.graph.layers):
            group = layers.create_group(f"{index:03d}")
            group.attrs["kind"] = layer.kind
            _write_fields(group, layer)
        cal = model.calibration
        if cal is not None:
            calibration = f.create_group("calibration")
            calibration.attrs.update({"percentile": cal.percentile, "images": cal.images,
                                      "histogram_low": cal.spec.low, "histogram_high": cal.spec.high,
                                      "histogram_resolution": cal.spec.resolution})
            for index, stats in sorted(cal.layers.items()):
                group = calibration.create_group(f"{index:03d}")
                _write_fields(group, stats)
        if model.spiking is not None:
            spiking = f.create_group("spiking")
            spiking.attrs.update({"time_steps": model.spiking.time_steps, "neuron": model.spiking.neuron,
                                  "framework": model.spiking.framework})
            for index, values in sorted(model.spiking.layers.items()):
                spiking.create_group(f"{index:03d}").attrs.update({k: float(v) for k, v in values.items()})
        if model.thresholds is not None:
            balanced = model.thresholds
            group = f.create_group("thresholds")
            group.attrs.update({"steps": balanced.steps, "base_v_th": balanced.base, "budget": balanced.budget,
                                "low": balanced.low, "high": balanced.high, "images": balanced.images})
            layers = sorted(balanced.v_th)
            group.create_dataset("layers", data=np.asarray(layers, np.int64))
            group.create_dataset("v_th", data=np.asarray([balanced.v_th[i] for i in layers], np.float64))
            if balanced.channel_scale:
                scales = group.create_group("channel_scale")
                for index, scale in sorted(balanced.channel_scale.items()):
                    scales.create_dataset(f"{index:03d}", data=np.asarray(scale, np.float64))
        provenance = f.create_group("provenance")
        provenance.attrs.update(model.provenance)
        seal(f)


def load_model(path: str | os.PathLike) -> ConvertedModel:
    """Read and validate a model file (:func:`read_model`, timed as the stage ``model load``)."""

    with stage("model load"):
        return read_model(path)


def read_model(path: str | os.PathLike) -> ConvertedModel:
    """Read and validate a model file.

    Every problem raises one :class:`BrainyoloError` naming the file and the offending item:
    another schema version, a file damaged or changed since it was written (its content checksum,
    :mod:`brainyolo.io.integrity`, when it has one), a layer whose fields, shapes or numbers do not
    make sense (:func:`brainyolo.ann.graph.validate_graph`), calibration that does not fit its layer.
    """
    with open_sealed(path, FORMAT, READABLE_VERSIONS, "brainyolo model file", foreign=FOREIGN_FORMATS) as (f, version):
        model = _read_model(f, version)
    try:
        validate_model(model)
    except ValueError as err:
        raise BrainyoloError(path, f"invalid model file: {err}") from None
    return model


def _read_model(f: h5py.File, version: int = SCHEMA_VERSION) -> ConvertedModel:
    network = f["network"]
    layer_groups = network["layers"]
    names = sorted(layer_groups)
    if names != [f"{i:03d}" for i in range(len(names))]:
        raise KeyError(f"layers are not numbered 000..{len(names) - 1:03d}")
    layers = [_read_layer(layer_groups[name]) for name in names]
    shape = np.asarray(network.attrs["input_shape"])
    if shape.shape != (3,) or shape.dtype.kind not in "iu":
        raise ValueError("input_shape is not three whole numbers")
    graph = Graph(tuple(int(v) for v in shape), layers,
                  [s.decode() if isinstance(s, bytes) else str(s) for s in network["class_names"][()]])
    if version < 2 and any(isinstance(layer, ConvAdd) for layer in layers):
        raise ValueError("a ConvAdd layer in a schema version 1 file")
    calibration = _read_calibration(f["calibration"]) if "calibration" in f or version < 2 else None
    spiking = _read_spiking(f["spiking"]) if "spiking" in f and version >= 2 else None
    thresholds = _read_thresholds(f["thresholds"]) if "thresholds" in f and version >= 3 else None
    provenance = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f["provenance"].attrs.items()}
    return ConvertedModel(graph, calibration, str(text_attribute(f.attrs, "normalization")), provenance, spiking,
                          thresholds)


def _read_thresholds(group: h5py.Group) -> BalancedThresholds:
    layers = np.asarray(group["layers"][()])
    values = np.asarray(group["v_th"][()])
    if layers.ndim != 1 or layers.dtype.kind not in "iu" or values.shape != layers.shape or values.dtype.kind != "f":
        raise ValueError("/thresholds: layers and v_th are not one whole number and one number per layer")
    numbers = {}
    for key in ("base_v_th", "budget", "low", "high"):
        value = np.asarray(group.attrs[key])
        if value.shape != () or value.dtype.kind not in "iuf":
            raise ValueError(f"/thresholds: {key} is not a number")
        numbers[key] = float(value)
    steps, images = whole_attribute(group.attrs, "steps"), whole_attribute(group.attrs, "images")
    scales = {}
    if "channel_scale" in group:
        if not isinstance(group["channel_scale"], h5py.Group):
            raise ValueError("/thresholds/channel_scale is not a group of one dataset per layer")
        for name, dataset in group["channel_scale"].items():
            if not (name.isdigit() and isinstance(dataset, h5py.Dataset)):
                raise ValueError(f"/thresholds/channel_scale/{name} is not a layer's dataset (its index, e.g. 012)")
            scale = np.asarray(dataset[()])
            if scale.ndim != 1 or scale.dtype.kind != "f" or not np.all(np.isfinite(scale)) or not np.all(scale > 0):
                raise ValueError(f"/thresholds/channel_scale/{name}: not one positive, finite number per channel")
            scales[int(name)] = scale.astype(np.float64)
    return BalancedThresholds({int(i): float(v) for i, v in zip(layers, values, strict=True)}, steps,
                              numbers["base_v_th"], numbers["budget"], numbers["low"], numbers["high"], images,
                              scales)


def _read_calibration(cal: h5py.Group) -> Calibration:
    spec = HistogramSpec(float(cal.attrs["histogram_low"]), float(cal.attrs["histogram_high"]),
                         float(cal.attrs["histogram_resolution"]))
    stats = {}
    for name in cal:
        if not name.isdigit():
            raise KeyError(f"calibration entry {name!r} is not a layer number")
        stats[int(name)] = LayerStatistics(
            np.asarray(cal[name]["channel_percentile"][()], np.float64),
            np.asarray(cal[name]["channel_max"][()], np.float64),
            float(cal[name].attrs["layer_percentile"]), float(cal[name].attrs["layer_max"]))
    return Calibration(stats, float(cal.attrs["percentile"]), int(cal.attrs["images"]), spec)


def _read_spiking(group: h5py.Group) -> SpikingSpec:
    steps = whole_attribute(group.attrs, "time_steps")
    neuron, framework = text_attribute(group.attrs, "neuron"), text_attribute(group.attrs, "framework")
    if neuron is None:
        raise ValueError("/spiking: neuron is not text")
    if framework is None:
        if "framework" in group.attrs:
            raise ValueError("/spiking: framework is not text")
        framework = ""
    layers = {}
    for name in group:
        if not name.isdigit():
            raise KeyError(f"/spiking entry {name!r} is not a layer number")
        values = {}
        for key, raw in group[name].attrs.items():
            value = np.asarray(raw)
            if value.shape != () or value.dtype.kind not in "iuf":
                raise ValueError(f"/spiking/{name}: {key} is not a number")
            values[key] = float(value)
        layers[int(name)] = values
    return SpikingSpec(steps, neuron, layers, framework)


def validate_model(model: ConvertedModel) -> None:
    """Check a model before anything uses it.

    Raises
    ------
    ValueError
        One line naming the offending layer or entry.
    """
    graph, cal = model.graph, model.calibration
    shapes = validate_graph(graph)
    spiking_layers = {i for i, layer in enumerate(graph.layers)
                      if isinstance(layer, CONV_KINDS) and layer.activation == "spike"}
    if model.spiking is not None:
        _validate_spiking(model, spiking_layers)
        if cal is not None or model.normalization != DIRECT:
            raise ValueError(f"a directly trained network has no calibration and normalization {DIRECT!r}")
    elif spiking_layers:
        raise ValueError(f"layer {min(spiking_layers)} spikes (activation 'spike') but the file has no /spiking")
    if model.normalization not in MODEL_NORMALIZATIONS and not (model.direct and model.normalization == DIRECT):
        raise ValueError(f"unknown normalization {model.normalization!r}")
    classes = {graph.layers[i].classes for i in graph.heads()}
    if not classes:
        raise ValueError("the network has no [yolo] or [region] head: it detects nothing")
    if len(classes) > 1:
        raise ValueError(f"heads disagree on the number of classes: {sorted(classes)}")
    if len(graph.class_names) != classes.pop():
        raise ValueError(f"{len(graph.class_names)} class names for {graph.layers[graph.heads()[0]].classes} classes")
    if any(len(name) > 200 for name in graph.class_names):
        raise ValueError("a class name is longer than 200 characters")
    if model.thresholds is not None:
        _validate_thresholds(model)
    if cal is None:
        if not model.direct:
            raise ValueError("a converted network needs its /calibration")
        for index, layer in enumerate(graph.layers):
            if isinstance(layer, CONV_KINDS) and layer.weight is None:
                raise ValueError(f"layer {index} ({layer.kind}): lacks its weight and bias")
        return
    if not (0 < cal.percentile <= 100) or cal.images < 0:
        raise ValueError(f"calibration percentile {cal.percentile} is outside (0, 100] or images < 0")
    spec = cal.spec
    if not (0 < spec.low < spec.high < np.inf and 0 < spec.resolution < np.inf) or spec.bins > 10_000_000:
        raise ValueError("calibration histogram low/high/resolution are not 0 < low < high, resolution > 0")
    convs = {i for i, layer in enumerate(graph.layers) if isinstance(layer, Conv)}
    extra = sorted(set(cal.layers) - convs)
    if extra:
        raise ValueError(f"calibration entry {extra[0]} is not a convolution")
    for index in sorted(convs):
        layer = graph.layers[index]
        if layer.weight is None or index not in cal.layers:
            raise ValueError(f"layer {index} (Conv): lacks its weight, bias or calibration")
        stats = cal.layers[index]
        for name in ("channel_percentile", "channel_max"):
            values = getattr(stats, name)
            if values.shape != (shapes[index][0],) or not np.all(np.isfinite(values)):
                raise ValueError(f"calibration of layer {index}: {name} is not {shapes[index][0]} finite numbers")
        if not (np.all(stats.channel_percentile > 0) and np.all(stats.channel_max >= 0)
                and 0 < stats.layer_percentile < np.inf and 0 <= stats.layer_max < np.inf):
            raise ValueError(f"calibration of layer {index}: percentiles must be positive and maxima >= 0")


def _validate_thresholds(model: ConvertedModel) -> None:
    balanced = model.thresholds
    if model.direct:
        raise ValueError("/thresholds: a directly trained network runs with its trained thresholds")
    if not 1 <= balanced.steps <= MAX_TIME_STEPS or balanced.images < 0:
        raise ValueError(f"/thresholds: steps {balanced.steps} is not 1..{MAX_TIME_STEPS} or images < 0")
    if not (0 < balanced.low <= balanced.high < np.inf and 0 < balanced.base < np.inf
            and 0 < balanced.budget < np.inf):
        raise ValueError("/thresholds: base_v_th, budget, low and high must be positive, low <= high")
    graph = model.graph
    outputs = {graph.layers[head].inputs[0] for head in graph.heads()}
    hidden = {i for i, layer in enumerate(graph.layers) if isinstance(layer, CONV_KINDS) and i not in outputs}
    for index, value in balanced.v_th.items():
        if index not in hidden:
            raise ValueError(f"/thresholds: layer {index} is not a hidden convolution (one that spikes)")
        if not balanced.low <= value <= balanced.high:
            raise ValueError(f"/thresholds: layer {index}: v_th {value} is outside [{balanced.low}, {balanced.high}]")
    for index, scale in balanced.channel_scale.items():
        if index not in hidden:
            raise ValueError(f"/thresholds/channel_scale: layer {index} is not a hidden convolution (one that spikes)")
        if np.shape(scale) != (graph.layers[index].filters,):
            raise ValueError(f"/thresholds/channel_scale: layer {index} has {graph.layers[index].filters} channels, "
                             f"not {np.size(scale)}")


def _validate_spiking(model: ConvertedModel, spiking_layers: set[int]) -> None:
    spec = model.spiking
    if isinstance(spec.time_steps, bool) or not 1 <= spec.time_steps <= MAX_TIME_STEPS:
        raise ValueError(f"/spiking: time_steps {spec.time_steps} is not 1..{MAX_TIME_STEPS}")
    if not spec.neuron or len(spec.neuron) > 200 or not spec.neuron.replace("_", "").isalnum():
        raise ValueError(f"/spiking: neuron {spec.neuron!r} is not the name of a neuron file")

    known = available_neuron_models()
    if spec.neuron not in known:
        raise ValueError(f"/spiking: neuron {spec.neuron!r} is not a neuron file of this installation (known: "
                         f"{', '.join(known)})")
    if set(spec.layers) != spiking_layers:
        extra = sorted(set(spec.layers) ^ spiking_layers)[0]
        raise ValueError(f"/spiking: layer {extra} is {'not ' if extra in spec.layers else ''}a spiking layer "
                         "(every layer with activation 'spike' has its neuron parameters, and only those)")
    for index, values in spec.layers.items():
        for name, value in values.items():
            if not np.isfinite(value):
                raise ValueError(f"/spiking: layer {index}: {name} is not finite")
        for name in ("tau", "v_th"):
            if name in values and values[name] <= 0:
                raise ValueError(f"/spiking: layer {index}: {name} = {values[name]} must be positive")
