"""Biological detail as files: synapse models, delays, stochastic release, refractoriness, noise.

Each against a closed form: an exponential (alpha) synapse's current after one spike, its total
charge; a delay's exact shift of every downstream spike train; a refractory neuron's rate bound;
release counts within binomial error; the noisy integrator's variance sigma**2 * t.
"""

from __future__ import annotations

import brian2
import h5py
import numpy as np
import pytest

from brainyolo.convert.model_file import load_model, save_model
from brainyolo.detector import simulate
from brainyolo.io.errors import BrainyoloError
from brainyolo.spiking.builder import add_synaptic_state
from brainyolo.spiking.connections import SharedConvolution, release_mask
from brainyolo.spiking.neurons import load_neuron_model, neuron_group
from brainyolo.spiking.parameters import ParameterSettings, parse_setting
from brainyolo.spiking.settings import BuildOptions
from brainyolo.spiking.simulate import SimulationSettings
from brainyolo.spiking.synapses import compose, load_synapse_model

pytestmark = [pytest.mark.codegen_independent, pytest.mark.usefixtures("numpy_runtime")]


def _one_spike_response(synapse_name: str, weight: float, steps: int, when: str = "start", **parameters):
    """A 1x1 convolution of weight ``weight`` from one neuron that spikes once (step 0) into an
    integrate-only neuron with ``synapse_name`` synapses: its state per step, recorded at each step's start."""
    synapse = load_synapse_model(synapse_name)
    target_model = compose(load_neuron_model("integrate"), synapse)
    source = brian2.SpikeGeneratorGroup(1, [0], [0] * brian2.ms, dt=1 * brian2.ms)
    target = neuron_group(target_model, 1, **parameters)
    target.I = 0
    add_synaptic_state(target, synapse, target_model.input)
    connection = SharedConvolution(source, target, np.full((1, 1, 1, 1), weight), (1, 1, 1),
                                   target_variable=synapse.target or "v")
    names = ["v"] + ([] if synapse.instant else [n for n in brian2.Equations(synapse.model).diff_eq_names])
    monitor = brian2.StateMonitor(target, names, record=0, when=when)
    brian2.Network(source, target, connection, monitor).run(steps * brian2.ms)
    return {name: getattr(monitor, name)[0] for name in names}


def test_exponential_synapse_response_is_w_exp_minus_t_over_tau():
    w, tau, steps = 0.75, 3.0, 40  # w on the fixed-point grid: delivered exactly
    trace = _one_spike_response("exponential", w, steps, tau_syn=tau * brian2.ms)
    k = np.arange(steps)
    # delivered at the end of step 0: from step 1 on, I_syn = w * exp(-(t - 1 ms) / tau)
    expected = np.where(k >= 1, w * np.exp(-(k - 1) / tau), 0.0)
    np.testing.assert_allclose(trace["I_syn"], expected, rtol=1e-12, atol=0)
    # each step the membrane gets the exact integral of I_syn / tau over the step; in all w
    charge = np.diff(trace["v"])
    np.testing.assert_allclose(charge[1:], expected[1:-1] * (1 - np.exp(-1 / tau)), rtol=1e-12, atol=1e-15)
    assert trace["v"][-1] == pytest.approx(w * (1 - np.exp(-(steps - 2) / tau)), rel=1e-12)


def test_alpha_synapse_response_and_total_charge():
    w, tau, steps = 0.5, 2.0, 60
    trace = _one_spike_response("alpha", w, steps, tau_syn=tau * brian2.ms)
    t = np.arange(steps) - 1.0
    expected = np.where(t >= 0, w * (t / tau) * np.exp(-t / tau), 0.0)
    np.testing.assert_allclose(trace["I_syn"], expected, rtol=1e-10, atol=1e-15)
    assert trace["I_syn"].argmax() == 1 + tau  # the peak at tau_syn
    assert trace["v"][-1] == pytest.approx(w, rel=1e-9)  # one spike delivers w in all


def test_conductance_synapse_follows_its_driving_force():
    """Each step the membrane gets the exponential current's charge c_k times (1 - v / E_exc): the product
    rule 1 - v_end / E = prod_k (1 - c_k / E), computed by hand; far reversal potentials give the current."""
    w, tau, steps = 0.75, 2.0, 40
    k = np.arange(1, steps - 1)
    charges = w * (1 - np.exp(-1 / tau)) * np.exp(-(k - 1) / tau)
    for e_exc in (1.0, 4.0):
        trace = _one_spike_response("conductance", w, steps, tau_syn=tau * brian2.ms, E_exc=e_exc, E_inh=-20.0)
        assert trace["v"][-1] == pytest.approx(e_exc * (1 - np.prod(1 - charges / e_exc)), rel=1e-12)
        assert trace["v"][-1] < w
        brian2.start_scope()
    far = _one_spike_response("conductance", w, steps, tau_syn=tau * brian2.ms, E_exc=1e12, E_inh=-1e12)
    brian2.start_scope()
    current = _one_spike_response("exponential", w, steps, tau_syn=tau * brian2.ms)
    np.testing.assert_allclose(far["v"], current["v"], rtol=1e-9)


def test_a_vanishing_time_constant_is_the_instant_synapse():
    """What the thresholds see: the membrane just before them, step by step."""
    instant = _one_spike_response("instant", 0.75, 6, when="before_thresholds")
    brian2.start_scope()
    fast = _one_spike_response("exponential", 0.75, 6, when="before_thresholds", tau_syn=1e-6 * brian2.ms)
    np.testing.assert_array_equal(instant["v"], fast["v"])


@pytest.mark.parametrize("text, message", [
    ('model = "dI_syn/dt = -I_syn**2 / tau_syn : 1\\ntau_syn : second (shared, constant)"\ntarget = "I_syn"\n'
     'charge = "I_syn"\n[parameters]\ntau_syn = "2*ms"\n', "no exact solution"),
    ('model = "dI_syn/dt = -I_syn / tau_syn : 1\\ntau_syn : second (shared, constant)"\ntarget = "x"\n'
     'charge = "I_syn"\n[parameters]\ntau_syn = "2*ms"\n', "target 'x' is not"),
    ('model = "dI_syn/dt = -I_syn / tau_syn : 1\\ntau_syn : second (shared, constant)"\ntarget = "I_syn"\n'
     'charge = "I_syn"\n', "has no value in [parameters]"),
    ('model = ""\nwhatever = 1\n', "unknown keys"),
    ('model = ""\n[parameters]\ndelay = "3"\n', "every synapse's own"),
    ('model = "dI_syn/dt = -I_syn / tau_syn : 1\\ntau_syn : second (shared, constant)"\n'
     '[parameters]\ntau_syn = "2*ms"\n', "needs 'target'"),
])
def test_bad_synapse_files_are_one_error_naming_the_file(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(BrainyoloError, match="bad.toml") as err:
        load_synapse_model(path)
    assert message in str(err.value)


def _counting_convolution(release: float, steps: int, seed: int = 0):
    """Every one of 2 x 8 x 8 source neurons spikes at every step into a 3x3 convolution (4 filters)."""
    source = brian2.NeuronGroup(2 * 8 * 8, "", threshold="True", dt=1 * brian2.ms)
    target = neuron_group(load_neuron_model("integrate"), 4 * 8 * 8)
    target.I = 0
    connection = SharedConvolution(source, target, np.full((4, 2, 3, 3), 0.25), (2, 8, 8), pad=1)
    connection.release = release
    connection.seed = seed
    connection.scale = np.full(2, 1.0 / release)  # as the builder sets it: w / p per transmitted spike
    brian2.Network(source, target, connection).run(steps * brian2.ms)
    attempts = steps * 4 * sum(int(n) for n in np.outer(*[np.array([2, 3, 3, 3, 3, 3, 3, 2])] * 2).ravel()) * 2
    return int(connection.synaptic_events[0]), attempts, np.asarray(target.v[:])


def test_release_probability_within_binomial_error():
    steps = 20
    _, attempts, full = _counting_convolution(1.0, steps)
    for p in (0.3, 0.8):
        delivered, attempts, v = _counting_convolution(p, steps)
        sigma = np.sqrt(attempts * p * (1 - p))
        assert abs(delivered - p * attempts) < 4 * sigma, (p, delivered, attempts)
        # transmitted spikes carry w / p: the mean input is the reliable network's
        assert abs(v.sum() / full.sum() - 1) < 4 * sigma / (p * attempts)
        assert not np.array_equal(v, full)
    # reproducible per seed, different between seeds
    again = _counting_convolution(0.5, 4, seed=3)
    assert again[0] == _counting_convolution(0.5, 4, seed=3)[0]
    np.testing.assert_array_equal(again[2], _counting_convolution(0.5, 4, seed=3)[2])
    assert not np.array_equal(again[2], _counting_convolution(0.5, 4, seed=4)[2])


def test_release_mask_is_independent_of_order():
    pre, post = np.repeat(np.arange(50), 40), np.tile(np.arange(40), 50)
    mask = release_mask(7, 123, 5, pre, post, 0.4)
    order = np.random.default_rng(0).permutation(len(pre))
    np.testing.assert_array_equal(release_mask(7, 123, 5, pre[order], post[order], 0.4), mask[order])
    assert abs(mask.mean() - 0.4) < 4 * np.sqrt(0.24 / len(mask))
    assert not np.array_equal(mask, release_mask(7, 123, 6, pre, post, 0.4))  # another step, other draws


@pytest.mark.parametrize("t_ref", [0, 1, 3])
def test_refractory_rate_never_exceeds_the_bound(t_ref):
    steps = 60
    group = neuron_group(load_neuron_model("if_signed_ibt_refractory"), 4, t_ref=t_ref * brian2.ms)
    group.I = [0.25, 0.9, 5.0, -50.0]
    spikes, negative = brian2.SpikeMonitor(group), brian2.EventMonitor(group, "negative_spike")
    brian2.Network(group, spikes, negative).run(steps * brian2.ms)
    counts = np.bincount(spikes.i, minlength=4) + np.bincount(negative.i, minlength=4)
    bound = steps / (1 + t_ref)
    assert counts.max() <= np.ceil(bound)
    assert counts[2] == np.ceil(bound) and counts[3] == np.ceil(bound)  # strong inputs fire at the bound
    assert counts[0] == 0.25 * steps  # a weak input is not limited (a spike every 4 steps)


def test_noisy_integrator_variance_grows_as_sigma_squared_t():
    brian2.seed(11)
    n, sigma, steps = 20000, 0.2, 50
    group = neuron_group(load_neuron_model("lif_signed_ibt_noise"), n, v_th=1e9, alpha=1.0, sigma=sigma,
                         tau=1e9 * brian2.second)
    group.I = 0
    monitor = brian2.StateMonitor(group, "v", record=True, when="end")
    brian2.Network(group, monitor).run(steps * brian2.ms)
    variance = monitor.v[:, [9, 24, 49]].var(axis=0)
    expected = sigma**2 * np.array([10, 25, 50])
    # the sample variance of n normal values: relative standard error sqrt(2 / n) = 1 %
    np.testing.assert_allclose(variance, expected, rtol=5 * np.sqrt(2 / n))
    assert abs(monitor.v[:, -1].mean()) < 5 * sigma * np.sqrt(50 / n)


# --- whole networks -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def no_bias(tmp_path_factory, tiny_cfg_text):
    """The reduced yolov3-tiny with every convolution's bias 0 (a neuron's own bias would fire it with no
    input, which no delay shifts) and an image."""
    from conftest import write_images, write_random_model

    from brainyolo.ann.graph import Conv
    from brainyolo.convert.conversion import convert_darknet

    folder = tmp_path_factory.mktemp("biology")
    cfg, weights = write_random_model(tiny_cfg_text, folder / "m", seed=11, names=["a", "b", "c"])
    images = write_images(folder / "calib", 4, seed=5)
    model = convert_darknet(cfg, weights, images, "channel", 99.9, progress=False)
    save_model(model, folder / "with-bias.h5")
    for layer in model.graph.layers:
        if isinstance(layer, Conv):
            layer.bias = np.zeros_like(layer.bias)
    save_model(model, folder / "m.h5")
    return folder / "m.h5", images[0], folder / "with-bias.h5"


def _run(model_path, image, out, steps, build=None, settings=(), device="runtime", checkpoints=()):
    parameters = ParameterSettings()
    for text in settings:
        parameters = parameters + parse_setting(text)
    simulate(model_path, [image], SimulationSettings(steps=steps, device=device, build=build or BuildOptions(),
                                                     parameters=parameters,
                                                     checkpoints=checkpoints, threads=1), out, progress=False)
    with h5py.File(out / "recordings.h5") as f:
        layers = f["images/0000/layers"]
        series = {int(k): layers[k]["population_positive"][()] - layers[k]["population_negative"][()]
                  for k in layers}
        outputs = {int(k): f["images/0000/output"][k]["v"][()] for k in f["images/0000/output"]}
    return series, outputs


def test_a_delay_shifts_every_downstream_spike_train_by_exactly_d(no_bias, tmp_path):
    model_path, image, _ = no_bias
    steps, d = 30, 3
    base, _ = _run(model_path, image, tmp_path / "base", steps)
    late, _ = _run(model_path, image, tmp_path / "late", steps, BuildOptions(max_delay=4), ["2.delay=3"])
    downstream = [i for i in base if i >= 2]
    assert sum(np.abs(base[i]).sum() for i in downstream) > 500  # the shifted trains hold spikes
    for i in base:
        if i < 2:
            np.testing.assert_array_equal(late[i], base[i], err_msg=f"layer {i} is upstream")
        else:
            np.testing.assert_array_equal(late[i][d:], base[i][:steps - d], err_msg=f"layer {i}")
            assert not late[i][:d].any()


def test_the_decoder_counts_synaptic_delays(no_bias):
    from brainyolo.readout.decoding import Decoder

    model = load_model(no_bias[0])
    plain, delayed = Decoder.for_model(model), Decoder.for_model(model, synaptic_delays={2: 3, 12: 2})
    for index in (12, 19):  # the two output layers: every path to 12 crosses 2 and 12; to 19 it crosses 2
        assert delayed.output_delay(index) - plain.output_delay(index) == (5 if index == 12 else 3)


def test_synapse_parameters_are_checked_before_anything_runs(no_bias, tmp_path, capsys):
    from brainyolo.cli import main

    model_path, image, _ = no_bias
    for k, (settings, message) in enumerate([(["--set", "*.delay=2", "--max-delay", "1"], None),
                              (["--set", "*.release=1.5"], "at most 1"),
                              (["--set", "*.tau_syn=2*ms"], "'tau_syn' is not a parameter"),
                              (["--synapse", "exponential", "--set", "12.v_th=2"], "output layer"),
                              (["--synapse", "nonesuch"], "no such synapse model")]):
        out = tmp_path / f"out{k}"
        code = main(["simulate", str(model_path), str(image), "--steps", "4", "--device", "runtime", "-q",
                     "-o", str(out), *settings])
        if message is None:  # --max-delay grows to the settings' largest delay
            assert code == 0 and out.exists()
        else:
            assert code == 2 and not out.exists(), settings
            assert message in capsys.readouterr().err, settings


@pytest.fixture
def build_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINYOLO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _series(data) -> dict:
    return {i: layer["population_positive"] - layer["population_negative"] for i, layer in data["layers"].items()}


@pytest.mark.long
@pytest.mark.standalone_only
def test_standalone_equals_runtime_with_synapses_delays_and_release(no_bias, tmp_path, build_cache):
    """One C++ build (exponential synapses, room for 2-step delays) runs the defaults and then other
    delays, release, seed and time constants without recompiling; each equals the numpy runtime (the
    spikes exactly: fixed-point sums and the order-free release hash; v to float32 rounding of exp)."""
    from brainyolo.spiking.simulate import Simulator

    _, image, model_path = no_bias
    settings = SimulationSettings(steps=24, device="cpp_standalone", threads=2,
                                  build=BuildOptions(synapse="exponential", max_delay=2))
    changed = ParameterSettings()
    for text in ("*.delay=2", "*.release=0.7", "*.seed=5", "*.tau_syn=4*ms"):
        changed = changed + parse_setting(text)
    with Simulator(model_path, settings) as simulator:
        results = [simulator.run(image), simulator.run(image, simulator.resolve_parameters(changed))]
    assert results[1].timing["build_seconds"] == 0
    for result, parameters in zip(results, (ParameterSettings(), changed), strict=True):
        with Simulator(model_path, SimulationSettings(steps=24, device="runtime", parameters=parameters,
                                                      build=settings.build)) as runtime:
            expected = runtime.run(image)
        for i, train in _series(expected.data).items():
            np.testing.assert_array_equal(_series(result.data)[i], train, err_msg=f"layer {i}")
        for i, out in expected.data["output"].items():
            ours = result.data["output"][i]["v"]
            assert ours.dtype == out["v"].dtype == np.float32  # the default precision
            # the synaptic state's exp() rounds in C++ and in numpy alike up to a few units in the last place
            eps = np.finfo(ours.dtype).eps
            np.testing.assert_allclose(ours, out["v"], rtol=8 * eps, atol=8 * eps)
    assert not np.array_equal(_series(results[0].data)[2], _series(results[1].data)[2])


def test_run_file_sweeps_synapses_and_settings_with_one_build_each(tmp_path, tiny_cfg_text):
    """``[grid] synapse`` x ``[grid] settings``: the combinations whose files have the parameters run
    (the instant synapse without a tau_syn setting), every build has room for the grid's largest delay,
    and each swept parameter gets its figure; a setting no file has is refused."""
    import json

    from conftest import write_random_model

    from brainyolo.cli import main
    from brainyolo.data import scenes
    from brainyolo.experiments.run_file import config_name, load_run_file

    cfg, weights = write_random_model(tiny_cfg_text, tmp_path / "m", seed=2, names=["a", "b", "c"])
    scenes.write_scenes(tmp_path / "val", 2, 5)
    for label in (tmp_path / "val" / "labels").iterdir():  # the test model has 3 classes
        rows = np.loadtxt(label, ndmin=2)
        rows[:, 0] %= 3
        np.savetxt(label, rows, fmt="%d %.6f %.6f %.6f %.6f")
    head = ('name = "sweep"\npreset = "paper"\n[model]\ncfg = "m/model.cfg"\nweights = "m/model.weights"\n'
            '[calibration]\nscenes = 2\nseed = 1\n[images]\nfolder = "val/images"\nlabels = "val/labels"\n'
            '[simulation]\nsteps = 12\ncheckpoints = [6]\ndevice = "runtime"\n[monitors]\nrecord_images = 0\n')
    run_file = tmp_path / "sweep.toml"
    run_file.write_text(head + '[grid]\nsynapse = ["instant", "exponential"]\n'
                               'settings = ["", "*.tau_syn=4*ms", "*.delay=2"]\n')
    spec = load_run_file(run_file)
    assert [config_name(*c) for c in spec.configurations()] == [
        "channel-if_signed_ibt-vmem", "channel-if_signed_ibt-vmem-delay=2", "channel-if_signed_ibt-vmem-exponential",
        "channel-if_signed_ibt-vmem-exponential-tau_syn=4ms", "channel-if_signed_ibt-vmem-exponential-delay=2"]
    assert spec.max_delay() == 2
    assert main(["run", str(run_file), "-q"]) == 0
    summary = json.loads((tmp_path / "sweep" / "summary.json").read_text())
    assert len(summary["configurations"]) == 5
    assert (tmp_path / "sweep" / "sweep_delay.png").stat().st_size > 0
    assert (tmp_path / "sweep" / "sweep_tau_syn.png").stat().st_size > 0
    run_file.write_text(head + '[grid]\nsettings = ["", "*.tau_syn=4*ms"]\n')
    with pytest.raises(BrainyoloError, match="no neuron or synapse file of the grid has"):
        load_run_file(run_file)


def test_release_gain_reaches_every_connection_of_the_layer(no_bias):
    """Transmitted spikes carry w / p on every connection into a layer with release p: from a spiking
    layer (its threshold times 1/p) and from input spikes (1/p), each with a grid that cannot overflow."""
    from brainyolo.spiking.builder import build_network

    model = load_model(no_bias[0])
    net = build_network(model, BuildOptions(input="poisson"))
    values = {index: {"release": 0.5} for index in (0, 2)}
    inputs = {id(view.variable): value for view, value in net.parameter_inputs(values).items()}
    for index in (0, 2):
        (connection,) = net.layers[index].connections
        given = {name: inputs[id(connection.variables[name])] for name in ("scale", "release", "input_shift")}
        np.testing.assert_array_equal(given["scale"], np.full(connection.in_shape[0], 2.0))
        assert given["release"][0] == 0.5
        assert given["input_shift"][0] < connection.input_shift[0]  # a coarser grid for values twice as large
