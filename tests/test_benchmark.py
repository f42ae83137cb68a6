"""Pieces of ``brainyolo benchmark`` that turn raw timers into figures."""

from __future__ import annotations

import pytest

from brainyolo.benchmark import layer_profile, memory_bandwidth
from brainyolo.errors import BrainyoloError
from brainyolo.spiking.simulate import read_profile

pytestmark = pytest.mark.codegen_independent


def test_profile_file_grouped_per_layer(tmp_path):
    # Brian2's profiling_info.txt as cpp_standalone writes it: code object, TAB, seconds
    path = tmp_path / "profiling_info.txt"
    path.write_text("conv12_codeobject\t0.75\nlayer12_stateupdater_codeobject\t0.125\n"
                    "layer12_signed_thresholder_codeobject\t0.0625\npool11_codeobject\t0.5\n"
                    "relay20_1_codeobject\t0.25\nlayer00_stateupdater_codeobject\t1.5\n"
                    "statemonitor_codeobject\t0.03125\n")
    layers, other = layer_profile(read_profile(path))
    assert layers == {0: {"connection": 0.0, "neurons": 1.5}, 11: {"connection": 0.5, "neurons": 0.0},
                      12: {"connection": 0.75, "neurons": 0.1875}, 20: {"connection": 0.25, "neurons": 0.0}}
    assert list(layers) == [0, 11, 12, 20] and other == 0.03125


@pytest.mark.parametrize("text, problem", [("conv01_codeobject\n", "line 1 is not"),
                                           ("a\t1\nconv01_codeobject\tfast\n", "line 2: 'fast' is not a number")])
def test_bad_profile_file(tmp_path, text, problem):
    path = tmp_path / "profiling_info.txt"
    path.write_text(text)
    with pytest.raises(BrainyoloError, match=problem):
        read_profile(path)


def test_memory_bandwidth_is_a_rate():
    rate = memory_bandwidth(megabytes=8, repeat=2)  # bytes per second: at least 100 MB/s on any machine
    assert 1e8 < rate < 1e13
