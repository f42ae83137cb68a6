"""analysis/yolov3-tiny/code_objects.py: code objects summed by kind, by the names Brian2 and brainyolo give."""

from __future__ import annotations

from conftest import analysis_script


def test_code_objects_are_summed_by_kind():
    kind = analysis_script("code_objects").kind
    assert [kind(name) for name in (
        "layer00_spike_resetter_codeobject", "layer02_negative_spike_resetter_codeobject",
        "layer00_signed_thresholder_codeobject", "after_run_layer00_signed_thresholder_codeobject",
        "layer15_stateupdater_codeobject", "conv12_codeobject", "pool01_codeobject", "relay20_0_codeobject",
        "statemonitor_codeobject", "layer02_pool_store_codeobject")] == [
        "resetter", "resetter", "thresholder", "thresholder", "other", "conv", "pool", "relay", "other", "other"]
