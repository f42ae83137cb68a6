"""analysis/fast-and-frugal/rounding_offsets.py: per-channel offsets of the rounded ANN's rounding. Oracles: without
offsets its network is ``rounded_forward``'s (the balancing's own); with the local offsets the first rounded layer's
per-channel mean rounding error on the calibration images, recomputed here from ``quantize``, shrinks."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import analysis_script

from brainyolo.ann.letterbox import iterate_letterboxed
from brainyolo.ann.reference import forward
from brainyolo.convert.balancing import quantize, rounded_forward
from brainyolo.convert.model_file import load_model
from brainyolo.spiking.builder import hidden_layers

pytestmark = pytest.mark.codegen_independent


def test_offsets_cancel_the_mean_rounding_error_and_none_leave_the_rounded_ann(tiny_converted, capsys):
    script = analysis_script("rounding_offsets")
    model_path, images = tiny_converted
    model = load_model(model_path)
    graph = model.normalized_graph()
    hidden = hidden_layers(graph)
    thresholds = {i: 2.0 for i in hidden}  # a coarse grid: 2/4 of the normalized range a step
    _, height, width = graph.input_shape
    data = [chw for _, chw, _ in iterate_letterboxed(images, width, height)]
    for chw in data:
        mine = script.rounded_outputs(graph, chw, thresholds, 4, 2, {})
        theirs, _ = rounded_forward(graph, model.lambdas(), chw, thresholds, 4, burst=2)
        for a, b in zip(mine, theirs, strict=True):
            np.testing.assert_array_equal(a, b)
    offsets = script.calibrate(graph, data, thresholds, 4, 2, "local")
    assert sorted(offsets) == hidden
    first = hidden[0]

    def mean_error(shift):
        errors = []
        for chw in data:
            out = forward(graph, np.asarray(chw, np.float64), capture=True, dtype=np.float64)[first]
            errors.append((out - quantize(out + shift[:, None, None], 2.0, 4, 2)).mean(axis=(1, 2)))
        return np.abs(np.mean(errors, axis=0)).mean()

    before, after = mean_error(np.zeros_like(offsets[first])), mean_error(offsets[first])
    assert before > 0.01 and after < 0.75 * before and mean_error(-offsets[first]) > before  # the sign matters
    script.main([str(model_path), "--steps", "4", "--burst", "2", "--factor", "0.5", "--calibrate",
                 *map(str, images), "--test", *map(str, images)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("local offsets, 2 calibration images") and len(lines) == 3
    assert lines[1].startswith("without offsets: agreement") and lines[2].startswith("with offsets: agreement")
