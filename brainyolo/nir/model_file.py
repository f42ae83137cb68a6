"""A spiking model (:class:`~brainyolo.nir.layers.SpikingModel`) as one versioned, sealed HDF5 file.

Schema version 1 (a sibling of the detector's model file, :mod:`brainyolo.convert.model_file`, which needs an
RGB input and YOLO heads; this one holds any chain of NIR layers)::

    /                 attrs: format="brainyolo-snn", schema_version=1, brainyolo_version, created_utc,
                             content_sha256 (:mod:`brainyolo.io.integrity`)
    /network          attrs: input_shape (int64), dt (float64: one step, in the neurons' time unit)
    /network/layers/NNN   one group per layer in order: attrs kind, name and its scalar or pair fields
                      (stride, padding, ...); datasets for its arrays (weight, bias, tau, v_threshold, ...)
    /provenance       attrs: where it came from (source file, its sha256, nir version)
"""

from __future__ import annotations

import dataclasses
import datetime
import os

import h5py
import numpy as np

from brainyolo import __version__
from brainyolo.convert.model_file import FORMAT as DETECTOR_FORMAT
from brainyolo.io.atomic import atomic_path
from brainyolo.io.errors import BrainyoloError
from brainyolo.io.integrity import file_format, open_sealed, seal
from brainyolo.nir.layers import LAYER_CLASSES, SpikingModel, validate_model

FORMAT = "brainyolo-snn"
SCHEMA_VERSION = 1


def is_spiking_model_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an HDF5 file that says it is a spiking model (format ``brainyolo-snn``)."""
    return file_format(path) == FORMAT


def is_detector_model_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an HDF5 file that says it is a detector's model file (format ``brainyolo-model``)."""
    return file_format(path) == DETECTOR_FORMAT


def save_spiking_model(model: SpikingModel, path: str | os.PathLike) -> None:
    """Write ``model`` to ``path`` (``brainyolo.save_spiking_model``): checked first; atomically (a temporary
    file, then a rename: nothing is written on an error); missing folders are made.

    Parameters
    ----------
    model : SpikingModel
    path : str or os.PathLike
        The ``.h5`` file to write (replaced if it exists).

    Raises
    ------
    ValueError
        The model does not check (:func:`~brainyolo.nir.layers.validate_model`).
    BrainyoloError
        ``path`` is a folder.
    """
    validate_model(model)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update({"format": FORMAT, "schema_version": SCHEMA_VERSION, "brainyolo_version": __version__,
                        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")})
        network = f.create_group("network")
        network.attrs["input_shape"] = np.asarray(model.input_shape, np.int64)
        network.attrs["dt"] = float(model.dt)
        layers = network.create_group("layers")
        for index, layer in enumerate(model.layers):
            group = layers.create_group(f"{index:03d}")
            group.attrs["kind"] = layer.kind
            for f_ in dataclasses.fields(layer):
                value = getattr(layer, f_.name)
                if isinstance(value, np.ndarray):
                    group.create_dataset(f_.name, data=value)
                elif value is not None:
                    group.attrs[f_.name] = np.asarray(value, np.int64) if isinstance(value, tuple) else value
        f.create_group("provenance").attrs.update({k: str(v) for k, v in model.provenance.items()})
        seal(f)


def _read_layer(group: h5py.Group):
    kind = group.attrs.get("kind")
    cls = LAYER_CLASSES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"{group.name}: unknown layer kind {kind!r}")
    values = {}
    for f_ in dataclasses.fields(cls):
        if f_.name in group:
            values[f_.name] = np.asarray(group[f_.name][()])
        elif f_.name in group.attrs:
            raw = group.attrs[f_.name]
            array = np.asarray(raw)
            if isinstance(f_.default, tuple):
                if array.shape != (2,) or array.dtype.kind not in "iu":
                    raise ValueError(f"{group.name}: {f_.name} is not two whole numbers")
                values[f_.name] = tuple(int(v) for v in array)
            elif f_.name == "name":
                if not isinstance(raw, str):
                    raise ValueError(f"{group.name}: name is not text")
                values[f_.name] = raw
            else:
                if array.shape != () or array.dtype.kind not in "iu":
                    raise ValueError(f"{group.name}: {f_.name} is not a whole number")
                values[f_.name] = int(array)
        elif f_.default is dataclasses.MISSING and f_.default_factory is dataclasses.MISSING:
            raise ValueError(f"{group.name}/{f_.name} is missing")
    return cls(**values)


def read_spiking_model(path: str | os.PathLike) -> SpikingModel:
    """Read and check a spiking model file (``brainyolo.read_spiking_model``; ``brainyolo import-nir`` writes them).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.h5`` file.

    Returns
    -------
    SpikingModel

    Raises
    ------
    BrainyoloError
        One line naming the file: missing, not HDF5, not a spiking model file (a detector's, for one), another
        schema version, changed since written (its checksum), or layers that do not check.
    """
    with open_sealed(path, FORMAT, (SCHEMA_VERSION,), "spiking model file") as (f, _):
        network = f["network"]
        names = sorted(network["layers"])
        if names != [f"{i:03d}" for i in range(len(names))]:
            raise ValueError(f"layers are not numbered 000..{len(names) - 1:03d}")
        shape = np.asarray(network.attrs["input_shape"])
        if shape.ndim != 1 or shape.dtype.kind not in "iu":
            raise ValueError("input_shape is not whole numbers")
        model = SpikingModel(tuple(int(v) for v in shape),
                             [_read_layer(network["layers"][name]) for name in names],
                             float(np.asarray(network.attrs["dt"])),
                             {k: str(v) for k, v in f["provenance"].attrs.items()})
    try:
        validate_model(model)
    except ValueError as err:
        raise BrainyoloError(path, f"invalid model file: {err}") from None
    return model
