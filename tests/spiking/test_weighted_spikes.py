"""Weighted spikes (a neuron file's ``weighted_spikes``): a burst's binary-weighted events each cost one synaptic event
per target. Hand-computed counts and events of single neurons, a convolution against Brian2's own ``EventMonitor``
and the exact fan-out, the recordings and run totals of a network, and the files the reader refuses.

Currents and weights are dyadic rationals, so every membrane is exact: a differing spike is a logic error.
"""

from __future__ import annotations

import json
from pathlib import Path

import brian2
import h5py
import numpy as np
import pytest
from test_burst import monitored

from brainyolo.io.errors import BrainyoloError
from brainyolo.spiking import from_neuron_order
from brainyolo.spiking.connections import SharedConvolution
from brainyolo.spiking.counters import EVENT_COUNTERS, SPIKE_COUNTERS
from brainyolo.spiking.event_spaces import event_spaces
from brainyolo.spiking.layer_models import with_spike_counters
from brainyolo.spiking.neurons import load_neuron_model, neuron_group
from brainyolo.spiking.thresholder import fuse_thresholders
from brainyolo.spiking.unrolled import conv_fan_out

WEIGHTED = "if_signed_ibt_tracking_weighted"
EQUATIONS = Path(__file__).resolve().parents[2] / "equations"


def popcount(values) -> np.ndarray:
    """The number of ones in the binary digits of each |value| (by Python's own ``bin``)."""
    return np.array([bin(abs(int(v))).count("1") for v in np.ravel(values)]).reshape(np.shape(values))


def test_the_file_sends_one_step_of_weighted_bursts():
    model = load_neuron_model(WEIGHTED)
    assert model.weighted_spikes and model.burst == 512
    assert [v for _, v in model.spike_events] == [2 ** b for b in range(10)] + [-(2 ** b) for b in range(10)]
    assert model.parameters["quiet"] == "0.9375"  # 16 steps: the last one fires
    assert not load_neuron_model("if_signed_ibt_tracking_late").weighted_spikes


@pytest.mark.parametrize("fused", [False, True])
def test_hand_computed_counts_and_events(fused):
    """Late weighted neurons (V(0) = v_th / 2, alpha 0.1) with constant currents, 16 steps, firing in the last one:
    each ends at its integrated input rounded (5.2 -> 5, 7.1 -> 7, 8.3 -> 8, 13.4 -> 13, 0.1 * -30.2 -> -3), sent
    as one event per binary digit that is one (5 = 4 + 1: 2 events; 7: 3; 8: 1; 13: 3; 3: 2), each of which Brian2's
    own EventMonitor saw once."""
    brian2.start_scope()
    brian2.prefs.codegen.target = "numpy"
    model = with_spike_counters(load_neuron_model(WEIGHTED, burst=16))
    group = neuron_group(model, 5, name="weighted", t_run=16 * brian2.ms)
    group.v = 0.5
    group.I = np.array([5.2, 7.1, 8.3, 13.4, -30.2]) / 16
    if fused:  # the binary search of the levels, as a network runs it
        assert fuse_thresholders(group).searches
    objects = monitored(group, "w")
    brian2.Network(*objects).run(16 * brian2.ms)
    np.testing.assert_array_equal(group.positive_count[:], [5, 7, 8, 13, 0])
    np.testing.assert_array_equal(group.negative_count[:], [0, 0, 0, 0, 3])
    np.testing.assert_array_equal(group.positive_events[:], [2, 3, 1, 3, 0])
    np.testing.assert_array_equal(group.negative_events[:], [0, 0, 0, 0, 2])
    seen = {1: np.zeros(5, int), -1: np.zeros(5, int)}
    for monitor, value in group.burst_monitors:
        assert np.all(np.asarray(monitor.t_[:]) * 1000 > 14.5)  # the last step only
        np.add.at(seen[int(np.sign(value))], np.asarray(monitor.i[:]), 1)
    np.testing.assert_array_equal(seen[1], group.positive_events[:])
    np.testing.assert_array_equal(seen[-1], group.negative_events[:])


def weighted_source(name, shape, weighted, seed=3):
    """Late neurons firing from the first step (bursts of up to 8, alpha 1): dyadic currents of up to 6.5 thresholds a
    step, so every step sends bursts of several binary digits."""
    model = load_neuron_model("if_signed_ibt_tracking_late", burst=8, weighted_spikes=weighted)
    source = neuron_group(with_spike_counters(model), int(np.prod(shape)), alpha=1.0, quiet=0.0, settle=0.0,
                          t_run=6 * brian2.ms, name=name)
    source.I = np.random.default_rng(seed).integers(-416, 417, len(source)) / 64
    return source


def convolution_run(device_dir=None):
    """The same sources sending weighted spikes and single spikes into a 3x3 convolution (stride 1, pad 1)."""
    in_shape, steps = (3, 6, 5), 6
    weight = np.random.default_rng(4).integers(-32, 33, (4, 3, 3, 3)) / 16
    integrate = load_neuron_model("integrate")
    built = {}
    for weighted in (True, False):
        tag = "w" if weighted else "s"
        source = weighted_source(f"{tag}source", in_shape, weighted)
        target = neuron_group(integrate, 4 * 6 * 5, name=f"{tag}target")
        connection = SharedConvolution(source, target, weight, in_shape, 1, 1, name=f"{tag}conv")
        built[weighted] = (source, target, connection, monitored(source, f"{tag}m"))
    brian2.Network(*[o for source, target, connection, objects in built.values()
                     for o in (target, connection, *objects)]).run(steps * brian2.ms)
    fan = conv_fan_out(in_shape, 4, 3, 1, 1)
    results = {}
    for weighted, (source, target, connection, _) in built.items():
        events = np.zeros(len(source), int)  # Brian2's own monitors: one per event, whatever it carries
        for monitor, _ in source.burst_monitors:
            np.add.at(events, np.asarray(monitor.i[:]), 1)
        spikes = np.asarray(source.positive_count[:]) + np.asarray(source.negative_count[:])
        results[weighted] = {"v": np.array(target.v[:]), "delivered": int(connection.synaptic_events[0]),
                             "events": int((from_neuron_order(events, in_shape) * fan).sum()),
                             "spikes": int((from_neuron_order(spikes, in_shape) * fan).sum()),
                             "counters": {name: np.array(getattr(source, name)[:])
                                          for name in SPIKE_COUNTERS + EVENT_COUNTERS if name in source.variables},
                             "monitored": events}
    return results


def check_convolution(results):
    weighted, single = results[True], results[False]
    np.testing.assert_array_equal(weighted["v"], single["v"])  # the code changes what a spike costs, not its value
    assert single["delivered"] == single["spikes"]  # one event per spike
    assert weighted["delivered"] == weighted["events"] < weighted["spikes"] == single["spikes"]
    counters = weighted["counters"]
    np.testing.assert_array_equal(counters["positive_events"] + counters["negative_events"], weighted["monitored"])
    assert set(single["counters"]) == set(SPIKE_COUNTERS)  # a layer of single spikes keeps no event counters


def test_a_convolution_counts_one_event_per_weighted_spike_numpy_runtime():
    brian2.start_scope()
    brian2.prefs.codegen.target = "numpy"
    check_convolution(convolution_run())


@pytest.mark.long
@pytest.mark.standalone_only
def test_a_convolution_counts_one_event_per_weighted_spike_cpp_standalone(tmp_path):
    from brainyolo.spiking.device import standalone

    with standalone(threads=2, directory=str(tmp_path / "build")):
        check_convolution(convolution_run())


def test_connections_cost_one_event_per_weighted_event():
    brian2.start_scope()
    source = weighted_source("spaces", (1, 2, 2), True)
    assert [(sign, spikes, units, cost) for _, sign, spikes, units, cost in event_spaces(source)] == [
        ("+", 1, 1, 1), ("+", 2, 2, 1), ("+", 4, 4, 1), ("+", 8, 8, 1),
        ("-", 1, 1, 1), ("-", 2, 2, 1), ("-", 4, 4, 1), ("-", 8, 8, 1)]
    single = weighted_source("single", (1, 2, 2), False)
    assert [cost for *_, cost in event_spaces(single)] == [1, 2, 4, 8, 1, 2, 4, 8]


def test_a_network_records_the_events_it_sent(tiny_converted, tmp_path):
    """The reduced yolov3-tiny with the weighted neuron (16 steps, one firing step): every spiking layer (hidden
    layers, max-pools, relays) records its events beside its spikes, read back with h5py: one event per binary digit
    of each neuron's count (it fired in one step); the run's synaptic events are those events times the exact
    fan-out; the recordings pass the checks, and a file whose events outnumber its spikes is refused."""
    from test_burst import _network_run

    from brainyolo.analysis.energy import snn_operations
    from brainyolo.analysis.spikes import load_run
    from brainyolo.convert.model_file import load_model
    from brainyolo.readout.recordings_schema import check_recordings
    from brainyolo.spiking.builder import hidden_layers, output_layers

    model_path, _ = tiny_converted
    neuron = tmp_path / "weighted.toml"  # bursts of up to 64: the reduced network's counts at 16 steps
    neuron.write_text((EQUATIONS / f"{WEIGHTED}.toml").read_text().replace("\nburst = 512\n", "\nburst = 64\n"))
    layers = _network_run(tiny_converted, tmp_path, "weighted", neuron, steps=16)
    graph = load_model(model_path).graph
    outputs = {f"{i:02d}" for i in output_layers(graph)}
    spiking = [name for name in layers if name not in outputs]
    assert {f"{i:02d}" for i in hidden_layers(graph)} < set(spiking)  # pools and relays too
    several = 0
    for name in spiking:
        layer = layers[name]
        for spikes, events in zip(SPIKE_COUNTERS, EVENT_COUNTERS, strict=True):
            np.testing.assert_array_equal(layer[events], popcount(layer[spikes]), err_msg=f"{name} {events}")
        several += int(np.sum(popcount(layer["positive_count"]) > 1))
    assert several > 0  # counts of several binary digits were sent
    for name in outputs:
        assert not set(EVENT_COUNTERS) & set(layers[name])
    info = json.loads((tmp_path / "weighted" / "run_info.json").read_text())
    run = load_run(tmp_path / "weighted", model_path).images[0]
    operations = snn_operations(graph, run.layers, 16)
    acs = operations["per_layer"]
    # every event times its fan-out: into convolutions (their synaptic operations), max-pools and relays
    assert info["synaptic_events"] == sum(e["synaptic_acs"] for e in acs.values()) + operations["other_events"]
    assert sum(e["synaptic_acs"] for e in acs.values()) == sum(int(run.layers[i]["input_events"][-1]) for i in acs
                                                                if "input_events" in run.layers[i])
    for name in spiking:
        totals = info["layer_spikes"][str(int(name))]
        assert totals["positive_events"] == int(layers[name]["positive_events"].sum())
    # the same file sending single spikes: the same counts, and its events are what the weighted run says they
    # would have been
    single = tmp_path / "single.toml"
    single.write_text(neuron.read_text().replace("\nweighted_spikes = true\n", "\nweighted_spikes = false\n"))
    alone = _network_run(tiny_converted, tmp_path, "single", single, steps=16)
    for name in spiking:
        for counts in SPIKE_COUNTERS:
            np.testing.assert_array_equal(alone[name][counts], layers[name][counts], err_msg=f"{name} {counts}")
    single_info = json.loads((tmp_path / "single" / "run_info.json").read_text())
    assert single_info["synaptic_events"] == single_info["single_spike_events"] == info["single_spike_events"]
    assert info["synaptic_events"] < info["single_spike_events"]
    path = tmp_path / "weighted" / "recordings.h5"
    with h5py.File(path, "r") as f:
        check_recordings(f)
    with h5py.File(path, "r+") as f:
        data = f[f"images/0000/layers/{spiking[0]}/positive_events"]
        data[...] = data[()] + np.asarray(f[f"images/0000/layers/{spiking[0]}/positive_count"][()])
    with h5py.File(path, "r") as f, pytest.raises(ValueError, match="does not fit the spikes it sent"):
        check_recordings(f)


@pytest.mark.parametrize(("text", "problem"), [
    ("weighted_spikes = 1", "must be true or false"),
    ('weighted_spikes = "yes"', "must be true or false"),
    ("burst = 1\nweighted_spikes = true", "needs 'burst' of 2 or more"),
])
def test_bad_weighted_spikes_entries_are_one_error_naming_the_file(tmp_path, text, problem):
    path = tmp_path / "bad.toml"
    base = (EQUATIONS / f"{WEIGHTED}.toml").read_text().replace("\nweighted_spikes = true\n", "\n")
    path.write_text(text + "\n" + base.replace("\nburst = 512\n", "\n"))
    with pytest.raises(BrainyoloError, match=problem) as err:
        load_neuron_model(path)
    assert str(path) in str(err.value)


def test_the_name_is_the_files_entry(tmp_path):
    path = tmp_path / "clash.toml"
    text = (EQUATIONS / f"{WEIGHTED}.toml").read_text()
    path.write_text(text.replace('model = """\n', 'model = """\nweighted_spikes : 1\n'))
    with pytest.raises(BrainyoloError, match="'weighted_spikes' is the file's entry"):
        load_neuron_model(path)


def test_a_route_joining_weighted_and_single_spikes_is_refused(tiny_converted):
    from brainyolo.ann.graph import Route
    from brainyolo.convert.model_file import load_model
    from brainyolo.spiking.builder import hidden_layers, layer_models
    from brainyolo.spiking.settings import BuildOptions

    graph = load_model(tiny_converted[0]).graph
    hidden = hidden_layers(graph)
    route = next(i for i, layer in enumerate(graph.layers) if isinstance(layer, Route) and len(layer.inputs) > 1)
    source = graph.layers[route].inputs[-1]
    while source not in hidden:
        source = graph.layers[source].inputs[0]
    with pytest.raises(BrainyoloError, match=rf"route {route} joins layers that send weighted spikes and layers "
                                             "that do not"):
        layer_models(graph, BuildOptions(neuron="if_signed_ibt_tracking_late", layer_neurons=((source, WEIGHTED),)))
    assert layer_models(graph, BuildOptions(neuron=WEIGHTED, layer_neurons=((source, WEIGHTED),)))[0][source] \
        .weighted_spikes


def test_a_structural_neuron_follows_its_sources_code():
    """A relay or pool built with its sources' weighted spikes sends them on at one synaptic event per event."""
    brian2.start_scope()
    for name in ("relay", "maxpool"):
        weighted = neuron_group(load_neuron_model(name, burst=4, weighted_spikes=True), 4, name=f"{name}_weighted")
        single = neuron_group(load_neuron_model(name, burst=4), 4, name=f"{name}_single")
        assert [cost for *_, cost in event_spaces(weighted)] == [1, 1, 1, 1, 1, 1]
        assert [cost for *_, cost in event_spaces(single)] == [1, 2, 4, 1, 2, 4]


def test_check_names_weighted_spikes():
    from conftest import run_cli

    path = str(EQUATIONS / f"{WEIGHTED}.toml")
    code, stdout, stderr = run_cli(["check", path])
    assert (code, stderr) == (0, "")
    assert stdout.startswith(f"{path}: ok: neuron model (signed, bursts of up to 512 spikes, sent as weighted spikes: "
                             "one synaptic event per binary digit), parameters t_step, ")


@pytest.mark.long
@pytest.mark.standalone_only
def test_cpp_standalone_records_the_events_as_the_runtime(tiny_converted, tmp_path, monkeypatch):
    """The reduced yolov3-tiny with the weighted neuron in C++ (2 threads, the fused thresholder's binary search, the
    binary writing the event counters among its results): every layer's spikes and events, and the image's synaptic
    events, as Brian2's numpy runtime gives them."""
    from brainyolo.spiking.settings import BuildOptions
    from brainyolo.spiking.simulate import SimulationSettings, Simulator

    monkeypatch.setenv("BRAINYOLO_CACHE", str(tmp_path / "cache"))
    neuron = tmp_path / "weighted.toml"
    neuron.write_text((EQUATIONS / f"{WEIGHTED}.toml").read_text().replace("\nburst = 512\n", "\nburst = 64\n"))
    model_path, images = tiny_converted
    found = {}
    for device in ("runtime", "cpp_standalone"):
        settings = SimulationSettings(steps=16, device=device, threads=2,
                                      build=BuildOptions(neuron=str(neuron), schedule="same_step"))
        with Simulator(model_path, settings) as simulator:
            result = simulator.run(images[0])
        found[device] = (result.synaptic_events, {
            (index, name): layer[name] for index, layer in result.data["layers"].items()
            for name in SPIKE_COUNTERS + EVENT_COUNTERS if name in layer})
    (events, layers), (standalone_events, standalone_layers) = found["runtime"], found["cpp_standalone"]
    assert layers.keys() == standalone_layers.keys() and any(name in EVENT_COUNTERS for _, name in layers)
    for key, values in layers.items():
        np.testing.assert_array_equal(values, standalone_layers[key], err_msg=str(key))
    assert events == standalone_events > 0
