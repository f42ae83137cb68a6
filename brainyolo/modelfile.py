"""The converted model as one versioned, self-describing HDF5 file.

Schema version 1 (every name below is fixed; see README "Model file")::

    /                     attrs: format="brainyolo-model", schema_version=1, brainyolo_version,
                                 created_utc, normalization ("channel" | "layer")
    /network              attrs: input_shape (C, H, W); dataset class_names (UTF-8 strings)
    /network/layers/NNN   one group per layer, in order: attrs kind and the layer's scalar fields
                          (inputs, size, stride, pad, activation, alpha, classes, mask, ...);
                          datasets for its arrays (weight (F, C, k, k) and bias (F,), batch-norm
                          folded, not normalized; anchors)
    /calibration          attrs: percentile, images, histogram_low, histogram_high,
                                 histogram_resolution
    /calibration/NNN      per convolution: datasets channel_percentile, channel_max (per output
                          channel, of |activation|); attrs layer_percentile, layer_max
    /provenance           attrs: cfg_name, cfg_sha256, weights_name, weights_sha256,
                                 darknet_version, darknet_seen, calibration_source, ...

lambda under either normalization is derived from /calibration by :mod:`brainyolo.conversion`
(the file stores what was measured, never a derived copy that could disagree with it).
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
from brainyolo.calibration import Calibration, HistogramSpec, LayerStatistics
from brainyolo.conversion import NORMALIZATIONS, normalize_graph, output_lambdas
from brainyolo.errors import BrainyoloError
from brainyolo.fileio import atomic_path
from brainyolo.graph import Conv, Graph, MaxPool, RegionHead, Route, Upsample, YoloHead

FORMAT = "brainyolo-model"
SCHEMA_VERSION = 1
LAYER_CLASSES = {cls.__name__: cls for cls in (Conv, MaxPool, Upsample, Route, YoloHead,
                                               RegionHead)}


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
    calibration: Calibration
    normalization: str = "channel"
    provenance: dict = field(default_factory=dict)

    def lambdas(self, norm: str | None = None) -> list[np.ndarray]:
        """Per-layer output lambda vectors (default: the model's own normalization)."""
        return output_lambdas(self.graph, self.calibration, norm or self.normalization)

    def normalized_graph(self, norm: str | None = None) -> Graph:
        """The graph rescaled so that activations are divided by lambda."""
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
    cls = LAYER_CLASSES.get(kind)
    if cls is None:
        raise KeyError(f"unknown layer kind {kind!r} in {group.name}")
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        hint = str(hints[f.name])
        if f.name in group:
            values[f.name] = np.asarray(group[f.name][()])
        elif f.name in group.attrs:
            raw = group.attrs[f.name]
            if "tuple" in hint:
                values[f.name] = tuple(int(v) for v in np.atleast_1d(raw))
            elif hint == "<class 'bool'>":
                values[f.name] = bool(raw)
            elif hint == "<class 'int'>":
                values[f.name] = int(raw)
            elif hint == "<class 'float'>":
                values[f.name] = float(raw)
            else:
                values[f.name] = str(raw)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise KeyError(f"{group.name}/{f.name}")
    return cls(**values)


def save_model(model: ConvertedModel, path: str | os.PathLike) -> None:
    """Write ``model`` to ``path`` (atomically: a temporary file, then a rename)."""
    if model.normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization {model.normalization!r} not in {NORMALIZATIONS}")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update({"format": FORMAT, "schema_version": SCHEMA_VERSION,
                        "brainyolo_version": __version__, "normalization": model.normalization,
                        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(
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
        calibration = f.create_group("calibration")
        calibration.attrs.update({"percentile": cal.percentile, "images": cal.images,
                                  "histogram_low": cal.spec.low, "histogram_high": cal.spec.high,
                                  "histogram_resolution": cal.spec.resolution})
        for index, stats in sorted(cal.layers.items()):
            group = calibration.create_group(f"{index:03d}")
            _write_fields(group, stats)
        provenance = f.create_group("provenance")
        provenance.attrs.update(model.provenance)


def load_model(path: str | os.PathLike) -> ConvertedModel:
    """Read a model file; another schema version or a damaged file raises :class:`BrainyoloError`."""
    try:
        f = h5py.File(path, "r")
    except FileNotFoundError:
        raise BrainyoloError(path, "no such model file") from None
    except OSError:
        raise BrainyoloError(path, "not a readable HDF5 file (damaged or truncated?)") from None
    with f:
        if f.attrs.get("format") != FORMAT:
            raise BrainyoloError(path, "not a brainyolo model file (no format='brainyolo-model')")
        version = int(f.attrs.get("schema_version", -1))
        if version != SCHEMA_VERSION:
            raise BrainyoloError(path, f"model schema version {version} is not supported "
                                       f"(brainyolo {__version__} reads version {SCHEMA_VERSION})")
        try:
            network = f["network"]
            layer_groups = network["layers"]
            layers = [_read_layer(layer_groups[name]) for name in sorted(layer_groups)]
            graph = Graph(tuple(int(v) for v in network.attrs["input_shape"]), layers,
                          [s.decode() if isinstance(s, bytes) else str(s)
                           for s in network["class_names"][()]])
            cal = f["calibration"]
            spec = HistogramSpec(float(cal.attrs["histogram_low"]),
                                 float(cal.attrs["histogram_high"]),
                                 float(cal.attrs["histogram_resolution"]))
            stats = {int(name): LayerStatistics(
                np.asarray(cal[name]["channel_percentile"][()]),
                np.asarray(cal[name]["channel_max"][()]),
                float(cal[name].attrs["layer_percentile"]), float(cal[name].attrs["layer_max"]))
                for name in cal}
            calibration = Calibration(stats, float(cal.attrs["percentile"]),
                                      int(cal.attrs["images"]), spec)
            provenance = {k: (v.item() if isinstance(v, np.generic) else v)
                          for k, v in f["provenance"].attrs.items()}
            normalization = str(f.attrs["normalization"])
            graph.shapes()
        except (KeyError, ValueError, TypeError, OSError) as err:
            raise BrainyoloError(path, f"damaged model file: {err}") from None
    missing = [i for i, layer in enumerate(graph.layers)
               if isinstance(layer, Conv) and (i not in stats or layer.weight is None)]
    if missing or normalization not in NORMALIZATIONS:
        raise BrainyoloError(path, f"damaged model file: convolutions {missing} lack weights or "
                                   "calibration" if missing else
                                   f"unknown normalization {normalization!r}")
    return ConvertedModel(graph, calibration, normalization, provenance)
