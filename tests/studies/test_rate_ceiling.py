"""analysis/fast-and-frugal/rate_ceiling.py: the normalized ANN with the spiking layers clipped at what one spike per
step carries. Oracles: the unnormalized ANN's own head maps (no clipping), numpy's count of the
first layer's activations above the ceiling, and a ceiling above every activation (no change)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import analysis_script

from brainyolo.ann.letterbox import letterbox, load_image
from brainyolo.ann.reference import forward, head_maps
from brainyolo.convert.model_file import load_model
from brainyolo.spiking.builder import hidden_layers

pytestmark = pytest.mark.codegen_independent


@pytest.fixture(scope="module")
def rate_ceiling():
    return analysis_script("rate_ceiling")


@pytest.fixture(scope="module")
def converted(tiny_converted):
    model_path, images = tiny_converted
    model = load_model(model_path)
    graph = model.normalized_graph()
    _, height, width = graph.input_shape
    chw = letterbox(load_image(images[0]), width, height)[0].astype(np.float64)
    return model, graph, chw


def test_unclipped_equals_the_ann(rate_ceiling, converted):
    model, graph, chw = converted
    ours = rate_ceiling.clipped_forward(graph, model.lambdas(), chw, {})
    # (the normalized graph's weights are W / lambda rounded to float32: agreement to ~1e-7)
    for mine, reference in zip(ours, head_maps(model.graph, chw, dtype=np.float64), strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-5, atol=1e-6)


def test_clipping_counts_and_bounds(rate_ceiling, converted):
    model, graph, chw = converted
    hidden = hidden_layers(graph)
    normalized = forward(graph, chw, capture=True, dtype=np.float64)
    first = hidden[0]
    ceiling = float(np.quantile(np.abs(normalized[first]), 0.9))  # clips a tenth of the first layer
    counts: dict[int, list[int]] = {}
    clipped = rate_ceiling.clipped_forward(graph, model.lambdas(), chw, dict.fromkeys(hidden, ceiling), counts)
    assert counts[first] == [int(np.count_nonzero(np.abs(normalized[first]) > ceiling)), normalized[first].size]
    assert counts[first][0] > 0 and set(counts) == set(hidden)
    unclipped = rate_ceiling.clipped_forward(graph, model.lambdas(), chw, {})
    assert any(not np.allclose(a, b) for a, b in zip(clipped, unclipped, strict=True))
    # a ceiling above every activation changes nothing
    top = max(float(np.abs(normalized[i]).max()) for i in hidden) * 1.01
    counts = {}
    same = rate_ceiling.clipped_forward(graph, model.lambdas(), chw, dict.fromkeys(hidden, top), counts)
    assert all(c == 0 for c, _ in counts.values())
    for a, b in zip(same, unclipped, strict=True):
        np.testing.assert_array_equal(a, b)
