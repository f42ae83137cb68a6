"""analysis/fast-and-frugal/rounded_agreement.py: the rounded ANN's agreement with the ANN and its events. Oracles: a
grid far finer than any activation agrees as the ANN's own detections do (with random weights the ANN's boxes of
score >= 0.25 overlap, so even they do not reach 1) and spends the most events; a coarse grid agrees less and spends
fewer."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import analysis_script

from brainyolo.ann.heads import detect_from_heads
from brainyolo.ann.letterbox import iterate_letterboxed
from brainyolo.convert.model_file import load_model
from brainyolo.readout.evaluation import score

pytestmark = pytest.mark.codegen_independent


def test_a_fine_grid_agrees_fully_and_a_coarse_one_spends_fewer_events(tiny_converted, tmp_path, monkeypatch,
                                                                         capsys):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "analysis" / "fast-and-frugal"))
    rounded = analysis_script("rounded_agreement")
    model_path, images = tiny_converted
    files = []
    for name, v_th in (("fine", 1e-3), ("coarse", 2.0)):  # bursts of up to 10^4: no clipping
        files.append(tmp_path / f"{name}.toml")
        files[-1].write_text(f"[all]\nv_th = {v_th}\n")
    rounded.main(str(model_path), "16", "10000", ",".join(map(str, files)), *map(str, images))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    fine, coarse = ({"agreement": float(line.split("agreement ")[1].split(",")[0]),
                     "events": float(line.split("events/image ")[1].split(" ")[0])} for line in lines)
    graph = load_model(model_path).normalized_graph()
    truths = rounded.ann_agreement_truths(load_model(model_path).graph, [Path(p) for p in images])
    _, height, width = graph.input_shape
    own = []
    for path, chw, box in iterate_letterboxed(images, width, height):
        maps = rounded.rounded_forward(graph, load_model(model_path).lambdas(), chw, {}, 16)[1]
        own.extend(detect_from_heads(graph, maps, box).records(path.name, graph.class_names))
    itself = score(truths, own, len(graph.class_names))["mAP50"]
    assert fine["agreement"] == round(itself, 3) and coarse["agreement"] < itself - 0.05
    assert fine["events"] > 1000 * coarse["events"] > 0
