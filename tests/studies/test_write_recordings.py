"""analysis/overhead/write_recordings.py on a run of the reduced network: each of the five ways writes a file that
reads back with the same counts, and the narrower the counts the smaller the file."""

from __future__ import annotations

import re

import h5py
import numpy as np
import pytest
from conftest import analysis_script

from brainyolo.convert.model_file import load_model

pytestmark = pytest.mark.codegen_independent


def test_five_ways_of_writing_read_back_the_same_counts(tiny_converted, tiny_run, capsys):
    model_path, _ = tiny_converted
    analysis_script("overhead/write_recordings").main(str(tiny_run), 1)
    out = capsys.readouterr().out
    assert "the same counts read back every way: True" in out
    # the "int32" ways wrote the run's counts as int32 (the file's are narrower: read back as int32 first)
    graph = load_model(model_path).graph
    neurons = sum(int(np.prod(graph.shapes()[int(name)])) for name in _layers(tiny_run / "recordings.h5"))
    assert f"({2 * 2 * neurons * 4} bytes in all)" in out
    sizes = {way: float(size) for way, size in re.findall(r"\| 1 \| ([^|]+?) \|[^\n]*\| ([0-9.]+) \|\n", out)}
    assert set(sizes) == {"int32, read back", "int32, fed", "int16, fed", "int16, fed, threads",
                          "narrowest, fed, threads (now)"}
    assert sizes["narrowest, fed, threads (now)"] <= max(sizes["int16, fed"], sizes["int16, fed, threads"]) \
        <= sizes["int32, fed"] == sizes["int32, read back"]
    assert re.search(r"round 1: before / now = [0-9.]+x, [0-9.-]+ s less per image; HDF5's filters / threads = "
                     r"[0-9.]+x, [0-9.-]+ s less per image; int16 / narrowest = [0-9.]+x", out)


def _layers(path) -> list[str]:
    with h5py.File(path) as f:
        return list(f["images/0000/layers"])
