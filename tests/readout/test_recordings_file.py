"""How a recordings file stores an image's per-neuron counts (an independent reader: h5py)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from brainyolo.readout.recordings import open_recordings, write_image
from brainyolo.spiking import from_neuron_order
from brainyolo.spiking.counters import COMPACT_COUNT, STORED_COUNT_TYPES, read_counts, stored_counts


def _layer(positive: np.ndarray) -> dict:
    zeros = np.zeros_like(positive)
    return {"kind": "conv", "shape": positive.shape, "negative_value": 1.0, "positive_count": positive,
            "negative_count": zeros, "positive_events": np.minimum(positive, 3), "negative_events": zeros,
            "population_positive": np.arange(5, dtype=np.int32)}


@pytest.mark.parametrize(("largest", "stored"), [(0, np.int8), (63, np.int8), (64, np.int16),
                                                 (COMPACT_COUNT, np.int16), (COMPACT_COUNT + 1, np.int32),
                                                 (2**31 - 1, np.int32)])
def test_counts_are_stored_in_the_narrowest_type_that_holds_them(tmp_path, largest, stored):
    positive = np.zeros((2, 3, 4), np.int32)
    positive[1, 2, 3] = largest
    positive[0, 0, 0] = 1
    with open_recordings(tmp_path / "r.h5", {"steps": 5}) as f:
        name, written = write_image(f, 0, {"file_name": "a.png"}, {"layers": {0: _layer(positive)}, "output": {}})
    with h5py.File(tmp_path / "r.h5") as f:
        layer = f[f"images/{name}/layers/00"]
        assert layer["positive_count"].dtype == stored
        assert layer["positive_events"].dtype == np.int8  # each array by its own counts (at most 3)
        for key in ("negative_count", "negative_events"):
            assert layer[key].dtype == np.int8, key
        assert layer["population_positive"].dtype == np.int32  # only the per-neuron counts
        np.testing.assert_array_equal(layer["positive_count"][()], positive)
        np.testing.assert_array_equal(layer["positive_events"][()], np.minimum(positive, 3))
        assert written[layer["positive_count"].name].dtype == stored  # what the checksum is fed


@pytest.mark.parametrize(("bound", "kind"), STORED_COUNT_TYPES)
def test_sums_and_differences_of_stored_counts_stay_exact(bound, kind):
    """Each type's bound is chosen so that arithmetic on the stored counts themselves cannot wrap."""
    a = stored_counts(np.array([bound, 0, bound, 7], np.int32))
    b = stored_counts(np.array([bound, bound, 0, 7], np.int32))
    assert a.dtype == b.dtype == kind
    np.testing.assert_array_equal(a + b, [2 * bound, bound, bound, 14])
    np.testing.assert_array_equal(a - b, [0, -bound, bound, 0])
    assert read_counts(a).dtype == np.int32
    assert stored_counts(np.array([-1, 2], np.int32)).dtype == np.int32  # not counts: left as they are


@pytest.mark.parametrize(("largest", "stored"),
                         [(7, np.int8), (COMPACT_COUNT, np.int16), (COMPACT_COUNT + 1, np.int32)])
def test_stored_counts_are_contiguous_in_channel_rows_and_columns(largest, stored):
    """A run's counts come as (C, H, W) views of neuron order (channel-minor): stored, they are laid out in
    (C, H, W) order, what the writer's chunks of whole channels and the checksum read without another copy."""
    neuron_order = np.arange(2 * 3 * 4, dtype=np.int32)
    neuron_order[5] = largest
    view = from_neuron_order(neuron_order, (2, 3, 4))
    assert not view.flags.c_contiguous
    stored_view = stored_counts(view)
    assert stored_view.flags.c_contiguous and stored_view.dtype == stored
    np.testing.assert_array_equal(stored_view, view)


def _recordings_with(tmp_path, counts: str, positive: np.ndarray, declared: str | None = None):
    """A recordings file of one image with one layer whose counts are ``positive`` (and zeros), written with
    ``counts``; its ``counts`` attribute then set to ``declared`` (a file that says one thing, holds another)."""
    path = tmp_path / f"{counts}.h5"
    attrs = {"steps": 5, "checkpoints": [5], "neuron": "n", "output": "vmem", "input": "current",
             "normalization": "channel", "model_file": "m.h5", "model_sha256": "0", "counts": counts}
    layer = _layer(positive)
    del layer["population_positive"]
    with open_recordings(path, attrs) as f:
        write_image(f, 0, {"file_name": "a.png", "image_width": 4, "image_height": 3}, {"layers": {0: layer},
                                                                                          "output": {}})
        if declared is not None:
            f.attrs["counts"] = declared
    return path


def test_counts_per_channel_are_the_sums_of_the_neurons(tmp_path):
    """``counts = "channels"``: each of the four counters stored as its sums per channel, int64 (an h5py read
    against numpy's sums of the same counts, one of them past int16 and the channel's sum past int32)."""
    from brainyolo.readout.recordings_schema import check_recordings

    rng = np.random.default_rng(4)
    positive = rng.integers(0, 9, (3, 5, 7)).astype(np.int32)
    positive[2, 4, 6] = 2**31 - 1  # the channel's sum needs more than int32
    per_neuron, per_channel = (_recordings_with(tmp_path, c, positive) for c in ("neurons", "channels"))
    with h5py.File(per_neuron) as n, h5py.File(per_channel) as c:
        assert n.attrs["counts"] == "neurons" and c.attrs["counts"] == "channels"
        assert n.attrs["schema_version"] == c.attrs["schema_version"] == 4
        for key in ("positive_count", "negative_count", "positive_events", "negative_events"):
            summed = c[f"images/0000/layers/00/{key}"]
            assert summed.shape == (3,) and summed.dtype == np.int64, key
            expected = n[f"images/0000/layers/00/{key}"][()].astype(np.int64).sum(axis=(1, 2))
            np.testing.assert_array_equal(summed[()], expected, err_msg=key)
        assert c["images/0000/layers/00/positive_count"][2] == 2**31 - 1 + positive[2].sum() - positive[2, 4, 6]
        check_recordings(n)
        check_recordings(c)


@pytest.mark.parametrize(("written", "declared", "problem"), [
    ("channels", "neurons", "not whole numbers of shape (3, 5, 7)"),  # sums where neurons are promised
    ("neurons", "channels", "not whole numbers of shape (3,)"),
    ("neurons", "voxels", "attribute counts is 'voxels', not one of"),
])
def test_a_file_whose_counts_contradict_its_attribute_is_refused(tmp_path, written, declared, problem):
    from brainyolo.readout.recordings_schema import check_recordings

    path = _recordings_with(tmp_path, written, np.ones((3, 5, 7), np.int32), declared)
    with h5py.File(path) as f, pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        check_recordings(f)


def test_counts_other_than_neurons_or_channels_are_refused(tmp_path):
    from brainyolo.spiking.settings import SimulationSettings

    with pytest.raises(ValueError, match="counts = 'voxels'"):
        open_recordings(tmp_path / "r.h5", {"steps": 5, "counts": "voxels"})
    assert not (tmp_path / "r.h5").exists()
    with pytest.raises(ValueError, match="counts = 'voxels'"):
        SimulationSettings(counts="voxels")


@pytest.mark.parametrize(("version", "counts"), [(4, None), (3, "channels"), (3, "neurons")])
def test_the_counts_attribute_comes_with_schema_4_exactly(tmp_path, version, counts):
    from brainyolo.readout.recordings_schema import check_recordings

    path = _recordings_with(tmp_path, "neurons", np.ones((3, 5, 7), np.int32))
    with h5py.File(path, "r+") as f:
        f.attrs["schema_version"] = version
        if counts is None:
            del f.attrs["counts"]
        else:
            f.attrs["counts"] = counts
        with pytest.raises(ValueError, match=f"attribute counts is (missing|there) in a schema {version} file"):
            check_recordings(f)


def test_the_checksum_fed_while_an_image_s_chunks_are_compressed_is_the_file_s(tmp_path):
    """``write_image(..., digest)`` feeds the checksum before the large arrays' chunks are in the file: the sealed
    checksum is still the one of the finished file read back (``content_digest``), for images whose counters,
    events and membranes are compressed in many chunks."""
    from brainyolo.io.integrity import DIGEST_ATTRIBUTE, GroupDigest, content_digest, verify

    rng = np.random.default_rng(7)
    with open_recordings(tmp_path / "r.h5", {"steps": 5}) as f:
        digest = GroupDigest(f, "images")
        for number in range(2):
            positive = rng.integers(0, 70, (8, 40, 40), np.int32)  # int16 once stored, 12800 numbers
            data = {"layers": {0: _layer(positive)},
                    "output": {1: {"v": rng.standard_normal((2, 5, 30, 30)).astype(np.float32)}}}
            write_image(f, number, {"file_name": f"{number}.png"}, data, digest)
        digest.seal()
        assert f["images/0001/layers/00/positive_count"].id.get_num_chunks() >= 1
        assert f.attrs[DIGEST_ATTRIBUTE] == content_digest(f)
    with h5py.File(tmp_path / "r.h5") as f:
        assert verify(f) is True
