"""Datasets compressed by threads are what HDF5's own filters read: any shape, dtype and chunking, edge chunks
included, decompressed by HDF5 (through h5py) and by hand (zlib, then the bytes put back in element order)."""

from __future__ import annotations

import zlib

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from brainyolo.io.deflate import DeflatedWriter, chunk_shape, deflated_dataset

pytestmark = pytest.mark.codegen_independent

DTYPES = st.sampled_from([np.int8, np.uint8, np.int16, np.uint16, np.int32, np.int64, np.float16, np.float32,
                          np.float64, np.bool_, np.dtype(">i2"), np.dtype(">f4")])


@settings(max_examples=80, deadline=None)
@given(value=DTYPES.flatmap(lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=1, max_dims=3, max_side=13))),
       chunk_bytes=st.integers(1, 600), level=st.integers(0, 9), transposed=st.booleans())
def test_hdf5_reads_what_threads_compressed(tmp_path_factory, value, chunk_bytes, level, transposed):
    if transposed:  # not contiguous
        value = value.T
    path = tmp_path_factory.mktemp("deflate") / "f.h5"
    with h5py.File(path, "w") as f:
        deflated_dataset(f, "x", value, level=level, chunk_bytes=chunk_bytes)
    with h5py.File(path, "r") as f:
        stored = f["x"]
        assert (stored.compression, stored.compression_opts, stored.shuffle) == ("gzip", level, True)
        assert stored.chunks == chunk_shape(value.shape, value.dtype.itemsize, chunk_bytes)
        assert stored.dtype == value.dtype and stored.shape == value.shape
        assert np.array_equal(stored[()], value, equal_nan=value.dtype.kind == "f")


def test_a_chunk_by_hand():
    """The first chunk of a (5, 3) int16 array in chunks of (2, 3): zlib-inflated, the low bytes of the six
    numbers come first and their high bytes after, as HDF5's shuffle filter stores them."""
    value = np.arange(15, dtype=np.int16).reshape(5, 3) * 257  # 0x0000, 0x0101, 0x0202, ...
    value[0, 0] = 0x1234
    with h5py.File("mem.h5", "w", driver="core", backing_store=False) as f:
        deflated_dataset(f, "x", value, chunk_bytes=12)
        assert f["x"].chunks == (2, 3)
        mask, first = f["x"].id.read_direct_chunk((0, 0))
        _, edge = f["x"].id.read_direct_chunk((4, 0))
    assert mask == 0
    assert list(zlib.decompress(first)) == [0x34, 1, 2, 3, 4, 5, 0x12, 1, 2, 3, 4, 5]
    assert list(zlib.decompress(edge)) == [12, 13, 14, 0, 0, 0, 12, 13, 14, 0, 0, 0]  # the edge padded with zeros


@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=50), itemsize=st.sampled_from([1, 2, 4, 8]),
       limit=st.integers(1, 5000))
def test_chunks_hold_at_most_the_limit(shape, itemsize, limit):
    chunk = chunk_shape(shape, itemsize, limit)
    assert len(chunk) == len(shape) and all(1 <= c <= n for c, n in zip(chunk, shape, strict=True))
    assert np.prod(chunk) * itemsize <= max(limit, itemsize)


def test_chunks_cut_few_axes_into_equal_pieces():
    assert chunk_shape((16, 416, 416), 2, limit=1 << 20) == (3, 416, 416)  # 6 chunks of up to 3 channel planes
    assert chunk_shape((16, 416, 416), 2, limit=1 << 18) == (1, 208, 416)  # a plane in two halves
    assert chunk_shape((16, 416, 416), 2, limit=10 ** 9) == (16, 416, 416)
    assert chunk_shape((4, 100), 8, limit=1) == (1, 1)
    assert chunk_shape((7,), 1, limit=3) == (3,)


@pytest.mark.parametrize("value", [np.zeros(0, np.int32), np.int32(3), np.array(["a", "b"])])
def test_refuses_what_it_cannot_compress(value):
    with h5py.File("mem.h5", "w", driver="core", backing_store=False) as f, pytest.raises(ValueError, match="x:"):
        deflated_dataset(f, "x", value)


def _write_in_child(path: str) -> None:
    with h5py.File(path, "w") as f:
        deflated_dataset(f, "x", np.arange(50_000, dtype=np.int32), chunk_bytes=4096)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_compresses_with_threads_of_its_own(tmp_path):
    """The parent's threads do not exist in a forked child: the child starts its own instead of waiting forever."""
    import multiprocessing

    with h5py.File(tmp_path / "parent.h5", "w") as f:  # the parent's pool is running
        deflated_dataset(f, "x", np.arange(50_000, dtype=np.int32), chunk_bytes=4096)
    child = multiprocessing.get_context("fork").Process(target=_write_in_child, args=(str(tmp_path / "child.h5"),))
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child hung")
    assert child.exitcode == 0
    with h5py.File(tmp_path / "child.h5", "r") as f:
        np.testing.assert_array_equal(f["x"][()], np.arange(50_000, dtype=np.int32))


def test_a_writer_compresses_many_datasets_together_and_writes_them_when_closed(tmp_path):
    """Arrays of several dtypes and sizes (one chunk, many, an edge chunk) added to one writer in two groups: each
    reads back (HDF5's filters) as it was; in the file only once the writer is closed."""
    rng = np.random.default_rng(3)
    values = {"a/one": rng.integers(0, 60, (3, 5), np.int8), "a/many": rng.integers(0, 9, (7, 40, 33), np.int16),
              "b/float": rng.standard_normal((5, 11)).astype(np.float32), "b/wide": np.arange(1000, dtype=np.int64)}
    with h5py.File(tmp_path / "f.h5", "w") as f:
        with DeflatedWriter(chunk_bytes=512) as writer:
            for name, value in values.items():
                writer.add(f.require_group(name.split("/")[0]), name.split("/")[1], value)
            assert f["a/many"].id.get_num_chunks() == 0  # compressed, not yet written
        assert f["a/many"].id.get_num_chunks() > 1
    with h5py.File(tmp_path / "f.h5", "r") as f:
        for name, value in values.items():
            assert f[name].dtype == value.dtype and np.array_equal(f[name][()], value), name


def test_a_writer_given_up_writes_nothing_more():
    with h5py.File("mem.h5", "w", driver="core", backing_store=False) as f:
        with pytest.raises(RuntimeError, match="given up"), DeflatedWriter(chunk_bytes=64) as writer:
            writer.add(f, "x", np.arange(5000, dtype=np.int32))
            raise RuntimeError("given up")
        assert f["x"].id.get_num_chunks() == 0
        writer.close()  # (nothing left to write)
        assert f["x"].id.get_num_chunks() == 0


def test_a_chunk_that_fails_to_compress_fails_the_writer(monkeypatch):
    """A compressing thread's error reaches the writer's caller when the chunks are written (no chunk of the failed
    dataset in the file), and the writer is empty afterwards."""
    import brainyolo.io.deflate as deflate

    real = deflate._deflated_chunk

    def failing(piece, chunk, level):
        if piece.dtype == np.int16:
            raise MemoryError("no memory for the chunk")
        return real(piece, chunk, level)

    monkeypatch.setattr(deflate, "_deflated_chunk", failing)
    with h5py.File("mem.h5", "w", driver="core", backing_store=False) as f:
        writer = DeflatedWriter(chunk_bytes=256)
        writer.add(f, "fine", np.arange(500, dtype=np.int32))
        writer.add(f, "failing", np.arange(500, dtype=np.int16))
        with pytest.raises(MemoryError, match="no memory"):
            writer.close()
        assert f["failing"].id.get_num_chunks() == 0
        writer.close()  # nothing left
