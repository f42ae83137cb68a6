"""The content checksum fed while a file is written (GroupDigest) against the checksum of the file read back; the
mode of files written atomically."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from brainyolo.io.integrity import DIGEST_ATTRIBUTE, GroupDigest, content_digest, verify


def _member(f: h5py.File, name: str, seed: int) -> dict[str, np.ndarray]:
    """One member of ``/images`` like an image's recordings: nested groups, attributes, datasets of several
    dtypes and shapes (empty, 2-D, gzipped); ``{HDF5 name: array written}``."""
    rng = np.random.default_rng(seed)
    group = f["images"].create_group(name)
    group.attrs.update(file_name=f"scene{seed}.png", image_width=640, parameters='{"3": {"v_th": 0.5}}')
    written = {}
    arrays = {"layers/00/positive_count": rng.integers(0, 50, (3, 8, 8), dtype=np.int32),
              "layers/00/sample_spike_sign": rng.choice(np.array([-1, 1], np.int8), 17),
              "layers/00/sample_spike_step": np.zeros(0, np.int32),
              "layers/01/population_positive": rng.integers(0, 9, 5000).astype(np.int64),
              "output/02/v": rng.normal(size=(2, 4, 3, 3)),
              "recorded/monitor/flag": rng.random(6) > 0.5,
              "recorded/monitor/labels": np.array(["spike", "négatif"], dtype=object)}
    for path, value in arrays.items():
        parent, key = path.rsplit("/", 1)
        sub = group.require_group(parent)
        sub.attrs["shape"] = np.asarray(value.shape)
        options = {"compression": "gzip", "shuffle": True} if value.size > 4096 else {}
        if value.dtype == object:  # text: h5py reads it back as bytes
            options["dtype"] = h5py.string_dtype()
        written[sub.create_dataset(key, data=value, **options).name] = value
    return written


def _file(path):
    f = h5py.File(path, "w")
    f.attrs.update(format="brainyolo-recordings", schema_version=3, steps=16, checkpoints=[8, 16],
                   time_step_ms=1.0, neuron="if_signed_ibt")
    f.create_group("images")
    return f


def test_the_digest_fed_while_writing_is_the_digest_of_the_file_read_back(tmp_path):
    names = ["0000", "0001", "0002"]
    with _file(tmp_path / "r.h5") as f:
        digest = GroupDigest(f, "images")
        for seed, name in enumerate(names):
            digest.add(name, _member(f, name, seed))
        digest.seal()
        assert f.attrs[DIGEST_ATTRIBUTE] == content_digest(f)
    with h5py.File(tmp_path / "r.h5") as f:
        assert verify(f) is True


def test_the_arrays_written_are_fed_not_the_file(tmp_path):
    """The speed comes from feeding the arrays in memory: an array other than the one written changes the digest,
    and one of another dtype or shape than its dataset is not used (the dataset is read back)."""
    cases = {"as written": (lambda a: a, True), "changed": (lambda a: a + 1, False),
             "another shape": (lambda a: a[:1], True), "another dtype": (lambda a: a.astype(np.int64), True)}
    for number, (case, (alter, same)) in enumerate(cases.items()):
        with _file(tmp_path / f"{number}.h5") as f:
            digest = GroupDigest(f, "images")
            written = _member(f, "0000", 0)
            name = next(key for key in written if key.endswith("positive_count"))
            digest.add("0000", dict(written, **{name: alter(written[name])}))
            digest.seal()
            assert (f.attrs[DIGEST_ATTRIBUTE] == content_digest(f)) is same, case


@pytest.mark.parametrize("change", ["order", "root attribute", "group attribute", "member attribute",
                                    "member dataset", "other node", "member elsewhere"])
def test_a_file_with_more_than_was_fed_is_read_back(tmp_path, change):
    """Members out of name order (image 10000 after 9999), attributes changed or added after they were fed, a dataset
    added to a member already fed, a second top-level node, a member added without add(): the stored digest is still
    the file's own."""
    with _file(tmp_path / "r.h5") as f:
        digest = GroupDigest(f, "images")
        names = ["9999", "10000"] if change == "order" else ["0000", "0001"]
        for seed, name in enumerate(names):
            written = _member(f, name, seed)
            if not (change == "member elsewhere" and seed == 1):
                digest.add(name, written)
        if change == "root attribute":
            f.attrs["steps"] = 17
        if change == "group attribute":
            f["images"].attrs["note"] = "added"
        if change == "member attribute":
            f["images/0000"].attrs["image_width"] = 641
        if change == "member dataset":
            f["images/0000/layers/00"].create_dataset("extra", data=np.arange(4))
        if change == "other node":
            f.create_dataset("notes", data=np.arange(3))
        digest.seal()
        assert f.attrs[DIGEST_ATTRIBUTE] == content_digest(f)
    with h5py.File(tmp_path / "r.h5") as f:
        assert verify(f) is True


def test_only_a_file_holding_one_empty_group_is_fed(tmp_path):
    with _file(tmp_path / "r.h5") as f:
        _member(f, "0000", 0)
        with pytest.raises(ValueError, match="only an empty group"):
            GroupDigest(f, "images")


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_a_file_written_atomically_gets_the_mode_of_the_umask(tmp_path, mask):
    """(The umask is read from /proc, not set to 0 for a moment: another thread could then create a file any user
    may write.)"""
    import os

    from brainyolo.io.atomic import _umask, atomic_path

    old = os.umask(mask)
    try:
        assert _umask() == mask
        with atomic_path(tmp_path / "a.bin") as tmp:
            tmp.write_bytes(b"x")
        assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o666 & ~mask
    finally:
        os.umask(old)
