"""Farm simulations out over a Dask cluster: one task per image (per trial for ``tune``).

The client (the ``brainyolo`` command) keeps everything that is written: tasks return plain data,
and the client writes each result as before (one atomic file per image), so an interrupted or
crashed evaluation resumes with nothing lost or repeated. Workers get what they need by content:

* the model file once per worker (:func:`share`: a task that returns the file's bytes, fetched by
  every worker that runs a task; if every worker holding them dies, the scheduler runs it again,
  where scattered data would be lost with them), checked against its sha256 and kept in the worker
  machine's cache (:func:`model_on_worker`), since workers need not share the client's paths;
* each image's bytes with its task.

A worker process keeps one :class:`~brainyolo.spiking.simulate.Simulator` (:func:`kept_on_worker`):
the network is compiled once per machine into its build cache (under the build lock: two worker
processes of one machine compile it once) and every later task of that process runs the binary.
A worker that dies mid-task has its task run again on another worker by the scheduler; after the
scheduler's allowed failures (``retries``; Dask's ``distributed.scheduler.allowed-failures``) the
task is reported as failed with its error and the other tasks finish.

Run a local cluster with ``--workers N`` (N worker processes, one task at a time each, OpenMP threads
per task set by ``--threads``), or join an existing one with ``--scheduler ADDRESS``
(``dask scheduler`` on one machine, ``dask worker ADDRESS --nthreads 1`` on each; every machine
needs brainyolo installed, the same version, and a C++ compiler).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from brainyolo import __version__
from brainyolo.io.atomic import atomic_path
from brainyolo.io.errors import BrainyoloError, one_line

DEFAULT_RETRIES = 2
"""Times a task whose worker died is started again elsewhere before it counts as failed."""


@dataclass(frozen=True)
class Farm:
    """Where tasks run: ``workers`` local worker processes, or the cluster at ``scheduler``."""

    workers: int = 0
    scheduler: str | None = None
    retries: int = DEFAULT_RETRIES

    def __post_init__(self):
        if self.workers < 0 or self.retries < 0:
            raise BrainyoloError(None, "--workers and the retries must be >= 0")
        if self.workers and self.scheduler:
            raise BrainyoloError(None, "--workers starts a local cluster, --scheduler joins one: choose one")

    @property
    def active(self) -> bool:
        return bool(self.workers or self.scheduler)


@contextlib.contextmanager
def client_for(farm: Farm):
    """A ``distributed.Client`` on a local cluster or on ``farm.scheduler`` (closed afterwards)."""
    import logging

    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": farm.retries,
                          "distributed.worker.daemon": False}):
        if farm.scheduler:
            try:
                client = Client(farm.scheduler, timeout="20s")
            except (OSError, TimeoutError) as err:
                raise BrainyoloError(None, f"no Dask scheduler at {farm.scheduler}: {one_line(err)}") from None
            cluster = None
        else:
            cluster = LocalCluster(n_workers=farm.workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
            client = Client(cluster)
        try:
            client.register_plugin(import_brian2_plugin(), name="brainyolo-import-brian2")
            yield client
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


def import_brian2_plugin():
    """A Dask worker plugin that imports Brian2 when a worker joins, in the worker's main thread.

    Brian2 installs a SIGINT handler when it is imported, which Python allows in the main thread only, and
    a worker runs its tasks in other threads: a task that imported Brian2 first failed ("signal only works
    in main thread"). A plugin's ``setup`` runs in the worker's event loop, on its main thread.
    """
    from distributed.diagnostics.plugin import WorkerPlugin  # Dask: only where a cluster is used

    class ImportBrian2(WorkerPlugin):
        def setup(self, worker) -> None:
            import brian2  # noqa: F401 - for its side effect, in the main thread

    return ImportBrian2()


def _held(data: bytes) -> bytes:
    return data


def share(client, data):
    """``data`` (a model file's bytes, a tuning run's images) for every task: the future to pass to them.

    The bytes travel inside a task of their own (keyed by their sha256), not as scattered data: the
    scheduler keeps the task, so if every worker holding its result dies (killed, or dropped for
    missed heartbeats on a busy machine) it runs it again on a live worker. Scattered data would be
    lost with them, and with it every task still to run (measured: a 128-image evaluation ended
    with all 128 failed, "already forgotten").
    """
    import warnings

    from dask.base import tokenize

    key = f"brainyolo-shared-{tokenize(data)}"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ll]arge graph.*")
        warnings.filterwarnings("ignore", message=".*[Ll]arge object.*")
        return client.submit(_held, data, key=key, pure=False)


def run_tasks(client, function: Callable, items: list, *shared, progress: Callable | None = None,
              key: str = "brainyolo") -> Iterator[tuple[object, object, BaseException | None]]:
    """Submit ``function(*shared, item)`` per item; yield ``(item, result, error)`` as each finishes.

    ``error`` is the task's exception (its own, or ``KilledWorker`` once its workers died more than
    the allowed failures); the other tasks go on. ``progress(item)`` is called after each.
    """
    from distributed import as_completed

    futures = {client.submit(function, *shared, item, key=f"{key}-{number}-{os.urandom(4).hex()}", pure=False): item
               for number, item in enumerate(items)}
    for future in as_completed(futures):
        item = futures[future]
        try:
            result, error = future.result(), None
        except Exception as err:  # noqa: BLE001 - reported per task, the others finish
            result, error = None, err
        if progress is not None:
            progress(item)
        yield item, result, error
        future.release()


# ---- worker side -------------------------------------------------------------------------------

_WORKER_LOCK = threading.Lock()
_WORKER: dict = {}


def check_version(version: str) -> None:
    """Refuse a task from a client of another brainyolo version (results would not be comparable)."""
    if version != __version__:
        raise BrainyoloError(None, f"this worker runs brainyolo {__version__}, the client {version}: install the "
                                   "same version on every machine")


def model_on_worker(data: bytes, sha256: str) -> Path:
    """The model file of ``data`` in this machine's cache (written once, checked by content)."""
    from brainyolo.spiking.build_cache import cache_root

    if hashlib.sha256(data).hexdigest() != sha256:
        raise BrainyoloError(None, "the model file reached this worker damaged (sha256 differs)")
    path = cache_root().parent / "models" / f"{sha256}.h5"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(data)
    return path


def kept_on_worker(key: str, make: Callable):
    """What ``make()`` returns (a Simulator and what goes with it), kept in this worker process for
    ``key``: built once, reused by every later task with the same key; another key closes and
    replaces it (``close()`` of the first element)."""
    if _WORKER.get("key") != key:
        old = _WORKER.get("value")
        _WORKER.clear()
        if old is not None and hasattr(old[0], "close"):
            old[0].close()
        _WORKER.update(key=key, value=make())
    return _WORKER["value"]


def worker_detector(model_data: bytes, model_sha256: str, settings, decode: str):
    """On a worker, with :func:`worker_lock` held: ``(SpikingDetector, class names)`` for the model of
    ``model_data`` with ``settings`` and the read-out ``decode``, built once per worker process."""
    from brainyolo.detector import SpikingDetector

    model_path = model_on_worker(model_data, model_sha256)

    def make():
        detector = SpikingDetector.from_settings(model_path, dataclasses.replace(settings, decode=decode))
        try:
            detector.build()
            return detector, detector.model.graph.class_names
        except BaseException:
            detector.close()
            raise

    return kept_on_worker(json.dumps([model_sha256, asdict(settings), decode], default=str, sort_keys=True), make)


@contextlib.contextmanager
def image_file(name: str, data: bytes):
    """``data`` as a file named ``name`` in a temporary folder (a task's image)."""
    with tempfile.TemporaryDirectory(prefix="brainyolo-image-") as folder:
        path = Path(folder) / Path(name).name
        path.write_bytes(data)
        yield path


def worker_lock():
    """Held by a task for its whole run: Brian2's device is per process, one simulation at a time."""
    return _WORKER_LOCK
