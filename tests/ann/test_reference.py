"""numpy reference forward pass against hand-written loops and OpenCV's Darknet importer."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CFG_DIR, VAL, YOLOV3_TINY, opencv_head_inputs, opencv_net, write_random_model
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from brainyolo.ann import darknet
from brainyolo.ann.letterbox import Letterbox, darknet_resize, letterbox, load_image
from brainyolo.ann.reference import conv2d, forward, head_maps, maxpool2d, upsample2d

pytestmark = pytest.mark.codegen_independent


def naive_conv(x, w, b, stride, pad):
    c, h, wd = x.shape
    f, _, k, _ = w.shape
    oh, ow = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    out = np.zeros((f, oh, ow))
    for o in range(f):
        for i in range(oh):
            for j in range(ow):
                acc = b[o]
                for ci in range(c):
                    for dy in range(k):
                        for dx in range(k):
                            y, xx = i * stride + dy - pad, j * stride + dx - pad
                            if 0 <= y < h and 0 <= xx < wd:
                                acc += w[o, ci, dy, dx] * x[ci, y, xx]
                out[o, i, j] = acc
    return out


def naive_darknet_maxpool(x, size, stride, pad):
    """Literal port of Darknet's forward_maxpool_layer."""
    c, h, w = x.shape
    oh, ow = (h + pad - size) // stride + 1, (w + pad - size) // stride + 1
    offset = -(pad // 2)
    out = np.zeros((c, oh, ow))
    for k in range(c):
        for i in range(oh):
            for j in range(ow):
                best = -np.inf
                for n in range(size):
                    for m in range(size):
                        y, xx = offset + i * stride + n, offset + j * stride + m
                        if 0 <= y < h and 0 <= xx < w:
                            best = max(best, x[k, y, xx])
                out[k, i, j] = best
    return out


def darknet_c_resize(im, w, h):
    """Literal port of Darknet's resize_image (float32 arithmetic), im is (H, W, C)."""
    f = np.float32
    ih, iw, c = im.shape
    part = np.zeros((ih, w, c), np.float32)
    w_scale = f(iw - 1) / f(w - 1)
    h_scale = f(ih - 1) / f(h - 1)
    for k in range(c):
        for r in range(ih):
            for col in range(w):
                if col == w - 1 or iw == 1:
                    val = im[r, iw - 1, k]
                else:
                    sx = f(col) * w_scale
                    ix = int(sx)
                    dx = f(sx - f(ix))
                    val = f((f(1) - dx) * im[r, ix, k] + dx * im[r, ix + 1, k])
                part[r, col, k] = val
    out = np.zeros((h, w, c), np.float32)
    for k in range(c):
        for r in range(h):
            sy = f(r) * h_scale
            iy = int(sy)
            dy = f(sy - f(iy))
            for col in range(w):
                out[r, col, k] = f((f(1) - dy) * part[iy, col, k])
            if r == h - 1 or ih == 1:
                continue
            for col in range(w):
                out[r, col, k] = f(out[r, col, k] + dy * part[iy + 1, col, k])
    return out


@pytest.mark.parametrize("k, stride, pad", [(3, 1, 1), (3, 2, 1), (1, 1, 0), (1, 1, 1), (5, 2, 2), (2, 3, 0)])
def test_conv2d_matches_loops(k, stride, pad):
    rng = np.random.default_rng(k * 10 + stride + pad)
    x = rng.standard_normal((3, 9, 7))
    w, b = rng.standard_normal((4, 3, k, k)), rng.standard_normal(4)
    np.testing.assert_allclose(conv2d(x, w, b, stride, pad), naive_conv(x, w, b, stride, pad), atol=1e-12)


@pytest.mark.parametrize("size, stride, pad", [(2, 2, 1), (2, 1, 1), (3, 2, 2), (3, 1, 2), (2, 2, 0), (3, 3, 2)])
@pytest.mark.parametrize("shape", [(2, 8, 8), (2, 7, 5), (1, 2, 3)])
def test_maxpool_matches_darknet_loop(size, stride, pad, shape):
    x = np.random.default_rng(1).standard_normal(shape)
    np.testing.assert_array_equal(maxpool2d(x, size, stride, pad), naive_darknet_maxpool(x, size, stride, pad))


def test_upsample_nearest():
    x = np.arange(4.0).reshape(1, 2, 2)
    np.testing.assert_array_equal(upsample2d(x, 2)[0], [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])


@pytest.mark.parametrize("src, dst", [((7, 5), (13, 4)), ((480, 640), (312, 416)), ((1, 6), (4, 3)),
                                      ((9, 1), (3, 5)), ((427, 640), (277, 416))])
def test_darknet_resize_matches_c_port(src, dst):
    im = np.random.default_rng(0).random((*src, 3), dtype=np.float32)
    if src[0] * src[1] > 1000:  # the C port is slow: compare a crop of rows of the big ones
        im = im[:, :, :1]
    np.testing.assert_array_equal(darknet_resize(im, dst[1], dst[0]), darknet_c_resize(im, dst[1], dst[0]))


def darknet_letterbox(image, width, height, resize=darknet_c_resize):
    """Darknet's ``letterbox_image``: ``resize`` (by default the C port) keeping the aspect ratio, grey 0.5
    around; then (C, H, W)."""
    box = Letterbox((image.shape[1], image.shape[0]), (width, height))
    (new_w, new_h), (left, top) = box.scaled_size, box.offset
    canvas = np.full((height, width, image.shape[2]), 0.5, np.float32)
    canvas[top:top + new_h, left:left + new_w] = resize(image, new_w, new_h)
    return np.ascontiguousarray(canvas.transpose(2, 0, 1))


@settings(max_examples=40, deadline=None)
@given(in_w=st.integers(1, 24), in_h=st.integers(1, 24), width=st.integers(2, 30), height=st.integers(2, 30),
       channels=st.sampled_from([1, 3]), seed=st.integers(0, 2 ** 32 - 1))
# 8 rows to 24: float32 puts the last row's sample just below row 7, and Darknet gives it only its (1 - dy) term
@example(in_w=10, in_h=8, width=30, height=24, channels=3, seed=1)
def test_letterbox_is_darknets_bit_for_bit(in_w, in_h, width, height, channels, seed):
    """``letterbox`` resizes plane by plane into the canvas: the same float32 numbers as the C port's resize placed
    on Darknet's grey canvas."""
    assume(min(Letterbox((in_w, in_h), (width, height)).scaled_size) > 1)  # (the C port divides by size - 1)
    image = np.random.default_rng(seed).random((in_h, in_w, channels), dtype=np.float32)
    chw, box = letterbox(image, width, height)
    assert chw.dtype == np.float32 and chw.shape == (channels, height, width) and chw.flags.c_contiguous
    assert box == Letterbox((in_w, in_h), (width, height))
    np.testing.assert_array_equal(chw, darknet_letterbox(image, width, height))


@pytest.mark.parametrize("size", [(1000, 1), (1, 1000), (1, 1), (3, 40)])
def test_a_letterbox_with_one_pixel_sides_is_darknet_resize_on_the_canvas(size):
    """Sides of one pixel, in the picture or scaled (the C port cannot divide by ``1 - 1``): ``darknet_resize``'s
    numbers on the canvas."""
    image = np.random.default_rng(5).random((size[1], size[0], 3), dtype=np.float32)
    chw, box = letterbox(image, 16, 16)
    assert 1 in (*box.image_size, *box.scaled_size)
    np.testing.assert_array_equal(chw, darknet_letterbox(image, 16, 16, resize=darknet_resize))


def test_a_photo_sized_letterbox_is_darknets_bit_for_bit():
    """A 640x480 picture into 416x416 (COCO's common size; yolov3-tiny's input), given as float64 (taken as float32,
    as darknet_resize takes it): against darknet_resize, itself checked against the C port on this size above."""
    image = np.random.default_rng(3).random((480, 640, 3))
    chw, box = letterbox(image, 416, 416)
    assert box.scaled_size == (416, 312) and box.offset == (0, 52)
    np.testing.assert_array_equal(chw, darknet_letterbox(image, 416, 416, resize=darknet_resize))


def test_letterbox_geometry_and_grey_padding():
    im = np.ones((50, 100, 3), np.float32)  # landscape 2:1 into 64x64
    chw, box = letterbox(im, 64, 64)
    assert box.scaled_size == (64, 32) and box.offset == (0, 16)
    assert chw.shape == (3, 64, 64)
    assert np.all(chw[:, :16] == 0.5) and np.all(chw[:, 48:] == 0.5) and np.all(chw[:, 16:48] == 1.0)


def test_forward_capture_and_release(tiny_model):
    cfg, weights = tiny_model
    graph = darknet.load_darknet(cfg, weights).folded_graph()
    x = np.random.default_rng(0).random(graph.input_shape, dtype=np.float32)
    full = forward(graph, x, capture=True)
    lean = forward(graph, x)
    assert all(o is not None for o in full)
    assert [i for i, o in enumerate(lean) if o is not None] == graph.heads()
    for i in graph.heads():
        np.testing.assert_array_equal(full[i], lean[i])
    assert [o.shape for o in full] == graph.shapes()


def _compare_with_opencv(cv2, cfg, weights, chw, atol):
    graph = darknet.load_darknet(cfg, weights).folded_graph()
    ours = head_maps(graph, chw)
    theirs = opencv_head_inputs(opencv_net(cv2, cfg, weights), chw)
    assert len(ours) == len(theirs) == len(graph.heads())
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape
        assert np.abs(a - b).max() <= atol


@pytest.mark.shared
@pytest.mark.parametrize("image", ["000000000139.jpg", "000000000632.jpg", "000000000885.jpg"])
def test_yolov3_tiny_head_maps_equal_opencv(opencv, image):
    chw, _ = letterbox(load_image(VAL / "images" / image), 416, 416)
    _compare_with_opencv(opencv, YOLOV3_TINY / "yolov3-tiny.cfg", YOLOV3_TINY / "yolov3-tiny.weights", chw, 1e-4)


@pytest.mark.shared
def test_yolov2_tiny_voc_random_weights_equal_opencv(opencv, tmp_path):
    cfg, weights = write_random_model((CFG_DIR / "yolov2-tiny-voc.cfg").read_text(), tmp_path, seed=5)
    chw = np.random.default_rng(2).random((3, 416, 416), dtype=np.float32)
    graph = darknet.load_darknet(cfg, weights).folded_graph()
    scale = np.abs(head_maps(graph, chw)[0]).max()
    _compare_with_opencv(opencv, cfg, weights, chw, 1e-5 * max(1.0, scale))


def test_tiny_model_equals_opencv(opencv, tiny_model):
    cfg, weights = tiny_model
    chw = np.random.default_rng(4).random((3, 96, 96), dtype=np.float32)
    _compare_with_opencv(opencv, cfg, weights, chw, 1e-4)
