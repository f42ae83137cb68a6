"""The NIR bridge against an independent simulator: Norse 1.1.0 ran tests/files/nir_conv_snn.nir (Conv2d -> LIF ->
SumPool2d -> Flatten -> Affine -> LIF, written with the ``nir`` package alone) on 50 steps of fixed random input
spikes (tools/make_nir_golden.py, float64); brainyolo imports the file and Brian2 must fire the same spikes in
every neuron layer at every step, with the same membranes.

No tolerance: the network's weights lie on a 2**-5 grid and its dt / tau are powers of two (tau 2 or 4 ms, dt
1 ms), so every synaptic sum is exact in any order and every membrane step rounds the same way in PyTorch and
Brian2 (both float64, both ``v + dt/tau * (x + v_leak - v)``, spike where ``v > v_threshold``). The Conv2d runs as
brainyolo's weight-shared convolution (tests/nir/test_nir_shared.py), which sums in fixed point on a 2**-27 grid
here: the 2**-5 weights lie on it, so its sums are exact too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from brainyolo.nir.model_file import read_spiking_model
from brainyolo.nir.simulate import run_spiking_model

FILES = Path(__file__).resolve().parents[1] / "files"
GOLDEN = np.load(FILES / "nir_golden.npz")
LAYERS = ("lif1", "lif2")


def imported(tmp_path) -> Path:
    """The golden NIR file through the command line, checked as a user checks it."""
    out = tmp_path / "snn.h5"
    code, text, err = run_cli(["import-nir", str(FILES / "nir_conv_snn.nir"), "-o", str(out)])
    assert code == 0, err
    code, text, err = run_cli(["check", str(out)])
    assert code == 0 and "spiking model file, 6 layers (Conv2d, LIF, SumPool2d, Flatten, Dense, LIF)" in text, err
    return out


def assert_norse_spikes(run) -> None:
    for name in LAYERS:
        expected = GOLDEN[f"{name}_spikes"]
        assert run.spikes[name].shape == expected.shape
        steps, where = np.nonzero((run.spikes[name] != expected).reshape(len(expected), -1))
        assert len(steps) == 0, f"{name}: first difference at step {steps[:1]}, neuron {where[:1]}"
        np.testing.assert_array_equal(run.counts()[name], expected.sum(0))
        np.testing.assert_array_equal(run.states[name]["v"], GOLDEN[f"{name}_v"])


def test_golden_file_is_the_issue_network():
    assert int(GOLDEN["steps"]) == 50 and GOLDEN["input_spikes"].shape == (50, 2, 8, 8)
    assert "norse 1.1.0" in str(GOLDEN["versions"])
    assert GOLDEN["lif1_spikes"].sum() == 1451 and GOLDEN["lif2_spikes"].sum() == 121  # neither silent nor saturated


def test_runtime_spikes_equal_norse(tmp_path):
    model = read_spiking_model(imported(tmp_path))
    run = run_spiking_model(model, GOLDEN["input_spikes"], record={name: ["v"] for name in LAYERS})
    assert_norse_spikes(run)


@pytest.mark.long
def test_cpp_standalone_spikes_equal_norse(tmp_path):
    """The issue's "done when": imported, checked, simulated in C++ standalone: Norse's spikes over 50 steps."""
    model = read_spiking_model(imported(tmp_path))
    run = run_spiking_model(model, GOLDEN["input_spikes"], device="cpp_standalone",
                            record={name: ["v"] for name in LAYERS})
    assert_norse_spikes(run)
