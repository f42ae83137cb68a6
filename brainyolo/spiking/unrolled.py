"""Explicit connectivity of convolution layers: which input neuron reaches which output neuron.

Neurons are numbered position-major, channel-minor, as in the Brian2 network: the neuron of
channel ``c`` at ``(y, x)`` of a ``(C, H, W)`` layer is ``(y * W + x) * C + c``.
This is the unrolled view (one synapse per weight use) that Brian2's ``Synapses`` needs; it serves
small networks (per-synapse plasticity or delays) and is the reference the weight-shared
convolution object is tested against. It is also how the exact fan-out of every neuron, borders
included, is counted.
"""

from __future__ import annotations

import numpy as np

from brainyolo.ann.graph import conv_output_size
from brainyolo.spiking.event_spaces import negative_divisions
from brainyolo.spiking.neurons import spike_events


def conv_connectivity(in_shape: tuple[int, int, int], filters: int, size: int, stride: int,
                      pad: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (pre, post, kernel entry) of a zero-padded strided convolution.

    Returns
    -------
    pre, post : ndarray of int64
        Flat indices of the source and target neurons.
    kernel : ndarray of int64
        Flat index into the ``(filters, channels, size, size)`` weight array.
    """
    channels, height, width = in_shape
    out_h = conv_output_size(height, size, stride, pad)
    out_w = conv_output_size(width, size, stride, pad)
    pre, post, kernel = [], [], []
    oy, ox = np.meshgrid(np.arange(out_h), np.arange(out_w), indexing="ij")
    f, c = np.meshgrid(np.arange(filters), np.arange(channels), indexing="ij")
    f, c = f.ravel()[:, None], c.ravel()[:, None]
    for dy in range(size):
        for dx in range(size):
            y, x = oy * stride + dy - pad, ox * stride + dx - pad
            valid = (y >= 0) & (y < height) & (x >= 0) & (x < width)
            y, x, oyv, oxv = y[valid], x[valid], oy[valid], ox[valid]
            pre.append(((y * width + x) * channels + c).ravel())
            post.append(((oyv * out_w + oxv) * filters + f).ravel())
            entry = ((f * channels + c) * size + dy) * size + dx  # (filters * channels, 1)
            kernel.append(np.broadcast_to(entry, (len(f), y.size)).ravel())
    return np.concatenate(pre), np.concatenate(post), np.concatenate(kernel)


def _axis_fan_out(n: int, size: int, stride: int, pad: int) -> np.ndarray:
    """For each input position along one axis, how many kernel offsets reach a valid output."""
    n_out = conv_output_size(n, size, stride, pad)
    counts = np.zeros(n, np.int64)
    for offset in range(size):
        t = np.arange(n) + pad - offset  # = output position * stride
        counts += (t >= 0) & (t % stride == 0) & (t // stride < n_out)
    return counts


def conv_fan_out(in_shape: tuple[int, int, int], filters: int, size: int, stride: int,
                 pad: int) -> np.ndarray:
    """Number of synapses leaving each input neuron (borders included), shape ``in_shape``.

    Separable: ``filters * rows(y) * columns(x)``; no synapse is enumerated.
    """
    channels, height, width = in_shape
    per_position = np.outer(_axis_fan_out(height, size, stride, pad), _axis_fan_out(width, size, stride, pad))
    return np.broadcast_to(filters * per_position, (channels, height, width))


def pool_fan_out(in_shape: tuple[int, int, int], size: int, stride: int, pad: int) -> np.ndarray:
    """How many Darknet max-pool windows hold each input neuron, shape ``in_shape`` (separable)."""
    channels, height, width = in_shape

    def axis(n: int) -> np.ndarray:
        counts = np.zeros(n, np.int64)
        for o in range((n + pad - size) // stride + 1):
            start = o * stride - pad // 2
            counts[max(start, 0):max(min(start + size, n), 0)] += 1
        return counts

    return np.broadcast_to(np.outer(axis(height), axis(width)), (channels, height, width))


def unrolled_conv_synapses(source, target, weight: np.ndarray, in_shape: tuple[int, int, int],
                           stride: int, pad: int, signed: bool = True, name: str | None = None):
    """A Brian2 ``Synapses`` with one synapse per weight use of the convolution.

    A ``spike`` of the source adds ``w`` to the target's ``v``; with ``signed``, its
    ``negative_spike`` event subtracts ``w`` (a second pathway). A burst neuron's events of ``k`` spikes
    (``spike_x2``, ...) are one pathway each, adding ``k w``: Brian2's own ``Synapses`` read every event. A source
    whose negative spikes stand for ``1 / n`` of a spike (``negative_value``) holds ``w = weight / n`` (per unit) and
    adds ``n k w`` per positive event, ``k w`` per negative one.
    """
    import brian2

    filters, _, size, _ = weight.shape
    pre, post, kernel = conv_connectivity(in_shape, filters, size, stride, pad)
    on_pre, on_event = {}, {}
    n = negative_divisions(source)
    for event, value in spike_events(getattr(source, "events", None) or ["spike"]):
        if value > 0 or signed:
            pathway = "pre" if event == "spike" else event
            units = abs(value) * (n if value > 0 else 1)
            times = f"{units} * " if units > 1 else ""
            on_pre[pathway] = f"v_post += {times}w" if value > 0 else f"v_post -= {times}w"
            on_event[pathway] = event
    synapses = brian2.Synapses(source, target, "w : 1 (constant)", on_pre=on_pre, on_event=on_event,
                               clock=source.clock, name=name or "synapses*")
    synapses.connect(i=pre, j=post)
    synapses.w = weight.ravel()[kernel] / n  # per unit: a positive spike adds n of them
    return synapses
