"""Two promises of the README checked end to end: 1 and 2 OpenMP threads record the same run, bit for
bit (cpp_standalone); ``evaluate --mode snn`` killed with SIGKILL resumes with no image lost or
simulated twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import STANDALONE, run_cli

COMPILING = 900  # seconds a command may take when it compiles the network

# ------------------------------------------------------------------ 1 and 2 threads: identical recordings

EXCLUDED_DATASETS: dict[str, str] = {}
"""Datasets of ``recordings.h5`` that may differ between thread counts, with the reason: none. The
recordings hold spikes, membranes and event counts only; wall-clock times, the thread count and
other run details go to ``run_info.json``."""

EXCLUDED_ATTRIBUTES: dict[str, str] = {}
"""Likewise for attributes: none (both runs read the same model file, so even ``model_file`` agrees,
and with every dataset and attribute equal so does the ``content_sha256`` digest)."""


def _datasets(f: h5py.File) -> dict[str, h5py.Dataset]:
    found = {}

    def visit(name: str, node) -> None:  # (a value returned would stop visititems)
        if isinstance(node, h5py.Dataset) and name.split("/")[-1] not in EXCLUDED_DATASETS:
            found[name] = node

    f.visititems(visit)
    return found


def _attributes(f: h5py.File) -> dict[tuple[str, str], object]:
    nodes = {"/": f}

    def visit(name: str, node) -> None:
        nodes[name] = node

    f.visititems(visit)
    return {(name, key): node.attrs[key] for name, node in nodes.items() for key in node.attrs
            if key not in EXCLUDED_ATTRIBUTES}


def _build_folder(model_path: Path, threads: int) -> Path:
    """The cached build of :data:`STANDALONE` at ``threads`` threads (the folder Simulator compiles into)."""
    from brainyolo.convert.model_file import load_model
    from brainyolo.io.atomic import sha256_of
    from brainyolo.spiking.build_cache import build_key, cache_root
    from brainyolo.spiking.builder import model_build_options
    from brainyolo.spiking.settings import BuildOptions
    from brainyolo.spiking.simulate import SimulationSettings

    model = load_model(model_path)  # (the paper preset: the options the Simulator resolves, named)
    build = model_build_options(model, BuildOptions(output=STANDALONE["output"], normalization=model.normalization))
    settings = SimulationSettings(steps=STANDALONE["steps"], checkpoints=STANDALONE["checkpoints"],
                                  device="cpp_standalone", threads=threads, build=build)
    return cache_root() / build_key(sha256_of(model_path), settings)


@pytest.mark.long
@pytest.mark.standalone_only
def test_one_and_two_threads_record_identical_runs(tiny_converted, tmp_path, shared_build_cache):
    """README, "The same spikes whatever the threads": ``simulate --threads 1`` and ``--threads 2``
    (cpp_standalone, two images, :data:`STANDALONE` settings) write the same ``recordings.h5``: the
    same datasets (names, shapes, dtypes, values bit for bit) and the same attributes.

    The thread count is part of the build: two binaries, the 2-thread one shared with the other
    standalone tests. Both runs spike (equality of two silent runs would prove nothing), and the two
    binaries really differ: only the 2-thread one sets OpenMP threads.
    """
    model_path, images = tiny_converted
    runs = {}
    for threads in (1, 2):
        runs[threads] = tmp_path / f"threads{threads}"
        code, _, stderr = run_cli(["simulate", str(model_path), *map(str, images), "--preset", "paper",
                                   "--steps", str(STANDALONE["steps"]),
                                   "--checkpoints", ",".join(map(str, STANDALONE["checkpoints"])), "--output",
                                   STANDALONE["output"], "--device", "cpp_standalone", "--threads", str(threads),
                                   "-q", "-o", str(runs[threads])], COMPILING)
        assert code == 0, stderr
        info = json.loads((runs[threads] / "run_info.json").read_text())
        assert info["threads"] == threads and len(info["images"]) == 2
    serial, parallel = (_build_folder(model_path, threads) / "main.cpp" for threads in (1, 2))
    assert serial.parent != parallel.parent
    assert "omp_set_num_threads" not in serial.read_text()
    assert "omp_set_num_threads(2)" in parallel.read_text()

    with h5py.File(runs[1] / "recordings.h5") as one, h5py.File(runs[2] / "recordings.h5") as two:
        first, second = _datasets(one), _datasets(two)
        assert sorted(first) == sorted(second)
        assert len(first) > 100  # 2 images x (every layer's counts, samples, populations; outputs)
        for name, dataset in first.items():
            other = second[name]
            assert (dataset.shape, dataset.dtype) == (other.shape, other.dtype), name
            assert np.array_equal(dataset[()], other[()]), name
        attributes = _attributes(one)
        assert attributes.keys() == _attributes(two).keys()
        for (name, key), value in attributes.items():
            assert np.array_equal(np.asarray(value), np.asarray(two[name].attrs[key])), (name, key)
        assert one.attrs["content_sha256"] == two.attrs["content_sha256"]
        # the runs spiked: in both images, in most hidden layers, and the sampled trains hold spikes
        for image in ("images/0000", "images/0001"):
            layers = one[image]["layers"]
            spiking = [name for name in layers if layers[name]["positive_count"][()].sum() > 0]
            assert len(spiking) >= len(layers) // 2, (image, spiking)
            assert sum(layers[name]["sample_spike_step"].shape[0] for name in layers) > 0, image
            events = [layers[name]["input_events"][-1] for name in layers if "input_events" in layers[name]]
            assert events and sum(events) > 0, image


# ------------------------------------------------------------------ evaluate --mode snn: SIGKILL, resume

STEPS = "60"  # ~1.4 s per scene in the runtime here (embedded detector): the kill lands mid-run
SCENES = 6
POLL_SECONDS = 0.05
WAIT_SECONDS = 300  # the longest a command of this test may take (loaded machine, first conversion)

HOOK = '''"""Test hook (tests/experiments/test_promises.py): log each Simulator.run to $BRAINYOLO_TEST_LOG."""
import os

_log = os.environ.get("BRAINYOLO_TEST_LOG")
if _log:
    from pathlib import Path

    from brainyolo.spiking import simulate as _simulate

    _run = _simulate.Simulator.run

    def _logged_run(self, path, *args, **kwargs):
        with open(_log, "a") as log:
            log.write(f"start {Path(path).stem}\\n")
        result = _run(self, path, *args, **kwargs)
        with open(_log, "a") as log:
            log.write(f"done {Path(path).stem}\\n")
        return result

    _simulate.Simulator.run = _logged_run
'''
"""A ``sitecustomize`` module put on the commands' PYTHONPATH: records which images each process
simulates (started and finished), the proof that none is simulated twice; the command is unchanged."""


def _simulated(log: Path, event: str = "start") -> list[str]:
    """Image stems of ``log``'s ``event`` lines (``start``: simulations begun; ``done``: finished), in order."""
    if not log.exists():
        return []
    return [line.split()[1] for line in log.read_text().splitlines() if line.split()[0] == event]


def _per_image(out: Path) -> dict[str, dict]:
    """``snn_images/*.json`` less their timings (run to run they differ): detections, events."""
    records = {}
    for path in sorted((out / "snn_images").glob("*.json")):
        record = json.loads(path.read_text())
        records[path.stem] = {k: v for k, v in record.items() if k not in ("run_seconds", "build_seconds")}
    return records


def _stamps(out: Path) -> dict[str, tuple[bytes, int]]:
    """Each finished image's ``snn_images`` file: (bytes, modification time in ns)."""
    return {path.stem: (path.read_bytes(), path.stat().st_mtime_ns) for path in (out / "snn_images").glob("*.json")}


@pytest.fixture
def evaluation(tmp_path):
    """(command for an output folder, environment for a log file): ``python -m brainyolo evaluate
    embedded`` of :data:`SCENES` labelled scenes, runtime device, a build cache of this test."""
    from brainyolo.data import scenes

    scenes.write_scenes(tmp_path / "scenes", SCENES, seed=8)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOOK)
    base = {**os.environ, "BRAINYOLO_CACHE": str(tmp_path / "cache"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))}

    def command(out: Path) -> list[str]:
        return [sys.executable, "-m", "brainyolo", "evaluate", "embedded", "--images", str(tmp_path / "scenes/images"),
                "--labels", str(tmp_path / "scenes/labels"), "--mode", "snn", "--steps", STEPS, "--checkpoints",
                "30", "--device", "runtime", "-o", str(out), "-q"]

    def environment(log: Path) -> dict[str, str]:
        return {**base, "BRAINYOLO_TEST_LOG": str(log)}

    return command, environment


def _run_to_end(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=WAIT_SECONDS)
    assert done.returncode == 0, done.stderr


@pytest.mark.long
def test_killed_evaluation_resumes_with_no_image_lost_or_simulated_twice(evaluation, tmp_path):
    """README, ``evaluate --mode snn``: each image's detections are written to ``snn_images/<image>.json``
    as soon as it is done, and the same command again resumes, no image lost or simulated twice.

    A real ``python -m brainyolo evaluate`` is killed (SIGKILL) once 2 or more of 6 scenes are saved
    and before the last; the same command then completes it. Its result equals an uninterrupted run's
    (metrics.json, per-image detections and events, detection files); the files of the killed run are
    untouched (bytes and modification time); and the rerun simulates exactly the scenes that had no
    file, each once (the hook's log of the rerun's simulations).
    """
    command, environment = evaluation
    full = tmp_path / "uninterrupted"
    _run_to_end(command(full), environment(tmp_path / "uninterrupted.log"))  # converts the embedded model, once
    stems = [f"scene{i:04d}" for i in range(SCENES)]
    assert _simulated(tmp_path / "uninterrupted.log") == stems

    out = tmp_path / "resumed"
    stderr = tmp_path / "killed.stderr"
    with open(stderr, "w") as errors:
        process = subprocess.Popen(command(out), env=environment(tmp_path / "killed.log"),
                                   stdout=subprocess.DEVNULL, stderr=errors)
        try:
            deadline = time.monotonic() + WAIT_SECONDS
            while len(list((out / "snn_images").glob("*.json"))) < 2:
                assert process.poll() is None, f"ended ({process.returncode}) before 2 images: {stderr.read_text()}"
                assert time.monotonic() < deadline, "no 2 images saved in time"
                time.sleep(POLL_SECONDS)
            process.send_signal(signal.SIGKILL)
            assert process.wait(timeout=30) == -signal.SIGKILL
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    before = _stamps(out)
    assert 2 <= len(before) < SCENES, sorted(before)
    assert not (out / "metrics.json").exists()
    assert set(before) <= set(_simulated(tmp_path / "killed.log", "done"))

    _run_to_end(command(out), environment(tmp_path / "rerun.log"))
    missing = [stem for stem in stems if stem not in before]
    assert _simulated(tmp_path / "rerun.log") == missing  # the missing ones, each once, nothing else
    assert _simulated(tmp_path / "rerun.log", "done") == missing
    after = _stamps(out)
    assert sorted(after) == stems
    assert {stem: after[stem] for stem in before} == before  # the killed run's results, untouched

    assert _per_image(out) == _per_image(full)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == json.loads((full / "metrics.json").read_text())
    assert sorted(metrics["snn"]) == ["30", "60"] and metrics["snn"]["60"]["detections"] > 0
    for name in ("detections.json", "detections_ann.json", "checkpoints/detections_t30.json",
                 "checkpoints/detections_t60.json"):
        assert (out / name).read_bytes() == (full / name).read_bytes(), name


@pytest.mark.codegen_independent
def test_input_currents_do_not_depend_on_the_blas_threads():
    """The first layer's current is a BLAS product: at 2 BLAS threads OpenBLAS sums in another order
    than at 1, which moved spikes between a 2-core process and a Dask worker (one BLAS thread). The
    network's input currents are computed at one thread, whatever the process's setting."""
    from threadpoolctl import threadpool_limits

    from brainyolo.ann.reference import conv2d
    from brainyolo.spiking.input_rules import input_conv2d

    rng = np.random.default_rng(0)
    x = rng.random((16, 48, 48), dtype=np.float32)
    weight = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(32).astype(np.float32)
    with threadpool_limits(1, user_api="blas"):
        one = conv2d(x, weight, bias, 1, 1)
    for threads in (1, 2, 4):
        with threadpool_limits(threads, user_api="blas"):
            np.testing.assert_array_equal(input_conv2d(x, weight, bias, 1, 1), one)
