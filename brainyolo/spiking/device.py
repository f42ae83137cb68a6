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
import sys
from pathlib import Path

import brian2
from brian2.codegen.generators.cpp_generator import c_data_type
from brian2.codegen.runtime.numpy_rt.numpy_rt import NumpyCodeObject
from brian2.core.functions import Function
from brian2.core.network import Network
from brian2.core.variables import ArrayVariable, DynamicArrayVariable
from brian2.devices.cpp_standalone.codeobject import CPPStandaloneCodeObject
from brian2.devices.cpp_standalone.device import CPPStandaloneDevice
from brian2.devices.device import RuntimeDevice, all_devices, get_device
from brian2.groups.group import Group
from brian2.utils.filetools import ensure_directory

from brainyolo.io.atomic import atomic_path
from brainyolo.io.mapping import MAPS_FILES, mapped_array
from brainyolo.spiking.binary_server import RESET_FUNCTION, NotServable, serving_main, with_state_reset
from brainyolo.spiking.object_cache import ObjectCache

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
# 19 s against 7 s at -O1, main.cpp 6.4 s against 1.2 s). main.cpp at -O1 where Brian2 asks for -O2
# or -O3, objects.cpp at -O0 (yolov3-tiny's, 36,600 lines: 8.6 s against 35 s at -O1; the binary's
# start, a step and its writes took 0.59 s against 0.58 s, median of 5). The code objects, which
# simulate, keep Brian2's flags.
main.o: OPTIMISATIONS := $(patsubst -O3,-O1,$(patsubst -O2,-O1,$(OPTIMISATIONS)))
objects.o: OPTIMISATIONS := $(filter-out -O%,$(OPTIMISATIONS)) -O0
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
# headers (an embedded detector's fast network has 86 code objects). They are compiled once per build into
# a precompiled header (GCC reads {PRECOMPILED_HEADER}.gch instead of the text; with other flags or another
# compiler it reads the text, as before). The .gch (tens of MB) is intermediate: make deletes it after
# the build and, with every object up to date, does not make it again. It is an order-only prerequisite:
# made before any code object is compiled, it makes none out of date (an object restored from the object
# cache stays). An object is out of date when its source, makefile or {PRECOMPILED_HEADER} is newer, or a
# header its .d file lists (objects.h among them); Brian2's fixed headers change only with Brian2's version,
# which is part of the build folder's name.
code_objects/%.o : code_objects/%.cpp makefile {PRECOMPILED_HEADER} | {PRECOMPILED_HEADER}.gch
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


WRITTEN_TOGETHER = "// brainyolo: the arrays written at once, a file per OpenMP task"


def written_together(objects_cpp: str) -> str:
    """``objects.cpp`` whose ``_write_arrays()`` writes its arrays' files at once, one OpenMP task per file, in
    one parallel region per run of consecutive blocks (Brian2's template has one): the threads the simulation
    used, rather than one, write a run's results (for yolov3-tiny 70 MB in 472 files). What follows the blocks
    (the random generators' state, ``last_run_info.txt``, which a run's results are checked by) is written after
    every file, as before. Without OpenMP the pragmas are ignored; a file without such blocks is left as it is.
    """
    if WRITTEN_TOGETHER in objects_cpp:
        return objects_cpp
    runs: list[list[re.Match]] = []
    for match in _WRITE_BLOCK.finditer(objects_cpp):
        if runs and not objects_cpp[runs[-1][-1].end():match.start()].strip():
            runs[-1].append(match)
        else:
            runs.append([match])
    pieces, at = [], 0
    for blocks in runs:
        pieces.append(objects_cpp[at:blocks[0].start()])
        pieces.append(f"    {WRITTEN_TOGETHER}\n    #pragma omp parallel\n    #pragma omp single\n    {{\n")
        pieces += [f"    #pragma omp task\n    {{\n{block.group(0)}    }}\n" for block in blocks]
        pieces.append("    }\n")
        at = blocks[-1].end()
    return "".join(pieces) + objects_cpp[at:]


_ZERO_LOOP = re.compile(r"^(?P<indent>[ \t]*)(?:#pragma omp parallel for schedule\(static\)\n[ \t]*)?"
                        r"for\(int i=0; i<(?P<size>\d+); i\+\+\) (?P<name>_array_\w+)\[i\] = 0;$", re.MULTILINE)
"""An array's zeroing loop in ``_init_arrays()`` of Brian2's ``objects.cpp`` (with OpenMP threads, the pragma that
shares it out before it)."""


def zeroed_by_memset(objects_cpp: str) -> str:
    r"""``objects.cpp`` whose ``_init_arrays()`` zeroes each array with ``memset`` instead of Brian2's loop.

    ``objects.cpp`` is compiled at ``-O0`` (:data:`FAST_SETUP_RULE`), where the loops set an element at a time:
    yolov3-tiny's binary zeroes 418 MB this way at every start. All bits zero is the zero of every type Brian2
    gives an array (IEEE floats, integers, bool); the sizes are ``size_t`` products. A file without such loops
    (another Brian2 version) is left as it is: ``tests/spiking/test_simulation.py`` checks that a build's file has
    none left.

    >>> print(zeroed_by_memset("    for(int i=0; i<43095; i++) _array_v[i] = 0;"))
    #include <cstring>
        std::memset(_array_v, 0, sizeof(_array_v[0]) * 43095);
    >>> print(zeroed_by_memset("#pragma omp parallel for schedule(static)\nfor(int i=0; i<3; i++) _array_c[i] = 0;"))
    #include <cstring>
    std::memset(_array_c, 0, sizeof(_array_c[0]) * 3);
    """
    text, count = _ZERO_LOOP.subn(r"\g<indent>std::memset(\g<name>, 0, sizeof(\g<name>[0]) * \g<size>);",
                                  objects_cpp)
    return "#include <cstring>\n" + text if count else objects_cpp


NOT_SERVABLE_STUB = f"""
// brainyolo: this network's state is not reset between images (brainyolo/spiking/binary_server.py)
void {RESET_FUNCTION}() {{ std::cerr << "brainyolo: this binary runs one image" << std::endl; std::exit(4); }}
"""


ONCE_PER_PROCESS = ("before_start", "after_start", "before_end", "after_end")
"""The slots of ``device.insert_code`` whose code ``main`` runs around ``brian_start()`` and ``brian_end()``: once
per process, which a binary fed image after image would not repeat per image (the network-run slots run per image)."""


def other_sources(device) -> list[str]:
    """Every text besides ``objects.cpp`` that can write one of the device's arrays: each code object's blocks
    (Brian2's and brainyolo's templates rendered) and the code inserted with ``device.insert_code``."""
    texts = [str(block) for code_object in device.code_objects.values() for block in code_object.code.values()]
    return texts + [str(line) for lines in device.code_lines.values() for line in lines]


class _ProjectWriter:
    """Brian2's project writer, with :data:`FAST_SETUP_RULE` and :data:`PRECOMPILED_HEADER_RULE` appended to
    the makefile it writes, the :data:`PRECOMPILED_HEADER` written beside it, ``objects.cpp`` zeroing its
    arrays with ``memset`` (:func:`zeroed_by_memset`), without the writes of ``unwritten`` arrays
    (:func:`without_writes`), writing the others at once (:func:`written_together`) and with the reset of
    :mod:`brainyolo.spiking.binary_server`, and ``main.cpp`` with its image loop. Where the network's state
    cannot be reset, or ``main`` runs code inserted with ``device.insert_code`` (which a new process runs once),
    the reset ends the binary and ``device.not_served_reason`` says why."""

    def __init__(self, writer, unwritten: frozenset[str] = frozenset(), device=None):
        self._writer, self._unwritten, self._device = writer, unwritten, device

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
        elif filename == "objects.cpp":
            contents = zeroed_by_memset(contents)
            if self._unwritten:
                contents = without_writes(contents, self._unwritten)
            contents = written_together(contents)
            try:
                contents = with_state_reset(contents, None if self._device is None else other_sources(self._device))
                reason = None
            except NotServable as err:
                contents += NOT_SERVABLE_STUB
                reason = str(err)
            if self._device is not None:
                self._device.not_served_reason = reason
        elif filename == "main.cpp":
            try:
                if any(self._device.code_lines[slot] for slot in ONCE_PER_PROCESS):
                    raise NotServable("main runs code inserted with device.insert_code around its start or end")
                contents = serving_main(contents)
            except NotServable as err:
                self._device.not_served_reason = str(err)
        self._writer.write(filename, contents)


MAPPED_RESULT_BYTES = 1 << 20
"""Arrays of a run's results at least this large are mapped, not copied
(:meth:`BrainyoloStandaloneDevice.get_value`)."""


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
        self._maps_results = False  # (mapping_results)
        self.last_object_cache = None  # the ObjectCache of the latest compilation
        # why the latest build's binary cannot serve images (None: it can)
        self.not_served_reason: str | None = "no binary has been built"

    def generate_objects_source(self, writer, *args, **kwargs):
        super().generate_objects_source(_ProjectWriter(writer, self.unwritten_arrays, device=self), *args, **kwargs)

    def generate_main_source(self, writer):
        super().generate_main_source(_ProjectWriter(writer, device=self))  # (after objects.cpp: Brian2's build)

    def get_value(self, var, access_data=True):
        """Brian2's ``get_value``; while :meth:`mapping_results`, a large array of fixed size is mapped from its
        results file rather than copied (:func:`mapped_array`, :data:`MAPPED_RESULT_BYTES`; copied where it cannot
        be mapped): the counters of a yolov3-tiny run are 62 MB, read once."""
        if (not self._maps_results or not MAPS_FILES or not self.has_been_run or self.array_cache.get(var) is not None
                or isinstance(var, DynamicArrayVariable) or not isinstance(var, ArrayVariable)):
            return super().get_value(var, access_data)
        path = os.path.join(self.results_dir, self.get_array_filename(var))
        try:
            if os.path.getsize(path) >= MAPPED_RESULT_BYTES:
                return mapped_array(path, var.dtype)
        except (OSError, ValueError):  # e.g. a file system that cannot map, or no mapping left (vm.max_map_count)
            pass
        return super().get_value(var, access_data)

    @contextlib.contextmanager
    def mapping_results(self, enabled: bool = True):
        """Within the block (``enabled``), :meth:`get_value` maps large result files rather than copying them. For
        a results folder that is a run's own, in memory, and removed after it, never rewritten (the runners'
        :func:`~brainyolo.spiking.build_cache.results_folder`): a binary run again into the same folder (Brian2's
        ``device.run`` without a results folder) would change a mapped array's pages under it. A mapped array keeps
        its pages in the scratch folder's memory (not counted in its free space) until the array goes."""
        before, self._maps_results = self._maps_results, enabled
        try:
            yield
        finally:
            self._maps_results = before

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

    def code_object_class(self, codeobj_class=None, fallback_pref=None):
        if codeobj_class is None:
            return BrainyoloCPPStandaloneCodeObject
        return codeobj_class

    def generate_makefile(self, writer, *args, **kwargs):
        super().generate_makefile(_ProjectWriter(writer), *args, **kwargs)

    def run(self, *args, **kwargs):
        """Brian2's run of the binary, shown only the cached values that are known.

        Brian2 forgets the cached value of every variable a run argument sets by comparing each argument with
        each entry of its value cache, the entries already forgotten (``None``) among them: for yolov3-tiny 143
        arguments × 830 entries. An entry that is ``None`` reads as one that is missing (``get_value``), so the
        run is shown only the entries holding a value (181 of the 830), and what it forgets or adds is kept
        afterwards. Brian2's Python around the yolov3-tiny binary: 0.15 s per image before, 0.08 s after (under
        cProfile, four images each, twice).
        """
        cache = self.array_cache
        self.array_cache = {var: value for var, value in cache.items() if value is not None}
        try:
            return super().run(*args, **kwargs)
        finally:
            cache.update(self.array_cache)
            self.array_cache = cache

    def run_served(self, server, directory, results_directory: str, run_args: list[str],
                   progress: str | None = None) -> None:
        """What Brian2's ``run`` (``CPPStandaloneDevice.run``) does around its binary, for one image sent to a
        running :class:`~brainyolo.spiking.binary_server.BinaryServer` instead of a new process: the results
        folder set, the cached values the run's arguments set (and the clocks' times) forgotten, the binary's
        ``last_run_info.txt`` read, the groups checked for invalid values. ``run_args``: Brian2's command-line
        form (``name=value``).

        Raises
        ------
        brainyolo.spiking.binary_server.ServerStopped
            The binary ended before it finished the image.
        """
        self.results_dir = os.path.join(os.path.abspath(os.path.join(directory, results_directory)), "")
        ensure_directory(self.results_dir)
        self.run_args_arrays.clear()
        names = {arg.split("=", 1)[0] for arg in run_args}
        for var, value in self.array_cache.items():
            if value is None:
                continue
            with contextlib.suppress(ReferenceError):  # (Brian2's words: ephemeral subgroups)
                if hasattr(var.owner, "name") and f"{var.owner.name}.{var.name}" in names:
                    self.array_cache[var] = None
        for clock in self.clocks:
            self.array_cache[clock.variables["t"]] = None
        Network._globally_running = True
        try:
            server.run(self.results_dir, run_args, progress)
        finally:
            Network._globally_running = False
        self.has_been_run = True
        run_info = Path(self.results_dir) / "last_run_info.txt"
        if run_info.is_file():
            run_time, completed_fraction = run_info.read_text().split()
            self._last_run_time = float(run_time)
            self._last_run_completed_fraction = float(completed_fraction)
        checked = set()
        for var in self.arrays:
            with contextlib.suppress(ReferenceError):
                owner = var.owner
                if hasattr(owner, "name") and owner.name not in checked and isinstance(owner, Group):
                    owner._check_for_invalid_states()
                    checked.add(owner.name)

    def write_static_arrays(self, directory):
        """Brian2's writing of a build's fixed arrays (kernels, indices, starting values), each file written
        beside and renamed onto its name, after the files that killed writes left there are removed.

        Every build of a build folder writes the same arrays, under the build folder's exclusive lock; other
        processes that built it before run its binary before and after. Brian2 writes them in place, and the binary
        reads a file cut short without a word: a build killed while writing (a Dask worker's, a user's Ctrl-C)
        changed the network of every later run of that folder by the processes that had built it.
        """
        for code_object in self.code_objects.values():
            for variable in code_object.variables.values():
                if isinstance(variable, Function):
                    self._insert_func_namespace(variable, code_object, self.static_arrays)
        folder = Path(directory) / "static_arrays"
        for leftover in folder.glob(".*.tmp"):  # no run writes now (the exclusive lock): atomic_path's, killed
            leftover.unlink(missing_ok=True)
        specs = []
        for name, array in sorted(self.static_arrays.items()):
            with atomic_path(folder / name) as tmp:
                array.tofile(tmp)
            specs.append((name, c_data_type(array.dtype), array.size, name))
        self.static_array_specs = specs

    def compile_source(self, directory, compiler, debug, clean):
        """Brian2's ``make``, with object files of earlier builds restored before it and this build's kept
        after it (:mod:`brainyolo.spiking.object_cache`; not with MSVC, nor a clean build)."""
        if compiler == "msvc" or clean:
            return super().compile_source(directory, compiler, debug, clean)
        cache = ObjectCache(Path(directory), forced_include=PRECOMPILED_HEADER)
        cache.restore()
        super().compile_source(directory, compiler, debug, clean)
        cache.store()
        self.last_object_cache = cache


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
