"""The weight-shared convolution equals Brian2's unrolled Synapses, spike for spike.

Weights and input currents are dyadic rationals, so every sum is exact in any order: a single
differing spike is a logic error, not rounding.
"""

from __future__ import annotations

import brian2
import numpy as np
import pytest

from brainyolo.ann.graph import conv_output_size
from brainyolo.spiking import from_neuron_order
from brainyolo.spiking.connections import SharedConvolution
from brainyolo.spiking.neurons import NEGATIVE_EVENT, load_neuron_model, neuron_group
from brainyolo.spiking.unrolled import conv_fan_out, unrolled_conv_synapses

CASES = [  # (in_shape, filters, k, stride, pad)
    ((3, 7, 6), 4, 3, 1, 1),
    ((3, 7, 6), 4, 3, 2, 1),
    ((2, 5, 5), 3, 1, 1, 0),
    ((2, 6, 7), 5, 2, 2, 0),
    ((2, 6, 6), 3, 5, 1, 2),
    ((4, 4, 4), 2, 3, 3, 2),
    # taller maps: the OpenMP scatter cuts the spikes into row bands and defers band edges
    ((3, 24, 9), 4, 3, 1, 1),
    ((2, 21, 10), 3, 3, 2, 1),
    ((2, 18, 12), 2, 5, 1, 2),
    # more output channels than one block of the output-stationary gather (128): a full block and a tail
    ((3, 6, 5), 140, 3, 1, 1),
    # an even kernel without padding at stride 1 (the tiles' padded accumulator)
    ((2, 6, 7), 5, 2, 1, 0),
]
STEPS = 40
STANDALONE_CASES = (4, 6, 7, 9)
"""The cases compiled for C++ (each case is a dozen code objects): a 5x5 kernel with padding, the
two tall maps (one strided) whose row bands meet between OpenMP threads, and 140 output channels (the
gather's blocks); the numpy runtime test runs every case."""
ONE_BAND_CASES = (2, 4, 9, 10)
"""The cases also compiled as tiles in one band each (as yolov3-tiny's layers are), with a ring of two input buffers
(``max_delay=1``): a 1x1 and a 5x5 kernel, 140 output channels, an even kernel without padding."""
FLOAT64_CASES = (7,)
"""The float64 build (float weights only, to keep the suite's time): the strided tall map."""


def build_case(index, case, connectivity, scatter="rows", tag="", dyadic=True, max_delay=0):
    """Source of signed IBT neurons with constant currents -> connection -> IBT targets.

    ``dyadic=False``: weights and currents are arbitrary floats (float sums would depend on order).
    """
    in_shape, filters, k, stride, pad = case
    rng = np.random.default_rng(100 + index)
    currents = rng.integers(-64, 64, int(np.prod(in_shape))) / 64
    weight = rng.integers(-32, 33, (filters, in_shape[0], k, k)) / 16
    if not dyadic:
        currents = rng.uniform(-0.9, 0.9, currents.shape)
        weight = rng.normal(0.0, 0.45, weight.shape)
    model = load_neuron_model("if_signed_ibt")
    source = neuron_group(model, len(currents), alpha=0.25, name=f"source{tag}{index}")
    source.I = currents
    out_n = filters * conv_output_size(in_shape[1], k, stride, pad) * conv_output_size(in_shape[2], k, stride, pad)
    target = neuron_group(model, out_n, alpha=0.25, name=f"target{tag}{index}")
    if connectivity == "shared":
        connection = SharedConvolution(source, target, weight, in_shape, stride, pad, scatter=scatter,
                                       name=f"conv{tag}{index}", max_delay=max_delay)
    else:
        connection = unrolled_conv_synapses(source, target, weight, in_shape, stride, pad, name=f"conv{index}")
    monitors = [brian2.SpikeMonitor(target, name=f"pos{tag}{index}"),
                brian2.EventMonitor(target, NEGATIVE_EVENT, name=f"neg{tag}{index}"),
                brian2.SpikeMonitor(source, record=False, name=f"srcpos{tag}{index}"),
                brian2.EventMonitor(source, NEGATIVE_EVENT, record=False, name=f"srcneg{tag}{index}")]
    return [source, target, connection, *monitors]


def results(objects):
    _, target, connection, pos, neg, src_pos, src_neg = objects
    out = {"pos_i": pos.i[:], "pos_t": pos.t_[:], "neg_i": neg.i[:], "neg_t": neg.t_[:], "v": target.v[:],
           "src_pos": src_pos.count[:], "src_neg": src_neg.count[:]}
    out = {key: np.array(value, copy=True) for key, value in out.items()}  # monitors' memory is reused later
    if isinstance(connection, SharedConvolution):
        out["events"] = int(connection.synaptic_events[0])
    return out


def build_all(connectivity, scatters=("rows",), dyadic=True, indices=None):
    """The cases (``indices``: some of them) once per scatter order: their objects, per case."""
    indices = range(len(CASES)) if indices is None else indices
    kind = "d" if dyadic else "f"
    return [build_case(i, CASES[i], connectivity, scatter, tag=f"{scatter}{kind}", dyadic=dyadic)
            for scatter in scatters for i in indices]


def run_all(connectivity, scatters=("rows",), dyadic=True):
    """Every case once per scatter order, all in one network (one compilation in standalone)."""
    per_case = build_all(connectivity, scatters, dyadic)
    brian2.Network(*[o for objects in per_case for o in objects]).run(STEPS * brian2.ms)
    return [results(objects) for objects in per_case]


@pytest.fixture(scope="module")
def unrolled_runtime():
    brian2.start_scope()
    brian2.prefs.codegen.target = "numpy"
    return run_all("unrolled")


def assert_same_spikes(ours, reference):
    for key in ("pos_i", "pos_t", "neg_i", "neg_t", "v"):
        np.testing.assert_array_equal(ours[key], reference[key], err_msg=key)
    assert len(ours["pos_i"]) > 0 and len(ours["neg_i"]) > 0  # both pathways were exercised


def expected_events(case, result):
    """Exact synaptic events: every source spike (either sign) times its real fan-out."""
    in_shape, filters, k, stride, pad = case
    fan = conv_fan_out(in_shape, filters, k, stride, pad)
    spikes = from_neuron_order(result["src_pos"] + result["src_neg"], in_shape)
    return int((spikes * fan).sum())


def test_shared_equals_unrolled_numpy_runtime(unrolled_runtime):
    brian2.start_scope()
    brian2.prefs.codegen.target = "numpy"
    ours = run_all("shared")
    for case, mine, reference in zip(CASES, ours, unrolled_runtime, strict=True):
        assert_same_spikes(mine, reference)
        assert mine["events"] == expected_events(case, mine)


PRECISIONS = {"float32": np.float32, "float64": np.float64}


@pytest.fixture
def precision(request):
    """Brian2's float type for the objects a test creates (float32: brainyolo's default)."""
    old = brian2.prefs.core.default_float_dtype
    brian2.prefs.core.default_float_dtype = PRECISIONS[request.param]
    yield request.param
    brian2.prefs.core.default_float_dtype = old


@pytest.fixture(scope="module")
def float_runtime():
    """Arbitrary float weights in the serial numpy runtime, per precision (computed when first asked)."""
    computed = {}

    def at(precision: str):
        if precision not in computed:
            brian2.start_scope()
            brian2.prefs.codegen.target = "numpy"
            computed[precision] = run_all("shared", dyadic=False)
        return computed[precision]
    return at


def test_float_weights_would_make_sums_depend_on_order():
    """The premise of the next test: with these weights, float32 sums in two orders differ."""
    rng = np.random.default_rng(100)
    terms = rng.normal(0.0, 0.45, (1000, 64)).astype(np.float32)
    forward = np.zeros(64, np.float32)
    for row in terms:
        forward += row
    backward = np.zeros(64, np.float32)
    for row in terms[::-1]:
        backward += row
    assert np.any(forward != backward)


@pytest.mark.codegen_independent
@pytest.mark.parametrize("in_shape, filters, k, stride, pad, expected", [
    ((128, 26, 26), 256, 3, 1, 1, "tiles"),  # yolov3-tiny's conv08: a 1.18 MB kernel
    ((128, 52, 52), 256, 3, 1, 1, "tiles"),  # (the map's size does not matter: large maps go in bands)
    ((128, 13, 13), 228, 3, 1, 1, "tiles"),  # 4 * 128 * 9 * 228 bytes = 1,050,624 > 1 MiB (TILES_KERNEL_BYTES) ...
    ((128, 13, 13), 227, 3, 1, 1, "gather"),  # ... 1,046,016: the kernel fits a core's cache
    ((1024, 13, 13), 512, 1, 1, 0, "gather"),  # a 1x1 kernel (2 MB)
    ((128, 13, 13), 256, 3, 2, 1, "gather"),  # stride 2
    ((16, 13, 13), 256, 3, 1, 1, "rows"),  # fewer channels than GATHER_CHANNELS: row bands
])
def test_auto_order_follows_the_kernel(in_shape, filters, k, stride, pad, expected):
    """``auto`` sums stride-1 kernels larger than 1x1 and than a core's cache in tiles; ``tiles`` asked for where it
    cannot run (stride 2) is the gather."""
    c, h, w = in_shape
    model = load_neuron_model("if_signed_ibt")
    source = neuron_group(model, c * h * w)
    out = conv_output_size(h, k, stride, pad) * conv_output_size(w, k, stride, pad)
    target = neuron_group(model, filters * out)
    weight = np.zeros((filters, c, k, k), np.float32)
    assert SharedConvolution(source, target, weight, in_shape, stride, pad).scatter == expected
    if stride > 1:
        assert SharedConvolution(source, target, weight, in_shape, stride, pad, scatter="tiles").scatter == "gather"


FLOAT_SCATTERS = ("rows", "gather", "tiles")
"""Scatter orders of the arbitrary-float cases: the two ways a step's fixed-point input reaches ``v`` (through
``_input`` and the drain; straight from the gather's accumulators). The orders differ in nothing else for them
(the kernel is rounded once, before any order); every order runs the dyadic cases."""


@pytest.mark.long
@pytest.mark.standalone_only
@pytest.mark.parametrize("precision", ["float32", "float64"], indirect=True)
@pytest.mark.parametrize("threads, scatters", [(2, ("rows", "row_channels", "channels", "gather", "tiles"))])
def test_cpp_standalone_equals_unrolled_and_is_bit_identical_for_any_threads_and_scatter_order(
        unrolled_runtime, float_runtime, tmp_path, threads, scatters, precision, monkeypatch):
    """In C++ with 2 OpenMP threads (one build per precision: :data:`STANDALONE_CASES` in float32,
    :data:`FLOAT64_CASES` in float64; every scatter order):

    * dyadic weights (float32 only: their sums are exact in either type): the spikes, ``v`` and
      synaptic events of Brian2's unrolled ``Synapses``;
    * arbitrary float weights: the fixed-point step input (connections.input_shift) makes every
      scatter order (:data:`FLOAT_SCATTERS`) and the serial numpy runtime give the same spikes and the
      same ``v``, bit for bit, in float32 membranes (the default) and in float64. (One thread is the serial case of the
      same code: the 1-thread C++ runs of ``test_direct.py`` and ``test_event_inputs.py`` equal the
      numpy runtime bit for bit.)
    """
    from brainyolo.spiking import connections
    from brainyolo.spiking.device import standalone

    reference_floats = float_runtime(precision)
    accumulator_bytes = connections.TILE_ACCUMULATOR_BYTES

    with standalone(threads, directory=str(tmp_path / "build")):
        cases = STANDALONE_CASES if precision == "float32" else FLOAT64_CASES
        one_band = ONE_BAND_CASES if precision == "float32" else ()
        single = [build_case(i, CASES[i], "shared", "tiles", tag="tilesone", max_delay=1) for i in one_band]
        assert all(o[2].scatter == "tiles" and o[2].tile_rows == o[2].out_shape[1] for o in single)
        # tiles in bands of a few output rows (yolov3-tiny's maps take one band): 1, 2 and 5 rows in the cases here
        monkeypatch.setattr(connections, "TILE_ACCUMULATOR_BYTES", 6 * 11 * connections.TILE_CHANNELS * 4)
        dyadic = build_all("shared", scatters, True, cases) if precision == "float32" else []
        floats = build_all("shared", FLOAT_SCATTERS, False, cases)
        monkeypatch.setattr(connections, "TILE_ACCUMULATOR_BYTES", accumulator_bytes)
        tiled = [o for objects in dyadic + floats for o in objects if getattr(o, "scatter", None) == "tiles"]
        if precision == "float32":  # (the float64 case is strided: no tiles)
            assert {o.tile_rows for o in tiled} == {1, 2, 5}
        brian2.Network(*[o for objects in single + dyadic + floats for o in objects]).run(STEPS * brian2.ms)
        ours, ours_float = [results(o) for o in dyadic], [results(o) for o in floats]
        ours_single = [results(o) for o in single]
    for i, mine in zip(one_band, ours_single, strict=True):
        assert_same_spikes(mine, unrolled_runtime[i])
        assert mine["events"] == expected_events(CASES[i], mine)
    n = len(scatters)
    chosen = [CASES[i] for i in cases] * n
    references = [unrolled_runtime[i] for i in cases] * n if dyadic else []
    for case, mine, reference in zip(chosen if dyadic else [], ours, references, strict=True):
        assert_same_spikes(mine, reference)
        assert mine["events"] == expected_events(case, mine)
    for mine, reference in zip(ours_float, [reference_floats[i] for i in cases] * len(FLOAT_SCATTERS), strict=True):
        assert_same_spikes(mine, reference)
        assert mine["v"].dtype == PRECISIONS[precision]
        assert mine["events"] == reference["events"]
