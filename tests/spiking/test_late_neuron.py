"""The quiet, settling burst neuron (``if_signed_ibt_tracking_late``): hand-computed counts of single neurons,
the run's length set by the simulator, and a network whose net counts at the end are its rounded ANN's.

Currents are dyadic rationals, so every membrane is exact: a differing spike is a logic error.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import brian2
import numpy as np
import pytest
from test_burst import monitored, net_counts

from brainyolo.io.errors import BrainyoloError
from brainyolo.spiking.neurons import load_neuron_model, neuron_group
from brainyolo.spiking.parameters import RUN_LENGTH, ParameterSettings, resolve, runtime_names

LATE = "if_signed_ibt_tracking_late"
EQUATIONS = Path(__file__).resolve().parents[2] / "equations"
STEPS = 24

# per neuron: the current before and from the switch step, the switch step
CASES = {
    "constant": (0.75, 0.75, 0),  # integrated input 0.75 (k + 1) after step k: 18 at the end
    "swing": (-1.0, 1.0, 4),  # -1, -2, -3, -4, then up by 1 a step: k - 7, 16 at the end
    "overshoot": (1.0, -0.25, 16),  # up to 16 at step 15, then down by 0.25: 14 at the end
}


def late_group(name, quiet, settle, cases):
    """Late neurons (alpha 1, V(0) = v_th / 2, v_th 1, bursts of up to 8, a negative spike worth a positive one) whose
    current switches once, in a run of STEPS steps."""
    model = load_neuron_model(LATE, burst=8, negative_value=1.0)
    model = dataclasses.replace(model, model=model.model + "before : 1 (constant)\nafter : 1 (constant)\n"
                                                            "switch : 1 (constant)\n")
    group = neuron_group(model, len(cases), alpha=1.0, quiet=quiet, settle=settle, t_run=STEPS * brian2.ms,
                         name=name)
    group.before, group.after, group.switch = (np.array([CASES[c][k] for c in cases]) for k in range(3))
    group.v = 0.5  # V(0) = v_init * v_th, as the network starts it
    group.run_regularly("I = before + (after - before) * int(t >= switch * ms)", when="start")
    return group


def test_hand_computed_quiet_start_bursts_and_settling():
    """Quiet for the first half (steps 0-11), then bursts of up to 8 spikes toward the input rounded to the
    nearest; the positive spikes are held while the input falls, and given back in the last step only."""
    brian2.start_scope()
    brian2.prefs.codegen.target = "numpy"
    late = late_group("late", 0.5, 1.0, list(CASES))
    kept = late_group("kept", 0.5, 0.0, ["overshoot"])
    early = late_group("early", 0.0, 1.0, ["swing"])
    objects = monitored(late, "l") + monitored(kept, "k") + monitored(early, "e")
    brian2.Network(*objects).run(STEPS * brian2.ms)
    k = np.arange(STEPS)
    quiet = k < 12
    assert load_neuron_model(LATE).burst == 64 and late.namespace["burst"] == 8
    capacity = 8 * (k - 11)  # spikes sent by the end of step k
    constant = np.where(quiet, 0, np.minimum(np.floor(0.75 * (k + 1) + 0.5), capacity))
    swing = np.where(quiet, 0, np.minimum(k - 7, capacity))
    overshoot = np.where(quiet, 0, np.minimum(np.minimum(k + 1, 16), capacity))
    overshoot[-1] = 14  # settled: 16 held while the input fell to 14, two given back in the last step
    counts = net_counts(late, STEPS)
    np.testing.assert_array_equal(counts[:, 0], constant)
    np.testing.assert_array_equal(counts[:, 1], swing)
    np.testing.assert_array_equal(counts[:, 2], overshoot)
    np.testing.assert_array_equal(late.q[:], [18, 16, 14])
    np.testing.assert_array_equal(net_counts(kept, STEPS)[-1], [16])  # settle = 0: the highest count stays
    spikes = {name: sum(abs(value) * np.asarray(m.i[:]).size for m, value in group.burst_monitors)
              for name, group in (("late", late), ("early", early))}
    assert spikes["late"] == 18 + 16 + 16 + 2  # every spike a net one, but the two given back
    # firing from the first step, the swing costs 4 negative spikes and the 4 that take them back
    assert spikes["early"] == 16 + 8
    np.testing.assert_array_equal(net_counts(early, STEPS)[:8, 0], [-1, -2, -3, -4, -3, -2, -1, 0])


@pytest.mark.parametrize(("quiet", "expected"), [(0.9375, [1.0, 2.0, 2.0, -1.5]), (0.875, [1.0, 1.5, 2.0, -1.5])],
                         ids=["one-firing-step", "two-firing-steps"])
def test_a_negative_spike_worth_half_a_spike_by_hand(quiet, expected):
    """``negative_value = 0.5``, alpha 1, V(0) = v_th / 2, 16 steps, constant inputs summing to 21/16, 27/16, 30/16 and
    -21/16 thresholds. Firing in the last step, the positive side ends at the nearest whole spike and the negative side
    at the nearest half (-21/16: 2.625 halves, 3 negative spikes). Firing in the last two, the first step sends the
    rounded input so far (15/16 of it: 1.23, 1.58, 1.76), and the last can take back half a spike but not add one:
    27/16 ends at 1.5, 21/16 at 1 (the documented limit of more than one firing step)."""
    brian2.start_scope()
    brian2.prefs.codegen.target = "numpy"
    model = load_neuron_model(LATE, burst=8, negative_value=0.5)
    group = neuron_group(model, 4, alpha=1.0, quiet=quiet, settle=1.0, t_run=16 * brian2.ms, name="half")
    group.I = np.array([21, 27, 30, -21]) / 256
    group.v = 0.5
    brian2.Network(group).run(16 * brian2.ms)
    np.testing.assert_array_equal(group.q[:], expected)


def test_the_run_length_is_set_by_the_simulator_not_by_a_setting():
    model = load_neuron_model(LATE)
    assert RUN_LENGTH in runtime_names(model)
    defaults = {0: {"v_th": 1.0}, 2: {"v_th": 1.0}}
    resolved = resolve(ParameterSettings((("all", "quiet", 0.5),)), model, [0, 2], defaults, run_steps=16)
    assert resolved[0][RUN_LENGTH] == resolved[2][RUN_LENGTH] == 0.016 and resolved[2]["quiet"] == 0.5
    with pytest.raises(BrainyoloError, match="t_run is the run's length: --steps sets it"):
        resolve(ParameterSettings((("all", RUN_LENGTH, 0.5),)), model, [0, 2], defaults, run_steps=16)
    for value in (1.0, -0.25):
        with pytest.raises(BrainyoloError, match="quiet = .* is a fraction of the run: at least 0 and below 1"):
            resolve(ParameterSettings((("all", "quiet", value),)), model, [0, 2], defaults, run_steps=16)
    # 0.97 x 16 = 15.52 rounds past the run: the neuron still fires in its last step (test_the_last_step_always_fires)
    assert resolve(ParameterSettings((("all", "quiet", 0.97),)), model, [0, 2], defaults, run_steps=16)[0]["quiet"] \
        == 0.97


@pytest.mark.parametrize("quiet", [0.96, 0.99])
def test_the_last_step_always_fires(quiet):
    """A quiet part that rounds to the whole run (0.99 x 24 = 23.76) or to all but the last step (0.96 x 24 =
    23.04) leaves the last step to fire: bursts of up to 8 toward 18 (0.75 a step, 24 steps), 8 of them."""
    brian2.start_scope()
    brian2.prefs.codegen.target = "numpy"
    late = late_group("last", quiet, 1.0, ["constant"])
    objects = monitored(late, "last")
    brian2.Network(*objects).run(STEPS * brian2.ms)
    np.testing.assert_array_equal(net_counts(late, STEPS)[:, 0], [0] * (STEPS - 1) + [8])


@pytest.mark.parametrize("value", ["0", "0.3", "2", "1.5", '"half"', "true", "0.03125"])
def test_a_negative_value_is_one_over_a_power_of_two_or_one_error_naming_the_file(tmp_path, value):
    path = tmp_path / "bad.toml"
    path.write_text(f'negative_value = {value}\nmodel = "v : 1"\nthreshold = "v > 1"\nreset = "v -= 1"\n')
    with pytest.raises(BrainyoloError, match="'negative_value' must be 1/n for n = 1, 2, 4") as err:
        load_neuron_model(path)
    assert "bad.toml" in str(err.value)


def test_a_negative_value_is_the_files_entry_in_the_namespace_and_the_units(tmp_path):
    """Declared, the name is the entry (a model may not define it) and the group's namespace holds it; a connection
    from the group adds n units per positive spike and one per negative spike."""
    from brainyolo.spiking.event_spaces import event_spaces, units_per_step

    path = tmp_path / "own.toml"
    path.write_text('negative_value = 0.25\nmodel = "v : 1\\nnegative_value : 1"\nthreshold = "v > 1"\n')
    with pytest.raises(BrainyoloError, match="the name 'negative_value' is the file's entry"):
        load_neuron_model(path)
    for events in ("", '[events.negative_spike]\ncondition = "v < -1"\nreset = "v += 1"\n'):  # none, or not read
        path.write_text(f'negative_value = 0.5\nmodel = "v : 1"\nthreshold = "v > 1"\nreset = "v -= 1"\n{events}')
        with pytest.raises(BrainyoloError, match="needs a negative_spike event and conditions or resets that read it"):
            load_neuron_model(path)
    with pytest.raises(BrainyoloError, match="declares no 'negative_value'"):  # a pool neuron file of its own, say
        load_neuron_model("if_signed_ibt", negative_value=0.5)
    model = load_neuron_model(LATE)
    assert model.negative_value == 1.0 and model.negative_divisions == 1
    assert load_neuron_model(LATE, negative_value=0.25).negative_divisions == 4
    brian2.start_scope()
    half = neuron_group(load_neuron_model(LATE, burst=2, negative_value=0.5), 3, t_run=16 * brian2.ms)
    assert half.namespace["negative_value"] == 0.5
    assert [(sign, spikes, units) for _, sign, spikes, units, _ in event_spaces(half)] == [
        ("+", 1, 2), ("+", 2, 4), ("-", 1, 1), ("-", 2, 2)]
    assert units_per_step(half) == 4  # two spikes of two units: the fixed-point sums' bound
    assert "negative_value" not in neuron_group(load_neuron_model("if_signed_ibt"), 1).namespace


def test_a_finer_negative_grid_reaches_a_convolution_as_brian2s_own_synapses_add_it():
    """Late neurons with ``negative_value = 0.5`` firing from the first step (dyadic currents of either sign, bursts
    of up to 2) into a 3x3 convolution: :class:`SharedConvolution` (positive spikes two units, negative ones one) and
    Brian2's unrolled ``Synapses`` (a pathway per event) give the same membranes, and each membrane is the convolution
    of the sources' values, a negative spike worth half a positive one (by hand)."""
    from brainyolo.ann.reference import conv2d
    from brainyolo.spiking import to_neuron_order
    from brainyolo.spiking.connections import SharedConvolution
    from brainyolo.spiking.unrolled import unrolled_conv_synapses

    brian2.start_scope()
    brian2.prefs.codegen.target = "numpy"
    rng = np.random.default_rng(21)
    in_shape, steps = (2, 5, 4), 8
    weight = rng.integers(-32, 33, (3, 2, 3, 3)) / 16
    currents = rng.integers(-96, 97, int(np.prod(in_shape))) / 64
    model = load_neuron_model(LATE, burst=2, negative_value=0.5)
    integrate = load_neuron_model("integrate")
    built = {}
    for kind in ("shared", "unrolled"):
        source = neuron_group(model, len(currents), alpha=1.0, quiet=0.0, settle=0.0, t_run=steps * brian2.ms,
                              name=f"{kind}_source")
        source.I = currents
        target = neuron_group(integrate, 3 * 5 * 4, name=f"{kind}_target")
        connection = (SharedConvolution(source, target, weight, in_shape, 1, 1, name=f"{kind}_conv") if kind == "shared"
                      else unrolled_conv_synapses(source, target, weight, in_shape, 1, 1, name=f"{kind}_conv"))
        built[kind] = (source, target, connection)
    brian2.Network(*[o for objects in built.values() for o in objects]).run(steps * brian2.ms)
    shared, unrolled = built["shared"][1].v[:], built["unrolled"][1].v[:]
    np.testing.assert_array_equal(shared, unrolled)
    q = np.asarray(built["shared"][0].q[:])
    assert np.any(q % 1 != 0)  # half-threshold negative spikes were sent
    values = np.zeros(in_shape)  # the sources' net values (q thresholds each), channel-major
    values.reshape(-1)[:] = q.reshape(in_shape[1], in_shape[2], in_shape[0]).transpose(2, 0, 1).ravel()
    assert np.array_equal(to_neuron_order(values), q)
    # every step's spikes add their value: the membrane is the convolution of the values sent over the run
    np.testing.assert_array_equal(shared, to_neuron_order(conv2d(values, weight, np.zeros(3), 1, 1)))


@pytest.mark.parametrize(("channels", "negative"), [(False, 1.0), (True, 1.0), (False, 0.5)],
                         ids=["layers", "channels-balanced", "negative-half"])
def test_net_counts_at_the_end_are_the_rounded_ann(tiny_converted, tmp_path, channels, negative):
    """The reduced yolov3-tiny, same-step schedule, 12 steps (quiet for 9): every hidden layer's net count at
    the end is its ANN output rounded to multiples of v_th / T with every layer below rounded too
    (:func:`~brainyolo.convert.balancing.rounded_forward`: the model the balancing uses), where the holding
    tracking neuron of the fast preset is not. With channel scales in the model file (``convert
    --balance-channels``; random ones here) the same holds on each channel's own grid, with the neuron firing in
    the last step only (quiet for 11/12, bursts of up to 24: the counts of 2 a step at once; with 3 firing steps
    a count that must move by more than a burst in the last step would fall short). With ``negative_value = 0.5``
    (also firing in the last step only) a negative spike stands for half a threshold: each layer's negative side is
    rounded on a grid twice as fine, through the convolutions, max-pools and relays."""
    from dataclasses import replace

    from test_burst import _network_run

    from brainyolo.analysis.spikes import load_run, net_spike_counts
    from brainyolo.ann.letterbox import letterbox, load_image
    from brainyolo.ann.reference import forward
    from brainyolo.convert.balancing import quantize, rounded_forward
    from brainyolo.convert.model_file import load_model, save_model
    from brainyolo.spiking.builder import hidden_layers, output_layers

    steps = 12
    model_path, images = tiny_converted
    model = load_model(model_path)
    if channels:
        rng = np.random.default_rng(8)
        scales = {i: rng.uniform(0.5, 2.0, model.graph.layers[i].filters) for i in hidden_layers(model.graph)}
        model = replace(model, thresholds=replace(model.thresholds, channel_scale=scales))
        model_path = tmp_path / "channels.h5"
        save_model(model, model_path)
        tiny_converted = (model_path, images)
    norm = "channel-balanced" if channels else None
    graph = model.normalized_graph(norm)
    hidden = hidden_layers(graph)
    outputs, _ = rounded_forward(graph, model.lambdas(norm), letterbox(load_image(images[0]), 96, 96)[0],
                                 dict.fromkeys(hidden, 1.0), steps, burst=2)
    neuron = tmp_path / "late.toml"  # the file, firing in 3 steps with bursts of 8 (its channels: 1 step, 24)
    text = (EQUATIONS / f"{LATE}.toml").read_text()
    burst, quiet = ("24", "0.9") if channels or negative != 1 else ("8", "0.75")
    neuron.write_text(text.replace("\nburst = 64\n", f"\nburst = {burst}\n").replace('quiet = "0.875"',
                                                                                     f'quiet = "{quiet}"')
                      .replace("\nnegative_value = 1\n", f"\nnegative_value = {negative:g}\n"))
    assert f"\nnegative_value = {negative:g}\n" in neuron.read_text()
    assert f"\nburst = {burst}\n" in neuron.read_text() and f'quiet = "{quiet}"' in neuron.read_text()
    late = _network_run(tiny_converted, tmp_path, "late", neuron, steps=steps, normalization=norm)
    nets = {i: late[f"{i:02d}"]["positive_count"] - negative * late[f"{i:02d}"]["negative_count"] for i in hidden}
    # the recordings say what a -1 spike stood for in every layer (the pools and relays: their sources' value; the
    # output layers' own neuron, which integrates for the Vmem read-out, has no finer grid), as load_run reads them
    read_out = {f"{i:02d}" for i in output_layers(graph)}
    assert read_out and {name: float(layer["negative_value"]) for name, layer in late.items()} == {
        name: 1.0 if name in read_out else negative for name in late}
    spikes = json.loads((tmp_path / "late" / "run_info.json").read_text())["layer_spikes"]
    assert {name.zfill(2): totals["negative_value"] for name, totals in spikes.items()} == {
        name: float(layer["negative_value"]) for name, layer in late.items()}
    loaded = load_run(tmp_path / "late", model_path).images[0].layers
    assert {f"{i:02d}": layer["negative_value"] for i, layer in loaded.items()} == {
        name: float(layer["negative_value"]) for name, layer in late.items()}
    for index in hidden:
        np.testing.assert_array_equal(net_spike_counts(loaded[index]), nets[index])
    # each layer by itself: its count is its input from the spiking counts below, rounded (up to 8 spikes in each
    # of the 3 steps after the quiet 9: at most 2 a step's worth), except within 1e-3 of a tie (float32 state)
    checked = []

    def own_rounding(index, out):
        if index not in nets:
            return out
        exact = out * steps
        net = nets[index].reshape(out.shape)
        counts = np.rint(quantize(np.maximum(out, 0), 1.0, steps, 2) * steps) \
            + negative * np.rint(quantize(np.minimum(out, 0), negative, steps, 2) * steps / negative)
        differ = net != counts  # (multiples of 1/2: exact in floating point)
        grid = np.where(out < 0, negative, 1.0)[differ]
        assert np.all(np.abs(np.abs(exact[differ] / grid) % 1 - 0.5) < 1e-3), f"layer {index}"
        checked.append(index)
        return net / steps

    forward(graph, letterbox(load_image(images[0]), 96, 96)[0].astype(np.float64), capture=True, dtype=np.float64,
            after=own_rounding)
    assert checked == hidden
    if negative != 1:  # and the negative side was needed on its finer grid
        assert any(np.any(nets[i] % 1 != 0) for i in hidden)
    if not channels and negative == 1:  # and here no tie is that close: the whole network is its rounded ANN
        for index in hidden:
            np.testing.assert_array_equal(nets[index], np.rint(outputs[index] * steps), err_msg=f"layer {index}")
    assert max(int(np.abs(late[f"{i:02d}"]["positive_count"]).max()) for i in hidden) > steps  # bursts were needed
    quiet = 11 if channels or negative != 1 else 9
    for index in hidden:  # the simulator set the run's length: quiet for 9 (11) of the 12 steps, firing after
        name = f"{index:02d}"
        for sign in ("positive", "negative"):
            assert not late[name][f"population_{sign}"][:quiet].any(), (name, sign)
        assert late[name]["population_positive"][quiet:].any(), name
    if channels or negative != 1:
        return
    held = _network_run(tiny_converted, tmp_path, "held", preset_neuron(tmp_path), steps=steps)
    assert any(np.any(held[f"{i:02d}"]["positive_count"] - held[f"{i:02d}"]["negative_count"]
                      != late[f"{i:02d}"]["positive_count"] - late[f"{i:02d}"]["negative_count"]) for i in hidden)


def preset_neuron(tmp_path):
    """The fast preset's neuron as a file of its own (the runtime takes a file's values: V(0) = 0.5, holding)."""
    text = (EQUATIONS / "if_signed_ibt_tracking.toml").read_text()
    for key, value in (("v_init", "0.5"), ("hold_positive", "1")):
        text = re.sub(rf'(?m)^{key} = ".*"$', f'{key} = "{value}"', text)
    path = tmp_path / "held.toml"
    path.write_text(text)
    return path


@pytest.mark.long
@pytest.mark.standalone_only
def test_cpp_standalone_runs_any_step_count_on_one_binary_as_the_runtime(tiny_converted, tmp_path, monkeypatch):
    """The run's length is a run-time input: one binary runs 12 and then 16 steps (quiet for 10 and 14), each
    spike for spike as Brian2's numpy runtime (fused thresholder and resets included; in C++ the quiet steps run
    the state update alone: the thresholder's gate)."""
    from brainyolo.convert.model_file import load_model
    from brainyolo.spiking.builder import hidden_layers
    from brainyolo.spiking.settings import BuildOptions
    from brainyolo.spiking.simulate import SimulationSettings, Simulator

    monkeypatch.setenv("BRAINYOLO_CACHE", str(tmp_path / "cache"))  # this network's own build
    model_path, images = tiny_converted
    counts, binaries = {}, set()
    for device in ("runtime", "cpp_standalone"):
        for steps in (12, 16):
            settings = SimulationSettings(steps=steps, device=device, threads=2,
                                          build=BuildOptions(neuron=LATE, schedule="same_step"))
            with Simulator(model_path, settings) as simulator:
                layers = simulator.run(images[0]).data["layers"]
                if device == "cpp_standalone":
                    binaries.add((simulator._runner.directory / "main").stat().st_mtime_ns)
                    code = simulator._runner.directory / "code_objects"
            counts[device, steps] = {i: (layer["positive_count"], layer["negative_count"])
                                     for i, layer in layers.items() if "positive_count" in layer}
    assert len(binaries) == 1
    # every layer of late neurons tests "firing > 0" once per step, and in the quiet steps only integrates
    hidden = hidden_layers(load_model(model_path).graph)
    assert hidden and all("_gate_open" in (code / f"layer{i:02d}_signed_thresholder_codeobject.cpp").read_text()
                          for i in hidden)
    # and finds a burst's count by binary search: 7 conditions for 64 levels, not their sum
    thresholder = (code / f"layer{hidden[0]:02d}_signed_thresholder_codeobject.cpp").read_text()
    assert "_levels_spike_64" in thresholder and "_levels_negative_spike_1" in thresholder
    for steps in (12, 16):
        for index, (positive, negative) in counts["runtime", steps].items():
            standalone = counts["cpp_standalone", steps][index]
            np.testing.assert_array_equal(positive, standalone[0], err_msg=f"{steps} steps, layer {index}")
            np.testing.assert_array_equal(negative, standalone[1], err_msg=f"{steps} steps, layer {index}")
    assert any(np.any(counts["runtime", 12][i][0] != counts["runtime", 16][i][0]) for i in counts["runtime", 12])


@pytest.mark.long
@pytest.mark.standalone_only
def test_cpp_standalone_sends_a_quarter_negative_grid_as_the_runtime(tiny_converted, tmp_path, monkeypatch):
    """With ``negative_value = 0.25`` (16 steps, firing in the last step with bursts of up to 128) the C++
    convolutions, max-pools and relays add a positive spike's four units and a negative spike's one as Brian2's numpy
    runtime does: every layer's spike counts are the same, and negative spikes were sent."""
    from brainyolo.spiking.settings import BuildOptions
    from brainyolo.spiking.simulate import SimulationSettings, Simulator

    monkeypatch.setenv("BRAINYOLO_CACHE", str(tmp_path / "cache"))
    neuron = tmp_path / "late-quarter.toml"
    text = (EQUATIONS / f"{LATE}.toml").read_text()
    neuron.write_text(text.replace("\nnegative_value = 1\n", "\nnegative_value = 0.25\n")
                      .replace("\nburst = 64\n", "\nburst = 128\n").replace('quiet = "0.875"', 'quiet = "0.9375"'))
    assert "\nnegative_value = 0.25\n" in neuron.read_text() and "\nburst = 128\n" in neuron.read_text()
    model_path, images = tiny_converted
    counts = {}
    for device in ("runtime", "cpp_standalone"):
        settings = SimulationSettings(steps=16, device=device, threads=2,
                                      build=BuildOptions(neuron=str(neuron), schedule="same_step"))
        with Simulator(model_path, settings) as simulator:
            layers = simulator.run(images[0]).data["layers"]
        counts[device] = {i: (layer["positive_count"], layer["negative_count"])
                          for i, layer in layers.items() if "positive_count" in layer}
    assert counts["runtime"].keys() == counts["cpp_standalone"].keys()
    for index, (positive, negative) in counts["runtime"].items():
        np.testing.assert_array_equal(positive, counts["cpp_standalone"][index][0], err_msg=f"layer {index}")
        np.testing.assert_array_equal(negative, counts["cpp_standalone"][index][1], err_msg=f"layer {index}")
    assert sum(int(np.sum(negative)) for _, negative in counts["runtime"].values()) > 0


def test_a_route_joining_two_negative_grids_is_refused_before_anything_is_built(tiny_converted, tmp_path):
    """``layer_neurons`` that give one layer feeding a route a finer negative grid than the other: one error line
    naming the route and both grids (the route's relays count in one grid); the same file for every layer is
    fine."""
    from brainyolo.ann.graph import Route
    from brainyolo.convert.model_file import load_model
    from brainyolo.spiking.builder import hidden_layers, layer_models
    from brainyolo.spiking.settings import BuildOptions

    half = tmp_path / "late-half.toml"
    half.write_text((EQUATIONS / f"{LATE}.toml").read_text().replace("\nnegative_value = 1\n",
                                                                     "\nnegative_value = 0.5\n"))
    graph = load_model(tiny_converted[0]).graph
    hidden = hidden_layers(graph)
    route = next(i for i, layer in enumerate(graph.layers) if isinstance(layer, Route) and len(layer.inputs) > 1)
    source = graph.layers[route].inputs[-1]
    while source not in hidden:  # through the max-pools and upsamplings to the convolution that feeds the route
        source = graph.layers[source].inputs[0]
    with pytest.raises(BrainyoloError, match=rf"route {route} joins layers whose negative spikes stand for "
                                             r"different fractions \(1/1 and 1/2 of a spike\)"):
        layer_models(graph, BuildOptions(neuron=LATE, layer_neurons=((source, str(half)),)))
    everywhere = layer_models(graph, BuildOptions(neuron=str(half), layer_neurons=((source, str(half)),)))[0]
    assert everywhere[source].negative_value == 0.5


def test_check_names_a_finer_negative_grid(tmp_path):
    from conftest import run_cli

    half = tmp_path / "late-half.toml"
    half.write_text((EQUATIONS / f"{LATE}.toml").read_text().replace("\nnegative_value = 1\n",
                                                                     "\nnegative_value = 0.5\n"))
    code, stdout, stderr = run_cli(["check", str(half), str(EQUATIONS / f"{LATE}.toml")])
    assert (code, stderr) == (0, "")
    first, second = stdout.splitlines()
    assert first.startswith(f"{half}: ok: neuron model (signed, bursts of up to 64 spikes, a -1 spike worth 1/2 "
                            "of a +1 spike), parameters ")
    assert second.startswith(f"{EQUATIONS / LATE}.toml: ok: neuron model (signed, bursts of up to 64 spikes), ")
