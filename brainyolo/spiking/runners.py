"""One run of a network per Brian2 device: the runtime device builds the network for every run; C++
standalone builds and compiles it once (:class:`StandaloneRunner`) and runs the binary on each image with
that image's values as ``run_args``: one binary started once and fed image after image
(:mod:`brainyolo.spiking.binary_server`), or, for a network whose state it cannot reset, a process per image."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import time
import warnings
from pathlib import Path

import brian2
import numpy as np
from brian2.core.variables import ArrayVariable, DynamicArrayVariable

from brainyolo.io.errors import BrainyoloError, one_line
from brainyolo.readout.recordings import Recorder, checkpoint_slots
from brainyolo.spiking.binary_server import BinaryServer, ServerStopped
from brainyolo.spiking.build_cache import (
    build_key,
    build_lock,
    cache_root,
    incomplete_results,
    remove_abandoned_results,
    remove_orphaned_scratch,
    results_bytes,
    results_folder,
    run_argument,
    write_run_inputs,
)
from brainyolo.spiking.builder import (
    apply_inputs,
    build_network,
)
from brainyolo.spiking.device import back_to_runtime, use_standalone
from brainyolo.spiking.measure import REPORT_CODE, REPORT_PERIOD_SECONDS, binary_environment
from brainyolo.spiking.neurons import TIME_STEP_MS
from brainyolo.spiking.settings import SimulationSettings
from brainyolo.spiking.thresholder import fuse_resets
from brainyolo.system.timing import account, stage


@contextlib.contextmanager
def brian2_preferences(settings: SimulationSettings):
    """Brian2's float type and runtime target for building (and, in the runtime, running) a network.

    The preferences are restored afterwards: a user's own Brian2 objects created after a
    simulation keep Brian2's defaults (float64), whatever precision brainyolo simulated in.
    """
    saved = brian2.prefs.core.default_float_dtype, brian2.prefs.codegen.target
    brian2.prefs.core.default_float_dtype = np.float32 if settings.float32 else np.float64
    brian2.prefs.codegen.target = "numpy"
    # brainyolo's OpenMP code paths are tested spike for spike against serial runs
    brian2.BrianLogger.suppress_name("openmp")
    # Brian2 checks set values against 1e50, which overflows a float32 cast: harmless
    warnings.filterwarnings("ignore", message="overflow encountered in cast", category=RuntimeWarning)
    try:
        yield
    finally:
        brian2.prefs.core.default_float_dtype, brian2.prefs.codegen.target = saved


def user_values(objects, values: dict | None) -> dict:
    """A run's starting values of a user's own objects, ``{object name: {variable: value}}``, as run inputs
    ``{VariableView: value}`` (e.g. the weights a plastic ``Synapses`` learnt in the run before).

    Raises
    ------
    ValueError
        A name that is none of the objects', or a variable the object does not have.
    """
    by_name = {obj.name: obj for obj in objects}
    inputs = {}
    for name, variables in (values or {}).items():
        if name not in by_name:
            raise ValueError(f"no added object is called {name!r} (added: {', '.join(sorted(by_name)) or 'none'})")
        obj = by_name[name]
        for variable, value in variables.items():
            if variable not in obj.variables or not isinstance(obj.variables[variable], ArrayVariable):
                raise ValueError(f"{name} has no array variable {variable!r}")
            value = np.asarray(value)
            size = obj.variables[variable].size
            if value.ndim > 1 or (value.ndim == 1 and len(value) != size):
                raise ValueError(f"{name}.{variable} holds {size} values, not {value.shape}")
            inputs[getattr(obj, variable)] = value
    return inputs


def run_runtime(model, settings: SimulationSettings, chw: np.ndarray, parameters: dict, extra=None,
                silenced: dict | None = None, initial: dict | None = None):
    """One run in Brian2's runtime mode: the network is built for it (and ``extra``'s objects with it, starting
    from ``initial``: :func:`user_values`)."""
    brian2.set_device("runtime")
    brian2.start_scope()
    with brian2_preferences(settings):
        with stage("network construction"):
            network = build_network(model, settings.build)
            recorder = Recorder(network, checkpoint_slots(settings.checkpoints, settings.steps),
                                settings.sample_neurons)
            extra_objects = list(extra(network)) if extra is not None else []
        with stage("inputs"):
            apply_inputs({**network.image_inputs(chw), **network.parameter_inputs(parameters),
                          **network.lesion_inputs(silenced), **user_values(extra_objects, initial),
                          **recorder.run_inputs(settings.steps, settings.checkpoints)})
        net = brian2.Network(network.objects() + recorder.objects() + extra_objects)
        with stage("simulation"):  # the numpy target generates its code in the run
            started = time.perf_counter()
            net.run(settings.steps * brian2.ms)
            elapsed = time.perf_counter() - started
        with stage("recording"):
            data = recorder.collect(settings.steps, settings.checkpoints)
            data["extra"] = read_states(extra_objects)
    return network, recorder, data, {"build_seconds": 0.0, "run_seconds": elapsed}, extra_objects


@contextlib.contextmanager
def environment(**values):
    """Set (a value) or unset (None) environment variables for the ``with`` block."""
    def put(settings: dict) -> None:
        for name, value in settings.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    saved = {name: os.environ.get(name) for name in values}
    try:
        put(values)
        yield
    finally:
        put(saved)


def read_states(objects) -> dict[str, dict[str, np.ndarray]]:
    """Every state variable of a user's own Brian2 objects (monitors, groups, synapses) after a run, as
    ``{object name: {variable: numpy array}}`` (units dropped; read while the run's results exist)."""
    states = {}
    for obj in objects:
        if not hasattr(obj, "get_states"):
            continue
        # its own variables only: a Synapses' v_pre / v_post belong to the layers (which a standalone run
        # does not write)
        own = [name for name, variable in obj.variables.items()
               if not name.startswith("_") and isinstance(variable, ArrayVariable)
               and getattr(variable.owner, "name", None) == obj.name]
        values = {name: np.asarray(value) for name, value in obj.get_states(own, units=False).items()}
        for name in getattr(obj, "record_variables", ()):  # a StateMonitor's: (neurons, steps), as its .v shows
            values[name] = values[name].T
        states[obj.name] = values
    return states


def extra_key(objects) -> str:
    """The part of a build folder's name that tells a user's own objects apart ("" without any)."""
    if not objects:
        return ""
    described = [(type(obj).__name__, obj.name, sorted(getattr(obj, "record_variables", []) or []),
                  np.asarray(getattr(obj, "record", []), dtype=object).tolist() if hasattr(obj, "record_variables")
                  else None, str(getattr(obj, "equations", "")), str(getattr(obj, "event", "")),
                  [str(getattr(o, "code", "")) for o in getattr(obj, "contained_objects", [])],
                  getattr(obj, "when", ""), getattr(obj, "order", 0), len(getattr(obj, "source", ()) or ()))
                 for obj in objects]
    return "-" + hashlib.sha256(json.dumps(described, default=str).encode()).hexdigest()[:8]


def read_profile(path: Path) -> dict[str, float]:
    """Brian2's ``profiling_info.txt`` (lines ``code_object<TAB>seconds``) as {code object: seconds}."""
    profile = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if len(parts) != 2:
            raise BrainyoloError(path, f"line {number} is not 'code object, seconds'")
        try:
            profile[parts[0]] = float(parts[1])
        except ValueError:
            raise BrainyoloError(path, f"line {number}: {parts[1]!r} is not a number of seconds") from None
    return profile


def _run_command() -> list[str]:
    """Brian2's command for the binary (``prefs.devices.cpp_standalone.run_cmd_unix``) as a list."""
    command = brian2.prefs.devices.cpp_standalone.run_cmd_unix
    return [command] if isinstance(command, str) else list(command)


SERVE_VARIABLE = "BRAINYOLO_SERVE"
"""``0`` (or ``off``, ``no``, ``false``): every image in a process of its own, as Brian2 runs a binary."""


class StandaloneRunner:
    """One compiled binary, many images: the binary started once and fed image after image
    (:mod:`brainyolo.spiking.binary_server`) where the network's state can be reset, else started per image."""

    def __init__(self, model, model_sha: str, settings: SimulationSettings, extra=None):
        self.settings, self.model_sha, self.extra = settings, model_sha, extra
        self.server: BinaryServer | None = None
        self.not_served_reason: str | None = None
        # An earlier network of this process, kept alive by reference cycles until the next garbage
        # collection, would keep its names: Brian2 would then suffix this one's ("..._codeobject_1"),
        # the sources would change and the cached build recompile.
        gc.collect()
        use_standalone(settings.threads, measure_memory=True, build_on_run=False)
        try:
            with brian2_preferences(settings):
                self._build(model, settings)
        except BaseException:
            back_to_runtime()  # a later network must not find this one's objects in the device
            raise

    def _build(self, model, settings: SimulationSettings) -> None:
        self.network = build_network(model, settings.build)
        self.recorder = Recorder(self.network, checkpoint_slots(settings.checkpoints, settings.steps),
                                 settings.sample_neurons)
        self.extra_objects = list(self.extra(self.network)) if self.extra is not None else []
        # a user's own objects make another binary: another build folder
        self.directory = cache_root() / (build_key(self.model_sha, settings) + extra_key(self.extra_objects))
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        objects = self.network.objects() + self.recorder.objects() + self.extra_objects
        if settings.build.fused_thresholds:  # every object of the run is known: resets move where exact
            fuse_resets(objects)
        net = brian2.Network(objects)
        # the report function prints machine-readable progress lines (shown or not per run); the binary
        # runs each run's own length (Recorder.run_inputs), not the one step it is built with
        net.run(TIME_STEP_MS * brian2.ms, report=REPORT_CODE, report_period=REPORT_PERIOD_SECONDS * brian2.second,
                profile=settings.profile)
        # what is not read after a run is not written (for yolov3-tiny some 380 MB per image)
        device = brian2.get_device()
        self.recorder.omit_unread_results(device)
        # the files of the fixed-size arrays a run writes, with their sizes (a run's results are checked against
        # them), and what a run writes in all: these at first, then what the latest run wrote (monitors grow with
        # the steps)
        self.result_files = {device.get_array_filename(variable): int(np.prod(variable.size))
                             * np.dtype(variable.dtype).itemsize
                             for variable, name in device.arrays.items()
                             if name not in device.unwritten_arrays and not isinstance(variable, DynamicArrayVariable)}
        self.results_size = sum(self.result_files.values())
        self.results_in_memory = True  # until the memory fills up in a run
        with build_lock(self.directory, exclusive=True):
            started = time.perf_counter()  # the build's own time, not the wait for the lock
            try:
                brian2.device.build(directory=str(self.directory), compile=True, run=False, with_output=False)
            except Exception as err:  # noqa: BLE001 - Brian2 reports a failed compilation as RuntimeError
                back_to_runtime()
                raise BrainyoloError(settings.build.neuron, "the C++ build of the network failed (the neuron "
                                                            f"file's equations, or the compiler): {one_line(err)}") \
                    from None
            self.build_seconds = time.perf_counter() - started
        self.not_served_reason = device.not_served_reason
        if os.environ.get(SERVE_VARIABLE, "").strip().lower() in ("0", "off", "no", "false"):
            self.not_served_reason = f"${SERVE_VARIABLE} is {os.environ[SERVE_VARIABLE]}"
        elif os.name == "nt":
            self.not_served_reason = "Windows: Brian2's own run of the binary"
        self.run_command = _run_command()

    def _served(self) -> bool:
        """Whether this image goes to the binary server: a network it can reset, and Brian2's command for the binary
        still the one set at the build (a user's own, e.g. a wrapper, runs a process per image)."""
        return self.not_served_reason is None and _run_command() == self.run_command

    def _running_server(self) -> BinaryServer:
        """The binary server, started where none runs (its environment is the one of that moment: Brian2's run
        environment variables and brainyolo's, :func:`~brainyolo.spiking.measure.binary_environment`)."""
        if self.server is None or not self.server.running:
            device = brian2.get_device()
            environment = {**os.environ, **brian2.prefs["devices.cpp_standalone.run_environment_variables"],
                           **device.run_environment_variables}
            self.server = BinaryServer(self.directory, binary_environment(environment))
        return self.server

    def run(self, chw: np.ndarray, parameters: dict, progress: str | None = None, silenced: dict | None = None,
            initial: dict | None = None):
        """Run the binary on one image; ``progress``: a ``$BRAINYOLO_PROGRESS`` value, or None (silent);
        ``silenced``: :meth:`~brainyolo.spiking.builder.SpikingNetwork.lesion_inputs`; ``initial``: the user's
        objects' starting values (:func:`user_values`)."""
        steps, checkpoints = self.settings.steps, self.settings.checkpoints
        with stage("inputs"):
            run_args = {**self.network.image_inputs(chw), **self.network.parameter_inputs(parameters),
                        **self.network.lesion_inputs(silenced), **user_values(self.extra_objects, initial),
                        **self.recorder.run_inputs(steps, checkpoints)}
            # checked before a results folder is made (a user's value of the wrong size or units is their error)
            run_args = [run_argument(key, value) for key, value in run_args.items()]
        with build_lock(self.directory, exclusive=False):
            remove_abandoned_results(self.directory)
            remove_orphaned_scratch()
            data, timing = self._run_binary(run_args, progress, self.results_size if self.results_in_memory else None)
            if data is None:  # the scratch folder in memory filled up during the run: again, on disk
                data, timing = self._run_binary(run_args, progress, None)
        self.build_seconds = 0.0  # later images reuse the binary
        return self.network, self.recorder, data, timing

    def _run_binary(self, run_args: list, progress: str | None, expected_bytes: int | None):
        """One run of the binary and its results read: ``(data, timing)``; ``(None, None)`` where the results,
        written into the scratch folder in memory (``expected_bytes``: :func:`results_folder`), came out short.

        Raises
        ------
        BrainyoloError
            Results written into the build folder came out short (the disk is full).
        """
        steps, checkpoints = self.settings.steps, self.settings.checkpoints
        with results_folder(self.directory, expected_bytes) as result_dir, environment(BRAINYOLO_PROGRESS=progress):
            error = None
            with stage("binary start and results"):
                started = time.perf_counter()
                relative = str(result_dir.relative_to(self.directory))
                try:
                    arguments = write_run_inputs(self.directory, result_dir, run_args)
                    if self._served():
                        brian2.device.run_served(self._running_server(), str(self.directory), relative, arguments,
                                                 progress)
                    else:
                        self.close_server()
                        brian2.device.run(directory=str(self.directory), results_directory=relative,
                                          with_output=False, run_args=arguments)
                except ServerStopped as err:
                    self.close_server()  # the next image starts the binary again
                    error = err
                except Exception as err:  # noqa: BLE001 - Brian2's own reading of results cut short raises
                    error = err
                elapsed = time.perf_counter() - started
            # Brian2's binary does not check its writes: a file system that fills up leaves files cut short (and
            # an empty run info, which Brian2 then fails to read)
            short = incomplete_results(result_dir, self.result_files)
            if short and result_dir.is_symlink():
                self.results_in_memory = False  # this runner's later images too: on disk
                return None, None
            if error is not None:
                raise error
            if short:
                raise BrainyoloError(result_dir, f"the binary's results came out short ({short}): is the disk full?")
            # a results folder in memory, removed after this run, never rewritten: its large arrays can be mapped
            with stage("recording"), brian2.device.mapping_results(result_dir.is_symlink()):
                data = self.recorder.collect(steps, checkpoints)
                data["extra"] = read_states(self.extra_objects)  # before the results folder goes
                self.results_size = results_bytes(result_dir)
            peak = result_dir / "peak_memory_bytes"
            # run_seconds: the simulation loop as timed inside the binary; process_seconds adds
            # start-up (loading static arrays) and writing the results
            timing = {"build_seconds": self.build_seconds,
                      "run_seconds": float(getattr(brian2.device, "_last_run_time", elapsed)),
                      "process_seconds": elapsed,
                      "peak_memory_bytes": int(peak.read_text()) if peak.exists() else 0}
            if self.settings.profile:
                timing["profile"] = read_profile(result_dir / "profiling_info.txt")
            account("simulation", timing["run_seconds"], within="binary start and results")
        return data, timing

    def close_server(self) -> None:
        """End the binary server, if one runs (the next served image starts another)."""
        if self.server is not None:
            self.server.close()
            self.server = None

    def close(self):
        self.close_server()
        self.network = self.recorder = None
        back_to_runtime()
