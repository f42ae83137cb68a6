"""analysis/fast-and-frugal/bias_table.py: evaluations side by side, against hand-computed percentages and means."""

from __future__ import annotations

import json

from conftest import analysis_script


def _evaluation(folder, ann, maps, events):
    (folder / "snn_images").mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"ann": {"mAP50": ann},
                                                      "snn": {s: {"mAP50": m} for s, m in maps.items()}}))
    for k, per_step in enumerate(events):
        (folder / "snn_images" / f"i{k}.json").write_text(json.dumps({"conv_events": per_step}))


def test_rows_are_percent_of_the_first_folders_ann_and_mean_events(tmp_path, capsys):
    _evaluation(tmp_path / "a", 0.2, {"16": 0.1}, [{"16": 2.78e9}, {"16": 5.56e9}])
    _evaluation(tmp_path / "b", 0.1, {"16": 0.15}, [{"16": 2.78e9}])
    assert analysis_script("bias_table").main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "| a (own ANN 0.2000) | 16: 0.1000 (50.0 %), 4.17e+09 (1.50×) |" in out
    assert "| b (own ANN 0.1000) | 16: 0.1500 (75.0 %), 2.78e+09 (1.00×) |" in out


def test_potential_correction_lowers_each_channels_start_by_its_error_in_thresholds():
    """``v_init_c = v_init - scale * e_c * T / v_th``: hand-computed; layers without an error are left alone."""
    import numpy as np

    script = analysis_script("potential_correction")
    parameters = {2: {"v_init": 0.5, "v_th": 2.0, "hold_positive": 1.0}, 4: {"v_init": 0.5, "v_th": 1.0}}
    starts = script.corrected_starts(parameters, {2: np.array([0.1, -0.05]), 15: np.zeros(3)}, steps=16, scale=0.5)
    assert set(starts) == {2}
    np.testing.assert_allclose(starts[2]["v_init"], [0.5 - 0.5 * 0.1 * 16 / 2, 0.5 + 0.5 * 0.05 * 16 / 2])
