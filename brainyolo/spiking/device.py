"""brainyolo's Brian2 code objects and standalone device.

brainyolo's own templates (the weight-shared convolution, the spiking max-pool) live in
``spiking/templates/<target>/`` and are found through templaters *derived* from Brian2's
(``Templater.derive``), so every Brian2 template stays available unchanged. The device
``brainyolo_standalone`` is Brian2's C++ standalone device whose default code object class uses
the derived templater, the way brian2genn and brian2cuda extend Brian2.

Runtime mode uses the numpy target (small networks and tests).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Mapping

import brian2
from brian2.codegen.runtime.numpy_rt.numpy_rt import NumpyCodeObject
from brian2.core.variables import VariableView
from brian2.devices.cpp_standalone.codeobject import CPPStandaloneCodeObject
from brian2.devices.cpp_standalone.device import CPPStandaloneDevice
from brian2.devices.device import RuntimeDevice, all_devices, get_device
from brian2.groups.group import Group
from brian2.input.timedarray import TimedArray

from brainyolo.spiking.measure import MARK, ProgressLine

DEVICE_NAME = "brainyolo_standalone"
RUN_CONTROL = "run_control"
"""The name of the group whose ``run_steps`` sets a standalone run's length (see
:class:`BrainyoloStandaloneDevice`)."""


class BrainyoloCPPStandaloneCodeObject(CPPStandaloneCodeObject):
    """C++ standalone code object that also finds brainyolo's templates."""

    templater = CPPStandaloneCodeObject.templater.derive(
        "brainyolo.spiking", templates_dir="templates/cpp_standalone")


class BrainyoloNumpyCodeObject(NumpyCodeObject):
    """numpy runtime code object that also finds brainyolo's templates."""

    templater = NumpyCodeObject.templater.derive("brainyolo.spiking", templates_dir="templates/numpy")


FAST_SETUP_RULE = """
# brainyolo: objects.cpp declares, allocates, loads and writes the arrays; main.cpp sets the run's
# values (run_args) and calls the code objects once. Neither holds a step of the simulation, yet at
# -O3 they were the longest steps of a build (an embedded detector's network, one core: objects.cpp
# 19 s against 7 s at -O1, main.cpp 6.4 s against 1.2 s). Both at -O1 where Brian2 asks for -O2 or
# -O3; the code objects, which simulate, keep Brian2's flags.
objects.o main.o: OPTIMISATIONS := $(patsubst -O3,-O1,$(patsubst -O2,-O1,$(OPTIMISATIONS)))
"""
"""Appended to the makefile Brian2 writes (GNU make; the Windows makefile is left as it is)."""

PRECOMPILED_HEADER = "brainyolo_headers.h"
"""The headers every code object includes, compiled once per build (:data:`PRECOMPILED_HEADER_RULE`)."""

PRECOMPILED_HEADER_TEXT = """// brainyolo: the headers every code object includes, compiled once per build.
// Each has an include guard: the code object's own #include of it then reads nothing.
#include "objects.h"
#include "synapses_classes.h"
#include "brianlib/common_math.h"
#include "brianlib/stdint_compat.h"
#include "brianlib/spikequeue.h"
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <random>
"""

PRECOMPILED_HEADER_RULE = f"""
# brainyolo: a code object compiles in 0.45 s at -O0, 0.3 s of it reading the same standard and Brian2
# headers (an embedded detector's network has 166 code objects). They are compiled once per build into
# a precompiled header (GCC reads {PRECOMPILED_HEADER}.gch instead of the text; with other flags or another
# compiler it reads the text, as before). The .gch (tens of MB) is intermediate: make deletes it after
# the build and, with every object up to date, does not make it again.
code_objects/%.o : code_objects/%.cpp makefile {PRECOMPILED_HEADER}.gch
	$(CXX) $(CXXFLAGS) -include {PRECOMPILED_HEADER} -MMD -MP -MF $(@:.o=.d) -MT $@ $< -o $@

{PRECOMPILED_HEADER}.gch : {PRECOMPILED_HEADER} objects.h makefile
	$(CXX) $(CXXFLAGS) -x c++-header $< -o $@

.INTERMEDIATE: {PRECOMPILED_HEADER}.gch
"""
"""Appended to the makefile after :data:`FAST_SETUP_RULE`."""


_WRITE_BLOCK = re.compile(r"^[ \t]*ofstream outfile_(?P<name>\w+);\n.*?"
                          r"Error writing output file for (?P=name)\.\" << endl;\n[ \t]*\}\n",
                          re.DOTALL | re.MULTILINE)
"""One array's block in ``_write_arrays()`` of Brian2's ``objects.cpp``."""


def without_writes(objects_cpp: str, names: frozenset[str]) -> str:
    """``objects.cpp`` whose ``_write_arrays()`` leaves out the arrays ``names``.

    Raises
    ------
    RuntimeError
        One of ``names`` has no block of the form Brian2 writes (another Brian2 version).
    """
    found = set()

    def drop(match):
        if match.group("name") in names:
            found.add(match.group("name"))
            return ""
        return match.group(0)

    text = _WRITE_BLOCK.sub(drop, objects_cpp)
    if found != names:
        raise RuntimeError(f"objects.cpp writes {sorted(names - found)[:3]} in a form brainyolo does not know")
    return text


class _ProjectWriter:
    """Brian2's project writer, with :data:`FAST_SETUP_RULE` and :data:`PRECOMPILED_HEADER_RULE` appended to
    the makefile it writes, the :data:`PRECOMPILED_HEADER` written beside it, and ``objects.cpp`` without
    the writes of ``unwritten`` arrays (:func:`without_writes`)."""

    def __init__(self, writer, unwritten: frozenset[str] = frozenset()):
        self._writer, self._unwritten = writer, unwritten

    def __getattr__(self, name):
        return getattr(self._writer, name)

    def write(self, filename, contents):
        if filename == "makefile":
            self._writer.write(PRECOMPILED_HEADER, PRECOMPILED_HEADER_TEXT)
            contents = contents + FAST_SETUP_RULE + PRECOMPILED_HEADER_RULE
        elif filename == "objects.*":
            self.write("objects.cpp", contents.cpp_file)
            self.write("objects.h", contents.h_file)
            return
        elif filename == "objects.cpp" and self._unwritten:
            contents = without_writes(contents, self._unwritten)
        self._writer.write(filename, contents)


class BrainyoloStandaloneDevice(CPPStandaloneDevice):
    """Brian2's C++ standalone device with brainyolo's templates available to every object, a makefile
    that compiles faster (:data:`FAST_SETUP_RULE`, :data:`PRECOMPILED_HEADER_RULE`), and run lengths set
    per run: a network holding a group named :data:`RUN_CONTROL`
    (:class:`brainyolo.readout.recordings.RunControl`) runs for its ``run_steps`` time steps (a value of
    each run, like any ``run_args``), not for the duration it was built with.

    ``unwritten_arrays``: names of arrays the binary does not write into a run's results folder (by
    default it writes every array: for yolov3-tiny 94 M numbers, kernels and index arrays included, per
    image); the caller names those it will not read.
    """

    def __init__(self):
        super().__init__()
        self.unwritten_arrays: frozenset[str] = frozenset()
        self.server: BinaryServer | None = None
        """While set (:meth:`serve`), :meth:`run` hands runs to this loaded binary instead of starting one."""

    def serve(self, directory) -> None:
        """Start the built binary in ``directory`` once (:class:`BinaryServer`); later :meth:`run` calls feed it."""
        self.stop_serving()
        self.server = BinaryServer(directory)

    def stop_serving(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None

    def reinit(self):
        self.stop_serving()  # a re-initialised device forgets its project, and its server with it
        super().reinit()

    def run(self, directory=None, results_directory=None, with_output=True, run_args=None):
        """Brian2's ``run``, or, while :attr:`server` is set, the same steps with the run handed to the loaded
        binary: the run's arguments (arrays as files, as Brian2 writes them), the results folder, the binary's
        output in ``stdout.txt``, the run time from ``last_run_info.txt`` and Brian2's check for NaN states."""
        if self.server is None:
            return super().run(directory, results_directory, with_output, run_args)
        if directory is None:
            directory = self.project_dir
        if results_directory is not None:
            if os.path.isabs(results_directory):
                raise TypeError(f"results_directory must be relative, not {results_directory!r}")
            self.results_dir = os.path.join(os.path.abspath(os.path.join(directory, results_directory)), "")
        os.makedirs(self.results_dir, exist_ok=True)
        self.run_args_arrays.clear()
        arguments = [] if isinstance(run_args, Mapping | None) else list(run_args)
        for key, value in (run_args.items() if isinstance(run_args, Mapping) else ()):
            if isinstance(key, VariableView):
                name, text, value_name, values = self._prepare_variableview_run_arg(key, value)
            elif isinstance(key, TimedArray):
                name, text, value_name, values = self._prepare_timed_array_run_arg(key, value)
            else:
                raise TypeError(f"run_args keys are VariableViews or TimedArrays, not {type(key)}")
            if value_name:
                path = os.path.join(self.project_dir, "static_arrays", value_name)
                if not os.path.exists(path):
                    values.tofile(path)
                self.run_args_arrays.append(value_name)
            arguments.append(f"{name}={text}")
        names = {argument.split("=", 1)[0] for argument in arguments}
        for variable in self.array_cache:
            try:
                if hasattr(variable.owner, "name") and f"{variable.owner.name}.{variable.name}" in names:
                    self.array_cache[variable] = None
            except ReferenceError:
                pass
        for clock in self.clocks:
            self.array_cache[clock.variables["t"]] = None
        code = self.server.run(["--results_dir", self.results_dir, *arguments],
                               os.path.join(self.results_dir, "stdout.txt"), os.environ.get(PROGRESS_VARIABLE))
        if code:
            raise RuntimeError(f"Project run failed (project directory: {os.path.abspath(directory)}, status {code}): "
                               + _tail(os.path.join(self.results_dir, "stdout.txt")))
        self.has_been_run = True
        with open(os.path.join(self.results_dir, "last_run_info.txt")) as f:
            run_time, completed = f.read().split()
        self._last_run_time, self._last_run_completed_fraction = float(run_time), float(completed)
        checked = set()
        for variable in self.arrays:
            owner = variable.owner
            try:
                if isinstance(owner, Group) and owner.name not in checked:
                    owner._check_for_invalid_states()
                    checked.add(owner.name)
            except ReferenceError:
                pass

    def generate_objects_source(self, writer, *args, **kwargs):
        super().generate_objects_source(_ProjectWriter(writer, self.unwritten_arrays), *args, **kwargs)

    def network_run(self, net, duration, *args, **kwargs):
        control = next((obj for obj in net.objects if obj.name == RUN_CONTROL), None)
        if control is not None:  # a run that sets no length runs the one it was built with
            control.run_steps = int(round(float(duration) / float(control.clock.dt_)))
        super().network_run(net, duration, *args, **kwargs)
        if control is None:
            return
        lines = next(entry for kind, entry in reversed(self.main_queue) if kind == "run_network")[1]
        built = f"{net.name}.run({float(duration)!r},"
        found = [k for k, line in enumerate(lines) if line.startswith(built)]
        if len(found) != 1:
            raise RuntimeError("Brian2's standalone run line is not the one brainyolo sets the run length in")
        steps = self.get_array_name(control.variables["run_steps"])
        dt = float(control.clock.dt_)
        # the run's arguments are set just before this line (set_from_command_line)
        lines[found[0]] = f"{net.name}.run({steps}[0] * {dt!r}," + lines[found[0]][len(built):]

    def generate_main_source(self, writer):
        self.code_lines["brainyolo_reset"] = self.reset_lines()
        try:
            super().generate_main_source(writer)
        finally:
            del self.code_lines["brainyolo_reset"]

    def reset_lines(self) -> list[str]:
        """C++ that clears what ``brian_end()`` leaves in a process and a fresh process would not have (the body
        of ``brainyolo_reset`` in ``templates/cpp_standalone/main.cpp``): the arrays it does not free, the dynamic
        arrays of monitors and
        synapses, every synaptic pathway's spike queues, the profiling timers, each network's time and the random
        generators (``brian_start()`` makes and seeds them anew, as in a fresh process)."""
        dynamic = set(self.dynamic_arrays.values()) | set(self.dynamic_arrays_2d.values())
        # brian_end() frees only the static arrays (a process's end gives back the rest)
        allocated = {entry[1] for entry in [*self.zero_arrays, *self.arange_arrays]} - dynamic
        lines = [f"delete [] {name}; {name} = 0;" for name in sorted(allocated)]
        lines += [f"{name}.clear();" for name in sorted(set(self.dynamic_arrays.values()))]
        lines += [f"{name}.resize(0, 0);" for name in sorted(set(self.dynamic_arrays_2d.values()))]
        pathways = sorted({pathway.name for net in self.networks for obj in net.objects
                           for pathway in getattr(obj, "_pathways", ())})
        lines += [f"for (auto *_queue : {name}.queue) {{ for (auto &_slot : _queue->queue) _slot.clear(); "
                  "_queue->offset = 0; }" for name in pathways]
        lines += [f"{name}_profiling_info = 0.0;" for name in sorted(set(self.profiled_codeobjects))]
        lines += [f"{name}.t = 0.0;" for name in sorted({net.name for net in self.networks})]  # a network's time
        lines.append("_random_generators.clear();")
        return lines

    def code_object_class(self, codeobj_class=None, fallback_pref=None):
        if codeobj_class is None:
            return BrainyoloCPPStandaloneCodeObject
        return codeobj_class

    def generate_makefile(self, writer, *args, **kwargs):
        super().generate_makefile(_ProjectWriter(writer), *args, **kwargs)


PROGRESS_VARIABLE = "BRAINYOLO_PROGRESS"
SERVED = "brainyolo-served"
"""The line a serving binary prints after each run, with the run's exit status."""


def _tail(path: str, lines: int = 5) -> str:
    try:
        with open(path, errors="replace") as f:
            return " | ".join(f.read().strip().splitlines()[-lines:])
    except OSError:
        return ""


class BinaryServer:
    """A built network's binary fed run after run in one process (``./main --serve``).

    Each run is what a fresh process does (``brian_start()``: allocate and zero the arrays, read the static
    arrays; the run; ``brian_end()``: write and free the arrays), followed by a reset of what ``brian_end()``
    leaves (:meth:`BrainyoloStandaloneDevice.reset_lines`). The freed arrays stay in the process, so the next
    run's are pages already mapped: what a run saves is the process start and the page faults of the
    network's state (for yolov3-tiny some 500 MB). OpenMP waits passively unless the caller set
    ``OMP_WAIT_POLICY`` (as :mod:`brainyolo.spiking.measure`).
    """

    def __init__(self, directory):
        environment = dict(os.environ)
        environment.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        environment.pop(PROGRESS_VARIABLE, None)
        environment.update(brian2.prefs["devices.cpp_standalone.run_environment_variables"])
        self.process = subprocess.Popen(["./main", "--serve"], cwd=str(directory), stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=environment, encoding="utf-8",
                                        errors="replace", bufsize=1)

    def run(self, arguments: list[str], output_path: str, progress: str | None = None) -> int:
        """One run with the binary's command-line ``arguments``; its other output goes to ``output_path``;
        ``progress``: a ``$BRAINYOLO_PROGRESS`` value (shown on stderr) or None. Returns the run's exit status."""
        if any("\t" in argument or "\n" in argument for argument in arguments):
            raise ValueError("a served run's arguments hold no tabs or line breaks")
        if self.process.poll() is not None:
            raise RuntimeError(f"the serving binary has ended (status {self.process.returncode})")
        try:
            line = ProgressLine(progress, sys.stderr) if progress else None
        except ValueError:  # a malformed setting shows nothing rather than failing the run
            line = None
        self.process.stdin.write("\t".join(arguments) + "\n")
        self.process.stdin.flush()
        code = None
        with open(output_path, "w") as output:
            for text in self.process.stdout:
                if text.startswith(SERVED + " "):
                    code = int(text.split()[1])
                    break
                if text.startswith(MARK + " "):
                    try:
                        elapsed, completed = (float(x) for x in text.split()[1:3])
                    except ValueError:
                        continue
                    if line is not None:
                        line.report(elapsed, completed)
                else:
                    output.write(text)
        if line is not None:
            line.close()
        if code is None:
            raise RuntimeError(f"the serving binary ended during a run (status {self.process.wait()})")
        return code

    def close(self) -> None:
        """End the server (it ends by itself when its input closes)."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(OSError):
            self.process.stdout.close()


all_devices[DEVICE_NAME] = BrainyoloStandaloneDevice()


def code_object_class_for_current_device():
    """The code object class brainyolo's own objects must use on the active device."""
    device = get_device()
    if isinstance(device, CPPStandaloneDevice):
        return BrainyoloCPPStandaloneCodeObject
    if isinstance(device, RuntimeDevice):
        return BrainyoloNumpyCodeObject
    raise NotImplementedError(f"brainyolo's connections have no templates for device {device!r}")


def use_standalone(threads: int = 1, measure_memory: bool = False, **device_options) -> None:
    """Make ``brainyolo_standalone`` the active device, with ``threads`` OpenMP threads.

    ``measure_memory`` runs the binary through :mod:`brainyolo.spiking.measure`, which writes its
    peak memory into the results folder. ``device_options`` go to ``brian2.set_device``.
    """
    brian2.set_device(DEVICE_NAME, **device_options)
    prefs = brian2.prefs.devices.cpp_standalone
    prefs.openmp_threads = threads if threads > 1 else 0
    if measure_memory:
        prefs.run_cmd_unix = [sys.executable, "-m", "brainyolo.spiking.measure", "./main"]


def back_to_runtime() -> None:
    """Forget the standalone project and return to Brian2's runtime device with default prefs."""
    brian2.device.reinit()
    brian2.device.activate()
    brian2.set_device("runtime")
    prefs = brian2.prefs.devices.cpp_standalone
    prefs.openmp_threads = 0
    prefs.run_cmd_unix = "./main"


@contextlib.contextmanager
def standalone(threads: int = 1, measure_memory: bool = False, **device_options):
    """``use_standalone`` for the duration of a ``with`` block, then ``back_to_runtime``."""
    use_standalone(threads, measure_memory, **device_options)
    try:
        yield
    finally:
        back_to_runtime()
