"""Whole spiking networks built from model files: rates approach the ANN; both devices agree."""

from __future__ import annotations

import contextlib
import json
import re
import signal

import h5py
import numpy as np
import pytest
from conftest import STANDALONE, scaled_model

from brainyolo.ann.letterbox import letterbox, load_image
from brainyolo.ann.reference import forward
from brainyolo.convert.model_file import load_model, save_model
from brainyolo.detector import simulate
from brainyolo.spiking.layer_models import SPIKE_COUNTERS
from brainyolo.spiking.settings import BuildOptions
from brainyolo.spiking.simulate import SimulationSettings


@pytest.fixture(scope="module")
def tiny_h5(tiny_converted):
    """(model file, image): conftest's converted reduced yolov3-tiny and its first calibration image."""
    model_path, images = tiny_converted
    return model_path, images[0]


def layer_errors(model_path, image, run_dir, steps):
    """Mean |rate - normalized ANN activation| per hidden convolution; Vmem/t error per output."""
    model = load_model(model_path)
    graph = model.normalized_graph()
    activations = forward(graph, letterbox(load_image(image), 96, 96)[0], capture=True, dtype=np.float64)
    errors = {}
    with h5py.File(run_dir / "recordings.h5") as f:
        image_group = f["images/0000"]
        outputs = {int(k) for k in image_group["output"]}
        for name, group in image_group["layers"].items():
            index = int(name)
            if group.attrs["kind"] == "Conv" and index not in outputs:
                rate = (group["positive_count"][()] - group["negative_count"][()]) / steps
                # rates saturate at one spike per step (activations above lambda are clipped)
                errors[index] = np.abs(rate - np.minimum(activations[index], 1.0)).mean()
        for index in outputs:
            v = image_group["output"][f"{index:02d}"]["v"][-1] / steps
            errors[f"out{index}"] = np.abs(v - activations[index]).mean()
    return errors


def test_a_simulation_leaves_brian2s_preferences_as_it_found_them(tiny_h5, tmp_path):
    """brainyolo simulates in float32 by default; a user's own Brian2 objects afterwards keep float64."""
    import brian2

    model_path, image = tiny_h5
    before = brian2.prefs.core.default_float_dtype, brian2.prefs.codegen.target
    assert before[0] is np.float64
    simulate(model_path, [image], SimulationSettings(steps=3, device="runtime"), tmp_path / "run", progress=False)
    with h5py.File(tmp_path / "run" / "recordings.h5") as f:
        assert f["images/0000/output"][next(iter(f["images/0000/output"]))]["v"].dtype == np.float32
    assert (brian2.prefs.core.default_float_dtype, brian2.prefs.codegen.target) == before
    assert brian2.NeuronGroup(1, "v : 1").v[:].dtype == np.float64


def test_rates_approach_ann_activations(tiny_h5, tmp_path):
    model_path, image = tiny_h5
    errors = {}
    for steps in (40, 320):
        simulate(model_path, [image], SimulationSettings(steps=steps, device="runtime"), tmp_path / str(steps),
                 progress=False)
        errors[steps] = layer_errors(model_path, image, tmp_path / str(steps), steps)
    for key in errors[40]:
        assert errors[320][key] < errors[40][key], key
    assert errors[320][0] <= 2 / 320  # the first layer's rate is its activation within ~1/T


def test_run_info_and_recordings_schema(tiny_h5, tmp_path):
    model_path, image = tiny_h5
    info = simulate(model_path, [image, image], SimulationSettings(steps=20, checkpoints=(5, 10), device="runtime",
                                                                   sample_neurons=7), tmp_path, progress=False)
    saved = json.loads((tmp_path / "run_info.json").read_text())
    assert saved["steps"] == 20 and saved["checkpoints"] == [5, 10, 20] and len(saved["images"]) == 2
    for key in ("build_seconds", "run_seconds", "synaptic_events", "peak_memory_bytes", "device", "threads",
                "layer_spikes"):
        assert key in saved
    first, second = saved["images"]
    assert info["synaptic_events"] > 0 and first["synaptic_events"] == second["synaptic_events"]
    with h5py.File(tmp_path / "recordings.h5") as f:
        assert f.attrs["format"] == "brainyolo-recordings" and f.attrs["schema_version"] == 4
        assert f.attrs["counts"] == "neurons"
        layer = f["images/0001/layers/00"]
        assert layer["positive_count"].shape == (4, 96, 96) and layer["sample_neuron"].shape == (7, 3)
        assert layer["positive_count"].dtype == np.int8  # counts of at most 20 steps: stored in a byte
        steps = layer["sample_spike_step"][()]
        assert steps.min() >= 1 and steps.max() <= 20 and set(layer["sample_spike_sign"][()]) <= {-1, 1}
        assert f["images/0000/output/12/v"].shape == (3, 24, 6, 6)
        # the sampled trains are consistent with the counts of the sampled neurons
        c, y, x = layer["sample_neuron"][()].T
        signs, ids = layer["sample_spike_sign"][()], layer["sample_spike_neuron"][()]
        for sign, key in ((1, "positive_count"), (-1, "negative_count")):
            np.testing.assert_array_equal(np.bincount(ids[signs == sign], minlength=7), layer[key][()][c, y, x])
        # population counts per step add up to every layer's total counts (both signs)
        for name, group in f["images/0000/layers"].items():
            for sign in ("positive", "negative"):
                population = group[f"population_{sign}"][()]
                assert population.shape == (20,), name
                assert population.sum() == group[f"{sign}_count"][()].sum(), (name, sign)
        # events delivered by each convolution at the checkpoints: rising, and at the end exactly
        # the source's spikes times their fan-out
        from brainyolo.analysis.energy import snn_operations
        from brainyolo.analysis.spikes import load_run

        run = load_run(tmp_path)
        for name, group in f["images/0000/layers"].items():  # read back as int32, the same counts
            for key in ("positive_count", "negative_count"):
                counts = run.images[0].layers[int(name)][key]
                assert counts.dtype == np.int32 and np.array_equal(counts, group[key][()]), (name, key)
        expected = snn_operations(run.model.normalized_graph(), run.images[0].layers, 20)["per_layer"]
        checked = 0
        for index, entry in expected.items():
            events = run.images[0].layers[index].get("input_events")
            if entry["image_macs"]:
                assert events is None  # the first convolution sees the image, not spikes
                continue
            assert events.shape == (3,) and np.all(np.diff(events) >= 0) and events[0] > 0
            assert events[-1] == entry["synaptic_acs"], index
            checked += 1
        assert checked >= 3
    # a run stopped at the first checkpoint delivered exactly the events recorded there
    simulate(model_path, [image], SimulationSettings(steps=5, device="runtime"), tmp_path / "five", progress=False)
    short = load_run(tmp_path / "five").images[0].layers
    for index in expected:
        if "input_events" in short[index]:
            assert short[index]["input_events"][-1] == run.images[0].layers[index]["input_events"][0], index


@pytest.fixture
def build_cache(shared_build_cache):
    """The standalone tests' build cache: shared with the progress test (the same model and settings)."""
    return shared_build_cache


@pytest.mark.standalone_only
def test_runtime_and_cpp_standalone_give_identical_recordings(tiny_h5, tmp_path, build_cache):
    model_path, image = tiny_h5
    runs = {}
    for device in ("runtime", "cpp_standalone"):
        runs[device] = simulate(model_path, [image, image], SimulationSettings(
            steps=STANDALONE["steps"], checkpoints=STANDALONE["checkpoints"], device=device,
            threads=STANDALONE["threads"], build=BuildOptions(output=STANDALONE["output"])),
            tmp_path / device, progress=False)
    standalone = runs["cpp_standalone"]["images"]
    assert standalone[1]["build_seconds"] == 0  # compiled at most once (the progress test may have built it)
    assert standalone[0]["peak_memory_bytes"] > 0
    with h5py.File(tmp_path / "runtime/recordings.h5") as a, h5py.File(tmp_path / "cpp_standalone/recordings.h5") as b:
        compared = 0
        for name in ("images/0000/layers", "images/0001/layers", "images/0000/output"):
            for layer in a[name]:
                for key in a[name][layer]:
                    np.testing.assert_allclose(a[name][layer][key][()], b[name][layer][key][()], atol=1e-9,
                                               err_msg=f"{name}/{layer}/{key}")
                    compared += 1
        assert compared > 50
    assert runs["runtime"]["synaptic_events"] == runs["cpp_standalone"]["synaptic_events"] > 0


@pytest.mark.codegen_independent
def test_one_binary_whatever_the_steps_and_checkpoints():
    """The build key: the step count and the checkpoints are inputs of each run, not of the binary."""
    from brainyolo.spiking.build_cache import build_key

    def key(steps, checkpoints):
        return build_key("0" * 64, SimulationSettings(steps=steps, checkpoints=checkpoints, threads=1))

    assert key(20, ()) == key(20, (20,)) == key(20, (20, 20)) == key(20, (20, 30))
    # steps and checkpoints are run-time inputs: one binary for any of them ...
    assert key(20, ()) == key(21, ()) == key(20, (10,)) == key(300, (50, 100, 200)) == key(64, (8, 16, 25, 32, 50))
    # ... up to 8 checkpoints before the last step; a run with more builds a network with more slots
    assert key(50, range(1, 9)) == key(20, ()) != key(50, range(1, 10)) == key(50, range(1, 17))
    # what a recordings file keeps of the counts is the writer's choice: the same binary
    assert build_key("0" * 64, SimulationSettings(steps=20, threads=1, counts="channels")) == key(20, ())
    assert build_key("0" * 64, SimulationSettings(steps=20, threads=1, sample_neurons=7)) != key(20, ())


@pytest.mark.codegen_independent
def test_an_edited_template_or_builder_is_another_binary(tmp_path, monkeypatch):
    """The build key holds a digest of the package's code and templates: a development install whose template or
    builder changed between two runs of the same version builds anew instead of reusing the old binary."""
    from brainyolo.spiking import build_cache

    package = tmp_path / "package"
    (package / "spiking/templates/cpp_standalone").mkdir(parents=True)
    template = package / "spiking/templates/cpp_standalone/signed_threshold.cpp"
    builder = package / "spiking/builder.py"
    template.write_text("{# one pass #}")
    builder.write_text("x = 1")
    (package / "notes.txt").write_text("not code")
    first = build_cache.code_digest(package)
    (package / "notes.txt").write_text("still not code")
    assert build_cache.code_digest(package) == first
    for path, text in ((template, "{# two passes #}"), (builder, "x = 2")):
        before = build_cache.code_digest(package)
        path.write_text(text)
        assert build_cache.code_digest(package) != before, path.name
    settings = SimulationSettings(steps=20, threads=1)
    key = build_cache.build_key("0" * 64, settings)
    monkeypatch.setattr(build_cache, "generator_digest", lambda: "edited")
    assert build_cache.build_key("0" * 64, settings) != key


@pytest.mark.standalone_only
def test_two_step_counts_one_build_and_a_shorter_run_is_a_checkpoint_of_a_longer(tiny_h5, build_cache):
    """One compiled binary runs 30 steps, then 10, then 17 with other checkpoints: nothing is built again,
    and the 10-step run ends where the 30-step run's checkpoint 10 was (output membranes, events)."""
    from brainyolo.spiking.simulate import Simulator

    model_path, image = tiny_h5
    results, folders, built = {}, set(), None
    for steps, checkpoints in ((STANDALONE["steps"], STANDALONE["checkpoints"]), (10, ()), (17, (3, 9, 12))):
        settings = SimulationSettings(steps=steps, checkpoints=checkpoints, device="cpp_standalone",
                                      threads=STANDALONE["threads"], build=BuildOptions(output=STANDALONE["output"]))
        with Simulator(model_path, settings) as simulator:
            if results:  # the binary of the first run, untouched
                main = simulator._runner.directory / "main"
                assert simulator._runner.build_seconds < 5 and main.stat().st_mtime_ns == built
            results[steps] = simulator.run(image)
            folders.add(simulator._runner.directory)
            built = (simulator._runner.directory / "main").stat().st_mtime_ns
    assert len(folders) == 1
    # the runs' input arrays went with their results folders (Brian2 leaves them in static_arrays)
    folder = folders.pop()
    assert not list((folder / "static_arrays").glob("init_*")) and not list((folder / "results").iterdir())
    long, short, other = results[STANDALONE["steps"]], results[10], results[17]
    assert (long.checkpoints, short.checkpoints, other.checkpoints) == ([10, 30], [10], [3, 9, 12, 17])
    for index, out in long.data["output"].items():
        for name, values in out.items():
            assert values.shape[0] == 2 and other.data["output"][index][name].shape[0] == 4
            np.testing.assert_array_equal(values[0], short.data["output"][index][name][-1], err_msg=f"{index} {name}")
        assert np.any(long.data["output"][index]["v"][1] != long.data["output"][index]["v"][0])
    for index, layer in long.data["layers"].items():
        if "input_events" in layer:
            assert layer["input_events"][0] == short.data["layers"][index]["input_events"][-1] > 0
            assert layer["population_positive"].shape == (30,)
            np.testing.assert_array_equal(layer["population_positive"][:10],
                                          short.data["layers"][index]["population_positive"])


def _standalone_settings() -> SimulationSettings:
    """The standalone tests' settings (:data:`STANDALONE`): one compiled binary for all of them."""
    return SimulationSettings(steps=STANDALONE["steps"], checkpoints=STANDALONE["checkpoints"], device="cpp_standalone",
                              threads=STANDALONE["threads"], build=BuildOptions(output=STANDALONE["output"]))


def _assert_same_recordings(first, again) -> None:
    """Every recorded layer's and output layer's arrays of two runs, equal."""
    for part in ("layers", "output"):
        for index, arrays in first.data[part].items():
            for name, values in arrays.items():
                np.testing.assert_array_equal(again.data[part][index][name], values, err_msg=f"{part} {index} {name}")


_KILLED_BUILD = """
import resource, signal, sys
sys.dont_write_bytecode = True  # only the build writes: a module's bytecode longer than the limit would end it first
import brian2
from brainyolo.spiking.settings import BuildOptions, SimulationSettings
from brainyolo.spiking.simulate import Simulator
brian2.prefs.logging.file_log = False  # no log file to write
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # Python ignores it: a longer write now kills the process
Simulator(sys.argv[1], SimulationSettings(steps={steps}, checkpoints={checkpoints}, device="cpp_standalone",
                                          threads={threads}, build=BuildOptions(output={output!r})))
"""


@pytest.mark.standalone_only
def test_a_build_killed_while_writing_its_arrays_leaves_another_process_s_binary_whole(tiny_h5, build_cache):
    """Another process builds the same folder again and dies while it writes a kernel (the file-size limit kills
    it): this process's binary, built before, still reads whole files and gives the same recordings; the next
    build removes what the killed one left."""
    import subprocess
    import sys

    from brainyolo.spiking.simulate import Simulator

    model_path, image = tiny_h5
    settings = _standalone_settings()
    with Simulator(model_path, settings) as simulator:
        first = simulator.run(image)
        arrays = simulator._runner.directory / "static_arrays"
        whole = {path.name: path.read_bytes() for path in arrays.glob("_static_array_*")}
        limit = max(len(data) for data in whole.values()) - 1000  # killed in the first file longer than this
        script = _KILLED_BUILD.format(**STANDALONE)
        child = subprocess.run([sys.executable, "-c", script, str(model_path), str(limit)], capture_output=True)
        assert child.returncode == -signal.SIGXFSZ, child.stderr.decode()[-2000:]
        assert {path.name: path.read_bytes() for path in arrays.glob("_static_array_*")} == whole
        assert list(arrays.glob(".*.tmp"))  # the killed write's
        again = simulator.run(image)
    _assert_same_recordings(first, again)
    with Simulator(model_path, settings):
        assert not list(arrays.glob(".*.tmp"))


@pytest.mark.standalone_only
def test_the_cached_binary_is_reused_without_recompiling(tiny_h5, tmp_path, build_cache):
    """A second Simulator in the same process, then another process, regenerate identical sources.

    The other process also removes the results folders that killed runs left, and no other. Brian2
    names an object after a live one with a suffix, and writes the clocks in set order: either
    would change the sources and make would recompile (the experiment runner simulates twice).
    """
    import fcntl
    import subprocess
    import sys

    from brainyolo.spiking.device import PRECOMPILED_HEADER
    from brainyolo.spiking.simulate import Simulator

    model_path, image = tiny_h5
    settings = _standalone_settings()
    with Simulator(model_path, settings) as simulator:
        first = simulator.run(image)
        folder = simulator._runner.directory

    def built():
        files = [folder / "main", *folder.glob("*.cpp"), *folder.glob("code_objects/*.[co]*")]
        return {path.relative_to(folder): path.stat().st_mtime_ns for path in files}

    before = built()
    assert len(before) > 20
    # the code objects were compiled with the precompiled header, which make then deleted (intermediate)
    assert (folder / PRECOMPILED_HEADER).is_file() and not list(folder.glob("*.gch"))
    assert f"-include {PRECOMPILED_HEADER}" in (folder / "makefile").read_text()
    # a run writes what is read after it (counters, output layers, monitors), not kernels or membranes
    # float32 state is built from float32 values: no float64 copy is loaded at every start (the biases were)
    static = re.findall(r"^(\w+) \* _static_array__array_(\w+);", (folder / "objects.cpp").read_text(), re.M)
    assert any(name.endswith("_I") for _, name in static)
    assert {kind for kind, _ in static} <= {"float", "int32_t", "int64_t", "char"}, static
    objects = (folder / "objects.cpp").read_text()
    # every array Brian2 zeroes is zeroed by one memset (objects.cpp is compiled at -O0), none by a loop, and no
    # OpenMP pragma is left before a memset (it would not compile); the 'arange' loops stay
    assert objects.startswith("#include <cstring>\n")
    assert not re.search(r"^\s*for\(int i=0; i<\d+; i\+\+\) _array_\w+\[i\] = 0;$", objects, re.M)
    zeroed = re.findall(r"^\s*std::memset\((_array_\w+), 0, sizeof\(\1\[0\]\) \* \d+\);$", objects, re.M)
    assert len(zeroed) > 20 and any(name.endswith("_positive_count") for name in zeroed)
    assert not re.search(r"#pragma omp[^\n]*\n\s*std::memset", objects)
    assert re.search(r"\[i\] = 0 \+ i;$", objects, re.M)
    written = set(re.findall(r"Error writing output file for (\w+)\.", objects))
    assert any(name.endswith("_positive_count") for name in written)
    assert any(re.fullmatch(r"_dynamic_array_eventrecord\d+_(sample_neuron|population_positive)", name)
               for name in written)
    assert not any(name.endswith(("_kernel", "_kernel_fixed", "_col_pairs")) for name in written)
    assert not any(re.fullmatch(r"_array_layer0[0-4]_v", name) for name in written)
    with Simulator(model_path, settings) as simulator:
        second = simulator.run(image)
    assert built() == before
    command = [sys.executable, "-m", "brainyolo", "simulate", str(model_path), str(image), "--preset", "paper",
               "--steps", str(STANDALONE["steps"]), "--checkpoints", "10", "--threads", str(STANDALONE["threads"]),
               "--output", STANDALONE["output"], "-q", "-o", str(tmp_path / "run")]
    # what killed runs leave behind (one with its claim file, one from before claims), and the
    # folder of a run in progress (its claim locked): the next run removes the first two only
    results = folder / "results"
    for name in ("killed", "killed_before_claims", "in_progress"):
        (results / name).mkdir(parents=True)
        (results / name / "_dynamic_array_statemonitor_v").write_bytes(b"\0" * 4096)
    (results / "killed.claim").touch()
    with open(results / "in_progress.claim", "a+") as claim:
        fcntl.flock(claim, fcntl.LOCK_EX)
        subprocess.run(command, check=True, capture_output=True)
    assert built() == before
    assert sorted(p.name for p in results.iterdir()) == ["in_progress", "in_progress.claim"]
    assert second.synaptic_events == first.synaptic_events > 0


def _counts(path):
    with h5py.File(path) as f:
        layers = f["images/0000/layers"]
        return {name: (layers[name]["positive_count"][()], layers[name]["negative_count"][()]) for name in layers}


def test_unrolled_network_equals_shared_network(tiny_h5, tmp_path):
    """The whole network built with Brian2 Synapses per weight gives the same spikes."""
    model_path, image = tiny_h5
    for connectivity in ("shared", "unrolled"):
        simulate(model_path, [image], SimulationSettings(steps=15, device="runtime",
                                                         build=BuildOptions(connectivity=connectivity)),
                 tmp_path / connectivity, progress=False)
    shared, unrolled = _counts(tmp_path / "shared/recordings.h5"), _counts(tmp_path / "unrolled/recordings.h5")
    assert shared.keys() == unrolled.keys()
    for name in shared:
        for a, b in zip(shared[name], unrolled[name], strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)


def test_signed_layers_are_thresholded_and_integrated_in_one_pass(tiny_h5):
    from brainyolo.spiking.builder import build_network
    from brainyolo.spiking.neurons import NEGATIVE_EVENT
    from brainyolo.spiking.thresholder import SignedThresholder

    for fused in (True, False):
        net = build_network(load_model(tiny_h5[0]), BuildOptions(output="spikes", fused_thresholds=fused))
        signed = [net.layers[i].group for i in net.own_layers()]
        assert signed and all(NEGATIVE_EVENT in group.events for group in signed)
        for group in signed:
            thresholders = {id(group.thresholder[event]) for event in ("spike", NEGATIVE_EVENT)}
            assert len(thresholders) == (1 if fused else 2)
            assert isinstance(group.thresholder["spike"], SignedThresholder) == fused
            integrated = group.equations.diff_eq_names and group.state_updater not in group.contained_objects
            assert bool(integrated) == (fused and bool(group.equations.diff_eq_names))
        assert any(group.equations.diff_eq_names for group in signed)


@pytest.mark.codegen_independent
def test_a_gate_common_to_every_event_reads_only_what_every_neuron_shares():
    """``common_gate``: the first term of ``G and ...`` that every event's condition starts with, where ``G`` is the
    same for every neuron within a step (shared variables and subexpressions, constants, stateless functions)."""
    from brian2 import NeuronGroup

    from brainyolo.spiking.thresholder import common_gate

    group = NeuronGroup(3, """v : 1
                              t_on : second (shared, constant)
                              on = int(t >= t_on) : 1 (shared)
                              drive = on * v : 1""")
    assert common_gate(group, ["on > 0 and v >= 1", "on > 0 and v <= -1 and v > -5"]) == "on > 0"
    assert common_gate(group, ["int(t >= t_on) > 0 and v >= 1", "int(t >= t_on) > 0 and v <= -1"]) == \
        "int(t >= t_on) > 0"
    for conditions in (["on > 0 and v >= 1", "v <= -1"],  # not in every condition
                       ["on > 0 and v >= 1", "on >= 1 and v <= -1"],  # not the same term
                       ["v >= 1 and on > 0", "v >= 1 and on < 0"],  # each neuron's own
                       ["drive > 0 and v >= 1", "drive > 0 and v <= -1"],  # a per-neuron subexpression
                       ["rand() < 0.5 and v >= 1", "rand() < 0.5 and v <= -1"],  # one draw per neuron
                       ["on > 0 or v >= 1", "on > 0 or v <= -1"],  # not a conjunction
                       ["gain > 0 and v >= 1", "gain > 0 and v <= -1"],  # the run's namespace: unknown here
                       ["v >= 1", "v <= -1"]):
        assert common_gate(group, conditions) is None, conditions
    # the same text in a group where ``on`` is each neuron's own: the parsed term is cached, the check is per group
    own = NeuronGroup(3, """v : 1
                            on : 1""")
    assert common_gate(own, ["on > 0 and v >= 1", "on > 0 and v <= -1 and v > -5"]) is None
    assert common_gate(group, ["on > 0 and v >= 1", "on > 0 and v <= -1 and v > -5"]) == "on > 0"


@pytest.mark.codegen_independent
def test_resets_move_into_the_thresholder_only_where_nothing_runs_between(tiny_h5):
    """``fuse_resets``: in the delayed schedule a convolution's connection writes ``v`` between the thresholds
    and the resets, so only the first layer (a current) and the max-pools (their connections write ``m``, their
    resets ``count``) run their resets in the thresholder's pass; in the same-step schedule every signed layer;
    one object of the user's that touches ``v`` in between keeps the first layer's resetters."""
    from brian2.groups.neurongroup import Resetter

    from brainyolo.ann.graph import MaxPool
    from brainyolo.spiking.builder import build_network
    from brainyolo.spiking.thresholder import fuse_resets

    model = load_model(tiny_h5[0])
    pools = {i for i, layer in enumerate(model.graph.layers) if isinstance(layer, MaxPool)}
    assert pools
    for schedule in ("delayed", "same_step"):
        net = build_network(model, BuildOptions(output="spikes", schedule=schedule))
        signed = {i for i in net.own_layers() if "negative_spike" in net.layers[i].group.events}
        fused = {int(group.name[len("layer"):]) for group in fuse_resets(net.objects())}
        assert fused == ({0} | pools if schedule == "delayed" else signed), schedule
        for index in signed:
            group = net.layers[index].group
            left = [obj for obj in group.contained_objects if isinstance(obj, Resetter)]
            thresholder = group.thresholder["spike"]
            # in Brian2's order: delayed, the threshold's reset (slot resets), then run_on_event's (after_resets);
            # same-step, both in one slot and order: by name
            order = ["spike", "negative_spike"] if schedule == "delayed" else ["negative_spike", "spike"]
            assert thresholder.fused_resets == (order if index in fused else [])
            assert len(left) == (0 if index in fused else 2)
            assert set(group.resetter) == {"spike", "negative_spike"}  # kept for inspection
        assert fuse_resets(net.objects()) == []  # once
    net = build_network(model, BuildOptions(output="spikes"))
    net.layers[0].group.run_regularly("v *= 1", when="synapses")
    assert {int(group.name[len("layer"):]) for group in fuse_resets(net.objects())} == pools

@pytest.mark.parametrize("neuron", ["if_signed_ibt", "lif_signed_ibt"])
def test_fused_thresholders_equal_brian2s_two_thresholders(tiny_h5, tmp_path, neuron):
    """One SignedThresholder per signed layer (integrating the equations in the same pass) gives the
    events of Brian2's StateUpdater and two Thresholders."""
    model_path, image = tiny_h5
    for fused in (True, False):
        options = BuildOptions(neuron=neuron, output="spikes", fused_thresholds=fused)
        simulate(model_path, [image], SimulationSettings(steps=25, device="runtime", sample_neurons=50, build=options),
                 tmp_path / str(fused), progress=False)
    with h5py.File(tmp_path / "True/recordings.h5") as a, h5py.File(tmp_path / "False/recordings.h5") as b:
        layers = a["images/0000/layers"]
        assert sum(layers[name]["negative_count"][()].sum() > 0 for name in layers) >= 3
        for name in layers:
            for key in layers[name]:
                np.testing.assert_array_equal(layers[name][key][()], b["images/0000/layers"][name][key][()],
                                              err_msg=f"{name}/{key}")


def test_poisson_input_rates_follow_first_layer(tiny_h5, tmp_path):
    """With Poisson pixels, the first layer's net rate still tracks its normalized activation."""
    model_path, image = tiny_h5
    steps = 300
    simulate(model_path, [image], SimulationSettings(steps=steps, device="runtime",
                                                     build=BuildOptions(input="poisson")), tmp_path, progress=False)
    model = load_model(model_path)
    activation = forward(model.normalized_graph(), letterbox(load_image(image), 96, 96)[0], capture=True)[0]
    positive, negative = _counts(tmp_path / "recordings.h5")["00"]
    rate = (positive - negative) / steps
    error = np.abs(rate - np.minimum(activation, 1)).mean()
    assert error < 0.1 * np.abs(activation).mean() + 0.02
    assert np.corrcoef(rate.ravel(), activation.ravel())[0, 1] > 0.95


@pytest.mark.standalone_only
def test_two_runs_at_once_share_one_build(tiny_h5, tmp_path, build_cache):
    """Two `brainyolo simulate` processes on the same model and options, at the same time.

    One rebuilds (identical sources: nothing recompiles) while the other may be running the
    binary: the build folder's lock keeps them apart, and each run has its own results folder.
    """
    import subprocess
    import sys

    model_path, image = tiny_h5
    command = [sys.executable, "-m", "brainyolo", "simulate", str(model_path), str(image), "--preset", "paper",
               "--steps", str(STANDALONE["steps"]), "--checkpoints", "10", "--threads", str(STANDALONE["threads"]),
               "--output", STANDALONE["output"], "-q", "-o"]
    before = set((build_cache / "builds").glob("*/main"))  # (other tests' builds, e.g. at 1 thread)
    runs = [subprocess.Popen([*command, str(tmp_path / f"run{k}")], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for k in range(2)]
    for run in runs:
        _, err = run.communicate(timeout=900)
        assert run.returncode == 0, err
    a, b = _counts(tmp_path / "run0/recordings.h5"), _counts(tmp_path / "run1/recordings.h5")
    for name in a:
        np.testing.assert_array_equal(a[name][0], b[name][0])
    new = set((build_cache / "builds").glob("*/main")) - before
    assert len(new) <= 1  # one binary for both runs (none if the tests above built it)
    assert not list((build_cache / "builds").glob("*/results/*"))  # each run cleaned its own results


# ------------------------------------------------------------------------------------------ run parameters


def test_thresholds_keep_the_network_meaning(tiny_h5, tmp_path):
    """All hidden thresholds 0.5 equal thresholds 1 with biases and the image current doubled.

    With u = v / v_th a layer integrates b / v_th + sum(w * spikes): the spike trains are those of the
    network whose biases are b / v_th (exact in binary floating point for v_th = 0.5), provided that a
    spike of a layer with threshold v_th delivers v_th * w downstream, as the per-channel scale does.
    """
    from brainyolo.spiking.parameters import parse_setting

    model_path, image = tiny_h5
    doubled = scaled_model(model_path, tmp_path / "doubled.h5", 2.0)
    steps = 40
    half = SimulationSettings(steps=steps, device="runtime", parameters=parse_setting("all.v_th=0.5"))
    simulate(model_path, [image], half, tmp_path / "half", progress=False)
    simulate(doubled, [image], SimulationSettings(steps=steps, device="runtime"), tmp_path / "doubled",
             progress=False)
    a, b = _counts(tmp_path / "half/recordings.h5"), _counts(tmp_path / "doubled/recordings.h5")
    assert a.keys() == b.keys()
    spikes = 0
    for name in a:
        for x, y in zip(a[name], b[name], strict=True):
            np.testing.assert_array_equal(x, y, err_msg=name)
            spikes += int(x.sum())
    assert spikes > 1000
    # and a run without the setting differs (the test can fail)
    simulate(model_path, [image], SimulationSettings(steps=steps, device="runtime"), tmp_path / "one",
             progress=False)
    assert any(not np.array_equal(x, y) for name in a
               for x, y in zip(a[name], _counts(tmp_path / "one/recordings.h5")[name], strict=True))


def test_initial_membrane_hand_computed_on_the_image_layer(tiny_h5, tmp_path):
    """Layer 0 integrates its constant current I from V(0) = v_init * v_th: after T steps it has
    emitted floor(V(0) + T * I) spikes (0 < I < 1, v_th = 1: at most one crossing per step)."""
    from brainyolo.ann.reference import conv2d
    from brainyolo.spiking.parameters import parse_setting

    model_path, image = tiny_h5
    steps = 25
    settings = SimulationSettings(steps=steps, device="runtime", parameters=parse_setting("0.v_init=0.5"))
    simulate(model_path, [image], settings, tmp_path / "run", progress=False)
    model = load_model(model_path)
    layer = model.normalized_graph().layers[0]
    current = conv2d(letterbox(load_image(image), 96, 96)[0], layer.weight, layer.bias, layer.stride, layer.pad)
    expected = 0.5 + steps * current.astype(np.float64)
    positive = _counts(tmp_path / "run/recordings.h5")["00"][0]
    clear = (current > 0) & (current < 1) & (np.abs(expected - np.round(expected)) > 1e-6)
    assert clear.sum() > 1000
    np.testing.assert_array_equal(positive[clear], np.floor(expected[clear]))


@pytest.mark.standalone_only
def test_parameters_change_through_run_args_without_recompiling(tiny_h5, tmp_path, build_cache):
    """The compiled binary takes v_th, alpha and v_init per run: recordings equal a runtime network
    given the same values, and no source, object file or binary changes."""
    from brainyolo.spiking.parameters import parse_setting
    from brainyolo.spiking.simulate import Simulator

    model_path, image = tiny_h5
    base = dict(steps=STANDALONE["steps"], checkpoints=STANDALONE["checkpoints"], threads=STANDALONE["threads"],
                build=BuildOptions(output=STANDALONE["output"]))
    changed = parse_setting("all.v_th=0.75") + parse_setting("2.alpha=0.2") + parse_setting("all.v_init=0.5")
    with Simulator(model_path, SimulationSettings(device="cpp_standalone", **base)) as simulator:
        default = simulator.run(image)
        folder = simulator._runner.directory
        files = [folder / "main", *folder.glob("*.cpp"), *folder.glob("code_objects/*.[co]*")]
        before = {path: path.stat().st_mtime_ns for path in files}
        result = simulator.run(image, simulator.resolve_parameters(changed))
    assert result.timing["build_seconds"] == 0
    assert {path: path.stat().st_mtime_ns for path in files} == before
    # a new simulation with these parameters (another Simulator) regenerates identical files: no recompilation
    simulate(model_path, [image], SimulationSettings(device="cpp_standalone", parameters=changed, **base),
             tmp_path / "standalone", progress=False)
    assert {path: path.stat().st_mtime_ns for path in files} == before
    simulate(model_path, [image], SimulationSettings(device="runtime", parameters=changed, **base),
             tmp_path / "runtime", progress=False)
    a, b = _counts(tmp_path / "standalone/recordings.h5"), _counts(tmp_path / "runtime/recordings.h5")
    for name in a:
        for x, y, z in zip(a[name], b[name], (result.data["layers"][int(name)][k] for k in SPIKE_COUNTERS),
                           strict=True):
            np.testing.assert_array_equal(x, y, err_msg=name)
            np.testing.assert_array_equal(x, z, err_msg=name)
    assert any(not np.array_equal(default.data["layers"][i]["positive_count"], layer["positive_count"])
               for i, layer in result.data["layers"].items())
    with h5py.File(tmp_path / "standalone/recordings.h5") as f:
        recorded = json.loads(f.attrs["parameters"])
    assert recorded["2"] == {"v_th": 0.75, "alpha": 0.2, "v_init": 0.5, "delay": 0.0, "release": 1.0, "seed": 0.0}


TWO_PHASE = "if_signed_ibt_two_phase"


def _run_counts(model_path, image, tmp_path, name, neuron="if_signed_ibt", settings="", steps=30):
    from brainyolo.spiking.parameters import ParameterSettings, parse_setting

    parameters = ParameterSettings()
    for text in filter(None, settings.split()):
        parameters = parameters + parse_setting(text)
    simulate(model_path, [image], SimulationSettings(steps=steps, device="runtime", parameters=parameters,
                                                     build=BuildOptions(neuron=neuron)), tmp_path / name,
             progress=False)
    return _counts(tmp_path / name / "recordings.h5")


def _assert_same_counts(a, b):
    """``a`` and ``b`` (:func:`_counts` of two runs) record the same layers, each with a (positive, negative)
    pair of equal, non-empty maps, and the runs spiked: a run that recorded nothing, or no spike, fails."""
    assert a and set(a) == set(b), (sorted(a), sorted(b))
    for name in a:
        assert len(a[name]) == len(b[name]) == len(SPIKE_COUNTERS), name
        for x, y in zip(a[name], b[name], strict=True):
            assert x.size > 0 and x.shape == y.shape, (name, x.shape, y.shape)
            np.testing.assert_array_equal(x, y, err_msg=name)
    assert sum(int(positive.sum()) for positive, _ in a.values()) > 0, "the runs compared never spiked"


def test_two_phase_thresholds_at_both_ends_of_the_switch(tiny_h5, tmp_path):
    """A switch after the last step is a one-phase network at the early threshold (downstream scale
    included); a switch at 0 ms ignores the early threshold."""
    model_path, image = tiny_h5
    one_half = _run_counts(model_path, image, tmp_path, "half", settings="all.v_th=0.5")
    early_all_run = _run_counts(model_path, image, tmp_path, "early", TWO_PHASE,
                                "all.v_th_early=0.5 all.t_switch=1*second")
    _assert_same_counts(one_half, early_all_run)
    one = _run_counts(model_path, image, tmp_path, "one")
    never = _run_counts(model_path, image, tmp_path, "never", TWO_PHASE, "all.v_th_early=0.5 all.t_switch=0*ms")
    _assert_same_counts(one, never)


def test_two_phase_image_layer_equals_a_literal_loop(tiny_h5, tmp_path):
    """Layer 0 (constant current I) against a literal port of the neuron file's rule: theta = 0.4 before
    step 12, 1 after; +1 spike at v >= theta (v -= theta), -1 spike at v <= -theta/alpha (v += theta/alpha);
    in float32, the default precision (the port rounds as the network does)."""
    from brainyolo.ann.reference import conv2d

    model_path, image = tiny_h5
    steps, switch = 30, 12
    counts = _run_counts(model_path, image, tmp_path, "two", TWO_PHASE, f"0.v_th_early=0.4 0.t_switch={switch}*ms",
                         steps)
    layer = load_model(model_path).normalized_graph().layers[0]
    current = conv2d(letterbox(load_image(image), 96, 96)[0], layer.weight, layer.bias, layer.stride,
                     layer.pad).astype(np.float32)
    alpha = np.float32(layer.alpha)
    v, positive, negative = np.zeros_like(current), np.zeros(current.shape, int), np.zeros(current.shape, int)
    for step in range(steps):
        theta = np.float32(0.4 if step < switch else 1.0)
        v += current
        up, down = v >= theta, v <= -theta / alpha
        v[up] -= theta
        v[down] += theta / alpha
        positive += up
        negative += down
    np.testing.assert_array_equal(counts["00"][0], positive)
    np.testing.assert_array_equal(counts["00"][1], negative)
    one_phase = _run_counts(model_path, image, tmp_path, "one", steps=steps)["00"][0]
    assert 0 < positive.sum() and (positive != one_phase).any()


TRACKING = "if_signed_ibt_tracking"


def _image_layer_current(model_path, image):
    from brainyolo.ann.reference import conv2d

    layer = load_model(model_path).normalized_graph().layers[0]
    current = conv2d(letterbox(load_image(image), 96, 96)[0], layer.weight, layer.bias, layer.stride, layer.pad)
    return current.astype(np.float64), float(layer.alpha)


def test_tracking_neuron_rounds_both_sides_on_the_image_layer(tiny_h5, tmp_path):
    """Layer 0 (constant current I, v_th 1, V(0) = 0.5): the tracking neuron's net count is leaky(T * I)
    rounded to the nearest integer on both sides, +floor(T * I + 0.5) spikes for I > 0 and
    -floor(-alpha * T * I + 0.5) for I < 0; if_signed_ibt rounds only its positive side (its negative
    count is floor(alpha * (-0.5 - T * I)): the leaky side toward zero)."""
    model_path, image = tiny_h5
    steps = 25
    tracking = _run_counts(model_path, image, tmp_path, "tracking", TRACKING, "0.v_init=0.5", steps)["00"]
    ibt = _run_counts(model_path, image, tmp_path, "ibt", settings="0.v_init=0.5", steps=steps)["00"]
    current, alpha = _image_layer_current(model_path, image)
    leaky = steps * current * np.where(current > 0, 1.0, alpha)
    clear = np.abs(np.abs(leaky) + 0.5 - np.round(np.abs(leaky) + 0.5)) > 1e-4  # away from a rounding edge
    up, down = clear & (current > 0) & (current < 1), clear & (current < 0) & (current > -1 / alpha)
    assert up.sum() > 1000 and down.sum() > 1000
    np.testing.assert_array_equal(tracking[0][up], np.floor(leaky[up] + 0.5))
    np.testing.assert_array_equal(tracking[1][up], 0)
    np.testing.assert_array_equal(tracking[1][down], np.floor(-leaky[down] + 0.5))
    np.testing.assert_array_equal(tracking[0][down], 0)
    truncated = (-0.5 - steps * current) * alpha  # if_signed_ibt: V(0) 0.5 to the threshold -1 / alpha
    edge_free = down & (np.abs(truncated - np.round(truncated)) > 1e-4)
    np.testing.assert_array_equal(ibt[1][edge_free], np.maximum(np.floor(truncated[edge_free]), 0))
    assert (tracking[1][down] > ibt[1][down]).sum() > 100  # the leaky side rounded instead of truncated
    np.testing.assert_array_equal(tracking[0][up], ibt[0][up])


def test_tracking_neuron_with_v_init_0_is_if_signed_ibt_for_a_constant_input(tiny_h5, tmp_path):
    """V(0) = 0 rounds toward zero on both sides: for a constant input (the image layer) the tracking
    neuron fires exactly the spikes of if_signed_ibt; deeper layers, whose inputs change, differ."""
    model_path, image = tiny_h5
    tracking = _run_counts(model_path, image, tmp_path, "tracking", TRACKING, steps=20)
    ibt = _run_counts(model_path, image, tmp_path, "ibt", steps=20)
    for x, y in zip(tracking["00"], ibt["00"], strict=True):
        np.testing.assert_array_equal(x, y)
    assert tracking["00"][1].sum() > 0
    assert any(not np.array_equal(tracking[name][k], ibt[name][k]) for name in tracking for k in (0, 1))


@pytest.mark.long
@pytest.mark.standalone_only
def test_tracking_neuron_reads_v_init_through_run_args(tiny_h5, tmp_path, build_cache):
    """A neuron file that reads its own v_init gets the run's value in the compiled binary too: the
    C++ run with V(0) = 0.5 and hysteresis 0.5 until step 10 gives the runtime network's spikes, and
    V(0) = 0.5 changes them (the negative side rounds)."""
    from brainyolo.spiking.parameters import parse_setting

    model_path, image = tiny_h5
    changed = parse_setting("all.v_init=0.5") + parse_setting("all.hysteresis=0.5") + parse_setting(
        "all.t_hysteresis=10*ms")
    counts = {}
    for device, parameters in (("cpp_standalone", changed), ("runtime", changed), ("zero", None)):
        settings = SimulationSettings(steps=20, device="runtime" if device == "zero" else device, threads=1,
                                      parameters=parameters or SimulationSettings().parameters,
                                      build=BuildOptions(neuron=TRACKING))
        simulate(model_path, [image], settings, tmp_path / device, progress=False)
        counts[device] = _counts(tmp_path / device / "recordings.h5")
    _assert_same_counts(counts["cpp_standalone"], counts["runtime"])
    assert counts["runtime"]["00"][1].sum() > counts["zero"]["00"][1].sum()


def _tracking_port(drive, v_init, hysteresis, alpha=0.1, hold_positive=0):
    """A literal port of if_signed_ibt_tracking (v_th 1): the net count after every step."""
    s, q, last, counts = 0.0, 0, 0, []
    for value in drive:
        s += value
        owed = s * (1.0 if s > 0 else alpha) - q
        if owed >= 1 - v_init + hysteresis * (last < 0):
            q, last = q + 1, 1
        elif owed <= -(0.5 + abs(v_init - 0.5) + hysteresis * (last > 0)) and (not hold_positive or s < 0 or q <= 0):
            q, last = q - 1, -1
        counts.append(q)
    return counts


def _drive_tracking_neuron(drive, **parameters):
    """The neuron file alone in Brian2's runtime, one neuron, V(0) = 0.5: ``drive`` as its input current,
    one step each; the net count after every step and the spikes of both signs at the end."""
    import brian2

    from brainyolo.spiking.layer_models import with_spike_counters
    from brainyolo.spiking.neurons import load_neuron_model, neuron_group

    brian2.start_scope()
    group = neuron_group(with_spike_counters(load_neuron_model(TRACKING)), 1, name="tracking_check*",
                         v_init=0.5, **parameters)
    group.v = 0.5
    counts = []

    @brian2.network_operation(dt=1 * brian2.ms, when="start")
    def set_input(t):  # before the step's state update, as setting I between one-step runs would
        group.I = drive[int(round(t / brian2.ms))]

    @brian2.network_operation(dt=1 * brian2.ms, when="end")
    def count():  # after the step's threshold and resets
        counts.append(int(group.positive_count[0]) - int(group.negative_count[0]))

    brian2.Network(group, set_input, count).run(len(drive) * brian2.ms)  # (one run: no run overhead per step)
    return counts, int(group.positive_count[0]) + int(group.negative_count[0])


@pytest.mark.long
@pytest.mark.parametrize("hysteresis", [0.0, 0.5])
def test_tracking_neuron_takes_spikes_back_when_its_input_turns(hysteresis):
    """The neuron file alone, one neuron, V(0) = 0.5: +0.32 per step for 10 steps, then -0.32 for 40
    (no partial sum sits on a rounding edge). Without hysteresis the net count after every step is
    round(leaky(s)) of the input s integrated so far: up to 3, back through 0, down to -1 on the leaky
    side; with it, a spike against the previous one's sign waits for ``hysteresis`` more. Both equal a
    literal port of the rule."""
    drive = np.r_[np.full(10, 0.32), np.full(40, -0.32)]
    counts, _ = _drive_tracking_neuron(drive, hysteresis=hysteresis)
    assert counts == _tracking_port(drive, 0.5, hysteresis)
    s = np.cumsum(drive)
    rounded = list(np.floor(np.where(s > 0, s, 0.1 * s) + 0.5).astype(int))
    assert max(counts) == 3 and counts[-1] == -1
    if hysteresis == 0:
        assert counts == rounded
    else:  # the way down lags: 3 -> 2 only at s <= 2 (owed <= -1), where rounding turns at s < 2.5
        assert counts != rounded and counts.index(2, 10) > rounded.index(2, 10)


@pytest.mark.long
def test_tracking_neuron_holding_positive_spikes_takes_them_back_only_below_zero():
    """hold_positive = 1, one neuron, V(0) = 0.5: the input climbs to 2.88 (3 spikes), swings down to
    1.28 and back to 2.56 (the free neuron takes one spike back and re-emits it: a +1/-1 pair; the
    holding one keeps its 3, as if_signed_ibt's positive side would), then falls to -11.2: below zero
    both take everything back and round the leaky side, -1 = round(-1.12). Both equal the port."""
    drive = np.r_[np.full(9, 0.32), np.full(5, -0.32), np.full(4, 0.32), np.full(43, -0.32)]
    (free, free_spikes), (held, held_spikes) = (_drive_tracking_neuron(drive, hold_positive=h) for h in (0, 1))
    assert free == _tracking_port(drive, 0.5, 0.0, hold_positive=0)
    assert held == _tracking_port(drive, 0.5, 0.0, hold_positive=1)
    assert min(free[9:18]) == 1 and max(free[9:18]) == 3 and min(held[9:18]) == 3  # the swing: held keeps 3
    assert free[-1] == held[-1] == -1
    assert held_spikes < free_spikes  # no +1/-1 pairs on the positive side


def _first_input_steps(run_dir, model_path, steps):
    """Per output layer, the first recorded step whose V is not the bias alone (t * b~), and the bias check."""
    graph = load_model(model_path).normalized_graph()
    first = {}
    with h5py.File(run_dir / "recordings.h5") as f:
        for index, group in f["images/0000/output"].items():
            v = group["v"][()]  # (checkpoints, C, H, W): every step 1..steps
            bias = graph.layers[int(index)].bias.astype(np.float64)[None, :, None, None]
            only_bias = np.all(np.abs(v - np.arange(1, steps + 1)[:, None, None, None] * bias) < 1e-9, axis=(1, 2, 3))
            first[int(index)] = int(np.argmin(only_bias)) + 1 if not only_bias.all() else steps + 1
    return first


@pytest.mark.parametrize("schedule", ["delayed", "same_step"])
def test_schedules_deliver_when_the_decoder_assumes(tiny_h5, tmp_path, schedule):
    """Output membranes get no synaptic input before the decoder's delay (and get it right after it, in
    these networks); same-step spikes cross the network within their step. Biases are zeroed: a
    hidden neuron's own bias makes it fire without any input, which no delay bounds."""
    from brainyolo.ann.graph import Conv
    from brainyolo.readout.decoding import Decoder

    source, image = tiny_h5
    model = load_model(source)
    for layer in model.graph.layers:
        if isinstance(layer, Conv):
            layer.bias = np.zeros_like(layer.bias)
    model_path = tmp_path / "no-bias.h5"
    save_model(model, model_path)
    steps = 16
    firsts = {}
    for kind in ("delayed", schedule):
        settings = SimulationSettings(steps=steps, checkpoints=tuple(range(1, steps + 1)), device="runtime",
                                      build=BuildOptions(schedule=kind))
        simulate(model_path, [image], settings, tmp_path / kind, progress=False)
        firsts[kind] = _first_input_steps(tmp_path / kind, model_path, steps)
        decoder = Decoder.for_model(load_model(model_path), schedule=kind)
        # layer 12 reads a single chain of layers: no input before the decoder's delay (neurons may
        # need a few steps to reach their thresholds, so it may come later). Layer 19 reads a route of
        # an early and a late path: delayed, the early path's spikes arrive before the route's delay,
        # which is its latest input's by design.
        assert firsts[kind][12] > decoder.output_delay(12), (kind, firsts)
    assert firsts["delayed"][12] > 11
    if schedule == "same_step":
        assert all(decoder.output_delay(i) == 0 for i in firsts["same_step"])
        assert all(firsts["same_step"][i] < firsts["delayed"][i] - 5 for i in firsts["delayed"]), firsts


@pytest.mark.long
def test_same_step_rates_approach_ann_activations(tiny_h5, tmp_path):
    model_path, image = tiny_h5
    errors = {}
    for steps in (40, 320):
        settings = SimulationSettings(steps=steps, device="runtime", build=BuildOptions(schedule="same_step"))
        simulate(model_path, [image], settings, tmp_path / str(steps), progress=False)
        errors[steps] = layer_errors(model_path, image, tmp_path / str(steps), steps)
    for key in errors[40]:
        assert errors[320][key] < errors[40][key], key
    assert errors[320][0] <= 2 / 320


@pytest.mark.long
@pytest.mark.standalone_only
def test_same_step_runtime_and_cpp_standalone_identical(tiny_h5, tmp_path, build_cache):
    """Brian2's standalone code runs the same-step order too (its own objects and the custom ones)."""
    model_path, image = tiny_h5
    for device in ("runtime", "cpp_standalone"):
        simulate(model_path, [image], SimulationSettings(steps=30, checkpoints=(10, 30), device=device, threads=2,
                                                         build=BuildOptions(schedule="same_step")),
                 tmp_path / device, progress=False)
    with h5py.File(tmp_path / "runtime/recordings.h5") as a, h5py.File(tmp_path / "cpp_standalone/recordings.h5") as b:
        compared = 0
        for name in ("images/0000/layers", "images/0000/output"):
            for layer in a[name]:
                for key in a[name][layer]:
                    np.testing.assert_array_equal(a[name][layer][key][()], b[name][layer][key][()],
                                                  err_msg=f"{name}/{layer}/{key}")
                    compared += 1
        assert compared > 20
        assert a.attrs["schedule"] == b.attrs["schedule"] == "same_step"


@pytest.mark.codegen_independent
def test_zeroed_by_memset_replaces_exactly_the_zeroing_loops():
    """Brian2's _init_arrays lines, hand-written: each zeroing loop (with or without OpenMP's pragma) becomes one
    memset of its array's bytes; an 'arange', a dynamic array's loop, a non-zero value and another pragma stay byte
    for byte; a second pass changes nothing."""
    from brainyolo.spiking.device import zeroed_by_memset

    pragma = "    #pragma omp parallel for schedule(static)\n"
    zero_float = "    for(int i=0; i<43095; i++) _array_v[i] = 0;\n"
    zero_char = "    for(int i=0; i<7; i++) _array_b[i] = 0;\n"
    kept = ("    for(int i=0; i<9; i++) _array_i[i] = 0 + i;\n"
            + pragma + "    for(int i=0; i<9; i++) _array_j[i] = 0 + i;\n"
            "    for(int i=0; i<3; i++) _dynamic_array_t[i] = 0;\n"
            "    for(int i=0; i<3; i++) _array_w[i] = 0.5;\n")
    text = ("    _array_v = new float[43095];\n" + pragma + zero_float
            + "    _array_b = new char[7];\n" + zero_char + kept)
    rewritten = zeroed_by_memset(text)
    assert rewritten == ("#include <cstring>\n    _array_v = new float[43095];\n"
                         "    std::memset(_array_v, 0, sizeof(_array_v[0]) * 43095);\n    _array_b = new char[7];\n"
                         "    std::memset(_array_b, 0, sizeof(_array_b[0]) * 7);\n" + kept)
    assert zeroed_by_memset(rewritten) == rewritten
    assert zeroed_by_memset(kept) == kept  # nothing to rewrite: no include either


@pytest.mark.codegen_independent
def test_without_writes_removes_exactly_the_named_arrays_blocks():
    """Brian2's _write_arrays blocks (static and dynamic), hand-written: the named ones go, the others stay
    byte for byte, and a name without such a block is an error rather than a silent write."""
    from brainyolo.spiking.device import without_writes

    def block(name, dynamic=False):
        body = (f"        if (! {name}.empty() )\n        {{\n            outfile_{name}.write(x);\n        }}\n"
                if dynamic else f"        outfile_{name}.write(reinterpret_cast<char*>({name}), 4);\n")
        return (f"    ofstream outfile_{name};\n    outfile_{name}.open(results_dir + \"{name}_1\", ios::binary);\n"
                f"    if(outfile_{name}.is_open())\n    {{\n{body}    }} else\n    {{\n"
                f"        std::cout << \"Error writing output file for {name}.\" << endl;\n    }}\n")

    names = ["_array_a_v", "_array_a_kernel", "_dynamic_array_m_t", "_array_b_v"]
    text = "void _write_arrays()\n{\n" + "".join(block(n, n.startswith("_dynamic")) for n in names) + "}\n"
    kept = without_writes(text, frozenset({"_array_a_kernel", "_array_a_v"}))
    assert kept == "void _write_arrays()\n{\n" + block("_dynamic_array_m_t", True) + block("_array_b_v") + "}\n"
    assert without_writes(text, frozenset()) == text
    with pytest.raises(RuntimeError, match="_array_c_v"):
        without_writes(text, frozenset({"_array_c_v"}))


@pytest.mark.codegen_independent
def test_written_together_makes_each_block_a_task_and_writes_the_run_info_after_them():
    """Brian2's _write_arrays, hand-written: every array's block a task of its own, byte for byte, in one parallel
    region that ends (every task done) before the run info, which marks a run's results complete, is written."""
    from brainyolo.spiking.device import WRITTEN_TOGETHER, written_together

    def block(name):
        return (f"    ofstream outfile_{name};\n    outfile_{name}.open(results_dir + \"{name}_1\", ios::binary);\n"
                f"    if(outfile_{name}.is_open())\n    {{\n        outfile_{name}.write(x, 4);\n    }} else\n    {{\n"
                f"        std::cout << \"Error writing output file for {name}.\" << endl;\n    }}\n")

    info = "    // Write last run info to disk\n    ofstream outfile_last_run_info;\n"
    text = "void _write_arrays()\n{\n" + block("_array_a_v") + "\n" + block("_dynamic_array_m_t") + info + "}\n"
    together = written_together(text)
    assert together == ("void _write_arrays()\n{\n" + f"    {WRITTEN_TOGETHER}\n    #pragma omp parallel\n"
                        "    #pragma omp single\n    {\n"
                        + "".join(f"    #pragma omp task\n    {{\n{block(name)}    }}\n"
                                  for name in ("_array_a_v", "_dynamic_array_m_t"))
                        + "    }\n" + info + "}\n")
    assert written_together(together) == together
    assert written_together(info) == info


@pytest.mark.standalone_only
def test_a_run_argument_of_the_wrong_size_is_refused_before_any_results_folder(tiny_h5, build_cache, monkeypatch):
    """A run's values are checked (Brian2's words) before its results folder is made: the error is the caller's, the
    runner keeps its results in memory, no folder is left, and the next image runs as before."""
    from brainyolo.spiking import runners
    from brainyolo.spiking.simulate import Simulator

    model_path, image = tiny_h5
    with Simulator(model_path, _standalone_settings()) as simulator:
        runner = simulator._runner
        good = simulator.run(image)
        inputs = runner.network.image_inputs
        monkeypatch.setattr(runner.network, "image_inputs",
                            lambda chw: {key: np.append(value, 0.0) for key, value in inputs(chw).items()})
        made = []
        folder = runners.results_folder

        @contextlib.contextmanager
        def watched(*args):
            with folder(*args) as result_dir:
                made.append(result_dir)
                yield result_dir

        monkeypatch.setattr(runners, "results_folder", watched)
        with pytest.raises(TypeError, match="Incorrect size for variable"):
            simulator.run(image)
        assert not made and runner.results_in_memory
        monkeypatch.setattr(runner.network, "image_inputs", inputs)
        again = simulator.run(image)
        assert not list((runner.directory / "results").iterdir())
    _assert_same_recordings(good, again)


@pytest.mark.standalone_only
def test_results_written_into_memory_read_as_results_written_into_the_build(tiny_h5, tmp_path, build_cache,
                                                                          monkeypatch):
    """The binary writes a run's results through a link into the scratch folder when it has room, into the
    build folder with ``BRAINYOLO_SCRATCH=off``: the same recordings either way, and nothing left behind."""
    from brainyolo.spiking import runners
    from brainyolo.spiking.simulate import Simulator

    removed = []
    folder = runners.results_folder

    @contextlib.contextmanager
    def watched(build, expected=None):
        with folder(build, expected) as result_dir:
            yield result_dir
            removed.append(result_dir.is_symlink())

    monkeypatch.setattr(runners, "results_folder", watched)
    model_path, image = tiny_h5
    settings = _standalone_settings()
    scratch = tmp_path / "scratch"
    with Simulator(model_path, settings) as simulator:
        runs = []
        for setting in (str(scratch), "off", str(scratch)):
            monkeypatch.setenv("BRAINYOLO_SCRATCH", setting)
            runs.append(simulator.run(image).data)
        results = simulator._runner.directory / "results"
    assert removed == [True, False, True]
    assert list(scratch.iterdir()) == [] and list(results.iterdir()) == []
    for data in runs[1:]:
        for index, layer in runs[0]["layers"].items():
            for key in ("positive_count", "negative_count", "sample_spike_neuron", "population_positive"):
                np.testing.assert_array_equal(layer[key], data["layers"][index][key])
        for index, output in runs[0]["output"].items():
            np.testing.assert_array_equal(output["v"], data["output"][index]["v"])
    assert sum(int(layer["positive_count"].sum()) for layer in runs[0]["layers"].values()) > 0


@pytest.mark.standalone_only
def test_results_cut_short_in_memory_run_again_on_disk_and_on_disk_are_an_error(tiny_h5, tmp_path, build_cache,
                                                                               monkeypatch):
    """Brian2's binary does not check its writes: results that a full scratch folder cut short are found (a
    result file truncated by hand here), and the image runs again with its results on disk, with the same
    recordings; results cut short on disk are one error line."""
    from brainyolo.io.errors import BrainyoloError
    from brainyolo.spiking import build_cache as cache_module
    from brainyolo.spiking import runners
    from brainyolo.spiking.simulate import Simulator

    model_path, image = tiny_h5
    settings = _standalone_settings()
    monkeypatch.setenv("BRAINYOLO_SCRATCH", str(tmp_path / "scratch"))
    monkeypatch.setattr(cache_module, "SCRATCH_MARGIN_BYTES", 0)
    folders, cut = [], set()
    check = runners.incomplete_results

    def truncating(folder, files):  # the largest fixed-size result cut to half where ``cut`` says
        where = "memory" if folder.is_symlink() else "disk"
        if where in cut:
            largest = max(files, key=files.get)
            (folder / largest).write_bytes((folder / largest).read_bytes()[:files[largest] // 2])
        folders.append(where)
        return check(folder, files)

    with Simulator(model_path, settings) as simulator:
        monkeypatch.setattr(runners, "incomplete_results", truncating)
        reference = simulator.run(image).data
        cut.add("memory")
        again = simulator.run(image).data
        assert folders == ["memory", "memory", "disk"]  # in full; cut short in memory, then on disk in full
        monkeypatch.setenv("BRAINYOLO_SCRATCH", "off")
        cut.add("disk")
        with pytest.raises(BrainyoloError, match="came out short.*disk full"):
            simulator.run(image)
    for index, layer in reference["layers"].items():
        np.testing.assert_array_equal(layer["positive_count"], again["layers"][index]["positive_count"])
        np.testing.assert_array_equal(layer["negative_count"], again["layers"][index]["negative_count"])


@pytest.mark.standalone_only
def test_a_run_that_brian2_cannot_read_back_from_a_full_memory_runs_again_on_disk(tiny_h5, tmp_path, build_cache,
                                                                                  monkeypatch):
    """A full memory as Brian2 meets it: the binary's last write (``last_run_info.txt``, emptied here by a
    wrapper around the real command: a command of the user's, with which the binary is started per image) fails,
    and Brian2's own reading of it raises. The image runs again with its results on disk, the same recordings come
    out, and the runner's later images stay on disk (tests/spiking/test_binary_server.py: a served binary's)."""
    import brian2

    from brainyolo.spiking import runners
    from brainyolo.spiking.simulate import Simulator

    model_path, image = tiny_h5
    settings = _standalone_settings()
    monkeypatch.setenv("BRAINYOLO_SCRATCH", str(tmp_path / "scratch"))
    shim = tmp_path / "full-memory.sh"
    shim.write_text('"$@"; code=$?; previous=""\n'
                    'for arg in "$@"; do [ "$previous" = --results_dir ] && dir="$arg"; previous="$arg"; done\n'
                    '[ -L "${dir%/}" ] && : > "${dir}last_run_info.txt"\nexit $code\n')
    in_memory = []
    folder = runners.results_folder

    @contextlib.contextmanager
    def watched(build, expected=None):
        with folder(build, expected) as result_dir:
            in_memory.append(result_dir.is_symlink())
            yield result_dir

    monkeypatch.setattr(runners, "results_folder", watched)
    with Simulator(model_path, settings) as simulator:
        reference = simulator.run(image).data
        prefs = brian2.prefs.devices.cpp_standalone
        prefs.run_cmd_unix = ["bash", str(shim), *prefs.run_cmd_unix]
        again, later = simulator.run(image).data, simulator.run(image).data
    assert in_memory == [True, True, False, False]
    for data in (again, later):
        for index, layer in reference["layers"].items():
            np.testing.assert_array_equal(layer["positive_count"], data["layers"][index]["positive_count"])
    assert list((tmp_path / "scratch").iterdir()) == []


@pytest.mark.standalone_only
def test_a_run_leaves_the_value_cache_as_brian2s_own_run_does(tmp_path):
    """The device's run shows Brian2's run only the cached values that are known; afterwards the cache is the
    one Brian2's own run leaves from the same start (the same entries forgotten, the same values kept), and a
    variable set by a run argument reads the run's value, not the cached build value."""
    import brian2
    from brian2.devices.cpp_standalone.device import CPPStandaloneDevice

    from brainyolo.spiking.device import standalone

    def cache_state(device, group):
        names = {id(group.variables[name]): name for name in ("a", "b", "c")}
        return {names[id(var)]: None if value is None else np.asarray(value).tolist()
                for var, value in device.array_cache.items() if id(var) in names}

    def key(var):
        try:
            return var.owner.name, var.name
        except ReferenceError:  # an owner gone (a subgroup's index)
            return "?", var.name

    def whole_cache(device, cache=None):  # every entry: (owner, variable) -> None or its values
        return {key(var): None if value is None else np.asarray(value).tolist()
                for var, value in (device.array_cache if cache is None else cache).items()}

    with standalone(1, directory=str(tmp_path / "build"), build_on_run=False):
        group = brian2.NeuronGroup(4, "a : 1\nb : 1\nc : 1 (constant)", name="cached")
        group.a = [1.0, 2.0, 3.0, 4.0]  # known at build: cached
        group.b = "2 * i"  # computed in the binary: not known
        group.c = 5.0
        brian2.run(brian2.ms)
        device = brian2.get_device()
        device.build(directory=str(tmp_path / "build"), compile=True, run=False, with_output=False)
        start = dict(device.array_cache)
        assert cache_state(device, group) == {"a": [1.0, 2.0, 3.0, 4.0], "b": None, "c": [5.0] * 4}
        cache = device.array_cache
        with pytest.raises(TypeError):  # a run that fails in Brian2 leaves the cache as it was
            device.run(directory=str(tmp_path / "build"), with_output=False, run_args={group.a: np.zeros(3)})
        assert device.array_cache is cache and whole_cache(device) == whole_cache(device, start)
        run_args = {group.a: np.array([9.0, 8.0, 7.0, 6.0])}
        device.run(directory=str(tmp_path / "build"), with_output=False, run_args=run_args)
        ours, ours_whole = cache_state(device, group), whole_cache(device)
        assert group.a[:].tolist() == [9.0, 8.0, 7.0, 6.0] and group.b[:].tolist() == [0.0, 2.0, 4.0, 6.0]
        device.array_cache = start
        CPPStandaloneDevice.run(device, directory=str(tmp_path / "build"), with_output=False, run_args=run_args)
        assert ours == cache_state(device, group) == {"a": None, "b": None, "c": [5.0] * 4}
        assert ours_whole == whole_cache(device)


@pytest.mark.codegen_independent
def test_the_spike_count_read_out_of_a_vmem_output_is_refused_in_one_line():
    from brainyolo.data.embedded import model_file
    from brainyolo.io.errors import BrainyoloError
    from brainyolo.spiking.simulate import Simulator

    with Simulator(model_file("embedded-direct"), SimulationSettings(steps=2, device="runtime")) as simulator:
        assert simulator.decoder("vmem").graph is not None
        with pytest.raises(BrainyoloError, match="needs the spiking output layer"):
            simulator.decoder("spikes")


@pytest.mark.standalone_only
def test_results_mapped_from_their_files_equal_the_copied_ones(tiny_h5, build_cache, monkeypatch):
    """A run's results read by mapping their files (every file here: the threshold at 0 bytes) hold what Brian2's
    copies hold, and outlive their results folder; where mapping is off, nothing is mapped."""
    import mmap

    import brainyolo.spiking.device as device_module
    from brainyolo.spiking.simulate import Simulator

    def mapped(array) -> bool:
        while array is not None and not isinstance(array, mmap.mmap):
            array = getattr(array, "base", None)
        return array is not None

    model_path, image = tiny_h5
    runs = {}
    for maps in (False, True):
        monkeypatch.setattr(device_module, "MAPS_FILES", maps and device_module.MAPS_FILES)
        monkeypatch.setattr(device_module, "MAPPED_RESULT_BYTES", 0)
        with Simulator(model_path, _standalone_settings()) as simulator:
            runs[maps] = simulator.run(image)
            results = simulator._runner.directory / "results"
            assert not [path for path in results.iterdir() if path.is_dir()]  # the run's folder is gone
    counts = [layer["positive_count"] for layer in runs[True].data["layers"].values()]
    assert any(map(mapped, counts)) == device_module.MAPS_FILES
    assert not any(mapped(layer["positive_count"]) for layer in runs[False].data["layers"].values())
    _assert_same_recordings(runs[False], runs[True])
    assert runs[True].synaptic_events == runs[False].synaptic_events > 0
