"""Index-mapped relay (route, upsample) against Brian2's own ``Synapses`` with the same connections."""

from __future__ import annotations

import brian2
import numpy as np
import pytest

from brainyolo.spiking.builder import _grid_index
from brainyolo.spiking.connections import IndexRelay
from brainyolo.spiking.neurons import NEGATIVE_EVENT, load_neuron_model, neuron_group

SHAPE = (48, 24, 24)  # about a quarter of the 27648 source neurons spike per step: threads split them
STEPS = 12


def upsample_and_route():
    """(pre, post) of a 2x upsample of SHAPE, and of SHAPE routed behind 3 channels of another layer."""
    c, h, w = SHAPE
    post = _grid_index((c, 2 * h, 2 * w))
    pre = np.repeat(np.repeat(_grid_index(SHAPE), 2, axis=1), 2, axis=2)
    return {"up": (pre.ravel(), post.ravel(), c * 4 * h * w),
            "route": (_grid_index(SHAPE).ravel(), _grid_index(SHAPE, 3, c + 3).ravel(), (c + 3) * h * w)}


def build():
    rng = np.random.default_rng(7)
    source = neuron_group(load_neuron_model("if_signed_ibt"), int(np.prod(SHAPE)), name="relaysrc")
    source.I = rng.uniform(-1, 1, len(source))
    relay = load_neuron_model("relay")
    objects, monitors = [source], {}
    for kind, (pre, post, size) in upsample_and_route().items():
        ours = neuron_group(relay, size, name=f"{kind}ours")
        theirs = neuron_group(relay, size, name=f"{kind}theirs")
        synapses = brian2.Synapses(source, theirs, on_pre={"pre": "v_post += 1", "neg": "v_post -= 1"},
                                   on_event={"pre": "spike", "neg": NEGATIVE_EVENT}, name=f"{kind}syn")
        synapses.connect(i=pre, j=post)
        monitors[kind] = (brian2.StateMonitor(ours, "v", record=True, name=f"{kind}mo"),
                          brian2.StateMonitor(theirs, "v", record=True, name=f"{kind}mt"),
                          brian2.SpikeMonitor(ours, name=f"{kind}so"), brian2.SpikeMonitor(theirs, name=f"{kind}st"))
        objects += [ours, theirs, synapses, IndexRelay(source, ours, pre, post, name=f"{kind}relay"),
                    *monitors[kind]]
    spikes = brian2.SpikeMonitor(source, record=False, name="relaysrcspikes")
    brian2.Network(*objects, spikes).run(STEPS * brian2.ms)
    return monitors, spikes


def check(monitors, spikes):
    assert spikes.num_spikes > STEPS * 4096  # the parallel path ran
    for kind, (ours_v, theirs_v, ours_s, theirs_s) in monitors.items():
        np.testing.assert_array_equal(np.asarray(ours_v.v[:]), np.asarray(theirs_v.v[:]), err_msg=kind)
        assert ours_s.num_spikes == theirs_s.num_spikes > 0
        np.testing.assert_array_equal(np.asarray(ours_s.i[:]), np.asarray(theirs_s.i[:]))


def test_relay_equals_brian2_synapses_numpy_runtime():
    brian2.start_scope()
    brian2.prefs.codegen.target = "numpy"
    check(*build())


@pytest.mark.long
@pytest.mark.standalone_only
def test_relay_equals_brian2_synapses_cpp_standalone(tmp_path):
    from brainyolo.spiking.device import standalone

    with standalone(threads=2, directory=str(tmp_path / "build")):
        check(*build())


@pytest.mark.parametrize("pre, post, message", [([0, 1], [0], "differ in length"),
                                                ([0, 99], [0, 1], "outside"),
                                                ([0, 1], [2, 2], "more than one source")])
def test_relay_refuses_bad_tables(pre, post, message):
    brian2.start_scope()
    relay = load_neuron_model("relay")
    source, target = neuron_group(relay, 4, name="rs"), neuron_group(relay, 4, name="rt")
    with pytest.raises(ValueError, match=message):
        IndexRelay(source, target, pre, post)
