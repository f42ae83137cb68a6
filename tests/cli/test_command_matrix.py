"""The command matrix: every command that runs a model, on every shipped detector, with every input
kind it accepts, on both devices, run as a user runs it (progress on, stderr a terminal).

Each cell asserts exit status 0, that the promised files exist, are non-empty and parse, and that
detections and metrics carry their documented keys (README, *Commands*). The steps are the fewest
that exercise each path (2). The standalone cells share one build cache: detect, evaluate, simulate
and tune of one detector and input kind use one compiled binary.

detect, evaluate and simulate (one pipeline, three commands) share the detector x input kind x device cells
out cyclically (:func:`command_cells`): every cell runs in one of the three, and each of the three runs every
detector and every input kind on both devices; the quick cells run in all three, and the README's own flow
(a converted model, a photo as current) in detect and simulate.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import TEST_DATA, run_cli, write_random_model
from PIL import Image

from brainyolo.convert import model_file
from brainyolo.data.scenes import write_scenes

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

DETECTORS = ("embedded", "embedded-direct", "embedded-events", "embedded-direct-events", "tiny")
"""The shipped detectors, and ``tiny``: tests/files' reduced yolov3-tiny converted here."""
DIRECT = ("embedded-direct", "embedded-direct-events")
IMAGE_INPUTS = ("current", "poisson")
EVENT_INPUTS = ("frames", "counts", "spikes")
INPUTS = IMAGE_INPUTS + EVENT_INPUTS
DEVICES = ("runtime", "cpp_standalone")
STEPS = 2
QUICK_CELLS = {("embedded", "current"), ("embedded-direct", "poisson"), ("embedded-events", "frames"),
               ("embedded-direct-events", "spikes"), ("tiny", "counts")}
"""Runtime cells outside ``long`` (``pytest -m "not long"``): every detector and every input kind once."""


README_CELL = ("tiny", "current")
"""The README's flow (``simulate model.h5 photo.jpg``, then ``analyze``; ``detect model.h5 photo.jpg``)."""


def simulation(detector: str, kind: str) -> list[str]:
    """The steps of a cell: 2. A 2-step run hands the fast preset to the ``short`` one (its weighted bursts: 20
    spike conditions per layer, seconds of code generation per run). The quick detector x input pairs run it so, as
    a user's 2-step run does, on both devices (one C++ cell per detector); the others keep the default preset by
    asking for its read-out at step 2 (``--checkpoints``)."""
    return ["--steps", str(STEPS)] + ([] if (detector, kind) in QUICK_CELLS else ["--checkpoints", str(STEPS)])


RECORD_KEYS = {"file_name", "category_id", "category_name", "bbox", "score"}
"""A detection's keys (README: ``detect`` writes ...)."""
SCORE_KEYS = {"mAP50", "mAP", "images", "objects", "detections"}
"""A metrics entry's keys (README: ``evaluate`` writes ...)."""
SECONDS = 600
"""A cell that compiles may take minutes on a loaded 2-core machine."""


def cells(detectors, kinds) -> list:
    """Every detector x input kind x device, marked: standalone cells ``standalone_only`` and ``long``
    (each new detector and input kind is a C++ build), runtime cells ``long`` outside :data:`QUICK_CELLS`."""
    params = []
    for detector in detectors:
        for kind in kinds:
            for device in DEVICES:
                marks = [pytest.mark.standalone_only] if device == "cpp_standalone" else []
                if device == "cpp_standalone" or (detector, kind) not in QUICK_CELLS:
                    marks.append(pytest.mark.long)
                params.append(pytest.param(detector, kind, device, id=f"{detector}-{kind}-{device}", marks=marks))
    return params


CELLS = cells(DETECTORS, INPUTS)
PIPELINE_COMMANDS = ("detect", "evaluate", "simulate")


def command_cells(command: str) -> list:
    """The :data:`CELLS` a pipeline command runs: detector d and input kind k (their places in :data:`DETECTORS`
    and :data:`INPUTS`) where (d + k) mod 3 is the command's place in :data:`PIPELINE_COMMANDS`, on both devices; the
    quick cells; for detect and simulate the :data:`README_CELL` on both devices. With 5 detectors and 5 kinds,
    each command meets every detector and every kind on both devices (a residue mod 3 recurs within any 5
    consecutive numbers), and every detector x kind x device runs in one command at least."""
    place = PIPELINE_COMMANDS.index(command)
    return [cell for cell in CELLS if (DETECTORS.index(cell.values[0]) + INPUTS.index(cell.values[1])) % 3 == place
            or (cell.values[:2] in QUICK_CELLS and cell.values[2] == "runtime")
            or (cell.values[:2] == README_CELL and command in ("detect", "simulate"))]


@pytest.fixture(scope="session")
def matrix(tmp_path_factory) -> dict:
    """The matrix's data (2 labelled scenes, 2 event scenes: seeds never used for training) and the
    ``tiny`` model: the reduced yolov3-tiny with the scenes' 4 classes, random weights, converted on
    the scenes."""
    from brainyolo.convert.conversion import convert_darknet
    from brainyolo.convert.model_file import save_model
    from brainyolo.data.moving_scenes import write_event_scenes

    root = tmp_path_factory.mktemp("matrix")
    names = (Path(__file__).resolve().parents[2] / "brainyolo" / "data" / "scenes.names").read_text().split()
    scenes = root / "scenes"
    images = write_scenes(scenes, 2, 4242)
    events = root / "events"
    write_event_scenes(events, 2, 4243, (250.0,))
    cfg_text = (TEST_DATA / "reduced-yolov3-tiny.cfg").read_text()
    cfg_text = cfg_text.replace("filters=24", "filters=27").replace("classes=3", "classes=4")
    cfg, weights = write_random_model(cfg_text, root / "tiny", seed=3, names=names)
    tiny = root / "tiny.h5"
    save_model(convert_darknet(cfg, weights, images, progress=False), tiny)
    return {"root": root, "scenes": scenes, "images": images, "labels": scenes / "labels", "events": events,
            "tiny": tiny, "cache": root / "cache"}


QUICK_BUILD = ["-w", "-O0", "-std=c++17"]
"""The compiler flags of the matrix's C++ builds: the cells check paths and files, not numbers (the
bit-identity and equality tests elsewhere build with Brian2's flags, as users do), and -O0 compiles
the 20 networks in about half the time."""


@pytest.fixture
def cache(matrix, monkeypatch):
    """One build and model cache for every cell of the matrix (its builds at :data:`QUICK_BUILD`)."""
    import brian2

    monkeypatch.setenv("BRAINYOLO_CACHE", str(matrix["cache"]))
    monkeypatch.setitem(brian2.prefs, "codegen.cpp.extra_compile_args_gcc", QUICK_BUILD)
    return matrix["cache"]


def model_argument(matrix, detector: str) -> str:
    return str(matrix["tiny"]) if detector == "tiny" else detector


def input_options(kind: str) -> list[str]:
    """The options of an input kind; events in 2 bins of one step each (the frames switch once)."""
    if kind in EVENT_INPUTS:
        return ["--events", kind, "--bins", str(STEPS)]
    return ["--input", kind]


def first_sample(matrix, kind: str) -> str:
    """One sample of the input kind: a scene picture or a Gen1 recording."""
    if kind in EVENT_INPUTS:
        return str(sorted(matrix["events"].glob("*_td.dat"))[0])
    return str(matrix["images"][0])


def as_user(argv: list[str]) -> tuple[str, str]:
    """``brainyolo ARGV`` with progress on and stderr a terminal; must exit 0."""
    code, stdout, stderr = run_cli(argv, SECONDS, terminal=True)
    assert code == 0, f"brainyolo {' '.join(argv)} exited {code}:\n{stderr[-3000:]}"
    assert "Traceback" not in stderr, stderr[-3000:]
    return stdout, stderr


def read_json(path: Path):
    assert path.is_file() and path.stat().st_size > 0, f"{path} is missing or empty"
    return json.loads(path.read_text())


def assert_records(path: Path, names: set[str] | None = None, empty: bool = False) -> list[dict]:
    """Detections with their documented keys; none only where ``empty`` (detect and decode run at
    ``--threshold 0``: never empty)."""
    records = read_json(path)
    assert isinstance(records, list) and (records or empty), f"{path} holds no detections"
    for record in records:
        assert set(record) == RECORD_KEYS, record
        assert len(record["bbox"]) == 4 and record["bbox"][2] >= 0 and record["bbox"][3] >= 0, record
        assert 0 <= record["score"] <= 1, record
        if names is not None:
            assert record["file_name"] in names, record
    return records


def assert_picture(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 0, f"{path} is missing or empty"
    with Image.open(path) as picture:
        assert picture.size[0] > 0 and picture.size[1] > 0
        picture.load()


def assert_run_directory(run: Path, samples: int, device: str, kind: str) -> None:
    """recordings.h5 with one group per sample and the run's attributes; run_info.json; ``check`` says ok."""
    info = read_json(run / "run_info.json")
    assert info["steps"] == STEPS and info["device"] == device and len(info["images"]) == samples
    assert info["checkpoints"] == [STEPS]
    assert info["input"] == ("spikes" if kind == "spikes" else "frames" if kind in EVENT_INPUTS else kind)
    with h5py.File(run / "recordings.h5", "r") as f:
        assert int(f.attrs["steps"]) == STEPS and list(f.attrs["checkpoints"]) == [STEPS]
        assert len(f["images"]) == samples
        image = f["images"][sorted(f["images"])[0]]
        assert image.attrs["file_name"]
    stdout, _ = as_user(["check", str(run)])
    assert stdout.startswith(f"{run}: ok: "), stdout


def first_samples(matrix, kind: str, count: int = 1) -> list:
    """The first samples of the input kind: image paths or event samples (both have ``name`` and ``stem``)."""
    if kind in EVENT_INPUTS:
        from brainyolo.spiking.event_encoding import event_samples

        return event_samples(matrix["events"])[:count]
    return matrix["images"][:count]


def sample_names(matrix, kind: str, count: int = 1) -> set[str]:
    return {sample.name for sample in first_samples(matrix, kind, count)}


# ----------------------------------------------------------------------------------------- detect, evaluate, simulate


def test_the_pipeline_commands_share_out_every_cell():
    """:func:`command_cells`' promise: every cell in one of the three commands at least; each command on every
    detector and every input kind, on both devices; the quick cells in all three; the README's flow in detect and
    simulate."""
    chosen = {command: {tuple(cell.values) for cell in command_cells(command)} for command in PIPELINE_COMMANDS}
    assert set().union(*chosen.values()) == {tuple(cell.values) for cell in CELLS}
    for command, cells_run in chosen.items():
        for device in DEVICES:
            assert {d for d, _, v in cells_run if v == device} == set(DETECTORS), (command, device)
            assert {k for _, k, v in cells_run if v == device} == set(INPUTS), (command, device)
        assert {(d, k) for d, k, v in cells_run if v == "runtime"} >= QUICK_CELLS, command
        if command != "evaluate":
            assert {(*README_CELL, device) for device in DEVICES} <= cells_run, command
    assert sum(map(len, chosen.values())) < 2 * len(CELLS)  # (the full product: 3 * len(CELLS))


@pytest.mark.parametrize("detector, kind, device", command_cells("detect"))
def test_detect(matrix, cache, tmp_path, detector, kind, device, monkeypatch):
    out = tmp_path / "out"
    reads = []
    monkeypatch.setattr(model_file, "read_model", lambda path, read=model_file.read_model: reads.append(path)
                        or read(path))
    as_user(["detect", model_argument(matrix, detector), first_sample(matrix, kind), "--mode", "snn",
             *simulation(detector, kind), *input_options(kind), "--device", device, "--threshold", "0", "-o", str(out)])
    assert len(reads) == 2  # the model file read by the command (its checks) and by the detector, no more
    names = sample_names(matrix, kind)
    assert_records(out / "detections.json", names)
    assert_records(out / "checkpoints" / f"detections_t{STEPS}.json", names)
    assert_run_directory(out / "run", 1, device, kind)
    # detect decodes each image while it is in memory: exactly what decoding its recordings gives
    as_user(["decode", str(out / "run"), "--threshold", "0", "-o", str(tmp_path / "decoded")])
    assert read_json(tmp_path / "decoded" / "detections.json") == read_json(out / "detections.json")
    stem = first_samples(matrix, kind)[0].stem
    picture = out / f"{stem}_snn.png" if detector in DIRECT else out / f"{stem}_ann_vs_snn.png"
    assert sorted(out.glob("*.png")) == [picture]
    assert_picture(picture)


ANN_CELLS = [pytest.param(detector, kind, id=f"{detector}-{kind}",
                          marks=[] if (detector, kind) in QUICK_CELLS else [pytest.mark.long])
             for detector in DETECTORS if detector not in DIRECT for kind in INPUTS if kind != "poisson"]


@pytest.mark.parametrize("detector, kind", ANN_CELLS)
def test_detect_ann(matrix, cache, tmp_path, detector, kind):
    """detect's default mode: the numpy ANN (an event sample as the mean of its frames, whatever the
    encoding; poisson is a spiking input only)."""
    out = tmp_path / "out"
    as_user(["detect", model_argument(matrix, detector), first_sample(matrix, kind), "--threshold", "0",
             *(["--events", kind] if kind in EVENT_INPUTS else []), "-o", str(out)])
    assert_records(out / "detections.json", sample_names(matrix, kind))
    picture = out / f"{first_samples(matrix, kind)[0].stem}_ann.png"
    assert sorted(out.glob("*.png")) == [picture]
    assert_picture(picture)


@pytest.mark.parametrize("detector, kind, device", command_cells("evaluate"))
def test_evaluate(matrix, cache, tmp_path, detector, kind, device):
    out = tmp_path / "out"
    truth = [] if kind in EVENT_INPUTS else ["--labels", str(matrix["labels"])]
    folder = matrix["events"] if kind in EVENT_INPUTS else matrix["scenes"] / "images"
    stdout, _ = as_user(["evaluate", model_argument(matrix, detector), "--images", str(folder), *truth,
                         "--count", "1", "--mode", "snn", *simulation(detector, kind), *input_options(kind),
                         "--device", device, "-o", str(out)])
    metrics = read_json(out / "metrics.json")
    assert metrics["images"] == 1
    if detector in DIRECT:
        assert metrics["ann"] is None
    else:
        assert set(metrics["ann"]) >= SCORE_KEYS and metrics["ann"]["images"] == 1
    assert list(metrics["snn"]) == [str(STEPS)]
    for scores in metrics["snn"].values():
        assert set(scores) >= SCORE_KEYS and 0 <= scores["mAP50"] <= 1
    assert metrics["snn_settings"]["steps"] == STEPS
    assert f"SNN      {STEPS} steps: mAP@0.5 = {metrics['snn'][str(STEPS)]['mAP50']:.4f}" in stdout
    names = sample_names(matrix, kind)
    records = assert_records(out / "detections.json", names, empty=True)  # (evaluate keeps scores > 0.005)
    assert metrics["snn"][str(STEPS)]["detections"] == len(records)
    assert read_json(out / "checkpoints" / f"detections_t{STEPS}.json") == records
    if detector in DIRECT:
        assert read_json(out / "detections_ann.json") == []
    else:
        ann = assert_records(out / "detections_ann.json", names, empty=True)
        assert metrics["ann"]["detections"] == len(ann)
    assert [p.stem for p in (out / "snn_images").glob("*.json")] == [Path(n).stem for n in names]


@pytest.mark.parametrize("detector, kind, device", command_cells("simulate"))
def test_simulate_then_decode_check_and_analyze(matrix, cache, tmp_path, detector, kind, device):
    run = tmp_path / "run"
    as_user(["simulate", model_argument(matrix, detector), first_sample(matrix, kind),
             *simulation(detector, kind), *input_options(kind), "--device", device, "-o", str(run)])
    assert_run_directory(run, 1, device, kind)
    decoded = tmp_path / "decoded"
    as_user(["decode", str(run), "--threshold", "0", "-o", str(decoded)])
    names = sample_names(matrix, kind)
    assert_records(decoded / "detections.json", names)
    assert_records(decoded / "checkpoints" / f"detections_t{STEPS}.json", names)
    analysis = tmp_path / "analysis"
    stdout, _ = as_user(["analyze", str(run), "-o", str(analysis)])
    assert stdout.split(" figures (")[0].isdigit() and int(stdout.split(" figures (")[0]) >= 1, stdout
    outputs = [p for p in analysis.rglob("*") if p.is_file()]
    assert any(p.suffix == ".png" for p in outputs), outputs
    for path in outputs:
        assert path.stat().st_size > 0, path
        if path.suffix == ".png":
            assert_picture(path)
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".csv":
            with open(path, newline="") as f:
                assert list(csv.reader(f)), path


# ----------------------------------------------------------------------------------------- tune, balance, run, check


def alternating_cells(detectors, kinds) -> list:
    """Each detector x input kind of :func:`cells` on one device, alternately (runtime where the two places add up
    to an even number), and the quick ones on the runtime too: every detector and every kind on both devices
    (given two of each at least), in half the cells. For tune and run, which run the pipeline the commands above
    cover on every cell."""
    return [cell for cell in cells(detectors, kinds)
            if (detectors.index(cell.values[0]) + kinds.index(cell.values[1]) + DEVICES.index(cell.values[2])) % 2 == 0
            or (cell.values[:2] in QUICK_CELLS and cell.values[2] == "runtime")]


def test_alternating_cells_meet_every_detector_and_kind_on_both_devices():
    for detectors, kinds in ((DETECTORS, IMAGE_INPUTS), (("embedded", "tiny"), IMAGE_INPUTS)):
        chosen = {tuple(cell.values) for cell in alternating_cells(detectors, kinds)}
        assert {(d, k) for d, k, _ in chosen} == {(d, k) for d in detectors for k in kinds}
        for device in DEVICES:
            assert {d for d, _, v in chosen if v == device} == set(detectors)
            assert {k for _, k, v in chosen if v == device} == set(kinds)


TUNE_CELLS = alternating_cells(DETECTORS, IMAGE_INPUTS)


@pytest.mark.parametrize("detector, kind, device", TUNE_CELLS)
def test_tune_two_trials(matrix, cache, tmp_path, detector, kind, device):
    """tune reads images only (it refuses --events); a directly trained detector tunes against labels."""
    out = tmp_path / "tune"
    labels = ["--labels", str(matrix["labels"])] if detector in DIRECT else []
    as_user(["tune", model_argument(matrix, detector), "--images", str(matrix["scenes"] / "images"), "--count", "1",
             *labels, "--trials", "2", *simulation(detector, kind), "--input", kind, "--device", device,
             "-o", str(out)])
    summary = read_json(out / "summary.json")
    assert summary["trials"] == 2 and {"chosen", "baseline", "chosen_trial", "metric"} <= set(summary)
    for point in (summary["chosen"], summary["baseline"]):
        assert 0 <= point["accuracy"] <= 1 and point["events_per_image"] >= 0
    with open(out / "trials.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 2
    params = tomllib.loads((out / "params.toml").read_text())
    assert params, "params.toml is empty"
    assert_picture(out / "pareto.png")


@pytest.mark.parametrize("detector", [d for d in DETECTORS if d not in DIRECT])
def test_balance(matrix, cache, tmp_path, detector):
    """balance reads an ANN's [yolo] heads: every detector that has an ANN."""
    out = tmp_path / "balanced.toml"
    as_user(["balance", model_argument(matrix, detector), "--images", str(matrix["scenes"] / "images"),
             "--count", "2", "--steps", "16", "-o", str(out)])
    params = tomllib.loads(out.read_text())
    thresholds = {key: table["v_th"] for key, table in params.items() if isinstance(table, dict) and "v_th" in table}
    assert thresholds, params
    assert all(np.isfinite(v) and 1 <= v <= 8 for v in thresholds.values()), thresholds


RUN_CELLS = alternating_cells(("embedded", "tiny"), IMAGE_INPUTS)


@pytest.mark.parametrize("detector, kind, device", RUN_CELLS)
def test_run_file(matrix, cache, tmp_path, detector, kind, device):
    """A run file names the embedded detector or Darknet files (it converts them itself)."""
    if detector == "embedded":
        model = "embedded = true"
    else:
        folder = matrix["root"] / "tiny"
        model = "\n".join(f'{key} = "{folder / f"model.{key}"}"' for key in ("cfg", "weights", "names"))
    run_file = tmp_path / "matrix.toml"
    run_file.write_text(f'name = "matrix"\n[model]\n{model}\n'
                        f'[calibration]\nfolder = "{matrix["scenes"] / "images"}"\n'
                        f'[images]\nfolder = "{matrix["scenes"] / "images"}"\nlabels = "{matrix["labels"]}"\n'
                        f'count = 1\n[simulation]\nsteps = {STEPS}\ncheckpoints = [{STEPS}]\n'
                        f'device = "{device}"\ninput = "{kind}"\n')
    as_user(["check", str(run_file)])
    out = tmp_path / "out"
    as_user(["run", str(run_file), "-o", str(out)])
    summary = read_json(out / "summary.json")
    assert summary["images"] == 1 and set(summary["ann"]) >= SCORE_KEYS
    (name, configuration), = summary["configurations"].items()
    metrics = read_json(out / name / "metrics.json")
    assert list(metrics["snn"]) == [str(STEPS)]
    for scores in metrics["snn"].values():
        assert set(scores) >= SCORE_KEYS
    assert (out / "summary.md").read_text().strip()
    assert_picture(out / "map_vs_steps.png")


@pytest.mark.parametrize("detector", DETECTORS)
def test_check_every_model(matrix, cache, detector):
    from brainyolo.data.embedded import model_file

    path = model_file(model_argument(matrix, detector))
    stdout, _ = as_user(["check", str(path)])
    assert stdout.strip().startswith(f"{path}: ok"), stdout
