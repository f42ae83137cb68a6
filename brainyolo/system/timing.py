"""Where a command's wall time goes: named stages timed wherever they happen, summed per command.

A command that is asked to (``--profile``) opens a :func:`stopwatch`; code anywhere below it marks its
stages with :func:`stage`, which costs nothing when no stopwatch is open. Stages may nest: the inner
one's time is taken out of the outer one's, so the stages add up to the wall time they cover.

>>> with stopwatch() as watch:
...     with stage("outer"):
...         with stage("inner"):
...             pass
>>> sorted(watch.seconds)
['inner', 'outer']
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from dataclasses import dataclass, field

import psutil

STAGES = ("start-up", "model load", "network construction", "inputs", "binary start and results", "simulation",
          "recording", "decoding", "ANN (pictures)", "ANN (scores)", "scoring", "writing")
"""The stages of a spiking detection or evaluation, in their order (:func:`report` lists others after them):
``recording`` reads a run's results (and writes ``recordings.h5`` where one is kept), with the synaptic events
counted from them; ``ANN (pictures)`` and ``ANN (scores)`` are the ANN's detections drawn beside the SNN's
(``detect``) or scored beside them (``evaluate``); ``scoring`` is the mAP's computation."""


@dataclass
class Stopwatch:
    """Seconds per stage (exclusive of the stages nested in it) and the wall time since it started."""

    seconds: dict[str, float] = field(default_factory=dict)
    images: int = 0
    """Samples simulated (:func:`count_image`)."""
    started: float = field(default_factory=lambda: time.perf_counter())
    ended: float | None = None
    """When the ``with`` block of :func:`stopwatch` ended (None: still running)."""
    _open: list = field(default_factory=list)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def wall(self) -> float:
        return (time.perf_counter() if self.ended is None else self.ended) - self.started


_current: contextvars.ContextVar[Stopwatch | None] = contextvars.ContextVar("brainyolo_stopwatch", default=None)


@contextlib.contextmanager
def stopwatch(since_process_start: bool = False):
    """Time the stages of the ``with`` block; ``since_process_start``: count the interpreter's start and the
    imports before this point as the stage ``start-up``."""
    watch = Stopwatch()
    if since_process_start:
        start_up = time.time() - psutil.Process().create_time()
        watch.add("start-up", start_up)
        watch.started -= start_up
    token = _current.set(watch)
    try:
        yield watch
    finally:
        watch.ended = time.perf_counter()
        _current.reset(token)


@contextlib.contextmanager
def stage(name: str):
    """Count the ``with`` block's time as stage ``name`` of the open stopwatch (if any)."""
    watch = _current.get()
    if watch is None:
        yield
        return
    started = time.perf_counter()
    watch._open.append(0.0)  # time spent in stages nested in this one
    try:
        yield
    finally:
        nested = watch._open.pop()
        elapsed = time.perf_counter() - started
        watch.add(name, elapsed - nested)
        if watch._open:
            watch._open[-1] += elapsed


def count_image() -> None:
    """One more sample simulated under the open stopwatch (if any)."""
    watch = _current.get()
    if watch is not None:
        watch.images += 1


def account(name: str, seconds: float, within: str) -> None:
    """Move ``seconds`` measured elsewhere (e.g. by the binary itself) from stage ``within`` to ``name``."""
    watch = _current.get()
    if watch is not None:
        watch.add(name, seconds)
        watch.add(within, -seconds)


def report(watch: Stopwatch) -> list[str]:
    """A table: each stage's seconds, per image, and share of the wall time (the rest: ``other``)."""
    wall, images = watch.wall(), watch.images
    names = [s for s in STAGES if s in watch.seconds] + sorted(set(watch.seconds) - set(STAGES))
    rest = wall - sum(watch.seconds.values())
    rows = [(name, watch.seconds[name]) for name in names] + [("other", rest)]
    per = max(images, 1)
    what = (f"{images} image{'s' if images != 1 else ''}" if images else
            "no image simulated in this process: cluster workers' stages are not timed, they are in other")
    lines = [f"where the time went ({what}):",
             f"{'stage':<26}{'seconds':>9}{'per image':>11}{'share':>8}"]
    lines += [f"{name:<26}{seconds:9.2f}{seconds / per:11.3f}{seconds / wall:8.1%}" for name, seconds in rows]
    lines.append(f"{'wall':<26}{wall:9.2f}{wall / per:11.3f}{1:8.1%}")
    return lines


def as_dict(watch: Stopwatch) -> dict:
    """The stopwatch as a JSON-ready record (``profile.json``)."""
    wall = watch.wall()
    return {"images": watch.images, "wall_seconds": wall, "stages": dict(watch.seconds),
            "other_seconds": wall - sum(watch.seconds.values())}
