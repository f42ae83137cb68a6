"""Threshold balancing (brainyolo.convert.balancing) against hand-computed cases and brute-force counts."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_promise, run_cli

from brainyolo.ann.graph import INPUT, Conv
from brainyolo.ann.letterbox import letterbox, load_image
from brainyolo.ann.reference import forward
from brainyolo.convert.balancing import balance, channel_owners, detection_error, quantize, synaptic_events
from brainyolo.convert.model_file import load_model
from brainyolo.spiking.builder import hidden_layers

pytestmark = pytest.mark.codegen_independent


def test_quantize_rounds_to_the_nearest_spike_count_on_both_sides():
    """v_th 2.5, 64 steps: a spike carries 2.5/64 = 0.0390625 on average; halves go away from zero (the
    tracking neuron's floor(|x| T / v + 1/2) on both sides), at most one spike per step."""
    grid = 2.5 / 64
    values = np.array([0.3, -0.3, 0.5 * grid, -0.5 * grid, 0.49 * grid, 5.0, -5.0, 0.0])
    expected = np.array([8, -8, 1, -1, 0, 64, -64, 0]) * grid  # 0.3 / grid = 7.68
    np.testing.assert_array_equal(quantize(values, 2.5, 64), expected)


def test_quantize_with_bursts_clips_at_burst_spikes_per_step():
    """Bursts of up to 4 spikes a step, v_th 0.5, 16 steps: a spike carries 0.5/16 = 1/32; 0.3 is 9.6 grid steps
    (10 spikes), 1.5 is 48 (within 4 x 16 = 64), 3.0 is 96, clipped at 64 (2.0 = 4 v_th); one spike a step
    clips 1.5 at 16 (0.5 = v_th)."""
    grid = 0.5 / 16
    values = np.array([0.3, -1.5, 3.0, -3.0])
    np.testing.assert_array_equal(quantize(values, 0.5, 16, burst=4), np.array([10, -48, 64, -64]) * grid)
    np.testing.assert_array_equal(quantize(values, 0.5, 16), np.array([10, -16, 16, -16]) * grid)


def test_balance_is_the_hand_computed_lagrange_optimum():
    """C = (8, 1), e = (1, 8): v ∝ (C/e)^(1/3) = (2, 0.5) κ; events 8/(2κ) + 1/(0.5κ) = 6/κ, so a budget
    of 6 gives κ = 1. The modelled error 1·2² + 8·0.5² = 6 beats the uniform threshold with the same
    events (9/v = 6: v = 1.5, error 9·1.5² = 20.25). With v >= 1 the second layer sits at 1 and the
    first spends the rest: 8 / v1 = 5, v1 = 1.6."""
    cost, error = {0: 8.0, 1: 1.0}, {0: 1.0, 1: 8.0}
    free = balance(cost, error, 6.0, low=0.1, high=10.0)
    assert free == pytest.approx({0: 2.0, 1: 0.5}, rel=1e-9)
    modelled = sum(error[i] * v ** 2 for i, v in free.items())
    assert modelled == pytest.approx(6.0) and modelled < 9 * 1.5 ** 2
    assert balance(cost, error, 6.0, low=1.0, high=10.0) == pytest.approx({0: 1.6, 1: 1.0}, rel=1e-9)
    assert balance(cost, {0: 1.0, 1: 0.0}, 8.0 / 2 + 1 / 10, low=1.0, high=10.0) == pytest.approx({0: 2.0, 1: 10.0})


@pytest.mark.parametrize("budget", [0.8, 9.5])
def test_balance_refuses_a_budget_the_bounds_cannot_meet(budget):
    with pytest.raises(ValueError, match="outside what thresholds"):
        balance({0: 8.0, 1: 1.0}, {0: 1.0, 1: 1.0}, budget, low=1.0, high=10.0)


def _brute_force_events(graph, outputs, thresholds, steps, owner_of):
    """Every (spike, target) pair counted one by one: input neuron (c, y, x) of a convolution reaches
    filter f at output (oy, ox) when oy·stride − pad <= y < oy·stride − pad + k (and likewise x)."""
    events = dict.fromkeys(thresholds, 0.0)
    for layer in graph.layers:
        if not isinstance(layer, Conv) or layer.inputs[0] == INPUT:
            continue
        x = outputs[layer.inputs[0]]
        filters, _, k, _ = layer.weight.shape
        out_h = (x.shape[1] + 2 * layer.pad - k) // layer.stride + 1
        out_w = (x.shape[2] + 2 * layer.pad - k) // layer.stride + 1
        owners = owner_of(layer.inputs[0], x.shape[0])
        for c in range(x.shape[0]):
            if owners[c] < 0:
                continue
            for y in range(x.shape[1]):
                for xx in range(x.shape[2]):
                    spikes = abs(x[c, y, xx]) * steps / thresholds[owners[c]]
                    rows = sum(1 for oy in range(out_h) if 0 <= y - (oy * layer.stride - layer.pad) < k)
                    cols = sum(1 for ox in range(out_w) if 0 <= xx - (ox * layer.stride - layer.pad) < k)
                    events[owners[c]] += spikes * rows * cols * filters
    return events


def _hand_owners(graph, outputs):
    """``owner_of(index, channels)``: per channel of layer ``index``'s output, the convolution whose spikes it
    carries, traced by hand through the reduced yolov3-tiny's relays (pools, upsample, routes)."""
    def owner_of(index, channels):
        layer = graph.layers[index]
        if isinstance(layer, Conv):
            return [index] * channels
        if type(layer).__name__ == "Route":
            return [o for source in layer.inputs for o in owner_of(source, outputs[source].shape[0])]
        return owner_of(layer.inputs[0], channels)

    return owner_of


def test_synaptic_events_equal_a_brute_force_count(tiny_converted):
    """The reduced yolov3-tiny (pools, a stride-1 pool, upsample, a route of two layers), its ANN rounded
    at a different threshold per hidden layer: events per layer equal the pairs counted one by one."""
    model_path, images = tiny_converted
    graph = load_model(model_path).normalized_graph()
    hidden = hidden_layers(graph)
    steps = 16
    thresholds = {layer: 1.0 + 0.25 * n for n, layer in enumerate(hidden)}
    image = letterbox(load_image(images[0]), 96, 96)[0].astype(np.float64)

    def rounded(index, out):
        return quantize(out, thresholds[index], steps) if index in thresholds else out

    outputs = forward(graph, image, capture=True, dtype=np.float64, after=rounded)
    owners = channel_owners(graph, hidden)
    got = synaptic_events(graph, outputs, owners, thresholds, steps)

    expected = _brute_force_events(graph, outputs, thresholds, steps, _hand_owners(graph, outputs))
    assert set(got) == set(hidden) and got == pytest.approx(expected, rel=1e-12)
    route = next(i for i, layer in enumerate(graph.layers)
                 if type(layer).__name__ == "Route" and len(layer.inputs) == 2)
    assert len(set(owners[route])) == 2  # two owners behind one route: both charged
    assert all(expected[layer] > 0 for layer in hidden)


def test_detection_error_weights_box_and_class_changes_by_objectness():
    """One anchor, one cell, 2 classes (channels x, y, w, h, obj, c1, c2): a class change counts only as
    much as the cell's objectness; an objectness change counts in full."""
    base = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]).reshape(7, 1, 1)  # objectness 1/2
    changed_class = base.copy()
    changed_class[5] = np.log(3.0)  # sigmoid 0.75: squared change 1/16, weighted by 1/2
    assert detection_error([base], [changed_class], [1]) == pytest.approx(0.5 / 16)
    changed_size = base.copy()
    changed_size[2] = 0.2  # log-size change 0.2, weighted by 1/2
    assert detection_error([base], [changed_size], [1]) == pytest.approx(0.5 * 0.04)
    changed_obj = base.copy()
    changed_obj[4] = np.log(3.0)
    assert detection_error([base], [changed_obj], [1]) == pytest.approx(1 / 16)
    assert detection_error([base], [base], [1]) == 0.0


def _on_grid(values, v_th, steps):
    """By hand: ``values`` rounded to the nearest multiple of ``v_th / steps`` (halves away from zero), at most
    ``steps`` of them either way."""
    spikes = np.minimum(np.floor(np.abs(values) * steps / v_th + 0.5), steps)
    return np.sign(values) * spikes * (v_th / steps)


def _lagrange_thresholds(cost, error, budget, low, high):
    """``v_l = clip(κ (C_l / e_l)^(1/3), low, high)`` with ``sum C_l / v_l = budget``, κ solved exactly: between
    two of the κ at which a layer meets a bound the events are ``clipped + free / κ``."""
    ratio = {layer: (cost[layer] / error[layer]) ** (1 / 3) for layer in cost}
    bends = sorted({bound / r for r in ratio.values() for bound in (low, high)})
    for start, stop in zip(bends, bends[1:], strict=False):
        middle = (start + stop) / 2
        free = [layer for layer, r in ratio.items() if low < middle * r < high]
        clipped = sum(cost[layer] / min(max(middle * r, low), high) for layer, r in ratio.items() if layer not in free)
        if free and budget > clipped:
            kappa = sum(cost[layer] / ratio[layer] for layer in free) / (budget - clipped)
            if start <= kappa <= stop:
                return {layer: min(max(kappa * r, low), high) for layer, r in ratio.items()}
    raise AssertionError("no κ spends the budget")


def test_balance_command_writes_a_parameter_file_no_worse_than_uniform(tiny_converted, tmp_path):
    """`brainyolo balance` on the reduced network (2 images, T = 16, base v_th 2, bounds [1, 6]) against an
    independent recomputation: per hidden layer C (events at v_th 1, pairs counted one by one) and e (detection
    error per squared grid step with only that layer rounded by hand), then the Lagrange thresholds
    ``v_l ∝ (C_l / e_l)^(1/3)`` clipped to the bounds at the uniform base's events, κ solved in closed form.
    The printed table, the written v_th and the printed ratios equal these; the modelled error is at most the
    uniform base's (the uniform thresholds spend the same events); the file is one for the tracking neuron."""
    import re

    from brainyolo.spiking.neurons import load_neuron_model
    from brainyolo.spiking.parameters import read_parameter_file, runtime_names

    model_path, images = tiny_converted
    out = tmp_path / "params.toml"
    steps, v_th, low, high = 16, 2.0, 1.0, 6.0
    code, printed, stderr = run_cli(["balance", str(model_path), "--images", str(images[0].parent), "--count", "2",
                                     "--steps", str(steps), "--v-th", str(v_th), "--low", str(low), "--high",
                                     str(high), "--budget", "1", "-q", "-o", str(out)])
    assert code == 0, stderr

    model = load_model(model_path)
    graph, lambdas = model.normalized_graph(), model.lambdas()
    hidden = hidden_layers(graph)
    feeding = [graph.layers[head].inputs[0] for head in graph.heads()]
    anchors = [len(graph.layers[head].anchors) for head in graph.heads()]
    _, height, width = graph.input_shape
    assert sorted(p.name for p in images[0].parent.iterdir())[:2] == [p.name for p in images]  # what --count 2 takes
    cost, error = dict.fromkeys(hidden, 0.0), dict.fromkeys(hidden, 0.0)
    for path in images:
        image = letterbox(load_image(path), width, height)[0].astype(np.float64)
        outputs = forward(graph, image, capture=True, dtype=np.float64)
        events = _brute_force_events(graph, outputs, dict.fromkeys(hidden, 1.0), steps, _hand_owners(graph, outputs))
        reference = [outputs[i] * lambdas[i][:, None, None] for i in feeding]
        for layer in hidden:
            cost[layer] += events[layer] / len(images)
            rounded = forward(graph, image, capture=True, dtype=np.float64,
                              after=lambda i, x, layer=layer: _on_grid(x, v_th, steps) if i == layer else x)
            maps = [rounded[i] * lambdas[i][:, None, None] for i in feeding]
            error[layer] += detection_error(reference, maps, anchors) / (v_th / steps) ** 2 / len(images)
    assert all(cost[layer] > 0 and error[layer] > 0 for layer in hidden)
    expected = _lagrange_thresholds(cost, error, sum(cost.values()) / v_th, low, high)  # --budget 1
    assert len({round(v, 3) for v in expected.values()}) > 2 and low in expected.values()  # not all one threshold

    table = {int(m[0]): (float(m[1]), float(m[2]), float(m[3]))
             for m in re.findall(r"^\| (\d+) \| (\S+) \| (\S+) \| .* \| ([\d.]+) \|$", printed, re.MULTILINE)}
    assert sorted(table) == hidden
    for layer, (c, e, v) in table.items():
        assert (c, e, v) == pytest.approx((cost[layer], error[layer], expected[layer]), rel=1e-3), layer
    settings = read_parameter_file(out)
    assert settings.layers() == set(hidden)
    for layer in hidden:
        values = settings.for_layer(layer)
        assert values["v_th"] == pytest.approx(expected[layer], abs=1e-4), layer
        assert values["v_init"] == 0.5 and values["hold_positive"] == 1.0

    modelled = sum(error[i] * expected[i] ** 2 for i in hidden) / (sum(error.values()) * v_th ** 2)
    spent = sum(cost[i] / expected[i] for i in hidden) / (sum(cost.values()) / v_th)
    assert spent == pytest.approx(1.0, rel=1e-9) and modelled <= 1.0
    ratios = re.search(r"balanced error ([\d.]+)x the base's at ([\d.]+)x", printed).groups()
    assert tuple(map(float, ratios)) == pytest.approx((modelled, spent), abs=1e-3)
    assert {"v_th", "v_init", "hold_positive"} <= set(runtime_names(load_neuron_model("if_signed_ibt_tracking")))


@pytest.mark.parametrize(("extra", "problem"), [
    (["--evaluation-images", "SAME"], "is the evaluation folder"),
    (["--v-th", "9"], "outside --low"),
    (["--budget", "50"], "outside what thresholds"),  # more events than thresholds >= 1 can spend
    (["--labels", "MISSING"], "no such file"),
    (["--burst", "513"], "--burst 513: at most 512"),
    (["--burst", "4", "--v-th", "0.2"], "outside --low 0.25"),  # the default low: 1 / burst
])
def test_balance_command_refuses_bad_input_in_one_line(tiny_converted, tmp_path, extra, problem):
    model_path, images = tiny_converted
    folder = str(images[0].parent)
    extra = [folder if x == "SAME" else str(tmp_path / "none") if x == "MISSING" else x for x in extra]
    out = tmp_path / "params.toml"
    argv = ["balance", str(model_path), "--images", folder, "--count", "1", "--steps", "8", "-q", *extra,
            "-o", str(out)]
    assert assert_promise(argv, out) == 2
    assert problem in run_cli(argv)[2]


@pytest.mark.parametrize(("extra", "problem"), [(["--steps", "0"], "0 is not positive"),
                                                (["--budget", "nan"], "not a positive finite number")])
def test_balance_command_refuses_bad_numbers(tiny_converted, tmp_path, extra, problem):
    model_path, images = tiny_converted
    out = tmp_path / "params.toml"
    code, _, stderr = run_cli(["balance", str(model_path), "--images", str(images[0].parent), "--steps", "8",
                               *extra, "-o", str(out)])
    assert code == 2 and problem in stderr and not out.exists()


def test_balance_with_bursts_spends_thresholds_below_one(tiny_converted, tmp_path):
    """Four times the events of the uniform v_th 2.5 need thresholds near 0.6: refused for one spike a step
    (v_th >= 1), balanced with bursts of 4 (v_th >= 1/4); the file names the burst neuron it is for."""
    from brainyolo.spiking.parameters import read_parameter_file

    model_path, images = tiny_converted
    out = tmp_path / "params.toml"
    argv = ["balance", str(model_path), "--images", str(images[0].parent), "--count", "1", "--steps", "16",
            "--budget", "4", "-q", "-o", str(out)]
    code, _, stderr = run_cli(argv)
    assert code == 2 and "outside what thresholds in [1.0, 8.0]" in stderr and not out.exists()
    code, printed, stderr = run_cli([*argv, "--burst", "4"])
    assert code == 0, stderr
    assert "bursts of up to 4 spikes" in printed
    thresholds = [values["v_th"] for values in map(read_parameter_file(out).for_layer,
                                                    read_parameter_file(out).layers())]
    assert min(thresholds) >= 0.25 and min(thresholds) < 1.0
    assert "if_signed_ibt_tracking_burst" in out.read_text()


def _pool_graph(second_weights):
    """conv0 (2 channels of constant activation 1 and 8 on a 2x2 image: zero weights, biases 1 and 8), a 2x2
    max-pool, conv1 (1x1, one linear filter) reading both channels with ``second_weights``."""
    from brainyolo.ann.graph import Graph, MaxPool

    first = Conv(inputs=(INPUT,), filters=2, size=1, stride=1, pad=0, activation="leaky", alpha=0.1,
                 weight=np.zeros((2, 1, 1, 1), np.float32), bias=np.array([1.0, 8.0], np.float32))
    pool = MaxPool(inputs=(0,), size=2, stride=2, pad=1)
    second = Conv(inputs=(1,), filters=1, size=1, stride=1, pad=0, activation="linear", alpha=1.0,
                  weight=np.asarray(second_weights, np.float32).reshape(1, 2, 1, 1), bias=np.zeros(1, np.float32))
    return Graph((1, 2, 2), [first, pool, second])


@pytest.mark.parametrize("weights, expected", [
    # C = (1, 8) (one pooled position, one 1x1 filter), e = (1, 1): r ~ (1, 2), and 1/r0 + 8/r1 = 9: r = (5/9, 10/9)
    ((1.0, 1.0), (5 / 9, 10 / 9)),
    # e = (1, 4): r ~ (1, 8/4)^(1/3) = (1, 1.26); scaled to 1/r0 + 8/r1 = 9
    ((1.0, 2.0), (1 / 9 * (1 + 8 / 2 ** (1 / 3)), 2 ** (1 / 3) / 9 * (1 + 8 / 2 ** (1 / 3)))),
    # nothing reads channel 1 (e = 0): it keeps 1 before the scaling; r0 = cbrt(1/1), 1/r0 + 8/1 = 9 * k
    ((1.0, 0.0), (1.0, 1.0)),
])
def test_channel_scales_are_the_hand_computed_optimum_at_the_layers_events(weights, expected):
    from brainyolo.convert.balancing import channel_scales

    graph = _pool_graph(weights)
    scales = channel_scales(graph, [np.zeros((1, 2, 2))], [0])
    np.testing.assert_allclose(scales[0], expected, rtol=1e-12)
    assert np.sum(np.array([1.0, 8.0]) / scales[0]) == pytest.approx(9.0)  # the layer's events unchanged


def test_channel_sources_follow_pools_and_routes():
    from brainyolo.ann.graph import Graph, MaxPool, Route
    from brainyolo.convert.normalization import channel_sources

    def conv(inputs, filters, channels):
        return Conv(inputs=inputs, filters=filters, size=1, stride=1, pad=0, activation="leaky", alpha=0.1,
                    weight=np.ones((filters, channels, 1, 1), np.float32), bias=np.zeros(filters, np.float32))

    graph = Graph((3, 4, 4), [conv((INPUT,), 2, 3), MaxPool(inputs=(0,), size=2, stride=2, pad=1), conv((1,), 3, 2),
                              Route(inputs=(2, 1)), conv((3,), 1, 5)])
    owners, channels = channel_sources(graph)[3]
    assert owners.tolist() == [2, 2, 2, 0, 0] and channels.tolist() == [0, 1, 2, 0, 1]
    assert [a.tolist() for a in channel_sources(graph)[1]] == [[0, 0], [0, 1]]


def test_channel_scales_act_on_lambda_so_the_normalized_network_still_computes_the_ann(tiny_converted, tmp_path):
    """A model with channel scales: under the normalization ``channel-balanced`` every normalized activation is the
    ANN's divided by lambda times the scale of its channel (through max-pools, upsamples and routes), the file keeps
    them, and the spiking layers' grid is the scaled one: the rounded ANN rounds channel c of layer l to multiples of
    v_th r_c / T of its lambda. ``channel`` (the model's own) leaves them out."""
    from dataclasses import replace

    from brainyolo.convert.model_file import save_model

    model = load_model(tiny_converted[0])
    model = replace(model, thresholds=replace(model.thresholds, channel_scale={}))  # (convert balanced its channels)
    graph = model.graph
    hidden = hidden_layers(graph)
    rng = np.random.default_rng(3)
    scales = {i: rng.uniform(0.5, 2.0, graph.layers[i].filters) for i in hidden}
    scaled = replace(model, thresholds=replace(model.thresholds, channel_scale=scales))
    save_model(scaled, tmp_path / "scaled.h5")
    loaded = load_model(tmp_path / "scaled.h5")
    for i in hidden:
        np.testing.assert_array_equal(loaded.thresholds.channel_scale[i], scales[i])
    image = letterbox(load_image(tiny_converted[1][0]), 96, 96)[0]
    raw = forward(graph, image, capture=True, dtype=np.float64)
    plain = forward(model.normalized_graph(), image, capture=True, dtype=np.float64)
    normalized = forward(loaded.normalized_graph("channel-balanced"), image, capture=True, dtype=np.float64)
    lambdas, plain_lambdas = loaded.lambdas("channel-balanced"), model.lambdas()
    assert loaded.channel_balanced and not model.channel_balanced
    for norm in (None, "channel"):  # the model's own normalization: no balance
        for ours, theirs in zip(loaded.lambdas(norm), plain_lambdas, strict=True):
            np.testing.assert_array_equal(ours, theirs)
    for ours, theirs in zip(model.lambdas("channel-balanced"), plain_lambdas, strict=True):  # none to apply
        np.testing.assert_array_equal(ours, theirs)
    for index in range(len(graph.layers)):
        if raw[index] is None or raw[index].ndim != 3:
            continue
        np.testing.assert_allclose(normalized[index] * lambdas[index][:, None, None], raw[index], rtol=2e-4,
                                   atol=1e-4, err_msg=f"layer {index}")
        np.testing.assert_allclose(plain[index] * plain_lambdas[index][:, None, None], raw[index], rtol=2e-4,
                                   atol=1e-4, err_msg=f"layer {index}")
    for i in hidden:
        np.testing.assert_allclose(lambdas[i], plain_lambdas[i] * scales[i])


def test_detection_sensitivity_is_the_detection_errors_growth_per_neuron_summed_over_each_channel(tmp_path):
    """The ``detection`` channel sensitivity, averaged over many draws, against finite differences: for every
    neuron of the hidden layer, the detection error of the heads' maps (scaled by the output layer's lambdas) when
    that neuron alone moves by a small step, divided by the step's square, summed over the channel's neurons."""
    from conftest import FUZZ_CFG, write_random_model

    from brainyolo.ann import darknet
    from brainyolo.convert.balancing import channel_scales, channel_sensitivity, head_readers

    cfg, weights = write_random_model(FUZZ_CFG, tmp_path, seed=7)
    graph = darknet.load_darknet(cfg, weights).folded_graph()
    rng = np.random.default_rng(8)
    image = rng.uniform(0, 1, graph.input_shape)
    head = graph.heads()[0]
    feeding = graph.layers[head].inputs[0]
    lambdas = [np.ones(graph.layers[i].filters) if isinstance(graph.layers[i], Conv) else None
               for i in range(len(graph.layers))]
    lambdas[feeding] = rng.uniform(0.5, 2.0, graph.layers[feeding].filters)
    anchors, softmax = head_readers(graph)
    outputs = forward(graph, image, capture=True, dtype=np.float64)

    def maps(after=None):
        out = forward(graph, image, capture=True, dtype=np.float64, after=after)
        return [out[head] * lambdas[feeding][:, None, None]]

    reference, eps = maps(), 1e-5
    expected = np.zeros(graph.layers[0].filters)
    for index in np.ndindex(outputs[0].shape):
        def nudge(i, out, index=index):
            if i == 0:
                out = out.copy()
                out[index] += eps
            return out
        expected[index[0]] += detection_error(reference, maps(nudge), anchors, softmax) / eps ** 2
    measured = channel_sensitivity.rule("detection")(graph, lambdas, outputs, [0], rng, samples=3000)
    with pytest.raises(ValueError, match="needs the lambdas"):
        channel_scales(graph, [image], [0], sensitivity="detection")
    np.testing.assert_allclose(measured[0], expected, rtol=0.05)
    assert np.ptp(expected) > 0.1 * expected.max()  # the channels differ: the comparison can tell them apart
