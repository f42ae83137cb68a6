"""The numpy vector-Jacobian products against finite differences of the forward pass and the adjoint identity."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TEST_DATA, write_random_model

from brainyolo.ann import darknet
from brainyolo.ann.backward import backward, conv2d_transpose
from brainyolo.ann.reference import conv2d, forward
from brainyolo.convert.balancing import detection_cotangents, detection_error, head_readers

pytestmark = pytest.mark.codegen_independent


@pytest.mark.parametrize(("stride", "pad", "k"), [(1, 1, 3), (2, 1, 3), (1, 0, 1), (2, 0, 2)])
def test_conv_transpose_is_the_adjoint_of_the_convolution(stride, pad, k):
    """<conv(x), y> = <x, conv^T(y)> for every x, y (no bias)."""
    rng = np.random.default_rng(k + stride)
    x = rng.normal(size=(3, 7, 6))
    weight = rng.normal(size=(5, 3, k, k))
    y = rng.normal(size=conv2d(x, weight, np.zeros(5), stride, pad).shape)
    lhs = float((conv2d(x, weight, np.zeros(5), stride, pad) * y).sum())
    rhs = float((x * conv2d_transpose(y, weight, stride, pad, x.shape)).sum())
    assert lhs == pytest.approx(rhs, rel=1e-12)


@pytest.fixture(scope="module")
def reduced(tmp_path_factory):
    """The reduced yolov3-tiny (leaky and linear convolutions, max-pools of stride 2 and 1, an upsample, routes,
    two yolo heads) with random weights, and a random image."""
    cfg, weights = write_random_model((TEST_DATA / "reduced-yolov3-tiny.cfg").read_text(),
                                      tmp_path_factory.mktemp("backward"), seed=3)
    graph = darknet.load_darknet(cfg, weights).folded_graph()
    image = np.random.default_rng(4).uniform(0, 1, graph.input_shape)
    return graph, image


def test_backward_matches_finite_differences_at_every_layer(reduced):
    """For a random cotangent on the heads and a random direction at each layer's output, <cotangent, direction>
    equals the central difference of the heads' maps along that direction (piecewise linear: exact up to
    rounding where no slope or max-pool winner changes)."""
    graph, image = reduced
    rng = np.random.default_rng(5)
    outputs = forward(graph, image, capture=True, dtype=np.float64)
    heads = graph.heads()
    u = {h: rng.normal(size=outputs[h].shape) for h in heads}
    cotangents = backward(graph, outputs, u)
    checked = 0
    for index in range(len(graph.layers)):
        if index in heads or cotangents[index] is None:
            continue
        direction = rng.normal(size=outputs[index].shape)

        def moved(sign, index=index, direction=direction, eps=1e-7):
            shifted = forward(graph, image, capture=True, dtype=np.float64,
                              after=lambda i, out: out + sign * eps * direction if i == index else out)
            return sum(float((shifted[h] * u[h]).sum()) for h in heads)

        numeric = (moved(1) - moved(-1)) / 2e-7
        assert float((cotangents[index] * direction).sum()) == pytest.approx(numeric, rel=1e-5, abs=1e-6)
        checked += 1
    assert checked == len(graph.layers) - len(heads)


def test_backward_refuses_a_cotangent_of_the_wrong_shape(reduced):
    graph, image = reduced
    outputs = forward(graph, image, capture=True, dtype=np.float64)
    head = graph.heads()[0]
    with pytest.raises(ValueError, match=f"layer {head}"):
        backward(graph, outputs, {head: np.zeros(3)})


@pytest.mark.parametrize("softmax", [False, True])
def test_detection_cotangents_give_the_detection_errors_gauss_newton_matrix(softmax):
    """E[(u . d)^2] over the draws equals the detection error of a small step d, divided by its squared size."""
    rng = np.random.default_rng(6)
    anchors, classes = 2, 3
    reference = [rng.normal(size=(anchors * (5 + classes), 3, 2))]
    d = rng.normal(size=reference[0].shape)
    eps = 1e-5
    expected = detection_error(reference, [reference[0] + eps * d], [anchors], [softmax]) / eps ** 2
    draws = np.array([float((detection_cotangents(reference, [anchors], [softmax], rng)[0] * d).sum())
                      for _ in range(20000)])
    assert np.mean(draws ** 2) == pytest.approx(expected, rel=0.05)


def test_head_readers_of_the_reduced_graph(reduced):
    graph, _ = reduced
    assert head_readers(graph) == ([3, 3], [False, False])
