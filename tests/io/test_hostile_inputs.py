"""Regression tests: every class of broken or hostile file found by a mutation fuzzer.

Each case edits one valid file (see the ``corpus`` fixture) in one way and runs the real command
that reads it. Where the promise applies, the command ends with exit status 2 and exactly one line
``brainyolo: error: FILE: PROBLEM`` that names the file and says what is wrong, and writes nothing.
Model files and recordings edited here are sealed again with a fresh checksum, as a careless or
hostile writer would do, so that validation itself, not the checksum, must catch each problem.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import FUZZ_CFG, assert_promise, convert_argv, run_cli, write_random_model
from PIL import Image

from brainyolo.ann.letterbox import letterbox, load_image
from brainyolo.io.integrity import seal

pytestmark = pytest.mark.codegen_independent


def expect_error(argv: list[str], path: Path, fragment: str, output: Path | None = None) -> str:
    code, _, stderr = run_cli(argv)
    assert code == 2, stderr
    assert_promise(argv, output)
    assert stderr.startswith(f"brainyolo: error: {path}"), stderr
    assert fragment in stderr, stderr
    return stderr


# ------------------------------------------------------------------------------------------ model files


def _set(name, key, value):
    def edit(f):
        f[name].attrs[key] = value
    return edit


def _replace(name, value):
    def edit(f):
        del f[name]
        f.create_dataset(name, data=value)
    return edit


def _delete(name):
    def edit(f):
        del f[name]
    return edit


def _nan_in(name):
    def edit(f):
        data = f[name][()].astype(np.float64)
        data.flat[0] = np.nan
        _replace(name, data)(f)
    return edit


L = "network/layers"
MODEL_CASES = {
    "deleted layer": (_delete(f"{L}/001"), "not numbered"),
    "deleted bias": (_delete(f"{L}/000/bias"), "weight without a bias"),
    "stride 0": (_set(f"{L}/000", "stride", 0), "stride=0 is outside"),
    "negative pad": (_set(f"{L}/000", "pad", -2), "pad=-2 is outside"),
    "bias of the wrong length": (_replace(f"{L}/000/bias", np.zeros(3, np.float32)), "bias has shape (3,)"),
    "short anchors": (_replace(f"{L}/003/all_anchors", np.ones((1, 2), np.float32)), "does not pick"),
    "NaN anchors": (_nan_in(f"{L}/003/all_anchors"), "anchors holds values that are not finite"),
    "mask out of range": (_set(f"{L}/003", "mask", np.array([0, 5])), "does not pick from the 2 anchors"),
    "NaN weight": (_nan_in(f"{L}/000/weight"), "weight holds values that are not finite"),
    "infinite lambda": (_replace("calibration/000/channel_percentile", np.full(4, np.inf)), "finite numbers"),
    "zero lambda": (_replace("calibration/002/channel_percentile", np.zeros(12)), "percentiles must be positive"),
    "NaN alpha": (_set(f"{L}/000", "alpha", np.nan), "alpha=nan is not a slope"),
    "unknown activation": (_set(f"{L}/000", "activation", "mish"), "activation 'mish'"),
    "huge max-pool": (_set(f"{L}/001", "size", 100000), "size=100000 is outside"),
    "string weights": (_replace(f"{L}/000/weight", "weights"), "weight must be an array of numbers"),
    "unknown layer kind": (_set(f"{L}/001", "kind", "Shortcut"), "unknown layer kind"),
    "two-channel input": (_set("network", "input_shape", np.array([2, 16, 16])), "3 channels"),
    "giant input": (_set("network", "input_shape", np.array([3, 100000, 100000])), "sides 1..4096"),
    "other schema": (_set("/", "schema_version", 7), "schema version 7"),
    "no calibration": (_delete("calibration/000"), "lacks its weight, bias or calibration"),
    "lost class names": (_replace("network/class_names", np.array([b"a", b"b"], dtype=object)),
                         "2 class names for 1 classes"),
}


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_bad_model_file_is_refused_by_name(corpus, tmp_path, case):
    edit, fragment = MODEL_CASES[case]
    model = tmp_path / "model.h5"
    shutil.copy(corpus["model"], model)
    with h5py.File(model, "r+") as f:
        edit(f)
        seal(f)
    out = tmp_path / "out"
    expect_error(["detect", str(model), str(corpus["images"][0]), "-q", "-o", str(out)], model, fragment, out)


def test_flipped_byte_in_model_data_is_detected_by_the_checksum(corpus, tmp_path):
    model = tmp_path / "model.h5"
    shutil.copy(corpus["model"], model)
    with h5py.File(model, "r") as f:  # a byte inside the first layer's weights, where HDF5 stored them
        offset = f[f"{L}/000/weight"].id.get_offset()
    data = bytearray(model.read_bytes())
    data[offset + 5] ^= 0x10
    model.write_bytes(bytes(data))
    expect_error(["detect", str(model), str(corpus["images"][0]), "-q", "-o", str(tmp_path / "out")], model,
                 "content checksum does not match", tmp_path / "out")


DETECTION_KEYS = {"file_name", "category_id", "category_name", "bbox", "score"}


def read_detections(folder: Path, file_name: str) -> list[dict]:
    """``FOLDER/detections.json`` read with :mod:`json`: a non-empty list of detections of the one image
    ``file_name``, each with exactly the record keys, of the corpus model's one class (0, ``thing``)."""
    records = json.loads((folder / "detections.json").read_text())
    assert isinstance(records, list) and records, records
    for record in records:
        assert set(record) == DETECTION_KEYS, record
        assert record["file_name"] == file_name, record
        assert (record["category_id"], record["category_name"]) == (0, "thing"), record
        assert len(record["bbox"]) == 4 and 0 < record["score"] <= 1, record
    return records


def assert_inside(records: list[dict], width: int, height: int) -> None:
    """Every ``[x, y, w, h]`` box lies within a ``width`` x ``height`` image (as rounded to 3 decimals)."""
    for record in records:
        x, y, w, h = record["bbox"]
        assert x >= 0 and y >= 0 and w >= 0 and h >= 0, record
        assert x + w <= width + 1e-3 and y + h <= height + 1e-3, (record, width, height)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_model_without_checksum_still_reads(corpus, tmp_path):
    """A model file without ``content_sha256`` (as written before checksums existed) reads as the same network:
    its detections on an image equal, record for record, those of the sealed original."""
    model = tmp_path / "old.h5"
    shutil.copy(corpus["model"], model)
    with h5py.File(model, "r+") as f:
        assert "content_sha256" in f.attrs
        del f.attrs["content_sha256"]
    image = corpus["images"][0]
    for path, out in ((corpus["model"], tmp_path / "original"), (model, tmp_path / "old")):
        code, _, stderr = run_cli(["detect", str(path), str(image), "-q", "-o", str(out)])
        assert code == 0, stderr
    with h5py.File(model, "r") as f:
        assert "content_sha256" not in f.attrs
    old = read_detections(tmp_path / "old", image.name)
    assert old == read_detections(tmp_path / "original", image.name)
    assert_inside(old, 24, 20)


def test_model_with_1x1_input_runs(corpus, tmp_path):
    """The corpus model with a 1x1 input, on a one-colour 24x20 image: by hand, the 3x3 convolution (pad 1)
    sees only its centre tap, the 2x2 max-pool (pad 1) passes the one value, the 1x1 convolution gives one cell
    of the [yolo] head, two anchors (4x4 and 8x8 network pixels in a 1-pixel network). The detections are these
    two candidates (threshold 0), in the image's pixels, inside the image."""
    model = tmp_path / "model.h5"
    shutil.copy(corpus["model"], model)
    with h5py.File(model, "r+") as f:
        f["network"].attrs["input_shape"] = np.array([3, 1, 1])
        seal(f)
    image = tmp_path / "flat.png"
    Image.new("RGB", (24, 20), (200, 10, 10)).save(image)
    code, _, stderr = run_cli(["detect", str(model), str(image), "--threshold", "0", "-q", "-o", str(tmp_path / "out")])
    assert code == 0, stderr
    records = read_detections(tmp_path / "out", image.name)
    assert_inside(records, 24, 20)

    with h5py.File(model, "r") as f:  # the hand computation, from the file's own numbers
        layers = f[L]
        kinds = [layers[name].attrs["kind"] for name in ("000", "001", "002", "003")]
        assert kinds == ["Conv", "MaxPool", "Conv", "YoloHead"] and layers["001"].attrs["size"] == 2
        hidden = layers["000/weight"][()][:, :, 1, 1] @ (np.array([200, 10, 10]) / 255) + layers["000/bias"][()]
        hidden = np.where(hidden > 0, hidden, layers["000"].attrs["alpha"] * hidden)
        head = (layers["002/weight"][()][:, :, 0, 0] @ hidden + layers["002/bias"][()]).reshape(2, 6)
        anchors = layers["003/all_anchors"][()][layers["003"].attrs["mask"]]
    expected = []
    for (tx, ty, tw, th, objectness, thing), (anchor_w, anchor_h) in zip(head, anchors, strict=True):
        cx, cy, w, h = _sigmoid(tx), _sigmoid(ty), np.exp(tw) * anchor_w, np.exp(th) * anchor_h
        x0, x1 = np.clip([cx - w / 2, cx + w / 2], 0, 1) * 24
        y0, y1 = np.clip([cy - h / 2, cy + h / 2], 0, 1) * 20
        expected.append((_sigmoid(objectness) * _sigmoid(thing), [x0, y0, x1 - x0, y1 - y0]))
    expected.sort(key=lambda candidate: -candidate[0])
    assert len(records) == len(expected) == 2
    for record, (score, box) in zip(records, expected, strict=True):
        assert record["score"] == pytest.approx(score, abs=1e-5), (record, score)
        assert record["bbox"] == pytest.approx(box, abs=2e-3), (record, box)


# ------------------------------------------------------------------------------------------ images


LETTERBOXES = {(1000, 1): ((16, 1), (0, 7)), (1, 1000): ((1, 16), (7, 0)), (1, 1): ((16, 16), (0, 0))}
"""Image (width, height) -> its (width, height) and (left, top) inside a 16x16 input, by hand: the longer
side scaled to 16, the other by the same factor (at least 1 pixel), centred with the rest split evenly."""


@pytest.mark.parametrize("size", list(LETTERBOXES))
def test_extreme_aspect_ratios_are_letterboxed(corpus, tmp_path, size):
    """Images of 1000x1, 1x1000 and 1x1 pixels: the letterbox geometry is the hand one (the picture's colour
    inside, grey 0.5 around it), and detecting on them gives boxes of the image, inside the image."""
    image = tmp_path / "thin.png"
    Image.new("RGB", size, (200, 10, 10)).save(image)
    with h5py.File(corpus["model"], "r") as f:
        assert f["network"].attrs["input_shape"].tolist() == [3, 16, 16]
    chw, box = letterbox(load_image(image), 16, 16)
    (width, height), (left, top) = LETTERBOXES[size]
    assert (box.image_size, box.network_size, box.scaled_size, box.offset) == (size, (16, 16), (width, height),
                                                                               (left, top))
    inside = np.zeros((16, 16), bool)
    inside[top:top + height, left:left + width] = True
    assert chw.shape == (3, 16, 16)
    np.testing.assert_allclose(chw[:, inside], np.repeat(np.array([[200], [10], [10]]) / 255, inside.sum(), 1),
                               rtol=1e-6)
    assert np.all(chw[:, ~inside] == 0.5)
    code, _, stderr = run_cli(["detect", str(corpus["model"]), str(image), "--threshold", "0", "-q", "-o",
                               str(tmp_path / "out")])
    assert code == 0, stderr
    assert_inside(read_detections(tmp_path / "out", image.name), *size)


def test_decompression_bomb_is_refused_before_decoding(corpus, tmp_path):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (10000, 10000)).save(bomb)  # 1e8 pixels in a few kilobytes
    assert bomb.stat().st_size < 100_000
    expect_error(["detect", str(corpus["model"]), str(bomb), "-q", "-o", str(tmp_path / "out")], bomb,
                 "10000x10000 pixels is more than", tmp_path / "out")


@pytest.mark.parametrize(("mode", "suffix"), [("RGB", "png"), ("RGB", "jpg"), ("L", "png"), ("P", "png"),
                                              ("RGBA", "png"), ("LA", "png"), ("CMYK", "jpg")])
def test_eight_bit_images_are_their_rgb_bytes_over_255(tmp_path, mode, suffix):
    """8-bit images of these modes: Pillow's own conversion to RGB, each byte divided by 255 in float32, exactly."""
    path = tmp_path / f"picture.{suffix}"
    pixels = (np.random.default_rng(7).random((9, 13, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels, "RGB").convert(mode).save(path)
    with Image.open(path) as image:
        expected = np.asarray(image.convert("RGB")).astype(np.float32) / np.float32(255)
    rgb = load_image(path)
    assert rgb.dtype == np.float32 and rgb.flags.c_contiguous
    np.testing.assert_array_equal(rgb, expected)


def test_sixteen_bit_grey_keeps_its_range(tmp_path):
    path = tmp_path / "grey16.png"
    Image.fromarray(np.array([[0, 40000], [65535, 1000]], np.uint16)).save(path)
    rgb = load_image(path)
    np.testing.assert_allclose(rgb[..., 0], np.array([[0, 40000], [65535, 1000]]) / 65535, rtol=1e-6)
    assert np.all(rgb[..., 0] == rgb[..., 2])


def test_truncated_image_is_one_error_line(corpus, tmp_path):
    image = tmp_path / "cut.png"
    image.write_bytes(corpus["images"][0].read_bytes()[:200])
    expect_error(["detect", str(corpus["model"]), str(image), "-q", "-o", str(tmp_path / "out")], image,
                 "cannot read image", tmp_path / "out")


# ------------------------------------------------------------------------------------------ Darknet files


def _convert(corpus, tmp_path, cfg=None, weights=None):
    out = tmp_path / "out" / "model.h5"
    return convert_argv(corpus, out, cfg, weights), out


def test_nan_in_weights_names_the_layer(corpus, tmp_path):
    weights = tmp_path / "nan.weights"
    data = bytearray(corpus["weights"].read_bytes())
    data[20 + 4 * 5:20 + 4 * 6] = np.array([np.nan], "<f4").tobytes()
    weights.write_bytes(bytes(data))
    argv, out = _convert(corpus, tmp_path, weights=weights)
    expect_error(argv, weights, "layer 0 (convolution): scales hold values that are not finite", out)


@pytest.mark.parametrize("length", [0, 11, 16, 19])
def test_weights_too_short_for_a_header(corpus, tmp_path, length):
    weights = tmp_path / "short.weights"
    weights.write_bytes(corpus["weights"].read_bytes()[:length])
    argv, out = _convert(corpus, tmp_path, weights=weights)
    expect_error(argv, weights, "too short", out)


def test_unknown_weights_header_version(corpus, tmp_path):
    weights = tmp_path / "v7.weights"
    data = bytearray(corpus["weights"].read_bytes())
    data[0:4] = np.array([7], "<i4").tobytes()
    weights.write_bytes(bytes(data))
    argv, out = _convert(corpus, tmp_path, weights=weights)
    expect_error(argv, weights, "header version 7.2.0 is not one Darknet writes", out)


CFG_CASES = {
    "not UTF-8": (lambda t: t.encode() + b"\n# \xff\xfe\n", "not UTF-8"),
    "odd anchors": (lambda t: t.replace("anchors=4,4, 8,8", "anchors=4,4, 8").encode(), "pairs"),
    "num of the wrong count": (lambda t: t.replace("num=2", "num=3").encode(), "num=3 but 2 anchor pairs"),
    "no num (Darknet reads 1 pair)": (lambda t: t.replace("num=2", "").encode(), "num=1 but 2 anchor pairs"),
    "no head": (lambda t: t[:t.index("[yolo]")].encode(),
                "has no [yolo] or [region] section: brainyolo reads detectors"),
    "negative filters": (lambda t: t.replace("filters=4", "filters=-4").encode(), "filters=-4 is outside"),
    "negative size": (lambda t: t.replace("size=3", "size=-3").encode(), "size=-3 is outside"),
    "huge max-pool": (lambda t: t.replace("[maxpool]\nsize=2", "[maxpool]\nsize=1000000000").encode(),
                      "line 14: layer 1 (MaxPool): size=1000000000 is outside"),
    "zero-stride max-pool": (lambda t: t.replace("stride=2", "stride=0").encode(), "stride=0 is outside"),
    "huge input": (lambda t: t.replace("width=16", "width=99999").encode(), "sides 1..4096"),
    "NaN anchor": (lambda t: t.replace("anchors=4,4", "anchors=nan,4").encode(), "not finite"),
    "NUL bytes": (lambda t: t.encode().replace(b"[maxpool]", b"[max\x00pool]"), "NUL"),
}


@pytest.mark.parametrize("case", sorted(CFG_CASES))
def test_bad_cfg_is_refused_by_name(corpus, tmp_path, case):
    mutate, fragment = CFG_CASES[case]
    cfg = tmp_path / "bad.cfg"
    cfg.write_bytes(mutate(FUZZ_CFG))
    argv, out = _convert(corpus, tmp_path, cfg=cfg)
    expect_error(argv, cfg, fragment, out)


def test_region_anchors_must_pair(tmp_path):
    text = ("[net]\nwidth=16\nheight=16\nchannels=3\n[convolutional]\nfilters=7\nsize=1\nactivation=linear\n"
            "[region]\nanchors=1,1,2\nclasses=2\nnum=1\n")
    cfg = tmp_path / "v2.cfg"
    cfg.write_text(text)
    expect_error(["check", str(cfg)], cfg, "anchors must come in (width, height) pairs")


def _with_floats(source: Path, target: Path, indices, value: float = 3e38) -> Path:
    """A copy of a Darknet weights file (header 0.2: 20 bytes) with the float32s at ``indices`` set to ``value``."""
    data = bytearray(source.read_bytes())
    for index in indices:
        data[20 + 4 * index:24 + 4 * index] = np.float32(value).tobytes()
    target.write_bytes(bytes(data))
    return target


def test_huge_floats_that_overflow_batch_norm_folding_are_refused(corpus, tmp_path):
    """Five floats of the embedded yolov3-tiny set to 3e38 (as in a damaged download): the folded
    weights overflow float32; one line names the weights file and the layer, nothing is written."""
    data = Path(__file__).resolve().parents[2] / "brainyolo" / "data"
    source = data / "tiny-yolov3.weights"
    count = (source.stat().st_size - 20) // 4
    weights = _with_floats(source, tmp_path / "huge.weights", np.linspace(1000, count - 1000, 5).astype(int))
    out = tmp_path / "model.h5"
    argv = ["convert", "--cfg", str(data / "tiny-yolov3.cfg"), "--weights", str(weights), "--names",
            str(data / "scenes.names"), "--calib", str(corpus["images"][0].parent), "-q", "-o", str(out)]
    stderr = expect_error(argv, weights, "with batch-norm folded in overflow float32", out)
    assert "(convolution)" in stderr


def test_huge_floats_that_overflow_the_activations_are_refused(corpus, tmp_path):
    """3e38 in the bias and four weights of the corpus's second convolution (no batch norm, so the
    folded values stay finite): the activations overflow on the first calibration image."""
    # floats: layer 0 (bn, 4x3x3x3): 4 biases + 3 x 4 bn + 108 weights = 124; layer 2: 12 biases, 48 weights
    weights = _with_floats(corpus["weights"], tmp_path / "huge.weights", [124, 136, 137, 138, 139])
    argv, out = _convert(corpus, tmp_path, weights=weights)
    expect_error(argv, weights, "layer 2 gives activations that are not finite numbers on calibration image "
                                f"{corpus['images'][0].name}", out)


# ------------------------------------------------------------------------------------------ run files

RUN_BASE = {"model": "embedded = true", "calibration": "scenes = 4", "images": "scenes = 2"}

RUN_CASES = {  # (top-level lines, {section: its lines}) over RUN_BASE
    "not UTF-8": ('name = "x\xff"', {}, "not UTF-8"),
    "steps = inf": ("", {"simulation": "steps = inf"}, "steps = inf must be a whole number"),
    "steps as text": ("", {"simulation": 'steps = "300"'}, "must be a whole number"),
    "float32 as text": ("", {"simulation": 'float32 = "false"'}, "float32 = 'false' must be true or false"),
    "negative count": ("", {"images": "scenes = 8\ncount = -3"}, "count = -3 is outside"),
    "negative threads": ("", {"simulation": "threads = -1"}, "threads = -1 is outside"),
    "no sampled neurons": ("", {"monitors": "sample_neurons = 0"}, "sample_neurons = 0 is outside"),
    "percentile 0": ("", {"calibration": "scenes = 4\npercentile = 0"}, "percentile = 0.0 is outside (0, 100]"),
    "percentile 101": ("", {"calibration": "scenes = 4\npercentile = 101"}, "is outside (0, 100]"),
    "name with ..": ('name = "../x"', {}, "must be a plain folder name"),
    "absolute name": ('name = "/tmp/elsewhere"', {}, "must be a plain folder name"),
    "checkpoint beyond steps": ("", {"simulation": "steps = 10\ncheckpoints = [5, 20]"}, "within 1..10"),
    "grid not a list": ("", {"grid": 'neuron = "if_signed_ibt"'}, "non-empty list"),
    "unknown neuron": ("", {"grid": 'neuron = ["nope"]'}, "no such neuron model"),
    "model not a table": ("model = 3", {"model": None}, "[model] must be a table"),
}


@pytest.mark.parametrize("case", sorted(RUN_CASES))
def test_bad_run_file_is_refused_by_name(tmp_path, case):
    top, sections, fragment = RUN_CASES[case]
    sections = {**RUN_BASE, **sections}
    text = top + "\n" + "".join(f"[{name}]\n{body}\n" for name, body in sections.items() if body is not None)
    run_file = tmp_path / "bad.toml"
    run_file.write_bytes(text.encode("utf-8", "surrogateescape").replace(b"\xc3\xbf", b"\xff"))
    expect_error(["check", str(run_file)], run_file, fragment)
    expect_error(["run", str(run_file), "-q"], run_file, fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_the_base_run_file_is_valid(tmp_path):
    """`check` of the base run file: one line that names it, says ok and what it is (run file named after the
    file, no [grid]: one configuration, the fast preset's 64 steps); nothing is written."""
    run_file = tmp_path / "good.toml"
    run_file.write_text("".join(f"[{name}]\n{body}\n" for name, body in RUN_BASE.items()))
    code, stdout, stderr = run_cli(["check", str(run_file)])
    assert (code, stderr) == (0, "")
    assert stdout == f"{run_file}: ok: run file 'good', 1 configurations x 64 steps\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.toml"]


# ------------------------------------------------------------------------------------------ neuron files

IBT = (Path(__file__).resolve().parents[2] / "equations" / "if_signed_ibt.toml").read_text()

ESCAPES = [
    "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'catch_warnings'][0]()"
    "._module.__builtins__['__import__']('os').system('touch {marker}')",
    "(lambda: 0).__globals__['__builtins__']['__import__']('os').system('touch {marker}')",
    "__import__('os').system('touch {marker}')",
    "().__class__.__bases__[0].__subclasses__()",
]

NEURON_CASES = {
    "not UTF-8": (IBT.encode() + b"\n# \xff\n", "not UTF-8"),
    "parameters not a table": (IBT.replace("[parameters]", "[parameterz]").encode() + b"\nparameters = 5\n",
                               "unknown keys"),
    "parameters a number": (IBT.split("[parameters]")[0].replace('description =', 'parameters = 5\ndescription =')
                            .encode(), "'parameters' must be a table"),
    "empty threshold": (IBT.replace('threshold = "v >= v_th"', 'threshold = ""').encode(), "'threshold' is empty"),
    "undefined variable": (IBT.replace('threshold = "v >= v_th"', 'threshold = "v >= v_unknown"').encode(),
                           "Brian2 rejects the model"),
    "wrong units": (IBT.replace('threshold = "v >= v_th"', 'threshold = "v >= v_th * mV"').encode(),
                    "Brian2 rejects the model"),
    "power tower in a parameter": (IBT.replace('v_th = "1"', 'v_th = "9**9**9"').encode(), "too large"),
    "power tower in a threshold": (IBT.replace('threshold = "v >= v_th"', 'threshold = "v >= 9**9**9"').encode(),
                                   "chained powers"),
    "huge literal exponent": (IBT.replace('threshold = "v >= v_th"', 'threshold = "v >= 9**(2*99999)"').encode(),
                              "exponent 99999 is larger than 64"),
    "no membrane": (IBT.replace("dv/dt = I / t_step : 1", "du/dt = I / t_step : 1").replace("v >=", "u >=")
                    .replace("v -=", "u -=").replace("v <=", "u <=").replace("v +=", "u +=").encode(),
                    "needs the variables ['v', 'I']"),
    "reserved counter name": (IBT.replace("I : 1\n", "I : 1\npositive_count : 1\n").encode(), "reserved"),
    "events not tables": (IBT.split("[events.negative_spike]")[0].encode() + b'events = "x"\n',
                          "'events' must be a table"),
}


@pytest.mark.parametrize("case", sorted(NEURON_CASES))
def test_bad_neuron_file_is_refused_by_name(tmp_path, case):
    text, fragment = NEURON_CASES[case]
    neuron = tmp_path / "neuron.toml"
    neuron.write_bytes(text)
    expect_error(["check", str(neuron)], neuron, fragment)


@pytest.mark.parametrize("payload", ESCAPES)
@pytest.mark.parametrize("where", ["parameter", "threshold", "reset", "model"])
def test_neuron_file_never_runs_code(tmp_path, payload, where):
    marker = tmp_path / "PWNED"
    payload = payload.format(marker=marker)
    quoted = "'''" + payload + "'''"
    text = {"parameter": IBT.replace('alpha = "0.1"', f"alpha = {quoted}"),
            "threshold": IBT.replace('threshold = "v >= v_th"', f"threshold = {quoted}"),
            "reset": IBT.replace('reset = "v -= v_th"', f"reset = '''v -= v_th\nx = {payload}'''"),
            "model": IBT.replace("I : 1\n", f"I : 1\nx = {payload} : 1\n")}[where]
    neuron = tmp_path / "evil.toml"
    neuron.write_text(text)
    expect_error(["check", str(neuron)], neuron, "")
    code, _, _ = run_cli(["simulate", str(tmp_path / "no-model.h5"), "x.png", "--steps", "1", "--neuron", str(neuron),
                          "-o", str(tmp_path / "run")])
    assert code == 2 and not marker.exists()


def test_parameter_values_use_the_grammar(tmp_path):
    """Parameters written as arithmetic, ``(2 * ms) / 2`` and ``1/10``, pass `check` and read (the neuron file's
    reader, then its values) as t_step = 1 ms and alpha = 0.1, as the stock file's ``1*ms`` and ``0.1`` do."""
    import brian2

    from brainyolo.spiking.neurons import load_neuron_model, parameter_values

    neuron = tmp_path / "units.toml"
    neuron.write_text(IBT.replace('t_step = "1*ms"', 't_step = "(2 * ms) / 2"').replace('alpha = "0.1"',
                                                                                        'alpha = "1/10"'))
    code, stdout, stderr = run_cli(["check", str(neuron)])
    assert (code, stderr) == (0, "")
    assert stdout == f"{neuron}: ok: neuron model (signed), parameters t_step, v_th, alpha, v_init\n"
    model = load_neuron_model(neuron)
    assert model.parameters == {"t_step": "(2 * ms) / 2", "v_th": "1", "alpha": "1/10", "v_init": "0"}
    values = parameter_values(model)
    assert set(values) == {"t_step", "v_th", "alpha", "v_init"}
    assert brian2.have_same_dimensions(values["t_step"], brian2.second)
    assert float(values["t_step"]) == pytest.approx(0.001, rel=1e-12)
    assert (values["alpha"], values["v_th"], values["v_init"]) == (pytest.approx(0.1, rel=1e-12), 1, 0)
    stock = parameter_values(load_neuron_model("if_signed_ibt"))
    assert float(stock["t_step"]) == float(values["t_step"]) and stock["alpha"] == values["alpha"]


# ------------------------------------------------------------------------------------------ recordings


def _image(key):
    return f"images/0000/{key}"


def _input_events(step, neuron, width=4, height=4):
    """Give image 0 an event run's input events (its datasets step, neuron; None leaves one out)."""
    def edit(f):
        group = f.create_group(_image("input_events"))
        group.attrs["width"], group.attrs["height"] = width, height
        for name, values in (("step", step), ("neuron", neuron)):
            if values is not None:
                group.create_dataset(name, data=np.asarray(values, np.int32))
    return edit


RECORDING_CASES = {
    "no steps": (lambda f: f.attrs.__delitem__("steps"), "attribute steps is not a whole number"),
    "steps 0": (_set("/", "steps", 0), "steps = 0 is outside"),
    "checkpoints outside": (_set("/", "checkpoints", np.array([2, 9])), "end at steps"),
    "no images group": (_delete("images"), "/images is missing"),
    "image width 0": (_set("images/0000", "image_width", 0), "image_width = 0 is outside"),
    "no file name": (lambda f: f["images/0000"].attrs.__delitem__("file_name"), "file_name is missing"),
    "NaN v": (_nan_in(_image("output/02/v")), "not finite"),
    "misshapen v": (_replace(_image("output/02/v"), np.zeros((2, 12, 3, 3))), "output layer 2: v is not of shape"),
    "v of one checkpoint": (_replace(_image("output/02/v"), np.zeros((1, 12, 8, 8))), "one (C, H, W) map"),
    "lost output layer": (_delete(_image("output/02")), "layer 2, which feeds a head, was not recorded"),
    "unknown read-out": (_set("/", "output", "rates"), "attribute output is 'rates'"),
    "counts of another shape": (_replace(_image("layers/00/positive_count"), np.zeros((4, 2, 2), np.int32)),
                                "positive_count is missing or not whole numbers"),
    "negative value 0.3": (_set(_image("layers/00"), "negative_value", 0.3), "negative_value is 0.3, not 1/n"),
    "negative value as text": (_set(_image("layers/00"), "negative_value", "half"), "negative_value is 'half'"),
    "input event at step 0": (_input_events([0], [1]), "a step outside"),
    "input event off the sensor": (_input_events([1], [32]), "outside the 4x4 sensor"),
    "input events without neurons": (_input_events([1], None), "datasets step and neuron are missing"),
    "input events of two lengths": (_input_events([1, 2], [1]), "two whole-number lists of one length"),
}


@pytest.mark.parametrize("case", sorted(RECORDING_CASES))
def test_bad_recordings_are_refused_by_name(corpus, tmp_path, case):
    edit, fragment = RECORDING_CASES[case]
    run = tmp_path / "run"
    run.mkdir()
    recordings = run / "recordings.h5"
    shutil.copy(corpus["run"] / "recordings.h5", recordings)
    with h5py.File(recordings, "r+") as f:
        edit(f)
        seal(f)
    out = tmp_path / "out"
    expect_error(["decode", str(run), "--model", str(corpus["model"]), "-q", "-o", str(out)], recordings, fragment,
                 out)


def test_recordings_without_negative_values_are_read_as_whole_spikes(corpus, tmp_path):
    """A recordings file written before layers kept their ``negative_value`` (the attribute absent): checked, decoded
    and read with every -1 spike worth a whole one; the run's own file holds the attribute (1 here) in every layer."""
    from brainyolo.analysis.spikes import load_run, net_spike_counts

    run = tmp_path / "run"
    shutil.copytree(corpus["run"], run)
    with h5py.File(run / "recordings.h5", "r+") as f:
        layers = [layer for image in f["images"].values() for layer in image["layers"].values()]
        assert layers and all(layer.attrs["negative_value"] == 1.0 for layer in layers)
        for layer in layers:
            del layer.attrs["negative_value"]
        seal(f)
    code, _, stderr = run_cli(["decode", str(run), "--model", str(corpus["model"]), "-q", "-o", str(tmp_path / "out")])
    assert (code, stderr) == (0, "")
    for layer in load_run(run, corpus["model"]).images[0].layers.values():
        assert layer["negative_value"] == 1.0
        np.testing.assert_array_equal(net_spike_counts(layer), layer["positive_count"] - layer["negative_count"])


def test_decode_refuses_recordings_of_another_model(corpus, tmp_path):
    other = tmp_path / "other"
    cfg, weights = write_random_model(FUZZ_CFG.replace("filters=4", "filters=6"), other, names=["thing"])
    model = tmp_path / "other.h5"
    assert run_cli(["convert", "--cfg", str(cfg), "--weights", str(weights), "--calib",
                    str(corpus["images"][0].parent), "-q", "-o", str(model)])[0] == 0
    run = tmp_path / "run"
    shutil.copytree(corpus["run"], run)
    expect_error(["decode", str(run), "--model", str(model), "-q", "-o", str(tmp_path / "out")], model,
                 "is not the model file this run simulated", tmp_path / "out")


# ------------------------------------------------------------------------------------------ ground truth


def test_label_rows_must_be_finite_whole_classes(corpus, tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    label = labels / (corpus["images"][0].stem + ".txt")
    label.write_text("0 0.5 nan 0.2 0.2\n")
    out = tmp_path / "out"
    expect_error(["evaluate", str(corpus["model"]), "--images", str(corpus["images"][0].parent), "--labels",
                  str(labels), "-q", "-o", str(out)], label, "finite numbers with a whole class", out)


def test_coco_annotation_without_category_is_one_error(corpus, tmp_path):
    import json

    coco = tmp_path / "instances.json"
    coco.write_text(json.dumps({
        "categories": [{"id": 1, "name": "thing"}],
        "images": [{"id": i, "file_name": p.name, "width": 24, "height": 20} for i, p in enumerate(corpus["images"])],
        "annotations": [{"image_id": 0, "bbox": [1, 1, 5, 5]}]}))
    out = tmp_path / "out"
    expect_error(["evaluate", str(corpus["model"]), "--images", str(corpus["images"][0].parent), "--coco",
                  str(coco), "-q", "-o", str(out)], coco, "not a COCO instances file: 'category_id'", out)
