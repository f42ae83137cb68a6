"""How a recordings file stores an image's per-neuron counts (an independent reader: h5py)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from brainyolo.readout.recordings import open_recordings, write_image
from brainyolo.spiking import from_neuron_order
from brainyolo.spiking.counters import COMPACT_COUNT, read_counts, stored_counts


def _layer(positive: np.ndarray) -> dict:
    zeros = np.zeros_like(positive)
    return {"kind": "conv", "shape": positive.shape, "negative_value": 1.0, "positive_count": positive,
            "negative_count": zeros, "positive_events": np.minimum(positive, 3), "negative_events": zeros,
            "population_positive": np.arange(5, dtype=np.int32)}


@pytest.mark.parametrize(("largest", "stored"), [(0, np.int16), (COMPACT_COUNT, np.int16),
                                                 (COMPACT_COUNT + 1, np.int32), (2**31 - 1, np.int32)])
def test_counts_are_int16_where_every_count_fits(tmp_path, largest, stored):
    positive = np.zeros((2, 3, 4), np.int32)
    positive[1, 2, 3] = largest
    positive[0, 0, 0] = 1
    with open_recordings(tmp_path / "r.h5", {"steps": 5}) as f:
        name, written = write_image(f, 0, {"file_name": "a.png"}, {"layers": {0: _layer(positive)}, "output": {}})
    with h5py.File(tmp_path / "r.h5") as f:
        layer = f[f"images/{name}/layers/00"]
        for key in ("positive_count", "positive_events"):
            assert layer[key].dtype == (stored if key == "positive_count" else np.int16), key
        for key in ("negative_count", "negative_events"):  # each array by its own counts
            assert layer[key].dtype == np.int16, key
        assert layer["population_positive"].dtype == np.int32  # only the per-neuron counts
        np.testing.assert_array_equal(layer["positive_count"][()], positive)
        np.testing.assert_array_equal(layer["positive_events"][()], np.minimum(positive, 3))
        assert written[layer["positive_count"].name].dtype == stored  # what the checksum is fed


def test_sums_and_differences_of_compact_counts_stay_exact():
    """The bound is chosen so that arithmetic on the stored int16 counts themselves cannot wrap."""
    a = stored_counts(np.array([COMPACT_COUNT, 0, COMPACT_COUNT, 7], np.int32))
    b = stored_counts(np.array([COMPACT_COUNT, COMPACT_COUNT, 0, 7], np.int32))
    assert a.dtype == b.dtype == np.int16
    np.testing.assert_array_equal(a + b, [2 * COMPACT_COUNT, COMPACT_COUNT, COMPACT_COUNT, 14])
    np.testing.assert_array_equal(a - b, [0, -COMPACT_COUNT, COMPACT_COUNT, 0])
    assert read_counts(a).dtype == np.int32
    assert stored_counts(np.array([-1, 2], np.int32)).dtype == np.int32  # not counts: left as they are


@pytest.mark.parametrize("largest", [7, COMPACT_COUNT + 1])
def test_stored_counts_are_contiguous_in_channel_rows_and_columns(largest):
    """A run's counts come as (C, H, W) views of neuron order (channel-minor): stored, they are laid out in
    (C, H, W) order, what the writer's chunks of whole channels and the checksum read without another copy."""
    neuron_order = np.arange(2 * 3 * 4, dtype=np.int32)
    neuron_order[5] = largest
    view = from_neuron_order(neuron_order, (2, 3, 4))
    assert not view.flags.c_contiguous
    stored = stored_counts(view)
    assert stored.flags.c_contiguous and stored.dtype == (np.int16 if largest <= COMPACT_COUNT else np.int32)
    np.testing.assert_array_equal(stored, view)
