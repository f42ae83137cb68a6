"""A NIR ``Conv2d`` between two neuron layers becomes brainyolo's weight-shared convolution (``SharedConvolution``,
the kernel held once), and fires exactly the spikes of the composed ``Synapses`` (one synapse per weight).

No tolerance: the weights lie on a 2**-6 grid, which the convolution's fixed-point grid (``2**-input_shift``,
here 2**-24 or finer) represents exactly, and every sum of them is exact in float64 in any order: both paths
give each neuron the same input, bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import brian2
import numpy as np
import pytest

from brainyolo.nir import layers as L
from brainyolo.nir.connections import connection_rule, from_neurons, neuron_order, shared_convolution_misfit, to_neurons
from brainyolo.nir.nir_import import import_nir
from brainyolo.nir.simulate import build, run_spiking_model
from brainyolo.spiking.connections import SharedConvolution

GOLDEN_NIR = Path(__file__).resolve().parents[1] / "files" / "nir_conv_snn.nir"
STEPS = 20


def built(model: L.SpikingModel, weight_shared: bool = True) -> dict[str, object]:
    """The Brian2 objects of ``model`` (runtime), by name."""
    brian2.start_scope()
    brian2.prefs.codegen.target = "numpy"
    _, objects, _, _ = build(model, weight_shared=weight_shared)
    return {obj.name: obj for obj in objects}


def test_golden_conv_is_weight_shared():
    """The Norse network's Conv2d (3x3, padding 1, input -> lif1) is one SharedConvolution holding its 72 weights
    and no synapse array; the pool -> flatten -> affine connection into lif2 stays composed Synapses."""
    model = import_nir(GOLDEN_NIR)
    objects = built(model)
    conv = objects["nir_shared01"]
    assert type(conv) is SharedConvolution and "nir_synapses01" not in objects
    assert conv.variables["_kernel"].size == model.layers[0].weight.size == 72
    assert conv.target is objects["nir_layer01"] and conv.variables["_target_v"].name == "x"
    assert conv.in_shape == (2, 8, 8) and (conv.size, conv.stride, conv.pad) == (3, 1, 1)
    assert not any(isinstance(obj, brian2.Synapses) and obj.target is conv.target for obj in objects.values())
    assert isinstance(objects["nir_synapses05"], brian2.Synapses)
    assert objects["nir_synapses05"].source is objects["nir_layer01"]
    assert type(built(model, weight_shared=False)["nir_synapses01"]) is brian2.Synapses


def conv(name: str, weight: np.ndarray, **fields) -> L.Conv2d:
    return L.Conv2d(name, weight, np.zeros(len(weight)), **fields)


def lif(name: str, shape: tuple, threshold: float = 1.0) -> L.LIF:
    full = {"tau": 4e-3, "r": 1.0, "v_leak": 0.0, "v_threshold": threshold, "v_reset": 0.0}
    return L.LIF(name, **{k: np.full(shape, v) for k, v in full.items()})


@pytest.mark.parametrize("fields, pool, problem", [
    ({"weight": np.ones((2, 2, 3, 2))}, False, "kernel 3x2 is not square"),
    ({"stride": (1, 2)}, False, "stride (1, 2) differs between the axes"),
    ({"padding": (1, 0)}, False, "padding (1, 0) differs between the axes"),
    ({"dilation": (2, 2)}, False, "dilation (2, 2) is not 1"),
    ({"groups": 2}, False, "groups 2 is not 1"),
    ({}, True, None),  # the convolution fits, but pooling follows it before the neurons
])
def test_what_the_shared_convolution_cannot_take_stays_composed(fields, pool, problem):
    """One registered rule (for Conv2d, the only kind with one) chooses; where the kernel, stride, padding,
    dilation or groups do not fit, or another linear layer follows, the connection is composed Synapses."""
    assert connection_rule.kinds() == (L.Conv2d,)
    weight = fields.pop("weight", np.full((2, 2 // fields.get("groups", 1), 3, 3), 0.25))
    layer = conv("c", weight, **{"padding": (1, 1), **fields})
    assert shared_convolution_misfit(layer) == problem
    linear = [layer, L.SumPool2d("pool", (2, 2), (2, 2), (0, 0))] if pool else [layer]
    shape = (2, 6, 6)
    for item in linear:
        shape = L.infer_shape(item, shape)
    objects = built(L.SpikingModel((2, 6, 6), [*linear, lif("n", shape)]))
    assert type(objects[f"nir_synapses{len(linear):02d}"]) is brian2.Synapses
    assert not any(isinstance(obj, SharedConvolution) for obj in objects.values())


def test_a_composition_too_large_is_refused_at_once():
    """32 channels at 64x64 behind a 3x3x32 kernel, then pooling: not weight-shared (pooling follows), and its
    dense composition (1.3e5 unit inputs through 1.6e5 values) is refused by name before any work."""
    layers = [conv("big", np.full((32, 32, 3, 3), 0.25), padding=(1, 1)), L.SumPool2d("pool", (2, 2), (2, 2), (0, 0))]
    model = L.SpikingModel((32, 64, 64), [*layers, lif("n", (32, 32, 32))])
    with pytest.raises(ValueError, match=r"layers 'big' \(Conv2d\), 'pool' \(SumPool2d\): composing them"):
        built(model)


def test_neuron_order_is_position_major_and_round_trips():
    shape = (3, 2, 4)
    values = np.arange(24).reshape(shape)
    flat = to_neurons(values, shape)
    c, y, x = 2, 1, 3
    assert flat[(y * 4 + x) * 3 + c] == values[c, y, x]
    np.testing.assert_array_equal(from_neurons(flat[None], shape)[0], values)
    np.testing.assert_array_equal(neuron_order((5,)), np.arange(5))


def dyadic(rng, shape, low: int, high: int) -> np.ndarray:
    """Random values ``k * 2**-6``, ``low <= k <= high``, float32."""
    return (rng.integers(low, high + 1, shape) * 2.0 ** -6).astype(np.float32)


def large_conv_snn(side: int) -> L.SpikingModel:
    """16 x side x side input -> 3x3 conv (padding 1) -> LIF (16 x side x side) -> 3x3 conv (stride 2, padding 1)
    -> LIF (16 x side/2 x side/2): both convolutions weight-shared, one from the input, one between two neuron
    layers (source and target neurons position-major)."""
    rng = np.random.default_rng(37)
    first = L.Conv2d("conv1", dyadic(rng, (16, 16, 3, 3), -8, 16), dyadic(rng, 16, 0, 4), padding=(1, 1))
    second = L.Conv2d("conv2", dyadic(rng, (16, 16, 3, 3), -8, 16), dyadic(rng, 16, 0, 4), stride=(2, 2),
                      padding=(1, 1))
    return L.SpikingModel((16, side, side), [first, lif("lif1", (16, side, side), 0.5), second,
                                             lif("lif2", (16, side // 2, side // 2), 2.0)])


def assert_paths_agree(side: int, device: str) -> None:
    """Shared and composed connections: the same spikes and membranes in both layers over 20 steps of random
    input spikes (probability 0.1), neither layer silent nor saturated."""
    model = large_conv_snn(side)
    spikes = (np.random.default_rng(1).random((STEPS, *model.input_shape)) < 0.1).astype(np.uint8)
    record = {"lif1": ["v"], "lif2": ["v"]}
    shared = run_spiking_model(model, spikes, device=device, record=record)
    composed = run_spiking_model(model, spikes, device=device, record=record, weight_shared=False)
    for name in ("lif1", "lif2"):
        assert 0.02 < shared.spikes[name].mean() < 0.5, f"{name}: silent or saturated"
        steps, where = np.nonzero((shared.spikes[name] != composed.spikes[name]).reshape(STEPS, -1))
        assert len(steps) == 0, f"{name}: first difference at step {steps[:1]}, neuron {where[:1]}"
        np.testing.assert_array_equal(shared.states[name]["v"], composed.states[name]["v"])


def test_conv_snn_shared_equals_composed_runtime():
    """16 channels at 16x16 (the composed path's dense composition grows with the square of the neurons: at
    32x32 it takes half a minute)."""
    assert_paths_agree(16, "runtime")


@pytest.mark.long
def test_conv_snn_shared_equals_composed_cpp_standalone():
    """The same network compiled: the C++ template of the weight-shared convolution against the composed
    ``Synapses`` (16 channels at 16x16 as in the runtime test: at 32x32 the composed build alone took a minute
    of the suite's budget; both paths were equal there too when this was written)."""
    assert_paths_agree(16, "cpp_standalone")
