"""Run the standalone binary: record its own peak memory and show its progress.

Used as Brian2's ``run_cmd_unix``: ``python -m brainyolo.spiking.measure ./main ARGS...``, where the binary runs
one image per process (a binary fed image after image, :mod:`brainyolo.spiking.binary_server`, shows its progress
and records its peak memory itself, with :class:`ProgressLine` and :func:`binary_environment`).

* Peak memory: ``peak_memory_bytes`` in the run's results folder.
* Progress: the binary's report function (:data:`REPORT_CODE`, compiled in by
  :class:`brainyolo.spiking.simulate.Simulator`) prints ``brainyolo-progress ELAPSED COMPLETED``
  lines. With ``$BRAINYOLO_PROGRESS`` set (``MODE|STEPS|EVERY|LABEL``, see :func:`progress_setting`)
  they become one line on stderr: rewritten in place on a terminal (``tty``) once a run has taken
  ``EVERY`` seconds (:data:`SHOW_AFTER`), or one line every ``EVERY`` seconds in a log (``log``,
  :data:`LOG_EVERY`).
  Without it nothing is shown. Every other line of the binary goes to stdout as before.
* OpenMP threads wait passively (``OMP_WAIT_POLICY=PASSIVE`` unless the caller set one): a thread
  that waits at a barrier sleeps instead of spinning on a core another process needs.
* glibc is asked for transparent huge pages on the binary's arrays (the tunable ``glibc.malloc.hugetlb=1``,
  added to ``$GLIBC_TUNABLES`` unless the caller set that tunable; glibc 2.35 and later, ignored by older
  glibc, musl and macOS): where the kernel's THP mode is ``madvise`` yolov3-tiny's network state then
  starts with fewer page faults (``analysis/overhead/README.md``, "Huge pages"). A caller's
  ``glibc.malloc.hugetlb=0`` stops the asking (under THP ``always`` the kernel uses huge pages anyway). A
  binary started without this wrapper (``measure_memory=False`` in :mod:`brainyolo.spiking.device`) is not
  asked.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys

MARK = "brainyolo-progress"
REPORT_CODE = f'std::cout << "{MARK} " << elapsed << " " << completed << std::endl;'
"""Body of the binary's report function (Brian2's ``report``: elapsed wall seconds, completed fraction)."""

REPORT_PERIOD_SECONDS = 1.0
SHOW_AFTER = 2.0
"""A terminal shows the progress of runs that take longer than this (seconds)."""
LOG_EVERY = 30.0
"""A log gets one progress line per this many seconds of a run (none for shorter runs)."""
MODES = ("tty", "log")


def progress_setting(mode: str, steps: int, label: str, every: float | None = None) -> str:
    """The value of ``$BRAINYOLO_PROGRESS`` for a run of ``steps`` steps named ``label``.

    ``every``: seconds before a terminal shows the line, or between two lines of a log (default
    :data:`SHOW_AFTER` or :data:`LOG_EVERY`).
    """
    if mode not in MODES:
        raise ValueError(f"progress mode {mode!r} not in {MODES}")
    if every is None:
        every = SHOW_AFTER if mode == "tty" else LOG_EVERY
    return f"{mode}|{int(steps)}|{float(every)!r}|{label}"


def progress_text(label: str, steps: int, elapsed: float, completed: float) -> str:
    """One progress line: steps done, wall milliseconds per step so far, time left at that pace.

    >>> progress_text("a.jpg", 300, 4.5, 0.5)
    'a.jpg: 150/300 steps, 30.0 ms/step, 5 s left'
    """
    done = int(round(completed * steps))
    text = f"{label}: {done}/{steps} steps"
    if done > 0:
        per_step = elapsed / done
        left = per_step * (steps - done)
        text += f", {1e3 * per_step:.1f} ms/step, {_duration(left)} left"
    return text


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def progress_values(text: str) -> tuple[float, float] | None:
    """``(elapsed, completed)`` of one of the binary's report lines (:data:`REPORT_CODE`); None where it is malformed
    (shown nowhere).

    >>> progress_values("brainyolo-progress 4.5 0.25")
    (4.5, 0.25)
    >>> progress_values("brainyolo-progress x") is None
    True
    """
    try:
        elapsed, completed = (float(x) for x in text.split()[1:3])
    except ValueError:
        return None
    return elapsed, completed


class ProgressLine:
    """Turns the binary's report lines into what ``mode`` shows on ``stream``."""

    def __init__(self, setting: str, stream):
        mode, steps, every, label = setting.split("|", 3)
        if mode not in MODES:
            raise ValueError(f"progress mode {mode!r} not in {MODES}")
        self.mode, self.steps, self.label, self.stream = mode, int(steps), label, stream
        self.every = float(every)
        self.shown = False
        self.next_log = self.every

    def report(self, elapsed: float, completed: float) -> None:
        text = progress_text(self.label, self.steps, elapsed, completed)
        if self.mode == "tty":
            if completed < 1.0 and elapsed >= self.every:
                self.stream.write("\r" + text + "\033[K")
                self.stream.flush()
                self.shown = True
        elif elapsed >= self.next_log and completed < 1.0:
            self.stream.write(text + "\n")
            self.stream.flush()
            while self.next_log <= elapsed:
                self.next_log += max(self.every, REPORT_PERIOD_SECONDS)

    def close(self) -> None:
        if self.shown:  # leave the terminal line as it was
            self.stream.write("\r\033[K")
            self.stream.flush()


HUGE_PAGES = "glibc.malloc.hugetlb=1"
"""The glibc tunable that has malloc ask for transparent huge pages (``madvise``) for what it maps."""


def with_huge_pages(tunables: str | None) -> str:
    """``$GLIBC_TUNABLES`` for the binary: the caller's, with :data:`HUGE_PAGES` added unless it sets that
    tunable itself.

    >>> with_huge_pages(None)
    'glibc.malloc.hugetlb=1'
    >>> with_huge_pages("glibc.malloc.arena_max=2")
    'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1'
    >>> with_huge_pages("glibc.malloc.hugetlb=0")
    'glibc.malloc.hugetlb=0'
    """
    if not tunables:
        return HUGE_PAGES
    name = HUGE_PAGES.split("=")[0]
    if any(item.split("=")[0] == name for item in tunables.split(":")):
        return tunables
    return f"{tunables}:{HUGE_PAGES}"


def binary_environment(environment: dict[str, str]) -> dict[str, str]:
    """The binary's environment: ``environment`` with passive OpenMP waits unless it sets a policy, and
    :data:`HUGE_PAGES` (:func:`with_huge_pages`); ``BRAINYOLO_PROGRESS`` is for this wrapper, not the binary.

    >>> binary_environment({"OMP_WAIT_POLICY": "ACTIVE", "BRAINYOLO_PROGRESS": "tty|5|2.0|a"})
    {'OMP_WAIT_POLICY': 'ACTIVE', 'GLIBC_TUNABLES': 'glibc.malloc.hugetlb=1'}
    """
    env = dict(environment)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env["GLIBC_TUNABLES"] = with_huge_pages(env.get("GLIBC_TUNABLES"))
    env.pop("BRAINYOLO_PROGRESS", None)
    return env


def main(argv: list[str]) -> int:
    setting = os.environ.get("BRAINYOLO_PROGRESS", "")
    env = binary_environment(os.environ)
    try:
        line = ProgressLine(setting, sys.stderr) if setting else None
    except ValueError:  # a malformed setting shows nothing rather than failing the run
        line = None
    with subprocess.Popen(argv, stdout=subprocess.PIPE, env=env, encoding="utf-8", errors="replace",
                          bufsize=1) as child:
        for text in child.stdout:
            if text.startswith(MARK + " "):
                values = progress_values(text)
                if values is not None and line is not None:
                    line.report(*values)
            else:
                sys.stdout.write(text)
        code = child.wait()
    if line is not None:
        line.close()
    sys.stdout.flush()
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: KiB
    if "--results_dir" in argv:
        results = argv[argv.index("--results_dir") + 1]
        try:
            os.makedirs(results, exist_ok=True)
            with open(os.path.join(results, "peak_memory_bytes"), "w") as f:
                f.write(str(peak_kib * 1024))
        except OSError:  # a full file system: the run's own outcome is what the caller checks
            pass
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
