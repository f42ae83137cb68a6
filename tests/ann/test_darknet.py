"""Darknet reader and writer: structure, exact parameter counts, errors, round trips, BN folding."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CFG_DIR, YOLOV3_TINY, write_random_model

from brainyolo.ann import darknet
from brainyolo.ann.graph import Conv, Graph, MaxPool, RegionHead, Route, Upsample, YoloHead
from brainyolo.io.errors import BrainyoloError

pytestmark = pytest.mark.codegen_independent


@pytest.mark.shared
def test_yolov3_tiny_structure_and_exact_parameter_count():
    model = darknet.load_darknet(YOLOV3_TINY / "yolov3-tiny.cfg", YOLOV3_TINY / "yolov3-tiny.weights")
    graph = model.graph
    assert (model.header.major, model.header.minor, model.header.revision) == (0, 2, 0)
    assert model.header.seen_is_int64
    total = sum(a.size for p in model.params for a in p.arrays())
    assert total == 8_858_734  # the published count
    assert len(graph.layers) == 24 and graph.heads() == [16, 23]
    shapes = graph.shapes()
    assert shapes[16] == (255, 13, 13) and shapes[23] == (255, 26, 26)
    assert shapes[11] == (512, 13, 13)  # size-2 stride-1 max-pool keeps 13x13
    assert graph.layers[17].inputs == (13,) and graph.layers[20].inputs == (19, 8)
    assert graph.class_names[0] == "person" and len(graph.class_names) == 80  # names without final newline
    assert graph.layers[16].anchors.tolist() == [[81, 82], [135, 169], [344, 319]]


@pytest.mark.shared
@pytest.mark.parametrize("name, head_channels, classes", [("yolov2-tiny-voc", 125, 20),
                                                          ("yolov2-tiny", 425, 80)])
def test_v2_cfgs_with_random_weights_round_trip(tmp_path, name, head_channels, classes):
    cfg_text = (CFG_DIR / f"{name}.cfg").read_text()
    cfg, weights = write_random_model(cfg_text, tmp_path, seed=3)
    model = darknet.load_darknet(cfg, weights)
    head = model.graph.layers[model.graph.heads()[0]]
    assert isinstance(head, RegionHead) and head.classes == classes and head.softmax
    assert model.graph.shapes()[-1] == (head_channels, 13, 13)
    again = darknet.load_darknet(cfg, weights)
    for a, b in zip(model.params, again.params, strict=True):
        for x, y in zip(a.arrays(), b.arrays(), strict=True):
            np.testing.assert_array_equal(x, y)
    # the file is exactly header + parameters
    expected = darknet.parameter_count(model.graph, darknet.batch_normalize_flags(model.sections))
    assert weights.stat().st_size == 20 + 4 * expected


def test_cfg_without_final_newline_and_comments():
    text = "[net]\n# comment\nwidth=32\nheight = 32 \nchannels=3\n[convolutional]\nfilters=2\nsize=3\n" \
           "pad=1 ; trailing comment\nactivation=leaky"
    graph = darknet.graph_from_sections(darknet.parse_cfg_text(text))
    (conv,) = graph.layers
    assert isinstance(conv, Conv) and conv.pad == 1 and conv.alpha == pytest.approx(0.1)
    assert graph.shapes() == [(2, 32, 32)]


@pytest.mark.parametrize("text, message", [
    ("[net]\nwidth=8\nheight=8\nchannels=3\n[shortcut]\nfrom=-3\n", "line 5: section [shortcut] is not supported"),
    ("[net]\nwidth=8\nheight=8\nchannels=3\n[convolutional]\nsize=3\n", "missing required key 'filters'"),
    ("[net]\nwidth=8\nheight=8\n", "missing required key 'channels'"),
    ("[net]\nwidth=8\nheight=8\nchannels=3\n[convolutional]\nfilters=2\nsize=1\nactivation=mish\n",
     "activation 'mish' is not supported"),
    ("[net]\nwidth=8\nheight=8\nchannels=3\n[route]\nlayers=-3\n", "must name earlier layers"),
    ("[convolutional]\nfilters=1\n", "the first section must be [net]"),
])
def test_cfg_errors_name_the_file_and_problem(tmp_path, text, message):
    path = tmp_path / "bad.cfg"
    path.write_text(text)
    with pytest.raises(BrainyoloError) as info:
        darknet.graph_from_sections(darknet.read_cfg(path), path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_truncated_and_oversized_weights_state_expected_and_actual(tmp_path, tiny_model):
    cfg, weights = tiny_model
    data = weights.read_bytes()
    expected = (len(data) - 20) // 4
    for name, blob, found in [("short", data[:-8], expected - 2), ("long", data + b"\0" * 12, expected + 3)]:
        bad = tmp_path / f"{name}.weights"
        bad.write_bytes(blob)
        with pytest.raises(BrainyoloError) as info:
            darknet.load_darknet(cfg, bad)
        assert str(bad) in str(info.value)
        assert f"expected {expected} float32 parameters" in str(info.value)
        assert f"found {found}" in str(info.value)
    odd = tmp_path / "odd.weights"
    odd.write_bytes(data + b"\0")
    with pytest.raises(BrainyoloError, match="1 stray bytes"):
        darknet.load_darknet(cfg, odd)


def test_old_header_has_int32_seen(tmp_path, tiny_model):
    cfg, weights = tiny_model
    model = darknet.load_darknet(cfg, weights)
    old = tmp_path / "old.weights"
    darknet.write_weights(old, darknet.WeightsHeader(0, 1, 0, 77), model.params)
    assert old.stat().st_size == weights.stat().st_size - 4
    again = darknet.load_darknet(cfg, old)
    assert again.header.seen == 77 and not again.header.seen_is_int64
    np.testing.assert_array_equal(again.params[-1].weights, model.params[-1].weights)


def test_writer_round_trips_graph_structure(tmp_path, tiny_model):
    cfg, weights = tiny_model
    model = darknet.load_darknet(cfg, weights)
    sections = darknet.sections_from_graph(model.graph, darknet.batch_normalize_flags(model.sections))
    out_cfg, out_weights = tmp_path / "out.cfg", tmp_path / "out.weights"
    darknet.save_darknet(darknet.DarknetModel(sections, model.graph, model.header, model.params),
                         out_cfg, out_weights)
    again = darknet.load_darknet(out_cfg, out_weights, names=cfg.with_suffix(".names"))
    assert [type(a) for a in again.graph.layers] == [type(a) for a in model.graph.layers]
    for a, b in zip(again.graph.layers, model.graph.layers, strict=True):
        assert a.inputs == b.inputs
        if isinstance(a, YoloHead):
            assert a.mask == b.mask and np.array_equal(a.all_anchors, b.all_anchors)
    assert out_weights.read_bytes() == weights.read_bytes()


def test_batchnorm_folding_by_hand():
    params = darknet.ConvParams(biases=np.array([0.5, -1.0], np.float32),
                                weights=np.array([2.0, -3.0], np.float32).reshape(2, 1, 1, 1),
                                scales=np.array([2.0, 0.5], np.float32),
                                rolling_mean=np.array([1.0, 4.0], np.float32),
                                rolling_variance=np.array([4.0, 0.25], np.float32))
    weight, bias = params.folded()
    # y = scale * (w x - mean) / sqrt(var + 1e-6) + beta
    s0, s1 = 2.0 / np.sqrt(4.0 + 1e-6), 0.5 / np.sqrt(0.25 + 1e-6)
    np.testing.assert_allclose(weight.ravel(), [2.0 * s0, -3.0 * s1], rtol=1e-6)
    np.testing.assert_allclose(bias, [0.5 - s0 * 1.0, -1.0 - s1 * 4.0], rtol=1e-6)


def test_graph_shapes_of_every_layer_kind():
    anchors = np.ones((3, 2), np.float32)  # 1 anchor x (5 + 3 classes) = 8 channels
    graph = Graph((3, 10, 10), [
        Conv((-1,), filters=4, size=3, stride=2, pad=1, activation="leaky", alpha=0.1),  # 5x5
        MaxPool((0,), size=2, stride=1, pad=1),  # 5x5
        MaxPool((1,), size=3, stride=2, pad=2),  # (5+2-3)//2+1 = 3
        Upsample((2,), stride=2),  # 6x6
        Route((3,)),
        Conv((4,), filters=8, size=1, stride=1, pad=0, activation="linear", alpha=1.0),
        Route((5, 3)),
        YoloHead((5,), classes=3, mask=(0,), all_anchors=anchors),
    ])
    assert graph.shapes() == [(4, 5, 5), (4, 5, 5), (4, 3, 3), (4, 6, 6), (4, 6, 6), (8, 6, 6),
                              (12, 6, 6), (8, 6, 6)]
    with pytest.raises(ValueError, match="yolo head expects 8 channels"):
        Graph((3, 10, 10), graph.layers[:6] + [YoloHead((4,), classes=3, mask=(0,),
                                                        all_anchors=anchors)]).shapes()
