"""Head decoding and NMS by hand, and whole detections against an OpenCV-based reference."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import VAL, YOLOV3_TINY, opencv_head_inputs, opencv_net

from brainyolo.ann.graph import RegionHead, YoloHead
from brainyolo.ann.heads import decode_rule, nms, undo_letterbox
from brainyolo.ann.letterbox import Letterbox, letterbox, load_image
from brainyolo.cli import main

pytestmark = pytest.mark.codegen_independent


def logit(p):
    return math.log(p / (1 - p))


def test_yolo_decoding_one_cell_by_hand():
    head = YoloHead((0,), classes=2, mask=(1,), all_anchors=np.array([[4, 4], [10, 20]], np.float32))
    m = np.full((7, 2, 3), -30.0)  # 1 anchor x (5 + 2); a 2x3 grid
    m[:, 1, 2] = [logit(0.25), logit(0.5), math.log(2.0), 0.0, logit(0.8), logit(0.5), logit(0.1)]
    boxes, scores = decode_rule(head, m, (96, 64))
    cell = 1 * 3 + 2  # row 1, column 2
    np.testing.assert_allclose(boxes[cell], [(2 + 0.25) / 3, (1 + 0.5) / 2, 2 * 10 / 96, 20 / 64])
    np.testing.assert_allclose(scores[cell], [0.8 * 0.5, 0.8 * 0.1])
    assert scores.max() == pytest.approx(0.4)


def test_region_decoding_softmax_and_grid_anchors():
    head = RegionHead((0,), classes=3, coords=4, softmax=True, anchors=np.array([[1.5, 2.0]], np.float32))
    m = np.zeros((8, 4, 4))
    m[2, 0, 1], m[4, 0, 1], m[5:, 0, 1] = math.log(2.0), logit(0.9), [0.0, math.log(3.0), 0.0]
    boxes, scores = decode_rule(head, m, (416, 416))
    np.testing.assert_allclose(boxes[1], [1.5 / 4, 0.5 / 4, 2 * 1.5 / 4, 2.0 / 4])
    np.testing.assert_allclose(scores[1], 0.9 * np.array([1, 3, 1]) / 5)


def test_nms_greedy_by_hand():
    boxes = np.array([[0.5, 0.5, 0.2, 0.2], [0.52, 0.5, 0.2, 0.2], [0.8, 0.8, 0.1, 0.1], [0.5, 0.5, 0.19, 0.2]])
    scores = np.array([0.6, 0.9, 0.5, 0.7])
    # 1 wins; 0 overlaps it by 0.82 -> out; 3 overlaps 1 by ~0.75 -> out; 2 is alone
    assert nms(boxes, scores, 0.45).tolist() == [1, 2]
    assert nms(boxes, scores, 0.95).tolist() == [1, 3, 0, 2]


def _greedy_by_hand(boxes, scores, threshold):
    """Darknet's per-class NMS as a plain loop over Python floats (centre-size boxes)."""
    def overlap(a, b):
        width = min(a[0] + a[2] / 2, b[0] + b[2] / 2) - max(a[0] - a[2] / 2, b[0] - b[2] / 2)
        height = min(a[1] + a[3] / 2, b[1] + b[3] / 2) - max(a[1] - a[3] / 2, b[1] - b[3] / 2)
        inter = max(width, 0) * max(height, 0)
        union = a[2] * a[3] + b[2] * b[3] - inter
        return inter / union if union > 0 else 0.0

    ranked = sorted(range(len(scores)), key=lambda k: -scores[k])  # stable: ties keep their order
    kept = []
    for k in ranked:
        if all(overlap(boxes[k], boxes[j]) <= threshold for j in kept):
            kept.append(k)
    return kept


@pytest.mark.parametrize("count", [1, 5, 63, 64, 65, 200])
def test_nms_equals_a_plain_greedy_loop(count):
    """Blocks of NMS_BLOCK boxes (fewer, exactly one, one more, several): the kept boxes of a plain loop; scores
    with ties; boxes crowded enough that most are suppressed, empty boxes included."""
    rng = np.random.default_rng(count)
    boxes = np.concatenate([rng.uniform(0.3, 0.7, (count, 2)), rng.uniform(0.0, 0.3, (count, 2))], axis=1)
    boxes[::7, 2] = 0.0  # no area
    scores = rng.choice(np.linspace(0.1, 0.9, max(count // 3, 1)), count)
    for threshold in (0.0, 0.45, 0.9):
        expected = _greedy_by_hand(boxes.tolist(), scores.tolist(), threshold)
        assert nms(boxes, scores, threshold).tolist() == expected
    assert len(nms(boxes, scores, 0.45)) < count or count <= 5


def _nms_row_by_row(boxes, scores, threshold):
    """0.15.1's NMS, verbatim: each kept box's overlaps with the boxes after it, one call per kept box."""
    def iou_one_to_many(box, boxes):
        left = np.maximum(box[0] - box[2] / 2, boxes[:, 0] - boxes[:, 2] / 2)
        right = np.minimum(box[0] + box[2] / 2, boxes[:, 0] + boxes[:, 2] / 2)
        top = np.maximum(box[1] - box[3] / 2, boxes[:, 1] - boxes[:, 3] / 2)
        bottom = np.minimum(box[1] + box[3] / 2, boxes[:, 1] + boxes[:, 3] / 2)
        inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
        union = box[2] * box[3] + boxes[:, 2] * boxes[:, 3] - inter
        return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)

    order = np.argsort(-scores, kind="stable")
    alive = np.ones(len(order), bool)
    keep = []
    for rank, index in enumerate(order):
        if alive[rank]:
            keep.append(int(index))
            alive[rank + 1:] &= iou_one_to_many(boxes[index], boxes[order[rank + 1:]]) <= threshold
    return keep


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nms_keeps_what_the_row_by_row_nms_kept(dtype):
    """Overlaps in blocks against one call per kept box (the implementation before): the same boxes kept for boxes
    of either precision, overlaps exactly at the threshold, boxes with no area and with NaN, 1 to 200 boxes."""
    rng = np.random.default_rng(7)
    for count in (1, 2, 63, 64, 65, 129, 200):
        boxes = np.concatenate([rng.uniform(0.3, 0.7, (count, 2)), rng.uniform(0.0, 0.3, (count, 2))], axis=1)
        boxes = boxes.astype(dtype)
        boxes[1::9] = boxes[0]  # identical boxes: overlap exactly 1
        boxes[2::11, 3] = 0.0
        boxes[3::13, 0] = np.nan
        scores = rng.choice(np.linspace(0.1, 0.9, 7), count).astype(dtype)
        for threshold in (0.0, 0.3, 0.45, 1.0):
            assert nms(boxes, scores, threshold).tolist() == _nms_row_by_row(boxes, scores, threshold)


def _per_class_row_by_row(boxes, scores, threshold):
    """Detections as the loop over classes found them: each class's candidates above ``threshold``, the row-by-row
    NMS, then ``(score, class, box)`` by descending score (stable: by class within equal scores)."""
    expected = []
    for cls in range(scores.shape[1]):
        candidates = np.flatnonzero(scores[:, cls] > threshold)
        for k in _nms_row_by_row(boxes[candidates], scores[candidates, cls], 0.45):
            expected.append((scores[candidates[k], cls], cls, boxes[candidates[k]]))
    expected.sort(key=lambda e: -e[0])
    return expected


class _TwoHeads:
    """A graph as detect_from_heads reads it: two YOLO heads of three classes."""

    def __init__(self):
        anchors = np.array([[10, 14], [23, 27], [37, 58], [81, 82]], np.float32)
        self.layers = {5: YoloHead((0,), classes=3, mask=(2, 3), all_anchors=anchors),
                       9: YoloHead((0,), classes=3, mask=(0, 1), all_anchors=anchors)}

    def heads(self):
        return [5, 9]


def test_detections_of_every_class_as_a_loop_over_classes_finds_them():
    """One pass over every class's candidates against the loop over classes before it (its per-class candidates,
    the row-by-row NMS): the same boxes, scores and classes in the same order, with boxes above the threshold in
    several classes and classes with none."""
    from brainyolo.ann.heads import detect_from_heads, to_pixels

    rng = np.random.default_rng(3)
    graph, box = _TwoHeads(), Letterbox((320, 200), (64, 64))
    for trial in range(6):
        maps = [rng.normal(-2.0, 2.0, (2 * 8, 4, 4)), rng.normal(-2.0, 2.0, (2 * 8, 8, 8))]
        maps[0][7::8] = -40.0 if trial % 2 else maps[0][7::8]  # the last class: no candidate in some trials
        found = detect_from_heads(graph, maps, box, threshold=0.05)
        decoded = [decode_rule(graph.layers[i], m, box.network_size) for i, m in zip(graph.heads(), maps, strict=True)]
        boxes = undo_letterbox(np.concatenate([b for b, _ in decoded]), box)
        expected = _per_class_row_by_row(boxes, np.concatenate([s for _, s in decoded]), 0.05)
        assert len(found) == len(expected) > 0
        assert len({int(c) for c in found.classes}) > 1
        np.testing.assert_array_equal(found.scores, [e[0] for e in expected])
        np.testing.assert_array_equal(found.classes, [e[1] for e in expected])
        np.testing.assert_array_equal(found.boxes, to_pixels(np.array([e[2] for e in expected]), box.image_size))


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _decoded_on_the_whole_grid(layer, head_map, network_size):
    """Every cell of a head map decoded at once (the implementation before the cells were chosen first): boxes
    ``(N, 4)`` and scores ``(N, classes)``, N = anchors x H x W in anchor-major order."""
    anchors = layer.anchors.astype(np.float64)
    channels, height, width = head_map.shape
    p = head_map.astype(np.float64).reshape(len(anchors), channels // len(anchors), height, width)
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    x = (cols[None] + _sigmoid(p[:, 0])) / width
    y = (rows[None] + _sigmoid(p[:, 1])) / height
    scale_w, scale_h = network_size if isinstance(layer, YoloHead) else (width, height)
    w = np.exp(p[:, 2]) * anchors[:, 0, None, None] / scale_w
    h = np.exp(p[:, 3]) * anchors[:, 1, None, None] / scale_h
    if isinstance(layer, RegionHead) and layer.softmax:
        e = np.exp(p[:, 5:] - p[:, 5:].max(axis=1, keepdims=True))
        probs = e / e.sum(axis=1, keepdims=True)
    else:
        probs = _sigmoid(p[:, 5:])
    scores = _sigmoid(p[:, 4])[:, None] * probs
    boxes = np.stack([x.ravel(), y.ravel(), w.ravel(), h.ravel()], axis=1)
    return boxes, scores.transpose(0, 2, 3, 1).reshape(-1, scores.shape[1])


_HEADS = {
    "yolo": YoloHead((0,), classes=5, mask=(1, 2), all_anchors=np.array([[10, 14], [23, 27], [37, 58]], np.float32)),
    "region softmax": RegionHead((0,), classes=20, coords=4, softmax=True,  # enough classes for sums in blocks
                                 anchors=np.array([[1.1, 1.4], [3.4, 4.4]], np.float32)),
    "region logistic": RegionHead((0,), classes=5, coords=4, softmax=False,
                                  anchors=np.array([[1.1, 1.4], [3.4, 4.4]], np.float32)),
}


@pytest.mark.parametrize("kind", list(_HEADS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_decoding_chosen_cells_equals_the_whole_grid(kind, dtype):
    """Every cell (no threshold) bit for bit the whole grid decoded at once; with a threshold, exactly the cells
    whose objectness exceeds it, the same rows in the same order, and no score of a dropped cell above it: maps of
    both precisions, of two sizes, with saturating and non-finite entries."""
    layer = _HEADS[kind]
    rng = np.random.default_rng(11)
    for height, width in ((3, 5), (13, 13)):
        entries = 5 + layer.classes
        head_map = rng.normal(-3.0, 4.0, (2 * entries, height, width)).astype(dtype)
        head_map.reshape(-1)[::37] = 60.0  # the logistic at exactly 1
        head_map.reshape(-1)[5::41] = -60.0
        head_map[4, 0, 0], head_map[entries + 4, 1, 1], head_map[7, 2, 3] = np.inf, np.nan, -np.inf
        boxes, scores = _decoded_on_the_whole_grid(layer, head_map, (416, 320))
        every_boxes, every_scores = decode_rule(layer, head_map, (416, 320))
        np.testing.assert_array_equal(every_boxes, boxes)
        np.testing.assert_array_equal(every_scores, scores)
        objectness = _sigmoid(head_map.astype(np.float64).reshape(2, entries, height, width)[:, 4]).ravel()
        middle = np.sort(objectness[np.isfinite(objectness)])[len(objectness) // 2]
        # a cell's objectness exactly at the threshold (left out) and one step of float64 above it (kept)
        for threshold in (0.005, 0.3, 0.9, 1.0, middle, np.nextafter(middle, -np.inf)):
            kept = objectness > threshold
            chosen_boxes, chosen_scores = decode_rule(layer, head_map, (416, 320), threshold)
            np.testing.assert_array_equal(chosen_boxes, boxes[kept])
            np.testing.assert_array_equal(chosen_scores, scores[kept])
            assert not (scores[~kept] > threshold).any()
            assert 0 < kept.sum() < len(kept) or threshold == 1.0


@pytest.mark.parametrize("kind", list(_HEADS))
def test_decoding_one_chosen_cell_equals_the_whole_grid(kind):
    """A single cell above the threshold (the classes of one cell summed in class order as for many: numpy's own
    sum of contiguous terms pairs them): its row bit for bit the whole grid's, for every cell of the grid."""
    layer = _HEADS[kind]
    entries = 5 + layer.classes
    rng = np.random.default_rng(13)
    for cell in range(2 * 3 * 4):
        head_map = rng.normal(0.0, 6.0, (2 * entries, 3, 4))
        head_map[[4, entries + 4]] = -20.0  # no objectness above 0.005
        anchor_index, rest = divmod(cell, 12)
        head_map[anchor_index * entries + 4, rest // 4, rest % 4] = 3.0
        boxes, scores = _decoded_on_the_whole_grid(layer, head_map, (416, 416))
        chosen_boxes, chosen_scores = decode_rule(layer, head_map, (416, 416), 0.005)
        np.testing.assert_array_equal(chosen_boxes, boxes[[cell]])
        np.testing.assert_array_equal(chosen_scores, scores[[cell]])


def test_detections_of_a_region_head_as_the_whole_grid_gives_them():
    """A region head's detections (softmax over its classes) against the whole grid decoded, thresholded and
    suppressed row by row: the same boxes, scores and classes."""
    from brainyolo.ann.heads import detect_from_heads, to_pixels

    class _OneRegionHead:
        layers = {3: _HEADS["region softmax"]}

        def heads(self):
            return [3]

    rng = np.random.default_rng(5)
    graph, box = _OneRegionHead(), Letterbox((300, 240), (96, 96))
    for _ in range(4):
        head_map = rng.normal(-1.0, 3.0, (2 * 25, 6, 6))
        found = detect_from_heads(graph, [head_map], box, threshold=0.05)
        boxes, scores = _decoded_on_the_whole_grid(graph.layers[3], head_map, box.network_size)
        expected = _per_class_row_by_row(undo_letterbox(boxes, box), scores, 0.05)
        assert len(found) == len(expected) > 0
        np.testing.assert_array_equal(found.scores, [e[0] for e in expected])
        np.testing.assert_array_equal(found.classes, [e[1] for e in expected])
        np.testing.assert_array_equal(found.boxes, to_pixels(np.array([e[2] for e in expected]), box.image_size))


def test_undo_letterbox_inverts_placement():
    box = Letterbox((200, 100), (64, 64))  # scaled to 64x32, offset 16 rows
    centre_in_net = np.array([[0.5, (16 + 8) / 64, 0.25, 0.125]])
    np.testing.assert_allclose(undo_letterbox(centre_in_net, box), [[0.5, 0.25, 0.25, 0.25]])


def reference_detections(cv2, image_path, threshold):
    """Independent pipeline: OpenCV forward + a plain per-cell Darknet [yolo] decoding loop + NMS."""
    net = opencv_net(cv2, YOLOV3_TINY / "yolov3-tiny.cfg", YOLOV3_TINY / "yolov3-tiny.weights")
    image = load_image(image_path)
    chw, _ = letterbox(image, 416, 416)  # same input, as the issue asks
    h, w = image.shape[:2]
    new_w, new_h = (416, h * 416 // w) if 416 / w < 416 / h else (w * 416 // h, 416)
    anchors = [(10, 14), (23, 27), (37, 58), (81, 82), (135, 169), (344, 319)]
    candidates = []
    for out, mask in zip(opencv_head_inputs(net, chw), [(3, 4, 5), (0, 1, 2)], strict=True):
        grid = out.shape[1]
        out = out.reshape(3, 85, grid, grid)
        sig = 1 / (1 + np.exp(-out.astype(np.float64)))
        for a, anchor in enumerate(mask):
            for row in range(grid):
                for col in range(grid):
                    obj = sig[a, 4, row, col]
                    if obj <= threshold:
                        continue
                    bx = (col + sig[a, 0, row, col]) / grid
                    by = (row + sig[a, 1, row, col]) / grid
                    bw = math.exp(out[a, 2, row, col]) * anchors[anchor][0] / 416
                    bh = math.exp(out[a, 3, row, col]) * anchors[anchor][1] / 416
                    bx = (bx - (416 - new_w) / 2 / 416) * 416 / new_w
                    by = (by - (416 - new_h) / 2 / 416) * 416 / new_h
                    bw, bh = bw * 416 / new_w, bh * 416 / new_h
                    x0, x1 = max(0, (bx - bw / 2) * w), min(w, (bx + bw / 2) * w)
                    y0, y1 = max(0, (by - bh / 2) * h), min(h, (by + bh / 2) * h)
                    for cls in range(80):
                        score = obj * sig[a, 5 + cls, row, col]
                        if score > threshold:
                            candidates.append((cls, score, [x0, y0, x1 - x0, y1 - y0]))
    kept = []
    for cls in range(80):
        mine = sorted((c for c in candidates if c[0] == cls), key=lambda c: -c[1])
        while mine:
            best = mine.pop(0)
            kept.append(best)
            mine = [c for c in mine if iou(c[2], best[2]) <= 0.45]
    return kept


def iou(a, b):
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


@pytest.mark.shared
def test_detect_cli_matches_opencv_reference(opencv, tmp_path, converted_yolov3_tiny):
    images = [VAL / "images" / n for n in ("000000000139.jpg", "000000000632.jpg", "000000000724.jpg")]
    out = tmp_path / "det"
    assert main(["detect", str(converted_yolov3_tiny), *map(str, images), "--mode", "ann",
                 "--threshold", "0.1", "-o", str(out), "-q"]) == 0
    ours = json.loads((out / "detections.json").read_text())
    assert {p.name for p in out.glob("*.png")} == {f"{p.stem}_ann.png" for p in images}
    total = 0
    for image in images:
        mine = [d for d in ours if d["file_name"] == image.name]
        theirs = reference_detections(opencv, image, 0.1)
        assert len(mine) == len(theirs) > 0
        for ref in theirs:  # every reference detection has its twin
            twins = [d for d in mine if d["category_id"] == ref[0] and abs(d["score"] - ref[1]) <= 0.01
                     and iou(d["bbox"], ref[2]) >= 0.95]
            assert twins, f"{image.name}: no match for {ref}"
        total += len(theirs)
    assert total >= 5
