"""The build rule of each input kind (:data:`brainyolo.spiking.input_kinds.INPUT_KINDS`): how a sample reaches
the network's first convolution in Brian2 (a current, Poisson spikes, per-bin currents, or event spikes) and
the per-run values of its variables. One registered rule per kind (:data:`input_rule`)."""

from __future__ import annotations

import brian2
import numpy as np

from brainyolo.ann.reference import conv2d
from brainyolo.registry import Registry
from brainyolo.spiking import to_neuron_order
from brainyolo.spiking.event_encoding import GREY, polarity_kernel
from brainyolo.spiking.input_kinds import INPUT_KINDS
from brainyolo.spiking.neurons import (
    TIME_STEP_MS,
)

OUTPUT_MODES = ("vmem", "spikes")
CONNECTIVITIES = ("shared", "unrolled")
INPUT_MODES = tuple(INPUT_KINDS)


input_rule = Registry("input build")


def register_input(name: str):
    """Class decorator: an instance of the class is the build rule of input kind ``name``."""
    def decorate(cls):
        input_rule.register(name)(cls())
        return cls
    return decorate


def input_conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """:func:`~brainyolo.ann.reference.conv2d` with BLAS on one thread: the network's input currents.

    A multi-threaded BLAS sums the products in another order (OpenBLAS 0.3.34, float32: up to 1e-5
    apart at 2 threads), which moved a spike at the threshold's edge between a 2-core process and a
    Dask worker (one BLAS thread): the currents a network receives must not depend on the machine.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        return conv2d(x, weight, bias, stride, pad)


def _first_layer_current(layer, pictures: np.ndarray) -> np.ndarray:
    """The first convolution of each picture ``(..., C, H, W)`` in neuron order, ``(..., neurons)``."""
    flat = pictures.reshape(-1, *pictures.shape[-3:])
    return np.stack([to_neuron_order(input_conv2d(p, layer.weight, layer.bias, layer.stride, layer.pad))
                     for p in flat]).reshape(*pictures.shape[:-3], -1)


@register_input("current")
class _CurrentInput:
    def connect(self, ctx, index, weight, stride, pad):
        ctx.net.image_layers.append(index)
        return None

    def values(self, net, image):
        return {net.layers[i].group.I: _first_layer_current(net.graph.layers[i], np.asarray(image))
                for i in net.image_layers}


@register_input("poisson")
class _PoissonInput:
    def connect(self, ctx, index, weight, stride, pad):
        in_shape = ctx.net.model.graph.input_shape
        source = brian2.PoissonGroup(int(np.prod(in_shape)), rates=0 * brian2.Hz, clock=ctx.net.clock,
                                     name="image_poisson")
        ctx.net.inputs.append(source)
        return source, in_shape, weight

    def values(self, net, image):
        (source,) = net.inputs
        return {source.rates: to_neuron_order(np.clip(image, 0, 1)) * 1000.0 * brian2.Hz}


@register_input("frames")
class _FramesInput:
    """Bin ``b``'s first convolution is the layer's current ``I`` during its ``bin_steps`` steps: a
    ``TimedArray`` of one row per bin (set per run, like any run argument), read at each step's start."""

    def connect(self, ctx, index, weight, stride, pad):
        options, group = ctx.net.options, ctx.net.layers[index].group
        ctx.net.image_layers.append(index)
        frames = brian2.TimedArray(np.zeros((options.bins, len(group))),
                                   dt=options.bin_steps * TIME_STEP_MS * brian2.ms, name=f"frame_current{index:02d}")
        group.namespace["frame_current"] = frames
        updater = group.run_regularly("I = frame_current(t, i)", when="start", order=-1,
                                      name=f"layer{index:02d}_frames")
        group.contained_objects.remove(updater)  # scheduled with the inputs, before any layer
        ctx.net.inputs.append(updater)
        return None

    def values(self, net, frames):
        frames = np.asarray(frames, np.float64)
        if frames.shape[0] != net.options.bins:
            raise ValueError(f"{frames.shape[0]} pictures for {net.options.bins} bins")
        return {net.layers[i].group.namespace["frame_current"]: _first_layer_current(net.graph.layers[i], frames)
                for i in net.image_layers}


SPIKE_SLOT = "spike_step_{}"


@register_input("spikes")
class _SpikesInput:
    """2 x H x W neurons (neuron ``(y * W + x) * 2 + p``, channel 0 OFF, 1 ON) into the first convolution,
    rewritten for ON/OFF maps (:func:`~brainyolo.spiking.event_encoding.polarity_kernel`, times ``bin_steps``); the
    first layer's current is the first convolution of an all-grey picture (the frames' constant part).

    On the runtime device the source is Brian2's ``SpikeGeneratorGroup`` (``set_spikes`` per run). A
    standalone binary fixes a ``SpikeGeneratorGroup``'s spikes when it is built, so there the source is
    a player ``NeuronGroup`` whose neuron fires at the steps held in its :data:`SPIKE_SLOT` variables
    (one per bin, set per run): the same spikes (tested against the ``SpikeGeneratorGroup``).
    """

    def connect(self, ctx, index, weight, stride, pad):

        options, layer = ctx.net.options, ctx.net.graph.layers[index]
        channels, height, width = ctx.net.model.graph.input_shape
        kernel, _ = polarity_kernel(weight, layer.bias)
        grey = np.full((channels, height, width), GREY / 255.0)
        ctx.net.layers[index].group.I = to_neuron_order(input_conv2d(grey, weight, layer.bias, stride, pad))
        n = 2 * height * width
        if isinstance(brian2.get_device(), brian2.devices.RuntimeDevice):
            source = brian2.SpikeGeneratorGroup(n, [], [] * brian2.ms, clock=ctx.net.clock, name="input_events")
        else:
            slots = [SPIKE_SLOT.format(k) for k in range(options.bins)]
            source = brian2.NeuronGroup(n, "\n".join(f"{s} : integer (constant)" for s in slots),
                                        threshold=" or ".join(f"{s} == t_in_timesteps" for s in slots), reset="",
                                        clock=ctx.net.clock, name="input_events")
            for s in slots:
                setattr(source, s, -1)
        ctx.net.inputs.append(source)
        return source, (2, height, width), kernel * options.bin_steps

    def values(self, net, spikes):
        steps, neurons = (np.asarray(a, np.int64) for a in spikes)
        (source,) = net.inputs
        if isinstance(source, brian2.SpikeGeneratorGroup):
            return {source: (neurons, steps)}
        slots = np.full((net.options.bins, len(source)), -1, np.int32)
        bins = steps // net.options.bin_steps
        if np.any(bins >= net.options.bins) or np.any(steps < 0):
            raise ValueError("input spike steps outside the run")
        if len(np.unique(bins * len(source) + neurons)) != len(neurons):
            raise ValueError("an input neuron spikes twice in one bin")
        slots[bins, neurons] = steps
        return {getattr(source, SPIKE_SLOT.format(k)): slots[k] for k in range(net.options.bins)}
