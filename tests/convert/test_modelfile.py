"""The HDF5 model file: round trip, refusal of other versions and of damaged files."""

from __future__ import annotations

import dataclasses

import h5py
import numpy as np
import pytest
from conftest import write_images

from brainyolo.convert.conversion import convert_darknet
from brainyolo.convert.model_file import SCHEMA_VERSION, load_model, save_model
from brainyolo.io.errors import BrainyoloError

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


def test_convert_balances_thresholds_as_brainyolo_balance_does(saved, tmp_path):
    """Every hidden layer has a threshold in [low, high]; they round-trip; and they are what
    ``brainyolo balance`` writes for the same images and settings (the command users had before)."""
    from conftest import run_cli

    from brainyolo.convert.balancing import BalanceSettings
    from brainyolo.spiking.builder import hidden_layers
    from brainyolo.spiking.parameters import read_parameter_file

    model, path = saved
    balanced, defaults = model.thresholds, BalanceSettings()
    assert balanced is not None and sorted(balanced.v_th) == hidden_layers(model.graph)
    assert all(defaults.low <= v <= defaults.high for v in balanced.v_th.values())
    assert (balanced.steps, balanced.base, balanced.budget, balanced.images) == (
        defaults.steps, defaults.base, defaults.budget, 2)
    assert load_model(path).thresholds == balanced and balanced.channel_scale
    # a layer-normalized model's balance was measured under its own lambda, and channel-balanced applies it there
    own, with_balance = model.lambdas(), model.lambdas("channel-balanced")
    assert model.normalization == "layer"
    for i, scale in balanced.channel_scale.items():
        np.testing.assert_allclose(with_balance[i], own[i] * scale, rtol=1e-12)
    other = dataclasses.replace(balanced, channel_scale={i: s * 2 for i, s in balanced.channel_scale.items()})
    assert other != balanced and dataclasses.replace(balanced, channel_scale={}) != balanced
    out = tmp_path / "balanced.toml"
    code, _, stderr = run_cli(["balance", str(path), "--images", str(tmp_path / "calib"), "--steps",
                               str(defaults.steps), "-o", str(out), "-q"])
    assert code == 0, stderr
    written = read_parameter_file(out)
    for layer, value in balanced.v_th.items():
        assert written.for_layer(layer)["v_th"] == pytest.approx(value, abs=5e-5)


def test_convert_balances_channels_unless_told_not_to(tiny_model, tmp_path):
    """``convert`` (``--balance-channels``, the default): every hidden layer gets a scale per channel, what
    ``channel_scales`` gives for the first calibration images (at most 16) of the normalized network, kept by the
    file; with ``--no-balance-channels``, none."""
    from conftest import run_cli

    from brainyolo.ann.letterbox import iterate_letterboxed
    from brainyolo.convert.balancing import channel_scales
    from brainyolo.spiking.builder import hidden_layers

    cfg, weights = tiny_model
    images = write_images(tmp_path / "calib", 3)
    paths = {}
    for name, extra in (("plain", ["--no-balance-channels"]), ("channels", []), ("asked", ["--balance-channels"])):
        paths[name] = tmp_path / f"{name}.h5"
        code, _, stderr = run_cli(["convert", "--cfg", str(cfg), "--weights", str(weights), "--calib",
                                   str(tmp_path / "calib"), "-o", str(paths[name]), "-q", *extra])
        assert code == 0, stderr
    plain, balanced = load_model(paths["plain"]), load_model(paths["channels"])
    assert plain.thresholds.channel_scale == {} and not plain.channel_balanced and balanced.channel_balanced
    for i, scale in load_model(paths["asked"]).thresholds.channel_scale.items():
        np.testing.assert_array_equal(scale, balanced.thresholds.channel_scale[i])
    assert balanced.thresholds.v_th == plain.thresholds.v_th
    graph = plain.normalized_graph()
    hidden = hidden_layers(graph)
    _, height, width = graph.input_shape
    expected = channel_scales(graph, (chw for _, chw, _ in iterate_letterboxed(images, width, height)), hidden)
    assert sorted(balanced.thresholds.channel_scale) == hidden
    for i in hidden:
        np.testing.assert_allclose(balanced.thresholds.channel_scale[i], expected[i], rtol=1e-12)
    assert any(np.ptp(scale) > 0.05 for scale in expected.values())  # channels differ: not all 1
    # the short preset (channel-balanced) on a model without a balance says so, and runs on its layers' thresholds
    for name, notes in (("plain", 1), ("channels", 0)):
        code, _, stderr = run_cli(["detect", str(paths[name]), str(images[0]), "--mode", "snn", "--device", "runtime",
                                   "--preset", "short", "--steps", "2", "-o", str(tmp_path / f"out-{name}"), "-q"])
        assert code == 0, stderr
        assert stderr.count("no channel balance in this model file (converted with --no-balance-channels") == notes


def _fresh_group(parent, name):
    """``parent``'s group ``name``, emptied (convert wrote the channel scales there)."""
    if name in parent:
        del parent[name]
    return parent.create_group(name)


def _rewrite(path, edit) -> None:
    """Apply ``edit(h5py.File)`` and seal the file again (as a file written that way would be)."""
    from brainyolo.io.integrity import seal

    with h5py.File(path, "r+") as f:
        edit(f)
        seal(f)


def test_a_schema_2_file_without_thresholds_still_loads_and_runs_with_a_note(saved, tmp_path):
    from conftest import run_cli

    _, path = saved

    def to_version_2(f):
        del f["thresholds"]
        f.attrs["schema_version"] = 2

    _rewrite(path, to_version_2)
    assert load_model(path).thresholds is None
    image = sorted((tmp_path / "calib").iterdir())[0]
    code, _, stderr = run_cli(["detect", str(path), str(image), "--mode", "snn", "--device", "runtime", "--steps", "2",
                               "-o", str(tmp_path / "out"), "-q"])
    assert code == 0, stderr
    lines = stderr.splitlines()  # (2 steps: after the note that fast hands the run to short)
    assert len(lines) == 2 and "hands runs of at most 24 steps to the short preset" in lines[0]
    assert lines[1].startswith(f"brainyolo: note: {path}: no balanced thresholds in this model file")
    assert "uniform" in stderr and "'brainyolo balance'" in stderr


@pytest.mark.parametrize("edit, problem", [
    (lambda f: f["thresholds/v_th"].__setitem__(0, 99.0), "outside [1.0, 8.0]"),
    (lambda f: f["thresholds/v_th"].__setitem__(0, np.nan), "outside [1.0, 8.0]"),
    (lambda f: f["thresholds/layers"].__setitem__(0, 999), "layer 999 is not a hidden convolution"),
    (lambda f: f["thresholds"].attrs.__setitem__("low", -1.0), "must be positive"),
    (lambda f: _fresh_group(f["thresholds"], "channel_scale").create_dataset("000", data=[1.0, -2.0]),
     "channel_scale/000: not one positive, finite number per channel"),
    (lambda f: _fresh_group(f["thresholds"], "channel_scale").create_dataset("000", data=[1.0, np.inf]),
     "not one positive, finite number per channel"),
    (lambda f: _fresh_group(f["thresholds"], "channel_scale").create_dataset("000", data=[1.0]),
     "channel_scale: layer 0 has"),
    (lambda f: _fresh_group(f["thresholds"], "channel_scale").create_dataset("999", data=[1.0]),
     "channel_scale: layer 999 is not a hidden convolution"),
    (lambda f: _fresh_group(f["thresholds"], "channel_scale").create_dataset("first", data=[1.0]),
     "is not a layer's dataset"),
])
def test_bad_thresholds_are_refused_naming_the_file(saved, edit, problem):
    _, path = saved
    _rewrite(path, edit)
    with pytest.raises(BrainyoloError) as err:
        load_model(path)
    assert str(path) in str(err.value) and problem in str(err.value)


@pytest.mark.shared
@pytest.mark.parametrize("name", ["yolov2-tiny-voc", "yolov2-tiny"])
def test_convert_balances_thresholds_of_region_head_detectors(tmp_path, name):
    """Every importable model gets balanced thresholds: the [region] detectors (softmax classes) too,
    here with random weights (their real weights are not in ../shared)."""
    from conftest import CFG_DIR, write_random_model

    from brainyolo.spiking.builder import hidden_layers

    names = (CFG_DIR / "voc.names").read_text().split("\n") if name.endswith("voc") else [f"c{i}" for i in range(80)]
    cfg, weights = write_random_model((CFG_DIR / f"{name}.cfg").read_text(), tmp_path / "m", seed=4,
                                      names=[n for n in names if n])
    model = convert_darknet(cfg, weights, write_images(tmp_path / "calib", 2, size=(120, 90)), progress=False)
    path = tmp_path / "m.h5"
    save_model(model, path)
    balanced = load_model(path).thresholds
    assert sorted(balanced.v_th) == hidden_layers(model.graph) and len(balanced.v_th) >= 7
    assert all(1.0 <= v <= 8.0 for v in balanced.v_th.values()) and len(set(balanced.v_th.values())) > 1
