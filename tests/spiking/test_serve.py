"""The binary started once and fed run after run (``./main --serve``): each run equals a fresh process's."""

from __future__ import annotations

import brian2
import numpy as np
import pytest
from conftest import STANDALONE

from brainyolo.spiking.parameters import parse_setting
from brainyolo.spiking.settings import BuildOptions
from brainyolo.spiking.simulate import SimulationSettings, Simulator


def _settings(serve: bool, **changes) -> SimulationSettings:
    return SimulationSettings(steps=STANDALONE["steps"], checkpoints=STANDALONE["checkpoints"],
                              device="cpp_standalone", threads=STANDALONE["threads"], serve=serve,
                              build=BuildOptions(output=STANDALONE["output"]), **changes)


def _assert_same(ours: dict, theirs: dict, where: str = "") -> int:
    """Every array of two ``Recorder.collect`` results equal, bit for bit; how many were compared."""
    compared = 0
    assert ours.keys() == theirs.keys(), where
    for key in ours:
        if isinstance(ours[key], dict):
            compared += _assert_same(ours[key], theirs[key], f"{where}/{key}")
        elif isinstance(ours[key], np.ndarray):
            np.testing.assert_array_equal(ours[key], theirs[key], err_msg=f"{where}/{key}")
            compared += 1
    return compared


@pytest.mark.standalone_only
def test_served_runs_equal_fresh_processes(tiny_converted, shared_build_cache):
    """Image A, image B, image A again, with other thresholds in the third run: one loaded binary (one process
    for all three) gives what a fresh process gives for each, bit for bit: a run leaves nothing in the next."""
    model_path, (first, second) = tiny_converted
    thresholds = parse_setting("*.v_th=0.8")
    results = {}
    for serve in (True, False):
        with Simulator(model_path, _settings(serve)) as simulator:
            runs = [simulator.run(first), simulator.run(second),
                    simulator.run(first, simulator.resolve_parameters(thresholds))]
            server = brian2.get_device().server
            assert (server is not None) == serve
            if serve:
                assert server.process.poll() is None  # one process served all three
                served_by = server
        results[serve] = runs
    assert served_by.process.poll() == 0  # ended with its Simulator
    compared = 0
    for served, fresh in zip(results[True], results[False], strict=True):
        compared += _assert_same(served.data, fresh.data)
        assert served.timing["peak_memory_bytes"] > 1e6
        assert served.synaptic_events == fresh.synaptic_events > 0
    assert compared > 100
    # the runs differ from each other (else the test could not tell them apart)
    counts = [run.data["layers"][2]["positive_count"] for run in results[True]]
    assert not np.array_equal(counts[0], counts[1]) and not np.array_equal(counts[0], counts[2])


@pytest.mark.standalone_only
def test_a_served_run_draws_its_own_random_state(tiny_converted, tmp_path, monkeypatch):
    """With membrane noise, two served runs of one image differ as two fresh processes' do: a run draws its
    own random state (brian_start seeds new generators; the reset removes the last run's)."""
    monkeypatch.setenv("BRAINYOLO_CACHE", str(tmp_path / "cache"))
    model_path, (image, _) = tiny_converted
    noisy = parse_setting("*.sigma=0.3")
    settings = SimulationSettings(steps=12, device="cpp_standalone", threads=1, serve=True,
                                  build=BuildOptions(neuron="lif_signed_ibt_noise", output="spikes"))
    with Simulator(model_path, settings) as simulator:
        parameters = simulator.resolve_parameters(noisy)
        runs = [simulator.run(image, parameters) for _ in range(2)]
        quiet = [simulator.run(image) for _ in range(2)]
    hidden = [run.data["layers"][2]["positive_count"] for run in runs]
    assert not np.array_equal(*hidden)
    # without noise the two served runs are the same run
    _assert_same(quiet[0].data, quiet[1].data)


@pytest.mark.standalone_only
def test_a_server_that_ended_is_one_clear_error(tiny_converted, shared_build_cache):
    model_path, (image, _) = tiny_converted
    with Simulator(model_path, _settings(True)) as simulator:
        simulator.run(image)
        server = brian2.get_device().server
        server.process.kill()
        server.process.wait()
        with pytest.raises(RuntimeError, match="the serving binary has ended"):
            simulator.run(image)


def _users_objects(network) -> list:
    """A population of the user's own behind delayed synapses from layer 2 (a spike queue that holds spikes
    over the end of a run), with monitors of its spikes and membranes (dynamic arrays)."""
    layer = network.layers[2]
    group = brian2.NeuronGroup(3, "dv/dt = -v / (5*ms) : 1", threshold="v > 0.5", reset="v = 0", method="exact",
                               clock=network.clock, name="users")
    synapses = brian2.Synapses(layer.group, group, "w : 1", on_pre="v_post += w", delay=4 * brian2.ms,
                               clock=network.clock, name="users_synapses")
    synapses.connect(condition="(i + j) % 2 == 0")  # no random numbers: a fresh process draws its own
    synapses.w = "0.02 + 0.01 * (i % 3)"
    return [group, synapses, brian2.SpikeMonitor(group, name="users_spikes"),
            brian2.StateMonitor(group, "v", record=True, name="users_v")]


@pytest.mark.standalone_only
def test_served_runs_of_users_objects_equal_fresh_processes(tiny_converted, tmp_path, monkeypatch):
    """The user's own synapses (their spike queue) and monitors (dynamic arrays) start each served run as in a
    fresh process: image A, image B, image A."""
    import brainyolo

    monkeypatch.setenv("BRAINYOLO_CACHE", str(tmp_path / "cache"))
    model_path, (first, second) = tiny_converted
    states = {}
    for serve in (True, False):
        with brainyolo.SpikingDetector(model_path, "paper", steps=20, threads=2, serve=serve) as detector:
            recording = detector.add(_users_objects)
            states[serve] = [detector.run(image).recorded(recording) for image in (first, second, first)]
    for served, fresh in zip(states[True], states[False], strict=True):
        assert _assert_same(served, fresh) >= 6
    served = states[True]
    assert served[0]["users_spikes"]["count"].sum() > 0
    assert not np.array_equal(served[0]["users_v"]["v"], served[1]["users_v"]["v"])  # the images differ
    assert states[True][2]["users_v"]["v"].shape == states[True][0]["users_v"]["v"].shape
