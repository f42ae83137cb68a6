"""Unrolled convolution connectivity: against numpy's conv, and as Brian2 Synapses with signed spikes."""

from __future__ import annotations

import brian2
import numpy as np
import pytest

from brainyolo.ann.reference import conv2d
from brainyolo.spiking import from_neuron_order, to_neuron_order
from brainyolo.spiking.neurons import NEGATIVE_EVENT, load_neuron_model, neuron_group
from brainyolo.spiking.unrolled import conv_connectivity, conv_fan_out, pool_fan_out, unrolled_conv_synapses


@pytest.mark.codegen_independent
def test_neuron_order_round_trip():
    x = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    flat = to_neuron_order(x)
    assert flat[:2].tolist() == [x[0, 0, 0], x[1, 0, 0]]  # channel-minor
    np.testing.assert_array_equal(from_neuron_order(flat, x.shape), x)


@pytest.mark.codegen_independent
def test_events_counted_per_position_equal_per_neuron_products():
    """A layer's events (counts times fan-out, summed) as ``fanned_out`` counts them: per position where every
    channel of a position has the same fan-out (a convolution and a pool feeding on), per neuron where not (Brian2
    Synapses' own fan-out): both equal Python's integer sum over the unrolled synapses, counts near 2**31 included."""
    from brainyolo.spiking.network import LayerGroup
    from brainyolo.spiking.simulate import fanned_out

    rng = np.random.default_rng(5)
    shape = (6, 9, 7)
    conv = LayerGroup(None, shape, fan_out=[to_neuron_order(conv_fan_out(shape, 5, 3, 1, 1)),
                                            to_neuron_order(pool_fan_out(shape, 2, 2, 0))])
    pre, _, _ = conv_connectivity(shape, 5, 3, 2, 1)
    irregular = LayerGroup(None, shape, fan_out=[np.bincount(pre[pre % 3 != 0], minlength=int(np.prod(shape)))])
    assert conv.fan_out_per_position() is not None and irregular.fan_out_per_position() is None
    for counts in (rng.integers(0, 60, shape, dtype=np.int8), rng.integers(2**31 - 100, 2**31, shape, np.int32)):
        for layer in (conv, irregular):
            expected = sum(int(c) * int(f) for c, f in zip(to_neuron_order(counts), layer.fan_out_total(), strict=True))
            assert fanned_out((counts,), layer) == expected > 0
            # terms summed together, in blocks of positions that do not divide the layer's (4 rows at a time)
            other = rng.integers(2**31 - 100, 2**31, shape, np.int32)
            expected += sum(int(c) * int(f) for c, f in zip(to_neuron_order(other), layer.fan_out_total(), strict=True))
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr("brainyolo.spiking.simulate.FANNED_BLOCK_BYTES", 8 * shape[0] * 4)
                assert fanned_out((counts, other), layer) == expected


@pytest.mark.codegen_independent
@pytest.mark.parametrize("k, stride, pad", [(3, 1, 1), (3, 2, 1), (1, 1, 0), (2, 2, 0), (5, 1, 2)])
def test_connectivity_reproduces_conv(k, stride, pad):
    rng = np.random.default_rng(k + stride)
    in_shape, filters = (3, 7, 6), 4
    x, w = rng.standard_normal(in_shape), rng.standard_normal((filters, 3, k, k))
    pre, post, kernel = conv_connectivity(in_shape, filters, k, stride, pad)
    expected = conv2d(x, w, np.zeros(filters), stride, pad)
    out = np.bincount(post, weights=w.ravel()[kernel] * to_neuron_order(x)[pre], minlength=expected.size)
    np.testing.assert_allclose(from_neuron_order(out, expected.shape), expected, atol=1e-12)
    fan = conv_fan_out(in_shape, filters, k, stride, pad)
    np.testing.assert_array_equal(to_neuron_order(fan), np.bincount(pre, minlength=x.size))
    if (k, stride, pad) == (3, 1, 1):
        assert fan[0, 3, 3] == filters * 9 and fan[0, 0, 0] == filters * 4  # interior vs corner


@pytest.mark.codegen_independent
def test_pool_fan_out_by_hand():
    # Darknet size-2 stride-1 pool on 3 pixels: windows [0,1], [1,2], [2] -> 1, 2, 2 windows per pixel
    np.testing.assert_array_equal(pool_fan_out((2, 3, 3), 2, 1, 1)[1], [[1, 2, 2], [2, 4, 4], [2, 4, 4]])
    # size-2 stride-2 on an odd map: the last pixel's window is cut by the border, every pixel in one window
    assert (pool_fan_out((1, 5, 5), 2, 2, 1) == 1).all()
    # size 3 stride 2, Darknet padding 2 (window starts at -1): windows [-1..1], [1..3], [3..5] on 5 pixels
    np.testing.assert_array_equal(pool_fan_out((1, 1, 5), 3, 2, 2)[0, 0], [1, 2, 1, 2, 1])


def test_unrolled_synapses_deliver_signed_spikes_exactly():
    """Integrate-only targets accumulate exactly conv(net spike counts) through Brian2 Synapses."""
    brian2.start_scope()
    brian2.prefs.codegen.target = "numpy"
    rng = np.random.default_rng(3)
    in_shape, filters, k, stride, pad = (2, 6, 5), 3, 3, 2, 1
    source = neuron_group(load_neuron_model("if_signed_ibt"), int(np.prod(in_shape)))
    source.I = rng.uniform(-1, 1, source.N)
    out_shape = conv2d(np.zeros(in_shape), np.zeros((filters, 2, k, k)), np.zeros(filters), stride, pad).shape
    target = brian2.NeuronGroup(int(np.prod(out_shape)), "v : 1")
    weight = rng.standard_normal((filters, 2, k, k))
    synapses = unrolled_conv_synapses(source, target, weight, in_shape, stride, pad)
    positive = brian2.SpikeMonitor(source, record=False)
    negative = brian2.EventMonitor(source, NEGATIVE_EVENT, record=False)
    brian2.Network(source, target, synapses, positive, negative).run(60 * brian2.ms)
    net = np.asarray(positive.count[:]) - np.asarray(negative.count[:])
    assert (np.asarray(negative.count[:]) > 0).any() and (np.asarray(positive.count[:]) > 0).any()
    expected = conv2d(from_neuron_order(net, in_shape).astype(float), weight, np.zeros(filters), stride, pad)
    np.testing.assert_allclose(from_neuron_order(target.v[:], out_shape), expected, atol=1e-9)
