"""Streaming percentiles against numpy's exact ones, and conversion reproducing the ANN."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TRAIN, VAL, YOLOV3_TINY, write_images

from brainyolo.ann import darknet
from brainyolo.ann.letterbox import letterbox, load_image
from brainyolo.ann.reference import forward, head_maps
from brainyolo.convert.calibration import HistogramSpec, StreamingPercentile, calibrate
from brainyolo.convert.normalization import normalize_graph, output_lambdas

pytestmark = pytest.mark.codegen_independent


@pytest.mark.parametrize("percentile", [50.0, 99.0, 99.9, 100.0])
def test_streaming_percentile_error_bound(percentile):
    rng = np.random.default_rng(7)
    spec = HistogramSpec(resolution=0.01)
    stream = StreamingPercentile(3, spec)
    blocks = [rng.lognormal(mean=[[-1.0], [0.5], [2.0]], sigma=1.5, size=(3, 5000)) *
              rng.choice([-1, 1], size=(3, 5000)) for _ in range(7)]
    for block in blocks:
        stream.update(block)
    values = np.abs(np.concatenate(blocks, axis=1))
    exact = np.percentile(values, percentile, axis=1, method="inverted_cdf")
    relative = np.abs(stream.percentile(percentile) / exact - 1)
    assert relative.max() <= spec.relative_error + 1e-12
    pooled = np.percentile(values, percentile, method="inverted_cdf")
    assert abs(stream.pooled_percentile(percentile) / pooled - 1) <= spec.relative_error + 1e-12
    np.testing.assert_array_equal(stream.maximum, values.max(axis=1))


def test_streaming_memory_does_not_grow():
    stream = StreamingPercentile(4)
    before = stream.counts.nbytes
    for _ in range(50):
        stream.update(np.random.default_rng(0).random((4, 1000)))
    assert stream.counts.nbytes == before and stream.counts.sum() == 4 * 50 * 1000


def test_out_of_range_values():
    spec = HistogramSpec(low=1e-2, high=10.0, resolution=0.05)
    stream = StreamingPercentile(2, spec)
    stream.update(np.array([[0.0, 0.0, 0.0, 0.001], [20.0, 30.0, 50.0, 40.0]]))
    est = stream.percentile(50)
    assert est[0] == pytest.approx(1e-2)  # underflow: reported as `low`
    assert est[1] == 50.0  # overflow: the exact maximum


def test_calibrate_matches_exact_percentiles(tmp_path, tiny_model):
    cfg, weights = tiny_model
    graph = darknet.load_darknet(cfg, weights).folded_graph()
    paths = write_images(tmp_path / "calib", 4)
    spec = HistogramSpec()
    result = calibrate(graph, paths, 99.0, spec, progress=False)
    outputs = [forward(graph, letterbox(load_image(p), 96, 96)[0], capture=True) for p in paths]
    for index, stats in result.layers.items():
        acts = np.abs(np.concatenate([o[index].reshape(o[index].shape[0], -1) for o in outputs], axis=1))
        exact = np.percentile(acts, 99.0, axis=1, method="inverted_cdf")
        assert np.all(np.abs(stats.channel_percentile / exact - 1) <= spec.relative_error + 1e-9)
        pooled = np.percentile(acts, 99.0, method="inverted_cdf")
        assert abs(stats.layer_percentile / pooled - 1) <= spec.relative_error + 1e-9
        np.testing.assert_allclose(stats.channel_max, acts.max(axis=1), rtol=1e-6)
    assert result.images == 4 and set(result.layers) == {0, 2, 4, 6, 8, 10, 11, 12, 15, 18, 19}


@pytest.mark.parametrize("norm", ["channel", "layer"])
def test_normalized_network_times_lambda_reproduces_heads(tmp_path, tiny_model, norm):
    cfg, weights = tiny_model
    graph = darknet.load_darknet(cfg, weights).folded_graph()
    calibration = calibrate(graph, write_images(tmp_path / "c", 3), 99.9, progress=False)
    lambdas = output_lambdas(graph, calibration, norm)
    normalized = normalize_graph(graph, lambdas)
    x = np.random.default_rng(1).random(graph.input_shape).astype(np.float32)
    original = forward(graph, x, capture=True, dtype=np.float64)
    scaled = forward(normalized, x, capture=True, dtype=np.float64)
    for index, (a, b) in enumerate(zip(original, scaled, strict=True)):
        np.testing.assert_allclose(b * lambdas[index][:, None, None], a, atol=1e-5, rtol=1e-5)
    # route 17 concatenates upsample 16 (which passes conv 15's lambda) and conv 6's
    np.testing.assert_array_equal(lambdas[17], np.concatenate([lambdas[15], lambdas[6]]))
    np.testing.assert_array_equal(lambdas[7], lambdas[6])  # max-pool passes lambda through
    if norm == "layer":
        assert len(set(lambdas[0])) == 1
    else:
        assert len(set(lambdas[0])) == 4


@pytest.mark.shared
@pytest.mark.parametrize("norm", ["channel", "layer"])
def test_real_model_normalized_reproduces_head_maps(norm, converted_yolov3_tiny):
    from brainyolo.convert.model_file import load_model

    model = load_model(converted_yolov3_tiny)
    lambdas = model.lambdas(norm)
    chw, _ = letterbox(load_image(VAL / "images" / "000000000139.jpg"), 416, 416)
    original = head_maps(model.graph, chw)
    normalized = head_maps(model.normalized_graph(norm), chw)
    for index, a, b in zip(model.graph.heads(), original, normalized, strict=True):
        assert np.abs(b * lambdas[index][:, None, None] - a).max() <= 1e-4
    assert model.calibration.images == 8 and YOLOV3_TINY.exists() and TRAIN.exists()
