"""One standalone binary for many images: the binary started once, fed image after image.

Brian2's C++ standalone binary does one run per process: it allocates and zeroes its arrays, loads its static ones,
runs and writes its results. For yolov3-tiny the start is some 500 MB of fresh memory, each page faulted and zeroed
by the kernel, at every image. Started with ``--serve``, a binary whose sources went through :func:`serving_main` and
:func:`with_state_reset` reads one request after another from its standard input, each the results folder and the
run's arguments of one image (:func:`request_text`), and answers each with :data:`DONE` on its standard output once
that image's results are written. Right after an answer, while the caller reads those results and prepares the next
image, it puts every array and object back as a new process would have them (:func:`with_state_reset`): Brian2's
dynamic arrays, random generators and network constructed anew, the arrays zeroed or set as ``_init_arrays`` sets
them, the static arrays that a run can change (a ``TimedArray``'s values) read again; the static arrays only ever
copied from, and the groups' indices (constant ``arange`` arrays), stay as they were first set. The run's own values
(``main``'s body: clocks, starting values) are set again by the same code as in a new process, and then the next
request is read and its arguments set (where Brian2's ``main`` sets them, just before the run): in the order a new
process sets them. At the end of its input it resets once more, frees its arrays and exits.
Without ``--serve`` the binary runs once, as Brian2's does.

Not reset, and so not served (:class:`NotServable`; the binary is started per image): Brian2 ``Synapses`` with
pathways (spike queues), clocks other than ``Clock``, code inserted with ``device.insert_code`` around the start or
end. Not reset, and not detected: static state in the C++ support code of a user's own ``Function``.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import weakref
from pathlib import Path

from brainyolo.spiking.measure import MARK, ProgressLine, progress_values

SERVE_FLAG = "--serve"
DONE = "brainyolo-done"
"""The line the binary writes once an image's results are written."""
RESET_FUNCTION = "_brainyolo_reset_state"

_INIT_ARRAYS = re.compile(r"^void _init_arrays\(\)\n\{\n(?P<body>.*?)^\}\n", re.DOTALL | re.MULTILINE)
_ALLOCATION = re.compile(r"^[ \t]*\w+ = new [\w:<> ]+\[\w+\];\n", re.MULTILINE)
_RANDOM_SECTION = "    // Random number generator states\n"
_DYNAMIC_ARRAY = re.compile(r"^[\w:<>, ]+? (?P<name>_dynamic_array_\w+);$", re.MULTILINE)
"""A dynamic array's declaration, whatever its class (``std::vector<T>``, ``DynamicArray2D<T>``, ...)."""
_NETWORK = re.compile(r"^Network (?P<name>\w+);$", re.MULTILINE)
_PROFILING = re.compile(r"^std::chrono::nanoseconds (?P<name>\w+_profiling_info)\(0\);$", re.MULTILINE)
_SECTIONS = re.compile(r"^//////////////// synapses /////////////////\n(?P<synapses>.*?)"
                       r"^//////////////// clocks ///////////////////\n(?P<clocks>.*?)^\}$", re.DOTALL | re.MULTILINE)
_CLOCK_LINE = re.compile(r"^(?:Clock \w+;|std::chrono::nanoseconds \w+_profiling_info\(0\);|//.*|\s*)$")


class NotServable(RuntimeError):
    """A network whose binary cannot be reset between images: it runs one image per process."""


_SET_BY_NAME = re.compile(r"^void set_variable_by_name\(.*?^\}\n", re.DOTALL | re.MULTILINE)
_STATIC_SECTION = "    // static arrays\n"
_STATIC_ARRAY = re.compile(r"^[ \t]*(?P<name>\w+)(?: = new [\w:<> ]+\[\w+\]|\.resize\(\w+\));$", re.MULTILINE)
"""A static array's allocation in ``_init_arrays()``: ``name = new T[N];`` or, a dynamic one, ``name.resize(N);``."""
_LOAD_BLOCK = re.compile(r"^[ \t]*ifstream f(?P<name>\w+);\n.*?Error opening static array (?P=name)\.\" << endl;\n"
                         r"[ \t]*\}\n", re.DOTALL | re.MULTILINE)
"""One static array's reading in ``_load_arrays()`` (Brian2's template)."""


def with_state_reset(objects_cpp: str, code: list[str] | None = None) -> str:
    """``objects.cpp`` with :data:`RESET_FUNCTION`: every array and object set back to a new process's state.

    In the order a new process has them: each dynamic array, random generator list and network constructed anew
    (its destructor, then its constructor in place); the body of Brian2's ``_init_arrays()`` without its
    allocations (each array zeroed, or set to its ``arange``, or a dynamic one resized, where it was allocated;
    a constant ``arange`` kept as it is: :func:`_without_constant_ranges`);
    the random generators made; the static arrays that a run can change read again from their files (a
    ``TimedArray``'s values, which a run's arguments set, and static arrays that are dynamic arrays), the others
    kept as loaded; the last run's time, an interrupt's stop and the profiling times zeroed. Clocks hold nothing
    outside their arrays that a run does not set.

    Parameters
    ----------
    objects_cpp
        The text of a build's ``objects.cpp`` as Brian2 writes it (returned as it is if it has the function).
    code
        The texts of every other source that can write an array: the code objects' and the code inserted into
        ``main`` (:func:`_without_constant_ranges`); None: every array is set again.

    Returns
    -------
    str
        The text with the function appended.

    Raises
    ------
    NotServable
        State this function does not know how to reset: Brian2 ``Synapses`` with pathways (their spike queues),
        clocks other than Brian2's ``Clock``, or an ``objects.cpp`` of another form (another Brian2 version).
    """
    if RESET_FUNCTION in objects_cpp:
        return objects_cpp
    found, sections = _INIT_ARRAYS.search(objects_cpp), _SECTIONS.search(objects_cpp)
    setter = _SET_BY_NAME.search(objects_cpp)
    if found is None or _RANDOM_SECTION not in found["body"] or sections is None or setter is None:
        raise NotServable("objects.cpp is not of the form brainyolo's binary server resets")
    if any(line.strip() and not line.startswith("//") for line in sections["synapses"].splitlines()):
        raise NotServable("the network holds Brian2 Synapses with pathways (on_pre, on_post), whose spike queues the "
                          "binary server does not reset")
    if not all(_CLOCK_LINE.match(line) for line in sections["clocks"].splitlines()):
        raise NotServable("the network holds clocks other than Brian2's Clock")
    init, random = found["body"].split(_RANDOM_SECTION)
    body = _ALLOCATION.sub("", init)
    if re.search(r"\bnew\b", body):
        raise NotServable("objects.cpp's _init_arrays() allocates in a way the binary server does not know")
    dynamic = [match["name"] for match in _DYNAMIC_ARRAY.finditer(objects_cpp)]
    body = _without_constant_ranges(body, set(dynamic), setter.group(0), code)
    lines = [_constructed_anew(name) for name in [*dynamic, "_random_generators"]]
    lines += [_constructed_anew(match["name"]) for match in _NETWORK.finditer(objects_cpp)]
    lines += [zeroed_together(body), _RANDOM_SECTION, random.replace("std::random_device rd;", "")]
    loads = {match["name"]: match.group(0) for match in _LOAD_BLOCK.finditer(objects_cpp)}
    settable = set(re.findall(r"\b_static_array_\w+", setter.group(0)))
    for match in _STATIC_ARRAY.finditer(init.partition(_STATIC_SECTION)[2]):
        name = match["name"]
        # a _static_array_ buffer is only copied from (in main); anything else loaded may have been written
        if name.startswith("_static_array_") and name not in settable:
            continue
        if name not in loads:
            raise NotServable(f"objects.cpp does not read the static array {name} in a form the binary server "
                              "reads again")
        lines.append(loads[name])
    lines.append("    Network::_last_run_time = 0.0;\n    Network::_last_run_completed_fraction = 0.0;\n"
                 "    Network::_globally_stopped = false;\n")
    lines += [f"    {match['name']} = std::chrono::nanoseconds(0);\n" for match in _PROFILING.finditer(objects_cpp)]
    function = (f"\n// brainyolo: a new process's state, for the next image (brainyolo/spiking/binary_server.py)\n"
                f"#include <algorithm>\n#include <vector>\n{_ZEROED_TYPE}"
                f"void {RESET_FUNCTION}()\n{{\n    using namespace brian;\n{''.join(lines)}}}\n")
    return objects_cpp + function


_ARANGE = re.compile(r"^[ \t]*(?:#pragma omp parallel for schedule\(static\)\n[ \t]*)?"
                     r"for\(int i=0; i<\w+; i\+\+\) (?P<name>\w+)\[i\] = -?\w+ \+ i;\n", re.MULTILINE)
"""An array set to an ``arange`` in ``_init_arrays()`` (Brian2's template; the pragma only with OpenMP)."""
_MEMSET_LINE = re.compile(r"^[ \t]*std::memset\((\w+), 0, sizeof\(\1\[0\]\) \* \w+\);\n", re.MULTILINE)
"""One array zeroed by ``memset`` (:func:`brainyolo.spiking.device.zeroed_by_memset`), a line of its own."""


def _without_constant_ranges(body: str, dynamic: set[str], setter: str, code: list[str] | None) -> str:
    """``_init_arrays()``'s ``body`` (allocations removed) without the zeroing and the ``arange`` of arrays that keep
    them from the first image on: Brian2 sets an ``arange`` (a group's index ``i``, a subgroup's or monitor's source
    indices) only there, as a constant, read-only variable (``Variables.add_arange``). Kept only where nothing else can
    write it: no code object's or inserted code's text (``code``; None: every ``arange`` is set again) names it, a
    run's arguments cannot set it (not named in ``set_variable_by_name``), it is no dynamic array (constructed anew),
    and its zeroing is one ``memset`` (:func:`~brainyolo.spiking.device.zeroed_by_memset`), which goes with it.
    yolov3-tiny's indices are 32 MB, zeroed and counted again at every image before.

    >>> print(_without_constant_ranges(
    ...     "    std::memset(_array_g_i, 0, sizeof(_array_g_i[0]) * 4);\\n"
    ...     "    #pragma omp parallel for schedule(static)\\n    for(int i=0; i<4; i++) _array_g_i[i] = 0 + i;\\n",
    ...     set(), "", []).strip() or "(nothing)")
    (nothing)
    """
    if code is None:
        return body
    zeroings = _MEMSET_LINE.findall(body)
    kept = {match["name"] for match in _ARANGE.finditer(body)
            if match["name"] not in dynamic and zeroings.count(match["name"]) == 1}
    if kept:  # (one pass over the other sources for every candidate)
        named = re.compile(rf"\b(?:{'|'.join(map(re.escape, sorted(kept)))})\b")
        kept -= {found for text in [setter, *code] for found in named.findall(text)}
    body = _ARANGE.sub(lambda match: "" if match["name"] in kept else match.group(0), body)
    return _MEMSET_LINE.sub(lambda match: "" if match[1] in kept else match.group(0), body)


_MEMSET_RUN = re.compile(r"(?:^[ \t]*std::memset\((\w+), 0, sizeof\(\1\[0\]\) \* \w+\);\n(?:[ \t]*\n)*)+",
                         re.MULTILINE)
"""Consecutive arrays zeroed by ``memset`` (:func:`brainyolo.spiking.device.zeroed_by_memset`), blank lines between."""
_MEMSET = re.compile(r"std::memset\((?P<name>\w+), 0, (?P<bytes>sizeof\(\w+\[0\]\) \* \w+)\);")
ZEROED_PIECE_BYTES = 1 << 20
RESET_THREADS = 1
"""The OpenMP threads that zero the reset's arrays (:func:`zeroed_together`). The reset runs right after an image's
answer, while the caller reads the results (:data:`SERVE_REQUEST`): one thread leaves the caller a core. One thread
of this machine zeroed yolov3-tiny's 418 MB (386 MB since the indices are kept) in 0.036 s, two in 0.019 s; but beside
two, the caller's reading of an image's results took 0.005-0.007 s longer (``analysis/overhead/README.md``, 0.15.4)."""


def zeroed_together(body: str) -> str:
    """``body`` whose runs of consecutive ``memset`` zeroings are one loop over pieces of at most
    :data:`ZEROED_PIECE_BYTES`, shared out between :data:`RESET_THREADS` OpenMP threads. The same bytes zeroed, in
    the same place; nothing else runs between them. Without OpenMP the pragma is ignored.

    >>> print(zeroed_together("    std::memset(_array_v, 0, sizeof(_array_v[0]) * 6);\\n"))  # doctest: +ELLIPSIS
        {
            // brainyolo: the arrays zeroed in pieces, shared out between the threads
            const _brainyolo_zeroed _zeroed[] = {
                {_array_v, sizeof(_array_v[0]) * 6},
            };
    ...
    """
    def together(run: re.Match) -> str:
        entries = "".join(f"            {{{m['name']}, {m['bytes']}}},\n" for m in _MEMSET.finditer(run.group(0)))
        return ("    {\n        // brainyolo: the arrays zeroed in pieces, shared out between the threads\n"
                f"        const _brainyolo_zeroed _zeroed[] = {{\n{entries}        }};\n"
                "        std::vector<_brainyolo_zeroed> _pieces;\n"
                "        for (const _brainyolo_zeroed &_z : _zeroed)\n"
                f"            for (size_t _at = 0; _at < _z.bytes; _at += {ZEROED_PIECE_BYTES})\n"
                "                _pieces.push_back({static_cast<char *>(_z.start) + _at, "
                f"std::min<size_t>({ZEROED_PIECE_BYTES}, _z.bytes - _at)}});\n"
                f"        #pragma omp parallel for schedule(static) num_threads({RESET_THREADS})\n"
                "        for (long _k = 0; _k < static_cast<long>(_pieces.size()); _k++)\n"
                "            std::memset(_pieces[_k].start, 0, _pieces[_k].bytes);\n    }\n")

    return _MEMSET_RUN.sub(together, body)


_ZEROED_TYPE = "struct _brainyolo_zeroed { void *start; size_t bytes; };\n"


def _constructed_anew(name: str) -> str:
    """C++ that destroys the global ``name`` and constructs it again in place (its default constructor)."""
    return f"    {{ using _T = decltype({name}); {name}.~_T(); new (&{name}) _T(); }}\n"


_MAIN_START = "\tbrian_start();\n"
_MAIN_END = "\tbrian_end();\n"
_MAIN = re.compile(r"^int main\(", re.MULTILINE)

SERVE_LOOP_HEAD = f"""\
\t// brainyolo: with {SERVE_FLAG}, one image after another (brainyolo/spiking/binary_server.py)
\tconst bool _serve = !args.empty() && args[0] == "{SERVE_FLAG}";
\tif (_serve) args.erase(args.begin());
\tbrian_start();
\tfor (long _image = 0; ; _image++)
\t{{
\tif (_serve && _image > 0) {RESET_FUNCTION}();
"""
"""What stands for ``brian_start();`` in ``main``: the start, then the image loop, whose every image but the first
begins with the reset (right after the previous image's answer)."""
SERVE_REQUEST = """\
\tif (_serve)
\t{
\t\tstd::string _count;
\t\tif (!std::getline(std::cin, brian::results_dir) || !std::getline(std::cin, _count)) break;
\t\targs.assign(std::stol(_count), std::string());
\t\tfor (auto &_arg : args)
\t\t\tif (!std::getline(std::cin, _arg)) return 3;
\t}
"""
"""What comes before ``set_from_command_line(args);`` (where Brian2's ``main`` sets the run's arguments, once, just
before its first run): the next request read. The starting values of ``main``'s body, and code inserted with
``device.insert_code`` before the run, are set before it (code that reads ``results_dir`` there sees the previous
image's folder). At the end of the input the binary, having reset and set them once more, frees its arrays and
exits with status 0; a request cut short ends it with status 3."""
SERVE_LOOP_TAIL = f"""\
\tif (!_serve) break;
\t_write_arrays();
\tstd::cout << "\\n{DONE} " << _image << std::endl;
\t}}
\tif (_serve) {{ _dealloc_arrays(); return 0; }}
\tbrian_end();
"""
"""What stands for ``brian_end();`` in ``main``: the image's results written, the answer on a line of its own."""
_SET_FROM_COMMAND_LINE = re.compile(r"^[ \t]*set_from_command_line\(args\);\n", re.MULTILINE)
"""Where Brian2's ``main`` sets the run's arguments: once, just before the first run."""


_STATIC_COPY = re.compile(r"^(?P<indent>[ \t]*)#pragma omp for schedule\(static\)\n"
                          r"(?P<loop>[ \t]*for\(int i=0; i<(?P<size>_num_\w+); i\+\+\)\n[ \t]*\{\n"
                          r"[ \t]*\w+\[i\] = _static_array_\w+\[i\];\n[ \t]*\})", re.MULTILINE)
"""An array set from its static array in ``main`` (Brian2's ``#pragma omp for``, outside any parallel region: one
thread)."""
SHARED_COPY_SIZE = 65536
"""Copies of more elements than this are shared out between the OpenMP threads (:func:`serving_main`)."""


def serving_main(main_cpp: str) -> str:
    """``main.cpp`` whose ``main`` with :data:`SERVE_FLAG` first runs one image per request (module docstring).

    Parameters
    ----------
    main_cpp
        The text of a build's ``main.cpp`` as Brian2 writes it (returned as it is if it has the loop).

    Returns
    -------
    str
        The text with the loop around ``main``'s body and the reset function declared, and the large copies from
        static arrays shared between the OpenMP threads (:data:`SHARED_COPY_SIZE`).

    Raises
    ------
    NotServable
        ``main.cpp`` is not of the form Brian2 writes.
    """
    if SERVE_FLAG in main_cpp:
        return main_cpp
    if main_cpp.count(_MAIN_START) != 1 or main_cpp.count(_MAIN_END) != 1 or "std::vector<std::string> args" \
            not in main_cpp or len(_MAIN.findall(main_cpp)) != 1:
        raise NotServable("main.cpp has no brian_start() and brian_end() of the form brainyolo's binary server runs")
    start, end = main_cpp.index(_MAIN_START), main_cpp.index(_MAIN_END)
    lines = [line.start() for line in _SET_FROM_COMMAND_LINE.finditer(main_cpp)]
    if len(lines) != 1 or not start < lines[0] < end:
        raise NotServable("main.cpp does not set a run's arguments once (set_from_command_line) between "
                          "brian_start() and brian_end(), as Brian2's main does before its first run")
    main_cpp = main_cpp.replace(_MAIN_START, SERVE_LOOP_HEAD).replace(_MAIN_END, SERVE_LOOP_TAIL)
    main_cpp = _SET_FROM_COMMAND_LINE.sub(lambda line: SERVE_REQUEST + line[0], main_cpp)
    # the arrays copied from their static arrays at every image (yolov3-tiny: 63 MB), large ones by every thread
    shared = rf"\g<indent>#pragma omp parallel for schedule(static) if(\g<size> > {SHARED_COPY_SIZE})\n\g<loop>"
    main_cpp = _STATIC_COPY.sub(shared, main_cpp)
    return _MAIN.sub(f"#include <iostream>\n#include <string>\nvoid {RESET_FUNCTION}();\n\nint main(", main_cpp)


def request_text(results_dir: str, arguments: list[str]) -> str:
    """One image's request: its results folder (ending in ``/``), the number of arguments, one argument a line.

    Raises
    ------
    ValueError
        A line break in the folder or an argument.
    """
    for text in [results_dir, *arguments]:
        if "\n" in text or "\r" in text:
            raise ValueError(f"a line break in the binary server's request: {text!r}")
    return "".join(f"{line}\n" for line in [results_dir, str(len(arguments)), *arguments])


class ServerStopped(RuntimeError):
    """The binary server ended before it answered a request."""


STOP_SECONDS = 10.0
"""How long a server may take to exit once its standard input is closed."""


def _peak_memory_bytes(pid: int) -> int:
    """A process's peak resident memory since it started (Linux's ``VmHWM``; 0 where there is no ``/proc``)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for text in status:
                if text.startswith("VmHWM:"):
                    return int(text.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _stop(process: subprocess.Popen, kill: bool = False) -> None:
    """End a server: its standard input closed (it resets once more, as after every answer, then frees its arrays
    and exits), killed if it does not within :data:`STOP_SECONDS` (or at once with ``kill``)."""
    if process.poll() is None:
        if kill:
            process.kill()
        with contextlib.suppress(OSError):
            process.stdin.close()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdin, process.stdout):
        with contextlib.suppress(OSError):
            stream.close()


class BinaryServer:
    """A build's binary started with :data:`SERVE_FLAG`, run image after image (module docstring).

    Parameters
    ----------
    directory : path
        The build folder (the binary reads its static arrays relative to it).
    environment : dict
        The binary's environment (:func:`brainyolo.spiking.measure.binary_environment`).
    """

    def __init__(self, directory, environment: dict[str, str]):
        # (surrogateescape: a path that is not UTF-8 reaches the binary as the bytes it is)
        self.process = subprocess.Popen(["./main", SERVE_FLAG], cwd=str(directory), stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=environment, encoding="utf-8",
                                        errors="surrogateescape", bufsize=1)
        self.images = 0
        self._finalizer = weakref.finalize(self, _stop, self.process)

    def run(self, results_dir: str, arguments: list[str], progress: str | None = None) -> None:
        """Run one image.

        The request is sent, the binary's progress shown, its other output written to ``results_dir/stdout.txt``
        and the binary's peak memory since it started (the same arrays serve every image) to
        ``results_dir/peak_memory_bytes``. Anything that stops the exchange (an interrupt too) kills the binary: it
        may be in the middle of the image, and whatever it answered later would belong to the image given up.

        Parameters
        ----------
        results_dir : str
            The image's results folder, ending in ``/``.
        arguments : list of str
            The run's arguments, ``name=value`` as on Brian2's command line.
        progress : str, optional
            A ``$BRAINYOLO_PROGRESS`` value (:func:`~brainyolo.spiking.measure.progress_setting`); None or a
            malformed one shows nothing.

        Raises
        ------
        ServerStopped
            The binary has ended, or ended before it answered (its exit status and last output in the message).
        ValueError
            A line break in the folder or an argument (:func:`request_text`).
        """
        request = request_text(results_dir, arguments)
        if not self.running:
            raise ServerStopped(f"the binary has ended (exit status {self.process.returncode})")
        try:
            progress_line = ProgressLine(progress, sys.stderr) if progress else None
        except ValueError:  # as the wrapper of a binary started per image: shown nowhere rather than failing
            progress_line = None
        output = []
        try:
            self._exchange(request, progress_line, output)
        except BaseException:
            self._finalizer.detach()
            _stop(self.process, kill=True)
            raise
        finally:
            if progress_line is not None:
                progress_line.close()
        folder = Path(results_dir)
        with contextlib.suppress(OSError):  # a full file system: the results' own check reports it
            (folder / "stdout.txt").write_text("".join(output), errors="replace")
            (folder / "peak_memory_bytes").write_text(str(_peak_memory_bytes(self.process.pid)))
        self.images += 1

    def _exchange(self, request: str, progress_line: ProgressLine | None, output: list[str]) -> None:
        """Send one request and read the binary's lines up to its answer for this image; the others go to
        ``output``."""
        try:
            self.process.stdin.write(request)
            self.process.stdin.flush()
        except OSError:  # (a broken pipe) the binary has ended: reading its output says how
            pass
        for text in self.process.stdout:
            if text.startswith(MARK + " "):
                values = progress_values(text)
                if values is not None and progress_line is not None:
                    progress_line.report(*values)
            elif text.startswith(DONE + " "):
                answered = text.split()[1:2]
                if answered != [str(self.images)]:
                    raise ServerStopped(f"the binary answered for its image {answered} at its image {self.images}")
                return
            elif text != "\n":  # (the answer starts a line of its own: SERVE_LOOP_TAIL)
                output.append(text)
        code = self.process.wait()
        last = "".join(output[-5:]).strip()
        raise ServerStopped(f"the binary ended (exit status {code}) at its image {self.images + 1}"
                            + (f": {last}" if last else ""))

    @property
    def running(self) -> bool:
        """Whether the binary is still running."""
        return self.process.poll() is None

    def close(self) -> None:
        """End the binary (idempotent)."""
        self._finalizer()
