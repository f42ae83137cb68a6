"""Pieces of ``brainyolo benchmark`` that turn raw timers and recordings into figures."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import run_cli, write_images, write_random_model

from brainyolo.analysis.benchmark import layer_profile, memory_bandwidth
from brainyolo.io.errors import BrainyoloError
from brainyolo.spiking.runners import read_profile

pytestmark = pytest.mark.codegen_independent

FANOUT_CFG = """[net]
width=24
height=20
channels=3

[convolutional]
batch_normalize=1
filters=4
size=3
stride=2
pad=1
activation=leaky

[convolutional]
batch_normalize=1
filters=6
size=3
stride=1
padding=0
activation=leaky

[maxpool]
size=2
stride=1

[convolutional]
batch_normalize=1
filters=8
size=3
stride=2
padding=0
activation=leaky

[maxpool]
size=3
stride=2

[convolutional]
filters=12
size=1
stride=1
pad=1
activation=linear

[yolo]
mask=2,3
anchors=4,4, 8,8, 12,12, 16,16
classes=1
num=4

[route]
layers=-5

[convolutional]
batch_normalize=1
filters=4
size=3
stride=2
pad=1
activation=leaky

[upsample]
stride=2

[route]
layers=-1,2

[convolutional]
batch_normalize=1
filters=5
size=3
stride=1
pad=1
activation=leaky

[convolutional]
filters=12
size=1
stride=1
pad=1
activation=linear

[yolo]
mask=0,1
anchors=4,4, 8,8, 12,12, 16,16
classes=1
num=4
"""
"""Every way a spike reaches targets, at borders that cut windows unevenly: a 20x24 input; 3x3
convolutions of stride 1 and 2 with and without padding (layers 1, 3: some rows and columns reach no
window), a 2x2 max-pool of stride 1 and a 3x3 one of stride 2 (Darknet's padding), a single route (layer 7,
read by layer 8), up-sampling, a route joining two layers, 1x1 output convolutions."""


def conv_fan_out(shape, filters: int, size: int, stride: int, pad: int) -> np.ndarray:
    """Targets of every neuron of a ``(C, H, W)`` layer read by a convolution: one synapse at a time, each
    (filter, output position, kernel offset) whose window covers it."""
    channels, height, width = shape
    fan = np.zeros((height, width), np.int64)
    for oy in range((height + 2 * pad - size) // stride + 1):
        for ox in range((width + 2 * pad - size) // stride + 1):
            for dy in range(size):
                for dx in range(size):
                    y, x = oy * stride - pad + dy, ox * stride - pad + dx
                    if 0 <= y < height and 0 <= x < width:
                        fan[y, x] += filters
    return np.broadcast_to(fan, shape)


def pool_fan_out(shape, size: int, stride: int, pad: int) -> np.ndarray:
    """Windows of a Darknet max-pool (``(n + pad - size) // stride + 1`` of them, the first at ``-(pad // 2)``)
    holding every neuron, one window at a time."""
    channels, height, width = shape
    fan = np.zeros((height, width), np.int64)
    for oy in range((height + pad - size) // stride + 1):
        for ox in range((width + pad - size) // stride + 1):
            for dy in range(size):
                for dx in range(size):
                    y, x = oy * stride - pad // 2 + dy, ox * stride - pad // 2 + dx
                    if 0 <= y < height and 0 <= x < width:
                        fan[y, x] += 1
    return np.broadcast_to(fan, shape)


def connections(graph, shapes: dict[int, tuple]) -> list[tuple[int, int, np.ndarray]]:
    """(target layer, source layer, fan-out of every source neuron) of every connection between spiking
    layers; a single route is no layer of its own (its readers read its source), heads have no synapses."""
    from brainyolo.ann.graph import INPUT, Conv, ConvAdd, MaxPool, Route, Upsample

    def owner(index: int) -> int:
        while isinstance(graph.layers[index], Route) and len(graph.layers[index].inputs) == 1:
            index = graph.layers[index].inputs[0]
        return index

    found = []
    for index, layer in enumerate(graph.layers):
        if isinstance(layer, (Conv, ConvAdd)):
            for source, _, size, stride, pad in layer.branches():
                if source != INPUT:
                    found.append((index, owner(source), conv_fan_out(shapes[owner(source)], layer.filters, size,
                                                                     stride, pad)))
        elif isinstance(layer, MaxPool):
            source = owner(layer.inputs[0])
            found.append((index, source, pool_fan_out(shapes[source], layer.size, layer.stride, layer.pad)))
        elif isinstance(layer, Upsample):
            source = owner(layer.inputs[0])
            found.append((index, source, np.full(shapes[source], layer.stride ** 2)))
        elif isinstance(layer, Route) and len(layer.inputs) > 1:
            found += [(index, owner(s), np.ones(shapes[owner(s)], np.int64)) for s in layer.inputs]
    return found


def test_synaptic_events_are_the_recorded_spikes_times_their_exact_fan_out(tmp_path):
    """The synaptic events a simulation reports (``brainyolo benchmark``'s events per second, ``simulate``'s
    run_info.json, per image and in all) are exactly the recorded spikes (either sign) of every neuron
    times its fan-out, counted here synapse by synapse; so are the events each weight-shared convolution
    counted itself (the recordings' ``input_events``)."""
    from brainyolo.convert.conversion import convert_darknet
    from brainyolo.convert.model_file import load_model, save_model
    from brainyolo.detector import simulate
    from brainyolo.spiking.simulate import SimulationSettings

    cfg, weights = write_random_model(FANOUT_CFG, tmp_path / "darknet", seed=11, names=["thing"])
    images = write_images(tmp_path / "images", 2, seed=5, size=(30, 22))
    model = tmp_path / "model.h5"
    save_model(convert_darknet(cfg, weights, images, progress=False), model)
    info = simulate(model, images, SimulationSettings(steps=12, device="runtime"), tmp_path / "run", progress=False)
    graph = load_model(model).graph
    totals = []
    with h5py.File(tmp_path / "run" / "recordings.h5", "r") as f:
        for image, reported in zip(f["images"].values(), info["images"], strict=True):
            layers = {int(name): group for name, group in image["layers"].items()}
            spikes = {index: group["positive_count"][()].astype(np.int64) + group["negative_count"][()]
                      for index, group in layers.items()}
            # the recorded shapes are the exact ones (borders, strides, paddings)
            assert {index: s.shape for index, s in spikes.items() if index in (1, 2, 3, 4, 8, 9, 10)} == {
                1: (6, 8, 10), 2: (6, 8, 10), 3: (8, 3, 4), 4: (8, 2, 2), 8: (4, 4, 5), 9: (4, 8, 10), 10: (10, 8, 10)}
            into: dict[int, int] = {}
            for target, source, fan in connections(graph, {i: s.shape for i, s in spikes.items()}):
                assert spikes[source].sum() > 0, f"layer {source} never spiked: its connection is not counted"
                into[target] = into.get(target, 0) + int((spikes[source] * fan).sum())
            for index, events in into.items():
                if "input_events" in layers[index]:  # the weight-shared convolutions' own count
                    assert int(layers[index]["input_events"][-1]) == events, index
            assert reported["synaptic_events"] == sum(into.values()), f"spikes x fan-out into each layer: {into}"
            totals.append(sum(into.values()))
    assert info["synaptic_events"] == sum(totals)
    assert sorted(into) == [1, 2, 3, 4, 5, 8, 9, 10, 11, 12]  # every kind of connection was counted


def test_profile_file_grouped_per_layer(tmp_path):

    # Brian2's profiling_info.txt as cpp_standalone writes it: code object, TAB, seconds
    path = tmp_path / "profiling_info.txt"
    path.write_text("conv12_codeobject\t0.75\nlayer12_stateupdater_codeobject\t0.125\n"
                    "layer12_signed_thresholder_codeobject\t0.0625\npool11_codeobject\t0.5\n"
                    "relay20_1_codeobject\t0.25\nlayer00_stateupdater_codeobject\t1.5\n"
                    "statemonitor_codeobject\t0.03125\n")
    layers, other = layer_profile(read_profile(path))
    assert layers == {0: {"connection": 0.0, "neurons": 1.5}, 11: {"connection": 0.5, "neurons": 0.0},
                      12: {"connection": 0.75, "neurons": 0.1875}, 20: {"connection": 0.25, "neurons": 0.0}}
    assert list(layers) == [0, 11, 12, 20] and other == 0.03125


@pytest.mark.parametrize("text, problem", [("conv01_codeobject\n", "line 1 is not"),
                                           ("a\t1\nconv01_codeobject\tfast\n", "line 2: 'fast' is not a number")])
def test_bad_profile_file(tmp_path, text, problem):
    path = tmp_path / "profiling_info.txt"
    path.write_text(text)
    with pytest.raises(BrainyoloError, match=problem):
        read_profile(path)


def test_memory_bandwidth_is_bytes_read_and_written_per_second_of_the_best_copy(monkeypatch):
    """The bandwidth is 2 x the buffer's bytes (read + written) over the best of the timed copies."""
    from brainyolo.analysis import benchmark

    copies = []

    def timed(function, repeat):  # what benchmark._time measures: (median, best) in milliseconds
        function()
        copies.append(repeat)
        return 5.0, 2.0

    monkeypatch.setattr(benchmark, "_time", timed)
    assert memory_bandwidth(megabytes=8, repeat=3) == 2 * 8 * 2**20 / 2e-3
    assert copies == [3]
    monkeypatch.undo()
    rate = memory_bandwidth(megabytes=8, repeat=2)  # a real copy: at least 100 MB/s on any machine
    assert 1e8 < rate < 1e13


def _tiny_arguments(images) -> list[str]:
    data = Path(__file__).resolve().parents[2] / "brainyolo" / "data"
    return ["benchmark", "--cfg", str(data / "tiny-yolov3.cfg"), "--weights", str(data / "tiny-yolov3.weights"),
            "--images", str(images)]


def test_benchmark_refuses_a_folder_without_images(tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli([*_tiny_arguments(tmp_path / "empty"), "--only", "snn"])
    assert code == 2 and "holds no images" in err and len(err.strip().splitlines()) == 1


@pytest.mark.long
@pytest.mark.standalone_only
def test_benchmark_network_parts_on_the_shipped_detector(tmp_path, monkeypatch):
    """``brainyolo benchmark --only snn,scatter,busy,profile`` as a user runs it (through the Python API's
    detector): every part prints its figures; the profile's layers are the network's; the two summation orders
    give the same synaptic events (the part refuses to print otherwise)."""
    from brainyolo.data.scenes import write_scenes

    monkeypatch.setenv("BRAINYOLO_CACHE", str(tmp_path / "cache"))
    write_scenes(tmp_path / "scenes", 2, seed=3)
    code, out, err = run_cli([*_tiny_arguments(tmp_path / "scenes" / "images"), "--only", "snn,scatter,busy,profile",
                              "--snn-steps", "8", "--snn-repeat", "1", "--threads", "2", "-q"], seconds=900)
    assert code == 0, err
    assert "ms/step" in out and "passive waits" in out and "spinning waits" in out
    assert re.search(r"auto / bands: [\d.]+ \(median over median\); the same \S+ synaptic events", out)
    profiled = [line.split()[:2] for line in out.splitlines() if line.strip() and line.split()[0].isdigit()]
    assert [kind for _, kind in profiled][:3] == ["Conv", "MaxPool", "Conv"]
