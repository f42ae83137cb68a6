"""Spiking max-pool: a pool neuron's net count equals its window's maximum input count, every step."""

from __future__ import annotations

import brian2
import numpy as np
import pytest

from brainyolo.ann.reference import maxpool2d
from brainyolo.spiking import from_neuron_order
from brainyolo.spiking.connections import SpikingMaxPool
from brainyolo.spiking.neurons import NEGATIVE_EVENT, load_neuron_model, neuron_group

CASES = [((2, 6, 6), 2, 2, 1), ((2, 5, 7), 2, 2, 1), ((3, 5, 5), 2, 1, 1), ((2, 7, 6), 3, 2, 2)]
STEPS = 60


def build(index, case):
    in_shape, size, stride, pad = case
    rng = np.random.default_rng(index)
    source = neuron_group(load_neuron_model("if_signed_ibt"), int(np.prod(in_shape)), alpha=0.5,
                          name=f"poolsrc{index}")
    source.I = rng.integers(-64, 64, len(source)) / 64
    out_shape = maxpool2d(np.zeros(in_shape), size, stride, pad).shape
    target = neuron_group(load_neuron_model("maxpool"), int(np.prod(out_shape)), name=f"pool{index}")
    pool = SpikingMaxPool(source, target, in_shape, size, stride, pad, name=f"maxpool{index}")
    monitors = [brian2.SpikeMonitor(source, name=f"ps{index}"),
                brian2.EventMonitor(source, NEGATIVE_EVENT, name=f"pn{index}"),
                brian2.SpikeMonitor(target, name=f"ts{index}"),
                brian2.EventMonitor(target, NEGATIVE_EVENT, name=f"tn{index}")]
    return [source, target, pool, *monitors]


def counts_per_step(pos, neg, n):
    """(STEPS, n) cumulative net counts after each step."""
    steps = np.zeros((STEPS, n))
    np.add.at(steps, (np.round(np.asarray(pos.t_[:]) * 1000).astype(int), np.asarray(pos.i[:])), 1)
    np.add.at(steps, (np.round(np.asarray(neg.t_[:]) * 1000).astype(int), np.asarray(neg.i[:])), -1)
    return np.cumsum(steps, axis=0)


def check(case, objects):
    in_shape, size, stride, pad = case
    source, target, _, src_pos, src_neg, pool_pos, pool_neg = objects
    inputs = counts_per_step(src_pos, src_neg, len(source))
    pooled = counts_per_step(pool_pos, pool_neg, len(target))
    assert len(src_neg.i[:]) > 0  # negative spikes were exercised
    out_shape = maxpool2d(np.zeros(in_shape), size, stride, pad).shape
    for step in range(STEPS - 1):
        expected = maxpool2d(from_neuron_order(inputs[step], in_shape), size, stride, pad)
        np.testing.assert_array_equal(from_neuron_order(pooled[step + 1], out_shape), expected,
                                      err_msg=f"step {step}")


def run_cases():
    per_case = [build(i, case) for i, case in enumerate(CASES)]
    brian2.Network(*[o for objects in per_case for o in objects]).run(STEPS * brian2.ms)
    return per_case


def test_pool_count_is_window_max_numpy_runtime():
    brian2.start_scope()
    brian2.prefs.codegen.target = "numpy"
    for case, objects in zip(CASES, run_cases(), strict=True):
        check(case, objects)


@pytest.mark.long
@pytest.mark.standalone_only
def test_pool_count_is_window_max_cpp_standalone(tmp_path):
    """With 2 OpenMP threads: row bands per thread for the non-overlapping windows, one band (the serial
    path) for the overlapping case (3, 2, 2)."""
    from brainyolo.spiking.device import standalone

    with standalone(threads=2, directory=str(tmp_path / "build")):
        per_case = run_cases()
        for case, objects in zip(CASES, per_case, strict=True):
            check(case, objects)
