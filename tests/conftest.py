"""Shared fixtures: small models written by brainyolo's own Darknet writer, and ../shared paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brainyolo import darknet

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
YOLOV3_TINY = SHARED / "models" / "yolov3-tiny"
CFG_DIR = SHARED / "models" / "cfg"
VAL = SHARED / "data" / "coco-val2017-first128"
TRAIN = SHARED / "data" / "coco-train2017-first128"

needs_shared = pytest.mark.skipif(not (YOLOV3_TINY / "yolov3-tiny.weights").exists(),
                                  reason="../shared (real models and data) is not beside the checkout")


def pytest_collection_modifyitems(items):
    for item in items:
        if item.get_closest_marker("shared"):
            item.add_marker(needs_shared)


def write_random_model(cfg_text: str, folder: Path, seed: int = 0, names: list[str] | None = None):
    """Write ``cfg_text`` and random weights (brainyolo's writer) into ``folder``; return paths."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "model.cfg"
    cfg.write_text(cfg_text)
    sections = darknet.read_cfg(cfg)
    graph = darknet.graph_from_sections(sections, cfg)
    flags = darknet.batch_normalize_flags(sections)
    params = darknet.random_parameters(graph, flags, np.random.default_rng(seed))
    weights = folder / "model.weights"
    darknet.write_weights(weights, darknet.WeightsHeader(0, 2, 0, 12345), params)
    if names is not None:
        (folder / "model.names").write_text("\n".join(names))
    return cfg, weights


def write_images(folder: Path, count: int, seed: int = 0, size=(80, 60)) -> list[Path]:
    """``count`` random-noise-plus-blocks JPEGs of ``size`` (width, height)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        x, y = rng.integers(0, size[0] // 2), rng.integers(0, size[1] // 2)
        pixels[y:y + size[1] // 3, x:x + size[0] // 3] = rng.integers(0, 256, 3)
        path = folder / f"img{i:03d}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def tiny_cfg_text() -> str:
    """A reduced yolov3-tiny at 1/8 width, 3 classes (not the embedded detector: smaller, faster)."""
    return (TEST_DATA / "reduced-yolov3-tiny.cfg").read_text()


@pytest.fixture
def tiny_model(tmp_path, tiny_cfg_text):
    """(cfg, weights) of the reduced yolov3-tiny with random weights and 3 class names."""
    return write_random_model(tiny_cfg_text, tmp_path / "tiny", names=["a", "b", "c"])


@pytest.fixture(scope="session")
def opencv():
    cv2 = pytest.importorskip("cv2")
    cv2.setNumThreads(2)
    return cv2


def opencv_net(cv2, cfg, weights):
    """OpenCV's Darknet importer, Winograd off (its fast 3x3 path adds ~6e-5 of float32 error)."""
    net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
    if hasattr(net, "enableWinograd"):
        net.enableWinograd(False)
    return net


def opencv_head_inputs(net, chw: np.ndarray) -> list[np.ndarray]:
    """Outputs of the convolutions feeding OpenCV's Region layers (the network outputs), in order."""
    names = list(net.getLayerNames())
    feeding = []
    for output in net.getUnconnectedOutLayersNames():
        index = names.index(output)
        while not names[index].startswith("conv_"):  # step back over permute_*
            index -= 1
        feeding.append(names[index])
    net.setInput(chw[None].astype(np.float32))
    return [o[0] for o in net.forward(feeding)]


@pytest.fixture(scope="session")
def converted_yolov3_tiny(tmp_path_factory):
    """The real yolov3-tiny converted with 8 calibration images (channel-norm), as a model file."""
    if not (YOLOV3_TINY / "yolov3-tiny.weights").exists():
        pytest.skip("../shared is not beside the checkout")
    from brainyolo.modelfile import save_model
    from brainyolo.pipeline import calibration_images, convert_darknet

    path = tmp_path_factory.mktemp("yolov3") / "yolov3-tiny.h5"
    model = convert_darknet(YOLOV3_TINY / "yolov3-tiny.cfg", YOLOV3_TINY / "yolov3-tiny.weights",
                            calibration_images(TRAIN / "images", 8), progress=False)
    save_model(model, path)
    return path
