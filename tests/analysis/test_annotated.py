"""Annotated pictures against hand-computed pixels: boxes drawn where the detections are, at the zoom the picture's
size gives, pictures side by side at the offsets their widths give, written once and read back unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from brainyolo.analysis.annotated import annotated, class_colour, draw_detections, side_by_side
from brainyolo.ann.heads import Detections

pytestmark = pytest.mark.codegen_independent

GREY = (128, 128, 128)
NAMES = ["cat", "dog"]


def grey(width: int, height: int, value=GREY) -> Image.Image:
    return Image.new("RGB", (width, height), value)


def two_boxes() -> Detections:
    """A cat at (10, 20) of 30 x 40 pixels scoring 0.9, a dog at (50, 5) of 10 x 10 scoring 0.1."""
    return Detections(boxes=np.array([[10.0, 20.0, 30.0, 40.0], [50.0, 5.0, 10.0, 10.0]]),
                      scores=np.array([0.9, 0.1]), classes=np.array([0, 1]))


def test_boxes_drawn_at_the_zoom_of_a_small_picture():
    """A 100 x 80 picture is enlarged 4 times (384 / 100 rounded up); the cat's outline (2 pixels wide) is at
    x = 40 ... 160, y = 80 ... 240; the dog, under the score threshold, is not drawn."""
    picture = grey(100, 80)
    image = np.asarray(annotated(picture, two_boxes(), NAMES, min_score=0.25))
    assert image.shape == (320, 400, 3)
    cat = class_colour(0)
    for x, y in [(40, 200), (41, 200), (159, 200), (160, 200), (100, 239), (100, 240)]:
        assert tuple(image[y, x]) == cat, (x, y)
    for x, y in [(42, 200), (158, 200), (100, 160), (100, 238), (200, 50), (220, 20), (240, 50)]:
        assert tuple(image[y, x]) == GREY, (x, y)
    assert np.asarray(picture).tolist() == np.asarray(grey(100, 80)).tolist()  # the picture given is not drawn on
    shown = np.asarray(annotated(picture, two_boxes(), NAMES, min_score=0.05))
    assert tuple(shown[50, 200]) == class_colour(1)  # the dog's left edge, at a lower threshold


def test_large_picture_is_not_enlarged_and_its_outline_is_wider():
    image = np.asarray(annotated(grey(900, 500), two_boxes(), NAMES))
    assert image.shape == (500, 900, 3)
    width = round(900 / 300)  # 3 pixels
    assert [tuple(image[40, 10 + k]) for k in range(width + 1)] == [class_colour(0)] * width + [GREY]


def test_side_by_side_offsets_and_one_file(tmp_path):
    left, right = grey(30, 20, (255, 0, 0)), grey(10, 50, (0, 0, 255))
    out = tmp_path / "both.png"
    composed = side_by_side([left, right], out, gap=6)
    assert composed.size == (46, 50)
    pixels = np.asarray(composed)
    assert tuple(pixels[0, 0]) == (255, 0, 0) and tuple(pixels[19, 29]) == (255, 0, 0)
    assert tuple(pixels[20, 0]) == (255, 255, 255)  # below the shorter picture: white
    assert {tuple(pixels[y, x]) for y in range(50) for x in range(30, 36)} == {(255, 255, 255)}  # the gap
    assert tuple(pixels[0, 36]) == (0, 0, 255) and tuple(pixels[49, 45]) == (0, 0, 255)
    with Image.open(out) as written:
        assert written.format == "PNG" and np.array_equal(np.asarray(written.convert("RGB")), pixels)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["both.png"]


def test_pictures_from_files_and_draw_detections(tmp_path):
    """A picture may be a file: read, drawn on and written without changing the file given."""
    source = tmp_path / "photo.png"
    grey(400, 300).save(source)
    draw_detections(source, two_boxes(), NAMES, tmp_path / "drawn.png", title="ANN")
    with Image.open(tmp_path / "drawn.png") as drawn:
        assert np.array_equal(np.asarray(drawn.convert("RGB")), np.asarray(annotated(source, two_boxes(), NAMES,
                                                                                           title="ANN")))
    with Image.open(source) as unchanged:
        assert {unchanged.getpixel((x, 40)) for x in range(400)} == {GREY}
    assert side_by_side([source, source], gap=0).size == (800, 300)
