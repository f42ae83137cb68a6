"""Operation counts, energy and firing statistics against a tiny network computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from brainyolo.analysis.energy import (
    ann_macs,
    energy_over_steps,
    energy_table,
    operations_at_checkpoints,
    snn_operations,
)
from brainyolo.analysis.spikes import layer_statistics, population_over_time
from brainyolo.ann.graph import INPUT, Conv, Graph, MaxPool, Route

pytestmark = pytest.mark.codegen_independent


def tiny_graph() -> Graph:
    return Graph((1, 4, 4), [
        Conv((INPUT,), filters=2, size=3, stride=1, pad=1, activation="leaky", alpha=0.1),  # 0: (2, 4, 4)
        MaxPool((0,), size=2, stride=2, pad=1),                                            # 1: (2, 2, 2)
        Conv((1,), filters=3, size=1, stride=1, pad=0, activation="leaky", alpha=0.1),    # 2: (3, 2, 2)
        Route((2,)),                                                                       # 3: passes 2 on
        Conv((3,), filters=1, size=3, stride=1, pad=1, activation="linear", alpha=1.0)])  # 4: (1, 2, 2)


def counts(shape, entries):
    pos, neg = np.zeros(shape, np.int32), np.zeros(shape, np.int32)
    for (c, y, x), (p, n) in entries.items():
        pos[c, y, x], neg[c, y, x] = p, n
    return {"positive_count": pos, "negative_count": neg, "kind": "", "shape": shape}


LAYERS = {0: counts((2, 4, 4), {(0, 0, 0): (5, 1), (1, 1, 1): (2, 0)}),
          1: counts((2, 2, 2), {(0, 0, 0): (3, 0), (1, 1, 1): (1, 1)}),
          2: counts((3, 2, 2), {(2, 1, 0): (4, 0)})}
STEPS = 10


def test_ann_macs_by_hand():
    assert ann_macs(tiny_graph()) == {0: 4 * 4 * 2 * 1 * 9, 2: 2 * 2 * 3 * 2 * 1, 4: 2 * 2 * 1 * 3 * 9}


def test_snn_operations_by_hand():
    ops = snn_operations(tiny_graph(), LAYERS, STEPS)
    per = ops["per_layer"]
    # layer 0 reads the image: its convolution once (MACs) and its bias every step
    assert per[0] == {"synaptic_acs": 0, "bias_acs": 32 * 10, "image_macs": 288}
    # layer 2 (1x1, 3 filters) reads the pool: 3 + 2 spikes x fan-out 3
    assert per[2] == {"synaptic_acs": 15, "bias_acs": 12 * 10, "image_macs": 0}
    # layer 4 (3x3, pad 1, 1 filter) reads layer 2 through the route: 4 spikes at a 2x2 map's
    # corner reach all 4 outputs
    assert per[4] == {"synaptic_acs": 16, "bias_acs": 4 * 10, "image_macs": 0}
    assert ops["acs"] == 320 + 15 + 120 + 16 + 40 and ops["macs"] == 288
    assert ops["other_events"] == 6 + 2  # spikes into the pool, each in one window


def test_energy_by_hand():
    table = energy_table(tiny_graph(), snn_operations(tiny_graph(), LAYERS, STEPS), STEPS)
    assert table["ann_macs"] == 420 and table["ann_flops"] == 840 and table["snn_acs"] == 511
    f32, i32 = table["energy_joules"]["float32"], table["energy_joules"]["int32"]
    assert f32["ann"] == pytest.approx(420 * 4.6e-12) and f32["snn"] == pytest.approx(288 * 4.6e-12 + 511 * 0.9e-12)
    assert i32["ann"] == pytest.approx(420 * 3.2e-12) and i32["snn"] == pytest.approx(288 * 3.2e-12 + 511 * 0.1e-12)
    t2 = table["table2"]
    assert t2["gpu_joules"] == pytest.approx(250 * 840 / 14e12)
    assert t2["truenorth_joules"] == pytest.approx((511 + 2 * 288) / 400e9)
    assert t2["truenorth_seconds"] == pytest.approx(0.01)


def test_energy_at_checkpoints_by_hand():
    # events recorded by layers 2 and 4's convolutions at steps 5 and 10 (the last ones are the
    # counts x fan-out of test_snn_operations_by_hand)
    layers = {**LAYERS, 2: {**LAYERS[2], "input_events": np.array([6, 15])}, 4: {"input_events": np.array([4, 16])}}
    rows = operations_at_checkpoints(tiny_graph(), layers, [5, 10])
    neurons = 32 + 12 + 4  # bias: one AC per neuron of every convolution per step
    assert rows == [{"steps": 5, "acs": 6 + 4 + neurons * 5, "macs": 288},
                    {"steps": 10, "acs": 15 + 16 + neurons * 10, "macs": 288}]
    assert rows[-1]["acs"] == snn_operations(tiny_graph(), LAYERS, STEPS)["acs"]
    energy = energy_over_steps(rows)
    assert energy[0]["snn_joules"]["float32"] == pytest.approx(288 * 4.6e-12 + 250 * 0.9e-12)
    assert energy[0]["snn_joules"]["int32"] == pytest.approx(288 * 3.2e-12 + 250 * 0.1e-12)
    assert energy[1]["truenorth_joules"] == pytest.approx((511 + 2 * 288) / 400e9)
    assert energy[0]["truenorth_seconds"] == pytest.approx(0.005)
    assert operations_at_checkpoints(tiny_graph(), LAYERS, [10]) is None  # no records, no guess


def test_paper_table2_gpu_figure():
    """The formula reproduces the paper's GPU number: Tiny YOLO's 6.97 GFLOPs -> 0.12 J."""
    from brainyolo.analysis.energy import GPU_FLOPS, GPU_WATTS

    assert GPU_WATTS * 6.97e9 / GPU_FLOPS == pytest.approx(0.1245, abs=1e-4)


def test_layer_and_population_statistics():
    stats = layer_statistics({**LAYERS[0], "kind": "Conv"}, STEPS)
    assert stats == {"kind": "Conv", "neurons": 32, "mean_rate": 8 / 32 / 10, "negative_fraction": 1 / 8,
                     "silent_fraction": 30 / 32}
    layer = {**LAYERS[0], "population_positive": np.array([0, 2, 3, 2]), "population_negative": np.array([0, 0, 1, 0])}
    over = population_over_time(layer, window=2)
    np.testing.assert_allclose(over["rate"], [2 / 32 / 2, 6 / 32 / 2])
    np.testing.assert_allclose(over["negative_fraction"], [0, 1 / 6])
    assert population_over_time(LAYERS[0]) is None  # schema-1 recordings have no population counts


def test_analyze_command_writes_every_figure(tmp_path, tiny_cfg_text):
    """`brainyolo analyze` on two runs (layer-norm, channel-norm) of a small network."""
    import json

    from conftest import run_command as run_cli
    from conftest import write_images, write_random_model

    from brainyolo.analysis.spikes import load_run
    from brainyolo.convert.conversion import convert_darknet
    from brainyolo.convert.model_file import save_model
    from brainyolo.detector import simulate
    from brainyolo.spiking.settings import BuildOptions
    from brainyolo.spiking.simulate import SimulationSettings

    cfg, weights = write_random_model(tiny_cfg_text, tmp_path / "m", seed=4, names=["a", "b", "c"])
    images = write_images(tmp_path / "img", 3, seed=1)
    save_model(convert_darknet(cfg, weights, images, progress=False), tmp_path / "m.h5")
    for norm in ("layer", "channel"):
        simulate(tmp_path / "m.h5", images[:1], SimulationSettings(
            steps=40, checkpoints=(10, 20), device="runtime", build=BuildOptions(normalization=norm)),
            tmp_path / f"run_{norm}", progress=False)
    code, out, err = run_cli("analyze", tmp_path / "run_layer", tmp_path / "run_channel", "--images", tmp_path / "img",
                             "-o", tmp_path / "fig")
    assert code == 0, err
    index = json.loads((tmp_path / "fig" / "index.json").read_text())
    for key in ("fig1", "fig3", "fig4", "fig5", "fig8", "fig9", "population"):
        assert (tmp_path / "fig" / index["figures"][key]).stat().st_size > 10_000, key
    assert index["figures"]["fig7"] is None and "fig7 needs" in index["notes"][0]
    layer = index["layer"]
    rows = (tmp_path / "fig" / "fig4_channel_rates.csv").read_text().splitlines()
    assert rows[0] == "channel,layer-norm,channel-norm" and len(rows) == 1 + 8  # the test net's layer 2: 8 channels
    run = load_run(tmp_path / "run_channel")
    counts = run.images[0].layers[layer]
    channel_rates = (counts["positive_count"] + counts["negative_count"]).mean(axis=(1, 2)) / 40
    assert [float(r.split(",")[2]) for r in rows[1:]] == pytest.approx(channel_rates.tolist(), rel=1e-5)
    energy = json.loads((tmp_path / "fig" / "fig9_table2_energy.json").read_text())
    assert energy["snn_acs"] == snn_operations(run.model.graph, run.images[0].layers, 40)["acs"]
    assert [row["steps"] for row in energy["over_steps"]] == [10, 20, 40]
    assert energy["over_steps"][-1]["acs"] == energy["snn_acs"]
    assert "## At every checkpoint" in (tmp_path / "fig" / "table2_energy.md").read_text()
    raster = json.loads((tmp_path / "fig" / "fig5_raster.json").read_text())
    assert len(raster["channel-norm"]["step"]) == len(counts["sample_spike_step"])
    assert "fig8" in out or "7 figures" in out
