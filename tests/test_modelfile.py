"""The HDF5 model file: round trip, refusal of other versions and of damaged files."""

from __future__ import annotations

import dataclasses

import h5py
import numpy as np
import pytest
from conftest import write_images

from brainyolo.errors import BrainyoloError
from brainyolo.modelfile import SCHEMA_VERSION, load_model, save_model
from brainyolo.pipeline import convert_darknet

pytestmark = pytest.mark.codegen_independent


@pytest.fixture
def saved(tmp_path, tiny_model):
    cfg, weights = tiny_model
    model = convert_darknet(cfg, weights, write_images(tmp_path / "calib", 2), "layer", 99.5,
                            progress=False)
    path = tmp_path / "m.h5"
    save_model(model, path)
    return model, path


def test_round_trip(saved):
    model, path = saved
    loaded = load_model(path)
    assert loaded.normalization == "layer" and loaded.calibration.percentile == 99.5
    assert loaded.graph.input_shape == (3, 96, 96) and loaded.graph.class_names == ["a", "b", "c"]
    assert loaded.provenance == model.provenance and len(loaded.provenance["cfg_sha256"]) == 64
    for a, b in zip(model.graph.layers, loaded.graph.layers, strict=True):
        assert type(a) is type(b)
        for f in dataclasses.fields(a):
            x, y = getattr(a, f.name), getattr(b, f.name)
            if isinstance(x, np.ndarray):
                np.testing.assert_array_equal(x, y)
            else:
                assert x == y, f.name
    for index, stats in model.calibration.layers.items():
        np.testing.assert_array_equal(stats.channel_percentile, loaded.calibration.layers[index].channel_percentile)
    for x, y in zip(model.lambdas("channel"), loaded.lambdas("channel"), strict=True):
        np.testing.assert_array_equal(x, y)


def test_other_schema_version_is_refused(saved):
    _, path = saved
    with h5py.File(path, "r+") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(BrainyoloError, match=f"schema version {SCHEMA_VERSION + 1} is not supported"):
        load_model(path)


@pytest.mark.parametrize("damage", ["truncate", "drop_weight", "not_model", "garbage"])
def test_damaged_files_are_refused(saved, damage):
    _, path = saved
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:4000])
    elif damage == "garbage":
        path.write_bytes(b"this is no hdf5")
    elif damage == "drop_weight":
        with h5py.File(path, "r+") as f:
            del f["network/layers/000/weight"]
    else:
        with h5py.File(path, "r+") as f:
            del f.attrs["format"]
    with pytest.raises(BrainyoloError) as info:
        load_model(path)
    assert str(path) in str(info.value)
