"""The NIR bridge by hand: the neuron files' steps on one neuron with hand-computed spike times, the composed
connections, every refused node named, import -> export -> import keeping every parameter, and docs/nir.md's
commands and Python example run as shown."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import nir
import numpy as np
import pytest
from conftest import run_cli

import brainyolo
from brainyolo.io.errors import BrainyoloError
from brainyolo.nir import layers as L
from brainyolo.nir.connections import composed
from brainyolo.nir.nir_export import graph_from_model
from brainyolo.nir.nir_import import import_nir
from brainyolo.nir.simulate import run_spiking_model

REPO = Path(__file__).resolve().parents[2]
GOLDEN_NIR = REPO / "tests" / "files" / "nir_conv_snn.nir"


def one_neuron(neuron) -> nir.NIRGraph:
    """input (1) -> Linear (weight 0.5) -> one neuron -> output."""
    nodes = {"input": nir.Input(input_type={"input": np.array([1])}), "w": nir.Linear(weight=np.array([[0.5]])),
             "n": neuron, "output": nir.Output(output_type={"output": np.array([1])})}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "w"), ("w", "n"), ("n", "output")])


def test_nir_lif_one_neuron_by_hand():
    """nir_lif: dt/tau = 1e-3 / 4e-3 = 1/4, r = 2, input 0.5 every step: drive r I = 1, v = 1 - (3/4)^t.
    v_threshold 0.6: v = 0.25, 0.4375, 0.578125, 0.68359375 -> spike at step 3 (0-based), reset to -0.125."""
    model = import_nir(one_neuron(nir.LIF(tau=np.array([4e-3]), r=np.array([2.0]), v_leak=np.array([0.0]),
                                          v_threshold=np.array([0.6]), v_reset=np.array([-0.125]))))
    run = run_spiking_model(model, np.ones((6, 1), np.uint8), record={"n": ["v"]})
    assert run.spikes["n"][:, 0].tolist() == [0, 0, 0, 1, 0, 0]
    v = [0.25, 0.4375, 0.578125, -0.125]
    v += [v[-1] + (1 - v[-1]) / 4, None]
    v[5] = v[4] + (1 - v[4]) / 4
    np.testing.assert_allclose(run.states["n"]["v"][:, 0], v, rtol=0, atol=1e-15)


def test_nir_lif_leak_pulls_toward_v_leak():
    """No input: v relaxes from v_leak's side only by its leak: v_leak = 2, dt/tau = 1/2: v = 1, 1.5 -> spike
    (v_threshold 1.25) at step 1, reset 0, then 1 again."""
    model = import_nir(one_neuron(nir.LIF(tau=np.array([2e-3]), r=np.array([1.0]), v_leak=np.array([2.0]),
                                          v_threshold=np.array([1.25]), v_reset=np.array([0.0]))))
    run = run_spiking_model(model, np.zeros((3, 1), np.uint8), record={"n": ["v"]})
    assert run.spikes["n"][:, 0].tolist() == [0, 1, 0]
    np.testing.assert_array_equal(run.states["n"]["v"][:, 0], [1.0, 0.0, 1.0])


def test_nir_if_one_neuron_by_hand():
    """nir_if: v += r I each step (Norse's IAF: no dt). r = 1, I = 0.5, v_threshold 1.2: 0.5, 1.0, 1.5 -> spike at
    step 2, reset 0; a threshold reached exactly (1.0) does not fire (v > v_threshold)."""
    model = import_nir(one_neuron(nir.IF(r=np.array([1.0]), v_threshold=np.array([1.2]), v_reset=np.array([0.0]))))
    run = run_spiking_model(model, np.ones((5, 1), np.uint8), record={"n": ["v"]})
    assert run.spikes["n"][:, 0].tolist() == [0, 0, 1, 0, 0]
    np.testing.assert_array_equal(run.states["n"]["v"][:, 0], [0.5, 1.0, 0.0, 0.5, 1.0])
    exact = import_nir(one_neuron(nir.IF(r=np.array([1.0]), v_threshold=np.array([1.0]), v_reset=np.array([0.0]))))
    assert run_spiking_model(exact, np.ones((3, 1), np.uint8)).spikes["n"][:, 0].tolist() == [0, 0, 1]


def test_nir_cubalif_one_neuron_by_hand():
    """nir_cubalif: i += 1/2 (w_in I - i), then v += 1/2 (r i - v); w_in = 2, I = 0.5 (drive 1), r = 1:
    i = 0.5, 0.75, 0.875; v = 0.25, 0.5, 0.6875 -> spike at step 2 with v_threshold 0.6; i carries on."""
    model = import_nir(one_neuron(nir.CubaLIF(tau_syn=np.array([2e-3]), tau_mem=np.array([2e-3]),
                                              r=np.array([1.0]), v_leak=np.array([0.0]),
                                              v_threshold=np.array([0.6]), v_reset=np.array([0.0]),
                                              w_in=np.array([2.0]))))
    run = run_spiking_model(model, np.ones((3, 1), np.uint8), record={"n": ["v", "i_syn"]})
    assert run.spikes["n"][:, 0].tolist() == [0, 0, 1]
    np.testing.assert_array_equal(run.states["n"]["i_syn"][:, 0], [0.5, 0.75, 0.875])
    np.testing.assert_array_equal(run.states["n"]["v"][:, 0], [0.25, 0.5, 0.0])


def test_composed_connection_is_pool_then_dense():
    """SumPool2d (2x2) -> Flatten -> Affine composes to weight[o, c, y // 2, x // 2]; the bias passes through."""
    rng = np.random.default_rng(1)
    weight, bias = rng.normal(size=(3, 8)), rng.normal(size=3)
    layers = [L.SumPool2d("p", (2, 2), (2, 2), (0, 0)), L.Flatten("f", 0, -1), L.Dense("d", weight, bias)]
    matrix, constant = composed(layers, (2, 4, 4))
    c, y, x = np.meshgrid(np.arange(2), np.arange(4), np.arange(4), indexing="ij")
    expected = weight.reshape(3, 2, 2, 2)[:, c, y // 2, x // 2].reshape(3, -1).T
    np.testing.assert_array_equal(matrix, expected)
    np.testing.assert_array_equal(constant, bias)


def test_conv_forward_matches_a_direct_sum():
    rng = np.random.default_rng(2)
    layer = L.Conv2d("c", rng.normal(size=(4, 2, 3, 2)), rng.normal(size=4), (2, 1), (1, 0), (1, 2), 2)
    x = rng.normal(size=(1, 4, 7, 6))
    out = L.forward_rule(layer, x, True)
    assert out.shape == (1, 4, 4, 4)
    padded = np.pad(x[0], ((0, 0), (1, 1), (0, 0)))
    f, oy, ox = 3, 2, 1  # output channel 3 reads input channels 2, 3 (second group)
    value = layer.bias[f] + sum(layer.weight[f, c, i, j] * padded[2 + c, oy * 2 + i, ox + 2 * j]
                                for c in range(2) for i in range(3) for j in range(2))
    assert out[0, f, oy, ox] == pytest.approx(value)


def test_round_trip_keeps_every_parameter(tmp_path):
    """import -> export -> import: the same layers, names, shapes and arrays (dtype included)."""
    first = import_nir(GOLDEN_NIR)
    brainyolo.export_nir(first, tmp_path / "again.nir")
    second = import_nir(tmp_path / "again.nir")
    assert [(layer.kind, layer.name) for layer in second.layers] == [(layer.kind, layer.name) for layer in first.layers]
    assert second.input_shape == first.input_shape and second.shapes() == first.shapes()
    for a, b in zip(first.layers, second.layers, strict=True):
        for key, value in vars(a).items():
            if isinstance(value, np.ndarray):
                assert value.dtype == getattr(b, key).dtype, key
                np.testing.assert_array_equal(value, getattr(b, key))
            else:
                assert value == getattr(b, key), key


def test_cli_round_trip_and_model_file(tmp_path):
    h5, back = tmp_path / "snn.h5", tmp_path / "back.nir"
    assert run_cli(["import-nir", str(GOLDEN_NIR), "--dt", "0.002", "-o", str(h5)])[0] == 0
    model = brainyolo.read_spiking_model(h5)
    assert model.dt == 0.002 and model.provenance["source"] == "nir_conv_snn.nir"
    code, out, err = run_cli(["export-nir", str(h5), "-o", str(back)])
    assert code == 0 and "6 layers" in out, err
    assert set(nir.read(back).nodes) == set(nir.read(GOLDEN_NIR).nodes)


@pytest.mark.parametrize("node, kind, problem", [
    (nir.LI(tau=np.array([1e-3]), r=np.array([1.0]), v_leak=np.array([0.0])), "LI", "has no equivalent"),
    (nir.Delay(delay=np.array([1e-3])), "Delay", "has no equivalent"),
    (nir.LIF(tau=np.array([-1e-3]), r=np.array([1.0]), v_leak=np.array([0.0]), v_threshold=np.array([1.0])), "LIF",
     "tau must be positive"),
    (nir.Threshold(threshold=np.array([1.0])), "Threshold", "has no equivalent"),
])
def test_refused_node_is_named_and_nothing_is_written(tmp_path, node, kind, problem):
    graph = one_neuron(node)
    graph.nodes["w"] = node  # in place of the Linear: the node under test reads the input
    graph.nodes["n"] = nir.IF(r=np.array([1.0]), v_threshold=np.array([1.0]))
    path, out = tmp_path / "bad.nir", tmp_path / "bad.h5"
    nir.write(path, graph)
    code, _, err = run_cli(["import-nir", str(path), "-o", str(out)])
    assert code == 2 and not out.exists()
    assert err.startswith(f"brainyolo: error: {path}: node 'w' ({kind}): ") and problem in err, err
    assert err.count("\n") == 1


def test_unreadable_file_is_one_line(tmp_path):
    path = tmp_path / "bad.nir"
    path.write_bytes(b"not hdf5")
    code, _, err = run_cli(["import-nir", str(path), "-o", str(tmp_path / "bad.h5")])
    assert code == 2 and err == f"brainyolo: error: {path}: not a readable NIR file: Unable to synchronously open " \
                                "file (file signature not found)\n" and not (tmp_path / "bad.h5").exists()


def test_branches_and_detectors_are_refused(tmp_path):
    graph = one_neuron(nir.IF(r=np.array([1.0]), v_threshold=np.array([1.0])))
    graph.edges.append(("input", "n"))
    with pytest.raises(BrainyoloError, match=r"node 'input' \(Input\): feeds 2 nodes"):
        import_nir(graph)
    code, _, err = run_cli(["export-nir", str(REPO / "brainyolo/data/direct.h5"), "-o", str(tmp_path / "d.nir")])
    assert code == 2 and "(YoloHead): NIR has no YoloHead node" in err and not (tmp_path / "d.nir").exists()


def test_model_file_refuses_damage(tmp_path):
    import h5py

    path = tmp_path / "snn.h5"
    brainyolo.save_spiking_model(import_nir(GOLDEN_NIR), path)
    with h5py.File(path, "a") as f:
        f["network/layers/001/tau"][0, 0, 0] = 5.0
    code, _, err = run_cli(["check", str(path)])
    assert code == 2 and "checksum" in err


def test_graph_from_model_names_nir_own_nodes():
    model = import_nir(GOLDEN_NIR)
    model.layers[0].name = "input"
    with pytest.raises(ValueError, match="'input' and 'output' name NIR's own nodes"):
        graph_from_model(model)


def test_truncated_and_missing_files_are_one_line(tmp_path):
    truncated, out = tmp_path / "cut.nir", tmp_path / "out.h5"
    truncated.write_bytes(GOLDEN_NIR.read_bytes()[:5000])
    for path, problem in ((truncated, "not a readable NIR file: "), (tmp_path / "none.nir", "no such file")):
        code, _, err = run_cli(["import-nir", str(path), "-o", str(out)])
        assert code == 2 and err.startswith(f"brainyolo: error: {path}: {problem}") and err.count("\n") == 1, err
        assert not out.exists()


def test_output_that_is_a_folder_is_one_line(tmp_path):
    """-o naming an existing folder: one line, exit 2, nothing written (was an internal error)."""
    h5 = tmp_path / "snn.h5"
    assert run_cli(["import-nir", str(GOLDEN_NIR), "-o", str(h5)])[0] == 0
    folder = tmp_path / "folder"
    folder.mkdir()
    for argv in (["import-nir", str(GOLDEN_NIR)], ["export-nir", str(h5)]):
        code, _, err = run_cli([*argv, "-o", str(folder)])
        assert code == 2 and err == f"brainyolo: error: {folder}: is a folder: give the name of the file to write\n"
        assert list(folder.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["folder", "snn.h5"]


def test_detector_commands_refuse_a_spiking_model_in_one_line(tmp_path):
    h5 = tmp_path / "snn.h5"
    brainyolo.save_spiking_model(import_nir(GOLDEN_NIR), h5)
    from PIL import Image

    image = tmp_path / "grey.png"
    Image.new("RGB", (32, 32), (128, 128, 128)).save(image)
    for command in ("detect", "simulate"):
        code, _, err = run_cli([command, str(h5), str(image), "-o", str(tmp_path / command)])
        assert code == 2 and err.count("\n") == 1 and "a spiking model file (brainyolo import-nir), not a " \
            "detector's: run it with brainyolo.run_spiking_model" in err, err
        assert not (tmp_path / command).exists()


def test_export_of_a_file_that_is_no_model_names_it(tmp_path):
    code, _, err = run_cli(["export-nir", str(GOLDEN_NIR), "-o", str(tmp_path / "x.nir")])
    assert code == 2 and err == f"brainyolo: error: {GOLDEN_NIR}: not a spiking model file (no " \
                                "format='brainyolo-snn')\n" and not (tmp_path / "x.nir").exists()


def test_check_reads_nir_files(tmp_path):
    code, out, _ = run_cli(["check", str(GOLDEN_NIR)])
    assert code == 0 and "NIR graph brainyolo import-nir reads: input 2x8x8, conv (Conv2d), lif1 (LIF)" in out
    graph = one_neuron(nir.LI(tau=np.array([1e-3]), r=np.array([1.0]), v_leak=np.array([0.0])))
    nir.write(tmp_path / "li.nir", graph)
    code, _, err = run_cli(["check", str(tmp_path / "li.nir")])
    assert code == 2 and "node 'n' (LI): brainyolo has no equivalent" in err and err.count("\n") == 1
    h5 = tmp_path / "snn.h5"
    brainyolo.save_spiking_model(import_nir(GOLDEN_NIR), h5)
    code, out, _ = run_cli(["check", str(h5)])
    assert code == 0 and out.rstrip().endswith("dt = 0.001; neuron layers: lif1 4x8x8, lif2 8"), out


@pytest.mark.parametrize("spikes, record, problem", [
    (np.zeros((2, 2, 8, 8), np.uint8), {"conv": ["v"]}, "'conv' is not a neuron layer of the model (its neuron "
                                                        "layers: lif1, lif2)"),
    (np.zeros((2, 2, 8, 8), np.uint8), {"lif2": ["i_syn"]}, "layer 'lif2' (LIF) has no variable 'i_syn'"),
    (np.zeros((2, 2, 8, 8)), None, "input spikes of dtype float64: expected 0 and 1 as integers or booleans"),
    (np.zeros((0, 2, 8, 8), np.uint8), None, r"input spikes of shape (0, 2, 8, 8): no steps to run"),
    (np.zeros((2, 8, 8), np.uint8), None, r"input spikes of shape (2, 8, 8): expected (steps, 2, 8, 8)"),
])
def test_run_refuses_bad_record_and_input(spikes, record, problem):
    model = import_nir(GOLDEN_NIR)
    with pytest.raises(ValueError, match=re.escape(problem)):
        run_spiking_model(model, spikes, record=record)
    run = run_spiking_model(model, np.ones((2, 2, 8, 8), bool), record={"lif2": "v"})
    assert run.states["lif2"]["v"].shape == (2, 8)


DOC = (REPO / "docs" / "nir.md").read_text(encoding="utf-8")


def test_docs_commands_and_example_run(tmp_path):
    """docs/nir.md's brainyolo commands and its Python example, as shown, in a folder holding the golden file."""
    (tmp_path / "tests" / "files").mkdir(parents=True)
    (tmp_path / "tests" / "files" / GOLDEN_NIR.name).write_bytes(GOLDEN_NIR.read_bytes())
    (bash,) = re.findall(r"^```bash\n(.*?)^```", DOC, re.M | re.S)
    commands = [line.split(" #")[0].strip() for line in bash.splitlines() if line.strip()]
    assert len(commands) == 3
    for command in commands:
        words = shlex.split(command)
        assert words[0] == "brainyolo"
        result = subprocess.run([sys.executable, "-m", "brainyolo", *words[1:]], cwd=tmp_path, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, f"{command}: {result.stderr}"
    (code,) = re.findall(r"^```python\n(.*?)^```", DOC, re.M | re.S)
    (tmp_path / "example.py").write_text(code)
    result = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "sweep-model.nir").exists()
    shown = re.search(r"^It prints .*?\n\n```text\n(.*?)^```", DOC, re.M | re.S)
    assert result.stdout == shown.group(1), result.stdout
