"""analysis/fast-and-frugal/threshold_factor.py: a parameter file of a model's balanced thresholds times a factor."""

from __future__ import annotations

import pytest
from conftest import analysis_script

from brainyolo.convert.model_file import read_model
from brainyolo.spiking.parameters import read_parameter_file


@pytest.mark.parametrize("two_phase", [False, True])
def test_every_balanced_threshold_times_the_factor(tiny_converted, tmp_path, two_phase):
    model_path, _ = tiny_converted
    balanced = read_model(model_path).thresholds.v_th
    extra = (0.5, 8) if two_phase else ()
    path = tmp_path / "params.toml"
    path.write_text(analysis_script("threshold_factor").main(str(model_path), 0.8, *extra))
    settings = read_parameter_file(path)  # the brainyolo reader takes it
    assert len(balanced) >= 3
    for index, v_th in balanced.items():
        values = settings.for_layer(index)
        assert values["v_th"] == pytest.approx(0.8 * v_th, rel=1e-15)
        assert (values["v_init"], values["hold_positive"]) == (0.5, 1.0)
        if two_phase:
            assert values["v_th_early"] == pytest.approx(0.5 * v_th, rel=1e-15)
            assert values["t_switch"] == pytest.approx(8e-3)
        else:
            assert "v_th_early" not in values and "t_switch" not in values
