"""Evaluation farmed out over Dask (issue 13): the embedded detector on generated scenes, a local
cluster of 2 single-thread workers, then a cluster started here on 127.0.0.1 (``--scheduler``)
with one worker killed mid-run. The oracle is the serial evaluation of the same images."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli

pytestmark = [pytest.mark.standalone_only, pytest.mark.long]

STEPS = "60"
COMPILING = 900  # seconds a command may take when it compiles the network


@pytest.fixture(scope="module")
def farm_setup(tmp_path_factory):
    """The embedded detector converted on 4 generated scenes, 6 fresh scenes to evaluate, one build
    cache shared by the client and every worker of this module; and the serial results."""
    from brainyolo.convert.conversion import convert_darknet
    from brainyolo.convert.model_file import save_model
    from brainyolo.data import scenes
    from brainyolo.data.embedded import embedded_model

    root = tmp_path_factory.mktemp("farm")
    old = os.environ.get("BRAINYOLO_CACHE")
    os.environ["BRAINYOLO_CACHE"] = str(root / "cache")
    cfg, weights, names = embedded_model(root / "darknet")
    calibration = scenes.write_scenes(root / "calibration", 4, seed=7)
    save_model(convert_darknet(cfg, weights, calibration, names=names, progress=False), root / "model.h5")
    scenes.write_scenes(root / "scenes", 6, seed=8)
    setup = {"root": root, "model": root / "model.h5", "images": root / "scenes" / "images",
             "labels": root / "scenes" / "labels"}
    code, _, stderr = run_cli(_evaluate(setup, root / "serial"), COMPILING)
    assert code == 0, stderr
    setup["serial"] = _results(root / "serial")
    yield setup
    if old is None:
        del os.environ["BRAINYOLO_CACHE"]
    else:
        os.environ["BRAINYOLO_CACHE"] = old


def _evaluate(setup, out, *extra):
    return ["evaluate", str(setup["model"]), "--images", str(setup["images"]), "--labels", str(setup["labels"]),
            "--mode", "snn", "--steps", STEPS, "--checkpoints", "20,40", "--threads", "1", "-q", "-o", str(out),
            *extra]


def _results(out: Path) -> dict:
    """Per image: detections at every checkpoint and synaptic events (timings differ run to run)."""
    found = {}
    for path in sorted((out / "snn_images").glob("*.json")):
        record = json.loads(path.read_text())
        found[path.name] = (record["detections"], record["synaptic_events"], record["conv_events"])
    return found


def test_local_cluster_equals_the_serial_evaluation(farm_setup, tmp_path):
    assert len(farm_setup["serial"]) == 6 and any(d for d, _, _ in farm_setup["serial"].values())
    code, _, stderr = run_cli(_evaluate(farm_setup, tmp_path / "farm", "--workers", "2"), COMPILING)
    assert code == 0, stderr
    assert _results(tmp_path / "farm") == farm_setup["serial"]
    metrics = json.loads((tmp_path / "farm" / "metrics.json").read_text())
    serial = json.loads((farm_setup["root"] / "serial" / "metrics.json").read_text())
    assert metrics["snn"] == serial["snn"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_" + args[0], *args[1:]],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))


@contextlib.contextmanager
def _cluster(workers: int):
    """A Dask scheduler on 127.0.0.1 and ``workers`` single-thread workers (no nanny) started here:
    ``(address, client, processes)``; a worker added later goes into ``processes`` too. All killed after."""
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes = [_dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")]
    client = None
    try:
        for _ in range(workers):
            processes.append(_worker(address))
        client = Client(address, timeout="30s")
        client.wait_for_workers(workers, timeout=60)
        yield address, client, processes
    finally:
        if client is not None:
            client.close()
        for process in processes:
            process.kill()
            process.wait()


def _worker(address: str) -> subprocess.Popen:
    return _dask("worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard")


def test_a_worker_killed_mid_run_loses_and_repeats_nothing(farm_setup, tmp_path, monkeypatch):
    """A cluster started here (``--scheduler``); one of its two workers is killed while it simulates:
    its image runs again on the other worker, every image is scored once, nothing written twice."""
    import threading

    import brainyolo.pipeline

    with _cluster(2) as (address, client, processes):
        pids = client.run(os.getpid)  # worker address -> process id
        writes = []
        real_write = brainyolo.pipeline.write_json  # the evaluation's per-image results are written there

        def counting_write(path, data, *args, **kwargs):
            writes.append(Path(path).name)
            return real_write(path, data, *args, **kwargs)

        monkeypatch.setattr(brainyolo.pipeline, "write_json", counting_write)
        out = tmp_path / "killed"
        killed = []

        def kill_one_worker_mid_run():
            # once the first image is written, kill a worker while it simulates an image
            deadline = time.time() + 600
            while time.time() < deadline:
                busy = [w for w, tasks in client.processing().items() if tasks]
                if busy and list(out.glob("snn_images/*.json")):
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(pids[busy[0]])
                    return
                time.sleep(0.02)

        killer = threading.Thread(target=kill_one_worker_mid_run, daemon=True)
        killer.start()
        code, _, stderr = run_cli(_evaluate(farm_setup, out, "--scheduler", address), COMPILING)
        killer.join(timeout=5)
        assert code == 0, stderr
        victim = next(p for p in processes[1:] if p.pid == killed[0])
        assert victim.wait(timeout=10) != 0  # that worker really died
        assert _results(out) == farm_setup["serial"]
        per_image = [name for name in writes if name.startswith("scene")]
        assert sorted(per_image) == sorted(farm_setup["serial"])  # each image written exactly once


def test_an_unreachable_scheduler_is_one_error_line(farm_setup, tmp_path):
    out = tmp_path / "none"
    code, _, stderr = run_cli(_evaluate(farm_setup, out, "--scheduler", f"tcp://127.0.0.1:{_free_port()}"))
    assert code == 2
    assert stderr.startswith("brainyolo: error: ") and "no Dask scheduler at tcp://127.0.0.1:" in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not list(out.glob("snn_images/*.json"))


def _ten_times(item: int) -> int:
    if item == 3:
        raise ValueError("three is refused")
    if item == 4:
        time.sleep(0.5)  # (the others are done by then: a dying worker also takes down what it holds)
        os._exit(1)  # the worker process dies (every time: no retry can save it)
    return 10 * item


def test_failed_tasks_are_reported_and_the_others_finish():
    from distributed import KilledWorker

    from brainyolo.experiments.farm import Farm, client_for, run_tasks

    done = []
    with client_for(Farm(workers=2, retries=1)) as client:
        outcomes = {item: (result, error) for item, result, error in
                    run_tasks(client, _ten_times, [1, 2, 3, 5, 4], progress=done.append)}
    assert sorted(done) == [1, 2, 3, 4, 5]
    assert {item: result for item, (result, error) in outcomes.items() if error is None} == {1: 10, 2: 20, 5: 50}
    assert isinstance(outcomes[3][1], ValueError) and "three is refused" in str(outcomes[3][1])
    assert isinstance(outcomes[4][1], KilledWorker)  # its worker died twice: once plus the one retry


def test_the_model_outlives_every_worker_that_held_it():
    """The shared model bytes are a task the scheduler can run again: after the only worker holding
    them is killed, a new worker still gets them (scattered data would be lost, and every later task
    with it)."""
    from brainyolo.experiments.farm import share

    with _cluster(1) as (address, client, processes):
        model = share(client, b"model bytes" * 1000)
        assert client.submit(len, model, pure=False).result(timeout=60) == 11000
        (pid,) = client.run(os.getpid).values()
        os.kill(pid, signal.SIGKILL)
        processes[1].wait(timeout=10)
        deadline = time.time() + 30
        while client.scheduler_info()["workers"] and time.time() < deadline:
            time.sleep(0.1)  # the scheduler notices the dead worker
        processes.append(_worker(address))
        client.wait_for_workers(1, timeout=60)
        assert client.submit(len, model, pure=False).result(timeout=60) == 11000
