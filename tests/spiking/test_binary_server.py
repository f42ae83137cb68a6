"""One binary for many images (brainyolo/spiking/binary_server.py): the sources' rewriting on hand-written text
and on a real build, the request protocol with a stand-in binary, and served images against a process per image."""

from __future__ import annotations

import os
import stat
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import STANDALONE

from brainyolo.spiking.binary_server import (
    DONE,
    RESET_FUNCTION,
    SERVE_FLAG,
    BinaryServer,
    NotServable,
    ServerStopped,
    request_text,
    serving_main,
    with_state_reset,
)
from brainyolo.spiking.settings import BuildOptions, SimulationSettings

OBJECTS_CPP = textwrap.dedent("""\
    namespace brian {
    std::vector< RandomGenerator > _random_generators;
    //////////////// networks /////////////////
    Network network;
    //////////////// arrays ///////////////////
    float * _array_layer_v;
    //////////////// dynamic arrays 1d /////////
    std::vector<int32_t> _dynamic_array_monitor_i;
    DynamicArray1D<double> _dynamic_array_monitor_t;
    //////////////// dynamic arrays 2d /////////
    DynamicArray2D<int64_t> _dynamic_array_events_synaptic_events;
    /////////////// static arrays /////////////
    float * _static_array__array_kernel;
    double * _timedarray_values;
    //////////////// synapses /////////////////
    //////////////// clocks ///////////////////
    // attributes will be set in run.cpp
    Clock time_step;
    // Profiling information for each code object
    std::chrono::nanoseconds layer_codeobject_profiling_info(0);
    }

    void _init_arrays()
    {
        using namespace brian;

        // Arrays initialized to 0
        _array_layer_v = new float[6];
        std::memset(_array_layer_v, 0, sizeof(_array_layer_v[0]) * 6);

        _array_layer_i = new int32_t[6];
        std::memset(_array_layer_i, 0, sizeof(_array_layer_i[0]) * 6);

        _dynamic_array_monitor_t.resize(3);
        for(int i=0; i<3; i++) _dynamic_array_monitor_t[i] = 0;

        // Arrays initialized to an "arange"
        _array_layer_i = new int32_t[6];
        #pragma omp parallel for schedule(static)
        for(int i=0; i<6; i++) _array_layer_i[i] = 0 + i;

        _array_settable_j = new int32_t[5];
        #pragma omp parallel for schedule(static)
        for(int i=0; i<5; i++) _array_settable_j[i] = 2 + i;

        _dynamic_array_monitor_i.resize(3);
        for(int i=0; i<3; i++) _dynamic_array_monitor_i[i] = 0 + i;

        // static arrays
        _static_array__array_kernel = new float[9];
        _timedarray_values = new double[4];

        // Random number generator states
        std::random_device rd;
        for (int i=0; i<2; i++)
            _random_generators.push_back(RandomGenerator());
    }

    void set_variable_by_name(std::string name, std::string s_value) {
        if (name == "_timedarray.values") {
            set_variable_from_file(name, _timedarray_values, data_size, s_value);
            return;
        }
        if (name == "settable.j") {
            set_variable_from_file(name, _array_settable_j, data_size, s_value);
            return;
        }
    }

    void _load_arrays()
    {
        using namespace brian;

        ifstream f_static_array__array_kernel;
        f_static_array__array_kernel.open("static_arrays/_static_array__array_kernel", ios::in | ios::binary);
        if(f_static_array__array_kernel.is_open())
        {
            f_static_array__array_kernel.read(reinterpret_cast<char*>(_static_array__array_kernel), 9*sizeof(float));
        } else
        {
            std::cout << "Error opening static array _static_array__array_kernel." << endl;
        }
        ifstream f_timedarray_values;
        f_timedarray_values.open("static_arrays/_timedarray_values", ios::in | ios::binary);
        if(f_timedarray_values.is_open())
        {
            f_timedarray_values.read(reinterpret_cast<char*>(_timedarray_values), 4*sizeof(double));
        } else
        {
            std::cout << "Error opening static array _timedarray_values." << endl;
        }
    }
    """)

MAIN_CPP = textwrap.dedent("""\
    int main(int argc, char **argv)
    {
    \tstd::vector<std::string> args(argv + 1, argv + argc);
    \tbrian_start();
    \t{
    \t\t_array_v[0] = 0.0;
    \t\tset_from_command_line(args);
    \t\tnetwork.run(1.0);
    \t}
    \tbrian_end();
    \treturn 0;
    }
    """)


@pytest.mark.codegen_independent
def test_the_reset_zeroes_and_sets_what_init_arrays_does_without_allocating():
    text = with_state_reset(OBJECTS_CPP, code=["_ptr_array_layer_v = _array_layer_v;"])
    assert text.startswith(OBJECTS_CPP) and with_state_reset(text) == text
    reset = text[len(OBJECTS_CPP):]
    assert f"void {RESET_FUNCTION}()" in reset
    assert " new float" not in reset and " new int32_t" not in reset and "_static_array" not in reset
    assert "{_array_layer_v, sizeof(_array_layer_v[0]) * 6}," in reset and "std::memset(_array_layer_v" not in reset
    # a group's index (an arange: constant, read-only) that no other code names keeps the first image's, neither
    # zeroed nor counted again; an arange a run's arguments can set and a dynamic array's (constructed anew) are set
    # again
    assert "_array_layer_i" not in reset
    assert "for(int i=0; i<5; i++) _array_settable_j[i] = 2 + i;" in reset
    assert reset.index("_dynamic_array_monitor_i.resize(3);") < reset.index("_dynamic_array_monitor_i[i] = 0 + i;")
    # ... and so is an index that a code object or inserted code names, or any where the other code is not known
    for code in (["_ptr_array_layer_i = _array_layer_i;"], None):
        again = with_state_reset(OBJECTS_CPP, code)[len(OBJECTS_CPP):]
        assert "for(int i=0; i<6; i++) _array_layer_i[i] = 0 + i;" in again
        assert "{_array_layer_i, sizeof(_array_layer_i[0]) * 6}," in again
    # an index zeroed otherwise than by one memset (Brian2's own loop) keeps both
    looped = OBJECTS_CPP.replace("std::memset(_array_layer_i, 0, sizeof(_array_layer_i[0]) * 6);",
                                 "for(int i=0; i<6; i++) _array_layer_i[i] = 0;")
    again = with_state_reset(looped, [])[len(looped):]
    assert "_array_layer_i[i] = 0;" in again and "_array_layer_i[i] = 0 + i;" in again
    # in a new process's order: objects constructed (empty), then _init_arrays' body (a dynamic array resized)
    for name in ("_dynamic_array_monitor_i", "_dynamic_array_monitor_t", "_dynamic_array_events_synaptic_events",
                 "network", "_random_generators"):
        assert f"{name}.~_T(); new (&{name}) _T();" in reset
    assert reset.index("_dynamic_array_monitor_t.~_T()") < reset.index("_dynamic_array_monitor_t.resize(3);")
    assert reset.index("_random_generators.~_T()") < reset.index("_random_generators.push_back")
    # a TimedArray's values, which a run's arguments write, read again; the kernel, only copied from, not
    assert 'f_timedarray_values.open("static_arrays/_timedarray_values"' in reset
    assert "f_static_array__array_kernel" not in reset
    assert "layer_codeobject_profiling_info = std::chrono::nanoseconds(0);" in reset
    assert "Network::_last_run_time = 0.0;" in reset and "Network::_globally_stopped = false;" in reset


ZEROING_PROGRAM = """\
#include <cstdio>
#include <cstring>
{declarations}
unsigned char *_array_a, *_array_b;
double *_array_c;
int main()
{{
    _array_a = new unsigned char[3 * 1048576 + 5]; _array_b = new unsigned char[7]; _array_c = new double[262145];
    std::memset(_array_a, 0xff, 3 * 1048576 + 5); std::memset(_array_b, 0xff, 7);
    std::memset(_array_c, 0xff, sizeof(double) * 262145);
{body}
    long nonzero = 0;
    for (long i = 0; i < 3 * 1048576 + 5; i++) nonzero += _array_a[i] != 0;
    for (long i = 0; i < 7; i++) nonzero += _array_b[i] == 0;  // (not zeroed: its memset is not in the body)
    for (long i = 0; i < 262145; i++) nonzero += _array_c[i] != 0.0;
    std::printf("%ld\\n", nonzero);
    return 0;
}}
"""


@pytest.mark.standalone_only
@pytest.mark.parametrize("threads", [1, 2])
def test_the_reset_zeroes_every_byte_of_arrays_of_any_size_in_pieces(tmp_path, monkeypatch, threads):
    """The reset's zeroing in pieces shared between threads (:func:`zeroed_together`; :data:`RESET_THREADS` of
    them), compiled as a build compiles it (OpenMP): arrays of a piece and more, not a multiple of one, zeroed to
    their last byte; an array whose zeroing was not in the body untouched."""
    import subprocess

    from brainyolo.spiking import binary_server
    from brainyolo.spiking.binary_server import _ZEROED_TYPE, zeroed_together

    monkeypatch.setattr(binary_server, "RESET_THREADS", threads)
    body = zeroed_together("    std::memset(_array_a, 0, sizeof(_array_a[0]) * 3145733);\n\n"
                           "    std::memset(_array_c, 0, sizeof(_array_c[0]) * 262145);\n")
    assert body.count(f"#pragma omp parallel for schedule(static) num_threads({threads})") == 1
    assert "_array_b" not in body
    source = tmp_path / "zeroing.cpp"
    source.write_text(ZEROING_PROGRAM.format(declarations="#include <algorithm>\n#include <vector>\n" + _ZEROED_TYPE,
                                             body=body))
    subprocess.run(["g++", "-O0", "-fopenmp", str(source), "-o", str(tmp_path / "zeroing")], check=True)
    run = subprocess.run([str(tmp_path / "zeroing")], capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert run.stdout.strip() == "0"


@pytest.mark.codegen_independent
def test_large_copies_from_static_arrays_in_main_are_shared_between_threads():
    """``main``'s copies of arrays from their static arrays, one thread each in Brian2's ``main`` (a ``#pragma omp
    for`` outside any parallel region), become parallel loops where large; other loops stay as they are."""
    copy = ("        #pragma omp for schedule(static)\n        for(int i=0; i<_num__array_conv_kernel; i++)\n"
            "        {\n            _array_conv_kernel[i] = _static_array__array_conv_kernel[i];\n        }\n")
    other = ("        #pragma omp for schedule(static)\n        for(int i=0; i<_num_idx; i++)\n"
             "        {\n            _array_v[_static_array__idx[i]] = _static_array__values[i];\n        }\n")
    text = serving_main(MAIN_CPP.replace("\tbrian_start();\n", "\tbrian_start();\n" + copy + other))
    assert ("        #pragma omp parallel for schedule(static) if(_num__array_conv_kernel > 65536)\n"
            "        for(int i=0; i<_num__array_conv_kernel; i++)\n") in text
    assert other in text


@pytest.mark.codegen_independent
@pytest.mark.parametrize(("change", "problem"), [
    (("//////////////// synapses /////////////////\n",
      "//////////////// synapses /////////////////\nSynapticPathway synapses_pre(...);\n"), "Synapses"),
    (("Clock time_step;", "EventClock time_step;"), "clocks other than"),
    (("    // Random number generator states\n", ""), "not of the form"),
    (('std::cout << "Error opening static array _timedarray_values." << endl;', ""), "_timedarray_values"),
    (("_array_layer_i = new int32_t[6];", "_array_layer_i = (int32_t*) new char[24];"), "allocates"),
])
def test_state_it_cannot_reset_is_refused(change, problem):
    with pytest.raises(NotServable, match=problem):
        with_state_reset(OBJECTS_CPP.replace(*change))


@pytest.mark.codegen_independent
def test_main_loops_over_requests_only_when_asked():
    text = serving_main(MAIN_CPP)
    assert serving_main(text) == text
    assert text.count("brian_start();") == 1 and text.count("brian_end();") == 1
    assert f'args[0] == "{SERVE_FLAG}"' in text and f"{RESET_FUNCTION}();" in text and DONE in text
    # the run's own body stays between the loop's head and its tail, once; the reset and the starting values come
    # before the request is read (right after the previous image's answer), the request before the run's arguments
    parts = (f"_image > 0) {RESET_FUNCTION}();", "_array_v[0] = 0.0;", "std::getline", "set_from_command_line(args);",
             "network.run(1.0);", "_write_arrays();", DONE)
    order = [text.index(part) for part in parts]
    assert order == sorted(order) and text.count("network.run(1.0);") == 1
    assert text.count("std::getline(std::cin, _arg)") == 1
    assert text.index(f"void {RESET_FUNCTION}();") < text.index("int main(")
    with pytest.raises(NotServable, match="brian_start"):
        serving_main(MAIN_CPP.replace("\tbrian_end();\n", ""))
    without = MAIN_CPP.replace("\t\tset_from_command_line(args);\n", "")
    for text in (without, without.replace("\tbrian_end();\n", "\tbrian_end();\n\tset_from_command_line(args);\n")):
        with pytest.raises(NotServable, match="set_from_command_line"):
            serving_main(text)


@pytest.mark.codegen_independent
def test_a_request_is_its_folder_its_count_and_one_argument_a_line():
    text = request_text("/r/0/", ["a.v=1.0", "a.I=static_arrays/x.dat"])
    assert text == "/r/0/\n2\na.v=1.0\na.I=static_arrays/x.dat\n"
    assert request_text("/r/1/", []) == "/r/1/\n0\n"
    with pytest.raises(ValueError, match="line break"):
        request_text("/r/0/", ["a.v=1\nb.v=2"])


STAND_IN = """\
import sys
assert sys.argv[1:] == [{flag!r}], sys.argv
image = 0
while True:
    folder = sys.stdin.readline()
    if not folder:
        break
    arguments = [sys.stdin.readline().rstrip("\\n") for _ in range(int(sys.stdin.readline()))]
    if "crash=1" in arguments:
        print("a last word", flush=True)
        sys.exit(7)
    if "skip=1" in arguments:  # an answer for another image
        image += 5
    print("brainyolo-progress 3.0 0.5", flush=True)
    print("another line", flush=True)
    with open(folder.rstrip("\\n") + "arguments.txt", "w") as f:
        f.write(" ".join(arguments))
    if "partial=1" in arguments:  # output without a line break before the answer (which starts a line)
        print("no line break", end="", flush=True)
    print("\\n{done}", image, flush=True)
    image += 1
"""


@pytest.fixture
def stand_in(tmp_path):
    """A build folder whose ``main`` speaks the server's protocol (a Python script)."""
    binary = tmp_path / "main"
    binary.write_text(f"#!{sys.executable}\n" + STAND_IN.format(flag=SERVE_FLAG, done=DONE))
    binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
    return tmp_path


@pytest.mark.codegen_independent
def test_a_server_answers_image_after_image_and_shows_progress(stand_in, tmp_path, capsys):
    server = BinaryServer(stand_in, dict(os.environ))
    try:
        for k, arguments in enumerate((["x.v=1"], ["x.v=2", "y.w=3"])):
            folder = tmp_path / f"results{k}"
            folder.mkdir()
            server.run(f"{folder}/", arguments, progress="tty|10|0.0|photo")
            assert (folder / "arguments.txt").read_text() == " ".join(arguments)
            assert (folder / "stdout.txt").read_text() == "another line\n"
            if sys.platform.startswith("linux"):  # (VmHWM; 0 elsewhere)
                assert int((folder / "peak_memory_bytes").read_text()) > 0
        assert server.images == 2 and server.running
        assert "photo: 5/10 steps" in capsys.readouterr().err
        server.run(f"{tmp_path}/", ["partial=1"], progress="no|such|setting")  # (a malformed one shows nothing)
        assert (tmp_path / "stdout.txt").read_text() == "another line\nno line break\n"
        with pytest.raises(ServerStopped, match=r"answered for its image \['8'\] at its image 3"):
            server.run(f"{tmp_path}/", ["skip=1"])
        assert not server.running  # (killed: its answers no longer match the requests)
    finally:
        server.close()
    assert not server.running
    server.close()  # again: nothing


@pytest.mark.codegen_independent
def test_a_server_that_ends_mid_image_says_how(stand_in, tmp_path):
    server = BinaryServer(stand_in, dict(os.environ))
    server.run(f"{tmp_path}/", ["x.v=1"])
    with pytest.raises(ServerStopped, match=r"exit status 7\) at its image 2: a last word"):
        server.run(f"{tmp_path}/", ["crash=1"])
    assert not server.running
    with pytest.raises(ServerStopped, match="has ended"):  # and a request after that
        server.run(f"{tmp_path}/", ["x.v=1"])


@pytest.mark.codegen_independent
def test_an_interrupted_image_ends_the_server(stand_in, tmp_path, monkeypatch):
    """An interrupt while the binary runs an image (Ctrl-C in a notebook reaches Python, not the binary): the
    binary is killed at once, since whatever it answered later would belong to the image given up."""
    server = BinaryServer(stand_in, dict(os.environ))

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(server, "_exchange", interrupted)
    with pytest.raises(KeyboardInterrupt):
        server.run(f"{tmp_path}/", ["x.v=1"])
    assert not server.running and server.process.returncode == -9


def _tiny_settings(**options) -> SimulationSettings:
    """test_simulation's standalone settings (:data:`STANDALONE`: one binary for the tests that share it)."""
    return SimulationSettings(steps=STANDALONE["steps"], checkpoints=STANDALONE["checkpoints"], device="cpp_standalone",
                              threads=STANDALONE["threads"], build=BuildOptions(output=STANDALONE["output"]), **options)


def _assert_same_data(ours, theirs, path="data"):
    """Two runs' recordings (``Recorder.collect``'s nested dicts of arrays), equal element for element."""
    if isinstance(theirs, dict):
        assert set(ours) == set(theirs), path
        for key in theirs:
            _assert_same_data(ours[key], theirs[key], f"{path}/{key}")
    else:
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs), err_msg=path)


@pytest.mark.standalone_only
def test_served_images_equal_a_process_per_image(tiny_converted, build_cache, monkeypatch):
    """The build's sources are rewritten (a reset, a loop); three images served by one binary in an order that
    changes every input between two runs (images, parameters) give the recordings of the binary started per image
    (``$BRAINYOLO_SERVE=0``: the same rewritten binary without ``--serve``, whose ``main`` runs Brian2's body
    once), image for image; the server runs all three."""
    from brainyolo.spiking.device import WRITTEN_TOGETHER
    from brainyolo.spiking.parameters import ParameterSettings, parse_setting
    from brainyolo.spiking.simulate import Simulator

    model_path, images = tiny_converted
    settings = _tiny_settings()
    served, started = [], []
    with Simulator(model_path, settings) as simulator:
        runner = simulator._runner
        assert runner.not_served_reason is None
        objects_cpp, main_cpp = ((runner.directory / name).read_text() for name in ("objects.cpp", "main.cpp"))
        assert f"void {RESET_FUNCTION}()" in objects_cpp and SERVE_FLAG in main_cpp
        # Brian2's sources still of the forms whose work is shared between the threads
        assert "const _brainyolo_zeroed _zeroed[] = {" in objects_cpp and WRITTEN_TOGETHER in objects_cpp
        assert "#pragma omp parallel for schedule(static) if(_num__array_" in main_cpp
        changed = simulator.resolve_parameters(ParameterSettings() + parse_setting("*.v_th=0.8"))
        runs = [(images[0], None), (images[1], changed), (images[0], None)]
        for image, parameters in runs:
            served.append(simulator.run(image, parameters))
        assert runner.server is not None and runner.server.images == 3
        process = runner.server.process
    assert process.returncode == 0  # the end of its input: reset once more, arrays freed, a clean exit
    monkeypatch.setenv("BRAINYOLO_SERVE", "0")
    with Simulator(model_path, settings) as simulator:
        assert simulator._runner.not_served_reason == "$BRAINYOLO_SERVE is 0"
        for image, parameters in runs:
            started.append(simulator.run(image, parameters))
        assert simulator._runner.server is None
    for ours, theirs in zip(served, started, strict=True):
        _assert_same_data(ours.data, theirs.data)
        assert ours.synaptic_events == theirs.synaptic_events > 0
    assert not np.array_equal(served[0].data["layers"][2]["positive_count"],
                              served[1].data["layers"][2]["positive_count"])


@pytest.fixture
def build_cache(shared_build_cache):
    return shared_build_cache


@pytest.mark.standalone_only
def test_a_served_run_leaves_the_value_cache_and_values_as_brian2s_own_run(tmp_path):
    """The device's served run forgets what Brian2's own run of the binary forgets (the values the run's arguments
    set, the clocks' times) and reads the same values back, a monitor's spikes among them; a second served run
    with other arguments starts where a new process starts (``x`` zeroed, the monitor empty, ``b`` computed
    from ``a`` as built), not where the first ended."""
    import brian2
    from brian2.devices.cpp_standalone.device import CPPStandaloneDevice

    from brainyolo.spiking.build_cache import run_argument, write_run_inputs
    from brainyolo.spiking.device import standalone
    from brainyolo.spiking.measure import binary_environment

    def cache(device):
        return {(var.owner.name, var.name): None if value is None else np.asarray(value).tolist()
                for var, value in device.array_cache.items() if getattr(var.owner, "name", "") == "cached"}

    def values():
        return ([getattr(group, name)[:].tolist() for name in "abcx"], monitor.i[:].tolist(), monitor.t_[:].tolist())

    build = tmp_path / "build"
    with standalone(1, directory=str(build), build_on_run=False):
        group = brian2.NeuronGroup(4, "a : 1\nb : 1\nc : 1 (constant)\nx : 1", threshold="x > 25", reset="x = 0",
                                   name="cached")
        group.a = [1.0, 2.0, 3.0, 4.0]
        group.b = "2 * i + a"  # computed in the binary, from a as built (the run's arguments come later)
        group.c = 5.0
        group.run_regularly("x += a")
        monitor = brian2.SpikeMonitor(group)
        brian2.run(brian2.ms)
        device = brian2.get_device()
        device.build(directory=str(build), compile=True, run=False, with_output=False)
        assert device.not_served_reason is None
        start = dict(device.array_cache)
        # Brian2's own run, with its own files of the arguments
        CPPStandaloneDevice.run(device, directory=str(build), with_output=False,
                                run_args={group.a: np.array([9.0, 8.0, 7.0, 6.0])})
        theirs, theirs_values = cache(device), values()
        assert theirs_values[0][1] == [1.0, 4.0, 7.0, 10.0] and len(theirs_values[1]) > 4
        device.array_cache = dict(start)
        server = BinaryServer(build, binary_environment(os.environ))
        try:
            arguments = write_run_inputs(build, build / "served0",
                                         [run_argument(group.a, np.array([9.0, 8.0, 7.0, 6.0]))])
            device.run_served(server, str(build), "served0", arguments)
            assert cache(device) == theirs and values() == theirs_values
            device.run_served(server, str(build), "served1", write_run_inputs(build, build / "served1",
                                                                                [run_argument(group.a, np.zeros(4))]))
            assert values() == ([[0.0] * 4, [1.0, 4.0, 7.0, 10.0], [5.0] * 4, [0.0] * 4], [], [])
            assert server.images == 2
        finally:
            server.close()


@pytest.mark.standalone_only
def test_code_inserted_around_the_start_or_end_is_not_served(tmp_path):
    """``device.insert_code`` around ``brian_start()``/``brian_end()`` runs once per process: such a binary is not
    served; code around a network run (run per image either way) is."""
    import brian2

    from brainyolo.spiking.device import standalone

    for slot, served in (("before_network_run", True), ("after_end", False)):
        build = tmp_path / slot
        with standalone(1, directory=str(build), build_on_run=False):
            group = brian2.NeuronGroup(2, "v : 1", name="cells")
            brian2.run(brian2.ms)
            device = brian2.get_device()
            device.insert_code(slot, "int _user_line = 0;")
            device.build(directory=str(build), compile=True, run=False, with_output=False)
            assert (device.not_served_reason is None) == served, device.not_served_reason
            assert (SERVE_FLAG in (build / "main.cpp").read_text()) == served and group.name == "cells"


@pytest.mark.standalone_only
def test_a_network_with_brian2_synapses_is_not_served(tmp_path):
    import brian2

    from brainyolo.spiking.device import standalone

    with standalone(1, directory=str(tmp_path / "build"), build_on_run=False):
        group = brian2.NeuronGroup(2, "v : 1", threshold="v > 1", reset="v = 0", name="cells")
        synapses = brian2.Synapses(group, group, on_pre="v_post += 1", name="links")
        synapses.connect(i=0, j=1)
        brian2.run(brian2.ms)
        device = brian2.get_device()
        device.build(directory=str(tmp_path / "build"), compile=True, run=False, with_output=False)
        assert "Synapses with pathways" in device.not_served_reason
        assert RESET_FUNCTION in (tmp_path / "build" / "objects.cpp").read_text()  # (a stub that ends the binary)


@pytest.mark.standalone_only
def test_a_server_that_died_is_started_again_for_the_next_image(tiny_converted, build_cache, monkeypatch):
    """The binary killed between two images (out of memory, a user's kill): the next image starts it again and
    gives what the first binary gave; one killed in the middle of an image fails that image with the binary's
    exit status (results on disk: in memory, short results are first taken for a full memory and the image runs
    again on disk), and the image after it runs."""
    import signal

    from brainyolo.spiking.simulate import Simulator

    monkeypatch.setenv("BRAINYOLO_SCRATCH", "off")
    model_path, images = tiny_converted
    with Simulator(model_path, _tiny_settings()) as simulator:
        runner = simulator._runner
        first = simulator.run(images[0])
        killed = runner.server
        killed.process.send_signal(signal.SIGKILL)
        killed.process.wait()
        again = simulator.run(images[0])
        assert runner.server is not killed and runner.server.images == 1
        _assert_same_data(again.data, first.data)

        def dies(request, progress_line, output):  # the binary killed while it runs the image
            runner.server.process.kill()
            original(request, progress_line, output)

        original = runner.server._exchange
        runner.server._exchange = dies
        with pytest.raises(ServerStopped, match="exit status -9"):
            simulator.run(images[1])
        assert runner.server is None
        _assert_same_data(simulator.run(images[0]).data, first.data)


@pytest.mark.standalone_only
def test_served_results_that_come_out_short_in_memory_run_again_on_disk(tiny_converted, build_cache, tmp_path,
                                                                        monkeypatch):
    """test_simulation's full memory for a served binary: its last write into the results folder in memory comes
    out empty; the image runs again with its results on disk, served, with the same recordings."""
    from brainyolo.spiking import binary_server
    from brainyolo.spiking.simulate import Simulator

    model_path, images = tiny_converted
    monkeypatch.setenv("BRAINYOLO_SCRATCH", str(tmp_path / "scratch"))
    exchange = binary_server.BinaryServer._exchange
    folders = []

    def full_memory(self, request, progress_line, output):
        exchange(self, request, progress_line, output)
        folder = Path(request.splitlines()[0])
        folders.append(folder.is_symlink())
        if folders == [True]:  # the first image after the reference's, in memory: its run info written empty
            (folder / "last_run_info.txt").write_text("")

    with Simulator(model_path, _tiny_settings()) as simulator:
        reference = simulator.run(images[0]).data
        monkeypatch.setattr(binary_server.BinaryServer, "_exchange", full_memory)
        again = simulator.run(images[0]).data
        assert simulator._runner.server.images == 3 and not simulator._runner.results_in_memory
    assert folders == [True, False]
    _assert_same_data(again, reference)


@pytest.mark.long
@pytest.mark.standalone_only
def test_a_served_images_profile_is_its_own(tiny_converted, tmp_path, monkeypatch):
    """``profile``: each served image's per-code-object times are its own run's (they add up to less than the
    run), not summed over the images before it."""
    from brainyolo.spiking.simulate import Simulator

    monkeypatch.setenv("BRAINYOLO_CACHE", str(tmp_path / "cache"))
    model_path, images = tiny_converted
    with Simulator(model_path, _tiny_settings(profile=True)) as simulator:
        runs = [simulator.run(image) for image in (images[0], images[1], images[0], images[1])]
        assert simulator._runner.server.images == 4
    for run in runs:
        profile = run.timing["profile"]
        assert profile and sum(profile.values()) <= run.timing["run_seconds"] * 1.05 + 1e-3, profile


@pytest.mark.standalone_only
def test_a_timed_array_set_for_one_image_is_back_to_its_own_values_for_the_next(tmp_path):
    """A ``TimedArray``'s values set by one image's run arguments (as event frames are) are the static array's own
    again for an image that does not set them, as in a new process: the reset reads that static array again."""
    import brian2

    from brainyolo.spiking.build_cache import run_argument, write_run_inputs
    from brainyolo.spiking.device import standalone
    from brainyolo.spiking.measure import binary_environment

    build = tmp_path / "build"
    with standalone(1, directory=str(build), build_on_run=False):
        stimulus = brian2.TimedArray(np.array([1.0, 2.0, 3.0]), dt=brian2.ms, name="stimulus")
        group = brian2.NeuronGroup(1, "x : 1", name="reader", namespace={"stimulus": stimulus})
        group.run_regularly("x += stimulus(t)", dt=brian2.ms)
        brian2.run(3 * brian2.ms)
        device = brian2.get_device()
        device.build(directory=str(build), compile=True, run=False, with_output=False)
        assert device.not_served_reason is None
        server = BinaryServer(build, binary_environment(os.environ))
        try:
            values = [run_argument(stimulus, np.array([10.0, 20, 30]))]
            device.run_served(server, str(build), "set", write_run_inputs(build, build / "set", values))
            assert group.x[:].tolist() == [60.0]
            device.run_served(server, str(build), "unset", [])
            assert group.x[:].tolist() == [6.0] and server.images == 2
        finally:
            server.close()
