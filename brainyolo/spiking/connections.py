"""Weight-shared connections as Brian2 objects run by Brian2's code generation.

:class:`SharedConvolution` is shaped like Brian2's own ``EventMonitor``: a ``Group`` whose
``CodeRunner`` reads the source's event spaces (``_spikespace``; with signed neurons also
``_negative_spikespace``), holds the kernel once as its own array, and adds ``+w`` (``-w`` for a
negative spike; in units, :mod:`brainyolo.spiking.event_spaces`, where the source's negative spikes stand for a
fraction of a spike) to the target's ``v``. Work is proportional to spikes times fan-out; silent neurons cost nothing.

**Deterministic by construction.** A step's synaptic input is summed in integers: each input
channel's kernel slice, times what a spike of that channel stands for (``scale``), is rounded once
to a fixed-point grid of ``2**-input_shift`` (:func:`input_shift` picks the finest grid on which no
sum of one step can overflow 31 bits), spikes add these integers into the connection's own
``_input`` buffer, and at the end of the step ``v += _input * 2**-input_shift`` once per neuron.
Integer sums do not depend on their order, so the spikes of a run do not depend on the number of
OpenMP threads or the scatter order (float sums would: float addition is not associative). For
yolov3-tiny the grid is ``2**-22`` to ``2**-26`` at threshold 1, about float32's own resolution
near 1: each term is rounded once, as a float32 sum would round it. A step without synaptic events
leaves ``v`` alone. Its templates are ``shared_convolution`` in ``templates/cpp_standalone``
(OpenMP: threads take bands of input rows and the spikes at band edges, whose targets two bands
share, are scattered afterwards; or threads split the output channels; or, output-stationary, each
thread sums the windows of its own output neurons, or a tile of output channels at every position; no two
threads write the same neuron) and
``templates/numpy``.
"""

from __future__ import annotations

import numpy as np
from brian2.core.names import Nameable
from brian2.core.variables import Variables
from brian2.groups.group import CodeRunner, Group

from brainyolo.ann.graph import conv_output_size
from brainyolo.spiking.device import code_object_class_for_current_device
from brainyolo.spiking.event_spaces import (
    event_spaces,
    negative_divisions,
    read_event_spaces,
    units_per_step,
)
from brainyolo.spiking.neurons import NEGATIVE_EVENT
from brainyolo.spiking.settings import SCATTER_ORDERS

SORTED_BANDS_KERNEL_BYTES = 1024 * 1024
"""``scatter="auto"`` groups each band's spikes by channel when the kernel is larger than this
(about a core's L2 cache here: the kernel no longer stays in cache between spikes)."""


GATHER_CHANNELS = 32
"""``scatter="auto"`` gathers (output-stationary) when the source has at least this many channels: then the
spikes of one input position are many, and summing them in a local accumulator beats scattering each into the
target's buffer."""


GATHER_BLOCK = 128
"""Most output channels one ``gather`` task sums at a time (its accumulator: 512 bytes of int32, eight AVX-512
registers). Each block reads the window's spike lists again: measured on yolov3-tiny's conv12 (512 -> 1024
channels, 2 threads; analysis/yolov3-tiny/README.md), blocks of 24 (whose kernel part fits a core's L2 cache) took
14-16 ms per step, 64 about 8, 128 and 256 about 6, channel-sorted row bands about 7."""

TILE_CHANNELS = 16
"""Output channels of one ``tiles`` task: one AVX-512 register of int32 (their kernel values, per input channel and
kernel offset, are loaded once per step)."""

TILES_KERNEL_BYTES = 1024 * 1024
"""``scatter="auto"`` sums in ``tiles`` (rather than ``gather``) a stride-1 convolution with a kernel larger than 1x1
whose fixed-point kernel (int32) is larger than this (about a core's L2 cache): the gather then reads it from the
shared cache once per output row, the tiles once per step. Measured on yolov3-tiny (analysis/yolov3-tiny/README.md):
tiles beat the gather on conv10, conv12, conv14 and conv21 (conv12: about 4 against 6 ms per step), tie on conv08
(1.2 MB), and lose where the kernel fits the core's cache (conv04, conv06) and on 1x1 kernels."""

TILE_ACCUMULATOR_BYTES = 128 * 1024
"""Largest accumulator of one ``tiles`` task: a map whose padded rows would need more is cut into bands of output rows
(:func:`tile_bands`)."""


def tile_bands(h: int, w: int, c: int, size: int, pad: int, out_h: int,
               accumulator_bytes: int | None = None) -> tuple[int, np.ndarray]:
    """The output rows of one ``tiles`` band, and per band where its spikes start in the sorted list of one event space.

    A band of ``rows`` output rows keeps an accumulator of ``rows + 2 (size - 1)`` padded rows of ``w + size - 1``
    positions, :data:`TILE_CHANNELS` int32 each, at most ``accumulator_bytes`` (at least one row). Its spikes are
    those of the input rows that reach it (stride 1): a band's part of the list holds all of their neurons.

    >>> tile_bands(13, 13, 2, 3, 1, 13)  # a small map: one band
    (13, array([  0, 338]))
    >>> tile_bands(8, 4, 1, 3, 1, 8, accumulator_bytes=6 * 6 * 64)  # 6 padded rows: bands of 2 rows, 3 or 4 input rows
    (2, array([ 0, 12, 28, 44, 56]))
    """
    accumulator_bytes = TILE_ACCUMULATOR_BYTES if accumulator_bytes is None else accumulator_bytes
    row_bytes = (w + size - 1) * TILE_CHANNELS * 4
    rows = int(min(out_h, max(1, accumulator_bytes // row_bytes - 2 * (size - 1))))
    offsets = [0]
    for oy0 in range(0, out_h, rows):
        lo, hi = max(oy0 - pad, 0), min(oy0 + rows + size - 1 - pad, h)
        offsets.append(offsets[-1] + (hi - lo) * w * c)
    return rows, np.array(offsets, np.int64)


MAX_BANDS = 64
"""Most row bands (OpenMP threads) a scatter uses; ``row_channels`` keeps sort counters per band."""


def axis_targets(n: int, size: int, stride: int, pad: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Per input position along one axis, the (kernel offset, output position) pairs it reaches.

    Returns ``count`` (n,) and ``pairs`` (n, size, 2), padded with -1: the scatter's lookup
    tables, so that the per-spike loop needs no division or modulo.
    """
    count = np.zeros(n, np.int32)
    pairs = np.full((n, size, 2), -1, np.int32)
    for position in range(n):
        for offset in range(size):
            t = position + pad - offset
            if t >= 0 and t % stride == 0 and t // stride < n_out:
                pairs[position, count[position]] = (offset, t // stride)
                count[position] += 1
    return count, pairs


INPUT_BITS = 31
"""A step's input to one neuron, in fixed point, stays below ``2**INPUT_BITS`` (int32)."""

MAX_SHIFT = 62


def input_shift(channel_sums: np.ndarray, values: np.ndarray) -> int:
    """The fixed-point grid ``2**-shift`` of a connection's per-step input.

    ``channel_sums[c, f]``: sum of |w| over the kernel window of input channel ``c`` and output
    channel ``f``; ``values[c]``: the largest |value| the spikes of one source neuron of channel ``c``
    may carry in one step (both phases of a two-phase neuron; a burst neuron's spikes per step times its
    threshold, or its unit: the callers multiply by :func:`units_per_step`). The largest possible input of one
    step times ``2**shift`` stays below ``2**(INPUT_BITS - 1)``: the other half of the range holds the
    rounding of the terms (at most 1/2 each, far fewer than ``2**30`` terms).

    >>> input_shift(np.array([[1.0, 3.0], [1.0, 0.0]]), np.array([1.0, 1.0]))  # bound 3
    28
    """
    channel_sums = np.asarray(channel_sums, np.float64)
    bound = float(np.max(np.abs(np.asarray(values, np.float64)) @ channel_sums)) if channel_sums.size else 0.0
    room = 2.0 ** (INPUT_BITS - 1)
    if not np.isfinite(bound):
        raise ValueError("spike values or weights are not finite")
    if bound <= 0:
        return MAX_SHIFT
    return int(min(MAX_SHIFT, max(0, np.floor(np.log2(room / bound)))))


_MASK64 = (1 << 64) - 1


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer on uint64 values (wrapping arithmetic), as the C++ template computes it."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def release_mask(seed: int, connection_id: int, step: int, pre: np.ndarray, post: np.ndarray,
                 release: float) -> np.ndarray:
    """Which synapses ``pre -> post`` (source neuron, target neuron) transmit a spike of step ``step``.

    A counter-based hash of (seed, connection, step, source, target): the same decision whatever
    the order in which spikes are scattered or the number of threads, and independent between
    synapses and steps. A synapse transmits when the hash's top 32 bits fall below ``release * 2**32``
    (``release``: one probability, or one per synapse).
    """
    with np.errstate(over="ignore"):
        key = np.array([((int(seed) << 32) & _MASK64) ^ (int(connection_id) & 0xFFFFFFFF)], np.uint64)
        key = _mix(_mix(key) + np.uint64(step))
        pre_key = key + np.asarray(pre, np.int64).astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93)
        h = _mix(pre_key + np.asarray(post, np.int64).astype(np.uint64) * np.uint64(0xA0761D6478BD642F))
    return (h >> np.uint64(32)) < (np.asarray(release, np.float64) * 4294967296.0).astype(np.uint64)


def connection_id(name: str) -> int:
    """A connection's number in the release hash: from its name, so every layer draws its own."""
    import zlib

    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def kernel_to_cdxf(weight: np.ndarray) -> np.ndarray:
    """``(F, C, k, k)`` kernel -> flat ``[c][dy][dx][f]`` (output channel fastest)."""
    return np.ascontiguousarray(np.asarray(weight).transpose(1, 2, 3, 0)).ravel()


class SharedConvolution(Group, CodeRunner):
    """A convolution from ``source`` spikes onto ``target.v`` (or another variable) with one shared kernel.

    Parameters
    ----------
    source, target : NeuronGroup
        Neurons numbered position-major, channel-minor (see :mod:`brainyolo.spiking`).
    weight : ndarray, shape (F, C, k, k)
    in_shape : (C, H, W)
        Shape of the source layer.
    stride, pad : int
        As in Darknet (zero padding on every side).
    signed : bool
        Also propagate the source's ``negative_spike`` events (as ``-w``, times the source's ``negative_value``);
        default: whether the source defines that event.
    scatter : {"auto", "bands", "rows", "row_channels", "channels", "gather", "tiles"}
        Order in which a step's spikes are summed in C++ (all give the same sums). ``rows``:
        OpenMP threads take bands of input rows, spikes in neuron order. ``row_channels``: the
        same bands, each band's spikes grouped by input channel so that a channel's kernel slice
        is read once per band. ``channels``: all spikes grouped by channel, threads split the
        output channels. ``gather`` (output-stationary): threads take (block of output channels,
        output row) tasks; each output neuron sums the spikes of its window in a local accumulator
        and adds it to its input once (blocks of :data:`GATHER_BLOCK`). ``tiles`` (stride 1, pad below the
        kernel size; else ``gather``): threads take tiles of :data:`TILE_CHANNELS` output channels in bands of
        output rows (:func:`tile_bands`), input channel by input channel, each kernel value loaded once per band
        and step; then as ``gather``.
        ``bands``: ``row_channels`` for kernels larger than :data:`SORTED_BANDS_KERNEL_BYTES`, else
        ``rows``. ``auto`` (default): for sources of at least :data:`GATHER_CHANNELS` channels, ``tiles``
        for kernels larger than 1x1 and :data:`TILES_KERNEL_BYTES`, else ``gather``; for fewer channels
        ``bands``. Measured on yolov3-tiny (float32, 2 threads; analysis/yolov3-tiny/README.md):
        bands beat split channels for every layer, the gather beats the bands wherever an input position
        holds many channels, and tiles beat the gather where the kernel is larger than a core's cache.
        With stochastic release or per-channel delays a ``gather`` or ``tiles`` connection scatters serially.
    when, order : scheduling slot (default: ``"synapses"``, like Brian2's ``Synapses``).
    target_variable : str
        The target's variable the input adds into (default ``v``; a neuron file's ``input``, or a
        synapse file's ``target``).
    max_delay : int
        Largest ``delay`` (steps) a run may set: the connection keeps ``max_delay + 1`` input
        buffers, a ring. Per run (``run_args``): ``delay`` (steps), ``release`` (probability that a
        synapse transmits a spike, :func:`release_mask`), ``seed``.
    """

    add_to_magic_network = True
    invalidates_magic_network = True

    def __init__(self, source, target, weight, in_shape, stride: int = 1, pad: int = 0,
                 signed: bool | None = None, scatter: str = "auto", when: str = "synapses", order: int = 0,
                 name: str = "sharedconvolution*", target_variable: str = "v", max_delay: int = 0):
        weight = np.asarray(weight)
        filters, channels, size, size2 = weight.shape
        c, h, w = (int(v) for v in in_shape)
        if size != size2 or channels != c:
            raise ValueError(f"kernel {weight.shape} does not fit input shape {in_shape}")
        if len(source) != c * h * w:
            raise ValueError(f"source has {len(source)} neurons, input shape {in_shape} needs {c * h * w}")
        out_h, out_w = conv_output_size(h, size, stride, pad), conv_output_size(w, size, stride, pad)
        if len(target) != filters * out_h * out_w:
            raise ValueError(f"target has {len(target)} neurons, the convolution makes "
                             f"{filters * out_h * out_w}")
        if signed is None:
            signed = NEGATIVE_EVENT in source.events
        self.source, self.target, self.signed = source, target, signed
        self.in_shape, self.out_shape = (c, h, w), (filters, out_h, out_w)
        self.size, self.stride, self.pad = size, stride, pad

        Nameable.__init__(self, name=name)
        self.variables = Variables(self)
        self.variables.add_constant("_connection_id", connection_id(self.name))
        spaces = event_spaces(source, signed)
        self.units_per_step = units_per_step(source, spaces)
        self.negative_divisions = negative_divisions(source)  # a spike's value is n units of v_th / n
        needed = read_event_spaces(self, source, spaces)
        needed += ["_target_v", "_kernel", "scale", "scale_early", "switch_step", "t_in_timesteps",
                   "synaptic_events", "input_shift", "_kernel_fixed", "_kernel_phase", "_input",
                   "delay", "release", "release_gain", "seed", "_slot_events", "_R", "_connection_id", "_channel_slot"]
        if target_variable not in target.variables:
            raise ValueError(f"the target neurons have no variable {target_variable!r}")
        self.variables.add_reference("_target_v", target, target_variable)
        v_dtype = target.variables[target_variable].dtype
        kernel_bytes = weight.size * np.dtype(v_dtype).itemsize
        tiles_fit = stride == 1 and pad <= size - 1  # (the tiles' padded accumulator needs both)
        if scatter == "auto" and c >= GATHER_CHANNELS:
            large = size > 1 and 4 * weight.size > TILES_KERNEL_BYTES  # (the fixed-point kernel is int32)
            scatter = "tiles" if tiles_fit and large else "gather"
        if scatter in ("auto", "bands"):
            scatter = "row_channels" if kernel_bytes > SORTED_BANDS_KERNEL_BYTES else "rows"
        if scatter not in SCATTER_ORDERS:
            raise ValueError(f"scatter {scatter!r} is not one of {SCATTER_ORDERS}")
        if scatter == "tiles" and not tiles_fit:
            scatter = "gather"
        self.scatter = scatter
        self.variables.add_array("_kernel", size=weight.size, dtype=v_dtype,
                                 values=kernel_to_cdxf(weight).astype(v_dtype), read_only=True)
        # What one unit of each input channel stands for (its source layer's threshold / n: a positive spike adds n
        # units), and for two-phase neurons the value before the step at which the source's threshold switches.
        unit = np.full(c, 1 / self.negative_divisions, v_dtype)
        self.variables.add_array("scale", size=c, dtype=v_dtype, values=unit)
        self.variables.add_array("scale_early", size=c, dtype=v_dtype, values=unit.copy())
        self.variables.add_array("switch_step", size=c, dtype=np.int32)
        # Fixed-point accumulation (see the module): the kernel times each channel's spike value on
        # the grid 2**-input_shift (made in the run, per channel, when its value changes phase),
        # and the step's input per target neuron
        self.channel_sums = np.abs(np.asarray(weight, np.float64)).sum(axis=(2, 3)).T  # (C, F)
        self.variables.add_array("input_shift", size=1, dtype=np.int32,
                                 values=np.array([input_shift(self.channel_sums, np.full(c, self.units_per_step))],
                                                 np.int32))
        self.variables.add_array("_kernel_fixed", size=weight.size, dtype=np.int32)
        self.variables.add_array("_kernel_phase", size=c, dtype=np.int32)
        if max_delay < 0:
            raise ValueError("max_delay is at least 0")
        self.max_delay = int(max_delay)
        ring = (self.max_delay + 1) * len(target)
        self.variables.add_array("_input", size=ring, dtype=np.int32)
        self.variables.add_array("_slot_events", size=self.max_delay + 1, dtype=np.int64)
        # per output channel (a layer's one value in every channel unless a run sets them per channel)
        self.variables.add_array("delay", size=filters, dtype=np.int32)
        self.variables.add_array("release", size=filters, dtype=v_dtype, values=np.ones(filters, v_dtype))
        self.variables.add_array("release_gain", size=filters, dtype=v_dtype, values=np.ones(filters, v_dtype))
        self.variables.add_array("_channel_slot", size=filters, dtype=np.int64)
        self.variables.add_array("seed", size=1, dtype=np.int32)
        self.variables.add_constant("_R", self.max_delay + 1)
        self.variables.create_clock_variables(source.clock)
        self.source_layer = None  # the graph layer of the source (set by the builder; None: the image)
        self.variables.add_array("synaptic_events", size=1, dtype=np.int64)
        self.variables.add_constant("N", 1)  # a VariableOwner's size: this object is one connection
        for axis, (n, n_out) in {"row": (h, out_h), "col": (w, out_w)}.items():
            count, pairs = axis_targets(n, size, stride, pad, n_out)
            self.variables.add_array(f"_{axis}_count", size=n, dtype=np.int32, values=count, read_only=True)
            self.variables.add_array(f"_{axis}_pairs", size=pairs.size, dtype=np.int32, values=pairs.ravel(),
                                     read_only=True)
        needed += ["_row_count", "_row_pairs", "_col_count", "_col_pairs"]
        if scatter in ("gather", "tiles"):  # per event space, the first spike of each input position
            self.variables.add_array("_position_start", size=len(spaces) * (h * w + 1), dtype=np.int32)
            needed += ["_position_start"]
        self.tile_rows = 0  # (tiles: the output rows of one band)
        if scatter == "tiles":  # per band and event space, its spikes by channel; the output positions a spike reaches
            self.tile_rows, offsets = tile_bands(h, w, c, size, pad, out_h)
            self.variables.add_array("_band_offset", size=len(offsets), dtype=np.int64, values=offsets, read_only=True)
            self.variables.add_array("_sorted", size=len(spaces) * int(offsets[-1]), dtype=np.int32)
            self.variables.add_array("_channel_start", size=(len(offsets) - 1) * len(spaces) * (c + 1), dtype=np.int32)
            self.variables.add_array("_touched", size=out_h * out_w, dtype=np.int32)
            tiles = -(-filters // TILE_CHANNELS)
            self.variables.add_array("_kernel_tiles", size=tiles * TILE_CHANNELS * c * size * size, dtype=np.int32)
            needed += ["_sorted", "_channel_start", "_touched", "_kernel_tiles", "_band_offset"]
        elif scatter not in ("rows", "gather"):  # scratch space for the per-step counting sort by channel (per band)
            counters = (c + 1) * (MAX_BANDS if scatter == "row_channels" else 1)
            for key, length in (("_sorted", len(source)), ("_channel_start", counters)):
                self.variables.add_array(key, size=length, dtype=np.int32)
            needed += ["_sorted", "_channel_start"]
        for key, value in {"_C": c, "_H": h, "_W": w, "_F": filters, "_OH": out_h, "_OW": out_w,
                           "_K": size, "_S": stride, "_P": pad}.items():
            self.variables.add_constant(key, value)
        needed += ["_C", "_H", "_W", "_F", "_OH", "_OW", "_K", "_S", "_P"]
        CodeRunner.__init__(self, group=self, code="", template="shared_convolution",
                            name=None, clock=source.clock, when=when, order=order,
                            needed_variables=needed,
                            template_kwds={"event_spaces": spaces, "scatter": scatter,
                                          "max_bands": MAX_BANDS, "gather_block": min(GATHER_BLOCK, filters),
                                          "tile_channels": TILE_CHANNELS, "tile_rows": self.tile_rows},
                            codeobj_class=code_object_class_for_current_device())
        self.add_dependency(source)
        self.add_dependency(target)
        self._enable_group_attributes()


class SpikingMaxPool(Group, CodeRunner):
    """Darknet max-pool on spikes: the target's ``m`` tracks its window's maximum net input count.

    Counts the source's net spikes per neuron in units (``+n`` a spike, ``-1`` a negative spike; n = 1 unless the
    source's negative spikes stand for ``1 / n`` of a spike: :mod:`brainyolo.spiking.event_spaces`) and, for every
    pool neuron whose window holds a neuron that spiked this step, writes the window's maximum
    count into the target's ``m`` (pixels outside the input never count, as Darknet pads with
    -inf). Pool neurons (``equations/maxpool.toml``) fire until their own net count equals ``m``,
    so a pool neuron's count is the maximum of its inputs' counts one step earlier (with a finer negative grid: up to
    a positive spike's units less one below it, where the maximum moved by less than a positive spike).

    Parameters
    ----------
    source : NeuronGroup
        Layer of shape ``in_shape``, neurons position-major, channel-minor.
    target : NeuronGroup
        Pool neurons with a variable ``m``.
    size, stride, pad : int
        Darknet's max-pool parameters (window starts at ``-(pad // 2)``).
    """

    add_to_magic_network = True
    invalidates_magic_network = True

    def __init__(self, source, target, in_shape, size: int, stride: int, pad: int,
                 when: str = "synapses", order: int = 0, name: str = "spikingmaxpool*"):
        c, h, w = (int(v) for v in in_shape)
        out_h, out_w = (h + pad - size) // stride + 1, (w + pad - size) // stride + 1
        if len(source) != c * h * w or len(target) != c * out_h * out_w:
            raise ValueError(f"pool of {in_shape} needs {c * h * w} source and {c * out_h * out_w} "
                             f"target neurons, got {len(source)} and {len(target)}")
        if "m" not in target.variables:
            raise ValueError("the pool's target neurons need a variable 'm'")
        self.source, self.target = source, target
        self.in_shape, self.out_shape = (c, h, w), (c, out_h, out_w)
        Nameable.__init__(self, name=name)
        self.variables = Variables(self)
        spaces = event_spaces(source)
        needed = read_event_spaces(self, source, spaces) + ["_target_m", "input_count"]
        self.variables.add_reference("_target_m", target, "m")
        self.variables.add_array("input_count", size=len(source), dtype=np.int32)
        self.variables.add_constant("N", 1)
        for key, value in {"_C": c, "_H": h, "_W": w, "_OH": out_h, "_OW": out_w, "_K": size,
                           "_S": stride, "_OFF": pad // 2}.items():
            self.variables.add_constant(key, value)
        needed += ["_C", "_H", "_W", "_OH", "_OW", "_K", "_S", "_OFF"]
        CodeRunner.__init__(self, group=self, code="", template="spiking_maxpool", name=None,
                            clock=source.clock, when=when, order=order, needed_variables=needed,
                            template_kwds={"event_spaces": spaces,
                                          "levels": units_per_step(source, spaces)},
                            codeobj_class=code_object_class_for_current_device())
        self.add_dependency(source)
        self.add_dependency(target)
        self._enable_group_attributes()


class IndexRelay(Group, CodeRunner):
    """Index-mapped spike relay: each spike of source neuron ``pre[k]`` adds ``+1`` to the target's
    ``v[post[k]]`` (``-1`` for a negative spike; in units: ``+n`` and ``-1`` where the source's negative spikes stand
    for ``1 / n`` of a spike): the route (concatenation) and upsample layers.

    The same sums as Brian2's ``Synapses(source, target, on_pre="v_post += 1").connect(i=pre,
    j=post)`` without its spike queue: the connections are held as a compressed table (targets of
    each source neuron) and a step touches only the targets of that step's spikes. Every target has
    at most one source, so OpenMP threads may split a step's spikes freely (no two threads write one
    neuron) and the adds, of whole numbers, are exact in any order.

    Parameters
    ----------
    source, target : NeuronGroup
    pre, post : array of int
        Source and target neuron index of each connection; a target appears at most once.
    """

    add_to_magic_network = True
    invalidates_magic_network = True

    def __init__(self, source, target, pre, post, when: str = "synapses", order: int = 0,
                 name: str = "indexrelay*"):
        pre, post = np.asarray(pre, np.int64).ravel(), np.asarray(post, np.int64).ravel()
        if pre.shape != post.shape:
            raise ValueError(f"pre ({pre.size}) and post ({post.size}) differ in length")
        if pre.size and (pre.min() < 0 or pre.max() >= len(source) or post.min() < 0 or post.max() >= len(target)):
            raise ValueError("a relay index lies outside its group")
        if post.size and np.bincount(post).max() > 1:
            raise ValueError("a relay target has more than one source")
        self.source, self.target = source, target
        order_by_source = np.argsort(pre, kind="stable")
        offsets = np.zeros(len(source) + 1, np.int32)
        np.cumsum(np.bincount(pre, minlength=len(source)), out=offsets[1:])
        Nameable.__init__(self, name=name)
        self.variables = Variables(self)
        spaces = event_spaces(source)
        needed = read_event_spaces(self, source, spaces) + ["_target_v", "_offsets", "_targets"]
        self.variables.add_reference("_target_v", target, "v")
        self.variables.add_array("_offsets", size=offsets.size, dtype=np.int32, values=offsets, read_only=True)
        targets = post[order_by_source].astype(np.int32)
        self.variables.add_array("_targets", size=max(targets.size, 1), dtype=np.int32,
                                 values=targets if targets.size else np.zeros(1, np.int32), read_only=True)
        self.variables.add_constant("N", 1)
        CodeRunner.__init__(self, group=self, code="", template="index_relay", name=None,
                            clock=source.clock, when=when, order=order, needed_variables=needed,
                            template_kwds={"event_spaces": spaces},
                            codeobj_class=code_object_class_for_current_device())
        self.add_dependency(source)
        self.add_dependency(target)
        self._enable_group_attributes()
