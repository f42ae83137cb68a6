"""Shared fixtures: small models written by brainyolo's own Darknet writer, and ../shared paths."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brainyolo.ann import darknet

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
YOLOV3_TINY = SHARED / "models" / "yolov3-tiny"
CFG_DIR = SHARED / "models" / "cfg"
VAL = SHARED / "data" / "coco-val2017-first128"
TRAIN = SHARED / "data" / "coco-train2017-first128"


REPO = Path(__file__).resolve().parents[1]
"""This checkout's root."""


def git_in_repo(*args) -> subprocess.CompletedProcess:
    """``git -C REPO ARGS...``, its output captured as text."""
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)


not_a_git_checkout = pytest.mark.skipif(git_in_repo("rev-parse", "HEAD").returncode != 0,
                                        reason="not a git checkout (the script checks out a commit)")


def script_environment(**extra: str) -> dict[str, str]:
    """The environment a study's shell script runs in: this interpreter's ``brainyolo`` and ``python`` first on the
    PATH, warnings quiet, and ``extra``."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "PYTHONWARNINGS": "ignore", **extra}


def analysis_script(name: str):
    """The module of ``analysis/STUDY/NAME.py`` (the analysis scripts are not a package)."""
    base = Path(__file__).resolve().parents[1] / "analysis"
    (path,) = [base / f"{name}.py"] if "/" in name else base.glob(f"*/{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


TEST_DATA = Path(__file__).resolve().parent / "files"


@pytest.fixture
def numpy_runtime():
    """A fresh Brian2 scope on the numpy target (restored afterwards): for tests that build Brian2 objects."""
    import brian2

    brian2.start_scope()
    old = brian2.prefs.codegen.target
    brian2.prefs.codegen.target = "numpy"
    yield
    brian2.prefs.codegen.target = old


@pytest.fixture(scope="session")
def tiny_cfg_text() -> str:
    """A reduced yolov3-tiny at 1/8 width, 3 classes (not the embedded detector: smaller, faster)."""
    return (TEST_DATA / "reduced-yolov3-tiny.cfg").read_text()


@pytest.fixture(scope="session")
def tiny_converted(tmp_path_factory, tiny_cfg_text):
    """(model file, two images): the reduced yolov3-tiny with random weights (seed 11), converted
    channel-wise on 4 random images (seed 5)."""
    from brainyolo.convert.conversion import convert_darknet
    from brainyolo.convert.model_file import save_model

    folder = tmp_path_factory.mktemp("tiny-converted")
    cfg, weights = write_random_model(tiny_cfg_text, folder / "m", seed=11, names=["a", "b", "c"])
    images = write_images(folder / "calib", 4, seed=5)
    save_model(convert_darknet(cfg, weights, images, "channel", 99.9, progress=False), folder / "m.h5")
    return folder / "m.h5", images[:2]


@pytest.fixture(scope="session")
def tiny_run(tiny_converted, tmp_path_factory):
    """A run folder of the reduced network (``recordings.h5``, ``run_info.json``): its two images, 12 steps,
    Brian2's runtime device. Read it, do not change it."""
    from brainyolo.detector import simulate
    from brainyolo.spiking.simulate import SimulationSettings

    model_path, images = tiny_converted
    run = tmp_path_factory.mktemp("tiny-run") / "run"
    simulate(model_path, images, SimulationSettings(steps=12, device="runtime"), run, progress=False)
    return run


STANDALONE = {"steps": 30, "checkpoints": (10,), "threads": 2, "output": "spikes"}
"""Simulation settings of the standalone tests on :func:`tiny_converted` (one binary for all of them)."""


@pytest.fixture(scope="session", autouse=True)
def _session_object_cache(tmp_path_factory):
    """One object cache (``BRAINYOLO_OBJECT_CACHE``) for the whole session, both xdist workers included:
    a test's build restores the code objects an earlier test compiled from the same input, whatever the
    test's own ``BRAINYOLO_CACHE`` (tests of the object cache set their own). ``BRAINYOLO_OBJECT_CACHE=off``
    in the environment keeps it off (to time the suite without it)."""
    if os.environ.get("BRAINYOLO_OBJECT_CACHE", "").lower() == "off":
        yield None
        return
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "object-cache"
    folder.mkdir(exist_ok=True)
    before = os.environ.get("BRAINYOLO_OBJECT_CACHE")
    os.environ["BRAINYOLO_OBJECT_CACHE"] = str(folder)
    yield folder
    if before is None:
        del os.environ["BRAINYOLO_OBJECT_CACHE"]
    else:
        os.environ["BRAINYOLO_OBJECT_CACHE"] = before


@pytest.fixture(scope="session")
def _shared_build_cache_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("shared-cache")


@pytest.fixture
def shared_build_cache(_shared_build_cache_folder, monkeypatch):
    """The build cache (``BRAINYOLO_CACHE``, for this test) that the standalone tests simulating
    :func:`tiny_converted` with test_simulation's ``STANDALONE`` settings share, the progress test
    among them: one compiled binary, whichever runs first. Tests that count compilations of their
    own networks use their own cache."""
    monkeypatch.setenv("BRAINYOLO_CACHE", str(_shared_build_cache_folder))
    return _shared_build_cache_folder


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
    from brainyolo.convert.conversion import calibration_images, convert_darknet
    from brainyolo.convert.model_file import save_model

    path = tmp_path_factory.mktemp("yolov3") / "yolov3-tiny.h5"
    model = convert_darknet(YOLOV3_TINY / "yolov3-tiny.cfg", YOLOV3_TINY / "yolov3-tiny.weights",
                            calibration_images(TRAIN / "images", 8), progress=False)
    save_model(model, path)
    return path


# ------------------------------------------------------------------ bad input: the CLI's promise

FUZZ_CFG = """[net]
width=16
height=16
channels=3

[convolutional]
batch_normalize=1
filters=4
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
filters=12
size=1
stride=1
pad=1
activation=linear

[yolo]
mask=0,1
anchors=4,4, 8,8
classes=1
num=2
"""

CASE_SECONDS = 60
"""A case still running after this long is a hang."""


class Hang(BaseException):
    """Raised by the alarm: a BaseException, so that brainyolo's own catch-all (one line for an internal
    error) does not turn a hang into an internal error."""


def _alarm(signum, frame):
    raise Hang


class Terminal(io.StringIO):
    """A captured stream that says it is a terminal, as a user's stderr is: progress bars drawn in place."""

    def isatty(self) -> bool:
        return True


def run_cli(argv: list[str], seconds: int | None = None, terminal: bool = False) -> tuple[int, str, str]:
    """``brainyolo ARGV`` in this process: (exit status, stdout, stderr); running longer than
    ``seconds`` (default ``CASE_SECONDS``) fails the test as a hang. ``terminal``: stderr is a
    :class:`Terminal`, so progress shows as a user sees it."""
    from brainyolo.cli import main

    out, err = io.StringIO(), (Terminal() if terminal else io.StringIO())
    previous = signal.signal(signal.SIGALRM, _alarm)
    seconds = seconds or CASE_SECONDS
    signal.alarm(seconds)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exit_:  # argparse
                code = exit_.code
    except Hang:
        pytest.fail(f"brainyolo {' '.join(argv)} ran longer than {seconds} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return code, out.getvalue(), err.getvalue()


def promised_outcome(argv: list[str], output: Path | None = None,
                     named: set[str] | None = None) -> tuple[int, str, str]:
    """Run ``brainyolo ARGV``: success, or one clean error line with exit 2 (naming one of ``named``, if
    given) and nothing written to ``output``; (exit status, stdout, stderr)."""
    code, stdout, stderr = run_cli(argv)
    if os.environ.get("BRAINYOLO_FUZZ_LOG"):  # outcome of every case, for the README's tally
        with open(os.environ["BRAINYOLO_FUZZ_LOG"], "a") as log:
            log.write(f"{argv[0]}\t{code}\t{' '.join(stderr.split())[:300]}\n")
    assert "Traceback" not in stdout + stderr, stderr
    if code == 0:
        return code, stdout, stderr
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("brainyolo: error: "), (code, stderr)
    if named is not None:
        assert any(f"{name}: " in lines[0] for name in named), f"the error names no input file: {lines[0]}"
    if output is not None:
        assert not output.exists(), f"{output} was written although the command failed"
        leftovers = [p.name for p in output.parent.glob(f".{output.name}.*")]
        assert not leftovers, f"temporary files left behind: {leftovers}"
    return code, stdout, stderr


def assert_promise(argv: list[str], output: Path | None = None) -> int:
    """Success, or one clean error line with exit 2 and nothing written to ``output``."""
    return promised_outcome(argv, output)[0]


def convert_argv(corpus: dict, out: Path, cfg: Path | None = None, weights: Path | None = None) -> list[str]:
    """``brainyolo convert`` of the corpus's Darknet files (or the given ``cfg`` / ``weights``) into ``out``."""
    return ["convert", "--cfg", str(cfg or corpus["cfg"]), "--weights", str(weights or corpus["weights"]),
            "--names", str(corpus["names"]), "--calib", str(corpus["images"][0].parent), "-q", "-o", str(out)]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> dict:
    """Valid inputs of every kind, made once: the seeds that the mutations start from."""
    from brainyolo.convert.conversion import convert_darknet
    from brainyolo.convert.model_file import save_model

    root = tmp_path_factory.mktemp("fuzz-seeds")
    cfg, weights = write_random_model(FUZZ_CFG, root / "darknet", names=["thing"])
    images = write_images(root / "images", 2, size=(24, 20))
    model = root / "model.h5"
    save_model(convert_darknet(cfg, weights, images, progress=False), model)
    run = root / "run"
    code, _, stderr = run_cli(["simulate", str(model), str(images[0]), "--steps", "4", "--checkpoints", "2",
                               "--device", "runtime", "-q", "-o", str(run)])
    assert code == 0, stderr
    repo = Path(__file__).resolve().parents[1]
    from brainyolo.data.moving_scenes import write_event_scenes

    (td, bbox), = write_event_scenes(root / "events", 1, 5, (40.0,))
    return {"root": root, "cfg": cfg, "weights": weights, "names": cfg.with_suffix(".names"), "images": images,
            "model": model, "run": run, "neuron": repo / "equations" / "lif_signed_ibt.toml",
            "synapse": repo / "equations" / "synapses" / "alpha.toml",
            "run_file": repo / "runs" / "demo.toml", "direct_model": repo / "brainyolo" / "data" / "direct.h5",
            "td": td, "bbox": bbox}




def run_command(*args, cwd=None) -> tuple[int, str, str]:
    """``python -m brainyolo ARGS`` in a subprocess: (exit status, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "brainyolo", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return proc.returncode, proc.stdout, proc.stderr


def scaled_model(model_path, out_path, factor: float):
    """The model with every hidden convolution's bias (and the first layer's weight) times ``factor``: at
    thresholds 1 it is the network of thresholds ``1 / factor`` (test_simulation.py checks it)."""
    from brainyolo.convert.model_file import load_model, save_model
    from brainyolo.spiking.builder import hidden_layers

    model = load_model(model_path)
    graph = model.graph
    for index in hidden_layers(graph):
        layer = graph.layers[index]
        changes = {"bias": layer.bias * np.float32(factor)}
        if layer.inputs == (-1,):
            changes["weight"] = layer.weight * np.float32(factor)
        graph = graph.replace(index, **changes)
    model.graph = graph
    save_model(model, out_path)
    return out_path
