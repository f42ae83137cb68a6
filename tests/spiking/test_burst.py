"""Burst spikes: a neuron file's ``burst`` as binary-weighted events, hand-computed counts, and every consumer of spikes
(weight-shared convolution, max-pool, relay) against Brian2's own ``Synapses`` or the window maximum.

Weights and currents are dyadic rationals, so every sum is exact in any order: one differing spike is
a logic error, not rounding.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import brian2
import h5py
import numpy as np
import pytest
from conftest import scaled_model

from brainyolo.ann.graph import conv_output_size
from brainyolo.ann.reference import maxpool2d
from brainyolo.io.errors import BrainyoloError
from brainyolo.spiking import from_neuron_order
from brainyolo.spiking.connections import IndexRelay, SharedConvolution, SpikingMaxPool
from brainyolo.spiking.event_record import LayerEventRecord
from brainyolo.spiking.event_spaces import event_spaces
from brainyolo.spiking.layer_models import SPIKE_COUNTERS, with_lesions, with_spike_counters
from brainyolo.spiking.neurons import load_neuron_model, neuron_group, spike_events
from brainyolo.spiking.thresholder import fuse_thresholders
from brainyolo.spiking.unrolled import conv_fan_out, unrolled_conv_synapses

BURST = "if_signed_ibt_tracking_burst"
EQUATIONS = Path(__file__).resolve().parents[2] / "equations"
STEPS = 24


def test_a_burst_is_binary_weighted_events():
    model = load_neuron_model(BURST)
    assert model.burst == 4
    assert model.spike_events == [("spike", 1), ("spike_x2", 2), ("spike_x4", 4),
                                  ("negative_spike", -1), ("negative_spike_x2", -2), ("negative_spike_x4", -4)]
    # every event counts levels 1 to 4 and requires level 1; none reads `level` any more
    for condition in [model.threshold] + [e.condition for e in model.events.values()]:
        assert "(1) - v_init" in condition or "(1) - 0.5" in condition
        assert "(4) - v_init" in condition or "(4) - 0.5" in condition
        assert "level" not in condition
    assert model.reset == "q += 1\nlast = 1"
    assert model.events["spike_x4"].reset == "q += 4 * (1)\nlast = 1"  # the file's reset run 4 times
    assert model.events["negative_spike_x2"].reset == "q -= 2 * (1)\nlast = -1"
    assert load_neuron_model(BURST, burst=1).spike_events == [("spike", 1), ("negative_spike", -1)]
    assert [v for _, v in load_neuron_model(BURST, burst=64).spike_events] == [1, 2, 4, 8, 16, 32, 64,
                                                                               -1, -2, -4, -8, -16, -32, -64]
    relay = load_neuron_model("relay", burst=2)  # structural neurons follow their sources' bursts
    assert relay.threshold.startswith("(v >= (1) / negative_value - 0.5) and ")
    assert ("int(v >= (1) / negative_value - 0.5) + int(v >= (2) / negative_value - 0.5)"
            in relay.events["spike_x2"].condition)


@pytest.mark.parametrize("lesions", [False, True])
@pytest.mark.parametrize("fused", [False, True])
def test_the_count_by_bit(fused, lesions):
    """Each event's condition, evaluated by Brian2 on a grid of states, holds exactly where its bit of the
    number of levels that hold is set (v >= level for levels 1 to 5, and v <= -level for the negative event): the
    group's own conditions sum the levels, the fused thresholder finds the count by binary search."""
    from brainyolo.spiking.neurons import Event, NeuronModel, burst_events

    brian2.start_scope()
    brian2.prefs.codegen.target = "numpy"
    model = burst_events(NeuronModel("m", "v : 1", "v >= level", "v -= 1",
                                     events={"negative_spike": Event("v <= -level", "v += 1")}), 5)
    assert [name for name, _ in model.spike_events] == ["spike", "spike_x2", "spike_x4", "negative_spike",
                                                        "negative_spike_x2", "negative_spike_x4"]
    states = np.arange(-8, 8) + 0.5  # 5 levels (capped), 5, 4, ..., 0 of the negative event, then of the spike
    if lesions:  # every fourth neuron silenced: no event at all, the others as without lesions
        model = with_lesions(model)
    group = neuron_group(model, len(states))
    silenced = np.arange(len(states)) % 4 == 1 if lesions else np.zeros(len(states), bool)
    if lesions:
        group.silenced = silenced.astype(int)
    if fused:
        thresholder = fuse_thresholders(group)
        assert set(thresholder.searches) == {"spike", "negative_spike"}
        assert len(thresholder.searches["spike"][0]) == 3  # three conditions per neuron instead of five
    group.v = states
    monitors = {name: brian2.EventMonitor(group, name) for name, _ in model.spike_events}
    brian2.Network(group, *monitors.values()).run(1 * brian2.ms)
    count = np.clip(np.floor(np.abs(states)), 0, 5).astype(int) * np.sign(states).astype(int) * ~silenced
    assert np.count_nonzero(count) > 8
    for name, value in model.spike_events:
        held = np.flatnonzero((np.sign(count) == np.sign(value)) & (np.abs(count) & abs(value) > 0))
        assert sorted(np.asarray(monitors[name].i[:]).tolist()) == held.tolist(), name
    np.testing.assert_array_equal(group.v[:], states - count)  # each spike's reset ran once


@pytest.mark.parametrize("text, problem", [
    ("burst = 0", "whole number from 1 to 512"),
    ("burst = 513", "whole number from 1 to 512"),
    ('burst = "2"', "whole number from 1 to 512"),
    ("burst = true", "whole number from 1 to 512"),
])
def test_bad_burst_entries_are_one_error_naming_the_file(tmp_path, text, problem):
    path = tmp_path / "bad.toml"
    path.write_text(f'{text}\nmodel = "v : 1"\nthreshold = "v > level"\nreset = "v -= 1"\n')
    with pytest.raises(BrainyoloError, match=problem) as err:
        load_neuron_model(path)
    assert "bad.toml" in str(err.value)


@pytest.mark.parametrize("text, problem", [
    ('model = "v : 1"\nthreshold = "v > 1"\n[events.spike_x2]\ncondition = "v > 2"\n', "a burst's event names"),
    ('burst = 2\nmodel = "v : 1\\nburst : 1"\nthreshold = "v > level"\n', "the name 'burst'"),
    ('burst = 2\nmodel = "level : 1"\nthreshold = "level > 1"\n', "is the burst level"),
    ('burst = 2\nmodel = "v : 1"\n', "a burst needs a 'threshold'"),
    ('burst = 2\nmodel = "v : 1"\nthreshold = "v > 1"\nreset = "v -= 1"\n', "every level would fire together"),
    ('burst = 2\nmodel = "v : 1"\nthreshold = "v > level"\nreset = "v -= 1"\nrefractory = "2*ms"\n',
     "cannot be refractory"),
    # a burst's reset runs once per spike, as the file's reset repeated: only += and -= of values it does not change
    *((f'burst = 2\nmodel = "v : 1\\nq : 1"\nthreshold = "v > level"\nreset = """\n{reset}\n"""\n', problem)
      for reset, problem in (("v *= 2", "may only add"), ("v -= v", "cannot read 'v'"),
                             ("q += 1\nv -= q", "cannot read 'q'"), ("v -= level", "cannot read 'level'"))),
    ('burst = 2\nmodel = "v : 1\\nq : 1\\nd = int(q < 3) : 1"\nthreshold = "v > level"\nreset = "q += d"\n',
     "cannot read 'q'"),  # through a subexpression
])
def test_files_a_burst_cannot_run_are_refused(tmp_path, text, problem):
    path = tmp_path / "own.toml"
    path.write_text(text)
    with pytest.raises(BrainyoloError, match=problem) as err:
        load_neuron_model(path)
    assert "own.toml" in str(err.value)


def test_burst_is_a_name_of_its_own_only_in_a_burst(tmp_path):
    path = tmp_path / "own.toml"
    path.write_text('model = "v : 1\\nburst : 1"\nthreshold = "v > burst"\nreset = "v = 0"\n')
    assert load_neuron_model(path).burst == 1  # a model of one spike a step may name a variable burst


def test_one_level_keeps_brian2s_refractoriness(tmp_path):
    path = tmp_path / "own.toml"
    path.write_text('burst = 2\nmodel = "v : 1"\nthreshold = "v > level"\nreset = "v -= 1"\nrefractory = "2*ms"\n')
    assert load_neuron_model(path, burst=1).refractory == "2*ms"


def net_counts(group, steps):
    """(steps, n) net spike count after each step, from one monitor per spike event (an event of k spikes: k)."""
    counts = np.zeros((steps, len(group)))
    for monitor, sign in group.burst_monitors:
        np.add.at(counts, (np.round(np.asarray(monitor.t_[:]) * 1000).astype(int), np.asarray(monitor.i[:])), sign)
    return np.cumsum(counts, axis=0)


def monitored(group, tag):
    """``group`` and an EventMonitor of each of its spike events (kept as ``group.burst_monitors``, with the signed
    number of spikes each event carries)."""
    group.add_attribute("burst_monitors")
    group.burst_monitors = [(brian2.EventMonitor(group, event, name=f"{tag}_{event}"), sign)
                            for event, sign in spike_events(group.events)]
    return [group, *(m for m, _ in group.burst_monitors)]


def check_record(record: LayerEventRecord, group, steps: int) -> None:
    """``record`` (every event and sign in one object) against Brian2's own ``EventMonitor`` of each event
    (``group.burst_monitors``): the population count of each sign per step, and every sampled spike (an event of
    k spikes: k)."""
    start, stop = record.sample.start, record.sample.stop
    expected = {1: np.zeros(steps, int), -1: np.zeros(steps, int)}
    sampled = []
    for monitor, value in group.burst_monitors:
        sign, weight = int(np.sign(value)), abs(value)
        step = np.round(np.asarray(monitor.t_[:]) * 1000).astype(int) + 1
        neuron = np.asarray(monitor.i[:])
        np.add.at(expected[sign], step - 1, weight)
        inside = (neuron >= start) & (neuron < stop)
        sampled += [(int(i) - start, int(t), sign) for i, t in zip(neuron[inside], step[inside], strict=True)] * weight
    np.testing.assert_array_equal(record.values("population_positive"), expected[1])
    np.testing.assert_array_equal(record.values("population_negative"), expected[-1])
    ours = list(zip(*(record.values(name).tolist() for name in ("sample_neuron", "sample_step", "sample_sign")),
                    strict=True))
    assert sorted(ours) == sorted(sampled) and len(set(sampled)) < len(sampled)  # bursts: repeated (neuron, step)


@pytest.mark.parametrize("fused", [False, True])
def test_hand_computed_bursts(fused):
    """Constant input I per step, v_init 0, alpha 1: the net count after step t is I*t rounded toward
    zero, as long as that needs at most 4 spikes a step; the one-spike neuron falls behind (t)."""
    brian2.start_scope()
    brian2.prefs.codegen.target = "numpy"
    currents = np.array([2.75, -2.5, 5.75, 0.5, 2.75])
    burst = neuron_group(with_spike_counters(load_neuron_model(BURST)), 4, alpha=1.0, name="burst")
    burst.I = currents[:4]
    single = neuron_group(load_neuron_model("if_signed_ibt_tracking"), 1, alpha=1.0, name="single")
    single.I = currents[4:]
    if fused:
        fuse_thresholders(burst)
    record = LayerEventRecord(burst, slice(1, 4), name="burst_record")
    objects = monitored(burst, "b") + monitored(single, "s") + [record]
    brian2.Network(*objects).run(STEPS * brian2.ms)
    check_record(record, burst, STEPS)
    t = np.arange(1, STEPS + 1)[:, None]
    expected = np.trunc(currents[:4] * t)
    expected[:, 2] = np.minimum(4 * t[:, 0], np.trunc(5.75 * t[:, 0]))  # 5.75 per step: capped at 4
    np.testing.assert_array_equal(net_counts(burst, STEPS), expected)
    np.testing.assert_array_equal(burst.q[:], expected[-1])
    np.testing.assert_array_equal(net_counts(single, STEPS)[:, 0], t[:, 0])  # one spike a step, behind 2.75 t
    positive, negative = (np.asarray(getattr(burst, name)[:]) for name in SPIKE_COUNTERS)
    np.testing.assert_array_equal(positive - negative, expected[-1])  # the counters count every spike
    assert math.isclose(positive[0], math.trunc(2.75 * STEPS))


@pytest.mark.parametrize("fused", [False, True])
def test_the_largest_burst_by_hand(fused):
    """Bursts of up to 512 (the most a file may ask for): constant input I per step, v_init 0, alpha 1, so the net
    count after step t is I*t rounded toward zero while that needs at most 512 spikes a step; 540.5 a step is capped
    at 512."""
    brian2.start_scope()
    brian2.prefs.codegen.target = "numpy"
    currents = np.array([400.25, -511.5, 540.5])
    group = neuron_group(with_spike_counters(load_neuron_model(BURST, burst=512)), 3, alpha=1.0, name="largest")
    group.I = currents
    assert len(spike_events(group.events)) == 20  # 1, 2, ..., 512 spikes of each sign
    if fused:  # 10 conditions per sign found by binary search instead of 512
        assert len(fuse_thresholders(group).searches["spike"][0]) == 10
    objects = monitored(group, "g")
    steps = 4
    brian2.Network(*objects).run(steps * brian2.ms)
    t = np.arange(1, steps + 1)[:, None]
    expected = np.trunc(currents * t)
    expected[:, 2] = 512 * t[:, 0]
    np.testing.assert_array_equal(net_counts(group, steps), expected)


IN_SHAPE, FILTERS, K, STRIDE, PAD = (3, 12, 10), 4, 3, 1, 1


def burst_source(name, shape, seed):
    """Burst neurons with constant dyadic currents of up to 2.5 thresholds per step: bursts of 2 and 3."""
    rng = np.random.default_rng(seed)
    source = neuron_group(load_neuron_model(BURST), int(np.prod(shape)), alpha=0.5, v_init=0.5, name=name)
    source.I = rng.integers(-160, 161, len(source)) / 64
    return source


def build_conv(kind, tag):
    rng = np.random.default_rng(5)
    weight = rng.integers(-32, 33, (FILTERS, IN_SHAPE[0], K, K)) / 16
    source = burst_source(f"convsrc{tag}", IN_SHAPE, 11)
    out_n = FILTERS * conv_output_size(IN_SHAPE[1], K, STRIDE, PAD) * conv_output_size(IN_SHAPE[2], K, STRIDE, PAD)
    target = neuron_group(load_neuron_model("if_signed_ibt"), out_n, alpha=0.25, name=f"convtgt{tag}")
    if kind == "shared":
        connection = SharedConvolution(source, target, weight, IN_SHAPE, STRIDE, PAD, name=f"convsh{tag}")
    else:
        connection = unrolled_conv_synapses(source, target, weight, IN_SHAPE, STRIDE, PAD, name=f"convun{tag}")
    record = LayerEventRecord(source, slice(100, 160), name=f"convrecord{tag}")
    return {"source": source, "target": target, "connection": connection, "record": record,
            "objects": [*monitored(source, f"cs{tag}"), *monitored(target, f"ct{tag}"), connection, record]}


def conv_results(built):
    target, source = built["target"], built["source"]
    out = {"v": np.array(target.v[:]), "target": net_counts(target, STEPS), "source": net_counts(source, STEPS)}
    out["spikes"] = sum(abs(value) * np.bincount(np.asarray(m.i[:]), minlength=len(source))
                        for m, value in source.burst_monitors)
    if isinstance(built["connection"], SharedConvolution):
        out["events"] = int(built["connection"].synaptic_events[0])
    return out


def build_pool(tag, case=((2, 8, 8), 2, 2, 1)):
    """Burst neurons whose counts rise in the first half of the run and fall, 2 or 3 a step, in the second
    (a run_regularly switches their currents): a window's maximum falls by a burst."""
    in_shape, size, stride, pad = case
    model = load_neuron_model(BURST)
    model = dataclasses.replace(model, model=model.model + "falling : 1 (constant)\n")
    source = neuron_group(model, int(np.prod(in_shape)), alpha=1.0, v_init=0.5, name=f"poolsrc{tag}")
    rng = np.random.default_rng(12)
    source.I = rng.integers(0, 161, len(source)) / 64
    source.falling = -rng.integers(128, 193, len(source)) / 64
    source.run_regularly(f"I = I + (falling - I) * int(t >= {STEPS // 2} * ms)", when="start")
    out_shape = maxpool2d(np.zeros(in_shape), size, stride, pad).shape
    target = neuron_group(load_neuron_model("maxpool", burst=4), int(np.prod(out_shape)), name=f"pooltgt{tag}")
    pool = SpikingMaxPool(source, target, in_shape, size, stride, pad, name=f"pool{tag}")
    return {"source": source, "target": target, "case": case,
            "objects": [*monitored(source, f"ps{tag}"), *monitored(target, f"pt{tag}"), pool]}


def build_relay(tag, shape=(2, 6, 6)):
    """A 2x upsample of burst neurons: through IndexRelay and through Brian2's Synapses (a pathway per event)."""
    from brainyolo.spiking.builder import _grid_index

    c, h, w = shape
    source = burst_source(f"relaysrc{tag}", shape, 13)
    pre = np.repeat(np.repeat(_grid_index(shape), 2, axis=1), 2, axis=2).ravel()
    post = _grid_index((c, 2 * h, 2 * w)).ravel()
    relay = load_neuron_model("relay", burst=4)
    ours, theirs = (neuron_group(relay, len(post), name=f"relay{side}{tag}") for side in ("ours", "theirs"))
    events = spike_events(source.events)
    on_pre = {e: f"v_post {'+' if s > 0 else '-'}= {abs(s)}" for e, s in events}  # an event of k spikes: k
    synapses = brian2.Synapses(source, theirs, on_pre=on_pre, on_event={e: e for e, _ in events}, name=f"relaysyn{tag}")
    synapses.connect(i=pre, j=post)
    return {"source": source, "ours": ours, "theirs": theirs,
            "objects": [*monitored(source, f"rs{tag}"), *monitored(ours, f"ro{tag}"), *monitored(theirs, f"rt{tag}"),
                        synapses, IndexRelay(source, ours, pre, post, name=f"relayidx{tag}")]}


def check_pool(pool):
    in_shape, size, stride, pad = pool["case"]
    inputs, pooled = net_counts(pool["source"], STEPS), net_counts(pool["target"], STEPS)
    out_shape = maxpool2d(np.zeros(in_shape), size, stride, pad).shape
    assert (np.diff(inputs, axis=0)[STEPS // 2 + 1:] <= -2).all()  # every input fell in bursts
    assert (np.diff(pooled, axis=0)[STEPS // 2 + 2:] <= -2).all()  # and so did every window's maximum
    for step in range(STEPS - 1):
        expected = maxpool2d(from_neuron_order(inputs[step], in_shape), size, stride, pad)
        np.testing.assert_array_equal(from_neuron_order(pooled[step + 1], out_shape), expected, err_msg=f"step {step}")


def check_all(shared, unrolled, pool, relay, overlapping):
    ours, reference = conv_results(shared), conv_results(unrolled)
    check_record(shared["record"], shared["source"], STEPS)
    np.testing.assert_array_equal(ours["target"], reference["target"])
    np.testing.assert_array_equal(ours["v"], reference["v"])
    bursts = sum(np.asarray(m.i[:]).size for m, value in shared["source"].burst_monitors if abs(value) > 1)
    assert bursts > 0 and np.abs(np.diff(ours["source"], axis=0)).max() >= 2  # bursts were sent
    fan = conv_fan_out(IN_SHAPE, FILTERS, K, STRIDE, PAD)
    assert ours["events"] == int((from_neuron_order(ours["spikes"], IN_SHAPE) * fan).sum())  # one event per spike
    check_pool(pool)
    check_pool(overlapping)
    np.testing.assert_array_equal(net_counts(relay["ours"], STEPS), net_counts(relay["theirs"], STEPS))
    assert np.abs(np.diff(net_counts(relay["ours"], STEPS), axis=0)).max() >= 2  # the relay passed bursts on


def build_all():
    """Convolution (shared and unrolled), pools of non-overlapping and of overlapping windows (yolov3-tiny's
    size 2, stride 1: the serial path), and a relay, in one network."""
    built = (build_conv("shared", "a"), build_conv("unrolled", "b"), build_pool("c"), build_relay("d"),
             build_pool("e", ((2, 7, 7), 2, 1, 1)))
    brian2.Network(*[o for b in built for o in b["objects"]]).run(STEPS * brian2.ms)
    return built


def test_bursts_through_convolution_pool_and_relay_numpy_runtime():
    brian2.start_scope()
    brian2.prefs.codegen.target = "numpy"
    check_all(*build_all())


def test_connections_read_every_event():
    brian2.start_scope()
    source = burst_source("levels", (1, 2, 2), 0)
    assert [(sign, weight, units) for _, sign, weight, units, _ in event_spaces(source)] == [
        ("+", 1, 1), ("+", 2, 2), ("+", 4, 4), ("-", 1, 1), ("-", 2, 2), ("-", 4, 4)]
    target = neuron_group(load_neuron_model("if_signed_ibt"), 4)
    # at most 4 spikes a step (the burst), though its events could carry 7: the fixed-point grid is sized for 4
    assert SharedConvolution(source, target, np.ones((1, 1, 1, 1)), (1, 2, 2)).units_per_step == 4
    bare = brian2.NeuronGroup(4, "v : 1", threshold="v > 1", events={"spike_x2": "v > 2"})  # no burst given
    assert SharedConvolution(bare, target, np.ones((1, 1, 1, 1)), (1, 2, 2)).units_per_step == 3


def test_a_record_samples_a_block_of_its_group():
    brian2.start_scope()
    source = burst_source("blocks", (1, 2, 2), 0)
    record = LayerEventRecord(source, slice(1, None))
    assert record.source is source and record.sample == slice(1, 4) and len(record.spaces) == 6
    assert LayerEventRecord(source, slice(4, 4)).sample == slice(4, 4)  # no sample
    for wrong in (slice(0, 5), slice(-1, 4), slice(0, 4, 2), slice(3, 2)):
        with pytest.raises(ValueError, match="not a block of the group's 4 neurons"):
            LayerEventRecord(source, wrong)


@pytest.mark.long
@pytest.mark.standalone_only
def test_bursts_through_convolution_pool_and_relay_cpp_standalone(tmp_path):
    """The same network in C++ with 2 OpenMP threads (the fused thresholder of every event, the
    scatter's row bands, the pool's bands): the same sums as Brian2's own Synapses."""
    from brainyolo.spiking.device import standalone

    with standalone(threads=2, directory=str(tmp_path / "build")):
        check_all(*build_all())


def test_check_names_the_burst():
    from conftest import run_cli

    path = str(EQUATIONS / f"{BURST}.toml")
    code, stdout, stderr = run_cli(["check", path])
    assert (code, stderr) == (0, "")
    assert stdout.startswith(f"{path}: ok: neuron model (signed, bursts of up to 4 spikes), parameters t_step, ")


def _network_run(tiny_converted, tmp_path, name, neuron, connectivity="shared", steps=12, schedule="same_step",
                 normalization=None):
    from brainyolo.detector import simulate
    from brainyolo.spiking.settings import BuildOptions
    from brainyolo.spiking.simulate import SimulationSettings

    model_path, images = tiny_converted
    simulate(model_path, [images[0]], SimulationSettings(
        steps=steps, device="runtime", sample_neurons=200,
        build=BuildOptions(neuron=str(neuron), schedule=schedule, connectivity=connectivity,
                           normalization=normalization)),
        tmp_path / name, progress=False)
    with h5py.File(tmp_path / name / "recordings.h5") as f:
        return {name: {**{key: layer[key][()] for key in layer}, **dict(layer.attrs)}
                for name, layer in f["images/0000/layers"].items()}


def test_a_network_of_burst_neurons(tiny_converted, tmp_path):
    """The reduced yolov3-tiny (same-step schedule; biases and image current doubled, as thresholds 0.5: inputs of
    up to 4 thresholds a step):

    * the image layer (a constant current I) ends with net count leaky(T * I) / v_th rounded to the nearest, where
      the one-spike tracking neuron stops at T;
    * the whole network built with Brian2's own Synapses (a pathway per event) fires the same spikes (a spike at a
      float near-tie may come a step earlier or later);
    * the recordings count every spike: per layer, the population series sum to the counters, and each sampled
      neuron's raster holds as many spikes as its counters.
    """
    from brainyolo.ann.letterbox import letterbox, load_image
    from brainyolo.ann.reference import conv2d
    from brainyolo.convert.model_file import load_model

    steps = 12
    model_path, images = tiny_converted
    doubled = (scaled_model(model_path, tmp_path / "doubled.h5", 2.0), images)  # thresholds 0.5 in effect
    files = {}
    for name in (BURST, "if_signed_ibt_tracking"):  # the run's values as the files' own (unrolled takes no others)
        text = (EQUATIONS / f"{name}.toml").read_text()
        for key, value in (("v_init", "0.5"), ("hold_positive", "1")):
            text = re.sub(rf'(?m)^{key} = ".*"$', f'{key} = "{value}"', text)
        files[name] = tmp_path / f"{name}.toml"
        files[name].write_text(text)
    burst = _network_run(doubled, tmp_path, "burst", files[BURST])
    single = _network_run(doubled, tmp_path, "single", files["if_signed_ibt_tracking"])
    layer = load_model(doubled[0]).normalized_graph().layers[0]
    current = conv2d(letterbox(load_image(images[0]), 96, 96)[0], layer.weight, layer.bias, layer.stride, layer.pad)
    leaky = steps * current.astype(np.float64) * np.where(current > 0, 1.0, layer.alpha)
    clear = np.abs(np.abs(leaky) + 0.5 - np.round(np.abs(leaky) + 0.5)) > 1e-3  # away from a rounding edge
    fast = clear & (current > 1) & (current < 4)  # 1 to 4 thresholds a step
    assert fast.sum() > 100
    np.testing.assert_array_equal(burst["00"]["positive_count"][fast], np.floor(leaky[fast] + 0.5))
    assert (single["00"]["positive_count"][fast] <= steps).all()
    unrolled = _network_run(doubled, tmp_path, "unrolled", files[BURST], connectivity="unrolled")
    assert burst.keys() == unrolled.keys()
    for name, layer in burst.items():
        for key in ("positive_count", "negative_count"):
            np.testing.assert_array_equal(layer[key], unrolled[name][key], err_msg=f"{name} {key}")
        for key in ("population_positive", "population_negative"):
            # Brian2's Synapses add each event's k w in float32 (ours: once per step in fixed point), so a float
            # near-tie may move a spike by a step (one did in layer 18); the totals are equal
            ours, theirs = np.cumsum(layer[key]), np.cumsum(unrolled[name][key])
            assert ours[-1] == theirs[-1] and np.abs(ours - theirs).max() <= 2, (name, key)
        for sign, counter in (("positive", "positive_count"), ("negative", "negative_count")):
            assert layer[f"population_{sign}"].sum() == layer[counter].sum(), (name, sign)
        c, y, x = layer["sample_neuron"].T
        for sign, counter in ((1, "positive_count"), (-1, "negative_count")):
            raster = np.bincount(layer["sample_spike_neuron"][layer["sample_spike_sign"] == sign],
                                 minlength=len(c))
            np.testing.assert_array_equal(raster, layer[counter][c, y, x], err_msg=f"{name} {counter}")
    # bursts beyond the image layer: neurons of deeper layers fired more spikes than there were steps
    assert sum(int((layer["positive_count"] > steps).sum()) for name, layer in burst.items() if name != "00") > 100


TWO_PHASE = "if_signed_ibt_tracking_two_phase"


def test_two_phase_tracking_neuron_by_hand():
    """Constant input, V(0) = 0.5 v_th, alpha 1: after every step the output sent, each spike worth the threshold
    of its phase (0.5 in the first 8 steps, then 1), is the integrated input rounded to the nearest multiple of that
    threshold (bursts of up to 4 keep up with 0.3-1.7 per step); with v_th_early = v_th it is
    if_signed_ibt_tracking_burst spike for spike."""
    brian2.start_scope()
    brian2.prefs.codegen.target = "numpy"
    currents = np.array([0.8125, -0.3125, 1.6875, 0.5, -1.25])
    common = {"alpha": 1.0, "v_init": 0.5, "v_th": 1.0}
    two = neuron_group(load_neuron_model(TWO_PHASE), 5, name="two", v_th_early=0.5, t_switch=8 * brian2.ms,
                       **common)
    same = neuron_group(load_neuron_model(TWO_PHASE), 5, name="same", v_th_early=1.0, **common)
    burst = neuron_group(load_neuron_model(BURST), 5, name="burst", **common)
    for group in (two, same, burst):
        group.I = currents
        group.v = 0.5  # V(0) = v_init * v_th, as the builder sets it
    fuse_thresholders(two)
    objects = monitored(two, "two") + monitored(same, "same") + monitored(burst, "bu")
    states = brian2.StateMonitor(two, "out", record=True, name="twostates")
    brian2.Network(*objects, states).run(STEPS * brian2.ms)
    t = np.arange(1, STEPS + 1)
    theta = np.where(t <= 8, 0.5, 1.0)  # the threshold of step t (its time is t - 1 ms: early while < 8 ms)
    counts = np.diff(net_counts(two, STEPS), axis=0, prepend=0)
    sent = np.vstack([states.out[:].T[1:], two.out[:]])  # `out` after each step (recorded as the next one starts)
    np.testing.assert_array_equal(np.cumsum(counts * theta[:, None], axis=0), sent)
    owed = currents * t[:, None] - np.cumsum(counts * theta[:, None], axis=0)
    assert (np.abs(owed) <= 0.5 * theta[:, None]).all()  # rounded to the nearest (ties away from zero)
    assert (np.abs(counts[:8]).max(axis=0) >= 2).sum() >= 3  # bursts in the early phase
    np.testing.assert_array_equal(net_counts(same, STEPS), net_counts(burst, STEPS))


def test_bursts_in_the_delayed_schedule(tiny_converted, tmp_path):
    """Spiking-YOLO's schedule (one step per layer) with burst neurons: the network built with Brian2's own
    Synapses fires the same spikes, and deeper layers send bursts too."""
    model_path, images = tiny_converted
    doubled = (scaled_model(model_path, tmp_path / "doubled.h5", 2.0), images)
    runs = {kind: _network_run(doubled, tmp_path, kind, BURST, connectivity=kind, steps=10, schedule="delayed")
            for kind in ("shared", "unrolled")}
    for name, layer in runs["shared"].items():
        for key in ("positive_count", "negative_count"):
            np.testing.assert_array_equal(layer[key], runs["unrolled"][name][key], err_msg=f"{name} {key}")
    assert sum(int((layer["positive_count"] > 8).sum()) for name, layer in runs["shared"].items() if name != "00") > 0
